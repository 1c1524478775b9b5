//! SNMPv3 against net-snmp's snmpd (SHA/AES and SHA-256/AES-256 users, keys given
//! literally, as `env:` and as `file:` references), a device with a wrong key, and an
//! agent that never answers: the failures stay with their device, with a clear error,
//! the configured timeout and retries, and the other devices keep their schedule.

use std::process::Command;
use std::time::Duration;

use crate::common::{BIN, Server, free_port};
use crate::snmp_peers::{Snmpd, free_udp_port};

fn device(name: &str, port: u16, snmp: &str) -> String {
    format!(
        "\n[[devices]]\nname = \"{name}\"\naddress = \"127.0.0.1\"\nid = \"{name}\"\nsnmp = {{ port = {port}, {snmp} }}\n"
    )
}

#[test]
fn snmpv3_auth_priv_wrong_key_and_a_silent_agent() {
    let port = free_udp_port();
    let _snmpd = Snmpd::start(port);
    // A socket that takes every request and never answers: pure timeouts (a closed
    // port would answer at once with ICMP port unreachable).
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let dead_port = silent.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("priv.key");
    std::fs::write(&key_file, "privpass123\n").unwrap();
    let mut cfg = String::from(
        "[icmp]\nenabled = false\n\n[snmp]\ninterval = \"1s\"\ntimeout = \"300ms\"\nretries = 2\n\n[storage]\nbatch_latency = \"200ms\"\n",
    );
    cfg += &device(
        "sha-aes",
        port,
        "version = \"3\", user = \"telemetry\", auth_protocol = \"sha\", auth_key = \"authpass123\", priv_protocol = \"aes\", priv_key = \"privpass123\"",
    );
    cfg += &device(
        "sha256-aes256",
        port,
        &format!(
            "version = \"3\", user = \"tele256\", auth_protocol = \"sha256\", auth_key = \"env:SOTP_TEST_V3_AUTH\", priv_protocol = \"aes256\", priv_key = \"file:{}\"",
            key_file.display()
        ),
    );
    cfg += &device(
        "wrong-key",
        port,
        "version = \"3\", user = \"telemetry\", auth_protocol = \"sha\", auth_key = \"not-the-key-42\", priv_protocol = \"aes\", priv_key = \"privpass123\"",
    );
    cfg += &device(
        "silent",
        dead_port,
        "version = \"2c\", community = \"public\"",
    );
    let path = dir.path().join("sotp.toml");
    std::fs::write(&path, cfg).unwrap();
    let mut cmd = Command::new(BIN);
    cmd.env("SOTP_TEST_V3_AUTH", "authpass123");
    let mut server = Server::start_with(cmd, &path, &dir.path().join("data"), free_port());
    std::thread::sleep(Duration::from_secs(6));

    // authPriv works for both users; the agent's real interfaces come back with
    // 64-bit counters.
    for name in ["sha-aes", "sha256-aes256"] {
        let rows = server.rows(&format!(
            "SELECT count(*), min(value) FROM metrics WHERE device = '{name}' AND metric = 'poll.ok'"
        ));
        assert!(
            rows[0][0].as_u64().unwrap() >= 4,
            "{name}: {rows:?}\n{}",
            server.log_text()
        );
        assert_eq!(
            rows[0][1].as_f64(),
            Some(1.0),
            "{name}: {}",
            server.log_text()
        );
        let lo = server.rows(&format!(
            "SELECT count(*) FROM metrics WHERE device = '{name}' AND metric = 'if.in_octets' AND instance = 'lo' AND labels LIKE '%\"counter_width\":\"64\"%'"
        ));
        assert!(lo[0][0].as_u64().unwrap() >= 1, "{name}: lo counters");
        let bps = server.rows(&format!(
            "SELECT count(*) FROM metrics WHERE device = '{name}' AND metric = 'if.in_bps' AND instance = 'lo' AND value >= 0"
        ));
        assert!(bps[0][0].as_u64().unwrap() >= 1, "{name}: lo rate");
    }
    // The wrong key fails for that device only, with a clear error.
    let rows =
        server.rows("SELECT count(*), max(value) FROM metrics WHERE device = 'wrong-key' AND metric = 'poll.ok'");
    assert!(rows[0][0].as_u64().unwrap() >= 2, "{rows:?}");
    assert_eq!(rows[0][1].as_f64(), Some(0.0));
    let log = server.log_text();
    assert!(
        log.lines().any(|l| l.contains("wrong-key")
            && l.contains("SNMPv3 authentication failed for user `telemetry`")),
        "{log}"
    );
    for secret in ["authpass123", "privpass123", "not-the-key-42"] {
        assert!(!log.contains(secret), "secret {secret} in the log");
    }
    // The silent agent: 3 attempts of 300 ms with back-off (50 + 100 ms) per poll that
    // asks (the turns skipped while it backs off take no time), reported as such; the
    // others were not delayed (one poll per second each).
    let d = server.rows(
        "SELECT min(value), max(value), count(*) FROM metrics WHERE device = 'silent' AND metric = 'poll.duration_ms' AND value >= 300",
    );
    let (min, max) = (d[0][0].as_f64().unwrap(), d[0][1].as_f64().unwrap());
    assert!((1000.0..1600.0).contains(&min), "silent poll took {min} ms");
    assert!(max < 1600.0, "silent poll took {max} ms");
    assert!(
        log.contains(&format!(
            "no SNMP reply from 127.0.0.1:{dead_port} after 3 attempts of 300 ms each"
        )),
        "{log}"
    );
    let gaps = server.rows(
        "SELECT max(d) FROM (SELECT CAST(time AS BIGINT) - lag(CAST(time AS BIGINT)) OVER (ORDER BY time) AS d
           FROM metrics WHERE device = 'sha-aes' AND metric = 'poll.ok')",
    );
    let max_gap_ms = gaps[0][0].as_f64().unwrap() / 1e6;
    assert!(
        max_gap_ms < 1300.0,
        "sha-aes polls were delayed: {max_gap_ms} ms"
    );
    assert_eq!(server.stop(), 0);
}
