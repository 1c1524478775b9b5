//! The live inventory on Kafka: a device created through the `api` process reaches a
//! separate `collector` process through the `inventory` topic and is polled; its
//! deletion (a tombstone) stops the polling. The topic never carries the plain SNMP
//! community: the outside consumer validates every record against the JSON Schema.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::peer::{RoleProc, Tansu, kafka_toml, outside_consumer};
use crate::common::{admin_token, free_port, http_auth, ureq_get};

const KEY: &str = "4f0c3e2a9b8d7c6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e";
const COMMUNITY: &str = "community-never-on-the-topic-4711";

#[test]
fn an_api_change_reaches_a_separate_collector_process() {
    let dir = tempfile::tempdir().unwrap();
    let tansu = Tansu::start(dir.path());
    let config = dir.path().join("sotp.toml");
    std::fs::write(
        &config,
        kafka_toml(&tansu.brokers, "")
            + "\n[icmp]\ninterval = \"1s\"\ncount = 1\ntimeout = \"500ms\"\n\n[snmp]\ntimeout = \"200ms\"\nretries = 0\n",
    )
    .unwrap();
    let env = [("SOTP_MASTER_KEY", KEY)];
    let mut collector = RoleProc::start_env(
        &config,
        &dir.path().join("collector"),
        &["collector"],
        None,
        &env,
    );
    let port = free_port();
    let mut api = RoleProc::start_env(&config, &dir.path().join("api"), &["api"], Some(port), &env);
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
    let body = json!({"name": "kafka-live", "address": "127.22.0.5",
        "snmp": {"version": "2c", "community": COMMUNITY, "port": free_port()},
        "collectors": {"icmp": {"interval": "1s"}}})
    .to_string();
    let (status, text) = http_auth(
        "POST",
        &format!("{base}/api/v1/devices"),
        Some(&body),
        &token,
    )
    .unwrap();
    assert_eq!(status, 201, "{text}");
    let id = serde_json::from_str::<Value>(&text).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    // The group join takes a few seconds; then the device is the collector's.
    collector.wait_log(
        "polling the devices this collector owns devices=1",
        Duration::from_secs(60),
    );
    std::thread::sleep(Duration::from_secs(3));
    let (status, text) = http_auth(
        "DELETE",
        &format!("{base}/api/v1/devices/{id}"),
        None,
        &token,
    )
    .unwrap();
    assert_eq!(status, 204, "{text}");
    collector.wait_log(
        "polling the devices this collector owns devices=0",
        Duration::from_secs(20),
    );
    assert_eq!(collector.stop(), 0, "{}", collector.log_text());
    assert_eq!(api.stop(), 0, "{}", api.log_text());
    for log in [collector.log_text(), api.log_text()] {
        assert!(!log.contains(COMMUNITY), "a log shows the community");
    }

    let dump = dir.path().join("dump.jsonl");
    let (summary, ok) = outside_consumer(
        &tansu.brokers,
        "sotp.",
        Some("inventory,metrics.raw"),
        Some(&dump),
    );
    assert!(ok, "{summary}");
    assert!(
        summary["topics"]["sotp.inventory"]["tombstones"].as_u64() >= Some(1),
        "{summary}"
    );
    let text = std::fs::read_to_string(&dump).unwrap();
    assert!(
        !text.contains(COMMUNITY),
        "the plain community is on a topic"
    );
    let mut record = None;
    let mut icmp_polls = 0;
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        let e = &v["event"];
        if v["topic"] == "sotp.inventory" && v["key"] == id.as_str() {
            record = Some(e.clone());
        }
        if v["topic"] == "sotp.metrics.raw"
            && e["device_id"] == id.as_str()
            && e["metric"] == "icmp.rtt_ms"
        {
            icmp_polls += 1;
        }
    }
    let record = record.expect("the device's record on inventory");
    assert!(
        record["snmp"]["community"]
            .as_str()
            .unwrap()
            .starts_with("enc:v1:"),
        "{record}"
    );
    assert!(icmp_polls >= 2, "{icmp_polls} ICMP polls of the API device");
    drop(tansu);
}
