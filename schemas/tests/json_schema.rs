//! Real encoded events must validate against the published files in `schemas/json/`,
//! and events that break the contract must not.

use std::collections::BTreeMap;
use std::sync::Arc;

use sotp_schemas::{
    AlertEvent, AlertState, CommandKind, CommandRecord, DeviceId, EventBatch, LogRecord,
    MetricName, MetricSample, StructuredData, UtcNanos,
};

fn validator(name: &str) -> jsonschema::Validator {
    let path = format!("{}/json/{name}.schema.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let schema: serde_json::Value = serde_json::from_str(&text).expect("schema is JSON");
    jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn assert_valid(v: &jsonschema::Validator, doc: &[u8]) {
    let doc: serde_json::Value = serde_json::from_slice(doc).unwrap();
    let errors: Vec<String> = v.iter_errors(&doc).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{doc} does not validate: {errors:?}");
}

fn metrics() -> EventBatch {
    let dev = DeviceId::new("core-1");
    let name: Arc<str> = Arc::from("core-1");
    let icmp: Arc<str> = Arc::from("icmp");
    let mut counter = MetricSample::gauge(
        UtcNanos::now(),
        &dev,
        &name,
        &Arc::from("snmp"),
        &MetricName::new("if.in_octets"),
        1.8e19,
    );
    counter.counter = Some(u64::MAX);
    counter.instance = Some(Arc::from("Gi0/1"));
    counter.labels = BTreeMap::from([("counter_width".into(), "64".into())]);
    EventBatch::Metrics(vec![
        MetricSample::gauge(
            UtcNanos(0),
            &dev,
            &name,
            &icmp,
            &MetricName::new("icmp.rtt_ms"),
            0.042,
        ),
        MetricSample::gauge(
            UtcNanos::now(),
            &dev,
            &name,
            &icmp,
            &MetricName::new("poll.ok"),
            1.0,
        ),
        counter,
    ])
}

#[test]
fn metric_samples_validate() {
    let v = validator("metric_sample");
    for doc in metrics().to_json_lines().unwrap() {
        assert_valid(&v, &doc);
    }
}

#[test]
fn rollup_rows_validate_and_a_broken_one_does_not() {
    let v = validator("rollup_row");
    let row = sotp_schemas::RollupRow {
        time: UtcNanos(1_780_000_020 * 1_000_000_000),
        device_id: DeviceId::new("core-1"),
        device: Arc::from("core-1"),
        metric: MetricName::new("if.in_bps"),
        instance: Some(Arc::from("Gi0/1")),
        min: 1.0,
        avg: 2.5,
        max: 4.0,
        count: 2,
    };
    let docs = EventBatch::Rollups(vec![row.clone()])
        .to_json_lines()
        .unwrap();
    assert_valid(&v, &docs[0]);
    let back = EventBatch::from_json(sotp_schemas::Topic::Rollups, &docs[0]).unwrap();
    assert_eq!(back, EventBatch::Rollups(vec![row]));
    let mut bad: serde_json::Value = serde_json::from_slice(&docs[0]).unwrap();
    bad["count"] = 0.into();
    assert!(!v.is_valid(&bad), "an empty minute must not validate");
}

#[test]
fn log_records_validate() {
    let v = validator("log_record");
    let rec = LogRecord {
        received_at: UtcNanos::now(),
        time: Some(UtcNanos(1_000)),
        source_address: "127.0.0.1:40000".into(),
        device_id: Some(DeviceId::new("core-1")),
        hostname: Some("core-1".into()),
        facility: Some(23),
        severity: Some(3),
        app_name: Some("sshd".into()),
        procid: None,
        msgid: Some("ID47".into()),
        structured_data: StructuredData::from_map(&BTreeMap::from([(
            "exampleSDID@32473".into(),
            BTreeMap::from([("iut".into(), "3".into())]),
        )])),
        vendor_mnemonic: Some("%LINK-3-UPDOWN".into()),
        message: "Interface Gi0/1, changed state to down".into(),
        raw: b"<187>\xff raw".to_vec(),
        parse_error: false,
    };
    let docs = EventBatch::Logs(vec![rec.clone()]).to_json_lines().unwrap();
    assert_valid(&v, &docs[0]);
    match EventBatch::from_json(sotp_schemas::Topic::Logs, &docs[0]).unwrap() {
        EventBatch::Logs(back) => assert_eq!(back, vec![rec]),
        other => panic!("decoded as {other:?}"),
    }
}

#[test]
fn command_records_of_both_kinds_validate() {
    let v = validator("command_record");
    let collect = CommandRecord {
        time: UtcNanos::now(),
        device_id: DeviceId::new("r1"),
        device: "r1".into(),
        platform: "cisco_ios".into(),
        command: "show version".into(),
        kind: CommandKind::Collect,
        ok: true,
        error: None,
        output: "Cisco IOS Software\n".into(),
        parsed: Some(r#"[{"version":"15.2"}]"#.into()),
        template: Some("cisco_ios_show_version.textfsm".into()),
        duration_ms: 40,
        config_hash: None,
        previous_hash: None,
    };
    let config = CommandRecord {
        command: "show running-config".into(),
        kind: CommandKind::Config,
        parsed: None,
        template: None,
        config_hash: Some("b".repeat(64)),
        previous_hash: Some("a".repeat(64)),
        ..collect.clone()
    };
    let failed = CommandRecord {
        ok: false,
        error: Some("timed out".into()),
        output: String::new(),
        ..collect.clone()
    };
    let records = vec![collect, config, failed];
    let docs = EventBatch::Commands(records.clone())
        .to_json_lines()
        .unwrap();
    for doc in &docs {
        assert_valid(&v, doc);
    }
    let back: Vec<CommandRecord> = docs
        .iter()
        .flat_map(
            |d| match EventBatch::from_json(sotp_schemas::Topic::Commands, d).unwrap() {
                EventBatch::Commands(c) => c,
                other => panic!("decoded as {other:?}"),
            },
        )
        .collect();
    assert_eq!(back, records);
}

#[test]
fn alert_events_validate() {
    let v = validator("alert_event");
    let ev = AlertEvent {
        time: UtcNanos::now(),
        rule_id: "r1".into(),
        rule_name: "cpu high".into(),
        device_id: Some(DeviceId::new("core-1")),
        state: AlertState::Firing,
        severity: "critical".into(),
        value: Some(0.97),
        message: "cpu.util_ratio above 0.9 for 5m".into(),
        labels: BTreeMap::from([("device".into(), "core-1".into())]),
        fingerprint: "3f2a".into(),
        alert_id: "3f2a-1".into(),
        starts_at: Some(UtcNanos::now()),
        annotations: BTreeMap::from([("summary".into(), "cpu high on core-1".into())]),
        receivers: vec!["ops".into()],
        group_key: "cpu high".into(),
        group_wait_s: 10,
        group_interval_s: 300,
        repeat_interval_s: 14_400,
        escalate_after_s: Some(1800),
        escalate_to: vec!["manager".into()],
    };
    for doc in EventBatch::Alerts(vec![ev]).to_json_lines().unwrap() {
        assert_valid(&v, &doc);
    }
}

#[test]
fn inventory_records_validate_and_plain_or_referenced_secrets_do_not() {
    let v = validator("device_record");
    let settings: sotp_schemas::SnmpSettings = serde_json::from_value(serde_json::json!({
        "version": "3", "user": "mon", "auth_protocol": "sha256", "auth_key": "enc:v1:c2VhbGVkLWF1dGg",
        "priv_protocol": "aes256", "priv_key": "enc:v1:c2VhbGVkLXByaXY", "interval": "5s"
    }))
    .unwrap();
    let mut device = sotp_schemas::Device {
        id: DeviceId::new("edge-1"),
        name: Arc::from("edge 1"),
        address: "127.0.0.9".parse().unwrap(),
        tags: vec!["lab".into()],
        icmp: sotp_schemas::PollSettings {
            enabled: true,
            interval: Some(std::time::Duration::from_secs(2)),
        },
        snmp: Some(settings.target()),
        ssh: None,
    };
    let record = sotp_schemas::DeviceRecord::from(&device);
    let deleted = sotp_schemas::InventoryChange {
        id: "gone".into(),
        device: None,
    };
    let batch = EventBatch::Inventory(vec![
        sotp_schemas::InventoryChange {
            id: record.id.clone(),
            device: Some(record),
        },
        deleted,
    ]);
    let docs = batch.to_json_lines().unwrap();
    assert_valid(&v, &docs[0]);
    assert!(docs[1].is_empty(), "a deletion is a tombstone");
    device.snmp.as_mut().unwrap().community = sotp_schemas::Secret::new("x");
    device.snmp.as_mut().unwrap().version = sotp_schemas::SnmpVersion::V2c;
    let mut doc: serde_json::Value =
        serde_json::from_slice(&sotp_schemas::DeviceRecord::from(&device).to_json().unwrap())
            .unwrap();
    assert!(doc["snmp"].get("community").is_none(), "{doc}");
    doc["snmp"]["community"] = "plain-community".into();
    assert!(!v.is_valid(&doc), "a plain secret must not validate");
    doc["snmp"]["community"] = "env:SOTP_MASTER_KEY".into();
    assert!(!v.is_valid(&doc), "a reference must not validate");
}

#[test]
fn schema_rejects_a_broken_sample() {
    // The schema must be able to fail: a counter sent as a JSON number and a missing
    // collector are both contract violations.
    let v = validator("metric_sample");
    let bad = serde_json::json!({
        "time": "2026-01-01T00:00:00.000000000Z", "device_id": "d", "device": "d",
        "metric": "if.in_octets", "value": 1.0, "counter": 12
    });
    assert!(!v.is_valid(&bad));
}
