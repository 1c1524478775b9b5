//! The logs sink: consumes the `logs` topic into the `logs` table's hot tier and rolls
//! Parquet files like the metrics sink does for metrics: on Kafka it skips replayed
//! events by offset, commits only what Parquet holds, and hands partitions over on
//! rebalances ([`crate::sink`]), and drops the events a producer delivered twice
//! ([`crate::recent_logs`]).

use std::sync::Arc;

use sotp_bus::Subscription;
use sotp_schemas::LogBatchBuilder;
use tokio_util::sync::CancellationToken;

use crate::recent_logs::RecentLogs;
use crate::sink::{Repeats, run_sink};
use crate::{StorageConfig, TableStore};

/// Consumes log batches from `sub` into `table` until the bus closes, then flushes
/// everything. Batching, file rolling (beside the reading), retries, back-pressure,
/// offsets and rebalances follow [`crate::run_metrics_sink`].
pub async fn run_logs_sink(
    sub: Box<dyn Subscription>,
    table: Arc<TableStore>,
    config: StorageConfig,
    shutdown: CancellationToken,
) {
    run_logs_sink_with(sub, table, config, shutdown, None).await;
}

/// [`run_logs_sink`] with the filter of events delivered twice (on Kafka).
pub async fn run_logs_sink_with(
    sub: Box<dyn Subscription>,
    table: Arc<TableStore>,
    config: StorageConfig,
    shutdown: CancellationToken,
    repeats: Option<RecentLogs>,
) {
    run_sink::<LogBatchBuilder>(sub, table, config, shutdown, repeats.map(Repeats::Logs)).await;
}

#[cfg(test)]
mod tests;
