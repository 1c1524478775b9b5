//! Item 1: an operator must not be able to make a collector read the server's environment
//! or files and send them to an address of the operator's choosing.
//!
//! The demonstration was `POST /api/v1/devices` with `"community": "env:SOTP_MASTER_KEY"`
//! and an SNMP port where the caller listens on UDP: the master key arrived in the
//! packet. Here the caller's UDP socket is a real listener; a canary device with a plain
//! community at the same socket proves the collector is really polling it, so "the key
//! never arrived" is checked against live traffic, not against silence.

use std::net::UdpSocket;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{create_user, invalid_fields};
use crate::common::{BIN, Server, admin_token, free_port, http_auth, ureq_get};
use crate::kafka::peer::{RoleProc, Tansu, kafka_python, kafka_toml};

const KEY: &str = "5e1f0c3e2a9b8d7c6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d";
const CANARY: &str = "canary-community-4242";

/// The attacker's UDP listener: every datagram it received, as text.
struct Trap {
    socket: UdpSocket,
    seen: Vec<String>,
}

impl Trap {
    fn new() -> Trap {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        Trap {
            socket,
            seen: Vec::new(),
        }
    }

    fn port(&self) -> u16 {
        self.socket.local_addr().unwrap().port()
    }

    /// Reads datagrams until `n` more of them hold `needle`, within `secs`.
    fn wait_for(&mut self, needle: &str, n: usize, secs: u64, log: impl Fn() -> String) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        let mut found = 0;
        let mut buf = [0u8; 65536];
        while found < n {
            assert!(
                Instant::now() < deadline,
                "{found} of {n} datagrams holding `{needle}` within {secs} s\n{}",
                log()
            );
            if let Ok(len) = self.socket.recv(&mut buf) {
                let text = String::from_utf8_lossy(&buf[..len]).into_owned();
                found += usize::from(text.contains(needle));
                self.seen.push(text);
            }
        }
    }

    fn assert_never_saw(&self, secret: &str) {
        assert!(
            self.seen.iter().all(|d| !d.contains(secret)),
            "a datagram to the caller's address holds the server's secret"
        );
    }
}

fn device(address: &str, port: u16, snmp: Value) -> Value {
    let mut snmp = snmp;
    snmp["port"] = port.into();
    json!({"name": format!("trap-{address}-{port}"), "address": address, "snmp": snmp,
           "collectors": {"icmp": {"enabled": false}, "snmp": {"interval": "1s"}}})
}

#[test]
fn an_operator_cannot_make_a_collector_send_the_servers_environment_or_files() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("sotp.toml");
    std::fs::write(
        &cfg,
        "[snmp]\ninterval = \"1s\"\ntimeout = \"300ms\"\nretries = 0\n",
    )
    .unwrap();
    let secret_file = dir.path().join("secret.txt");
    std::fs::write(&secret_file, "file-secret-never-sent-9191\n").unwrap();
    let mut cmd = Command::new(BIN);
    cmd.env("SOTP_MASTER_KEY", KEY);
    let server = Server::start_with(cmd, &cfg, &dir.path().join("data"), free_port());
    create_user(&server, "eve", "eve-password-1", "operator");
    let eve = server.login("eve", "eve-password-1");
    let mut trap = Trap::new();
    let port = trap.port();

    let file_ref = format!("file:{}", secret_file.display());
    let v3 = |field: &str, value: &str| {
        let mut s = json!({"version": "3", "user": "u", "auth_protocol": "SHA", "auth_key": "plain-auth-key",
                           "priv_protocol": "AES", "priv_key": "plain-priv-key"});
        s[field] = value.into();
        s
    };
    for (snmp, field) in [
        (
            json!({"version": "2c", "community": "env:SOTP_MASTER_KEY"}),
            "snmp.community",
        ),
        (
            json!({"version": "2c", "community": file_ref}),
            "snmp.community",
        ),
        (v3("auth_key", "env:SOTP_MASTER_KEY"), "snmp.auth_key"),
        (v3("priv_key", &file_ref), "snmp.priv_key"),
    ] {
        let (status, body) = server.api_as(
            &eve,
            "POST",
            "/api/v1/devices",
            Some(&device("127.0.0.1", port, snmp)),
        );
        assert_eq!(status, 422, "{body}");
        assert_eq!(invalid_fields(&body), [field], "{body}");
    }

    // A device with a plain community at the same socket: polled, so the path is live.
    let (status, body) = server.api_as(
        &eve,
        "POST",
        "/api/v1/devices",
        Some(&device(
            "127.0.0.1",
            port,
            json!({"version": "2c", "community": CANARY}),
        )),
    );
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().unwrap().to_string();
    trap.wait_for(CANARY, 2, 30, || server.log_text());
    // Turning it into a reference afterwards is refused too, and it stays the canary.
    let (status, body) = server.api_as(
        &eve,
        "PATCH",
        &format!("/api/v1/devices/{id}"),
        Some(&json!({"snmp": {"community": "env:SOTP_MASTER_KEY"}})),
    );
    assert_eq!(status, 422, "{body}");
    assert_eq!(invalid_fields(&body), ["snmp.community"], "{body}");
    trap.wait_for(CANARY, 2, 30, || server.log_text());
    trap.assert_never_saw(KEY);
    trap.assert_never_saw("file-secret-never-sent-9191");
    trap.assert_never_saw("env:");
}

#[test]
fn a_device_record_with_a_reference_on_the_inventory_topic_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let tansu = Tansu::start(dir.path());
    let config = dir.path().join("sotp.toml");
    std::fs::write(
        &config,
        kafka_toml(&tansu.brokers, "")
            + "\n[snmp]\ninterval = \"1s\"\ntimeout = \"300ms\"\nretries = 0\n",
    )
    .unwrap();
    let env = [("SOTP_MASTER_KEY", KEY)];
    let collector = RoleProc::start_env(
        &config,
        &dir.path().join("collector"),
        &["collector"],
        None,
        &env,
    );
    let port = free_port();
    let api = RoleProc::start_env(&config, &dir.path().join("api"), &["api"], Some(port), &env);
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while ureq_get(&format!("{base}/ready")).map_or(0, |r| r.0) != 200 {
        assert!(
            Instant::now() < deadline,
            "api not ready\n{}",
            api.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let token = admin_token(&base);
    let mut trap = Trap::new();
    let body = device(
        "127.0.0.1",
        trap.port(),
        json!({"version": "2c", "community": CANARY}),
    );
    let (status, text) = http_auth(
        "POST",
        &format!("{base}/api/v1/devices"),
        Some(&body.to_string()),
        &token,
    )
    .unwrap();
    assert_eq!(status, 201, "{text}");
    let id = serde_json::from_str::<Value>(&text).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    // The group join takes a few seconds; then the canary is polled.
    trap.wait_for(CANARY, 2, 90, || collector.log_text());

    // Someone with produce rights on the topic redefines the device with references.
    let hostile = json!({"id": id, "name": "hostile", "address": "127.0.0.1", "icmp": {"enabled": false},
        "snmp": {"version": "2c", "port": trap.port(), "community": "env:SOTP_MASTER_KEY"}});
    let script = r#"
import sys
from confluent_kafka import Producer
p = Producer({"bootstrap.servers": sys.argv[1]})
p.produce("sotp.inventory", value=sys.argv[3].encode(), key=sys.argv[2].encode(), headers={"schema_version": b"2"})
assert p.flush(10) == 0
"#;
    let st = Command::new(kafka_python())
        .args(["-c", script, &tansu.brokers, &id, &hostile.to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    collector.wait_log("device record refused", Duration::from_secs(30));
    trap.wait_for(CANARY, 3, 30, || collector.log_text());
    trap.assert_never_saw(KEY);
    trap.assert_never_saw("env:");
    drop(api);
    drop(collector);
    drop(tansu);
}
