//! The stage's computation over one batch of raw samples: rates from counters,
//! utilization, `if.oper_up`, `cpu.util_ratio`, `mem.used_ratio`, and rollups.
//!
//! No I/O: [`Stage::process`] takes raw samples and returns derived samples and closed
//! rollup minutes, so the golden tests drive it directly.

use std::collections::{BTreeMap, HashMap};

use std::sync::Arc;

use sotp_schemas::{MetricName, MetricSample, RollupRow};

use super::counter::Point;
use super::rollup::{Bucket, Rollups, minute_of};
use super::sql::{CounterRows, Engine, QueryError, RollupRows};
use super::state::{Saved, SeriesKey, SeriesState};

/// Smallest Ethernet frame on the wire (64 bytes + preamble and gap), bits: the most
/// packets per second an interface can carry is speed / this.
const MIN_FRAME_BITS: f64 = 84.0 * 8.0;

/// Counts of what the stage did, for tests and self-monitoring.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StageStats {
    /// Raw samples read.
    pub raw: u64,
    /// Rates computed.
    pub rates: u64,
    /// Discontinuities reported.
    pub discontinuities: u64,
}

/// The streaming stage's state and logic.
#[derive(Debug, Default)]
pub struct Stage {
    series: SeriesState,
    /// Derived names per raw counter name (rate, utilization), built once.
    names: HashMap<MetricName, (MetricName, Option<MetricName>)>,
    rollups: Rollups,
    engine: Engine,
    newest: i64,
    /// What the stage did so far.
    pub stats: StageStats,
}

fn derived_named(from: &MetricSample, metric: &MetricName, value: f64) -> MetricSample {
    let mut s = from.clone();
    s.metric = metric.clone();
    s.value = value;
    s.counter = None;
    s.labels.remove("counter_width");
    s.labels.remove("ticks");
    s
}

fn derived(from: &MetricSample, metric: &str, value: f64) -> MetricSample {
    derived_named(from, &MetricName::new(metric), value)
}

/// The rate metric and, for octet counters, the utilization metric of a counter.
fn rate_names(metric: &str) -> (MetricName, Option<MetricName>) {
    match metric.strip_suffix("_octets") {
        Some(base) => (
            MetricName::new(format!("{base}_bps")),
            Some(MetricName::new(format!("{base}_util_ratio"))),
        ),
        None => (MetricName::new(format!("{metric}_per_s")), None),
    }
}

fn uptime_ticks(s: &MetricSample) -> u64 {
    s.labels
        .get("ticks")
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| (s.value * 100.0).round() as u64)
}

impl Stage {
    /// A stage restored from saved state.
    pub fn from_saved(saved: Saved) -> Self {
        let mut st = Stage::default();
        st.series.counters = saved.counters.into_iter().collect();
        st.series.speeds = saved.speeds.into_iter().collect();
        st.rollups.open = saved.rollups.into_iter().collect();
        st
    }

    /// The state to save.
    pub fn to_saved(&self) -> Saved {
        Saved {
            version: 1,
            counters: self
                .series
                .counters
                .iter()
                .map(|(k, v)| (k.clone(), *v))
                .collect(),
            speeds: self
                .series
                .speeds
                .iter()
                .map(|(k, v)| (k.clone(), *v))
                .collect(),
            rollups: self
                .rollups
                .open
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            ..Saved::default()
        }
    }

    /// Series with a remembered counter observation.
    pub fn series_count(&self) -> usize {
        self.series.counters.len()
    }

    /// Samples that arrived after their rollup minute closed.
    pub fn late_samples(&self) -> u64 {
        self.rollups.late
    }

    /// Processes one micro-batch of raw samples (one poll or many): the counter deltas
    /// and the rollup groups are computed by DataFusion ([`super::sql`]), the samples
    /// are built here in arrival order. A failed query is logged and its batch yields
    /// nothing (the counters' state still moves on, so the next batch yields rates).
    pub fn process(
        &mut self,
        raw: &[MetricSample],
        out: &mut Vec<MetricSample>,
        rollups: &mut Vec<RollupRow>,
    ) {
        if let Err(e) = self.process_batch(raw, out, rollups) {
            metrics::counter!("sotp_stream_batch_errors_total").increment(1);
            tracing::error!(error = %e, samples = raw.len(), "micro-batch not processed");
        }
    }

    fn process_batch(
        &mut self,
        raw: &[MetricSample],
        out: &mut Vec<MetricSample>,
        rollups: &mut Vec<RollupRow>,
    ) -> Result<(), QueryError> {
        let first_out = out.len();
        self.stats.raw += raw.len() as u64;
        // Context of this batch: uptime per device, discontinuity time per interface,
        // memory parts per (device, instance).
        let mut uptime: HashMap<&str, u64> = HashMap::new();
        let mut disc: HashMap<(&str, &str), u64> = HashMap::new();
        let no_instance: Arc<str> = Arc::from("");
        type MemParts = (Option<f64>, Option<f64>, Option<f64>);
        let mut mem: BTreeMap<(&str, Option<&str>), (MemParts, &MetricSample)> = BTreeMap::new();
        for s in raw {
            self.newest = self.newest.max(s.time.0);
            let dev = s.device_id.as_str();
            let inst = s.instance.as_deref();
            match s.metric.as_str() {
                "sys.uptime_s" => {
                    uptime.insert(dev, uptime_ticks(s));
                }
                "if.speed_bps" if s.value > 0.0 => {
                    if let Some(i) = &s.instance {
                        self.series
                            .speeds
                            .insert((s.device_id.clone(), i.clone()), s.value);
                    }
                }
                "if.counter_discontinuity_ticks" => {
                    if let Some(i) = inst {
                        disc.insert((dev, i), s.value as u64);
                    }
                }
                m @ ("mem.used_bytes" | "mem.total_bytes" | "mem.free_bytes") => {
                    let e = mem.entry((dev, inst)).or_insert(((None, None, None), s));
                    match m {
                        "mem.used_bytes" => e.0.0 = Some(s.value),
                        "mem.total_bytes" => e.0.1 = Some(s.value),
                        _ => e.0.2 = Some(s.value),
                    }
                }
                _ => {}
            }
        }
        // The counters' rows, one series index per (device, metric, instance), and the
        // speed of each observation's interface.
        let mut rows = CounterRows::default();
        let mut index: HashMap<SeriesKey, u32> = HashMap::new();
        let mut last: Vec<Point> = Vec::new();
        let mut speeds: Vec<Option<f64>> = vec![None; raw.len()];
        for (i, s) in raw.iter().enumerate() {
            let Some(value) = s.counter else { continue };
            let dev = s.device_id.as_str();
            let inst = s.instance.as_deref().unwrap_or("");
            let width = match s.labels.get("counter_width").map(String::as_str) {
                Some("32") => 32,
                Some("64") => 64,
                _ if value > u64::from(u32::MAX) => 64,
                _ => 32,
            };
            let point = Point {
                time_ns: s.time.0,
                value,
                width,
                uptime_ticks: uptime.get(dev).copied(),
                discontinuity_ticks: disc.get(&(dev, inst)).copied(),
            };
            let metric = s.metric.as_str();
            let if_key = (
                s.device_id.clone(),
                s.instance.clone().unwrap_or_else(|| no_instance.clone()),
            );
            let speed = self.series.speeds.get(&if_key).copied();
            speeds[i] = speed;
            let max = speed.filter(|_| metric.starts_with("if.")).map(|bps| {
                if metric.ends_with("_octets") {
                    bps / 8.0
                } else {
                    bps / MIN_FRAME_BITS
                }
            });
            let next = index.len() as u32;
            let id = *index.entry(SeriesKey::of(s)).or_insert(next);
            if id == next {
                last.push(point);
            } else {
                last[id as usize] = point;
            }
            rows.push(id, i as i64, &point, max);
        }
        // The state carried from earlier batches: one row per series, before the batch's.
        for (key, &id) in &index {
            if let Some(prev) = self.series.counters.get(key) {
                rows.push(id, -1, prev, None);
            }
        }
        let outcomes = self.engine.deltas(rows, raw.len());
        for (key, id) in index {
            self.series.counters.insert(key, last[id as usize]);
        }
        let outcomes = outcomes?;
        // The derived samples, in arrival order; raw gauges go to the rollups as they are.
        let mut roll = RollupRows::default();
        let mut roll_index: HashMap<SeriesKey, u32> = HashMap::new();
        let mut roll_keys: Vec<(SeriesKey, Arc<str>)> = Vec::new();
        let mut add_roll = |s: &MetricSample, seq: usize| {
            if !s.value.is_finite() {
                return;
            }
            let next = roll_index.len() as u32;
            let key = SeriesKey::of(s);
            let id = *roll_index.entry(key.clone()).or_insert(next);
            if id == next {
                roll_keys.push((key, s.device.clone()));
            }
            roll.push(id, seq as i64, minute_of(s.time.0), s.value);
        };
        for (i, s) in raw.iter().enumerate() {
            if s.counter.is_none() {
                add_roll(s, i);
                self.derive_gauge(s, out);
                continue;
            }
            let metric = s.metric.as_str();
            match outcomes[i] {
                None => {}
                Some(Ok(per_second)) => {
                    self.stats.rates += 1;
                    let (rate, util) = self
                        .names
                        .entry(s.metric.clone())
                        .or_insert_with(|| rate_names(metric));
                    match util {
                        Some(util) => {
                            let bps = per_second * 8.0;
                            out.push(derived_named(s, rate, bps));
                            if let Some(speed) = speeds[i] {
                                out.push(derived_named(s, util, bps / speed));
                            }
                        }
                        None => out.push(derived_named(s, rate, per_second)),
                    }
                }
                Some(Err(reason)) => {
                    self.stats.discontinuities += 1;
                    let mut d = derived(s, "counter.discontinuity", 1.0);
                    d.labels.insert("counter".into(), metric.to_string());
                    d.labels.insert("reason".into(), reason.as_str().into());
                    out.push(d);
                }
            }
        }
        for ((used, total, free), s) in mem.values() {
            let total = total.or_else(|| Some((*used)? + (*free)?));
            if let (Some(u), Some(t)) = (used, total)
                && t > 0.0
            {
                let mut d = derived(s, "mem.used_ratio", u / t);
                d.labels.clear();
                out.push(d);
            }
        }
        for (j, d) in out[first_out..].iter().enumerate() {
            add_roll(d, raw.len() + j);
        }
        for g in self.engine.groups(roll)? {
            let (key, device) = &roll_keys[g.series as usize];
            let part = Bucket {
                minute: g.minute,
                device: device.clone(),
                min: g.min,
                max: g.max,
                sum: g.sum,
                count: g.count,
            };
            self.rollups.merge(key, part, rollups);
        }
        Ok(())
    }

    fn derive_gauge(&self, s: &MetricSample, out: &mut Vec<MetricSample>) {
        match s.metric.as_str() {
            "if.oper_status" => out.push(derived(
                s,
                "if.oper_up",
                if s.value == 1.0 { 1.0 } else { 0.0 },
            )),
            "cpu.load_pct" => out.push(derived(s, "cpu.util_ratio", s.value / 100.0)),
            "mem.used_pct" => out.push(derived(s, "mem.used_ratio", s.value / 100.0)),
            _ => {}
        }
    }

    /// Closes rollup minutes of series that stopped reporting `idle_close_ns` ago
    /// (measured on the newest sample time seen).
    pub fn close_idle(&mut self, idle_close_ns: i64, rollups: &mut Vec<RollupRow>) {
        self.rollups.close_idle(self.newest, idle_close_ns, rollups);
    }
}
