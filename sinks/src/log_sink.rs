//! The logs sink: consumes the `logs` topic into the `logs` table's hot tier and rolls
//! Parquet files, exactly like the metrics sink does for metrics.

use std::sync::Arc;
use std::time::Duration;

use sotp_pipeline::Subscription;
use sotp_schemas::{EventBatch, LogBatchBuilder};
use tokio_util::sync::CancellationToken;

use crate::sink::{final_flush, flush_until_ok};
use crate::{StorageConfig, TableStore};

/// Consumes log batches from `sub` into `table` until the bus closes, then flushes
/// everything. Batching, file rolling, retries and back-pressure follow
/// [`crate::run_metrics_sink`].
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
    loop {
        tokio::select! {
            d = sub.recv() => match d {
                Some(d) => match d.batch {
                    EventBatch::Logs(records) => {
                        for r in &records {
                            builder.push(r);
                            if builder.len() >= config.batch_rows {
                                table.append(builder.finish());
                            }
                        }
                    }
                    other => tracing::warn!(table = table.name(), events = other.len(), "non-log events on the logs topic ignored"),
                },
                None => break,
            },
            _ = tick.tick() => {
                if !builder.is_empty() {
                    table.append(builder.finish());
                }
                let (rows, age) = table.pending();
                if rows >= config.max_file_rows || age.is_some_and(|a| a >= config.max_file_age) {
                    flush_until_ok(&table, &mut retry_delay, &shutdown).await;
                }
                table.evict(config.hot_window);
            }
        }
    }
    if !builder.is_empty() {
        table.append(builder.finish());
    }
    final_flush(&table).await;
}
