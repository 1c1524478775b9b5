//! Alerts, their timelines and notifications, acknowledgements, manual resolves,
//! silences, receivers and rules (listed, and backtested over stored data).
//!
//! The alert book lives in the control database (`sotp_inventory::alerts`), filled from
//! the `alerts` topic by the notifier; rules run in the streaming stage. Every change
//! made here is audited.

use std::collections::BTreeMap;

use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use sotp_inventory::{Alert, AlertFilter, AlertTransition, Attempt, Notification, Silence};

use super::devices::{audit, json};
use crate::{ApiError, ApiJson, ApiQuery, ApiState, ErrorBody, Principal};

/// One page of alerts.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AlertPage {
    /// The alerts of the page.
    pub items: Vec<Alert>,
    /// All alerts matching the filters.
    pub total: i64,
}

/// One notification with its attempts.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NotificationDetail {
    /// The notification.
    #[serde(flatten)]
    pub notification: Notification,
    /// Every delivery attempt, oldest first.
    pub attempts_log: Vec<Attempt>,
}

/// An alert with its timeline and notifications.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AlertDetail {
    /// The alert.
    #[serde(flatten)]
    pub alert: Alert,
    /// Every transition, oldest first, with who and when.
    pub timeline: Vec<AlertTransition>,
    /// Every notification and its attempts.
    pub notifications: Vec<NotificationDetail>,
}

/// Alerts with filters, sorting and pagination.
#[utoipa::path(get, path = "/api/v1/alerts", tag = "alerts",
    params(AlertFilter),
    responses(
        (status = 200, description = "one page", body = AlertPage),
        (status = 422, description = "a bad filter", body = ErrorBody)),
    security(("bearer" = ["alerts.read"])))]
pub async fn list(
    State(st): State<ApiState>,
    ApiQuery(f): ApiQuery<AlertFilter>,
) -> Result<Json<AlertPage>, ApiError> {
    let (items, total) = st.control.store.alerts_page(&f).await?;
    Ok(Json(AlertPage { items, total }))
}

/// One alert with its timeline and every notification attempt.
#[utoipa::path(get, path = "/api/v1/alerts/{id}", tag = "alerts",
    params(("id" = String, Path, description = "Alert id")),
    responses(
        (status = 200, description = "the alert", body = AlertDetail),
        (status = 404, description = "no such alert", body = ErrorBody)),
    security(("bearer" = ["alerts.read"])))]
pub async fn get_one(
    State(st): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<AlertDetail>, ApiError> {
    let store = &st.control.store;
    let alert = store.alert(&id).await?;
    let timeline = store.alert_timeline(&id).await?;
    let mut notifications = Vec::new();
    for n in store.notifications_of(&id).await? {
        let attempts_log = store.attempts_of(n.id).await?;
        notifications.push(NotificationDetail {
            notification: n,
            attempts_log,
        });
    }
    Ok(Json(AlertDetail {
        alert,
        timeline,
        notifications,
    }))
}

/// `POST /api/v1/alerts/{id}/acknowledge` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcknowledgeRequest {
    /// Why, or what is being done.
    #[serde(default)]
    pub comment: String,
    /// Until (RFC 3339); after it the alert fires and is notified again. None: until
    /// it resolves.
    #[serde(default)]
    pub until: Option<String>,
}

/// `POST /api/v1/alerts/{id}/resolve` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveRequest {
    /// Why.
    #[serde(default)]
    pub comment: String,
}

fn time_ms(field: &str, s: &str) -> Result<i64, ApiError> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.timestamp_millis())
        .map_err(|e| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_field",
                format!("{field}: `{s}` is not an RFC 3339 time ({e})"),
            )
        })
}

/// Acknowledges a firing alert (optionally until a time).
#[utoipa::path(post, path = "/api/v1/alerts/{id}/acknowledge", tag = "alerts",
    params(("id" = String, Path, description = "Alert id")),
    request_body = AcknowledgeRequest,
    responses(
        (status = 200, description = "acknowledged", body = Alert),
        (status = 404, description = "no such alert", body = ErrorBody),
        (status = 409, description = "the alert is resolved", body = ErrorBody)),
    security(("bearer" = ["alerts.write"])))]
pub async fn acknowledge(
    State(st): State<ApiState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<AcknowledgeRequest>,
) -> Result<Json<Alert>, ApiError> {
    let until = b
        .until
        .as_deref()
        .map(|u| time_ms("until", u))
        .transpose()?;
    let before = st.control.store.alert(&id).await?;
    let a = st
        .control
        .store
        .acknowledge_alert(&id, &p.actor, &b.comment, until)
        .await?;
    audit(
        &st,
        &p,
        "alert.acknowledge",
        format!("alert/{id}"),
        json(&before),
        json(&a),
        "success",
    )
    .await;
    Ok(Json(a))
}

/// Resolves an alert by hand.
#[utoipa::path(post, path = "/api/v1/alerts/{id}/resolve", tag = "alerts",
    params(("id" = String, Path, description = "Alert id")),
    request_body = ResolveRequest,
    responses(
        (status = 200, description = "resolved", body = Alert),
        (status = 404, description = "no such alert", body = ErrorBody),
        (status = 409, description = "already resolved", body = ErrorBody)),
    security(("bearer" = ["alerts.write"])))]
pub async fn resolve(
    State(st): State<ApiState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<ResolveRequest>,
) -> Result<Json<Alert>, ApiError> {
    let before = st.control.store.alert(&id).await?;
    let a = st
        .control
        .store
        .resolve_alert(&id, &p.actor, &b.comment)
        .await?;
    audit(
        &st,
        &p,
        "alert.resolve",
        format!("alert/{id}"),
        json(&before),
        json(&a),
        "success",
    )
    .await;
    Ok(Json(a))
}

/// Active and future silences.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SilenceList {
    /// Silences not yet ended.
    pub items: Vec<Silence>,
}

/// `POST /api/v1/silences` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSilence {
    /// Label name to exact value; an alert matching all is not notified.
    pub matchers: BTreeMap<String, String>,
    /// Start (RFC 3339); default now.
    #[serde(default)]
    pub starts_at: Option<String>,
    /// End (RFC 3339).
    pub ends_at: String,
    /// Why (a maintenance window, a known problem).
    pub comment: String,
}

/// Silences not yet ended.
#[utoipa::path(get, path = "/api/v1/silences", tag = "alerts",
    responses((status = 200, description = "silences", body = SilenceList)),
    security(("bearer" = ["alerts.read"])))]
pub async fn list_silences(State(st): State<ApiState>) -> Result<Json<SilenceList>, ApiError> {
    Ok(Json(SilenceList {
        items: st.control.store.silences(sotp_inventory::now_ms()).await?,
    }))
}

/// Creates a silence (a maintenance window).
#[utoipa::path(post, path = "/api/v1/silences", tag = "alerts",
    request_body = NewSilence,
    responses(
        (status = 201, description = "created", body = Silence),
        (status = 422, description = "invalid fields", body = ErrorBody)),
    security(("bearer" = ["alerts.write"])))]
pub async fn create_silence(
    State(st): State<ApiState>,
    Extension(p): Extension<Principal>,
    ApiJson(b): ApiJson<NewSilence>,
) -> Result<(StatusCode, Json<Silence>), ApiError> {
    let starts = match &b.starts_at {
        Some(s) => time_ms("starts_at", s)?,
        None => sotp_inventory::now_ms(),
    };
    let ends = time_ms("ends_at", &b.ends_at)?;
    let s = st
        .control
        .store
        .create_silence(&b.matchers, starts, ends, &p.actor, &b.comment)
        .await?;
    audit(
        &st,
        &p,
        "silence.create",
        format!("silence/{}", s.id),
        None,
        json(&s),
        "success",
    )
    .await;
    Ok((StatusCode::CREATED, Json(s)))
}

/// Ends a silence now.
#[utoipa::path(delete, path = "/api/v1/silences/{id}", tag = "alerts",
    params(("id" = String, Path, description = "Silence id")),
    responses(
        (status = 204, description = "ended"),
        (status = 404, description = "no such active silence", body = ErrorBody)),
    security(("bearer" = ["alerts.write"])))]
pub async fn expire_silence(
    State(st): State<ApiState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    st.control.store.expire_silence(&id).await?;
    audit(
        &st,
        &p,
        "silence.expire",
        format!("silence/{id}"),
        None,
        None,
        "success",
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

/// The configured rules, receivers (without secrets) and inhibitions.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RuleList {
    /// Each rule as configured, with `compiled_sql`: the SQL it runs.
    pub items: Vec<serde_json::Value>,
}

/// Alert rules, typed forms shown with the SQL they compile to.
#[utoipa::path(get, path = "/api/v1/alert-rules", tag = "alerts",
    responses((status = 200, description = "rules", body = RuleList)),
    security(("bearer" = ["alerts.read"])))]
pub async fn list_rules(State(st): State<ApiState>) -> Json<RuleList> {
    Json(RuleList {
        items: st.alerting.rules(),
    })
}

/// Receivers (never their secrets).
#[utoipa::path(get, path = "/api/v1/receivers", tag = "alerts",
    responses((status = 200, description = "receivers", body = RuleList)),
    security(("bearer" = ["alerts.read"])))]
pub async fn list_receivers(State(st): State<ApiState>) -> Json<RuleList> {
    Json(RuleList {
        items: st.alerting.receivers(),
    })
}

/// `POST /api/v1/alert-rules/test` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BacktestRequest {
    /// A rule, as in `[[alert_rules]]` (JSON).
    pub rule: serde_json::Value,
    /// Start (RFC 3339).
    pub from: String,
    /// End (RFC 3339).
    pub to: String,
}

/// Runs a rule over a past time range of stored metrics (the hot tier and Parquet) with
/// the live evaluator's windows and lifecycle: when it would have fired and resolved.
#[utoipa::path(post, path = "/api/v1/alert-rules/test", tag = "alerts",
    request_body = BacktestRequest,
    responses(
        (status = 200, description = "the transitions, in time order", body = RuleList),
        (status = 422, description = "the rule is refused, with the reason", body = ErrorBody)),
    security(("bearer" = ["alerts.write"])))]
pub async fn backtest(
    State(st): State<ApiState>,
    ApiJson(b): ApiJson<BacktestRequest>,
) -> Result<Json<RuleList>, ApiError> {
    let ns = |f: &str, s: &str| time_ms(f, s).map(|ms| ms.saturating_mul(1_000_000));
    let (from, to) = (ns("from", &b.from)?, ns("to", &b.to)?);
    if to <= from {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            "to must be after from",
        ));
    }
    match st
        .alerting
        .backtest(st.engine.clone(), b.rule, from, to)
        .await
    {
        Ok(items) => Ok(Json(RuleList { items })),
        Err(crate::BacktestError::Invalid(why)) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_rule",
            why,
        )),
        Err(crate::BacktestError::Failed(why)) => Err(ApiError::internal("backtest", why)),
    }
}

/// Query string of `GET /api/v1/alerts/stream`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct StreamParams {
    /// Start after this timeline sequence number (an `id:` of an earlier event, to
    /// resume); default: only what happens from now on.
    pub after: Option<i64>,
}

/// Every alert transition as it is stored (firing, acknowledged, resolved, ...), as
/// Server-Sent Events: `event: alert`, `id:` the timeline sequence number, `data:` the
/// transition with its alert. Ends with `event: end` when the caller's session ends.
#[utoipa::path(get, path = "/api/v1/alerts/stream", tag = "alerts",
    params(StreamParams),
    responses(
        (status = 200, description = "a text/event-stream of transitions"),
        (status = 429, description = "too many live streams for this user", body = ErrorBody)),
    security(("bearer" = ["alerts.read"])))]
pub async fn stream(
    State(st): State<ApiState>,
    Extension(p): Extension<Principal>,
    ApiQuery(q): ApiQuery<StreamParams>,
) -> Result<Response, ApiError> {
    let cursor = match q.after {
        Some(a) => a,
        None => st.control.store.last_transition_id().await?,
    };
    let slot = st.control.stream_slot(&p.actor).ok_or_else(|| {
        ApiError::rate_limited(
            format!(
                "you already hold {} live streams ([auth] streams_per_user): close one first",
                st.control.config().streams_per_user
            ),
            5,
        )
    })?;
    let feed = Feed {
        st,
        principal: p,
        cursor,
        pending: Vec::new(),
        checked: tokio::time::Instant::now(),
        ended: false,
        _slot: slot,
    };
    let events = futures::stream::unfold(feed, |mut f| async move {
        let e = f.next().await?;
        Some((Ok::<_, Infallible>(e), f))
    });
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response())
}

/// One live stream of transitions.
struct Feed {
    st: ApiState,
    principal: Principal,
    cursor: i64,
    pending: Vec<Event>,
    checked: tokio::time::Instant,
    ended: bool,
    _slot: crate::auth::StreamSlot,
}

impl Feed {
    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(e) = self.pending.pop() {
                return Some(e);
            }
            if self.ended {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
            if let Some(end) =
                super::logs::session_end(&self.st, &self.principal, &mut self.checked).await
            {
                self.ended = true;
                return Some(end);
            }
            let store = &self.st.control.store;
            let Ok(rows) = store.transitions_after(self.cursor, 500).await else {
                continue;
            };
            let mut out = Vec::with_capacity(rows.len());
            for (seq, alert_id, t) in rows {
                self.cursor = seq;
                let alert = store.alert(&alert_id).await.ok();
                let data =
                    serde_json::json!({ "transition": t, "alert_id": alert_id, "alert": alert });
                out.push(
                    Event::default()
                        .event("alert")
                        .id(seq.to_string())
                        .data(data.to_string()),
                );
            }
            out.reverse();
            self.pending = out;
        }
    }
}
