//! Log events delivered twice to the `logs` topic (what a collector killed with
//! acknowledgements in flight re-sends from its spool) are stored once, by a running
//! sink and by one restarted in between; identical lines sent together stay separate
//! rows. The repeats are produced byte for byte from the topic itself, on a real broker.

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use super::peer::{RoleProc, Tansu, kafka_python, kafka_toml, repeats_dropped, table_counts};
use crate::common::free_port;

/// Re-produces the first `k` messages of `topic`, same partition, key and value.
fn produce_again(brokers: &str, topic: &str, k: usize) -> usize {
    let script = r#"import sys, uuid
from confluent_kafka import Consumer, Producer
brokers, topic, k = sys.argv[1], sys.argv[2], int(sys.argv[3])
c = Consumer({'bootstrap.servers': brokers, 'group.id': 'again-' + uuid.uuid4().hex,
              'auto.offset.reset': 'earliest', 'enable.auto.commit': False})
c.subscribe([topic])
got, idle = [], 0
while len(got) < k and idle < 30:
    m = c.poll(1.0)
    if m is None:
        idle += 1
    elif not m.error():
        got.append(m)
c.close()
p = Producer({'bootstrap.servers': brokers})
for m in got:
    p.produce(topic, value=m.value(), key=m.key(), partition=m.partition())
assert p.flush(30) == 0, 'undelivered'
print(len(got))"#;
    let stdout = crate::common::stdout_ok(Command::new(kafka_python()).args([
        "-c",
        script,
        brokers,
        topic,
        &k.to_string(),
    ]));
    String::from_utf8_lossy(&stdout).trim().parse().unwrap()
}

/// (rows, distinct (source_address, received_at)) of the `logs` Parquet files.
fn log_rows(data: &Path) -> (u64, u64) {
    table_counts(data, "logs", "source_address, received_at")
}

fn wait_rows(data: &Path, want: u64, log: &RoleProc) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while log_rows(data).0 < want {
        assert!(
            Instant::now() < deadline,
            "{want} log rows not in Parquet within 60 s (have {:?}):\n{}",
            log_rows(data),
            log.log_text()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn log_events_delivered_twice_are_stored_once_across_a_sink_restart() {
    let dir = tempfile::tempdir().unwrap();
    let tansu = Tansu::start(dir.path());
    let port = free_port();
    let config = dir.path().join("sotp.toml");
    let toml = kafka_toml(&tansu.brokers, "").replace(
        r#"tcp = "127.0.0.1:0""#,
        &format!(r#"tcp = "127.0.0.1:{port}""#),
    );
    std::fs::write(&config, toml).unwrap();
    let data = dir.path().join("data");
    let mut p = RoleProc::start(&config, &data, &["all"], None);
    p.wait_log("syslog receiver listening", Duration::from_secs(60));

    // 1,000 distinct lines, each sent twice in the same write: 2,000 messages.
    let n = 2_000u64;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    for i in 0..n / 2 {
        let line = format!("<13>Oct 11 22:14:15 host app: repeated line {i}\n");
        s.write_all(format!("{line}{line}").as_bytes()).unwrap();
    }
    drop(s);
    wait_rows(&data, n, &p);

    // Delivered twice while the sink is stopped: the restarted sink reads the stored
    // records back from Parquet.
    assert_eq!(p.stop(), 0, "{}", p.log_text());
    let again_stopped = produce_again(&tansu.brokers, "sotp.logs", 300);
    assert_eq!(again_stopped, 300);
    p.restart();
    p.wait_log("syslog receiver listening", Duration::from_secs(60));
    // And delivered twice to the running sink.
    let again_running = produce_again(&tansu.brokers, "sotp.logs", 500);
    assert_eq!(again_running, 500);

    let deadline = Instant::now() + Duration::from_secs(60);
    while repeats_dropped(&p.log_text(), "logs") < 800 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
    }
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(p.stop(), 0, "{}", p.log_text());
    let log = p.log_text();
    assert_eq!(
        log_rows(&data),
        (n, n),
        "every message once, identical lines sent together included:\n{log}"
    );
    assert_eq!(repeats_dropped(&log, "logs"), 800, "{log}");
    assert!(log.contains("recent log records read back"), "{log}");
    drop(tansu);
}
