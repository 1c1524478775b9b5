//! The rollup sink: closed 1-minute rollups from the streaming stage into `metrics_1m`.

use std::sync::Arc;
use std::time::Duration;

use sotp_schemas::{RollupBatchBuilder, RollupRow};
use tokio::sync::mpsc;

use crate::{StorageConfig, TableStore};

/// Appends rollup rows from `rx` to `table` until every sender is gone, rolling Parquet
/// files as the metrics sink does, then flushes everything.
pub async fn run_rollup_sink(
    mut rx: mpsc::Receiver<Vec<RollupRow>>,
    table: Arc<TableStore>,
    config: StorageConfig,
) {
    let mut builder = RollupBatchBuilder::default();
    let mut tick = tokio::time::interval(config.batch_latency.min(Duration::from_secs(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            rows = rx.recv() => match rows {
                Some(rows) => {
                    for r in &rows {
                        builder.push(r);
                    }
                    if builder.len() >= config.batch_rows {
                        table.append(builder.finish());
                    }
                }
                None => break,
            },
            _ = tick.tick() => {
                if !builder.is_empty() {
                    table.append(builder.finish());
                }
                let (rows, age) = table.pending();
                if (rows >= config.max_file_rows || age.is_some_and(|a| a >= config.max_file_age))
                    && let Err(e) = table.flush().await
                {
                    tracing::error!(table = table.name(), error = %e, "flush failed; rows stay in memory");
                }
                table.evict(config.hot_window);
            }
        }
    }
    if !builder.is_empty() {
        table.append(builder.finish());
    }
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
}
