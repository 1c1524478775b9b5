//! The audit log: append-only (the database refuses updates and deletes), one row per
//! change, login, token event and, later, SSH command.

use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::devices::rfc3339;
use crate::{InventoryError, Store, now_ms};

/// Field names whose values are replaced by `"<redacted>"` in before/after documents.
const SECRET_KEYS: &[&str] = &[
    "password",
    "current_password",
    "new_password",
    "community",
    "auth_key",
    "priv_key",
    "key",
    "token",
    "refresh_token",
    "access_token",
];

/// An entry to append.
#[derive(Clone, Debug, Default)]
pub struct NewAudit {
    /// User name or `token:<name>`; `anonymous` when unknown.
    pub actor: String,
    /// Client address.
    pub source: String,
    /// E.g. `device.create`, `auth.login`.
    pub action: String,
    /// E.g. `device/d-abc`, `user/alice`.
    pub resource: String,
    /// State before (secrets are redacted on append).
    pub before: Option<serde_json::Value>,
    /// State after (secrets are redacted on append).
    pub after: Option<serde_json::Value>,
    /// `success`, `failure` or `denied`.
    pub outcome: String,
}

/// A stored entry.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    /// Sequence number.
    pub id: i64,
    /// When, RFC 3339.
    pub time: String,
    /// Who.
    pub actor: String,
    /// From where.
    pub source: String,
    /// What.
    pub action: String,
    /// On what.
    pub resource: String,
    /// State before.
    pub before: Option<serde_json::Value>,
    /// State after.
    pub after: Option<serde_json::Value>,
    /// Outcome.
    pub outcome: String,
}

/// Filters of `GET /api/v1/audit`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditFilter {
    /// Exact actor.
    pub actor: Option<String>,
    /// Exact action.
    pub action: Option<String>,
    /// Resource prefix, e.g. `device/`.
    pub resource: Option<String>,
    /// Exact outcome.
    pub outcome: Option<String>,
    /// Page size (1 to 1000, default 100); newest first.
    pub limit: Option<i64>,
    /// Rows to skip.
    pub offset: Option<i64>,
}

/// Replaces every secret-named field, at any depth, with `"<redacted>"`.
pub(crate) fn redact(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, val) in m.iter_mut() {
                if SECRET_KEYS.contains(&k.as_str()) && !val.is_null() {
                    *val = serde_json::Value::String("<redacted>".into());
                } else {
                    redact(val);
                }
            }
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(redact),
        _ => {}
    }
}

impl Store {
    /// Appends one entry.
    pub async fn audit(&self, mut e: NewAudit) -> Result<(), InventoryError> {
        let enc = |v: &mut Option<serde_json::Value>| {
            v.as_mut().map(|v| {
                redact(v);
                v.to_string()
            })
        };
        let before = enc(&mut e.before);
        let after = enc(&mut e.after);
        sqlx::query("INSERT INTO audit (time, actor, source, action, resource, before, after, outcome) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
            .bind(now_ms())
            .bind(e.actor)
            .bind(e.source)
            .bind(e.action)
            .bind(e.resource)
            .bind(before)
            .bind(after)
            .bind(e.outcome)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Entries matching `f`, newest first, and the total matching.
    pub async fn audit_entries(
        &self,
        f: &AuditFilter,
    ) -> Result<(Vec<AuditEntry>, i64), InventoryError> {
        let limit = f.limit.unwrap_or(100);
        let offset = f.offset.unwrap_or(0);
        if !(1..=1000).contains(&limit) || offset < 0 {
            return Err(InventoryError::field(
                "limit",
                "limit must be 1 to 1000 and offset not negative",
            ));
        }
        let mut clauses = vec!["1 = 1".to_string()];
        let mut args: Vec<String> = Vec::new();
        for (col, v, op) in [
            ("actor", &f.actor, "="),
            ("action", &f.action, "="),
            ("outcome", &f.outcome, "="),
            ("resource", &f.resource, "LIKE"),
        ] {
            if let Some(v) = v {
                let v = if op == "LIKE" {
                    format!(
                        "{}%",
                        v.replace('\\', "\\\\")
                            .replace('%', "\\%")
                            .replace('_', "\\_")
                    )
                } else {
                    v.clone()
                };
                args.push(v);
                let esc = if op == "LIKE" { " ESCAPE '\\'" } else { "" };
                clauses.push(format!("{col} {op} ${}{esc}", args.len()));
            }
        }
        let filter = clauses.join(" AND ");
        let mut count = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*) FROM audit WHERE {filter}"
        )));
        for a in &args {
            count = count.bind(a.clone());
        }
        let total = count.fetch_one(&self.pool).await?;
        let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT id, time, actor, source, action, resource, before, after, outcome FROM audit WHERE {filter} ORDER BY id DESC LIMIT {limit} OFFSET {offset}"
        )));
        for a in &args {
            q = q.bind(a.clone());
        }
        let rows = q.fetch_all(&self.pool).await?;
        let json = |s: Option<String>| s.and_then(|s| serde_json::from_str(&s).ok());
        let entries = rows
            .iter()
            .map(|r| {
                Ok(AuditEntry {
                    id: r.try_get("id")?,
                    time: rfc3339(r.try_get("time")?),
                    actor: r.try_get("actor")?,
                    source: r.try_get("source")?,
                    action: r.try_get("action")?,
                    resource: r.try_get("resource")?,
                    before: json(r.try_get("before")?),
                    after: json(r.try_get("after")?),
                    outcome: r.try_get("outcome")?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        Ok((entries, total))
    }
}

impl Store {
    /// Every entry, oldest first (for the `audit` SQL table).
    pub async fn audit_all(&self) -> Result<Vec<AuditEntry>, InventoryError> {
        let rows = sqlx::query("SELECT id, time, actor, source, action, resource, before, after, outcome FROM audit ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        let json = |s: Option<String>| s.and_then(|s| serde_json::from_str(&s).ok());
        rows.iter()
            .map(|r| {
                Ok(AuditEntry {
                    id: r.try_get("id")?,
                    time: rfc3339(r.try_get("time")?),
                    actor: r.try_get("actor")?,
                    source: r.try_get("source")?,
                    action: r.try_get("action")?,
                    resource: r.try_get("resource")?,
                    before: json(r.try_get("before")?),
                    after: json(r.try_get("after")?),
                    outcome: r.try_get("outcome")?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(Into::into)
    }
}
