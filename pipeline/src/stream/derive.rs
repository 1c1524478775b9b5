//! The stage's computation over one batch of raw samples: rates from counters,
//! utilization, `if.oper_up`, `cpu.util_ratio`, `mem.used_ratio`, and rollups.
//!
//! No I/O: [`Stage::process`] takes raw samples and returns derived samples and closed
//! rollup minutes, so the golden tests drive it directly.

use std::sync::LazyLock;

use hashbrown::HashMap;

use sotp_schemas::{MetricName, MetricSample, RollupRow};

use super::context::Context;
use super::counter::Point;
use super::rollup::{Bucket, Rollups, minute_of};
use super::series::{IfRef, Interner, SeriesRef};
use super::sql::{CounterRows, Engine, QueryError, RollupRows};
use super::state::{IfKey, Saved, SeriesKey};

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
    counter_ids: Interner<SeriesKey>,
    /// By counter series id.
    counters: Vec<Counter>,
    /// Interfaces (device id, instance or "") by id.
    ifaces: Interner<IfKey>,
    /// Last known speed (bits/s) by interface id.
    speeds: Vec<Option<f64>>,
    rollups: Rollups,
    /// What polls' samples tell about each other, across batches.
    context: Context,
    engine: Engine,
    newest: i64,
    /// Micro-batches processed: tells a series' first row in the current batch.
    batches: u64,
    /// What the stage did so far.
    pub stats: StageStats,
}

/// What the stage keeps per counter series.
#[derive(Debug)]
struct Counter {
    /// The last observation.
    last: Option<Point>,
    /// Its interface's id in `Stage::ifaces`.
    iface: u32,
    /// The most it can grow per second is the interface speed divided by this, for
    /// interface counters (octets: bits per octet; packets: bits of the smallest frame).
    per_speed: Option<f64>,
    /// The rate's metric and, for octet counters, the utilization's.
    rate: MetricName,
    util: Option<MetricName>,
    /// The metric of its discontinuities (`<counter>.discontinuity`).
    disc: MetricName,
    /// Rollup series ids of the rate and the utilization, once used.
    rate_roll: Option<u32>,
    util_roll: Option<u32>,
    /// The last micro-batch (`Stage::batches`) that had an observation of it.
    batch: u64,
}

/// A sample derived from `from` (same device, instance, labels and time) named `metric`:
/// not a counter, without the raw-only labels.
fn derived_named(from: &MetricSample, metric: &MetricName, value: f64) -> MetricSample {
    MetricSample {
        time: from.time,
        device_id: from.device_id.clone(),
        device: from.device.clone(),
        metric: metric.clone(),
        instance: from.instance.clone(),
        value,
        counter: None,
        labels: from
            .labels
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "counter_width" | "ticks"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        collector: from.collector.clone(),
    }
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

/// The derived samples of a batch and the rows they add to the rollups.
struct Outputs<'a> {
    out: &'a mut Vec<MetricSample>,
    first_out: usize,
    raw_len: usize,
    roll: RollupRows,
}

impl Outputs<'_> {
    /// Pushes a derived sample rolled up as series `roll_id`.
    fn push(&mut self, roll_id: u32, d: MetricSample) {
        if d.value.is_finite() {
            let seq = self.raw_len + self.out.len() - self.first_out;
            self.roll
                .push(roll_id, seq as i64, minute_of(d.time.0), d.value);
        }
        self.out.push(d);
    }
}

impl Stage {
    /// A stage restored from saved state.
    pub fn from_saved(saved: Saved) -> Self {
        let mut st = Stage::default();
        for (key, point) in saved.counters {
            let (id, new) = st.counter_ids.intern_owned(key);
            if new {
                let key = st.counter_ids.key(id).clone();
                let c = st.new_counter(
                    key.device_id.as_str(),
                    key.metric.as_str(),
                    key.instance.as_deref(),
                );
                st.counters.push(c);
            }
            st.counters[id as usize].last = Some(point);
        }
        for ((dev, inst), speed) in saved.speeds {
            let id = st.iface_id(IfRef(dev.as_str(), &inst));
            st.speeds[id as usize] = Some(speed);
        }
        for (key, bucket) in saved.rollups {
            st.rollups.restore(key, bucket);
        }
        st.context = Context::from_saved(saved.context);
        st
    }

    /// The state to save.
    pub fn to_saved(&self) -> Saved {
        Saved {
            version: 1,
            counters: self
                .counter_ids
                .iter()
                .filter_map(|(id, k)| Some((k.clone(), self.counters[id as usize].last?)))
                .collect(),
            speeds: self
                .ifaces
                .iter()
                .filter_map(|(id, k)| Some((k.clone(), self.speeds[id as usize]?)))
                .collect(),
            rollups: self
                .rollups
                .open()
                .map(|(k, b)| (k.clone(), b.clone()))
                .collect(),
            context: self.context.to_saved(),
            ..Saved::default()
        }
    }

    /// Series with a remembered counter observation.
    pub fn series_count(&self) -> usize {
        self.counters.iter().filter(|c| c.last.is_some()).count()
    }

    /// Samples that arrived after their rollup minute closed.
    pub fn late_samples(&self) -> u64 {
        self.rollups.late
    }

    fn iface_id(&mut self, key: IfRef<'_>) -> u32 {
        let (id, new) = self.ifaces.intern(key);
        if new {
            self.speeds.push(None);
        }
        id
    }

    fn new_counter(&mut self, dev: &str, metric: &str, instance: Option<&str>) -> Counter {
        let iface = self.iface_id(IfRef(dev, instance.unwrap_or("")));
        let (rate, util) = rate_names(metric);
        let per_speed = metric.starts_with("if.").then(|| {
            if metric.ends_with("_octets") {
                8.0
            } else {
                MIN_FRAME_BITS
            }
        });
        Counter {
            last: None,
            iface,
            per_speed,
            rate,
            util,
            disc: MetricName::new(format!("{metric}.discontinuity")),
            rate_roll: None,
            util_roll: None,
            batch: 0,
        }
    }

    fn counter_id(&mut self, s: &MetricSample) -> u32 {
        let (id, new) = self.counter_ids.intern(SeriesRef::of(s));
        if new {
            let c = self.new_counter(
                s.device_id.as_str(),
                s.metric.as_str(),
                s.instance.as_deref(),
            );
            self.counters.push(c);
        }
        id
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
        self.stats.raw += raw.len() as u64;
        self.batches += 1;
        // Context of this batch: uptime per (device, poll time), discontinuity time per
        // (interface, poll time); with what earlier batches saw of the same polls
        // (`Context`), so a poll split between batches reads the same.
        let mut uptime: HashMap<(&str, i64), u64> = HashMap::new();
        let mut disc: HashMap<(&str, &str, i64), u64> = HashMap::new();
        let mut mem_keys = Vec::new();
        let mut mem_done = Vec::new();
        for s in raw {
            self.newest = self.newest.max(s.time.0);
            let dev = s.device_id.as_str();
            let inst = s.instance.as_deref();
            match s.metric.as_str() {
                "sys.uptime_s" => {
                    let ticks = uptime_ticks(s);
                    uptime.insert((dev, s.time.0), ticks);
                }
                "if.speed_bps" if s.value > 0.0 => {
                    if let Some(i) = inst {
                        let id = self.iface_id(IfRef(dev, i));
                        self.speeds[id as usize] = Some(s.value);
                    }
                }
                "if.counter_discontinuity_ticks" => {
                    if let Some(i) = inst {
                        disc.insert((dev, i, s.time.0), s.value as u64);
                    }
                }
                "mem.used_bytes" | "mem.total_bytes" | "mem.free_bytes" => {
                    let key = self.context.mem_part(s, &mut mem_done);
                    if !mem_keys.contains(&key) {
                        mem_keys.push(key);
                    }
                }
                _ => {}
            }
        }
        // The counters' rows, by series id: each series' last observation of earlier
        // batches (`seq = -1`) before its observations in this one.
        let mut rows = CounterRows::with_capacity(raw.len());
        let mut ids: Vec<u32> = vec![u32::MAX; raw.len()];
        for (i, s) in raw.iter().enumerate() {
            let Some(value) = s.counter else { continue };
            let dev = s.device_id.as_str();
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
                uptime_ticks: uptime
                    .get(&(dev, s.time.0))
                    .copied()
                    .or_else(|| self.context.uptime(s)),
                discontinuity_ticks: disc
                    .get(&(dev, s.instance.as_deref().unwrap_or(""), s.time.0))
                    .copied()
                    .or_else(|| self.context.disc(s)),
            };
            let id = self.counter_id(s);
            ids[i] = id;
            let c = &mut self.counters[id as usize];
            if c.batch != self.batches {
                c.batch = self.batches;
                if let Some(prev) = &c.last {
                    rows.push(id, -1, prev, None);
                }
            }
            let max = c
                .per_speed
                .zip(self.speeds[c.iface as usize])
                .map(|(per, bps)| bps / per);
            rows.push(id, i as i64, &point, max);
            c.last = Some(point);
        }
        // Then what this batch saw becomes the context of the next ones (not before: a
        // batch may hold the next poll's uptime after this poll's counters).
        for s in raw {
            match (s.metric.as_str(), &s.instance) {
                ("sys.uptime_s", _) => self.context.uptime_seen(s, uptime_ticks(s)),
                ("if.counter_discontinuity_ticks", Some(inst)) => {
                    self.context.disc_seen(s, inst, s.value as u64)
                }
                _ => {}
            }
        }
        let outcomes = self.engine.deltas(rows, raw.len())?;
        // The derived samples, in arrival order; raw gauges go to the rollups as they are.
        let mut o = Outputs {
            first_out: out.len(),
            out,
            raw_len: raw.len(),
            roll: RollupRows::with_capacity(raw.len() * 2),
        };
        for (i, s) in raw.iter().enumerate() {
            if s.counter.is_none() {
                if s.value.is_finite() {
                    let id = self.rollups.id(SeriesRef::of(s));
                    o.roll.push(id, i as i64, minute_of(s.time.0), s.value);
                }
                if let Some(d) = derive_gauge(s) {
                    let id = self.rollups.id(SeriesRef::of(&d));
                    o.push(id, d);
                }
                continue;
            }
            let c = &mut self.counters[ids[i] as usize];
            match outcomes[i] {
                None => {}
                Some(Ok(per_second)) => {
                    self.stats.rates += 1;
                    let rate_roll = *c.rate_roll.get_or_insert_with(|| {
                        self.rollups.id(SeriesRef::named(s, c.rate.as_str()))
                    });
                    match &c.util {
                        Some(util) => {
                            let bps = per_second * 8.0;
                            o.push(rate_roll, derived_named(s, &c.rate, bps));
                            if let Some(speed) = self.speeds[c.iface as usize] {
                                let util_roll = *c.util_roll.get_or_insert_with(|| {
                                    self.rollups.id(SeriesRef::named(s, util.as_str()))
                                });
                                o.push(util_roll, derived_named(s, util, bps / speed));
                            }
                        }
                        None => o.push(rate_roll, derived_named(s, &c.rate, per_second)),
                    }
                }
                Some(Err(reason)) => {
                    self.stats.discontinuities += 1;
                    let mut d = derived_named(s, &c.disc, 1.0);
                    d.labels.insert("counter".into(), s.metric.to_string());
                    d.labels.insert("reason".into(), reason.as_str().into());
                    let id = self.rollups.id(SeriesRef::of(&d));
                    o.push(id, d);
                }
            }
        }
        // In (device, instance) order, as before the context was carried.
        mem_keys.sort();
        let now: Vec<_> = mem_keys
            .iter()
            .filter_map(|k| self.context.mem_ratio(k))
            .collect();
        for (s, ratio) in mem_done.into_iter().chain(now) {
            let mut d = derived_named(&s, &MEM_USED, ratio);
            d.labels.clear();
            let id = self.rollups.id(SeriesRef::of(&d));
            o.push(id, d);
        }
        let Outputs {
            out,
            first_out,
            roll,
            ..
        } = o;
        for g in self.engine.groups(roll)? {
            let first = g.first as usize;
            let device = match first.checked_sub(raw.len()) {
                None => raw[first].device.clone(),
                Some(j) => out[first_out + j].device.clone(),
            };
            let part = Bucket {
                minute: g.minute,
                device,
                min: g.min,
                max: g.max,
                sum: g.sum,
                count: g.count,
            };
            self.rollups.merge(g.series, part, rollups);
        }
        Ok(())
    }

    /// Closes rollup minutes of series that stopped reporting `idle_close_ns` ago
    /// (measured on the newest sample time seen).
    pub fn close_idle(&mut self, idle_close_ns: i64, rollups: &mut Vec<RollupRow>) {
        self.rollups.close_idle(self.newest, idle_close_ns, rollups);
    }
}

// Names of derived gauges, built once (`if.oper_up` comes with every interface poll).
static OPER_UP: LazyLock<MetricName> = LazyLock::new(|| MetricName::new("if.oper_up"));
static CPU_UTIL: LazyLock<MetricName> = LazyLock::new(|| MetricName::new("cpu.util_ratio"));
static MEM_USED: LazyLock<MetricName> = LazyLock::new(|| MetricName::new("mem.used_ratio"));

/// The sample a raw gauge yields, if any.
fn derive_gauge(s: &MetricSample) -> Option<MetricSample> {
    Some(match s.metric.as_str() {
        "if.oper_status" => derived_named(s, &OPER_UP, if s.value == 1.0 { 1.0 } else { 0.0 }),
        "cpu.load_pct" => derived_named(s, &CPU_UTIL, s.value / 100.0),
        "mem.used_pct" => derived_named(s, &MEM_USED, s.value / 100.0),
        _ => return None,
    })
}
