//! Collectors: they poll or receive data from network devices and publish events.
//!
//! Each collector implements [`Poller`]; the shared [`scheduler`] spreads polls over
//! the interval, limits concurrency, times every poll and publishes `poll.duration_ms`
//! and `poll.ok` beside the collector's own samples on `metrics.raw`.

pub mod icmp;
pub mod scheduler;
pub mod snmp;
pub mod syslog;

pub use scheduler::{DeviceFeed, PollResult, Poller, SchedulerConfig, run_scheduler};

/// Metric names shared by every collector.
pub mod names {
    /// Wall time of one poll, in milliseconds. `instance` is the collector name.
    pub const POLL_DURATION_MS: &str = "poll.duration_ms";
    /// 1 when the poll reached the device and got data, else 0. `instance` is the collector.
    pub const POLL_OK: &str = "poll.ok";
}
