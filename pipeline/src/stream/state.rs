//! Per-series state of the streaming stage and its persistence.
//!
//! The state (last counter observation per series, last known interface speed and
//! open rollup minutes) is saved as JSON under the data directory, written to a
//! temporary file and renamed over the old one, so a crash leaves either the old or the
//! new file, never half of one. After a restart the first poll yields a rate again.

use std::path::{Path, PathBuf};

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sotp_schemas::{DeviceId, MetricName, MetricSample};

use super::counter::Point;
use super::rollup::Bucket;

/// A series: device id, metric and instance. Cheap to clone (shared strings).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SeriesKey {
    /// Device id.
    pub device_id: DeviceId,
    /// Metric name.
    pub metric: MetricName,
    /// Instance.
    pub instance: Option<Arc<str>>,
}

impl SeriesKey {
    /// The series of `s`.
    pub fn of(s: &MetricSample) -> Self {
        Self {
            device_id: s.device_id.clone(),
            metric: s.metric.clone(),
            instance: s.instance.clone(),
        }
    }
}

// By hand: a borrowed `SeriesRef` must hash the same (see `super::series`).
impl std::hash::Hash for SeriesKey {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        super::series::hash_series(
            self.device_id.as_str(),
            self.metric.as_str(),
            self.instance.as_deref(),
            h,
        );
    }
}

/// An interface: device id and instance.
pub type IfKey = (DeviceId, Arc<str>);

/// The saved form.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Saved {
    /// Format version.
    pub version: u32,
    /// Last observation of each counter series.
    pub counters: Vec<(SeriesKey, Point)>,
    /// Last known speed (bits/s) per (device id, instance).
    pub speeds: Vec<(IfKey, f64)>,
    /// Open rollup minutes.
    pub rollups: Vec<(SeriesKey, Bucket)>,
    /// Input offsets the state includes ("topic/partition" → next offset), on a
    /// partitioned bus: events below them are already in the state (see
    /// [`sotp_bus::checkpoint`]).
    #[serde(default)]
    pub offsets: std::collections::BTreeMap<String, i64>,
    /// What the last polls told about each other (uptime, discontinuity times, memory
    /// parts), for a poll cut by the restart (see [`super::context`]).
    #[serde(default)]
    pub context: super::context::SavedContext,
}

/// The state could not be saved or loaded.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// File system error.
    #[error("operator state file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// Not valid JSON of the expected shape.
    #[error("operator state file {path} is not valid: {source}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The error.
        source: serde_json::Error,
    },
}

/// Writes `saved` to `path` atomically (any operator's state: the counter stage's
/// [`Saved`], the alert windows').
pub fn save<T: Serialize>(path: &Path, saved: &T) -> Result<(), StateError> {
    let io = |source| StateError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let tmp = path.with_extension("json.tmp");
    let bytes = serde_json::to_vec(saved).map_err(|source| StateError::Invalid {
        path: path.to_path_buf(),
        source,
    })?;
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp).map_err(io)?;
        f.write_all(&bytes).map_err(io)?;
        f.sync_all().map_err(io)?;
    }
    std::fs::rename(&tmp, path).map_err(io)
}

/// Reads the state at `path`; `Ok(None)` when there is none yet.
pub fn load<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>, StateError> {
    match std::fs::read(path) {
        Ok(bytes) => {
            serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|source| StateError::Invalid {
                    path: path.to_path_buf(),
                    source,
                })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(StateError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}
