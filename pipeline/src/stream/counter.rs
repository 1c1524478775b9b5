//! Counter arithmetic: exact u64 deltas, wrap versus reset, plausibility.
//!
//! Pure functions, no I/O. A decrease is a wrap only when the counter is 32 bits wide,
//! the device did not restart (sysUpTime went on increasing by about the elapsed
//! time) and the wrapped delta is plausible for the interface; anything else is a
//! discontinuity and yields no rate.

use serde::{Deserialize, Serialize};

/// One observation of a counter, with what is known about its device at that moment.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// Sample time, ns since the epoch.
    pub time_ns: i64,
    /// The raw counter.
    pub value: u64,
    /// 32 or 64.
    pub width: u8,
    /// sysUpTime in TimeTicks at the same poll, when known.
    pub uptime_ticks: Option<u64>,
    /// ifCounterDiscontinuityTime at the same poll, when known.
    pub discontinuity_ticks: Option<u64>,
}

/// Why no rate could be computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// sysUpTime went back or grew less than the elapsed time: the device restarted.
    Reboot,
    /// ifCounterDiscontinuityTime changed.
    DiscontinuityTime,
    /// The counter went down and could not have wrapped (64 bits, or no sysUpTime).
    Reset,
    /// The counter changed width (32 to 64 bits or back).
    WidthChanged,
    /// The delta means a rate above what the interface can carry.
    Implausible,
    /// The sample is not newer than the previous one.
    NotNewer,
}

impl Reason {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Reboot => "reboot",
            Reason::DiscontinuityTime => "discontinuity_time",
            Reason::Reset => "counter_reset",
            Reason::WidthChanged => "width_changed",
            Reason::Implausible => "implausible",
            Reason::NotNewer => "not_newer",
        }
    }
}

/// The outcome of comparing two observations.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Delta {
    /// A rate.
    Rate {
        /// Exact increase (wraps included).
        delta: u64,
        /// Elapsed seconds.
        seconds: f64,
        /// delta / seconds.
        per_second: f64,
        /// The counter wrapped once.
        wrapped: bool,
    },
    /// No rate.
    Discontinuity(Reason),
}

/// Slack on sysUpTime against wall time, seconds (polls take time, clocks drift).
const UPTIME_SLACK_S: f64 = 5.0;
/// Slack on the plausibility bound (speeds are rounded, timing jitters).
const RATE_SLACK: f64 = 1.10;

fn rebooted(prev: &Point, cur: &Point, seconds: f64) -> Option<bool> {
    let (p, c) = (prev.uptime_ticks?, cur.uptime_ticks?);
    let elapsed_ticks = seconds * 100.0;
    if c < p {
        // sysUpTime is a TimeTicks (32 bits): it wraps after 497 days. A wrap lands where
        // prev + elapsed lands modulo 2^32.
        let expected = ((p as f64 + elapsed_ticks) % 4_294_967_296.0) as u64;
        let wrapped_ok = p as f64 + elapsed_ticks >= 4_294_967_296.0
            && expected.abs_diff(c) as f64 <= UPTIME_SLACK_S * 100.0 + elapsed_ticks * 0.05;
        return Some(!wrapped_ok);
    }
    // Restarted and up again for longer than the previous uptime: uptime grew less than
    // the elapsed time.
    Some((c as f64) / 100.0 + UPTIME_SLACK_S < seconds)
}

/// Compares two observations of one counter. `max_per_second` is the most the counter
/// can grow per second (for example interface speed / 8 for octets), when known.
pub fn counter_delta(prev: &Point, cur: &Point, max_per_second: Option<f64>) -> Delta {
    if cur.time_ns <= prev.time_ns {
        return Delta::Discontinuity(Reason::NotNewer);
    }
    let seconds = (cur.time_ns - prev.time_ns) as f64 / 1e9;
    if cur.width != prev.width {
        return Delta::Discontinuity(Reason::WidthChanged);
    }
    if let (Some(a), Some(b)) = (prev.discontinuity_ticks, cur.discontinuity_ticks)
        && a != b
    {
        return Delta::Discontinuity(Reason::DiscontinuityTime);
    }
    let reboot = rebooted(prev, cur, seconds);
    if reboot == Some(true) {
        return Delta::Discontinuity(Reason::Reboot);
    }
    let (delta, wrapped) = if cur.value >= prev.value {
        (cur.value - prev.value, false)
    } else if cur.width == 32 && reboot == Some(false) && prev.value <= u64::from(u32::MAX) {
        ((1u64 << 32) - prev.value + cur.value, true)
    } else {
        return Delta::Discontinuity(Reason::Reset);
    };
    let mut per_second = delta as f64 / seconds;
    match max_per_second {
        Some(max) if per_second > max * RATE_SLACK => {
            return Delta::Discontinuity(Reason::Implausible);
        }
        // Within the slack (poll timing jitter): report at most the line rate.
        Some(max) if per_second > max => per_second = max,
        // Without a speed, a wrap must at least be less than half the counter's range.
        None if wrapped && delta >= 1u64 << 31 => {
            return Delta::Discontinuity(Reason::Implausible);
        }
        _ => {}
    }
    Delta::Rate {
        delta,
        seconds,
        per_second,
        wrapped,
    }
}

#[cfg(test)]
mod tests;
