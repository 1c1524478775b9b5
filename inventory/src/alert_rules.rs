//! Alert rules managed through the API (`/api/v1/alert-rules`). The store keeps each
//! rule's JSON as given, validated by the caller (the evaluator belongs to the stage's
//! crates); the streaming stage reads them all ([`Store::alert_rules`]) and runs them
//! beside the configuration's rules. A rule's name is its id.

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::devices::rfc3339;
use crate::{InventoryError, Store, now_ms};

/// One rule as stored.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct StoredRule {
    /// The rule's name (its id).
    pub name: String,
    /// The rule as JSON, with the fields of `[[alert_rules]]`.
    pub body: serde_json::Value,
    /// Who created it.
    pub created_by: String,
    /// When (RFC 3339).
    pub created_at: String,
    /// Who changed it last.
    pub updated_by: String,
    /// When (RFC 3339).
    pub updated_at: String,
}

fn stored(r: &AnyRow) -> Result<StoredRule, InventoryError> {
    let body: String = r.try_get("body")?;
    Ok(StoredRule {
        name: r.try_get("name")?,
        body: serde_json::from_str(&body).unwrap_or(serde_json::Value::Null),
        created_by: r.try_get("created_by")?,
        created_at: rfc3339(r.try_get("created_at")?),
        updated_by: r.try_get("updated_by")?,
        updated_at: rfc3339(r.try_get("updated_at")?),
    })
}

impl Store {
    /// Every rule managed through the API, by name.
    pub async fn alert_rules(&self) -> Result<Vec<StoredRule>, InventoryError> {
        let rows = sqlx::query("SELECT name, body, created_by, created_at, updated_by, updated_at FROM alert_rules ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(stored).collect()
    }

    /// The rule named `name`.
    pub async fn alert_rule(&self, name: &str) -> Result<StoredRule, InventoryError> {
        let row = sqlx::query("SELECT name, body, created_by, created_at, updated_by, updated_at FROM alert_rules WHERE name = $1")
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(r) => stored(&r),
            None => Err(InventoryError::NotFound(format!("alert rule `{name}`"))),
        }
    }

    /// Stores a new rule; a rule of that name already stored is a conflict.
    pub async fn create_alert_rule(
        &self,
        name: &str,
        body: &serde_json::Value,
        actor: &str,
    ) -> Result<StoredRule, InventoryError> {
        let now = now_ms();
        let r = sqlx::query("INSERT INTO alert_rules (name, body, created_by, created_at, updated_by, updated_at) VALUES ($1, $2, $3, $4, $3, $4)")
            .bind(name)
            .bind(body.to_string())
            .bind(actor)
            .bind(now)
            .execute(&self.pool)
            .await;
        InventoryError::conflict_on_unique(r, || {
            format!(
                "an alert rule named `{name}` exists: change it with PUT /api/v1/alert-rules/{name}"
            )
        })?;
        self.alert_rule(name).await
    }

    /// Replaces the rule named `name`.
    pub async fn update_alert_rule(
        &self,
        name: &str,
        body: &serde_json::Value,
        actor: &str,
    ) -> Result<StoredRule, InventoryError> {
        let n = sqlx::query(
            "UPDATE alert_rules SET body = $2, updated_by = $3, updated_at = $4 WHERE name = $1",
        )
        .bind(name)
        .bind(body.to_string())
        .bind(actor)
        .bind(now_ms())
        .execute(&self.pool)
        .await?
        .rows_affected();
        match n {
            0 => Err(InventoryError::NotFound(format!("alert rule `{name}`"))),
            _ => self.alert_rule(name).await,
        }
    }

    /// Deletes the rule named `name`; returns it as it was.
    pub async fn delete_alert_rule(&self, name: &str) -> Result<StoredRule, InventoryError> {
        let before = self.alert_rule(name).await?;
        sqlx::query("DELETE FROM alert_rules WHERE name = $1")
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(before)
    }
}
