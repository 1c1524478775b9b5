//! An alert rule: a read-only SQL `SELECT` over `metrics`, `metrics_1m`, `logs` and
//! `devices`, or a typed form compiled to one, with its timing (`every`, `range`, `for`,
//! `keep_firing_for`), severity, labels, annotation templates and receivers.
//!
//! Each row the SQL returns for a window is one alert instance whose condition holds in
//! that window: identified by the rule and the row's non-value columns, with the `value`
//! column (when present) as the observed value.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// `critical`, `warning` or `info`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Wake someone up.
    Critical,
    /// Look at it today.
    #[default]
    Warning,
    /// For the record.
    Info,
}

impl Severity {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

/// A comparison of a typed form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// `>`
    #[serde(rename = ">")]
    Gt,
    /// `>=`
    #[serde(rename = ">=")]
    Ge,
    /// `<`
    #[serde(rename = "<")]
    Lt,
    /// `<=`
    #[serde(rename = "<=")]
    Le,
    /// `=` (also `==`)
    #[serde(rename = "=", alias = "==")]
    Eq,
    /// `!=`
    #[serde(rename = "!=")]
    Ne,
}

impl Op {
    /// Whether `v op bound` holds, as SQL compares floats (Arrow's total order).
    pub fn holds(self, v: f64, bound: f64) -> bool {
        use std::cmp::Ordering::*;
        let o = v.total_cmp(&bound);
        match self {
            Op::Gt => o == Greater,
            Op::Ge => o != Less,
            Op::Lt => o == Less,
            Op::Le => o != Greater,
            Op::Eq => o == Equal,
            Op::Ne => o != Equal,
        }
    }

    fn sql(self) -> &'static str {
        match self {
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Eq => "=",
            Op::Ne => "<>",
        }
    }
}

/// `metric op value` on the last sample of each series in the window
/// (`cpu.util_ratio > 0.9`; availability is `icmp.up = 0` or `poll.ok = 0`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Threshold {
    /// The metric.
    pub metric: String,
    /// The comparison.
    pub op: Op,
    /// The bound.
    pub value: f64,
    /// Hysteresis: a firing alert resolves only once the value no longer passes this
    /// bound (`> 0.9` with `recover = 0.8` fires above 0.9 and resolves at 0.8 or below).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recover: Option<f64>,
}

/// No sample (of `metric`, or of any metric) from an active device in the window.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Absence {
    /// Only samples of this metric count; none: any sample.
    #[serde(default)]
    pub metric: Option<String>,
}

/// At least `count` log lines matching `regex` (and at most `severity`) per device in the
/// window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogPattern {
    /// A regular expression searched in the message (RE2 syntax, as DataFusion's
    /// `regexp_like`).
    #[serde(default)]
    pub regex: Option<String>,
    /// Only lines of this syslog severity or worse (0 emergency .. 7 debug).
    #[serde(default)]
    pub severity: Option<u8>,
    /// Matching lines needed in one window (default 1).
    #[serde(default = "one")]
    pub count: u64,
}

fn one() -> u64 {
    1
}

/// The change of a series over the window, per second between its first and last
/// samples in the window, compared with a bound (`(last - first) / seconds op value`).
/// A series with fewer than two samples (at different times) in the window has no rate
/// and is not judged: a window that happens to hold one poll fewer than usual must not
/// change the rate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateOfChange {
    /// The metric.
    pub metric: String,
    /// The comparison.
    pub op: Op,
    /// The bound, in units per second.
    pub value: f64,
    /// Hysteresis: a firing alert resolves only once the rate no longer passes this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recover: Option<f64>,
}

/// An interface's utilization (in or out, the larger) above a ratio (0.9 = 90 %).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Utilization {
    /// The ratio.
    pub above: f64,
    /// Hysteresis: a firing alert resolves only at or below this ratio.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recover: Option<f64>,
}

/// The per-window queries typed rules share (see [`RuleConfig::shared_test`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Shared {
    /// The last value of each series.
    LastValue,
    /// (last - first) / the seconds between them, of each series with two samples or
    /// more in the window.
    Rate,
    /// The larger of in and out utilization of each interface (metric key `""`).
    Utilization,
}

/// The per-second change of a series between its first and last samples of the window.
const RATE: &str = "(last_value(value ORDER BY time) - first_value(value ORDER BY time)) \
     / (date_part('epoch', max(time)) - date_part('epoch', min(time)))";

/// One typed rule's test on a shared query's number: `number op bound`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SharedTest<'a> {
    /// The shared query.
    pub query: Shared,
    /// The metric whose series it tests.
    pub metric: &'a str,
    /// The comparison.
    pub op: Op,
    /// The bound.
    pub bound: f64,
    /// Hysteresis: the bound that keeps a firing instance firing.
    pub hold: Option<f64>,
}

impl Shared {
    /// The query over one window for the series of `metrics`: rows `device_id, device,
    /// instance, metric, value`.
    pub fn sql<'a>(self, metrics: impl Iterator<Item = &'a str>) -> String {
        let names: std::collections::BTreeSet<String> = metrics.map(quote).collect();
        let names = names.into_iter().collect::<Vec<_>>().join(", ");
        match self {
            Shared::LastValue => format!(
                "SELECT device_id, device, instance, metric, last_value(value ORDER BY time) AS value \
                 FROM metrics WHERE metric IN ({names}) GROUP BY device_id, device, instance, metric"
            ),
            Shared::Rate => format!(
                "SELECT device_id, device, instance, metric, {RATE} AS value \
                 FROM metrics WHERE metric IN ({names}) GROUP BY device_id, device, instance, metric \
                 HAVING max(time) > min(time)"
            ),
            Shared::Utilization => "SELECT device_id, device, instance, '' AS metric, max(value) AS value FROM metrics \
                 WHERE metric IN ('if.in_util_ratio', 'if.out_util_ratio') \
                 GROUP BY device_id, device, instance"
                .to_string(),
        }
    }
}

/// An alert rule as configured (`[[alert_rules]]`) or sent to the API.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// Unique name; the `alertname` label of its alerts.
    pub name: String,
    /// The condition as SQL (or one of the typed forms below).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sql: Option<String>,
    /// Hysteresis for an SQL rule: while an instance fires, it keeps firing as long as
    /// this query (same tables and shape as `sql`, usually a laxer bound) returns it.
    /// Typed forms take `recover` instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_sql: Option<String>,
    /// Typed form: a threshold on the last sample of each series.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<Threshold>,
    /// Typed form: availability, `metric = 0` (`icmp.up`, `poll.ok`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability: Option<String>,
    /// Typed form: no samples from a device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub absence: Option<Absence>,
    /// Typed form: log lines matching a pattern.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_pattern: Option<LogPattern>,
    /// Typed form: rate of change of a series.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_of_change: Option<RateOfChange>,
    /// Typed form: interface utilization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utilization: Option<Utilization>,
    /// A window closes (and the rule is evaluated) every `every` of event time.
    #[serde(default = "every", with = "humantime_serde")]
    pub every: Duration,
    /// The window's length (default: `every`).
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub range: Option<Duration>,
    /// How long the condition must hold before the alert fires.
    #[serde(default, rename = "for", with = "humantime_serde")]
    pub for_: Duration,
    /// How long a firing alert keeps firing after its condition stopped.
    #[serde(default, with = "humantime_serde")]
    pub keep_firing_for: Duration,
    /// Severity of its alerts.
    #[serde(default)]
    pub severity: Severity,
    /// Labels added to every alert of the rule.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Templates: `{{ $labels.device }}`, `{{ $value }}` (summary, description, ...).
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// The receivers notified (names of `[[receivers]]`).
    #[serde(default)]
    pub receivers: Vec<String>,
    /// Labels whose values make a notification group (default: the rule alone).
    #[serde(default)]
    pub group_by: Vec<String>,
    /// How long the first notification of a group waits for more of the group.
    #[serde(default, with = "humantime_serde")]
    pub group_wait: Duration,
    /// After a notification of a group, how long the next one to the same receiver
    /// waits (changes meanwhile go together); 0: none.
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Duration::is_zero"
    )]
    pub group_interval: Duration,
    /// A still firing, unacknowledged alert is notified again every this long; 0: never.
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Duration::is_zero"
    )]
    pub repeat_interval: Duration,
    /// Still firing and unacknowledged this long after it started: notify
    /// `escalate_to` (the seed plan: the manager after 30 min).
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub escalate_after: Option<Duration>,
    /// The receivers of the escalation.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub escalate_to: Vec<String>,
}

fn every() -> Duration {
    Duration::from_secs(30)
}

/// Why a rule is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("alert rule `{rule}`: {reason}")]
pub struct RuleError {
    /// The rule's name.
    pub rule: String,
    /// What is wrong.
    pub reason: String,
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn number(v: f64) -> String {
    // `{:?}` keeps a decimal point (`1.0`), so DataFusion compares as floats.
    format!("{v:?}")
}

impl RuleConfig {
    /// A rule with this SQL and every other setting at its default.
    pub fn with_sql(name: &str, sql: &str) -> Self {
        Self {
            name: name.to_string(),
            sql: Some(sql.to_string()),
            hold_sql: None,
            threshold: None,
            availability: None,
            absence: None,
            log_pattern: None,
            rate_of_change: None,
            utilization: None,
            every: every(),
            range: None,
            for_: Duration::ZERO,
            keep_firing_for: Duration::ZERO,
            severity: Severity::default(),
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
            receivers: Vec::new(),
            group_by: Vec::new(),
            group_wait: Duration::ZERO,
            group_interval: Duration::ZERO,
            repeat_interval: Duration::ZERO,
            escalate_after: None,
            escalate_to: Vec::new(),
        }
    }

    /// The window's length.
    pub fn range(&self) -> Duration {
        self.range.unwrap_or(self.every)
    }

    fn error(&self, reason: impl Into<String>) -> RuleError {
        RuleError {
            rule: self.name.clone(),
            reason: reason.into(),
        }
    }

    /// Checks the settings that need no SQL engine: a name, exactly one condition,
    /// windows of whole milliseconds that are not empty.
    pub fn check(&self) -> Result<(), RuleError> {
        if self.name.trim().is_empty() {
            return Err(self.error("a rule needs a name"));
        }
        if self.every < Duration::from_secs(1) {
            return Err(self.error("`every` must be at least 1s"));
        }
        if self.range() < Duration::from_secs(1) {
            return Err(self.error("`range` must be at least 1s"));
        }
        let forms = [
            self.sql.is_some(),
            self.threshold.is_some(),
            self.availability.is_some(),
            self.absence.is_some(),
            self.log_pattern.is_some(),
            self.rate_of_change.is_some(),
            self.utilization.is_some(),
        ];
        if self.hold_sql.is_some() && self.sql.is_none() {
            return Err(
                self.error("`hold_sql` goes with `sql`; a typed form takes `recover` in its table")
            );
        }
        let recover = [
            self.threshold.as_ref().map(|t| (t.op, t.value, t.recover)),
            self.rate_of_change
                .as_ref()
                .map(|r| (r.op, r.value, r.recover)),
            self.utilization
                .as_ref()
                .map(|u| (Op::Gt, u.above, u.recover)),
        ];
        for (op, value, recover) in recover.into_iter().flatten() {
            let Some(rec) = recover else { continue };
            let lax = match op {
                Op::Gt | Op::Ge => rec <= value,
                Op::Lt | Op::Le => rec >= value,
                Op::Eq | Op::Ne => false,
            };
            if !lax || !rec.is_finite() {
                return Err(self.error(format!(
                    "`recover = {rec}` must be a number on the firing side of the bound {value} (at most it for `>`, at least it for `<`; none for `=` and `!=`)"
                )));
            }
        }
        match forms.iter().filter(|f| **f).count() {
            1 => Ok(()),
            0 => Err(self.error(
                "give the condition as `sql` or one typed form (threshold, availability, absence, log_pattern, rate_of_change, utilization)",
            )),
            _ => Err(self.error("give only one of `sql` and the typed forms")),
        }
    }

    /// For the typed forms whose test is a comparison of one number per series
    /// (threshold, availability, rate of change, utilization): that test. The windows
    /// compute the number for every series of every such rule with one query per
    /// [`Shared`] kind and compare here, which gives the rows of
    /// [`RuleConfig::compiled_sql`] without one plan per rule.
    pub fn shared_test(&self) -> Option<SharedTest<'_>> {
        let test = |query, metric, op, bound, hold| SharedTest {
            query,
            metric,
            op,
            bound,
            hold,
        };
        if let Some(t) = &self.threshold {
            return Some(test(Shared::LastValue, &t.metric, t.op, t.value, t.recover));
        }
        if let Some(m) = &self.availability {
            return Some(test(Shared::LastValue, m, Op::Eq, 0.0, None));
        }
        if let Some(r) = &self.rate_of_change {
            return Some(test(Shared::Rate, &r.metric, r.op, r.value, r.recover));
        }
        if let Some(u) = &self.utilization {
            return Some(test(Shared::Utilization, "", Op::Gt, u.above, u.recover));
        }
        None
    }

    /// The SQL that keeps a firing instance firing (hysteresis): `hold_sql`, or the
    /// typed form compiled with its `recover` bound; none without hysteresis.
    pub fn compiled_hold_sql(&self) -> Result<Option<String>, RuleError> {
        self.check()?;
        if self.sql.is_some() {
            return Ok(self.hold_sql.clone());
        }
        let mut laxer = self.clone();
        match (
            &mut laxer.threshold,
            &mut laxer.rate_of_change,
            &mut laxer.utilization,
        ) {
            (Some(t), _, _) if t.recover.is_some() => t.value = t.recover.take().unwrap_or(t.value),
            (_, Some(r), _) if r.recover.is_some() => r.value = r.recover.take().unwrap_or(r.value),
            (_, _, Some(u)) if u.recover.is_some() => u.above = u.recover.take().unwrap_or(u.above),
            _ => return Ok(None),
        }
        laxer.compiled_sql().map(Some)
    }

    /// The rule's SQL: its own, or its typed form compiled.
    pub fn compiled_sql(&self) -> Result<String, RuleError> {
        self.check()?;
        if let Some(sql) = &self.sql {
            return Ok(sql.clone());
        }
        if let Some(t) = &self.threshold {
            return Ok(last_value_compared(&t.metric, t.op, t.value));
        }
        if let Some(metric) = &self.availability {
            return Ok(last_value_compared(metric, Op::Eq, 0.0));
        }
        if let Some(a) = &self.absence {
            let only = match &a.metric {
                Some(m) => format!(" WHERE metric = {}", quote(m)),
                None => String::new(),
            };
            return Ok(format!(
                "SELECT d.id AS device_id, d.name AS device FROM devices d \
                 WHERE d.active AND d.id NOT IN (SELECT DISTINCT device_id FROM metrics{only})"
            ));
        }
        if let Some(p) = &self.log_pattern {
            let mut filters = vec!["device_id IS NOT NULL".to_string()];
            if let Some(re) = &p.regex {
                // A pattern the regex engine refuses is found by `Evaluator::validate`,
                // which plans the rule and runs it once on an empty window.
                if re.is_empty() {
                    return Err(self.error("log_pattern.regex is empty"));
                }
                filters.push(format!("regexp_like(message, {})", quote(re)));
            }
            if let Some(sev) = p.severity {
                if sev > 7 {
                    return Err(self.error("log_pattern.severity is 0 (emergency) to 7 (debug)"));
                }
                filters.push(format!("severity <= {sev}"));
            }
            return Ok(format!(
                "SELECT device_id, count(*) AS value FROM logs WHERE {} \
                 GROUP BY device_id HAVING count(*) >= {}",
                filters.join(" AND "),
                p.count.max(1)
            ));
        }
        if let Some(r) = &self.rate_of_change {
            return Ok(format!(
                "SELECT device_id, device, instance, value FROM (\
                 SELECT device_id, device, instance, {RATE} AS value \
                 FROM metrics WHERE metric = {} GROUP BY device_id, device, instance \
                 HAVING max(time) > min(time)) \
                 WHERE value {} {}",
                quote(&r.metric),
                r.op.sql(),
                number(r.value)
            ));
        }
        if let Some(u) = &self.utilization {
            return Ok(format!(
                "SELECT device_id, device, instance, value FROM (\
                 SELECT device_id, device, instance, max(value) AS value FROM metrics \
                 WHERE metric IN ('if.in_util_ratio', 'if.out_util_ratio') \
                 GROUP BY device_id, device, instance) WHERE value > {}",
                number(u.above)
            ));
        }
        Err(self.error("no condition"))
    }
}

fn last_value_compared(metric: &str, op: Op, bound: f64) -> String {
    format!(
        "SELECT device_id, device, instance, value FROM (\
         SELECT device_id, device, instance, last_value(value ORDER BY time) AS value \
         FROM metrics WHERE metric = {} GROUP BY device_id, device, instance) \
         WHERE value {} {}",
        quote(metric),
        op.sql(),
        number(bound)
    )
}

/// Renders `{{ $labels.NAME }}` and `{{ $value }}` in an annotation template.
pub fn render(template: &str, labels: &BTreeMap<String, String>, value: Option<f64>) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let inner = rest[start + 2..start + end].trim();
        if inner == "$value" {
            match value {
                Some(v) => out.push_str(&format!("{v}")),
                None => out.push_str("(no value)"),
            }
        } else if let Some(name) = inner.strip_prefix("$labels.") {
            out.push_str(labels.get(name.trim()).map(String::as_str).unwrap_or(""));
        } else {
            out.push_str(&rest[start..start + end + 2]);
        }
        rest = &rest[start + end + 2..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(toml_text: &str) -> RuleConfig {
        serde_json::from_value(serde_json::to_value(toml_like(toml_text)).unwrap()).unwrap()
    }

    // Rules arrive as JSON from the API and as TOML from the configuration; both go
    // through serde. JSON is enough here.
    fn toml_like(json: &str) -> serde_json::Value {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn typed_forms_compile_to_sql_and_exactly_one_condition_is_required() {
        let t = rule(
            r#"{"name": "cpu", "threshold": {"metric": "cpu.util_ratio", "op": ">", "value": 0.9}, "for": "5m"}"#,
        );
        assert_eq!(t.for_, Duration::from_secs(300));
        let sql = t.compiled_sql().unwrap();
        assert!(
            sql.contains("metric = 'cpu.util_ratio'") && sql.contains("value > 0.9"),
            "{sql}"
        );
        let a = rule(r#"{"name": "down", "availability": "icmp.up"}"#);
        assert!(a.compiled_sql().unwrap().contains("value = 0.0"));
        let l = rule(r#"{"name": "flap", "log_pattern": {"regex": "UPDOWN", "count": 3}}"#);
        let sql = l.compiled_sql().unwrap();
        assert!(
            sql.contains("regexp_like(message, 'UPDOWN')") && sql.contains(">= 3"),
            "{sql}"
        );
        let none = rule(r#"{"name": "x"}"#);
        assert!(
            none.compiled_sql()
                .unwrap_err()
                .reason
                .contains("typed form")
        );
        let two = rule(r#"{"name": "x", "sql": "SELECT 1", "availability": "poll.ok"}"#);
        assert!(two.compiled_sql().unwrap_err().reason.contains("only one"));
    }

    #[test]
    fn a_recover_bound_on_the_wrong_side_or_hold_sql_on_a_typed_form_is_refused() {
        let wrong = rule(
            r#"{"name": "cpu", "threshold": {"metric": "cpu.util_ratio", "op": ">", "value": 0.9, "recover": 0.95}}"#,
        );
        let why = wrong.compiled_sql().unwrap_err().reason;
        assert!(why.contains("recover = 0.95"), "{why}");
        let low = rule(
            r#"{"name": "low", "rate_of_change": {"metric": "x", "op": "<", "value": 1.0, "recover": 2.0}}"#,
        );
        let hold = low.compiled_hold_sql().unwrap().unwrap();
        assert!(hold.contains("value < 2.0"), "{hold}");
        let eq = rule(
            r#"{"name": "eq", "threshold": {"metric": "x", "op": "=", "value": 1.0, "recover": 1.0}}"#,
        );
        assert!(eq.compiled_sql().is_err());
        let typed_hold =
            rule(r#"{"name": "t", "availability": "icmp.up", "hold_sql": "SELECT 1 AS value"}"#);
        let why = typed_hold.compiled_sql().unwrap_err().reason;
        assert!(why.contains("hold_sql"), "{why}");
        let util = rule(r#"{"name": "u", "utilization": {"above": 0.9, "recover": 0.7}}"#);
        assert!(
            util.compiled_hold_sql()
                .unwrap()
                .unwrap()
                .contains("value > 0.7")
        );
        assert_eq!(
            rule(r#"{"name": "u", "utilization": {"above": 0.9}}"#)
                .compiled_hold_sql()
                .unwrap(),
            None
        );
    }

    #[test]
    fn quotes_in_names_cannot_escape_the_literal() {
        let t = rule(r#"{"name": "q", "availability": "x' OR '1'='1"}"#);
        assert!(t.compiled_sql().unwrap().contains("'x'' OR ''1''=''1'"));
    }

    #[test]
    fn templates_render_labels_and_value() {
        let labels = BTreeMap::from([("device".to_string(), "core-1".to_string())]);
        assert_eq!(
            render(
                "{{ $labels.device }} at {{$value}} {{ other }}",
                &labels,
                Some(0.5)
            ),
            "core-1 at 0.5 {{ other }}"
        );
        assert_eq!(render("v={{ $value }}", &labels, None), "v=(no value)");
        assert_eq!(
            render("open {{ $value", &labels, Some(1.0)),
            "open {{ $value"
        );
    }
}
