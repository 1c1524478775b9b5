//! Configuration of the ICMP collector (`[icmp]`).

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// `[icmp]`: ICMP echo polling.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IcmpConfig {
    /// Poll devices with ICMP echo at all.
    pub enabled: bool,
    /// Time between two polls of one device, for example "10s".
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// Echo requests per poll (1 to 100).
    pub count: u16,
    /// How long to wait for each reply, for example "1s".
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Pause between two echo requests of one poll, for example "0s" or "100ms".
    #[serde(with = "humantime_serde")]
    pub spacing: Duration,
    /// Bytes of payload in each echo request (0 to 1400).
    pub payload_bytes: usize,
    /// Polls that may run at once.
    pub concurrency: usize,
    /// Receive buffer of the ICMP sockets, bytes. Replies to many concurrent polls arrive
    /// in bursts; a buffer too small drops them (read as loss). Capped by the kernel at
    /// `net.core.rmem_max`.
    pub socket_buffer_bytes: usize,
}

impl Default for IcmpConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            interval: Duration::from_secs(10),
            count: 3,
            timeout: Duration::from_secs(1),
            spacing: Duration::ZERO,
            payload_bytes: 56,
            concurrency: 1000,
            socket_buffer_bytes: 4 * 1024 * 1024,
        }
    }
}

impl IcmpConfig {
    /// Every problem with the values, as (field, reason) pairs.
    pub fn validate(&self) -> Vec<(&'static str, String)> {
        let mut errors = Vec::new();
        if self.interval.is_zero() {
            errors.push(("icmp.interval", "must be greater than 0".to_string()));
        }
        if !(1..=100).contains(&self.count) {
            errors.push((
                "icmp.count",
                format!("must be between 1 and 100, got {}", self.count),
            ));
        }
        if self.timeout.is_zero() {
            errors.push(("icmp.timeout", "must be greater than 0".to_string()));
        }
        let poll_time = (self.timeout + self.spacing) * u32::from(self.count);
        if !self.interval.is_zero() && poll_time > self.interval {
            errors.push((
                "icmp.timeout",
                format!(
                    "count x (timeout + spacing) = {} exceeds the interval {}: polls of unreachable devices would overlap",
                    humantime::format_duration(poll_time),
                    humantime::format_duration(self.interval)
                ),
            ));
        }
        if self.payload_bytes > 1400 {
            errors.push((
                "icmp.payload_bytes",
                format!("must be at most 1400, got {}", self.payload_bytes),
            ));
        }
        if self.concurrency == 0 {
            errors.push(("icmp.concurrency", "must be at least 1".to_string()));
        }
        errors
    }
}
