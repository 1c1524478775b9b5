//! The alert windows: an operator of the streaming stage that buffers `metrics.raw`,
//! `metrics`, `metrics.1m` and `logs` by event time, follows `inventory` for the
//! `devices` table, and evaluates every rule on each of its windows once the watermark
//! (the newest event time less the allowed lateness) passes the window's end.
//!
//! - Late events: one that arrives within the allowed lateness is counted in its window;
//!   one older than a window already evaluated is counted (`sotp_alert_late_events_total`,
//!   and in the log) and dropped from evaluation, never silently.
//! - A rule whose SQL fails at run time raises one `sotp.rule_health` alert for that rule
//!   (not one per instance) and the other rules go on.
//! - No data at all for `idle_timeout` (a collector or stage outage) raises one
//!   `sotp.no_data` alert; the rules' instances are held as they were, and when data
//!   resumes evaluation restarts at the window of the first new event, so an outage
//!   resolves nothing and fires nothing for every device.
//! - Rules managed through the API arrive on a watch channel ([`AlertWindows::with_rule_feed`])
//!   and replace the previous set at the next batch or tick ([`AlertWindows::set_api_rules`]).
//! - The state (instances, buffered events, window positions, devices) is saved with the
//!   input offsets it includes by the operator runner: a restart re-fires nothing and
//!   misses nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sotp_bus::checkpoint::InputOffsets;
use sotp_pipeline::operator::{Emit, Operator};
use sotp_pipeline::stream::state;
use sotp_schemas::{
    AlertEvent, DeviceId, EventBatch, LogRecord, MetricSample, RollupRow, Topic, UtcNanos,
    logs_to_batch,
};
use tokio::sync::watch;

use crate::eval::{Evaluator, Hit, WindowTables, devices_batch};
use crate::lifecycle::{FlapConfig, Instance, Transition, fingerprint};
use crate::rule::{Op, RuleConfig, Shared, render};

/// `[alerting]`: how windows close and when an instance is flapping.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertingConfig {
    /// An event this much older than the newest one is still counted in its window.
    #[serde(with = "humantime_serde")]
    pub allowed_lateness: Duration,
    /// No event at all for this long: one `sotp.no_data` alert.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// State changes within `flap_window` that make an instance flapping (0: never).
    pub flap_changes: usize,
    /// See `flap_changes`; also how long a flapping instance must be stable to settle.
    #[serde(with = "humantime_serde")]
    pub flap_window: Duration,
    /// An availability or absence rule that finds every active device (at least this
    /// many) raises one alert about the outage (label `scope = "every device"`, value:
    /// the number of devices), not one per device: a collector that lost its network or
    /// its agent does not flood. 0: never.
    pub outage_min_devices: usize,
}

impl Default for AlertingConfig {
    fn default() -> Self {
        Self {
            allowed_lateness: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(120),
            flap_changes: 6,
            flap_window: Duration::from_secs(600),
            outage_min_devices: 3,
        }
    }
}

/// The rule that reports rules failing at run time.
pub const RULE_HEALTH: &str = "sotp.rule_health";
/// The rule that reports that no data reaches the alert windows.
pub const NO_DATA: &str = "sotp.no_data";

/// Most windows one rule evaluates in one advance; beyond, it skips ahead (logged).
const MAX_CATCH_UP: usize = 10_000;

fn ns(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// The end of the first window of `every` that includes `t` (windows are `(end - range, end]`).
fn window_end(t: i64, every: i64) -> i64 {
    (t.div_euclid(every) + i64::from(t.rem_euclid(every) != 0)) * every
}

#[derive(Debug)]
struct Rule {
    config: RuleConfig,
    sql: String,
    /// Hysteresis: the SQL that keeps a firing instance firing.
    hold: Option<String>,
    next_end: Option<i64>,
    instances: BTreeMap<String, Instance>,
    /// Managed through the API (`POST /api/v1/alert-rules`), not the configuration.
    api: bool,
}

impl Rule {
    /// Its SQL and its hold SQL.
    fn sqls(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.sql.as_str()).chain(self.hold.as_deref())
    }
}

/// The shared last-value query's rows by metric (`metric` label removed), or its error.
type LastValues = Result<std::collections::HashMap<String, Vec<Hit>>, String>;

fn by_metric(rows: Result<Vec<Hit>, String>) -> LastValues {
    let mut out: std::collections::HashMap<String, Vec<Hit>> = std::collections::HashMap::new();
    for mut h in rows? {
        let metric = h.labels.remove("metric").unwrap_or_default();
        out.entry(metric).or_default().push(h);
    }
    Ok(out)
}

/// The series of `metric` whose last value passes `op bound` (only those are cloned).
fn compared(last: &LastValues, metric: &str, op: Op, bound: f64) -> Result<Vec<Hit>, String> {
    let rows = last.as_ref().map_err(Clone::clone)?;
    Ok(rows
        .get(metric)
        .map(|series| {
            series
                .iter()
                .filter(|h| h.value.is_some_and(|v| op.holds(v, bound)))
                .cloned()
                .collect()
        })
        .unwrap_or_default())
}

/// Which tables any rule reads (only those are buffered).
#[derive(Clone, Copy, Debug, Default)]
struct Reads {
    metrics: bool,
    rollups: bool,
    logs: bool,
}

impl Reads {
    fn of(sqls: &[&str]) -> Self {
        let word = |sql: &str, w: &str| {
            sql.to_ascii_lowercase()
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .any(|t| t == w)
        };
        Self {
            metrics: sqls.iter().any(|s| word(s, "metrics")),
            rollups: sqls.iter().any(|s| word(s, "metrics_1m")),
            logs: sqls.iter().any(|s| word(s, "logs")),
        }
    }
}

/// A device of the `devices` table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct DeviceRow {
    name: String,
    address: String,
}

/// The saved form.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Saved {
    version: u32,
    /// Per rule name: next window end and instances.
    rules: BTreeMap<String, (Option<i64>, BTreeMap<String, Instance>)>,
    metrics: Vec<MetricSample>,
    rollups: Vec<RollupRow>,
    logs: Vec<LogRecord>,
    devices: BTreeMap<String, DeviceRow>,
    max_time: Option<i64>,
    #[serde(default)]
    seen: std::collections::BTreeSet<i64>,
    closed: i64,
    health: BTreeMap<String, Instance>,
    no_data: Instance,
    offsets: InputOffsets,
    /// The rules managed through the API when the state was saved (the feed of the
    /// control database replaces them once it answers).
    #[serde(default)]
    api_rules: Vec<RuleConfig>,
}

/// The alert windows operator (see the module documentation).
#[derive(Debug)]
pub struct AlertWindows {
    rules: Vec<Rule>,
    reads: Reads,
    metrics: Vec<MetricSample>,
    rollups: Vec<RollupRow>,
    logs: Vec<LogRecord>,
    devices: BTreeMap<String, DeviceRow>,
    max_time: Option<i64>,
    /// The milliseconds in which any event arrived (metrics, logs), for telling a window
    /// without any event (an outage, a restart's gap) from one where conditions are false.
    seen: std::collections::BTreeSet<i64>,
    /// Events at or before this time are in no window still to evaluate: late.
    closed: i64,
    health: BTreeMap<String, Instance>,
    no_data: Instance,
    idle: bool,
    /// A transition was published since the last save.
    unsaved: std::sync::atomic::AtomicBool,
    last_input: Instant,
    late: u64,
    evaluator: Evaluator,
    config: AlertingConfig,
    path: PathBuf,
    /// The rules managed through the API, as the control database holds them.
    rule_feed: Option<watch::Receiver<Vec<RuleConfig>>>,
    /// Transitions made outside an input batch (a deleted rule's resolves), published
    /// with the next output.
    held: Vec<AlertEvent>,
}

/// Where the alert windows' state lives under the data directory.
pub fn state_path(data_dir: &Path) -> PathBuf {
    data_dir.join("alerts").join("state.json")
}

impl AlertWindows {
    /// The operator for `rules` (validated here: a bad rule is an error naming it).
    pub fn new(
        rules: &[RuleConfig],
        config: AlertingConfig,
        path: PathBuf,
    ) -> Result<Self, crate::rule::RuleError> {
        let mut compiled = Vec::new();
        for r in rules {
            let sql = Evaluator::validate(r)?;
            compiled.push(Rule {
                config: r.clone(),
                sql,
                hold: r.compiled_hold_sql()?,
                next_end: None,
                instances: BTreeMap::new(),
                api: false,
            });
        }
        let sqls: Vec<&str> = compiled.iter().flat_map(Rule::sqls).collect();
        Ok(Self {
            reads: Reads::of(&sqls),
            rules: compiled,
            metrics: Vec::new(),
            rollups: Vec::new(),
            logs: Vec::new(),
            devices: BTreeMap::new(),
            max_time: None,
            seen: std::collections::BTreeSet::new(),
            closed: i64::MIN,
            health: BTreeMap::new(),
            no_data: Instance::default(),
            idle: false,
            unsaved: std::sync::atomic::AtomicBool::new(false),
            last_input: Instant::now(),
            late: 0,
            evaluator: Evaluator::default(),
            config,
            path,
            rule_feed: None,
            held: Vec::new(),
        })
    }

    /// Follows the rules managed through the API on `feed` (the control database's
    /// `alert_rules`), applying its current value now.
    pub fn with_rule_feed(mut self, mut feed: watch::Receiver<Vec<RuleConfig>>) -> Self {
        let rules = feed.borrow_and_update().clone();
        let events = self.set_api_rules(&rules);
        self.held.extend(events);
        self.rule_feed = Some(feed);
        self
    }

    /// Replaces the rules managed through the API with `rules`; the configuration's
    /// rules stay. A rule kept (by name) keeps its instances and windows, with its new
    /// definition from the next window on. A new rule's first window starts after the
    /// newest event seen, so it never judges a window it saw only part of. A removed
    /// rule's firing instances resolve (nothing else would ever resolve them). A rule
    /// that does not validate, or takes a configured rule's name, is left out and
    /// logged: the API refuses both when saving.
    pub fn set_api_rules(&mut self, rules: &[RuleConfig]) -> Vec<AlertEvent> {
        let mut out = Vec::new();
        let (mut kept, old): (Vec<Rule>, Vec<Rule>) = self.rules.drain(..).partition(|r| !r.api);
        let mut old: BTreeMap<String, Rule> = old
            .into_iter()
            .map(|r| (r.config.name.clone(), r))
            .collect();
        for config in rules {
            if kept.iter().any(|r| r.config.name == config.name) {
                tracing::error!(rule = %config.name, "an API rule takes the name of another rule; not run");
                continue;
            }
            let sql = match Evaluator::validate(config) {
                Ok(sql) => sql,
                Err(e) => {
                    tracing::error!(rule = %config.name, error = %e.reason, "API rule refused by the evaluator; not run");
                    continue;
                }
            };
            let (next_end, instances) = match old.remove(&config.name) {
                Some(prev) => (prev.next_end, prev.instances),
                None => (
                    self.max_time
                        .map(|t| window_end(t + ns(config.range()), ns(config.every))),
                    BTreeMap::new(),
                ),
            };
            kept.push(Rule {
                config: config.clone(),
                sql,
                hold: config.compiled_hold_sql().ok().flatten(),
                next_end,
                instances,
                api: true,
            });
        }
        let now = self.max_time.unwrap_or_else(|| UtcNanos::now().0);
        let still = FlapConfig {
            changes: 0,
            window_ns: 1,
        };
        for (name, mut r) in old {
            for (fp, inst) in r.instances.iter_mut() {
                if let Some(t) = inst.step(fp, now, false, 0, 0, still) {
                    out.push(event(&r.config, fp, inst, t));
                }
            }
            tracing::info!(rule = %name, resolved = out.len(), "alert rule deleted");
        }
        let changed = rules.len();
        self.rules = kept;
        let sqls: Vec<&str> = self.rules.iter().flat_map(Rule::sqls).collect();
        self.reads = Reads::of(&sqls);
        tracing::info!(
            api_rules = changed,
            rules = self.rules.len(),
            "alert rules from the API applied"
        );
        out
    }

    /// The rules run now: (name, managed through the API).
    pub fn rule_names(&self) -> Vec<(String, bool)> {
        self.rules
            .iter()
            .map(|r| (r.config.name.clone(), r.api))
            .collect()
    }

    /// Applies a new value of the rule feed; returns the transitions held so far.
    fn follow_rules(&mut self) -> Vec<AlertEvent> {
        let changed = self
            .rule_feed
            .as_mut()
            .is_some_and(|f| f.has_changed().unwrap_or(false));
        if changed {
            let rules = self
                .rule_feed
                .as_mut()
                .map(|f| f.borrow_and_update().clone())
                .unwrap_or_default();
            let events = self.set_api_rules(&rules);
            self.held.extend(events);
        }
        std::mem::take(&mut self.held)
    }

    /// [`AlertWindows::new`] restored from the state saved at `path`, with the input
    /// offsets it includes. An unreadable state is moved aside (logged) and ignored.
    pub fn load(
        rules: &[RuleConfig],
        config: AlertingConfig,
        path: PathBuf,
    ) -> Result<(Self, InputOffsets), crate::rule::RuleError> {
        let mut op = Self::new(rules, config, path.clone())?;
        let saved = match state::load::<Saved>(&path) {
            Ok(Some(s)) => s,
            Ok(None) => return Ok((op, InputOffsets::new())),
            Err(e) => {
                let aside = path.with_extension("json.corrupt");
                let _ = std::fs::rename(&path, &aside);
                tracing::error!(error = %e, moved_to = %aside.display(), "alert state unreadable; starting without it");
                return Ok((op, InputOffsets::new()));
            }
        };
        // Rules managed through the API as they were: their instances are restored
        // with the others, then the feed (`with_rule_feed`) brings today's definitions.
        let resolved = op.set_api_rules(&saved.api_rules);
        debug_assert!(resolved.is_empty(), "no API rule was running yet");
        let mut saved_rules = saved.rules;
        for r in &mut op.rules {
            if let Some((next, instances)) = saved_rules.remove(&r.config.name) {
                r.next_end = next;
                r.instances = instances;
            }
        }
        op.metrics = saved.metrics;
        op.rollups = saved.rollups;
        op.logs = saved.logs;
        op.devices = saved.devices;
        op.max_time = saved.max_time;
        op.seen = saved.seen;
        op.closed = saved.closed;
        op.health = saved.health;
        op.no_data = saved.no_data;
        let firing: usize = op
            .rules
            .iter()
            .map(|r| r.instances.values().filter(|i| i.firing).count())
            .sum();
        tracing::info!(path = %path.display(), rules = op.rules.len(), firing, "alert state restored");
        Ok((op, saved.offsets))
    }

    /// Replaces the `devices` table (a backtest reads it from the inventory).
    pub fn set_devices(&mut self, devices: impl IntoIterator<Item = (String, String, String)>) {
        self.devices = devices
            .into_iter()
            .map(|(id, name, address)| (id, DeviceRow { name, address }))
            .collect();
    }

    /// Late events dropped so far.
    pub fn late_events(&self) -> u64 {
        self.late
    }

    /// The current instances of `rule` that are firing: (labels, value).
    pub fn firing(&self, rule: &str) -> Vec<(BTreeMap<String, String>, Option<f64>)> {
        self.rules
            .iter()
            .filter(|r| r.config.name == rule)
            .flat_map(|r| r.instances.values())
            .filter(|i| i.firing)
            .map(|i| (i.labels.clone(), i.value))
            .collect()
    }

    fn flap(&self) -> FlapConfig {
        FlapConfig {
            changes: self.config.flap_changes,
            window_ns: ns(self.config.flap_window).max(1),
        }
    }

    /// Takes in the events of one batch; returns the oldest and newest event times.
    fn take(&mut self, batch: EventBatch) -> Option<(i64, i64)> {
        let closed = self.closed;
        let mut late = 0u64;
        let mut span: Option<(i64, i64)> = None;
        let mut marks: Vec<i64> = Vec::new();
        let mut seen = |t: i64, late: &mut u64| {
            if t <= closed {
                *late += 1;
                false
            } else {
                span = Some(span.map_or((t, t), |(a, b): (i64, i64)| (a.min(t), b.max(t))));
                let ms = t.div_euclid(1_000_000);
                if marks.last() != Some(&ms) {
                    marks.push(ms);
                }
                true
            }
        };
        match batch {
            EventBatch::Metrics(samples) => {
                for s in samples {
                    if seen(s.time.0, &mut late) && self.reads.metrics {
                        self.metrics.push(s);
                    }
                }
            }
            EventBatch::Rollups(rows) => {
                // A minute's rollup arrives once the minute closed, always behind the
                // samples: it neither moves the watermark nor counts as late.
                if self.reads.rollups {
                    self.rollups.extend(rows);
                }
            }
            EventBatch::Logs(records) => {
                for r in records {
                    if seen(r.received_at.0, &mut late) && self.reads.logs {
                        self.logs.push(r);
                    }
                }
            }
            EventBatch::Inventory(changes) => {
                for c in changes {
                    match c.device {
                        Some(d) => {
                            self.devices.insert(
                                c.id,
                                DeviceRow {
                                    name: d.name,
                                    address: d.address.to_string(),
                                },
                            );
                        }
                        None => {
                            self.devices.remove(&c.id);
                        }
                    }
                }
            }
            EventBatch::Alerts(_) | EventBatch::Commands(_) => {}
        }
        let newest = span;
        self.seen.extend(marks);
        if self.rules.is_empty() {
            // No window to evaluate: nothing is late for anything.
            late = 0;
        }
        if late > 0 {
            self.late += late;
            metrics::counter!("sotp_alert_late_events_total").increment(late);
            tracing::warn!(
                events = late,
                "events older than the alert windows already evaluated dropped from evaluation"
            );
        }
        newest
    }

    /// The tables of the window `(start, end]`.
    fn tables(&self, start: i64, end: i64) -> WindowTables {
        let inside = |t: i64| t > start && t <= end;
        // `metrics` grouped by metric, with each metric's rows: a rule filtered on its
        // metric reads only those.
        let mut groups: std::collections::HashMap<&str, Vec<&MetricSample>> =
            std::collections::HashMap::new();
        for s in self.metrics.iter().filter(|s| inside(s.time.0)) {
            groups.entry(s.metric.as_str()).or_default().push(s);
        }
        let total = groups.values().map(Vec::len).sum();
        let mut metrics = sotp_schemas::MetricBatchBuilder::with_capacity(total);
        let mut metric_ranges = std::collections::HashMap::with_capacity(groups.len());
        let mut offset = 0;
        for (metric, samples) in groups {
            metric_ranges.insert(metric.to_string(), (offset, samples.len()));
            offset += samples.len();
            for s in samples {
                metrics.push(s);
            }
        }
        let logs: Vec<LogRecord> = self
            .logs
            .iter()
            .filter(|r| inside(r.received_at.0))
            .cloned()
            .collect();
        let mut rollups = sotp_schemas::RollupBatchBuilder::default();
        for r in self.rollups.iter().filter(|r| inside(r.time.0)) {
            rollups.push(r);
        }
        WindowTables {
            metrics: metrics.finish(),
            metric_ranges,
            rollups: rollups.finish(),
            logs: logs_to_batch(&logs),
            devices: devices_batch(
                self.devices
                    .iter()
                    .map(|(id, d)| (id.as_str(), d.name.as_str(), d.address.as_str())),
            ),
        }
    }

    /// Evaluates every window that ends at or before `to`.
    fn advance(&mut self, to: i64, out: &mut Vec<AlertEvent>) {
        let first = self.first_buffered();
        let mut due: BTreeMap<(i64, i64), Vec<usize>> = BTreeMap::new();
        for (i, r) in self.rules.iter_mut().enumerate() {
            let every = ns(r.config.every);
            let range = ns(r.config.range());
            let Some(next) = r.next_end.or_else(|| first.map(|t| window_end(t, every))) else {
                continue;
            };
            let mut next = next;
            let mut n = 0;
            while next <= to && n < MAX_CATCH_UP {
                due.entry((next, range)).or_default().push(i);
                next += every;
                n += 1;
            }
            if next <= to {
                tracing::warn!(rule = %r.config.name, "alert windows skipped: more than {MAX_CATCH_UP} behind the watermark");
                next = window_end(to, every) + every;
            }
            r.next_end = Some(next);
        }
        for ((end, range), rules) in due {
            let (start_ms, end_ms) = (
                (end - range).div_euclid(1_000_000),
                end.div_euclid(1_000_000),
            );
            if self.seen.range(start_ms + 1..=end_ms).next().is_none() {
                // No event at all in the window: an outage or a restart's gap, not a
                // window where every condition is false. Instances are held.
                continue;
            }
            let started = Instant::now();
            let evaluated = rules.len();
            let tables = self.tables(end - range, end);
            if let Err(e) = self.evaluator.load(&tables) {
                tracing::error!(error = %e, "alert window tables not loaded");
                continue;
            }
            // Typed rules testing one number per series: one query per kind for all.
            let (fast, slow): (Vec<usize>, Vec<usize>) = rules
                .into_iter()
                .partition(|i| self.rules[*i].config.shared_test().is_some());
            let mut kinds: BTreeMap<Shared, Vec<usize>> = BTreeMap::new();
            for i in fast {
                if let Some(t) = self.rules[i].config.shared_test() {
                    kinds.entry(t.query).or_default().push(i);
                }
            }
            for (kind, members) in kinds {
                let metrics = members
                    .iter()
                    .filter_map(|i| self.rules[*i].config.shared_test().map(|t| t.metric));
                let numbers = by_metric(self.evaluator.run(&kind.sql(metrics)));
                for i in members {
                    let t = self.rules[i].config.shared_test().expect("grouped on it");
                    let (metric, op, hold) = (t.metric.to_string(), t.op, t.hold);
                    let result = compared(&numbers, &metric, op, t.bound).and_then(|hits| {
                        self.with_held(i, hits, || match hold {
                            Some(b) => compared(&numbers, &metric, op, b),
                            None => Ok(Vec::new()),
                        })
                    });
                    self.judged(i, end, result, out);
                }
            }
            for i in slow {
                let result = self.evaluator.run(&self.rules[i].sql).and_then(|hits| {
                    self.with_held(i, hits, || match &self.rules[i].hold {
                        Some(sql) => self.evaluator.run(sql),
                        None => Ok(Vec::new()),
                    })
                });
                self.judged(i, end, result, out);
            }
            // What the rules cost on the live stream (the lab reads these).
            metrics::histogram!("sotp_alert_window_seconds")
                .record(started.elapsed().as_secs_f64());
            metrics::counter!("sotp_alert_evaluations_total").increment(evaluated as u64);
        }
        // An event at or before every rule's next window start can be in no window to
        // come: it is late from now on, and the buffer no longer needs it.
        let horizon = self
            .rules
            .iter()
            .filter_map(|r| r.next_end.map(|n| n - ns(r.config.range())))
            .min()
            .unwrap_or(to);
        self.closed = self.closed.max(horizon);
        self.metrics.retain(|s| s.time.0 > horizon);
        self.seen = self.seen.split_off(&horizon.div_euclid(1_000_000));
        self.rollups.retain(|r| r.time.0 > horizon);
        self.logs.retain(|r| r.received_at.0 > horizon);
    }

    /// Hysteresis: `hits` and the firing instances of rule `i` missing from them that
    /// its hold condition still finds (`hold` runs only when some are missing).
    fn with_held(
        &self,
        i: usize,
        mut hits: Vec<Hit>,
        hold: impl FnOnce() -> Result<Vec<Hit>, String>,
    ) -> Result<Vec<Hit>, String> {
        let rule = &self.rules[i];
        let hysteresis = rule.hold.is_some();
        if !hysteresis || !rule.instances.values().any(|i| i.firing) {
            return Ok(hits);
        }
        let present: std::collections::BTreeSet<String> = hits
            .iter()
            .map(|h| fingerprint(&rule.config.name, &h.labels))
            .collect();
        let missing: std::collections::BTreeSet<&String> = rule
            .instances
            .iter()
            .filter(|(fp, inst)| inst.firing && !present.contains(*fp))
            .map(|(fp, _)| fp)
            .collect();
        if missing.is_empty() {
            return Ok(hits);
        }
        let held = hold()?;
        hits.extend(
            held.into_iter()
                .filter(|h| missing.contains(&fingerprint(&rule.config.name, &h.labels))),
        );
        Ok(hits)
    }

    /// An availability or absence rule's hits that cover every active device (at least
    /// `outage_min_devices`) become one hit about the outage.
    fn collapsed(&self, i: usize, hits: Vec<Hit>) -> Vec<Hit> {
        let rule = &self.rules[i].config;
        let min = self.config.outage_min_devices;
        let per_device = rule.availability.is_some() || rule.absence.is_some();
        if min == 0 || !per_device || self.devices.len() < min {
            return hits;
        }
        let found: std::collections::BTreeSet<&str> = hits
            .iter()
            .filter_map(|h| h.labels.get("device_id").map(String::as_str))
            .collect();
        if !self.devices.keys().all(|d| found.contains(d.as_str())) {
            return hits;
        }
        tracing::warn!(rule = %rule.name, devices = self.devices.len(), "every device at once: one alert about the outage, not one per device");
        vec![Hit {
            labels: BTreeMap::from([("scope".to_string(), "every device".to_string())]),
            value: Some(self.devices.len() as f64),
        }]
    }

    /// One window's outcome for rule `i`: its instances step, or it failed (one health
    /// alert, its instances held).
    fn judged(
        &mut self,
        i: usize,
        end: i64,
        result: Result<Vec<Hit>, String>,
        out: &mut Vec<AlertEvent>,
    ) {
        let name = self.rules[i].config.name.clone();
        match result {
            Ok(hits) => {
                let hits = self.collapsed(i, hits);
                self.apply(i, end, hits, out);
                self.health_step(&name, end, None, out);
            }
            Err(e) => {
                metrics::counter!("sotp_alert_rule_errors_total").increment(1);
                self.health_step(&name, end, Some(e), out);
            }
        }
    }

    fn first_buffered(&self) -> Option<i64> {
        let m = self.metrics.iter().map(|s| s.time.0).min();
        let r = self.rollups.iter().map(|r| r.time.0).min();
        let l = self.logs.iter().map(|r| r.received_at.0).min();
        [m, r, l].into_iter().flatten().min().or(self.max_time)
    }

    /// One window's hits for rule `i`: every instance steps.
    fn apply(&mut self, i: usize, end: i64, hits: Vec<Hit>, out: &mut Vec<AlertEvent>) {
        let flap = self.flap();
        let rule = &mut self.rules[i];
        let for_ns = ns(rule.config.for_);
        let keep_ns = ns(rule.config.keep_firing_for);
        let mut present = std::collections::BTreeSet::new();
        for hit in hits {
            let fp = fingerprint(&rule.config.name, &hit.labels);
            present.insert(fp.clone());
            let inst = rule
                .instances
                .entry(fp.clone())
                .or_insert_with(|| Instance {
                    labels: hit.labels.clone(),
                    ..Instance::default()
                });
            inst.value = hit.value;
            if let Some(t) = inst.step(&fp, end, true, for_ns, keep_ns, flap) {
                out.push(event(&rule.config, &fp, inst, t));
            }
        }
        for (fp, inst) in rule.instances.iter_mut() {
            if present.contains(fp) {
                continue;
            }
            if let Some(t) = inst.step(fp, end, false, for_ns, keep_ns, flap) {
                out.push(event(&rule.config, fp, inst, t));
            }
        }
        rule.instances.retain(|_, i| !i.is_idle());
    }

    fn health_step(
        &mut self,
        rule: &str,
        end: i64,
        error: Option<String>,
        out: &mut Vec<AlertEvent>,
    ) {
        if error.is_none() && !self.health.contains_key(rule) {
            return;
        }
        let labels = BTreeMap::from([("rule".to_string(), rule.to_string())]);
        let config = health_rule(error.as_deref());
        let fp = fingerprint(RULE_HEALTH, &labels);
        let flap = FlapConfig {
            changes: 0,
            window_ns: 1,
        };
        let inst = self
            .health
            .entry(rule.to_string())
            .or_insert_with(|| Instance {
                labels,
                ..Instance::default()
            });
        if let Some(e) = &error {
            tracing::warn!(rule, error = %e, "alert rule failed; its instances are held until it runs again");
        }
        if let Some(t) = inst.step(&fp, end, error.is_some(), 0, 0, flap) {
            out.push(event(&config, &fp, inst, t));
        }
        if inst.is_idle() {
            self.health.remove(rule);
        }
    }

    fn no_data_step(&mut self, now: i64, idle: bool, out: &mut Vec<AlertEvent>) {
        let config = no_data_rule(self.config.idle_timeout);
        let fp = fingerprint(NO_DATA, &BTreeMap::new());
        let flap = FlapConfig {
            changes: 0,
            window_ns: 1,
        };
        if let Some(t) = self.no_data.step(&fp, now, idle, 0, 0, flap) {
            out.push(event(&config, &fp, &self.no_data, t));
        }
    }

    fn saved(&self, offsets: &InputOffsets) -> Saved {
        Saved {
            version: 1,
            rules: self
                .rules
                .iter()
                .map(|r| (r.config.name.clone(), (r.next_end, r.instances.clone())))
                .collect(),
            metrics: self.metrics.clone(),
            rollups: self.rollups.clone(),
            logs: self.logs.clone(),
            devices: self.devices.clone(),
            max_time: self.max_time,
            seen: self.seen.clone(),
            closed: self.closed,
            health: self.health.clone(),
            no_data: self.no_data.clone(),
            offsets: offsets.clone(),
            api_rules: self
                .rules
                .iter()
                .filter(|r| r.api)
                .map(|r| r.config.clone())
                .collect(),
        }
    }

    /// Takes in one batch and evaluates the windows its events close (for tests and the
    /// backtest: the operator's `process` without the bus).
    pub fn push(&mut self, batch: EventBatch) -> Vec<AlertEvent> {
        let Some((_, newest)) = self.take(batch) else {
            return Vec::new();
        };
        self.arrived(newest)
    }

    /// Events of tables no rule reads arrived at `times` (a backtest reads only the
    /// tables its rule reads, and the times of the others): as on the stream, they mark
    /// their windows as holding data and move the watermark.
    pub fn push_times(&mut self, times: &[i64]) -> Vec<AlertEvent> {
        let mut newest: Option<i64> = None;
        for &t in times {
            if t <= self.closed {
                continue;
            }
            self.seen.insert(t.div_euclid(1_000_000));
            newest = Some(newest.map_or(t, |n| n.max(t)));
        }
        match newest {
            Some(t) => self.arrived(t),
            None => Vec::new(),
        }
    }

    /// After events up to `newest` were taken in: evaluates the windows they close.
    fn arrived(&mut self, newest: i64) -> Vec<AlertEvent> {
        let mut out = Vec::new();
        self.last_input = Instant::now();
        if self.idle {
            // Data again after an outage (the windows of the outage hold no event and
            // are not evaluated: see `advance`).
            self.idle = false;
            self.no_data_step(newest, false, &mut out);
        }
        let max = self.max_time.map_or(newest, |m| m.max(newest));
        self.max_time = Some(max);
        self.advance(
            max.saturating_sub(ns(self.config.allowed_lateness)),
            &mut out,
        );
        out
    }

    /// Evaluates every window ending at or before `to` (the end of a backtest).
    pub fn finish_until(&mut self, to: i64) -> Vec<AlertEvent> {
        let mut out = Vec::new();
        self.advance(to, &mut out);
        out
    }

    /// Called on a timer: after `idle_timeout` without any event, one `sotp.no_data`.
    pub fn idle_check(&mut self, now: Instant, wall: i64) -> Vec<AlertEvent> {
        let mut out = Vec::new();
        let quiet = now.saturating_duration_since(self.last_input) >= self.config.idle_timeout;
        if quiet && !self.idle && !self.rules.is_empty() {
            self.idle = true;
            tracing::warn!(
                idle_for = ?self.config.idle_timeout,
                "no events reach the alert windows: rules are held until data resumes"
            );
            self.no_data_step(wall, true, &mut out);
        }
        out
    }
}

impl AlertWindows {
    /// Publishes `events`; a transition asks for a checkpoint at once.
    fn emit(&self, events: Vec<AlertEvent>, out: &mut Emit) {
        if !events.is_empty() {
            self.unsaved
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        out.push(Topic::Alerts, EventBatch::Alerts(events));
    }
}

fn health_rule(error: Option<&str>) -> RuleConfig {
    let mut r = RuleConfig::with_sql(RULE_HEALTH, "");
    r.sql = None;
    r.severity = crate::rule::Severity::Warning;
    r.annotations.insert(
        "summary".into(),
        match error {
            Some(e) => format!("alert rule {{{{ $labels.rule }}}} fails: {e}"),
            None => "alert rule {{ $labels.rule }} runs again".into(),
        },
    );
    r
}

fn no_data_rule(idle: Duration) -> RuleConfig {
    let mut r = RuleConfig::with_sql(NO_DATA, "");
    r.sql = None;
    r.severity = crate::rule::Severity::Critical;
    r.annotations.insert(
        "summary".into(),
        format!(
            "no metrics or logs reached the alert windows for {}: collectors or the stage are down; device alerts are held",
            humantime::format_duration(idle)
        ),
    );
    r
}

/// The event of one transition of `inst`.
fn event(rule: &RuleConfig, fp: &str, inst: &Instance, t: Transition) -> AlertEvent {
    let mut labels = inst.labels.clone();
    for (k, v) in &rule.labels {
        labels.entry(k.clone()).or_insert_with(|| v.clone());
    }
    labels.insert("alertname".into(), rule.name.clone());
    labels.insert("severity".into(), rule.severity.as_str().into());
    if t.flapping {
        labels.insert("flapping".into(), "true".into());
    }
    let annotations: BTreeMap<String, String> = rule
        .annotations
        .iter()
        .map(|(k, v)| (k.clone(), render(v, &labels, inst.value)))
        .collect();
    let message = annotations.get("summary").cloned().unwrap_or_else(|| {
        let who: Vec<String> = inst
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let value = inst
            .value
            .map(|v| format!(" (value {v})"))
            .unwrap_or_default();
        format!(
            "{} {}: {}{value}",
            rule.name,
            t.state.as_str(),
            who.join(", ")
        )
    });
    let group_key = std::iter::once(rule.name.as_str())
        .chain(
            rule.group_by
                .iter()
                .map(|k| labels.get(k).map(String::as_str).unwrap_or("")),
        )
        .collect::<Vec<_>>()
        .join("/");
    AlertEvent {
        time: UtcNanos(t.time),
        rule_id: rule.name.clone(),
        rule_name: rule.name.clone(),
        device_id: inst.labels.get("device_id").map(DeviceId::new),
        state: t.state,
        severity: rule.severity.as_str().into(),
        value: inst.value,
        message,
        labels,
        fingerprint: fp.to_string(),
        alert_id: t.alert_id,
        starts_at: Some(UtcNanos(t.starts_at)),
        annotations,
        receivers: rule.receivers.clone(),
        group_key,
        group_wait_s: rule.group_wait.as_secs(),
        group_interval_s: rule.group_interval.as_secs(),
        repeat_interval_s: rule.repeat_interval.as_secs(),
        escalate_after_s: rule.escalate_after.map(|d| d.as_secs()),
        escalate_to: rule.escalate_to.clone(),
    }
}

impl Operator for AlertWindows {
    fn name(&self) -> &'static str {
        "alerts"
    }

    fn inputs(&self) -> Vec<Topic> {
        vec![
            Topic::MetricsRaw,
            Topic::Metrics,
            Topic::Rollups,
            Topic::Logs,
            Topic::Inventory,
        ]
    }

    fn process(&mut self, _input: Topic, batch: EventBatch, out: &mut Emit) {
        let mut events = self.follow_rules();
        events.extend(self.push(batch));
        self.emit(events, out);
    }

    fn tick(&mut self, out: &mut Emit) {
        let mut events = self.follow_rules();
        events.extend(self.idle_check(Instant::now(), UtcNanos::now().0));
        self.emit(events, out);
    }

    fn save(&self, offsets: &InputOffsets) -> Result<(), String> {
        state::save(&self.path, &self.saved(offsets)).map_err(|e| e.to_string())?;
        self.unsaved
            .store(false, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    fn wants_checkpoint(&self) -> bool {
        self.unsaved.load(std::sync::atomic::Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests;
