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

/// The polls of the period: one row per device and poll slot (`slot` counts intervals
/// from `from`), up when any echo of the slot was answered.
fn polls(spec: &ReportSpec) -> Result<String, ReportError> {
    let interval_ns = spec.poll_interval.as_nanos();
    let from_ns = spec.from.timestamp_nanos_opt().unwrap_or(i64::MIN);
    Ok(format!(
        "polls AS (\n  SELECT device_id, max(device) AS device,\n    \
         (CAST(time AS BIGINT) - {from_ns}) / {interval_ns} AS slot,\n    \
         max(value) AS up\n  FROM metrics\n  WHERE metric = 'icmp.up' AND time >= {from} AND time < {to}{devices}\n  \
         GROUP BY device_id, slot\n)",
        from = time(spec.from),
        to = time(spec.to),
        devices = device_filter(spec, "device_id")?,
    ))
}

/// Poll slots in the period: the polls a device should have answered.
fn expected_polls(spec: &ReportSpec) -> i64 {
    let period = (spec.to - spec.from).num_nanoseconds().unwrap_or(i64::MAX);
    let interval = spec.poll_interval.as_nanos().min(i64::MAX as u128) as i64;
    let interval = interval.max(1);
    (period + interval - 1) / interval
}

fn availability(spec: &ReportSpec) -> Result<Vec<Query>, ReportError> {
    let interval = spec.poll_interval.as_secs();
    let expected = expected_polls(spec);
    let sla = spec.sla_target;
    let polls = polls(spec)?;
    let known_devices = device_filter(spec, "id")?;
    let per_device = format!(
        "WITH {polls},\nper_device AS (\n  SELECT device_id, max(device) AS device,\n    \
         sum(CASE WHEN up > 0 THEN 1 ELSE 0 END) AS up_polls,\n    \
         sum(CASE WHEN up > 0 THEN 0 ELSE 1 END) AS down_polls\n  FROM polls GROUP BY device_id\n),\n\
         inventory AS (\n  SELECT id AS device_id, name AS device, location FROM devices WHERE true{known_devices}\n),\n\
         report AS (\n  SELECT coalesce(i.device, p.device) AS device,\n    \
         coalesce(i.device_id, p.device_id) AS device_id,\n    \
         coalesce(i.location, '') AS location,\n    \
         coalesce(p.up_polls, 0) AS up_polls,\n    \
         coalesce(p.down_polls, 0) AS down_polls\n  \
         FROM inventory i FULL OUTER JOIN per_device p ON i.device_id = p.device_id\n)"
    );
    let devices = format!(
        "{per_device}\nSELECT device, device_id, location,\n  \
         CAST(up_polls AS DOUBLE) / nullif(up_polls + down_polls, 0) AS uptime_ratio,\n  \
         CAST(up_polls * {interval} AS BIGINT) AS up_seconds,\n  \
         CAST(down_polls * {interval} AS BIGINT) AS downtime_seconds,\n  \
         CAST(({expected} - up_polls - down_polls) * {interval} AS BIGINT) AS unknown_seconds,\n  \
         CAST(up_polls + down_polls AS DOUBLE) / {expected} AS completeness,\n  \
         CAST(up_polls AS DOUBLE) / nullif(up_polls + down_polls, 0) >= {sla} AS sla_met\n\
         FROM report\nORDER BY uptime_ratio ASC NULLS FIRST, device"
    );
    let locations = format!(
        "{per_device}\nSELECT location, count(*) AS devices,\n  \
         CAST(sum(up_polls) AS DOUBLE) / nullif(sum(up_polls + down_polls), 0) AS uptime_ratio,\n  \
         CAST(sum(down_polls) * {interval} AS BIGINT) AS downtime_seconds,\n  \
         CAST(sum({expected} - up_polls - down_polls) * {interval} AS BIGINT) AS unknown_seconds,\n  \
         sum(CASE WHEN CAST(up_polls AS DOUBLE) / nullif(up_polls + down_polls, 0) >= {sla} THEN 1 ELSE 0 END) AS devices_sla_met\n\
         FROM report GROUP BY location\nORDER BY uptime_ratio ASC NULLS FIRST, location"
    );
    // Consecutive down slots are one episode: a slot's number minus its rank among the
    // device's down slots is the same along a run (gaps and islands).
    let from_ns = spec.from.timestamp_nanos_opt().unwrap_or(i64::MIN);
    let interval_ns = spec.poll_interval.as_nanos();
    let episodes = format!(
        "WITH {polls},\ndown AS (\n  SELECT device_id, device, slot,\n    \
         slot - row_number() OVER (PARTITION BY device_id ORDER BY slot) AS run\n  \
         FROM polls WHERE up <= 0\n)\n\
         SELECT max(device) AS device, device_id,\n  \
         arrow_cast({from_ns} + min(slot) * {interval_ns}, 'Timestamp(Nanosecond, Some(\"UTC\"))') AS start,\n  \
         arrow_cast({from_ns} + (max(slot) + 1) * {interval_ns}, 'Timestamp(Nanosecond, Some(\"UTC\"))') AS \"end\",\n  \
         CAST(count(*) * {interval} AS BIGINT) AS downtime_seconds\n\
         FROM down GROUP BY device_id, run\nORDER BY start, device"
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
            sql: availability_timeline(spec, &polls),
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
    (expected + CHART_POINTS - 1) / CHART_POINTS
}

/// Points of a chart at most.
const CHART_POINTS: i64 = 240;

fn availability_timeline(spec: &ReportSpec, polls: &str) -> String {
    let k = slots_per_point(spec).max(1);
    let from_ns = spec.from.timestamp_nanos_opt().unwrap_or(i64::MIN);
    let step_ns = spec.poll_interval.as_nanos() as i64 * k;
    format!(
        "WITH {polls}
SELECT arrow_cast({from_ns} + point * {step_ns}, 'Timestamp(Nanosecond, Some(\"UTC\"))') AS time, up_ratio
         FROM (
  SELECT slot / {k} AS point,
             CAST(sum(CASE WHEN up > 0 THEN 1 ELSE 0 END) AS DOUBLE) / count(*) AS up_ratio
           FROM polls GROUP BY point
)
ORDER BY time"
    )
}

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
    let step_ns = spec.poll_interval.as_nanos() as i64 * slots_per_point(spec).max(1);
    format!(
        "SELECT arrow_cast({from_ns} + point * {step_ns}, 'Timestamp(Nanosecond, Some(\"UTC\"))') AS time, rtt_ms
         FROM (
  SELECT (CAST(time AS BIGINT) - {from_ns}) / {step_ns} AS point, avg(value) AS rtt_ms
           FROM metrics WHERE {filter} AND metric = 'icmp.rtt_ms'
  GROUP BY point
)
ORDER BY time"
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
