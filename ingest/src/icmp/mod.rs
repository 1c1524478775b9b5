//! ICMP echo collector (surge-ping): round-trip time, jitter, loss and reachability.
//!
//! Per poll it sends `count` echo requests one after the other, each waiting up to
//! `timeout` for its reply, and publishes `icmp.rtt_ms` (mean), `icmp.rtt_min_ms`,
//! `icmp.rtt_max_ms`, `icmp.jitter_ms` (with two replies or more), `icmp.loss_ratio` and
//! `icmp.up`. IPv4 and IPv6 each use one shared socket: an unprivileged ICMP datagram
//! socket when the system allows it, else a raw socket.

mod config;
mod poller;
mod stats;

pub use config::IcmpConfig;
pub use poller::{IcmpError, IcmpPoller};
pub use stats::EchoStats;

/// Metric names of this collector.
pub mod names {
    /// Mean round-trip time of the replies, ms.
    pub const RTT_MS: &str = "icmp.rtt_ms";
    /// Smallest round-trip time, ms.
    pub const RTT_MIN_MS: &str = "icmp.rtt_min_ms";
    /// Largest round-trip time, ms.
    pub const RTT_MAX_MS: &str = "icmp.rtt_max_ms";
    /// Mean absolute difference of consecutive round-trip times, ms.
    pub const JITTER_MS: &str = "icmp.jitter_ms";
    /// Share of echo requests without reply, 0..1.
    pub const LOSS_RATIO: &str = "icmp.loss_ratio";
    /// 1 when any reply came back, else 0.
    pub const UP: &str = "icmp.up";
}
