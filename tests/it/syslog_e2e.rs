//! The syslog receiver end to end with real senders: util-linux `logger` over UDP, TCP
//! and octet-counted TCP (RFC 5424 with structured data, RFC 3164), rsyslog relaying
//! with octet counting, and a count of N messages in, N rows out, across a restart.

use std::io::Write;
use std::net::{TcpStream, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{BIN, Server, free_port};

const CONFIG: &str = r#"
[icmp]
enabled = false

[storage]
batch_latency = "200ms"

[[devices]]
id = "lo-dev"
name = "loopback"
address = "127.0.0.1"
"#;

/// A `sotp run` with its syslog ports on UDP and TCP `port`.
pub(crate) fn start(dir: &Path, port: u16, extra: &str) -> Server {
    let config = dir.join("sotp.toml");
    std::fs::write(&config, format!("{CONFIG}\n{extra}")).unwrap();
    let mut cmd = Command::new(BIN);
    cmd.env("SOTP__SYSLOG__UDP", format!("127.0.0.1:{port}"))
        .env("SOTP__SYSLOG__TCP", format!("127.0.0.1:{port}"));
    Server::start_with(cmd, &config, &dir.join("data"), free_port())
}

/// Waits until `sql` (one scalar) returns `want`; returns the last value seen.
pub(crate) fn wait_for(server: &Server, sql: &str, want: &Value) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got = server.rows(sql)[0][0].clone();
        if &got == want || Instant::now() > deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn logger(args: &[&str]) {
    let out = Command::new("logger")
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run `logger` ({e}): install util-linux (`apt-get install bsdutils`)")
        });
    assert!(
        out.status.success(),
        "logger {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn row(server: &Server, app: &str) -> Vec<Value> {
    let rows = server.rows(&format!(
        "SELECT hostname, facility, severity, app_name, procid, msgid, structured_data, message, parse_error, device_id, time IS NOT NULL
         FROM logs WHERE app_name = '{app}'"
    ));
    assert_eq!(rows.len(), 1, "{app}: {rows:?}");
    rows[0].clone()
}

#[test]
fn logger_over_udp_tcp_and_octet_counted_tcp() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let server = start(dir.path(), port, "");
    let p = port.to_string();
    let base = ["-n", "127.0.0.1", "-P", &p, "-p", "local3.warning"];
    let sd = [
        "--sd-id",
        "zoo@32473",
        "--sd-param",
        "tiger=\"hungry\"",
        "--msgid",
        "M1",
    ];
    let cases: [(&str, &[&str]); 5] = [
        ("u5424", &["-d", "--rfc5424"]),
        ("u3164", &["-d", "--rfc3164"]),
        ("t5424", &["-T", "--rfc5424"]),
        ("t3164", &["-T", "--rfc3164"]),
        ("oc5424", &["-T", "--octet-count", "--rfc5424"]),
    ];
    for (tag, transport) in cases {
        let mut args: Vec<&str> = base.to_vec();
        args.extend_from_slice(transport);
        if tag.ends_with("5424") {
            args.extend_from_slice(&sd);
        }
        args.extend_from_slice(&["-t", tag, "--id=4242", "--", "hello from", tag]);
        logger(&args);
    }
    let got = wait_for(&server, "SELECT count(*) FROM logs", &Value::from(5));
    assert_eq!(got, 5, "{}", server.log_text());
    for (tag, _) in cases {
        let r = row(&server, tag);
        let host = r[0].as_str().unwrap_or_default().to_string();
        assert!(!host.is_empty(), "{tag}: no hostname in {r:?}");
        assert_eq!(
            (r[1].clone(), r[2].clone()),
            (Value::from(19), Value::from(4)),
            "{tag}"
        );
        assert_eq!(r[4], "4242", "{tag}");
        assert_eq!(r[7], format!("hello from {tag}"), "{tag}");
        assert_eq!(r[8], false, "{tag}");
        assert_eq!(r[9], "lo-dev", "{tag}");
        assert_eq!(r[10], true, "{tag}: no device time");
        if tag.ends_with("5424") {
            assert_eq!(r[5], "M1", "{tag}");
            let sd: Value = serde_json::from_str(r[6].as_str().unwrap()).unwrap();
            assert_eq!(sd["zoo@32473"]["tiger"], "hungry", "{tag}");
        }
    }
}

#[test]
fn unknown_sources_and_garbage_are_kept_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let server = start(dir.path(), port, "");
    // From an address no device has: kept with a null device id.
    let s = UdpSocket::bind("127.0.0.77:0").unwrap();
    s.send_to(
        b"<13>Jun  1 10:00:00 stranger app: who am i",
        ("127.0.0.1", port),
    )
    .unwrap();
    s.send_to(b"\xff\xfe\x00 binary junk", ("127.0.0.1", port))
        .unwrap();
    let got = wait_for(&server, "SELECT count(*) FROM logs", &Value::from(2));
    assert_eq!(got, 2, "{}", server.log_text());
    let rows = server.rows(
        "SELECT device_id, parse_error, message, encode(raw, 'hex') FROM logs ORDER BY parse_error",
    );
    assert_eq!(rows[0][0], Value::Null);
    assert_eq!(rows[0][1], false);
    assert_eq!(rows[1][1], true);
    assert_eq!(rows[1][3], "fffe002062696e617279206a756e6b");
    assert!(rows[1][2].as_str().unwrap().contains("binary junk"));
    let (_, metrics) = server.metrics();
    assert!(
        metrics.contains("sotp_syslog_unknown_source_total 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("sotp_syslog_parse_errors_total 1"),
        "{metrics}"
    );
    assert!(metrics.contains("sotp_syslog_udp_drops_total"), "{metrics}");
}

/// A private rsyslogd: UDP in on `udp_port`, octet-counted TCP out to `sotp_port`.
struct Rsyslog(Child);

impl Rsyslog {
    fn start(dir: &Path, udp_port: u16, sotp_port: u16) -> Rsyslog {
        let work = dir.join("rsyslog");
        std::fs::create_dir_all(&work).unwrap();
        let conf = work.join("rsyslog.conf");
        std::fs::write(
            &conf,
            format!(
                r#"global(workDirectory="{w}")
module(load="imudp")
input(type="imudp" address="127.0.0.1" port="{udp_port}")
action(type="omfwd" target="127.0.0.1" port="{sotp_port}" protocol="tcp"
       TCP_Framing="octet-counted" template="RSYSLOG_SyslogProtocol23Format")
"#,
                w = work.display()
            ),
        )
        .unwrap();
        let child = Command::new("rsyslogd")
            .args(["-n", "-f"])
            .arg(&conf)
            .arg("-i")
            .arg(work.join("rsyslog.pid"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start rsyslogd ({e}): run scripts/setup-peers.sh (apt-get install rsyslog)")
            });
        Rsyslog(child)
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

#[test]
fn rsyslog_relays_with_octet_counting() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let server = start(dir.path(), port, "");
    let relay_port = free_port();
    let _relay = Rsyslog::start(dir.path(), relay_port, port);
    std::thread::sleep(Duration::from_millis(500));
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    let lines = [
        "<189>1469087: sw1: Mar 29 07:40:10.863 CDT: %LINK-3-UPDOWN: Interface Gi1/0/1, changed state to down",
        "<38>Mar 27 19:06:53 web01 sshd[12750]: session opened for user foo",
        "<14>1 2026-01-01T00:00:00Z host5424 app5424 77 ID9 [x@1 k=\"v\"] line with\ttab",
    ];
    for l in lines {
        s.send_to(l.as_bytes(), ("127.0.0.1", relay_port)).unwrap();
    }
    let got = wait_for(&server, "SELECT count(*) FROM logs", &Value::from(3));
    assert_eq!(got, 3, "{}", server.log_text());
    let rows = server
        .rows("SELECT app_name, severity, hostname, message FROM logs WHERE app_name = 'sshd'");
    assert_eq!(rows[0][2], "web01", "{rows:?}");
    // rsyslog keeps the BSD MSG's leading space inside the RFC 5424 MSG; SOTP keeps
    // the MSG verbatim.
    assert_eq!(rows[0][3], " session opened for user foo");
    let rows = server.rows("SELECT structured_data, procid FROM logs WHERE app_name = 'app5424'");
    assert_eq!(rows.len(), 1);
    assert!(
        rows[0][0].as_str().unwrap().contains("\"k\":\"v\""),
        "{rows:?}"
    );
    assert_eq!(rows[0][1], "77");
    // The relay rewrites the Cisco line as RFC 5424; its mnemonic is still found.
    let rows = server.rows("SELECT vendor_mnemonic FROM logs WHERE vendor_mnemonic IS NOT NULL");
    assert_eq!(rows, vec![vec![Value::from("LINK-3-UPDOWN")]]);
}

#[test]
fn n_messages_over_tcp_arrive_as_exactly_n_rows_across_a_restart() {
    const N: usize = 20_000;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut server = start(dir.path(), port, "");
    // Four connections, framings mixed on each, garbage included.
    let senders: Vec<_> = (0..4)
        .map(|c| {
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
                let mut buf = Vec::new();
                for i in (c..N).step_by(4) {
                    let msg = match i % 3 {
                        0 => format!("<14>1 - h app - - - seq={i}"),
                        1 => format!("<13>Jun  1 10:00:00 h app: seq={i}"),
                        _ => format!("\u{1}garbage seq={i}"),
                    };
                    if i % 2 == 0 {
                        write!(buf, "{} {msg}", msg.len()).unwrap();
                    } else {
                        writeln!(buf, "{msg}").unwrap();
                    }
                    if buf.len() > 60_000 {
                        s.write_all(&buf).unwrap();
                        buf.clear();
                    }
                }
                s.write_all(&buf).unwrap();
            })
        })
        .collect();
    for s in senders {
        s.join().unwrap();
    }
    let n = Value::from(N);
    let got = wait_for(&server, "SELECT count(*) FROM logs", &n);
    assert_eq!(got, n, "{}", server.log_text());
    let distinct = server.rows(
        "SELECT count(DISTINCT message), sum(CASE WHEN parse_error THEN 1 ELSE 0 END) FROM logs",
    );
    assert_eq!(distinct[0][0], n);
    assert_eq!(
        distinct[0][1],
        Value::from((0..N).filter(|i| i % 3 == 2).count())
    );
    assert_eq!(server.stop(), 0);
    // After a clean stop everything is in Parquet, read back exactly once.
    let server = start(dir.path(), free_port(), "");
    assert_eq!(
        server.rows("SELECT count(*), count(DISTINCT message) FROM logs")[0],
        vec![n.clone(), n]
    );
}
