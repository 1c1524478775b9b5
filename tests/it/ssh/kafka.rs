//! Configuration backups on Kafka: a device whose `inventory` partition moves to another
//! collector process keeps one history. The collector that takes it over reads the last
//! digest its predecessor stored (the shared store `state.ssh.config_digests`), so an
//! unchanged configuration is not stored again and the next change is logged as
//! `CONFIG_CHANGED` against the predecessor's version, not as a new baseline.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::peer::{FakeDevice, SshPeer};
use super::{backups, ios_device, r1_toml};
use crate::kafka::peer::{RoleProc, Tansu, kafka_toml, logged_number, outside_consumer};

const KEY: &str = "0d1c2b3a4958677685a4b3c2d1e0f9e8d7c6b5a4938271605f4e3d2c1b0a9988";

fn running_config(extra: &str) -> String {
    format!(
        "hostname r1\n!\ninterface GigabitEthernet0/1\n ip address 10.0.0.1 255.255.255.0\n{extra}!\nend\n"
    )
}

fn wait(what: &str, procs: &[&RoleProc], mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(90);
    while !done() {
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within 90 s\n{}",
            procs
                .iter()
                .map(|p| p.log_text())
                .collect::<Vec<_>>()
                .join("\n----\n")
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_device_moved_to_another_collector_keeps_one_configuration_history() {
    let dir = tempfile::tempdir().unwrap();
    let running = dir.path().join("running-config.txt");
    std::fs::write(&running, running_config("")).unwrap();
    let peer = SshPeer::start(&FakeDevice {
        outputs: vec![("show running-config".into(), running.clone())],
        ..ios_device(&[])
    });
    let key = dir.path().join("r1.key");
    std::fs::write(&key, &peer.client_key_ed25519).unwrap();
    let tansu = Tansu::start(dir.path());
    let config = dir.path().join("sotp.toml");
    std::fs::write(
        &config,
        kafka_toml(&tansu.brokers, "")
            + "\n[icmp]\nenabled = false\n\n[ssh]\nbackup_interval = \"1s\"\n"
            + &r1_toml(&peer, &key),
    )
    .unwrap();
    let env = [("SOTP_MASTER_KEY", KEY)];

    // Collector a stores the first version and backs the device up a few times more.
    let mut a = RoleProc::start_env(&config, &dir.path().join("a"), &["collector"], None, &env);
    wait("three backups by a", &[&a], || backups(&peer) >= 3);
    a.kill9();

    // Collector b takes the device over (a's group membership expires) with a's digest.
    let b = RoleProc::start_env(&config, &dir.path().join("b"), &["collector"], None, &env);
    wait("b owning the device", &[&b], || {
        let log = b.log_text();
        log.contains("devices owned by this collector changed")
            && logged_number(&log, "devices owned by this collector changed", "devices") == 1
    });
    let seen = backups(&peer);
    wait("three backups by b", &[&b], || backups(&peer) >= seen + 3);
    std::fs::write(&running, running_config("interface Loopback9\n")).unwrap();
    let seen = backups(&peer);
    wait("three backups after the change", &[&b], || {
        backups(&peer) >= seen + 3
    });
    let mut b = b;
    assert_eq!(b.stop(), 0, "{}", b.log_text());

    let dump = dir.path().join("dump.jsonl");
    let (summary, ok) =
        outside_consumer(&tansu.brokers, "sotp.", Some("commands,logs"), Some(&dump));
    assert!(ok, "{summary}");
    let events: Vec<Value> = std::fs::read_to_string(&dump)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["event"].clone())
        .collect();
    let versions: Vec<&Value> = events
        .iter()
        .filter(|e| e["kind"] == "config" && e["device_id"] == "r1")
        .collect();
    assert_eq!(
        versions.len(),
        2,
        "one version before the change and one after, whichever collector had the device: {versions:#?}"
    );
    assert_eq!(versions[0]["previous_hash"], Value::Null);
    assert_eq!(versions[1]["previous_hash"], versions[0]["config_hash"]);
    assert_ne!(versions[1]["config_hash"], versions[0]["config_hash"]);
    let logged = |msgid: &str| {
        events
            .iter()
            .filter(|e| e["msgid"] == msgid && e["device_id"] == "r1")
            .count()
    };
    assert_eq!(
        (logged("CONFIG_BASELINE"), logged("CONFIG_CHANGED")),
        (1, 1),
        "a's first version is the baseline, the change seen by b a change"
    );
    drop(tansu);
}
