//! The SQL of every report, as users can read and run it themselves.
//!
//! The period, the poll interval, the SLA target and the device filter are spliced in as
//! literals: times in RFC 3339 (UTC), numbers as numbers, device ids as quoted strings
//! (refused when they hold a backslash or a control character). `docs/reports.md` shows
//! each statement and what its columns mean.

use chrono::{DateTime, SecondsFormat, Utc};

use crate::{Chart, ReportError, ReportKind, ReportSpec};

/// One statement of a report.
#[derive(Clone, Debug, PartialEq)]
pub struct Query {
    /// The section it fills.
    pub name: &'static str,
    /// Its heading.
    pub title: &'static str,
    /// The statement.
    pub sql: String,
    /// Two of its columns drawn as a line chart.
    pub chart: Option<Chart>,
}

/// A SQL string literal; a backslash or a control character is refused, not escaped.
pub fn literal(s: &str) -> Result<String, String> {
    if s.is_empty() || s.len() > 256 || s.chars().any(|c| c == '\\' || c.is_control()) {
        return Err("must be 1 to 256 characters without backslashes or control characters".into());
    }
    Ok(format!("'{}'", s.replace('\'', "''")))
}

fn time(t: DateTime<Utc>) -> String {
    format!("'{}'", t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
}

/// `AND <column> IN (...)` for the report's devices and tags, or nothing for every
/// device. A tag filter keeps the devices of the inventory that carry one of the tags.
fn device_filter(spec: &ReportSpec, column: &str) -> Result<String, ReportError> {
    let quoted = |what: &str, values: &[String]| -> Result<String, ReportError> {
        let v = values
            .iter()
            .map(|d| literal(d).map_err(|e| ReportError::Invalid(format!("{what} `{d}`: {e}"))))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(v.join(", "))
    };
    let mut filter = String::new();
    if !spec.devices.is_empty() {
        filter.push_str(&format!(
            " AND {column} IN ({})",
            quoted("device", &spec.devices)?
        ));
    }
    if !spec.tags.is_empty() {
        filter.push_str(&format!(
            " AND {column} IN (SELECT id FROM devices WHERE array_has_any(tags, make_array({})))",
            quoted("tag", &spec.tags)?
        ));
    }
    Ok(filter)
}

/// The statements of `spec`'s report, in the order of its sections.
pub fn queries(spec: &ReportSpec) -> Result<Vec<Query>, ReportError> {
    Ok(match spec.kind {
        ReportKind::Availability => availability(spec)?,
        ReportKind::Performance => performance(spec)?,
        ReportKind::Alerts => alerts(spec)?,
        ReportKind::Inventory => inventory(spec)?,
    })
}

/// `WHERE` of the ICMP availability samples of the period (and `extra` conditions).
fn up_samples(spec: &ReportSpec, extra: &str) -> Result<String, ReportError> {
    Ok(format!(
        "metric = 'icmp.up'{extra} AND time >= {} AND time < {}{}",
        time(spec.from),
        time(spec.to),
        device_filter(spec, "device_id")?,
    ))
}

/// Poll slots in the period (one poll interval each, counted from `from`).
fn expected_polls(spec: &ReportSpec) -> i64 {
    let period = (spec.to - spec.from).num_nanoseconds().unwrap_or(i64::MAX);
    let interval = spec.poll_interval.as_nanos().min(i64::MAX as u128) as i64;
    let interval = interval.max(1);
    (period + interval - 1) / interval
}

/// Nanoseconds since 1970 as a timestamp column.
fn timestamp(ns_expr: &str) -> String {
    format!("arrow_cast({ns_expr}, 'Timestamp(Nanosecond, Some(\"UTC\"))')")
}

fn availability(spec: &ReportSpec) -> Result<Vec<Query>, ReportError> {
    let interval = spec.poll_interval.as_secs_f64();
    let period = (spec.to - spec.from).num_milliseconds() as f64 / 1000.0;
    let period_s = period.round() as i64;
    let sla = spec.sla_target;
    let known_devices = device_filter(spec, "id")?;
    let samples = up_samples(spec, "")?;
    // One row per device: a scan with a group per device, whatever the period's length.
    // Each poll stands for one interval; a device polled more often than that has its
    // polls weighted down so that they never stand for more than the period.
    let per_device = format!(
        "WITH polls AS (\n  SELECT device_id, max(device) AS device,\n    \
         sum(CASE WHEN value > 0 THEN 1 ELSE 0 END) AS up_polls,\n    \
         sum(CASE WHEN value > 0 THEN 0 ELSE 1 END) AS down_polls\n  \
         FROM metrics\n  WHERE {samples}\n  GROUP BY device_id\n),\n\
         inventory AS (\n  SELECT id AS device_id, name AS device, location FROM devices WHERE true{known_devices}\n),\n\
         counted AS (\n  SELECT coalesce(i.device, p.device) AS device,\n    \
         coalesce(i.device_id, p.device_id) AS device_id,\n    \
         coalesce(i.location, '') AS location,\n    \
         coalesce(p.up_polls, 0) AS up_polls,\n    \
         coalesce(p.down_polls, 0) AS down_polls,\n    \
         least(1.0, {period} / nullif(CAST(coalesce(p.up_polls + p.down_polls, 0) AS DOUBLE) * {interval}, 0)) AS weight\n  \
         FROM inventory i FULL OUTER JOIN polls p ON i.device_id = p.device_id\n),\n\
         report AS (\n  SELECT device, device_id, location, up_polls, down_polls,\n    \
         CAST(round(up_polls * coalesce(weight, 0) * {interval}) AS BIGINT) AS up_seconds,\n    \
         CAST(round(down_polls * coalesce(weight, 0) * {interval}) AS BIGINT) AS downtime_seconds\n  \
         FROM counted\n)"
    );
    let devices = format!(
        "{per_device}\nSELECT device, device_id, location,\n  \
         CAST(up_polls AS DOUBLE) / nullif(up_polls + down_polls, 0) AS uptime_ratio,\n  \
         up_seconds,\n  \
         downtime_seconds,\n  \
         {period_s} - up_seconds - downtime_seconds AS unknown_seconds,\n  \
         CAST(up_seconds + downtime_seconds AS DOUBLE) / {period} AS completeness,\n  \
         CAST(up_polls AS DOUBLE) / nullif(up_polls + down_polls, 0) >= {sla} AS sla_met\n\
         FROM report\nORDER BY uptime_ratio ASC NULLS FIRST, device"
    );
    let locations = format!(
        "{per_device}\nSELECT location, count(*) AS devices,\n  \
         CAST(sum(up_polls) AS DOUBLE) / nullif(sum(up_polls + down_polls), 0) AS uptime_ratio,\n  \
         sum(downtime_seconds) AS downtime_seconds,\n  \
         sum({period_s} - up_seconds - downtime_seconds) AS unknown_seconds,\n  \
         sum(CASE WHEN CAST(up_polls AS DOUBLE) / nullif(up_polls + down_polls, 0) >= {sla} THEN 1 ELSE 0 END) AS devices_sla_met\n\
         FROM report GROUP BY location\nORDER BY uptime_ratio ASC NULLS FIRST, location"
    );
    // Episodes from the unanswered polls alone (few, unless a device is down for long):
    // slots counted from `from`; consecutive slots are one episode, as a slot's number
    // minus its rank among the device's down slots is the same along a run.
    let from_ns = spec.from.timestamp_nanos_opt().unwrap_or(i64::MIN);
    let interval_ns = spec.poll_interval.as_nanos();
    let down_samples = up_samples(spec, " AND value <= 0")?;
    let episodes = format!(
        "WITH down AS (\n  SELECT DISTINCT device_id, device,\n    \
         (CAST(time AS BIGINT) - {from_ns}) / {interval_ns} AS slot\n  \
         FROM metrics\n  WHERE {down_samples}\n),\n\
         runs AS (\n  SELECT device_id, device, slot,\n    \
         slot - row_number() OVER (PARTITION BY device_id ORDER BY slot) AS run\n  FROM down\n)\n\
         SELECT max(device) AS device, device_id,\n  \
         {start} AS start,\n  \
         {end} AS \"end\",\n  \
         CAST(count(DISTINCT slot) * {secs} AS BIGINT) AS downtime_seconds\n\
         FROM runs GROUP BY device_id, run\nORDER BY start, device",
        start = timestamp(&format!("{from_ns} + min(slot) * {interval_ns}")),
        end = timestamp(&format!("{from_ns} + (max(slot) + 1) * {interval_ns}")),
        secs = spec.poll_interval.as_secs(),
    );
    let step_ns = spec.poll_interval.as_nanos() as i64 * slots_per_point(spec);
    let timeline = format!(
        "SELECT {time} AS time, up_ratio\nFROM (\n  \
         SELECT (CAST(time AS BIGINT) - {from_ns}) / {step_ns} AS point,\n    \
         CAST(sum(CASE WHEN value > 0 THEN 1 ELSE 0 END) AS DOUBLE) / count(*) AS up_ratio\n  \
         FROM metrics\n  WHERE {samples}\n  GROUP BY point\n)\nORDER BY time",
        time = timestamp(&format!("{from_ns} + point * {step_ns}")),
    );
    Ok(vec![
        Query {
            name: "devices",
            title: "Availability per device",
            sql: devices,
            chart: None,
        },
        Query {
            name: "locations",
            title: "Availability per location",
            sql: locations,
            chart: None,
        },
        Query {
            name: "episodes",
            title: "Downtime episodes",
            sql: episodes,
            chart: None,
        },
        Query {
            name: "timeline",
            title: "Share of polls answered over the period",
            sql: timeline,
            chart: Some(Chart {
                x: "time",
                y: "up_ratio",
            }),
        },
    ])
}

/// Slots per point of a chart: at most [`CHART_POINTS`] points over the period.
fn slots_per_point(spec: &ReportSpec) -> i64 {
    let expected = expected_polls(spec);
    ((expected + CHART_POINTS - 1) / CHART_POINTS).max(1)
}

/// Points of a chart at most.
const CHART_POINTS: i64 = 240;

/// The metrics of the performance report and their headings.
pub const PERFORMANCE_METRICS: [(&str, &str); 8] = [
    ("icmp.rtt_ms", "Round-trip time (ms)"),
    ("icmp.loss_ratio", "Packet loss (ratio)"),
    ("icmp.jitter_ms", "Jitter (ms)"),
    ("cpu.load_pct", "CPU load (%)"),
    ("mem.used_bytes", "Memory used (bytes)"),
    ("if.in_util_ratio", "Interface utilization in (ratio)"),
    ("if.out_util_ratio", "Interface utilization out (ratio)"),
    ("if.in_errors_per_s", "Interface input errors (/s)"),
];

fn performance(spec: &ReportSpec) -> Result<Vec<Query>, ReportError> {
    let names = PERFORMANCE_METRICS
        .iter()
        .map(|(m, _)| format!("'{m}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let filter = format!(
        "metric IN ({names}) AND value IS NOT NULL AND time >= {} AND time < {}{}",
        time(spec.from),
        time(spec.to),
        device_filter(spec, "device_id")?
    );
    let top = spec.top;
    let devices = format!(
        "SELECT max(device) AS device, device_id, metric,\n  \
         min(value) AS min, avg(value) AS mean,\n  \
         approx_percentile_cont(0.95) WITHIN GROUP (ORDER BY value) AS p95,\n  \
         max(value) AS max, count(*) AS samples\n\
         FROM metrics WHERE {filter}\nGROUP BY device_id, metric\nORDER BY device, metric"
    );
    let top_by = |metric: &str| {
        format!(
            "SELECT max(device) AS device, device_id, avg(value) AS mean, max(value) AS max\n\
             FROM metrics WHERE {filter} AND metric = '{metric}'\n\
             GROUP BY device_id\nORDER BY mean DESC, device\nLIMIT {top}"
        )
    };
    Ok(vec![
        Query {
            name: "devices",
            title: "Statistics per device and metric",
            sql: devices,
            chart: None,
        },
        Query {
            name: "top_rtt",
            title: "Highest mean round-trip time",
            sql: top_by("icmp.rtt_ms"),
            chart: None,
        },
        Query {
            name: "top_loss",
            title: "Highest mean packet loss",
            sql: top_by("icmp.loss_ratio"),
            chart: None,
        },
        Query {
            name: "top_cpu",
            title: "Highest mean CPU load",
            sql: top_by("cpu.load_pct"),
            chart: None,
        },
        Query {
            name: "top_utilization",
            title: "Highest mean interface utilization (in)",
            sql: top_by("if.in_util_ratio"),
            chart: None,
        },
        Query {
            name: "timeline",
            title: "Mean round-trip time over the period (ms)",
            sql: performance_timeline(spec, &filter),
            chart: Some(Chart {
                x: "time",
                y: "rtt_ms",
            }),
        },
    ])
}

fn performance_timeline(spec: &ReportSpec, filter: &str) -> String {
    let from_ns = spec.from.timestamp_nanos_opt().unwrap_or(i64::MIN);
    let step_ns = spec.poll_interval.as_nanos() as i64 * slots_per_point(spec);
    format!(
        "SELECT {time} AS time, rtt_ms\nFROM (\n  \
         SELECT (CAST(time AS BIGINT) - {from_ns}) / {step_ns} AS point, avg(value) AS rtt_ms\n  \
         FROM metrics WHERE {filter} AND metric = 'icmp.rtt_ms'\n  GROUP BY point\n)\nORDER BY time",
        time = timestamp(&format!("{from_ns} + point * {step_ns}")),
    )
}

fn alerts(spec: &ReportSpec) -> Result<Vec<Query>, ReportError> {
    let period = format!(
        "time >= {} AND time < {}{}",
        time(spec.from),
        time(spec.to),
        device_filter(spec, "device_id")?
    );
    let top = spec.top;
    // An alert is resolved once; the time to resolve runs from when it started firing.
    let resolved = format!(
        "resolved AS (\n  SELECT alert_id, rule, severity, device_id, starts_at, time AS resolved_at,\n    \
         CAST(CAST(time AS BIGINT) - CAST(starts_at AS BIGINT) AS DOUBLE) / 1e9 AS seconds_to_resolve\n  \
         FROM alerts WHERE state = 'resolved' AND starts_at IS NOT NULL AND {period}\n)"
    );
    let by = |column: &str| {
        format!(
            "WITH {resolved}\n\
             SELECT f.{column}, f.fired, r.resolved, r.mttr_seconds\n\
             FROM (SELECT {column}, count(*) AS fired FROM alerts WHERE state = 'firing' AND {period} GROUP BY {column}) f\n\
             LEFT JOIN (SELECT {column}, count(*) AS resolved, avg(seconds_to_resolve) AS mttr_seconds FROM resolved GROUP BY {column}) r\n  \
             ON f.{column} IS NOT DISTINCT FROM r.{column}\n\
             ORDER BY f.fired DESC, f.{column}\nLIMIT {top}"
        )
    };
    let severity = format!(
        "WITH {resolved}\n\
         SELECT f.severity, f.fired, r.resolved, r.mttr_seconds\n\
         FROM (SELECT severity, count(*) AS fired FROM alerts WHERE state = 'firing' AND {period} GROUP BY severity) f\n\
         LEFT JOIN (SELECT severity, count(*) AS resolved, avg(seconds_to_resolve) AS mttr_seconds FROM resolved GROUP BY severity) r\n  \
         ON f.severity = r.severity\n\
         ORDER BY f.severity"
    );
    let history = format!(
        "WITH {resolved}\n\
         SELECT alert_id, rule, severity, device_id, starts_at, resolved_at, seconds_to_resolve\n\
         FROM resolved ORDER BY starts_at, alert_id"
    );
    Ok(vec![
        Query {
            name: "severities",
            title: "Alerts by severity (MTTR in seconds)",
            sql: severity,
            chart: None,
        },
        Query {
            name: "rules",
            title: "Noisiest rules",
            sql: by("rule"),
            chart: None,
        },
        Query {
            name: "devices",
            title: "Noisiest devices",
            sql: by("device_id"),
            chart: None,
        },
        Query {
            name: "resolved",
            title: "Resolved alerts and their time to resolve",
            sql: history,
            chart: None,
        },
    ])
}

fn inventory(spec: &ReportSpec) -> Result<Vec<Query>, ReportError> {
    let period = format!("time >= {} AND time < {}", time(spec.from), time(spec.to));
    let devices = format!(
        "WITH seen AS (\n  SELECT device_id,\n    \
         max(CASE WHEN collector = 'icmp' THEN time END) AS icmp_last_seen,\n    \
         max(CASE WHEN collector = 'snmp' THEN time END) AS snmp_last_seen,\n    \
         max(time) AS last_seen\n  FROM metrics WHERE {period} GROUP BY device_id\n),\n\
         logged AS (\n  SELECT device_id, max(time) AS syslog_last_seen FROM logs WHERE {period} GROUP BY device_id\n)\n\
         SELECT d.name AS device, d.id AS device_id, d.address, d.type, d.vendor, d.model, d.location,\n  \
         s.icmp_last_seen, s.snmp_last_seen, l.syslog_last_seen, s.last_seen\n\
         FROM devices d LEFT JOIN seen s ON s.device_id = d.id LEFT JOIN logged l ON l.device_id = d.id\n\
         WHERE true{devices}\nORDER BY d.name",
        devices = device_filter(spec, "d.id")?
    );
    Ok(vec![Query {
        name: "devices",
        title: "Devices",
        sql: devices,
        chart: None,
    }])
}
