//! The counter stage, the first operator of the streaming stage ([`Derive`]): consumes
//! `metrics.raw`, publishes derived samples on `metrics` and closed 1-minute rollups on
//! `metrics.1m` (which the `metrics_1m` sink writes, like any other table).
//!
//! Per series (device, metric, instance) it keeps the last counter observation and
//! turns each new one into a rate with exact u64 arithmetic ([`counter`]); octet
//! counters become `if.in_bps`/`if.out_bps` and, with the interface speed,
//! `if.in_util_ratio`/`if.out_util_ratio`; other counters become `<metric>_per_s`.
//! A counter that cannot yield a rate yields a `<counter>.discontinuity` sample whose
//! `reason` label says why. Gauges become `if.oper_up`, `cpu.util_ratio` and
//! `mem.used_ratio`. Every derived sample and every raw gauge is rolled up per minute.
//! The rollups are computed here rather than by an operator of their own: they need the
//! derived values of the same micro-batch and share its per-series ids and its one
//! DataFusion pass ([`sql`]).
//!
//! Each micro-batch (the queued polls, up to [`MICRO_BATCH_SAMPLES`] raw samples) is
//! computed by DataFusion: counter deltas with `LAG` over a window per series and an
//! exact-u64 classification UDF, rollup groups with `GROUP BY`; the per-series state is
//! carried from batch to batch in memory and saved to disk by the operator runner
//! ([`crate::operator`]) with the input offsets it includes (see [`state`]).

mod config;
mod context;
pub mod counter;
mod derive;
pub mod rollup;
mod series;
mod sql;
pub mod state;

use std::path::{Path, PathBuf};

use sotp_bus::checkpoint::InputOffsets;
use sotp_schemas::{EventBatch, Topic};

pub use config::StreamConfig;
pub use context::SavedContext;
pub use derive::{Stage, StageStats};

use crate::operator::{Emit, Operator};

/// Where the stage's state lives under the data directory.
pub fn state_path(data_dir: &Path) -> PathBuf {
    data_dir.join("stream").join("state.json")
}

/// Loads the saved state at `path`; a missing file gives an empty stage, an unreadable
/// one is renamed aside (`.corrupt`) with an error logged, and the stage starts empty.
pub fn load_stage(path: &Path) -> Stage {
    load_checkpoint(path).0
}

/// Like [`load_stage`], with the input offsets the saved state includes.
pub fn load_checkpoint(path: &Path) -> (Stage, InputOffsets) {
    match state::load::<state::Saved>(path) {
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

/// Most raw samples gathered into one micro-batch from what is already queued.
pub const MICRO_BATCH_SAMPLES: usize = 50_000;

/// The counter stage as an operator: `metrics.raw` in, `metrics` and `metrics.1m` out,
/// its state in one file (`<data_dir>/stream/state.json`).
#[derive(Debug)]
pub struct Derive {
    stage: Stage,
    path: PathBuf,
    idle_close_ns: i64,
}

impl Derive {
    /// The operator restored from `path`, with the input offsets its state includes.
    pub fn load(path: PathBuf, config: &StreamConfig) -> (Self, InputOffsets) {
        let (stage, offsets) = load_checkpoint(&path);
        let op = Self {
            stage,
            path,
            idle_close_ns: config.idle_close.as_nanos() as i64,
        };
        (op, offsets)
    }

    /// The stage (for tests and a clean stop's report).
    pub fn stage(&self) -> &Stage {
        &self.stage
    }
}

impl Operator for Derive {
    fn name(&self) -> &'static str {
        "stream"
    }

    fn inputs(&self) -> Vec<Topic> {
        vec![Topic::MetricsRaw]
    }

    fn micro_batch(&self) -> usize {
        MICRO_BATCH_SAMPLES
    }

    fn process(&mut self, input: Topic, batch: EventBatch, out: &mut Emit) {
        let EventBatch::Metrics(raw) = batch else {
            tracing::warn!(%input, "non-metric events on the stage's input ignored");
            return;
        };
        let mut derived = Vec::new();
        let mut closed = Vec::new();
        self.stage.process(&raw, &mut derived, &mut closed);
        metrics::counter!("sotp_stream_raw_samples_total").increment(raw.len() as u64);
        out.push(Topic::Metrics, EventBatch::Metrics(derived));
        out.push(Topic::Rollups, EventBatch::Rollups(closed));
    }

    fn tick(&mut self, out: &mut Emit) {
        let mut closed = Vec::new();
        self.stage.close_idle(self.idle_close_ns, &mut closed);
        out.push(Topic::Rollups, EventBatch::Rollups(closed));
    }

    fn save(&self, offsets: &InputOffsets) -> Result<(), String> {
        let mut saved = self.stage.to_saved();
        saved.offsets = offsets.clone();
        state::save(&self.path, &saved).map_err(|e| e.to_string())?;
        tracing::debug!(series = self.stage.series_count(), path = %self.path.display(), "stream state saved");
        Ok(())
    }
}

#[cfg(test)]
mod tests;
