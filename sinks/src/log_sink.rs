//! The logs sink: consumes the `logs` topic into the `logs` table's hot tier and rolls
//! Parquet files like the metrics sink does for metrics: on Kafka it skips replayed
//! events by offset, commits only what Parquet holds, and hands partitions over on
//! rebalances ([`crate::sink`]), and drops the events a producer delivered twice
//! ([`crate::recent_logs`]).

use std::sync::Arc;
use std::time::Duration;

use sotp_pipeline::{Received, Subscription};
use sotp_schemas::{EventBatch, LogBatchBuilder};
use tokio_util::sync::CancellationToken;

use crate::offsets::Offsets;
use crate::recent_logs::RecentLogs;
use crate::sink::{BackgroundFlush, Repeats, commit, final_flush, on_rebalance, take_in};
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
    mut sub: Box<dyn Subscription>,
    table: Arc<TableStore>,
    config: StorageConfig,
    shutdown: CancellationToken,
    repeats: Option<RecentLogs>,
) {
    let mut repeats = repeats.map(Repeats::Logs);
    let mut builder = LogBatchBuilder::with_capacity(config.batch_rows.min(8192));
    let mut tick = tokio::time::interval(config.batch_latency.min(Duration::from_secs(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut retry_delay = Duration::from_secs(1);
    // Offsets of the rows in `builder`, appended with them.
    let mut pending = Offsets::new();
    let mut keys: Vec<String> = Vec::new();
    let mut flushing = BackgroundFlush::default();
    loop {
        flushing.bound(sub.as_mut(), &table, &config).await;
        tokio::select! {
            d = sub.recv_or_rebalance() => match d {
                Some(Received::Rebalance(r)) => {
                    if !builder.is_empty() {
                        table.append_with_offsets(builder.finish(), &std::mem::take(&mut pending));
                    }
                    // The flush in progress holds part of the rows: let it finish, then
                    // the hand-over flushes the rest.
                    flushing.wait().await;
                    on_rebalance(sub.as_mut(), &table, r, repeats.as_mut(), &mut retry_delay, &shutdown).await;
                }
                Some(Received::Events(d)) => match d.batch {
                    EventBatch::Logs(records) => {
                        let (mut replayed, mut repeated) = (0u64, 0u64);
                        for (i, r) in records.iter().enumerate() {
                            if let Some(o) = d.origins.get(i)
                                && !take_in(&mut pending, &mut keys, &table, o)
                            {
                                replayed += 1;
                                continue;
                            }
                            if let Some(f) = repeats.as_mut()
                                && !f.is_new_log(r)
                            {
                                repeated += 1;
                                continue;
                            }
                            builder.push(r);
                            if builder.len() >= config.batch_rows {
                                table.append_with_offsets(builder.finish(), &std::mem::take(&mut pending));
                            }
                        }
                        if replayed > 0 {
                            metrics::counter!("sotp_sink_replayed_events_total", "table" => table.name().to_string()).increment(replayed);
                            tracing::info!(table = table.name(), events = replayed, "replayed events already in the table skipped");
                        }
                        if repeated > 0 {
                            metrics::counter!("sotp_sink_repeated_rows_total", "table" => table.name().to_string()).increment(repeated);
                            let message = repeats.as_ref().map_or("", Repeats::message);
                            tracing::info!(table = table.name(), rows = repeated, "{message}");
                        }
                    }
                    other => tracing::warn!(table = table.name(), events = other.len(), "non-log events on the logs topic ignored"),
                },
                None => break,
            },
            _ = tick.tick() => {
                if !builder.is_empty() {
                    table.append_with_offsets(builder.finish(), &std::mem::take(&mut pending));
                }
                flushing.tick(sub.as_mut(), &table, &config, &shutdown);
                table.evict(config.hot_window);
            }
        }
    }
    if !builder.is_empty() {
        table.append_with_offsets(builder.finish(), &pending);
    }
    flushing.wait().await;
    final_flush(&table).await;
    // Offsets are committed only for what the files hold.
    commit(sub.as_mut(), &table);
}

#[cfg(test)]
#[path = "log_sink_tests.rs"]
mod tests;
