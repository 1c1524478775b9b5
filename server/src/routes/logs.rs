//! `GET /api/v1/logs` (search with filters, pagination, CSV) and
//! `GET /api/v1/logs/stream` (live tail as Server-Sent Events), both planned as SQL
//! over the `logs` table by the same [`QueryEngine`](sotp_query::QueryEngine).
//!
//! Every user value enters the SQL as a literal built here: strings are quoted with
//! `'` doubled, times are parsed and re-printed as integers, numbers are parsed, and
//! the regex is compiled first so a bad one is a clear 400.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Extension, State};
use axum::http::header;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Json, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Map, Value};
use sotp_query::{Caller, QueryError, QueryOutput, to_csv, to_json};

use crate::{ApiError, ApiQuery, ApiState, ErrorBody, Principal};

/// Rows of one page at most.
const MAX_LIMIT: usize = 10_000;
/// The live tail only sends rows received at least this long ago, so rows still
/// travelling from the receiver to the table are never skipped.
const TAIL_DELAY: Duration = Duration::from_secs(3);

const COLUMNS: &str = "received_at, time, source_address, device_id, hostname, facility, severity, \
     app_name, procid, msgid, structured_data, vendor_mnemonic, message, \
     encode(raw, 'hex') AS raw_hex, parse_error";

/// The filters shared by both endpoints.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LogFilter {
    /// Device id.
    pub device: Option<String>,
    /// Severity at or above (0 emergency .. 7 debug, or a name such as `warning`).
    pub severity: Option<String>,
    /// Received at or after this RFC 3339 time.
    pub since: Option<String>,
    /// Received before this RFC 3339 time.
    pub until: Option<String>,
    /// The message contains this text (case-insensitive).
    pub contains: Option<String>,
    /// The message matches this regular expression.
    pub regex: Option<String>,
    /// Page size (default 100, at most 10000).
    pub limit: Option<usize>,
    /// Rows to skip (newest first).
    pub offset: Option<usize>,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

const SEVERITIES: [&str; 8] = [
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
];

fn severity(s: &str) -> Result<u8, String> {
    if let Ok(n) = s.parse::<u8>()
        && n <= 7
    {
        return Ok(n);
    }
    let l = s.to_ascii_lowercase();
    let alias = match l.as_str() {
        "emergency" => "emerg",
        "critical" => "crit",
        "error" => "err",
        "warn" => "warning",
        "informational" => "info",
        other => other,
    };
    SEVERITIES
        .iter()
        .position(|n| *n == alias)
        .map(|i| i as u8)
        .ok_or_else(|| format!("severity `{s}`: use 0..7 or a name such as warning"))
}

fn nanos(field: &str, s: &str) -> Result<i64, String> {
    let t = DateTime::parse_from_rfc3339(s).map_err(|e| {
        format!("{field} `{s}` is not an RFC 3339 time such as 2026-01-01T00:00:00Z: {e}")
    })?;
    t.with_timezone(&Utc)
        .timestamp_nanos_opt()
        .ok_or_else(|| format!("{field} `{s}` is outside 1677-09-21..2262-04-11"))
}

fn ts(n: i64) -> String {
    format!("arrow_cast({n}, 'Timestamp(Nanosecond, Some(\"UTC\"))')")
}

/// The WHERE conditions for `f`, or the reason a filter is invalid.
pub(crate) fn conditions(f: &LogFilter) -> Result<Vec<String>, String> {
    let mut c = Vec::new();
    if let Some(d) = &f.device {
        c.push(format!("device_id = {}", quote(d)));
    }
    if let Some(s) = &f.severity {
        c.push(format!("severity <= {}", severity(s)?));
    }
    if let Some(s) = &f.since {
        c.push(format!("received_at >= {}", ts(nanos("since", s)?)));
    }
    if let Some(s) = &f.until {
        c.push(format!("received_at < {}", ts(nanos("until", s)?)));
    }
    if let Some(t) = &f.contains {
        c.push(format!("strpos(lower(message), lower({})) > 0", quote(t)));
    }
    if let Some(r) = &f.regex {
        regex::Regex::new(r).map_err(|e| format!("regex: {e}"))?;
        c.push(format!("regexp_like(message, {})", quote(r)));
    }
    Ok(c)
}

fn where_clause(c: &[String]) -> String {
    if c.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", c.join(" AND "))
    }
}

fn bad(message: &str) -> ApiError {
    ApiError::bad_parameters(message)
}

/// Result rows as objects keyed by column name.
fn objects(out: &QueryOutput) -> Result<Vec<Value>, QueryError> {
    let v = to_json(out)?;
    let names: Vec<String> = out
        .schema
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let rows = v["rows"].as_array().cloned().unwrap_or_default();
    Ok(rows
        .into_iter()
        .map(|r| {
            let m: Map<String, Value> = names
                .iter()
                .cloned()
                .zip(r.as_array().cloned().unwrap_or_default())
                .collect();
            Value::Object(m)
        })
        .collect())
}

/// One page of log search results, newest first.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct LogPage {
    /// The records, each an object keyed by column.
    pub logs: Vec<serde_json::Value>,
    /// The offset of the next page, when there is one.
    pub next_offset: Option<usize>,
}

/// Searches the logs by device, severity, time and text (JSON or CSV).
#[utoipa::path(get, path = "/api/v1/logs", tag = "logs",
    params(LogFilter),
    responses(
        (status = 200, description = "one page (JSON, or CSV with format=csv)", body = LogPage),
        (status = 400, description = "an invalid filter, named", body = ErrorBody)),
    security(("bearer" = ["query"])))]
pub async fn search(
    State(state): State<ApiState>,
    Extension(principal): Extension<Principal>,
    ApiQuery(f): ApiQuery<LogFilter>,
) -> Result<Response, ApiError> {
    let format = f.format.clone().unwrap_or_else(|| "json".into());
    if format != "json" && format != "csv" {
        return Err(bad(&format!("unknown format `{format}`: use json or csv")));
    }
    let limit = f.limit.unwrap_or(100);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(bad(&format!(
            "limit must be between 1 and {MAX_LIMIT}, got {limit}"
        )));
    }
    let offset = f.offset.unwrap_or(0);
    let c = conditions(&f).map_err(|e| bad(&e))?;
    // One row more than asked tells whether there is a next page.
    let sql = format!(
        "SELECT {COLUMNS} FROM logs{} ORDER BY received_at DESC LIMIT {} OFFSET {offset}",
        where_clause(&c),
        limit + 1
    );
    let caller = Caller {
        user: Some(&principal.actor),
        tables: Some(principal.role.sql_tables()),
    };
    let mut out = state.engine.execute_for(caller, &sql).await?;
    let more = out.rows() > limit;
    if more {
        let all = arrow::compute::concat_batches(&out.schema, &out.batches)
            .map_err(|e| ApiError::internal("the log search", e))?;
        out.batches = vec![all.slice(0, limit)];
    }
    if format == "csv" {
        return Ok((
            [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
            to_csv(&out)?,
        )
            .into_response());
    }
    Ok(Json(LogPage {
        logs: objects(&out)?,
        next_offset: more.then_some(offset + limit),
    })
    .into_response())
}

/// Live tail: every new matching record as a server-sent event `log`. The stream ends
/// with an `end` event when the caller's session ends (logout, password or role change,
/// disabled user; rechecked every `[auth] stream_recheck`), and with an `error` event
/// after its query failed five times in a row (waiting longer after each failure). One
/// user may hold at most `[auth] streams_per_user` streams.
#[utoipa::path(get, path = "/api/v1/logs/stream", tag = "logs",
    params(LogFilter),
    responses(
        (status = 200, description = "text/event-stream of `log` events (one JSON record each), then `end` or `error`", content_type = "text/event-stream", body = String),
        (status = 400, description = "an invalid filter, named", body = ErrorBody),
        (status = 429, description = "this user already holds `[auth] streams_per_user` streams", body = ErrorBody)),
    security(("bearer" = ["query"])))]
pub async fn stream(
    State(state): State<ApiState>,
    Extension(principal): Extension<Principal>,
    ApiQuery(f): ApiQuery<LogFilter>,
) -> Result<Response, ApiError> {
    let conditions = conditions(&f).map_err(|e| bad(&e))?;
    let delay = TAIL_DELAY.as_nanos() as i64;
    // Start at `since`, else at the tail horizon: only new rows.
    let cursor = match &f.since {
        Some(s) => nanos("since", s).map_err(|e| bad(&e))?,
        None => now_ns() - delay,
    };
    let slot = state.control.stream_slot(&principal.actor).ok_or_else(|| {
        ApiError::rate_limited(
            format!(
                "you already hold {} live streams ([auth] streams_per_user): close one first",
                state.control.config().streams_per_user
            ),
            5,
        )
    })?;
    let tail = Tail {
        state,
        principal,
        conditions,
        cursor,
        pending: Vec::new(),
        failures: 0,
        checked: tokio::time::Instant::now(),
        ended: false,
        _slot: slot,
    };
    let events = futures::stream::unfold(tail, |mut t| async move {
        let e = t.next().await?;
        Some((Ok::<_, Infallible>(e), t))
    });
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response())
}

fn now_ns() -> i64 {
    Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX)
}

/// Consecutive failed polls after which a live tail ends.
const MAX_FAILURES: u32 = 5;

/// One live tail.
struct Tail {
    state: ApiState,
    principal: Principal,
    conditions: Vec<String>,
    /// Rows received from here on are not sent yet.
    cursor: i64,
    /// Events to send, last first.
    pending: Vec<Event>,
    failures: u32,
    /// When the caller's session was last checked.
    checked: tokio::time::Instant,
    ended: bool,
    _slot: crate::auth::StreamSlot,
}

impl Tail {
    /// The next event, or none once the stream ended.
    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(e) = self.pending.pop() {
                return Some(e);
            }
            if self.ended {
                return None;
            }
            // After failures, wait longer each time: 0.5 s, 1 s, 2 s... up to 30 s.
            let wait =
                Duration::from_millis(500 << self.failures.min(6)).min(Duration::from_secs(30));
            tokio::time::sleep(wait).await;
            if let Some(end) = self.recheck().await {
                self.ended = true;
                return Some(end);
            }
            let horizon = now_ns() - TAIL_DELAY.as_nanos() as i64;
            if horizon <= self.cursor {
                continue;
            }
            let mut cond = self.conditions.clone();
            cond.push(format!("received_at >= {}", ts(self.cursor)));
            cond.push(format!("received_at < {}", ts(horizon)));
            let sql = format!(
                "SELECT {COLUMNS} FROM logs{} ORDER BY received_at",
                where_clause(&cond)
            );
            let caller = Caller {
                user: Some(&self.principal.actor),
                tables: Some(self.principal.role.sql_tables()),
            };
            match self
                .state
                .engine
                .execute_for(caller, &sql)
                .await
                .and_then(|o| objects(&o))
            {
                Ok(rows) => {
                    self.cursor = horizon;
                    self.failures = 0;
                    // `pending` pops from the back: reverse to keep order.
                    self.pending = rows
                        .into_iter()
                        .rev()
                        .map(|r| Event::default().event("log").data(r.to_string()))
                        .collect();
                }
                Err(e) => {
                    self.failures += 1;
                    if self.failures >= MAX_FAILURES {
                        self.ended = true;
                    }
                    let body = serde_json::json!({"error": {"code": e.code(), "message": e.to_string(),
                        "ends_stream": self.ended}});
                    return Some(Event::default().event("error").data(body.to_string()));
                }
            }
        }
    }

    /// The `end` event when the caller's session or token no longer holds.
    async fn recheck(&mut self) -> Option<Event> {
        session_end(&self.state, &self.principal, &mut self.checked).await
    }
}

/// For a live stream (logs, alerts): every `[auth] stream_recheck`, whether the caller's
/// session or token still holds; the `end` event to send when it does not.
pub(crate) async fn session_end(
    state: &ApiState,
    principal: &Principal,
    checked: &mut tokio::time::Instant,
) -> Option<Event> {
    if checked.elapsed() < state.control.config().stream_recheck {
        return None;
    }
    *checked = tokio::time::Instant::now();
    let reason = match state.control.still_valid(principal).await {
        Ok(true) => return None,
        Ok(false) => "the session ended (logout, password or role change, or user disabled)",
        Err(e) => {
            tracing::warn!(error = %e, "cannot recheck a live stream's session; ending it");
            "the session could not be checked"
        }
    };
    Some(
        Event::default()
            .event("end")
            .data(serde_json::json!({"reason": reason}).to_string()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_values_are_literals() {
        let f = LogFilter {
            device: Some("r1' OR '1'='1".into()),
            contains: Some("it's".into()),
            severity: Some("warning".into()),
            since: Some("2026-01-01T00:00:00Z".into()),
            regex: Some("^a.*b$".into()),
            ..LogFilter::default()
        };
        let c = conditions(&f).unwrap();
        assert_eq!(c[0], "device_id = 'r1'' OR ''1''=''1'");
        assert_eq!(c[1], "severity <= 4");
        assert!(c[2].contains("1767225600000000000"), "{}", c[2]);
        assert_eq!(c[3], "strpos(lower(message), lower('it''s')) > 0");
    }

    #[test]
    fn bad_filters_say_what_is_wrong() {
        let f = |s: LogFilter| conditions(&s).unwrap_err();
        assert!(
            f(LogFilter {
                severity: Some("loud".into()),
                ..Default::default()
            })
            .contains("severity")
        );
        assert!(
            f(LogFilter {
                since: Some("yesterday".into()),
                ..Default::default()
            })
            .contains("since")
        );
        assert!(
            f(LogFilter {
                regex: Some("(".into()),
                ..Default::default()
            })
            .contains("regex")
        );
    }
}
