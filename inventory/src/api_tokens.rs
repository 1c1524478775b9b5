//! API tokens for machines (Grafana, scripts): named, role-bound, optional expiry,
//! revocable, shown once and stored only as a SHA-256 hash.

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::devices::rfc3339;
use crate::{InventoryError, Role, Store, now_ms, random_token, token_hash};

/// An API token's metadata (never the token or its hash).
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ApiToken {
    /// Id.
    pub id: i64,
    /// Name, e.g. `grafana`.
    pub name: String,
    /// Role the token acts with.
    pub role: Role,
    /// Who created it.
    pub created_by: String,
    /// Creation time.
    pub created_at: String,
    /// Expiry, if any.
    pub expires_at: Option<String>,
    /// Revocation time, if revoked.
    pub revoked_at: Option<String>,
}

/// A token just created: the secret value, shown once.
#[derive(Clone, Debug)]
pub struct NewApiToken {
    /// Metadata.
    pub meta: ApiToken,
    /// `sotp_...`, to send as `Authorization: Bearer`.
    pub token: String,
}

fn token_from_row(row: &AnyRow) -> Result<ApiToken, InventoryError> {
    let role: String = row.try_get("role")?;
    Ok(ApiToken {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        role: role
            .parse()
            .map_err(|e: String| InventoryError::Database(sqlx::Error::Decode(e.into())))?,
        created_by: row.try_get("created_by")?,
        created_at: rfc3339(row.try_get("created_at")?),
        expires_at: row.try_get::<Option<i64>, _>("expires_at")?.map(rfc3339),
        revoked_at: row.try_get::<Option<i64>, _>("revoked_at")?.map(rfc3339),
    })
}

impl Store {
    /// Creates an API token; the value is returned once and stored only as a hash.
    pub async fn create_api_token(
        &self,
        name: &str,
        role: Role,
        expires_in_s: Option<i64>,
        created_by: &str,
    ) -> Result<NewApiToken, InventoryError> {
        if name.trim().is_empty() || name.len() > 100 {
            return Err(InventoryError::field("name", "must be 1 to 100 characters"));
        }
        if expires_in_s.is_some_and(|s| s <= 0 || s > 10 * 365 * 86_400) {
            return Err(InventoryError::field(
                "expires_in",
                "must be between 1 s and 10 years",
            ));
        }
        let token = format!("sotp_{}", random_token(32));
        let now = now_ms();
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO api_tokens (name, role, token_hash, created_by, created_at, expires_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, NULL) RETURNING id",
        )
        .bind(name.trim())
        .bind(role.as_str())
        .bind(token_hash(&token))
        .bind(created_by)
        .bind(now)
        .bind(expires_in_s.map(|s| now + s * 1000))
        .fetch_one(&self.pool)
        .await?;
        Ok(NewApiToken {
            meta: self.api_token(id).await?,
            token,
        })
    }

    /// One API token's metadata.
    pub async fn api_token(&self, id: i64) -> Result<ApiToken, InventoryError> {
        let row = sqlx::query("SELECT * FROM api_tokens WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref()
            .map(token_from_row)
            .transpose()?
            .ok_or_else(|| InventoryError::NotFound(format!("token {id}")))
    }

    /// Every API token's metadata.
    pub async fn api_tokens(&self) -> Result<Vec<ApiToken>, InventoryError> {
        let rows = sqlx::query("SELECT * FROM api_tokens ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(token_from_row).collect()
    }

    /// Revokes an API token.
    pub async fn revoke_api_token(&self, id: i64) -> Result<ApiToken, InventoryError> {
        self.api_token(id).await?;
        sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now_ms())
            .bind(id)
            .execute(&self.pool)
            .await?;
        self.api_token_cache.invalidate();
        self.api_token(id).await
    }

    /// The live token with this value, if any (not revoked, not expired). A token
    /// verified in the last few seconds is answered from memory (see `token_cache`).
    pub async fn check_api_token(&self, token: &str) -> Result<Option<ApiToken>, InventoryError> {
        let hash = token_hash(token);
        let now = now_ms();
        if let Some(t) = crate::token_cache::live(&self.api_token_cache, &hash, now) {
            return Ok(Some(t));
        }
        let generation = self.api_token_cache.generation();
        let row = sqlx::query("SELECT * FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)")
            .bind(&hash)
            .bind(now)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let t = token_from_row(&row)?;
        let expires_ms: Option<i64> = row.try_get("expires_at")?;
        let verified = crate::token_cache::Verified {
            token: t.clone(),
            expires_ms,
        };
        self.api_token_cache.put(hash, generation, verified);
        Ok(Some(t))
    }
}
