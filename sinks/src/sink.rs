//! The metrics sink: consumes a topic into a table's hot tier and rolls Parquet files.

use std::sync::Arc;
use std::time::Duration;

use sotp_pipeline::Subscription;
use sotp_schemas::{EventBatch, MetricBatchBuilder};
use tokio_util::sync::CancellationToken;

use crate::{StorageConfig, TableStore};

/// Consumes metric batches from `sub` into `table` until the bus closes, then flushes
/// everything. Rows are gathered into batches of `batch_rows` (or `batch_latency`),
/// Parquet files roll by `max_file_rows` or `max_file_age`, and the hot tier keeps
/// `hot_window`.
///
/// A failed flush keeps the rows in memory and is retried; while it keeps failing the
/// sink stops reading, so back-pressure reaches the collectors instead of data being lost.
pub async fn run_metrics_sink(
    mut sub: Box<dyn Subscription>,
    table: Arc<TableStore>,
    config: StorageConfig,
    shutdown: CancellationToken,
) {
    let mut builder = MetricBatchBuilder::with_capacity(config.batch_rows);
    let mut tick = tokio::time::interval(config.batch_latency.min(Duration::from_secs(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut retry_delay = Duration::from_secs(1);
    loop {
        tokio::select! {
            d = sub.recv() => match d {
                Some(d) => {
                    match d.batch {
                        EventBatch::Metrics(samples) => {
                            for s in &samples {
                                builder.push(s);
                                if builder.len() >= config.batch_rows {
                                    table.append(builder.finish());
                                }
                            }
                        }
                        other => tracing::warn!(table = table.name(), events = other.len(), "non-metric events on a metrics topic ignored"),
                    }
                }
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

/// Writes everything still in memory once the bus is closed, retrying a few times.
pub(crate) async fn final_flush(table: &TableStore) {
    for attempt in 1..=5 {
        match table.flush().await {
            Ok(r) => {
                tracing::info!(
                    table = table.name(),
                    rows = r.rows,
                    files = r.files,
                    "final flush done"
                );
                return;
            }
            Err(e) => {
                tracing::error!(table = table.name(), attempt, error = %e, "final flush failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
    let (rows, _) = table.pending();
    tracing::error!(
        table = table.name(),
        rows,
        "rows could not be written to parquet and are lost at exit"
    );
}

pub(crate) async fn flush_until_ok(
    table: &TableStore,
    delay: &mut Duration,
    shutdown: &CancellationToken,
) {
    loop {
        match table.flush().await {
            Ok(_) => {
                *delay = Duration::from_secs(1);
                return;
            }
            Err(e) => {
                metrics::counter!("sotp_flush_errors_total", "table" => table.name().to_string())
                    .increment(1);
                tracing::error!(table = table.name(), error = %e, retry_in_s = delay.as_secs(), "flush failed; rows stay in memory");
                if shutdown.is_cancelled() {
                    return;
                }
                tokio::time::sleep(*delay).await;
                *delay = (*delay * 2).min(Duration::from_secs(60));
            }
        }
    }
}
