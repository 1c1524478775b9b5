//! 1-minute rollups: min, avg, max and count per series and minute.
//!
//! A series' minute closes when a sample of a later minute arrives for it, or when the
//! stream's newest time is `idle_close` past the minute's end (a series that stopped).
//! Open minutes are part of the persisted state, so a restart neither loses nor
//! doubles a minute. A sample for a minute that already closed is counted as late and
//! left out of the rollups.

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sotp_schemas::{MetricSample, RollupRow, UtcNanos};

use super::state::SeriesKey;

const MINUTE_NS: i64 = 60_000_000_000;

/// The open minute of one series.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Bucket {
    /// Minute start, ns.
    pub minute: i64,
    /// Device display name.
    pub device: Arc<str>,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// Sum of values.
    pub sum: f64,
    /// Number of values.
    pub count: u64,
}

/// Open minutes of every series.
#[derive(Debug, Default)]
pub struct Rollups {
    /// By series.
    pub open: HashMap<SeriesKey, Bucket>,
    /// Samples that came after their minute closed.
    pub late: u64,
}

fn close(key: &SeriesKey, b: &Bucket) -> RollupRow {
    RollupRow {
        time: UtcNanos(b.minute),
        device_id: key.device_id.clone(),
        device: b.device.clone(),
        metric: key.metric.clone(),
        instance: key.instance.clone(),
        min: b.min,
        avg: b.sum / b.count as f64,
        max: b.max,
        count: b.count,
    }
}

/// The start of the minute holding `t`.
pub fn minute_of(t: i64) -> i64 {
    t.div_euclid(MINUTE_NS) * MINUTE_NS
}

impl Rollups {
    /// Adds one sample; pushes to `out` the minute it closes, if any.
    pub fn add(&mut self, s: &MetricSample, out: &mut Vec<RollupRow>) {
        if !s.value.is_finite() {
            return;
        }
        let part = Bucket {
            minute: minute_of(s.time.0),
            device: s.device.clone(),
            min: s.value,
            max: s.value,
            sum: s.value,
            count: 1,
        };
        self.merge(&SeriesKey::of(s), part, out);
    }

    /// Merges the values of one series in one minute (a group of a micro-batch) into
    /// the series' open minute; pushes to `out` the minute it closes, if any. A group
    /// older than the open minute is late: counted, left out.
    pub fn merge(&mut self, key: &SeriesKey, part: Bucket, out: &mut Vec<RollupRow>) {
        match self.open.get_mut(key) {
            None => {
                self.open.insert(key.clone(), part);
            }
            Some(b) if b.minute == part.minute => {
                b.min = b.min.min(part.min);
                b.max = b.max.max(part.max);
                b.sum += part.sum;
                b.count += part.count;
            }
            Some(b) if part.minute > b.minute => {
                out.push(close(key, b));
                *b = part;
            }
            Some(_) => self.late += part.count,
        }
    }

    /// Closes every minute that ended more than `idle_close_ns` before `now`.
    pub fn close_idle(&mut self, now: i64, idle_close_ns: i64, out: &mut Vec<RollupRow>) {
        let mut closed: Vec<(SeriesKey, RollupRow)> = Vec::new();
        self.open.retain(|key, b| {
            let idle = b.minute + MINUTE_NS + idle_close_ns <= now;
            if idle {
                closed.push((key.clone(), close(key, b)));
            }
            !idle
        });
        // A stable order (series, then minute) whatever the map's order.
        closed.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.time.0.cmp(&b.1.time.0)));
        out.extend(closed.into_iter().map(|(_, r)| r));
    }
}
