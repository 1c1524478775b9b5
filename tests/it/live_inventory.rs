//! The live inventory on a running `sotp run` (in-process bus): devices created,
//! changed and deleted through the API reach the collectors within seconds, without a
//! restart. Real peers: loopback addresses answering ICMP, snmpsim serving a recording
//! of a real Cisco switch, and syslog datagrams sent from a device's own address.

use std::net::UdpSocket;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::common::{BIN, Server, free_port};
use crate::snmp_peers::{Snmpsim, free_udp_port};

const RECORDING: &str = "network/switch/cisco-c3560";

fn now_s() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Waits up to `secs` for `ok`, checking every 250 ms.
fn wait_until(server: &Server, secs: u64, what: &str, ok: impl Fn(&Server) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !ok(server) {
        assert!(
            Instant::now() < deadline,
            "{what}: not within {secs} s\n{}",
            server.log_text()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Samples of `metric` for device `id` whose time is after `since` (Unix seconds).
fn samples(server: &Server, id: &str, metric: &str, since: f64) -> u64 {
    let r = server.rows(&format!(
        "SELECT count(*) FROM metrics WHERE device_id = '{id}' AND metric = '{metric}' \
         AND date_part('epoch', time) > {since}"
    ));
    r[0][0].as_u64().unwrap()
}

fn create(server: &Server, body: Value) -> String {
    let (status, v) = server.api("POST", "/api/v1/devices", Some(&body));
    assert_eq!(status, 201, "{v}");
    v["id"].as_str().unwrap().to_string()
}

fn patch(server: &Server, id: &str, body: Value) {
    let (status, v) = server.api("PATCH", &format!("/api/v1/devices/{id}"), Some(&body));
    assert_eq!(status, 200, "{v}");
}

#[test]
fn api_device_changes_reach_the_collectors_and_the_syslog_enrichment_live() {
    let snmp_port = free_udp_port();
    let agent = "127.4.1.1";
    let _sim = Snmpsim::start(
        &[RECORDING],
        &[],
        &[format!("{agent}:{snmp_port}")],
        &["--log-level=error"],
    );
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("sotp.toml");
    // No device in the file: everything comes through the API while SOTP runs.
    std::fs::write(
        &cfg,
        "[snmp]\ninterval = \"1s\"\nmetadata_interval = \"5s\"\ntimeout = \"1s\"\nretries = 1\n\n\
         [storage]\nbatch_latency = \"200ms\"\n",
    )
    .unwrap();
    let syslog_port = free_udp_port();
    let mut cmd = std::process::Command::new(BIN);
    cmd.env("SOTP__SYSLOG__UDP", format!("127.0.0.1:{syslog_port}"));
    let server = Server::start_with(cmd, &cfg, &dir.path().join("data"), free_port());

    // ICMP: a loopback address answers at once.
    let t0 = now_s();
    let pinged = create(
        &server,
        json!({"name": "live-icmp", "address": "127.4.1.2",
               "collectors": {"icmp": {"interval": "1s"}}}),
    );
    wait_until(&server, 15, "ICMP samples of an API-created device", |s| {
        samples(s, &pinged, "icmp.rtt_ms", t0) >= 2
    });

    // SNMP: settings given through the API (the protocol spelling of the config file
    // is accepted too), the community sealed at rest and on the topic.
    let t0 = now_s();
    let polled = create(
        &server,
        json!({"name": "live-snmp", "address": agent,
               "snmp": {"version": "2c", "community": RECORDING, "port": snmp_port},
               "collectors": {"icmp": {"enabled": false}, "snmp": {"interval": "1s"}}}),
    );
    wait_until(&server, 20, "SNMP samples of an API-created device", |s| {
        samples(s, &polled, "if.in_octets", t0) > 0 && samples(s, &polled, "sys.uptime_s", t0) >= 2
    });
    assert_eq!(
        samples(&server, &polled, "icmp.rtt_ms", 0.0),
        0,
        "ICMP disabled"
    );

    // Interval 1 s -> 4 s: at most 3 polls in the next 9 s (9 at the old interval).
    patch(
        &server,
        &pinged,
        json!({"collectors": {"icmp": {"interval": "4s"}}}),
    );
    let t1 = now_s() + 1.0;
    std::thread::sleep(Duration::from_secs(10));
    let n = samples(&server, &pinged, "icmp.rtt_ms", t1);
    assert!(
        (1..=3).contains(&n),
        "{n} ICMP polls in 9 s at a 4 s interval"
    );

    // Disable ICMP for it, delete the SNMP device: both stop.
    patch(
        &server,
        &pinged,
        json!({"collectors": {"icmp": {"enabled": false}}}),
    );
    let (status, _) = server.api("DELETE", &format!("/api/v1/devices/{polled}"), None);
    assert_eq!(status, 204);
    let t2 = now_s() + 1.5;
    std::thread::sleep(Duration::from_secs(6));
    assert_eq!(samples(&server, &pinged, "icmp.rtt_ms", t2), 0);
    assert_eq!(samples(&server, &polled, "poll.ok", t2), 0);
    assert!(samples(&server, &polled, "poll.ok", t0) > 0);

    // Syslog from the address of a device created a moment ago carries its id.
    let logged = create(
        &server,
        json!({"name": "live-syslog", "address": "127.4.1.3",
               "collectors": {"icmp": {"enabled": false}}}),
    );
    let sock = UdpSocket::bind("127.4.1.3:0").unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        sock.send_to(
            b"<13>Jun  1 10:00:00 nobody-knows-this app: hello from an API device",
            ("127.0.0.1", syslog_port),
        )
        .unwrap();
        std::thread::sleep(Duration::from_millis(300));
        let r = server.rows(&format!(
            "SELECT count(*) FROM logs WHERE device_id = '{logged}'"
        ));
        if r[0][0].as_u64() > Some(0) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "syslog from 127.4.1.3 never got device id {logged}\n{}",
            server.log_text()
        );
    }
    // The community never shows in the log.
    assert!(!server.log_text().contains(RECORDING));
}
