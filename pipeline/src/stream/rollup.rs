//! 1-minute rollups: min, avg, max and count per series and minute.
//!
//! A series' minute closes when a sample of a later minute arrives for it, or when the
//! stream's newest time is `idle_close` past the minute's end (a series that stopped).
//! Open minutes are part of the persisted state, so a restart neither loses nor
//! doubles a minute. A sample for a minute that already closed is counted as late and
//! left out of the rollups.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sotp_schemas::{RollupRow, UtcNanos};

use super::series::{Interner, SeriesRef};
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

/// Open minutes of every series, by interned series id.
#[derive(Debug, Default)]
pub struct Rollups {
    series: Interner<SeriesKey>,
    /// By series id.
    open: Vec<Option<Bucket>>,
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
    /// The id of a series (interned on first sight).
    pub(super) fn id(&mut self, series: SeriesRef<'_>) -> u32 {
        let (id, new) = self.series.intern(series);
        if new {
            self.open.push(None);
        }
        id
    }

    /// Restores a saved open minute.
    pub(super) fn restore(&mut self, key: SeriesKey, b: Bucket) {
        let (id, new) = self.series.intern_owned(key);
        if new {
            self.open.push(None);
        }
        self.open[id as usize] = Some(b);
    }

    /// Every open minute with its series.
    pub(super) fn open(&self) -> impl Iterator<Item = (&SeriesKey, &Bucket)> {
        self.series
            .iter()
            .filter_map(|(id, k)| self.open[id as usize].as_ref().map(|b| (k, b)))
    }

    /// Merges the values of series `id` in one minute (a group of a micro-batch) into
    /// the series' open minute; pushes to `out` the minute it closes, if any. A group
    /// older than the open minute is late: counted, left out.
    pub(super) fn merge(&mut self, id: u32, part: Bucket, out: &mut Vec<RollupRow>) {
        match &mut self.open[id as usize] {
            slot @ None => *slot = Some(part),
            Some(b) if b.minute == part.minute => {
                b.min = b.min.min(part.min);
                b.max = b.max.max(part.max);
                b.sum += part.sum;
                b.count += part.count;
            }
            Some(b) if part.minute > b.minute => {
                out.push(close(self.series.key(id), b));
                *b = part;
            }
            Some(_) => self.late += part.count,
        }
    }

    /// Closes every minute that ended more than `idle_close_ns` before `now`.
    pub fn close_idle(&mut self, now: i64, idle_close_ns: i64, out: &mut Vec<RollupRow>) {
        let mut closed: Vec<(&SeriesKey, RollupRow)> = Vec::new();
        for (id, key) in self.series.iter() {
            let slot = &mut self.open[id as usize];
            if let Some(b) = slot
                && b.minute + MINUTE_NS + idle_close_ns <= now
            {
                closed.push((key, close(key, b)));
                *slot = None;
            }
        }
        // A stable order (series, then minute) whatever the ids' order.
        closed.sort_by(|a, b| a.0.cmp(b.0).then(a.1.time.0.cmp(&b.1.time.0)));
        out.extend(closed.into_iter().map(|(_, r)| r));
    }
}
