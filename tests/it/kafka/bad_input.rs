//! Bad input on the Kafka bus: unreachable brokers at start-up, wrong topic settings,
//! messages that are not valid JSON, and roles on the in-process bus.

use std::process::Command;
use std::time::{Duration, Instant};

use super::peer::{RoleProc, Tansu, kafka_python, kafka_toml};
use crate::common::{BIN, free_port};

#[test]
fn unreachable_brokers_at_start_up_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port(); // nothing listens there
    let config = dir.path().join("sotp.toml");
    std::fs::write(&config, kafka_toml(&format!("127.0.0.1:{port}"), "")).unwrap();
    let mut p = RoleProc::start(&config, &dir.path().join("data"), &["sink"], None);
    let code = p.wait_exit(Duration::from_secs(40));
    assert_ne!(code, 0);
    let log = p.log_text();
    assert!(
        log.contains(&format!(
            "cannot reach the Kafka brokers `127.0.0.1:{port}` ([bus] brokers)"
        )),
        "{log}"
    );
}

#[test]
fn wrong_topic_settings_are_reported_and_roles_need_kafka() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.toml");
    std::fs::write(
        &config,
        kafka_toml(
            "127.0.0.1:9092",
            "topic_prefix = \"bad prefix!\"\npartitions = 0",
        ),
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["config", "check"])
        .arg(&config)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("bus.topic_prefix") && text.contains("`bad prefix!`"),
        "{text}"
    );
    assert!(text.contains("bus.partitions"), "{text}");

    // On the in-process bus only `all` makes sense.
    let out = Command::new(BIN)
        .args(["run", "--role", "sink", "--data-dir"])
        .arg(dir.path().join("mem"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--role sink needs [bus] kind = \"kafka\""),
        "{err}"
    );
}

#[test]
fn invalid_messages_are_counted_logged_with_their_offset_and_set_aside() {
    let dir = tempfile::tempdir().unwrap();
    let tansu = Tansu::start(dir.path());
    // A topic created beforehand with another partition count is used as it is.
    let bin = std::env::var("SOTP_TANSU").unwrap();
    let st = Command::new(&bin)
        .args(["topic", "create", "--broker"])
        .arg(format!("tcp://{}", tansu.brokers))
        .args(["--partitions", "2", "sotp.metrics.raw"])
        .status()
        .unwrap();
    assert!(st.success());
    let script = r#"
import sys
from confluent_kafka import Producer
p = Producer({"bootstrap.servers": sys.argv[1]})
good = b'{"time":"2026-11-26T21:00:00.000000000Z","device_id":"d1","device":"d1","metric":"icmp.rtt_ms","value":1.5,"collector":"icmp"}'
for key, value in [(b"d1", b"not json at all"), (b"d1", b'{"time": 5}'), (b"d1", good)]:
    p.produce("sotp.metrics.raw", value=value, key=key, partition=0, headers={"schema_version": b"2"})
assert p.flush(10) == 0
"#;
    let st = Command::new(kafka_python())
        .args(["-c", script, &tansu.brokers])
        .status()
        .unwrap();
    assert!(st.success());

    let config = dir.path().join("sotp.toml");
    std::fs::write(&config, kafka_toml(&tansu.brokers, "")).unwrap();
    let api = free_port();
    let data = dir.path().join("data");
    let mut p = RoleProc::start(&config, &data, &["sink", "api"], Some(api));
    p.wait_log(
        "topic exists with another partition count",
        Duration::from_secs(30),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let base = format!("http://127.0.0.1:{api}");
        let ready = crate::common::ureq_get(&format!("{base}/health")).is_ok_and(|r| r.0 == 200);
        let (s, body) = if ready {
            let token = crate::common::admin_token(&base);
            crate::common::http_auth(
                "POST",
                &format!("{base}/api/v1/query"),
                Some(r#"{"sql": "SELECT count(*) FROM metrics"}"#),
                &token,
            )
            .unwrap_or((0, String::new()))
        } else {
            (0, String::new())
        };
        if s == 200 && body.contains("[[1]]") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the valid sample never arrived: {body}\n{}",
            p.log_text()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let log = p.log_text();
    for offset in [0, 1] {
        assert!(
            log.lines().any(|l| l.contains("invalid message skipped")
                && l.contains("partition=0")
                && l.contains(&format!("offset={offset} "))),
            "offset {offset} not logged:\n{log}"
        );
        let aside = data.join(format!("dead-letter/sotp.metrics.raw-0-{offset}.msg"));
        assert!(aside.exists(), "{} missing", aside.display());
    }
    assert_eq!(
        std::fs::read(data.join("dead-letter/sotp.metrics.raw-0-0.msg")).unwrap(),
        b"not json at all"
    );
    let base = format!("http://127.0.0.1:{api}");
    let token = crate::common::admin_token(&base);
    let (_, metrics) =
        crate::common::http_auth("GET", &format!("{base}/metrics"), None, &token).unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("sotp_bus_invalid_messages_total{topic=\"metrics.raw\"} 2")),
        "{metrics}"
    );
    assert_eq!(p.stop(), 0);
    drop(tansu);
}
