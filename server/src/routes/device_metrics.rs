//! `GET /api/v1/devices/{id}/metrics`: one metric of one device as time series (one per
//! instance), in buckets of `step`, for clients that do not speak SQL. Long ranges read
//! the 1-minute rollups (`metrics_1m`) instead of every sample.

use std::time::Duration;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{Float64Type, Int64Type, TimestampNanosecondType};
use axum::Json;
use axum::extract::{Extension, Path, State};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use sotp_query::Caller;

use crate::{ApiError, ApiQuery, ApiState, ErrorBody, Principal};

/// Query-string parameters of `GET /api/v1/devices/{id}/metrics`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SeriesParams {
    /// The metric, e.g. `icmp.rtt_ms` or `if.in_bps`.
    pub metric: String,
    /// Only this instance (an interface name, a CPU index); without it, every instance.
    pub instance: Option<String>,
    /// Start (inclusive): RFC 3339 (`2026-12-01T00:00:00Z`), `now` or `now-DURATION`
    /// (`now-24h`). Default: one hour before `to`.
    pub from: Option<String>,
    /// End (exclusive), in the same forms. Default: `now`.
    pub to: Option<String>,
    /// Bucket width (`30s`, `5m`, `1h`). Default: the smallest of 10s, 30s, 1m, 5m, 15m,
    /// 1h, 6h, 1d giving at most 500 buckets.
    pub step: Option<String>,
    /// `auto` (default): `metrics_1m` when the range is longer than 6 hours and the step
    /// a whole number of minutes, else `metrics`; `raw` or `1m` to choose.
    pub source: Option<String>,
}

/// One bucket of a series. Buckets without samples are left out.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Point {
    /// Start of the bucket (RFC 3339, UTC).
    pub time: String,
    /// Mean of the samples in the bucket.
    pub value: f64,
    /// Smallest sample.
    pub min: f64,
    /// Largest sample.
    pub max: f64,
    /// Number of samples.
    pub samples: i64,
}

/// The series of one instance.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Series {
    /// Interface name, CPU index, ...; null for a metric of the whole device.
    pub instance: Option<String>,
    /// The buckets with samples, in time order.
    pub points: Vec<Point>,
}

/// The answer of `GET /api/v1/devices/{id}/metrics`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeviceSeries {
    /// Device id.
    pub device_id: String,
    /// Device name.
    pub device: String,
    /// The metric.
    pub metric: String,
    /// Start (inclusive, RFC 3339).
    pub from: String,
    /// End (exclusive, RFC 3339).
    pub to: String,
    /// Bucket width in seconds.
    pub step_seconds: u64,
    /// The table read: `metrics` or `metrics_1m`.
    pub source: String,
    /// One series per instance, by instance.
    pub series: Vec<Series>,
}

/// The most buckets one request may ask for.
const MAX_POINTS: u64 = 11_000;
/// Ranges longer than this read the 1-minute rollups in `auto` mode.
const ROLLUP_AFTER: Duration = Duration::from_secs(6 * 3600);
/// Default steps, smallest first.
const STEPS: [u64; 8] = [10, 30, 60, 300, 900, 3600, 6 * 3600, 86_400];

/// One metric of one device in time buckets, from raw samples or 1-minute rollups.
#[utoipa::path(get, path = "/api/v1/devices/{id}/metrics", tag = "devices",
    params(("id" = String, Path, description = "Device id"), SeriesParams),
    responses(
        (status = 200, description = "the series", body = DeviceSeries),
        (status = 400, description = "a parameter is missing or malformed", body = ErrorBody),
        (status = 404, description = "no such device", body = ErrorBody)),
    security(("bearer" = ["query"])))]
pub async fn series(
    State(st): State<ApiState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<SeriesParams>,
) -> Result<Json<DeviceSeries>, ApiError> {
    let now = Utc::now();
    let to = q.to.as_deref().map_or(Ok(now), |t| instant("to", t, now))?;
    let from = match q.from.as_deref() {
        Some(f) => instant("from", f, now)?,
        None => to - chrono::Duration::hours(1),
    };
    if from >= to {
        return Err(ApiError::bad_parameters(format!(
            "`from` ({}) must be before `to` ({})",
            rfc3339(from),
            rfc3339(to)
        )));
    }
    let range = (to - from).to_std().unwrap_or_default();
    let step = match q.step.as_deref() {
        Some(s) => humantime::parse_duration(s)
            .ok()
            .map(|d| d.as_secs())
            .filter(|s| *s >= 1)
            .ok_or_else(|| {
                ApiError::bad_parameters(format!(
                    "`step` must be a duration of at least 1s like 30s, 5m or 1h, got `{s}`"
                ))
            })?,
        None => STEPS
            .into_iter()
            .find(|s| range.as_secs().div_ceil(*s) <= 500)
            .unwrap_or(86_400),
    };
    let buckets = range.as_secs().div_ceil(step);
    if buckets > MAX_POINTS {
        return Err(ApiError::bad_parameters(format!(
            "{buckets} buckets of {step}s asked for, at most {MAX_POINTS}: use a larger step or a shorter range"
        )));
    }
    let rollups = match q.source.as_deref().unwrap_or("auto") {
        "auto" => range > ROLLUP_AFTER && step % 60 == 0,
        "raw" => false,
        "1m" if step % 60 == 0 => true,
        "1m" => {
            return Err(ApiError::bad_parameters(format!(
                "`source=1m` needs a step of whole minutes, got {step}s"
            )));
        }
        other => {
            return Err(ApiError::bad_parameters(format!(
                "`source` must be auto, raw or 1m, got `{other}`"
            )));
        }
    };
    let device = st.control.store.device(&id).await?;
    let sql = series_sql(
        &device.id,
        &q.metric,
        q.instance.as_deref(),
        from,
        to,
        step,
        rollups,
    )?;
    let caller = Caller {
        user: Some(&p.actor),
        tables: Some(p.role.sql_tables()),
    };
    let out = st.engine.execute_for(caller, &sql).await?;
    let mut series: Vec<Series> = Vec::new();
    for b in &out.batches {
        let instance = b.column(0).as_string::<i32>();
        let time = b.column(1).as_primitive::<TimestampNanosecondType>();
        let (value, min, max) = (
            b.column(2).as_primitive::<Float64Type>(),
            b.column(3).as_primitive::<Float64Type>(),
            b.column(4).as_primitive::<Float64Type>(),
        );
        let samples = b.column(5).as_primitive::<Int64Type>();
        for i in 0..b.num_rows() {
            let inst = (!instance.is_null(i)).then(|| instance.value(i).to_string());
            if series.last().is_none_or(|s| s.instance != inst) {
                series.push(Series {
                    instance: inst,
                    points: Vec::new(),
                });
            }
            let t = DateTime::<Utc>::from_timestamp_nanos(time.value(i));
            series.last_mut().expect("pushed above").points.push(Point {
                time: rfc3339(t),
                value: value.value(i),
                min: min.value(i),
                max: max.value(i),
                samples: samples.value(i),
            });
        }
    }
    Ok(Json(DeviceSeries {
        device_id: device.id,
        device: device.name,
        metric: q.metric,
        from: rfc3339(from),
        to: rfc3339(to),
        step_seconds: step,
        source: if rollups { "metrics_1m" } else { "metrics" }.into(),
        series,
    }))
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// `now`, `now-DURATION` or an RFC 3339 time.
fn instant(name: &str, s: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, ApiError> {
    let bad = || {
        ApiError::bad_parameters(format!(
            "`{name}` must be an RFC 3339 time (2026-12-01T00:00:00Z), `now` or `now-DURATION` (now-24h), got `{s}`"
        ))
    };
    if s == "now" {
        return Ok(now);
    }
    if let Some(ago) = s.strip_prefix("now-") {
        let d = humantime::parse_duration(ago).map_err(|_| bad())?;
        return chrono::Duration::from_std(d)
            .ok()
            .and_then(|d| now.checked_sub_signed(d))
            .ok_or_else(bad);
    }
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| bad())
}

/// A SQL string literal of a request value; values with a backslash or a control
/// character are refused rather than escaped.
pub(crate) fn literal(name: &str, s: &str) -> Result<String, ApiError> {
    if s.is_empty() || s.len() > 256 || s.chars().any(|c| c == '\\' || c.is_control()) {
        return Err(ApiError::bad_parameters(format!(
            "`{name}` must be 1 to 256 characters without backslashes or control characters"
        )));
    }
    Ok(format!("'{}'", s.replace('\'', "''")))
}

/// The query of one series: buckets of `step` seconds from the samples, or from the
/// rollups (their mean weighted by each minute's sample count).
fn series_sql(
    device_id: &str,
    metric: &str,
    instance: Option<&str>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    step: u64,
    rollups: bool,
) -> Result<String, ApiError> {
    let (table, value, min, max, samples) = if rollups {
        (
            "metrics_1m",
            "sum(avg * count) / sum(count)",
            "min(min)",
            "max(max)",
            "CAST(sum(count) AS BIGINT)",
        )
    } else {
        (
            "metrics",
            "avg(value)",
            "min(value)",
            "max(value)",
            "CAST(count(value) AS BIGINT)",
        )
    };
    let mut filter = format!(
        "device_id = {} AND metric = {} AND time >= '{}' AND time < '{}'",
        literal("id", device_id)?,
        literal("metric", metric)?,
        rfc3339(from),
        rfc3339(to),
    );
    if let Some(i) = instance {
        filter.push_str(&format!(" AND instance = {}", literal("instance", i)?));
    }
    if !rollups {
        filter.push_str(" AND value IS NOT NULL");
    }
    Ok(format!(
        "SELECT instance, date_bin(INTERVAL '{step} seconds', time) AS bucket, \
         CAST({value} AS DOUBLE) AS value, CAST({min} AS DOUBLE) AS min, \
         CAST({max} AS DOUBLE) AS max, {samples} AS samples \
         FROM {table} WHERE {filter} \
         GROUP BY instance, bucket ORDER BY instance NULLS FIRST, bucket"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_as_rfc3339_or_relative_to_now_and_bad_ones_name_the_parameter() {
        let now = DateTime::parse_from_rfc3339("2026-12-06T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(instant("to", "now", now).unwrap(), now);
        assert_eq!(
            rfc3339(instant("from", "now-90m", now).unwrap()),
            "2026-12-06T10:30:00Z"
        );
        assert_eq!(
            rfc3339(instant("from", "2026-12-01T01:00:00+01:00", now).unwrap()),
            "2026-12-01T00:00:00Z"
        );
        for bad in ["yesterday", "now-", "now-3 parsecs", "2026-12-01"] {
            let e = format!("{:?}", instant("from", bad, now).unwrap_err());
            assert!(e.contains("`from`") && e.contains(bad), "{e}");
        }
    }

    #[test]
    fn request_values_become_quoted_literals_and_backslashes_are_refused() {
        assert_eq!(
            literal("instance", "Gi0/1 'uplink'").unwrap(),
            "'Gi0/1 ''uplink'''"
        );
        assert!(literal("instance", "a\\'b").is_err());
        assert!(literal("metric", "").is_err());
        assert!(literal("metric", "a\nb").is_err());
    }
}
