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
use sotp_inventory::{
    Alert, AlertFilter, AlertTransition, Attempt, Notification, Silence, StoredRule,
};

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

/// A rule managed through the API as shown: its checked view (`compiled_sql`) with
/// who made it and when; a stored rule that no longer checks (after an upgrade) says why.
fn api_rule_view(st: &ApiState, r: &StoredRule) -> serde_json::Value {
    let mut v = match st.alerting.check(&r.body) {
        Ok(v) => v,
        Err(why) => {
            let mut b = r.body.clone();
            if let serde_json::Value::Object(m) = &mut b {
                m.insert("invalid".into(), why.into());
            }
            b
        }
    };
    if let serde_json::Value::Object(m) = &mut v {
        m.insert("managed_by".into(), "api".into());
        m.insert("created_by".into(), r.created_by.clone().into());
        m.insert("created_at".into(), r.created_at.clone().into());
        m.insert("updated_by".into(), r.updated_by.clone().into());
        m.insert("updated_at".into(), r.updated_at.clone().into());
    }
    v
}

fn config_managed(name: &str) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "config_managed",
        format!(
            "alert rule `{name}` is managed by the configuration file: change it there and restart"
        ),
    )
}

/// The rule's `name` field, which must be `expected` when given.
fn rule_name(body: &serde_json::Value, expected: Option<&str>) -> Result<String, ApiError> {
    let invalid =
        |why: String| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_rule", why);
    match (body.get("name"), expected) {
        (None, Some(e)) => Ok(e.to_string()),
        (Some(serde_json::Value::String(n)), Some(e)) if n != e => Err(invalid(format!(
            "the body names rule `{n}` but the path names `{e}`; a rule is renamed by deleting it and creating another"
        ))),
        (Some(serde_json::Value::String(n)), _) => {
            let ok = !n.is_empty()
                && n.len() <= 100
                && n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._- ".contains(c))
                && n.trim() == n
                && !n.starts_with("sotp.");
            match ok {
                true => Ok(n.clone()),
                false => Err(invalid(format!(
                    "name `{n}`: 1 to 100 letters, digits, spaces inside, `.`, `_` or `-`, not starting with `sotp.` (SOTP's own rules)"
                ))),
            }
        }
        _ => Err(invalid("the rule needs a `name` (text)".into())),
    }
}

/// The rule with its `name` set to `name`, checked: its view, or 422 with the reason.
fn checked(
    st: &ApiState,
    mut body: serde_json::Value,
    name: &str,
) -> Result<serde_json::Value, ApiError> {
    match &mut body {
        serde_json::Value::Object(m) => {
            m.insert("name".into(), name.into());
        }
        _ => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_rule",
                "a rule is a JSON object with the fields of [[alert_rules]]",
            ));
        }
    }
    st.alerting
        .check(&body)
        .map_err(|why| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_rule", why))?;
    Ok(body)
}

/// Alert rules: the configuration's and those managed through the API, typed forms
/// shown with the SQL they compile to (`compiled_sql`) and where each is managed
/// (`managed_by`: `config` or `api`).
#[utoipa::path(get, path = "/api/v1/alert-rules", tag = "alerts",
    responses((status = 200, description = "rules", body = RuleList)),
    security(("bearer" = ["alerts.read"])))]
pub async fn list_rules(State(st): State<ApiState>) -> Result<Json<RuleList>, ApiError> {
    let mut items = st.alerting.rules();
    for r in st.control.store.alert_rules().await? {
        items.push(api_rule_view(&st, &r));
    }
    Ok(Json(RuleList { items }))
}

/// Creates an alert rule (the fields of `[[alert_rules]]`, as JSON). It is checked as
/// the configuration's rules are and refused with the reason; the streaming stage runs
/// it within seconds, from the first whole window after it arrives.
#[utoipa::path(post, path = "/api/v1/alert-rules", tag = "alerts",
    request_body = serde_json::Value,
    responses(
        (status = 201, description = "created: the rule with its compiled SQL"),
        (status = 409, description = "a rule of that name exists", body = ErrorBody),
        (status = 422, description = "the rule is refused, with the reason", body = ErrorBody)),
    security(("bearer" = ["alerts.write"])))]
pub async fn create_rule(
    State(st): State<ApiState>,
    Extension(p): Extension<Principal>,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let name = rule_name(&body, None)?;
    if st.alerting.is_configured(&name) {
        return Err(config_managed(&name));
    }
    let body = checked(&st, body, &name)?;
    let stored = st
        .control
        .store
        .create_alert_rule(&name, &body, &p.actor)
        .await?;
    audit(
        &st,
        &p,
        "alert_rule.create",
        format!("alert_rule/{name}"),
        None,
        Some(body),
        "success",
    )
    .await;
    Ok((StatusCode::CREATED, Json(api_rule_view(&st, &stored))))
}

/// One alert rule, from the configuration or the API.
#[utoipa::path(get, path = "/api/v1/alert-rules/{id}", tag = "alerts",
    params(("id" = String, Path, description = "The rule's name")),
    responses(
        (status = 200, description = "the rule with its compiled SQL"),
        (status = 404, description = "no such rule", body = ErrorBody)),
    security(("bearer" = ["alerts.read"])))]
pub async fn get_rule(
    State(st): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    if let Some(v) = st
        .alerting
        .rules()
        .into_iter()
        .find(|r| r.get("name").and_then(|n| n.as_str()) == Some(id.as_str()))
    {
        return Ok(Json(v));
    }
    let r = st.control.store.alert_rule(&id).await?;
    Ok(Json(api_rule_view(&st, &r)))
}

/// Replaces an alert rule managed through the API (the whole rule; its name stays).
/// Its firing alerts stay firing while the new definition still finds them.
#[utoipa::path(put, path = "/api/v1/alert-rules/{id}", tag = "alerts",
    params(("id" = String, Path, description = "The rule's name")),
    request_body = serde_json::Value,
    responses(
        (status = 200, description = "replaced: the rule with its compiled SQL"),
        (status = 404, description = "no such rule", body = ErrorBody),
        (status = 409, description = "the rule is managed by the configuration file", body = ErrorBody),
        (status = 422, description = "the rule is refused, with the reason", body = ErrorBody)),
    security(("bearer" = ["alerts.write"])))]
pub async fn update_rule(
    State(st): State<ApiState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> Result<Json<serde_json::Value>, ApiError> {
    if st.alerting.is_configured(&id) {
        return Err(config_managed(&id));
    }
    let name = rule_name(&body, Some(&id))?;
    let body = checked(&st, body, &name)?;
    let before = st.control.store.alert_rule(&name).await?;
    let stored = st
        .control
        .store
        .update_alert_rule(&name, &body, &p.actor)
        .await?;
    audit(
        &st,
        &p,
        "alert_rule.update",
        format!("alert_rule/{name}"),
        Some(before.body),
        Some(body),
        "success",
    )
    .await;
    Ok(Json(api_rule_view(&st, &stored)))
}

/// Deletes an alert rule managed through the API; its firing alerts resolve.
#[utoipa::path(delete, path = "/api/v1/alert-rules/{id}", tag = "alerts",
    params(("id" = String, Path, description = "The rule's name")),
    responses(
        (status = 204, description = "deleted"),
        (status = 404, description = "no such rule", body = ErrorBody),
        (status = 409, description = "the rule is managed by the configuration file", body = ErrorBody)),
    security(("bearer" = ["alerts.write"])))]
pub async fn delete_rule(
    State(st): State<ApiState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if st.alerting.is_configured(&id) {
        return Err(config_managed(&id));
    }
    let before = st.control.store.delete_alert_rule(&id).await?;
    audit(
        &st,
        &p,
        "alert_rule.delete",
        format!("alert_rule/{id}"),
        Some(before.body),
        None,
        "success",
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
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
