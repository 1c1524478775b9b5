//! The rollup sink: closed 1-minute rollups from the streaming stage into `metrics_1m`.

use std::sync::Arc;
use std::time::Duration;

use sotp_schemas::{RollupBatchBuilder, RollupRow};
use tokio::sync::{mpsc, oneshot};

use crate::watermark::SeriesWatermark;
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
    crate::sink::final_flush(&table).await;
}

/// Asks a [`run_rollup_writer`] to write every rollup it was sent to Parquet: the
/// streaming stage's checkpoint waits for it before saving its state.
#[derive(Clone, Debug)]
pub struct RollupSync(mpsc::Sender<oneshot::Sender<bool>>);

/// The writer's end of [`RollupSync`].
pub type SyncRequests = mpsc::Receiver<oneshot::Sender<bool>>;

impl RollupSync {
    /// A sync handle and the requests the writer answers.
    pub fn new() -> (Self, SyncRequests) {
        let (tx, rx) = mpsc::channel(4);
        (Self(tx), rx)
    }

    /// Waits until every row sent before this call is in Parquet; `false` if it is not.
    pub async fn sync(&self) -> bool {
        let (tx, rx) = oneshot::channel();
        if self.0.send(tx).await.is_err() {
            return false;
        }
        rx.await.unwrap_or(false)
    }
}

/// The rollup sink of a checkpointing stage (Kafka): rows become visible in the hot tier
/// at once, but reach Parquet only when a [`RollupSync`] asks, so Parquet never holds a
/// minute the stage's saved state does not know is closed. Rows not newer than their
/// series' newest stored minute are repeats of the stage after a restart and are dropped
/// (see [`crate::watermark`]).
pub async fn run_rollup_writer(
    mut rx: mpsc::Receiver<Vec<RollupRow>>,
    mut syncs: SyncRequests,
    table: Arc<TableStore>,
    config: StorageConfig,
    mut watermark: SeriesWatermark,
) {
    let mut builder = RollupBatchBuilder::default();
    let mut tick = tokio::time::interval(config.batch_latency.min(Duration::from_secs(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut push = |builder: &mut RollupBatchBuilder, rows: Vec<RollupRow>| {
        let mut repeated = 0u64;
        for r in &rows {
            if watermark.advance_rollup(r) {
                builder.push(r);
            } else {
                repeated += 1;
            }
        }
        if repeated > 0 {
            metrics::counter!("sotp_sink_repeated_rows_total", "table" => table.name().to_string())
                .increment(repeated);
            tracing::info!(
                table = table.name(),
                rows = repeated,
                "repeated stream outputs already in the table dropped"
            );
        }
    };
    loop {
        tokio::select! {
            rows = rx.recv() => match rows {
                Some(rows) => push(&mut builder, rows),
                None => break,
            },
            req = syncs.recv() => {
                let Some(reply) = req else { continue };
                // Every row sent before the request is already queued.
                while let Ok(rows) = rx.try_recv() {
                    push(&mut builder, rows);
                }
                if !builder.is_empty() {
                    table.append(builder.finish());
                }
                let ok = match table.flush().await {
                    Ok(_) => true,
                    Err(e) => {
                        tracing::error!(table = table.name(), error = %e, "flush failed; the stream keeps its previous checkpoint");
                        false
                    }
                };
                table.evict(config.hot_window);
                let _ = reply.send(ok);
            }
            _ = tick.tick() => {
                if !builder.is_empty() {
                    table.append(builder.finish());
                }
                table.evict(config.hot_window);
            }
        }
    }
    if !builder.is_empty() {
        table.append(builder.finish());
    }
    crate::sink::final_flush(&table).await;
}
