//! The streaming stage: consumes `metrics.raw`, publishes derived samples on `metrics`
//! and closed 1-minute rollups to the `metrics_1m` sink.
//!
//! Per series (device, metric, instance) it keeps the last counter observation and
//! turns each new one into a rate with exact u64 arithmetic ([`counter`]); octet
//! counters become `if.in_bps`/`if.out_bps` and, with the interface speed,
//! `if.in_util_ratio`/`if.out_util_ratio`; other counters become `<metric>_per_s`.
//! A counter that cannot yield a rate yields a `<counter>.discontinuity` sample whose
//! `reason` label says why. Gauges become `if.oper_up`, `cpu.util_ratio` and
//! `mem.used_ratio`. Every derived sample and every raw gauge is rolled up per minute.
//!
//! Each micro-batch (the queued polls, up to [`MICRO_BATCH_SAMPLES`] raw samples) is
//! computed by DataFusion: counter deltas with `LAG` over a window per series and an
//! exact-u64 classification UDF, rollup groups with `GROUP BY` ([`sql`]); the per-series
//! state is carried from batch to batch in memory and saved to disk.
//!
//! The state is saved every `state_save_interval` and at a clean stop (see [`state`]); on
//! a partitioned bus each save is a checkpoint with the input offsets ([`checkpoint`]).

mod config;
mod context;
pub mod counter;
mod derive;
pub mod rollup;
mod series;
mod sql;
pub mod state;

use std::path::PathBuf;
use std::sync::Arc;

use futures::FutureExt;
use sotp_schemas::{EventBatch, RollupRow, Topic};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub use config::StreamConfig;
pub use context::SavedContext;
pub use derive::{Stage, StageStats};

use sotp_bus::checkpoint;
use sotp_bus::{Bus, Delivery, Subscription};

/// Where the stage's state lives under the data directory.
pub fn state_path(data_dir: &std::path::Path) -> PathBuf {
    data_dir.join("stream").join("state.json")
}

/// Loads the saved state at `path`; a missing file gives an empty stage, an unreadable
/// one is renamed aside (`.corrupt`) with an error logged, and the stage starts empty.
pub fn load_stage(path: &std::path::Path) -> Stage {
    load_checkpoint(path).0
}

/// Like [`load_stage`], with the input offsets the saved state includes.
pub fn load_checkpoint(path: &std::path::Path) -> (Stage, checkpoint::InputOffsets) {
    match state::load(path) {
        Ok(Some(mut saved)) => {
            let offsets = std::mem::take(&mut saved.offsets);
            let stage = Stage::from_saved(saved);
            tracing::info!(path = %path.display(), series = stage.series_count(), "stream state restored");
            (stage, offsets)
        }
        Ok(None) => (Stage::default(), Default::default()),
        Err(e) => {
            let aside = path.with_extension("json.corrupt");
            let _ = std::fs::rename(path, &aside);
            tracing::error!(error = %e, moved_to = %aside.display(), "stream state unreadable; starting without it");
            (Stage::default(), Default::default())
        }
    }
}

/// Runs the stage until the bus closes, or until `stop` is cancelled and the queue is
/// drained. Cancel `stop` only after every producer of `metrics.raw` has stopped: what
/// they published is then already queued, and the stage processes all of it before it
/// returns. Saves the state before returning, each save being a checkpoint
/// ([`checkpoint`]): `durable` makes the outputs durable first, then the state is saved
/// with the input offsets it includes, then they are committed.
pub async fn run_stream(
    mut sub: Box<dyn Subscription>,
    bus: Arc<dyn Bus>,
    rollups: mpsc::Sender<Vec<RollupRow>>,
    config: StreamConfig,
    path: PathBuf,
    stop: CancellationToken,
    durable: Arc<dyn checkpoint::Checkpoint>,
) -> Stage {
    let (mut stage, mut offsets) = load_checkpoint(&path);
    let mut tick = tokio::time::interval(config.state_save_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let idle_ns = config.idle_close.as_nanos() as i64;
    loop {
        let delivery = if stop.is_cancelled() {
            // Producers stopped: take what is queued, end when nothing comes.
            match tokio::time::timeout(DRAIN_QUIET, sub.recv()).await {
                Ok(d) => d,
                Err(_) => break,
            }
        } else {
            tokio::select! {
                d = sub.recv() => d,
                () = stop.cancelled() => continue,
                _ = tick.tick() => {
                    let mut closed = Vec::new();
                    stage.close_idle(idle_ns, &mut closed);
                    send_rollups(&rollups, closed).await;
                    if let Err(e) = save(&path, &stage, &offsets, sub.as_mut(), durable.as_ref()).await {
                        tracing::error!(error = %e, "stream state not saved");
                    }
                    continue;
                }
            }
        };
        let Some(mut d) = delivery else { break };
        skip_replayed(&mut d, &mut offsets);
        let EventBatch::Metrics(mut raw) = d.batch else {
            continue;
        };
        // A micro-batch: this delivery and whatever else is already queued, up to
        // MICRO_BATCH_SAMPLES (DataFusion's per-query cost is then spread over many polls).
        let mut ended = false;
        while raw.len() < MICRO_BATCH_SAMPLES {
            match sub.recv().now_or_never() {
                Some(Some(mut more)) => {
                    skip_replayed(&mut more, &mut offsets);
                    if let EventBatch::Metrics(more) = more.batch {
                        raw.extend(more);
                    }
                }
                Some(None) => {
                    ended = true;
                    break;
                }
                None => break,
            }
        }
        let mut out = Vec::new();
        let mut closed = Vec::new();
        stage.process(&raw, &mut out, &mut closed);
        metrics::counter!("sotp_stream_raw_samples_total").increment(raw.len() as u64);
        if !out.is_empty() {
            let n = out.len();
            if let Err(e) = bus.publish(Topic::Metrics, EventBatch::Metrics(out)).await {
                tracing::warn!(error = %e, samples = n, "derived samples not published");
            }
        }
        send_rollups(&rollups, closed).await;
        if ended {
            break;
        }
    }
    match save(&path, &stage, &offsets, sub.as_mut(), durable.as_ref()).await {
        Ok(()) => {
            tracing::info!(series = stage.series_count(), path = %path.display(), "stream state saved")
        }
        Err(e) => tracing::error!(error = %e, "stream state not saved at stop"),
    }
    stage
}

/// One checkpoint: outputs durable, state saved with `offsets`, offsets committed.
async fn save(
    path: &std::path::Path,
    stage: &Stage,
    offsets: &checkpoint::InputOffsets,
    sub: &mut dyn Subscription,
    durable: &dyn checkpoint::Checkpoint,
) -> Result<(), state::StateError> {
    if !durable.outputs_durable().await {
        return Err(state::StateError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::other(
                "the stage's outputs are not durable yet; state kept at the previous checkpoint",
            ),
        });
    }
    let mut saved = stage.to_saved();
    saved.offsets = offsets.clone();
    state::save(path, &saved)?;
    if let Some(topic) = sub.topic_name().map(str::to_string) {
        let commit = checkpoint::for_topic(offsets, &topic);
        if let Err(e) = sub.commit(&commit) {
            tracing::warn!(error = %e, "stream offsets not committed; the saved state's offsets still skip replays");
        }
    }
    Ok(())
}

/// Most raw samples gathered into one micro-batch from what is already queued.
pub const MICRO_BATCH_SAMPLES: usize = 50_000;

/// Drops from `d` the input events the saved state already includes (a replay after a
/// restart), recording the offsets of the others.
fn skip_replayed(d: &mut Delivery, offsets: &mut checkpoint::InputOffsets) {
    let replayed = checkpoint::take_new(d, offsets);
    if replayed > 0 {
        tracing::info!(
            events = replayed,
            "replayed input events already in the stream state skipped"
        );
    }
}

/// How long the draining stage waits for one more queued batch before it ends.
const DRAIN_QUIET: std::time::Duration = std::time::Duration::from_millis(200);

async fn send_rollups(tx: &mpsc::Sender<Vec<RollupRow>>, closed: Vec<RollupRow>) {
    if !closed.is_empty() && tx.send(closed).await.is_err() {
        tracing::warn!("rollup sink gone; rollups dropped");
    }
}

#[cfg(test)]
mod tests;
