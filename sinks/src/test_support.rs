//! Fixtures shared by the sinks' unit tests: the `metrics` and `logs` tables on a store,
//! a gauge sample of one device, and a log record.

use std::sync::Arc;

use sotp_schemas::{
    AlertEvent, AlertState, DeviceId, LogRecord, MetricName, MetricSample, UtcNanos, alert_schema,
    log_schema, metric_schema,
};

use crate::writer::Layout;
use crate::{ColdStore, TableStore};

/// Opens the `metrics` table on `store` as a new writer.
pub(crate) async fn metrics_table(store: &ColdStore) -> Arc<TableStore> {
    TableStore::open(
        "metrics",
        metric_schema(),
        Layout::metrics(),
        store.clone(),
        1000,
        1,
    )
    .await
    .expect("open the metrics table")
}

/// A gauge of device `d1` (collector `c`) at `t` ns, value 1.
pub(crate) fn sample(t: i64, metric: &str) -> MetricSample {
    MetricSample::gauge(
        UtcNanos(t),
        &DeviceId::new("d1"),
        &Arc::from("d1"),
        &Arc::from("c"),
        &MetricName::new(metric),
        1.0,
    )
}

/// Opens the `alerts` table on `store` as a new writer.
pub(crate) async fn alerts_table(store: &ColdStore) -> Arc<TableStore> {
    TableStore::open(
        "alerts",
        alert_schema(),
        Layout::alerts(),
        store.clone(),
        1000,
        1,
    )
    .await
    .expect("open the alerts table")
}

/// A transition of the alert `alert_id` into `state` at `t` ns.
pub(crate) fn alert(t: i64, alert_id: &str, state: AlertState) -> AlertEvent {
    AlertEvent {
        time: UtcNanos(t),
        rule_id: "r".into(),
        rule_name: "r".into(),
        device_id: None,
        state,
        severity: "warning".into(),
        value: None,
        message: String::new(),
        labels: Default::default(),
        fingerprint: format!("fp-{alert_id}"),
        alert_id: alert_id.into(),
        starts_at: None,
        annotations: Default::default(),
        receivers: Vec::new(),
        group_key: String::new(),
        group_wait_s: 0,
        group_interval_s: 0,
        repeat_interval_s: 0,
        escalate_after_s: None,
        escalate_to: Vec::new(),
    }
}

/// Opens the `logs` table on `store` as a new writer.
pub(crate) async fn logs_table(store: &ColdStore) -> Arc<TableStore> {
    TableStore::open("logs", log_schema(), Layout::logs(), store.clone(), 1000, 3)
        .await
        .expect("open the logs table")
}

/// A record from `source` received at `at` ns, whose text and raw bytes are `text`.
pub(crate) fn log_record(at: i64, source: &str, text: &str) -> LogRecord {
    LogRecord {
        received_at: UtcNanos(at),
        time: None,
        source_address: source.into(),
        device_id: None,
        hostname: None,
        facility: Some(1),
        severity: Some(5),
        app_name: None,
        procid: None,
        msgid: None,
        structured_data: Default::default(),
        vendor_mnemonic: None,
        message: text.into(),
        raw: text.as_bytes().to_vec(),
        parse_error: false,
    }
}
