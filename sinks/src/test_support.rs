//! Fixtures shared by the sinks' unit tests: a `metrics` table on a store, and a gauge
//! sample of one device.

use std::sync::Arc;

use sotp_schemas::{DeviceId, MetricName, MetricSample, UtcNanos, metric_schema};

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
