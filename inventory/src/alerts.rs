//! The alert book in the control database: every alert's current state and timeline
//! (from the `alerts` topic, idempotently: a transition delivered twice is stored once),
//! acknowledgements and manual resolves, silences, and the notification outbox with
//! every delivery attempt. The notifier (`sotp-notify`) fills and drains the outbox; the
//! API reads and changes the rest.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sotp_schemas::{AlertEvent, AlertState};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::devices::rfc3339;
use crate::{InventoryError, Store, now_ms};

const ALERT_COLUMNS: &str = "id, fingerprint, rule, state, severity, labels, annotations, value, message, receivers, group_key, started_at, ended_at, updated_at, acked_by, ack_comment, ack_until, escalated";

/// One alert: one firing of one rule instance.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Alert {
    /// Id (the same on the `alerts` topic and table).
    pub id: String,
    /// The rule.
    pub rule: String,
    /// `firing`, `acknowledged` or `resolved`.
    pub state: String,
    /// `critical`, `warning` or `info`.
    pub severity: String,
    /// Labels: `alertname`, the rule's labels and the instance's (`device`, ...).
    pub labels: BTreeMap<String, String>,
    /// Rendered annotations.
    pub annotations: BTreeMap<String, String>,
    /// The last observed value.
    pub value: Option<f64>,
    /// The summary.
    pub message: String,
    /// When it started firing (RFC 3339).
    pub started_at: String,
    /// When it resolved (RFC 3339).
    pub ended_at: Option<String>,
    /// Last change (RFC 3339).
    pub updated_at: String,
    /// Who acknowledged it.
    pub acked_by: Option<String>,
    /// The acknowledgement's comment.
    pub ack_comment: Option<String>,
    /// The acknowledgement lasts until (RFC 3339); none: until resolved.
    pub ack_until: Option<String>,
    /// The instance's fingerprint.
    pub fingerprint: String,
    /// Receivers notified.
    pub receivers: Vec<String>,
    /// Notification group.
    #[serde(skip)]
    pub group_key: String,
    /// Start, milliseconds since the epoch.
    #[serde(skip)]
    pub started_ms: i64,
    /// End, milliseconds since the epoch.
    #[serde(skip)]
    pub ended_ms: Option<i64>,
    /// Whether the escalation was queued.
    #[serde(skip)]
    pub escalated: bool,
}

fn alert_from_row(row: &AnyRow) -> Result<Alert, InventoryError> {
    let json_map = |s: String| serde_json::from_str(&s).unwrap_or_default();
    let ended: Option<i64> = row.try_get("ended_at")?;
    let ack_until: Option<i64> = row.try_get("ack_until")?;
    let started: i64 = row.try_get("started_at")?;
    Ok(Alert {
        id: row.try_get("id")?,
        rule: row.try_get("rule")?,
        state: row.try_get("state")?,
        severity: row.try_get("severity")?,
        labels: json_map(row.try_get("labels")?),
        annotations: json_map(row.try_get("annotations")?),
        value: row.try_get("value")?,
        message: row.try_get("message")?,
        started_at: rfc3339(started),
        ended_at: ended.map(rfc3339),
        updated_at: rfc3339(row.try_get("updated_at")?),
        acked_by: row.try_get("acked_by")?,
        ack_comment: row.try_get("ack_comment")?,
        ack_until: ack_until.map(rfc3339),
        fingerprint: row.try_get("fingerprint")?,
        receivers: serde_json::from_str(&row.try_get::<String, _>("receivers")?)
            .unwrap_or_default(),
        group_key: row.try_get("group_key")?,
        started_ms: started,
        ended_ms: ended,
        escalated: row.try_get::<i64, _>("escalated")? != 0,
    })
}

/// One entry of an alert's timeline.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AlertTransition {
    /// When (RFC 3339).
    pub time: String,
    /// `firing`, `acknowledged`, `unacknowledged`, `resolved`.
    pub state: String,
    /// `rule` (the evaluator), `system`, or the user.
    pub actor: String,
    /// A comment.
    pub comment: Option<String>,
}

/// One notification (an alert transition to one receiver) and where it is.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Notification {
    /// Sequence number.
    pub id: i64,
    /// The alert.
    pub alert_id: String,
    /// `firing`, `resolved`, `escalated`, `ack_expired@...`.
    pub transition: String,
    /// The payload's status: `firing` or `resolved`.
    pub payload_status: String,
    /// The receiver.
    pub receiver: String,
    /// Notifications of one group to one receiver go together.
    pub group_key: String,
    /// `pending`, `sent`, `failed` (attempts exhausted) or `suppressed`.
    pub state: String,
    /// Attempts made.
    pub attempts: i64,
    /// When it was queued (RFC 3339).
    pub created_at: String,
    /// Sent at (RFC 3339).
    pub sent_at: Option<String>,
    /// The last attempt's error.
    pub last_error: Option<String>,
    /// The silence or inhibiting alert that suppressed it.
    pub suppressed_by: Option<String>,
}

const NOTIFICATION_COLUMNS: &str = "id, alert_id, transition, payload_status, receiver, group_key, state, attempts, created_at, sent_at, last_error, suppressed_by";

fn notification_from_row(row: &AnyRow) -> Result<Notification, InventoryError> {
    let sent: Option<i64> = row.try_get("sent_at")?;
    Ok(Notification {
        id: row.try_get("id")?,
        alert_id: row.try_get("alert_id")?,
        transition: row.try_get("transition")?,
        payload_status: row.try_get("payload_status")?,
        receiver: row.try_get("receiver")?,
        group_key: row.try_get("group_key")?,
        state: row.try_get("state")?,
        attempts: row.try_get("attempts")?,
        created_at: rfc3339(row.try_get("created_at")?),
        sent_at: sent.map(rfc3339),
        last_error: row.try_get("last_error")?,
        suppressed_by: row.try_get("suppressed_by")?,
    })
}

/// A notification to queue.
#[derive(Clone, Debug, PartialEq)]
pub struct NewNotification {
    /// The alert.
    pub alert_id: String,
    /// What happened (unique per alert and receiver).
    pub transition: String,
    /// `firing` or `resolved`.
    pub payload_status: String,
    /// The receiver.
    pub receiver: String,
    /// Its group.
    pub group_key: String,
    /// Not sent before (milliseconds; the group wait).
    pub not_before: i64,
    /// Suppressed by a silence or an inhibiting alert (stored, never sent).
    pub suppressed_by: Option<String>,
}

/// One delivery attempt of notifications.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Attempt {
    /// The notification.
    pub notification_id: i64,
    /// When (RFC 3339).
    pub time: String,
    /// Delivered.
    pub ok: bool,
    /// Why not.
    pub error: Option<String>,
    /// How long it took.
    pub duration_ms: i64,
}

/// A silence: alerts whose labels match every matcher are not notified between
/// `starts_at` and `ends_at`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Silence {
    /// Id.
    pub id: String,
    /// Label name to exact value.
    pub matchers: BTreeMap<String, String>,
    /// Start (RFC 3339).
    pub starts_at: String,
    /// End (RFC 3339).
    pub ends_at: String,
    /// Who.
    pub created_by: String,
    /// Why.
    pub comment: String,
    /// Start, milliseconds.
    #[serde(skip)]
    pub starts_ms: i64,
    /// End, milliseconds.
    #[serde(skip)]
    pub ends_ms: i64,
}

impl Silence {
    /// True when the silence is active at `now` and matches `labels`.
    pub fn silences(&self, labels: &BTreeMap<String, String>, now: i64) -> bool {
        self.starts_ms <= now
            && now < self.ends_ms
            && self.matchers.iter().all(|(k, v)| labels.get(k) == Some(v))
    }
}

/// Filters of `GET /api/v1/alerts`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AlertFilter {
    /// `firing` (also acknowledged ones), `acknowledged`, `resolved`, or `active`
    /// (firing or acknowledged).
    pub state: Option<String>,
    /// Exact rule name.
    pub rule: Option<String>,
    /// `critical`, `warning` or `info`.
    pub severity: Option<String>,
    /// Only alerts whose `device` or `device_id` label is this.
    pub device: Option<String>,
    /// `started_at` (default, newest first), `-started_at` (oldest first), `severity`.
    pub sort: Option<String>,
    /// Page size (1 to 1000, default 100).
    pub limit: Option<i64>,
    /// Rows to skip.
    pub offset: Option<i64>,
}

impl Store {
    /// Stores one transition from the `alerts` topic: the alert's row and its timeline.
    /// Returns the alert whose receivers are to be notified, or none when there is
    /// nothing new to tell: a replay of a stored transition, or a firing of an instance
    /// that already has an open alert (deduplication by fingerprint: the evaluator
    /// restarted from a checkpoint older than the firing and fired it again). A resolve
    /// closes the instance's open alert, whichever firing opened it.
    pub async fn record_alert_event(
        &self,
        e: &AlertEvent,
    ) -> Result<Option<String>, InventoryError> {
        let time = e.time.0 / 1_000_000;
        let mut tx = self.pool.begin().await?;
        let open: Option<String> = sqlx::query(
            "SELECT id FROM alerts WHERE fingerprint = $1 AND state IN ('firing', 'acknowledged') ORDER BY started_at DESC LIMIT 1",
        )
        .bind(&e.fingerprint)
        .fetch_optional(&mut *tx)
        .await?
        .map(|r| r.try_get("id"))
        .transpose()?;
        let id = match (&open, e.state) {
            (Some(open), _) => open.clone(),
            (None, _) => e.alert_id.clone(),
        };
        let comment = match (&open, e.state) {
            (Some(open), AlertState::Firing) if *open != e.alert_id => {
                format!(
                    "fired again while open (as {}): not notified again",
                    e.alert_id
                )
            }
            _ => e.message.clone(),
        };
        let inserted = sqlx::query(
            "INSERT INTO alert_transitions (alert_id, time, state, actor, comment) VALUES ($1, $2, $3, 'rule', $4) ON CONFLICT DO NOTHING",
        )
        .bind(&id)
        .bind(time)
        .bind(e.state.as_str())
        .bind(comment)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let new = match (e.state, &open) {
            _ if inserted == 0 => false,
            (AlertState::Firing, Some(open)) if *open != e.alert_id => false,
            (AlertState::Resolved, None) => false,
            _ => true,
        };
        if !new {
            tx.commit().await?;
            return Ok(None);
        }
        let labels = serde_json::to_string(&e.labels).unwrap_or_default();
        let annotations = serde_json::to_string(&e.annotations).unwrap_or_default();
        let receivers = serde_json::to_string(&e.receivers).unwrap_or_default();
        let started = e.starts_at.map_or(time, |s| s.0 / 1_000_000);
        match e.state {
            AlertState::Firing => {
                // A firing of a flapping instance updates the alert it belongs to.
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "INSERT INTO alerts ({ALERT_COLUMNS}) VALUES ($1, $2, $3, 'firing', $4, $5, $6, $7, $8, $9, $10, $11, NULL, $12, NULL, NULL, NULL, 0) \
                     ON CONFLICT (id) DO UPDATE SET labels = $5, annotations = $6, value = $7, message = $8, updated_at = $12"
                )))
                .bind(&id)
                .bind(&e.fingerprint)
                .bind(&e.rule_name)
                .bind(&e.severity)
                .bind(labels)
                .bind(annotations)
                .bind(e.value)
                .bind(&e.message)
                .bind(receivers)
                .bind(&e.group_key)
                .bind(started)
                .bind(time)
                .execute(&mut *tx)
                .await?;
                let ms = |s: u64| i64::try_from(s.saturating_mul(1000)).unwrap_or(i64::MAX);
                sqlx::query("UPDATE alerts SET repeat_interval_ms = $2, escalate_after_ms = $3, escalate_to = $4 WHERE id = $1")
                    .bind(&id)
                    .bind(ms(e.repeat_interval_s))
                    .bind(e.escalate_after_s.map(ms))
                    .bind(serde_json::to_string(&e.escalate_to).unwrap_or_default())
                    .execute(&mut *tx)
                    .await?;
            }
            AlertState::Resolved => {
                sqlx::query(
                    "UPDATE alerts SET state = 'resolved', ended_at = $2, updated_at = $2, value = $3 WHERE id = $1 AND state <> 'resolved'",
                )
                .bind(&id)
                .bind(time)
                .bind(e.value)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(Some(id))
    }

    /// Queues notifications; one already queued (same alert, transition and receiver)
    /// is left as it is. Returns how many were new.
    pub async fn queue_notifications(
        &self,
        all: &[NewNotification],
    ) -> Result<u64, InventoryError> {
        let now = now_ms();
        let mut n = 0;
        let mut tx = self.pool.begin().await?;
        for q in all {
            let state = if q.suppressed_by.is_some() {
                "suppressed"
            } else {
                "pending"
            };
            n += sqlx::query(
                "INSERT INTO notifications (alert_id, transition, payload_status, receiver, group_key, state, attempts, created_at, next_attempt_at, suppressed_by) \
                 VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $8, $9) ON CONFLICT DO NOTHING",
            )
            .bind(&q.alert_id)
            .bind(&q.transition)
            .bind(&q.payload_status)
            .bind(&q.receiver)
            .bind(&q.group_key)
            .bind(state)
            .bind(now)
            .bind(q.not_before.max(now))
            .bind(&q.suppressed_by)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        tx.commit().await?;
        Ok(n)
    }

    /// Pending notifications due at `now`, oldest first.
    pub async fn due_notifications(
        &self,
        now: i64,
        limit: i64,
    ) -> Result<Vec<Notification>, InventoryError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE state = 'pending' AND next_attempt_at <= $1 ORDER BY id LIMIT $2"
        )))
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(notification_from_row).collect()
    }

    /// Records one attempt for each of `ids`: delivered, or failed with `error` and
    /// retried at `retry_at` (none: attempts exhausted, the notifications fail).
    pub async fn record_attempt(
        &self,
        ids: &[i64],
        error: Option<&str>,
        duration_ms: i64,
        retry_at: Option<i64>,
    ) -> Result<(), InventoryError> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        for id in ids {
            sqlx::query("INSERT INTO notification_attempts (notification_id, time, ok, error, duration_ms) VALUES ($1, $2, $3, $4, $5)")
                .bind(id)
                .bind(now)
                .bind(i64::from(error.is_none()))
                .bind(error)
                .bind(duration_ms)
                .execute(&mut *tx)
                .await?;
            match (error, retry_at) {
                (None, _) => sqlx::query("UPDATE notifications SET state = 'sent', attempts = attempts + 1, sent_at = $2, last_error = NULL WHERE id = $1")
                    .bind(id)
                    .bind(now),
                (Some(e), Some(at)) => sqlx::query("UPDATE notifications SET attempts = attempts + 1, next_attempt_at = $2, last_error = $3 WHERE id = $1")
                    .bind(id)
                    .bind(at)
                    .bind(e),
                (Some(e), None) => sqlx::query("UPDATE notifications SET state = 'failed', attempts = attempts + 1, last_error = $2 WHERE id = $1")
                    .bind(id)
                    .bind(e),
            }
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Every notification of an alert, oldest first.
    pub async fn notifications_of(
        &self,
        alert_id: &str,
    ) -> Result<Vec<Notification>, InventoryError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE alert_id = $1 ORDER BY id"
        )))
        .bind(alert_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(notification_from_row).collect()
    }

    /// Every attempt of a notification, oldest first.
    pub async fn attempts_of(&self, notification_id: i64) -> Result<Vec<Attempt>, InventoryError> {
        let rows = sqlx::query("SELECT notification_id, time, ok, error, duration_ms FROM notification_attempts WHERE notification_id = $1 ORDER BY id")
            .bind(notification_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(Attempt {
                    notification_id: r.try_get("notification_id")?,
                    time: rfc3339(r.try_get("time")?),
                    ok: r.try_get::<i64, _>("ok")? != 0,
                    error: r.try_get("error")?,
                    duration_ms: r.try_get("duration_ms")?,
                })
            })
            .collect()
    }

    /// One alert.
    pub async fn alert(&self, id: &str) -> Result<Alert, InventoryError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ALERT_COLUMNS} FROM alerts WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| InventoryError::NotFound(format!("alert `{id}`")))?;
        alert_from_row(&row)
    }

    /// Several alerts by id (missing ones left out).
    pub async fn alerts_by_id(&self, ids: &[String]) -> Result<Vec<Alert>, InventoryError> {
        let mut out = Vec::with_capacity(ids.len());
        let unique: std::collections::BTreeSet<&String> = ids.iter().collect();
        let unique: Vec<&String> = unique.into_iter().collect();
        // One query per 500 ids (placeholders are numbered; both backends take that many).
        for chunk in unique.chunks(500) {
            let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {ALERT_COLUMNS} FROM alerts WHERE id IN ({})",
                marks.join(", ")
            )));
            for id in chunk {
                q = q.bind(*id);
            }
            for row in q.fetch_all(&self.pool).await? {
                out.push(alert_from_row(&row)?);
            }
        }
        Ok(out)
    }

    /// Pending notifications not yet attempted (waiting for their group), oldest first.
    pub async fn waiting_notifications(&self) -> Result<Vec<Notification>, InventoryError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE state = 'pending' AND attempts = 0 ORDER BY id"
        )))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(notification_from_row).collect()
    }

    /// An alert's timeline, oldest first.
    pub async fn alert_timeline(&self, id: &str) -> Result<Vec<AlertTransition>, InventoryError> {
        let rows = sqlx::query("SELECT time, state, actor, comment FROM alert_transitions WHERE alert_id = $1 ORDER BY time, id")
            .bind(id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(AlertTransition {
                    time: rfc3339(r.try_get("time")?),
                    state: r.try_get("state")?,
                    actor: r.try_get("actor")?,
                    comment: r.try_get("comment")?,
                })
            })
            .collect()
    }

    /// The sequence number of the newest timeline entry (0 when there is none).
    pub async fn last_transition_id(&self) -> Result<i64, InventoryError> {
        let row = sqlx::query("SELECT max(id) AS n FROM alert_transitions")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<Option<i64>, _>("n")?.unwrap_or(0))
    }

    /// Timeline entries after sequence number `after`, oldest first, at most `limit`:
    /// (sequence number, alert id, entry).
    pub async fn transitions_after(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<(i64, String, AlertTransition)>, InventoryError> {
        let rows = sqlx::query("SELECT id, alert_id, time, state, actor, comment FROM alert_transitions WHERE id > $1 ORDER BY id LIMIT $2")
            .bind(after)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("id")?,
                    r.try_get("alert_id")?,
                    AlertTransition {
                        time: rfc3339(r.try_get("time")?),
                        state: r.try_get("state")?,
                        actor: r.try_get("actor")?,
                        comment: r.try_get("comment")?,
                    },
                ))
            })
            .collect()
    }

    /// Alerts matching `f`, and the total matching.
    pub async fn alerts_page(&self, f: &AlertFilter) -> Result<(Vec<Alert>, i64), InventoryError> {
        let limit = f.limit.unwrap_or(100);
        let offset = f.offset.unwrap_or(0);
        if !(1..=1000).contains(&limit) || offset < 0 {
            return Err(InventoryError::field(
                "limit",
                "limit must be 1 to 1000 and offset not negative",
            ));
        }
        let mut clauses = vec!["1 = 1".to_string()];
        let mut binds: Vec<String> = Vec::new();
        match f.state.as_deref() {
            None => {}
            Some("firing") | Some("active") => {
                clauses.push("state IN ('firing', 'acknowledged')".into())
            }
            Some(s @ ("acknowledged" | "resolved")) => {
                binds.push(s.to_string());
                clauses.push(format!("state = ${}", binds.len()));
            }
            Some(other) => {
                return Err(InventoryError::field(
                    "state",
                    format!(
                        "unknown state `{other}`: use firing, acknowledged, resolved or active"
                    ),
                ));
            }
        }
        if let Some(r) = &f.rule {
            binds.push(r.clone());
            clauses.push(format!("rule = ${}", binds.len()));
        }
        if let Some(s) = &f.severity {
            if !["critical", "warning", "info"].contains(&s.as_str()) {
                return Err(InventoryError::field(
                    "severity",
                    "use critical, warning or info",
                ));
            }
            binds.push(s.clone());
            clauses.push(format!("severity = ${}", binds.len()));
        }
        if let Some(d) = &f.device {
            // Labels are a JSON object with sorted keys: match the exact pair.
            for key in ["device", "device_id"] {
                binds.push(format!(
                    "%{}%",
                    serde_json::to_string(&BTreeMap::from([(key, d)]))
                        .unwrap_or_default()
                        .trim_matches(|c| c == '{' || c == '}')
                ));
            }
            clauses.push(format!(
                "(labels LIKE ${} OR labels LIKE ${})",
                binds.len() - 1,
                binds.len()
            ));
        }
        let order = match f.sort.as_deref().unwrap_or("started_at") {
            "started_at" => "started_at DESC, id",
            "-started_at" => "started_at ASC, id",
            "severity" => {
                "CASE severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END, started_at DESC, id"
            }
            other => {
                return Err(InventoryError::field(
                    "sort",
                    format!("cannot sort by `{other}`: use started_at, -started_at or severity"),
                ));
            }
        };
        let filter = clauses.join(" AND ");
        let mut count = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) AS n FROM alerts WHERE {filter}"
        )));
        for b in &binds {
            count = count.bind(b);
        }
        let total: i64 = count.fetch_one(&self.pool).await?.try_get("n")?;
        let mut page = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ALERT_COLUMNS} FROM alerts WHERE {filter} ORDER BY {order} LIMIT {limit} OFFSET {offset}"
        )));
        for b in &binds {
            page = page.bind(b);
        }
        let rows = page.fetch_all(&self.pool).await?;
        let items = rows.iter().map(alert_from_row).collect::<Result<_, _>>()?;
        Ok((items, total))
    }

    /// Firing (not acknowledged, not resolved) alerts of `rule`.
    pub async fn firing_alerts(&self, rule: &str) -> Result<Vec<Alert>, InventoryError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ALERT_COLUMNS} FROM alerts WHERE rule = $1 AND state IN ('firing', 'acknowledged')"
        )))
        .bind(rule)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(alert_from_row).collect()
    }

    /// Acknowledges a firing alert (until `until`, milliseconds; none: until resolved).
    pub async fn acknowledge_alert(
        &self,
        id: &str,
        actor: &str,
        comment: &str,
        until: Option<i64>,
    ) -> Result<Alert, InventoryError> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        let n = sqlx::query("UPDATE alerts SET state = 'acknowledged', acked_by = $2, ack_comment = $3, ack_until = $4, updated_at = $5 WHERE id = $1 AND state IN ('firing', 'acknowledged')")
            .bind(id)
            .bind(actor)
            .bind(comment)
            .bind(until)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            drop(tx);
            self.alert(id).await?;
            return Err(InventoryError::Conflict(format!(
                "alert `{id}` is resolved"
            )));
        }
        self.transition(&mut tx, id, now, "acknowledged", actor, Some(comment))
            .await?;
        tx.commit().await?;
        self.alert(id).await
    }

    /// Resolves an alert by hand. The rule's instance is not touched: while its
    /// condition holds it stays firing in the evaluator, and fires a new alert only
    /// after it resolved there and fired again.
    pub async fn resolve_alert(
        &self,
        id: &str,
        actor: &str,
        comment: &str,
    ) -> Result<Alert, InventoryError> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        let n = sqlx::query("UPDATE alerts SET state = 'resolved', ended_at = $2, updated_at = $2 WHERE id = $1 AND state <> 'resolved'")
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            drop(tx);
            self.alert(id).await?;
            return Err(InventoryError::Conflict(format!(
                "alert `{id}` is already resolved"
            )));
        }
        self.transition(&mut tx, id, now, "resolved", actor, Some(comment))
            .await?;
        tx.commit().await?;
        self.alert(id).await
    }

    /// Acknowledgements whose time ran out at `now`: the alerts fire again (returned).
    pub async fn expire_acknowledgements(&self, now: i64) -> Result<Vec<Alert>, InventoryError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ALERT_COLUMNS} FROM alerts WHERE state = 'acknowledged' AND ack_until IS NOT NULL AND ack_until <= $1"
        )))
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::new();
        for row in &rows {
            let a = alert_from_row(row)?;
            let mut tx = self.pool.begin().await?;
            let n = sqlx::query("UPDATE alerts SET state = 'firing', acked_by = NULL, ack_comment = NULL, ack_until = NULL, updated_at = $2 WHERE id = $1 AND state = 'acknowledged'")
                .bind(&a.id)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if n == 1 {
                self.transition(
                    &mut tx,
                    &a.id,
                    now,
                    "unacknowledged",
                    "system",
                    Some("acknowledgement expired"),
                )
                .await?;
                out.push(a);
            }
            tx.commit().await?;
        }
        Ok(out)
    }

    /// Firing, unacknowledged alerts whose rule's `escalate_after` has passed since
    /// they started, each marked escalated (returned once): (alert, the receivers of
    /// the escalation).
    pub async fn take_escalations(
        &self,
        now: i64,
    ) -> Result<Vec<(Alert, Vec<String>)>, InventoryError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ALERT_COLUMNS}, escalate_to FROM alerts WHERE state = 'firing' AND escalated = 0 \
             AND escalate_after_ms IS NOT NULL AND started_at + escalate_after_ms <= $1"
        )))
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::new();
        for row in &rows {
            let a = alert_from_row(row)?;
            let to: Vec<String> =
                serde_json::from_str(&row.try_get::<String, _>("escalate_to")?).unwrap_or_default();
            let n = sqlx::query("UPDATE alerts SET escalated = 1 WHERE id = $1 AND escalated = 0")
                .bind(&a.id)
                .execute(&self.pool)
                .await?
                .rows_affected();
            if n == 1 {
                out.push((a, to));
            }
        }
        Ok(out)
    }

    /// Firing, unacknowledged alerts due to be notified again (`repeat_interval` since
    /// they started or last repeated), each marked repeated at `now` (returned once).
    pub async fn take_repeats(&self, now: i64) -> Result<Vec<Alert>, InventoryError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ALERT_COLUMNS} FROM alerts WHERE state = 'firing' AND repeat_interval_ms > 0 \
             AND COALESCE(repeated_at, started_at) + repeat_interval_ms <= $1"
        )))
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::new();
        for row in &rows {
            let a = alert_from_row(row)?;
            let n = sqlx::query(
                "UPDATE alerts SET repeated_at = $2 WHERE id = $1 AND state = 'firing' \
                 AND COALESCE(repeated_at, started_at) + repeat_interval_ms <= $2",
            )
            .bind(&a.id)
            .bind(now)
            .execute(&self.pool)
            .await?
            .rows_affected();
            if n == 1 {
                out.push(a);
            }
        }
        Ok(out)
    }

    /// When a notification of `group_key` was last delivered to `receiver`.
    pub async fn last_group_send(
        &self,
        receiver: &str,
        group_key: &str,
    ) -> Result<Option<i64>, InventoryError> {
        let row = sqlx::query(
            "SELECT MAX(sent_at) AS sent FROM notifications WHERE receiver = $1 AND group_key = $2 AND sent_at IS NOT NULL",
        )
        .bind(receiver)
        .bind(group_key)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get("sent")?)
    }

    async fn transition(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        id: &str,
        time: i64,
        state: &str,
        actor: &str,
        comment: Option<&str>,
    ) -> Result<(), InventoryError> {
        sqlx::query("INSERT INTO alert_transitions (alert_id, time, state, actor, comment) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING")
            .bind(id)
            .bind(time)
            .bind(state)
            .bind(actor)
            .bind(comment)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// Creates a silence.
    pub async fn create_silence(
        &self,
        matchers: &BTreeMap<String, String>,
        starts_ms: i64,
        ends_ms: i64,
        created_by: &str,
        comment: &str,
    ) -> Result<Silence, InventoryError> {
        if matchers.is_empty() {
            return Err(InventoryError::field(
                "matchers",
                "a silence needs at least one label matcher",
            ));
        }
        if ends_ms <= starts_ms {
            return Err(InventoryError::field("ends_at", "must be after starts_at"));
        }
        let id = format!("s-{}", hex::encode(rand::random::<[u8; 6]>()));
        sqlx::query("INSERT INTO silences (id, matchers, starts_at, ends_at, created_by, comment, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(&id)
            .bind(serde_json::to_string(matchers).unwrap_or_default())
            .bind(starts_ms)
            .bind(ends_ms)
            .bind(created_by)
            .bind(comment)
            .bind(now_ms())
            .execute(&self.pool)
            .await?;
        Ok(Silence {
            id,
            matchers: matchers.clone(),
            starts_at: rfc3339(starts_ms),
            ends_at: rfc3339(ends_ms),
            created_by: created_by.into(),
            comment: comment.into(),
            starts_ms,
            ends_ms,
        })
    }

    /// Silences not yet ended at `now`.
    pub async fn silences(&self, now: i64) -> Result<Vec<Silence>, InventoryError> {
        let rows = sqlx::query("SELECT id, matchers, starts_at, ends_at, created_by, comment FROM silences WHERE ends_at > $1 ORDER BY starts_at")
            .bind(now)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                let (s, e): (i64, i64) = (r.try_get("starts_at")?, r.try_get("ends_at")?);
                Ok(Silence {
                    id: r.try_get("id")?,
                    matchers: serde_json::from_str(&r.try_get::<String, _>("matchers")?)
                        .unwrap_or_default(),
                    starts_at: rfc3339(s),
                    ends_at: rfc3339(e),
                    created_by: r.try_get("created_by")?,
                    comment: r.try_get("comment")?,
                    starts_ms: s,
                    ends_ms: e,
                })
            })
            .collect()
    }

    /// Ends a silence now.
    pub async fn expire_silence(&self, id: &str) -> Result<(), InventoryError> {
        let n = sqlx::query("UPDATE silences SET ends_at = $2 WHERE id = $1 AND ends_at > $2")
            .bind(id)
            .bind(now_ms())
            .execute(&self.pool)
            .await?
            .rows_affected();
        match n {
            0 => Err(InventoryError::NotFound(format!("active silence `{id}`"))),
            _ => Ok(()),
        }
    }
}
