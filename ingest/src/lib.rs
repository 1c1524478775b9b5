//! Collectors: they poll or receive data from network devices and publish events.
//!
//! Every collector implements [`Collector`] (started the same way by the binary's
//! registry). The pollers implement [`Poller`]; the shared [`scheduler`] spreads polls
//! over the interval, limits concurrency, times every poll and publishes
//! `poll.duration_ms` and `poll.ok` beside the collector's own samples on `metrics.raw`.
//! Nothing here builds DataFusion, Arrow tables or Kafka: collectors only know the bus
//! trait (`sotp-bus`).

pub mod collector;
pub mod icmp;
pub mod scheduler;
pub mod snmp;
pub mod ssh;
pub mod syslog;

pub use collector::{Collector, Context, Icmp, Polling, Snmp, StartError, Syslog};
pub use scheduler::{DeviceFeed, PollResult, Poller, SchedulerConfig, run_scheduler};

/// Metric names shared by every collector.
pub mod names {
    /// Wall time of one poll, in milliseconds. `instance` is the collector name.
    pub const POLL_DURATION_MS: &str = "poll.duration_ms";
    /// 1 when the poll reached the device and got data, else 0. `instance` is the collector.
    pub const POLL_OK: &str = "poll.ok";
    /// 1 when a failed poll still published what it read before the failure (a walk cut
    /// by a timeout or the poll's deadline); absent otherwise. `instance` is the collector.
    pub const POLL_PARTIAL: &str = "poll.partial";
}
