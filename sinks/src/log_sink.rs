//! The logs sink: consumes the `logs` topic into the `logs` table's hot tier and rolls
//! Parquet files, exactly like the metrics sink does for metrics: on Kafka it skips
//! replayed events by offset, commits only what Parquet holds, and hands partitions over
//! on rebalances ([`crate::sink`]). Logs have no repeat filter: a log message has no key
//! that tells an event delivered twice to the topic from two identical messages.

use std::sync::Arc;
use std::time::Duration;

use sotp_pipeline::{Received, Subscription};
use sotp_schemas::{EventBatch, LogBatchBuilder};
use tokio_util::sync::CancellationToken;

use crate::offsets::{self, Offsets};
use crate::sink::{commit, final_flush, flush_until_ok, on_rebalance};
use crate::{StorageConfig, TableStore};

/// Consumes log batches from `sub` into `table` until the bus closes, then flushes
/// everything. Batching, file rolling, retries, back-pressure, offsets and rebalances
/// follow [`crate::run_metrics_sink`].
pub async fn run_logs_sink(
    mut sub: Box<dyn Subscription>,
    table: Arc<TableStore>,
    config: StorageConfig,
    shutdown: CancellationToken,
) {
    let mut builder = LogBatchBuilder::with_capacity(config.batch_rows.min(8192));
    let mut tick = tokio::time::interval(config.batch_latency.min(Duration::from_secs(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut retry_delay = Duration::from_secs(1);
    // Offsets of the rows in `builder`, appended with them.
    let mut pending = Offsets::new();
    loop {
        tokio::select! {
            d = sub.recv_or_rebalance() => match d {
                Some(Received::Rebalance(r)) => {
                    if !builder.is_empty() {
                        table.append_with_offsets(builder.finish(), &std::mem::take(&mut pending));
                    }
                    on_rebalance(sub.as_mut(), &table, r, None, &mut retry_delay, &shutdown).await;
                }
                Some(Received::Events(d)) => match d.batch {
                    EventBatch::Logs(records) => {
                        let mut replayed = 0u64;
                        for (i, r) in records.iter().enumerate() {
                            if let Some(o) = d.origins.get(i) {
                                let key = offsets::offset_key(&o.topic, o.partition);
                                let seen = pending.get(&key).copied().or_else(|| table.received_offset(&key));
                                if seen.is_some_and(|next| o.offset < next) {
                                    replayed += 1;
                                    continue;
                                }
                                pending.insert(key, o.offset + 1);
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
                    }
                    other => tracing::warn!(table = table.name(), events = other.len(), "non-log events on the logs topic ignored"),
                },
                None => break,
            },
            _ = tick.tick() => {
                if !builder.is_empty() {
                    table.append_with_offsets(builder.finish(), &std::mem::take(&mut pending));
                }
                let (rows, age) = table.pending();
                if rows >= config.max_file_rows || age.is_some_and(|a| a >= config.max_file_age) {
                    flush_until_ok(&table, &mut retry_delay, &shutdown).await;
                    commit(sub.as_mut(), &table);
                }
                table.evict(config.hot_window);
            }
        }
    }
    if !builder.is_empty() {
        table.append_with_offsets(builder.finish(), &pending);
    }
    final_flush(&table).await;
    // Offsets are committed only for what the files hold.
    commit(sub.as_mut(), &table);
}
