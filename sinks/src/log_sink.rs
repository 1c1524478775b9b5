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
/// everything. Batching, file rolling and retries follow [`crate::run_metrics_sink`],
/// but a flush runs beside the reading (syslog ingest goes on during the encode); while
/// one runs or keeps failing, the sink reads on until twice `max_file_rows` rows wait,
/// then waits for it (back-pressure).
pub async fn run_logs_sink(
    mut sub: Box<dyn Subscription>,
    table: Arc<TableStore>,
    config: StorageConfig,
    shutdown: CancellationToken,
) {
    let mut builder = LogBatchBuilder::with_capacity(config.batch_rows.min(8192));
    let mut tick = tokio::time::interval(config.batch_latency.min(Duration::from_secs(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The flush in progress: it runs beside the sink, which goes on reading.
    let mut flushing: Option<tokio::task::JoinHandle<()>> = None;
    loop {
        // Back-pressure: while a flush runs (or keeps failing), at most two files' worth
        // of rows wait in memory; then the sink waits for it instead of reading on.
        if let Some(f) = flushing.as_mut()
            && table.pending().0 >= 2 * config.max_file_rows
        {
            let _ = f.await;
            flushing = None;
        }
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
                let idle = flushing.as_ref().is_none_or(|f| f.is_finished());
                if idle && (rows >= config.max_file_rows || age.is_some_and(|a| a >= config.max_file_age)) {
                    let (table, shutdown) = (table.clone(), shutdown.clone());
                    flushing = Some(tokio::spawn(async move {
                        flush_until_ok(&table, &mut Duration::from_secs(1), &shutdown).await;
                    }));
                }
                table.evict(config.hot_window);
            }
        }
    }
    if !builder.is_empty() {
        table.append(builder.finish());
    }
    if let Some(f) = flushing {
        let _ = f.await;
    }
    final_flush(&table).await;
}

#[cfg(test)]
#[path = "log_sink_tests.rs"]
mod tests;
