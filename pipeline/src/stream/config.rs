//! Configuration of the streaming stage (`[stream]`).

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// `[stream]`: rates, utilization and rollups from `metrics.raw`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StreamConfig {
    /// Run the streaming stage.
    pub enabled: bool,
    /// How often the per-series state is saved to disk (it is also saved at a clean stop).
    #[serde(with = "humantime_serde")]
    pub state_save_interval: Duration,
    /// A series' rollup minute closes at the latest this long after the minute ended,
    /// when the series stopped reporting.
    #[serde(with = "humantime_serde")]
    pub idle_close: Duration,
}

impl Default for StreamConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            state_save_interval: Duration::from_secs(10),
            idle_close: Duration::from_secs(300),
        }
    }
}

impl StreamConfig {
    /// Every problem with the values, as (field, reason) pairs.
    pub fn validate(&self) -> Vec<(&'static str, String)> {
        let mut e = Vec::new();
        if self.state_save_interval.is_zero() {
            e.push((
                "stream.state_save_interval",
                "must be greater than 0".into(),
            ));
        }
        if self.idle_close.is_zero() {
            e.push(("stream.idle_close", "must be greater than 0".into()));
        }
        e
    }
}
