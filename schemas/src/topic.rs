//! The named topics of ARCHITECTURE.md. Their full names carry a configurable prefix.

use std::fmt;

/// A topic on the bus (in-process or Kafka).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Topic {
    /// Samples as collected (`metrics.raw`), keyed by device id.
    MetricsRaw,
    /// Derived samples: rates, utilization (`metrics`).
    Metrics,
    /// Closed 1-minute rollups of every series (`metrics.1m`), written to `metrics_1m`.
    Rollups,
    /// Syslog records (`logs`).
    Logs,
    /// SSH command runs (`commands`).
    Commands,
    /// Alert state transitions (`alerts`).
    Alerts,
    /// Device upserts and deletions (`inventory`, compacted).
    Inventory,
}

impl Topic {
    /// Every topic, in a fixed order.
    pub const ALL: [Topic; 7] = [
        Topic::MetricsRaw,
        Topic::Metrics,
        Topic::Rollups,
        Topic::Logs,
        Topic::Commands,
        Topic::Alerts,
        Topic::Inventory,
    ];

    /// The topic name without prefix, as in ARCHITECTURE.md.
    pub fn name(self) -> &'static str {
        match self {
            Topic::MetricsRaw => "metrics.raw",
            Topic::Metrics => "metrics",
            Topic::Rollups => "metrics.1m",
            Topic::Logs => "logs",
            Topic::Commands => "commands",
            Topic::Alerts => "alerts",
            Topic::Inventory => "inventory",
        }
    }

    /// The full name with the configured prefix, for example `sotp.metrics.raw`.
    pub fn full_name(self, prefix: &str) -> String {
        format!("{prefix}{}", self.name())
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
