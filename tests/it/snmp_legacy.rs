//! Old devices against a real agent (net-snmp's snmpd): SNMPv1 with GETNEXT walks and
//! 32-bit counters only, SNMPv3 with MD5/DES (authPriv), MD5 and SHA without privacy
//! (authNoPriv), and noAuthNoPriv. Each device is checked against what `snmpwalk`
//! reads from the same agent.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::{Server, free_port};
use crate::snmp_peers::{Snmpd, free_udp_port};

/// The interface names (ifDescr) the agent serves, read with net-snmp's own `snmpwalk`.
fn if_descr(endpoint: &str) -> Vec<String> {
    let out = Command::new("snmpwalk")
        .args(["-m", "", "-v2c", "-c", "public", "-Oqv", endpoint])
        .arg("1.3.6.1.2.1.2.2.1.2")
        .output()
        .unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| l.trim().trim_matches('"').to_string())
        .collect()
}

#[test]
fn snmpv1_md5_des_auth_no_priv_and_no_auth_no_priv() {
    let port = free_udp_port();
    let endpoint = format!("127.0.0.1:{port}");
    let conf = format!(
        "agentAddress udp:{endpoint}\nrocommunity public 127.0.0.1\n\
         createUser md5des MD5 \"authpass123\" DES \"privpass123\"\n\
         createUser md5auth MD5 \"authpass123\"\n\
         createUser shaauth SHA \"authpass123\"\n\
         createUser noauth\n\
         rouser md5des priv\nrouser md5auth auth\nrouser shaauth auth\nrouser noauth noauth\n"
    );
    let _snmpd = Snmpd::start_with(&conf, None, &endpoint);
    let names = if_descr(&endpoint);
    assert!(
        names.iter().any(|n| n == "lo"),
        "agent interfaces: {names:?}"
    );

    let devices = [
        ("v1", "version = \"1\", community = \"public\""),
        (
            "md5-des",
            "version = \"3\", user = \"md5des\", auth_protocol = \"md5\", auth_key = \"authpass123\", priv_protocol = \"des\", priv_key = \"privpass123\"",
        ),
        (
            "md5-auth",
            "version = \"3\", user = \"md5auth\", auth_protocol = \"md5\", auth_key = \"authpass123\"",
        ),
        (
            "sha-auth",
            "version = \"3\", user = \"shaauth\", auth_protocol = \"sha\", auth_key = \"authpass123\"",
        ),
        ("noauth", "version = \"3\", user = \"noauth\""),
    ];
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = String::from(
        "[icmp]\nenabled = false\n\n[snmp]\ninterval = \"1s\"\ntimeout = \"1s\"\nretries = 1\n\n[storage]\nbatch_latency = \"200ms\"\n",
    );
    for (name, snmp) in devices {
        cfg += &format!(
            "\n[[devices]]\nname = \"{name}\"\nid = \"{name}\"\naddress = \"127.0.0.1\"\nsnmp = {{ port = {port}, {snmp} }}\n"
        );
    }
    let path = dir.path().join("sotp.toml");
    std::fs::write(&path, cfg).unwrap();
    let mut server = Server::start(&path, &dir.path().join("data"), free_port());

    // Wait until every device has two polls with interfaces, then check each.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let rows = server.rows(
            "SELECT count(DISTINCT device) FROM metrics WHERE metric = 'if.in_bps' AND instance = 'lo'",
        );
        if rows[0][0].as_u64() == Some(devices.len() as u64) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not every device got a rate within 30 s: {rows:?}\n{}",
            server.log_text()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    for (name, _) in devices {
        let ok = server.rows(&format!(
            "SELECT count(*), min(value) FROM metrics WHERE device = '{name}' AND metric = 'poll.ok'"
        ));
        assert_eq!(
            ok[0][1].as_f64(),
            Some(1.0),
            "{name}: {}",
            server.log_text()
        );
        // Every interface the agent has, by name (ifName, else ifDescr: the same here).
        let got = server.rows(&format!(
            "SELECT DISTINCT instance FROM metrics WHERE device = '{name}' AND metric = 'if.oper_status' ORDER BY instance"
        ));
        let mut got: Vec<String> = got
            .iter()
            .map(|r| r[0].as_str().unwrap().to_string())
            .collect();
        got.sort();
        let mut want = names.clone();
        want.sort();
        assert_eq!(got, want, "{name}: interface names");
        // SNMPv1 cannot carry Counter64: the 32-bit ifTable columns, read as such.
        // Every other version gets the 64-bit ifHC* columns.
        let width = if name == "v1" { "32" } else { "64" };
        let w = server.rows(&format!(
            "SELECT count(*), count(*) FILTER (WHERE labels LIKE '%\"counter_width\":\"{width}\"%') FROM metrics WHERE device = '{name}' AND metric = 'if.in_octets'"
        ));
        assert!(w[0][0].as_u64().unwrap() >= 2, "{name}: {w:?}");
        assert_eq!(w[0][0], w[0][1], "{name}: counter width should be {width}");
    }
    let log = server.log_text();
    assert!(!log.contains("authentication failed"), "{log}");
    for secret in ["authpass123", "privpass123"] {
        assert!(!log.contains(secret), "secret {secret} in the log");
    }
    assert_eq!(server.stop(), 0);
}
