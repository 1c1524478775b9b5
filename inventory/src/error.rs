//! Inventory errors, each knowing whether it is the caller's fault.

/// One field that failed validation.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// Dotted path of the field, e.g. `snmp.port`.
    pub field: String,
    /// Why it was refused.
    pub reason: String,
}

/// Why an inventory operation failed.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    /// The input has invalid fields; every one is listed.
    #[error("{} invalid field(s): {}", .0.len(), .0.iter().map(|e| format!("{}: {}", e.field, e.reason)).collect::<Vec<_>>().join("; "))]
    Validation(Vec<FieldError>),
    /// No such object.
    #[error("{0} not found")]
    NotFound(String),
    /// A uniqueness rule was broken (a live device with the same address, a user name).
    #[error("{0}")]
    Conflict(String),
    /// The object may not be changed this way (a device managed by the configuration file).
    #[error("{0}")]
    Refused(String),
    /// Wrong credentials, an expired or revoked token.
    #[error("{0}")]
    Unauthenticated(String),
    /// Too many failed logins for this account from this address: retry later.
    #[error("too many failed logins from this address; retry in {0} s")]
    Throttled(i64),
    /// Sealing or opening a secret failed (a wrong master key, a missing reference).
    #[error("secret: {0}")]
    Secret(String),
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// A migration failed.
    #[error("migration: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
}

impl InventoryError {
    /// True for a database failure that may succeed later.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            InventoryError::Database(_) | InventoryError::Throttled(_)
        )
    }

    /// `r`, with a broken uniqueness rule turned into a conflict that says `why`.
    pub(crate) fn conflict_on_unique<T>(
        r: Result<T, sqlx::Error>,
        why: impl FnOnce() -> String,
    ) -> Result<T, InventoryError> {
        match r {
            Err(sqlx::Error::Database(e))
                if e.kind() == sqlx::error::ErrorKind::UniqueViolation =>
            {
                Err(InventoryError::Conflict(why()))
            }
            other => Ok(other?),
        }
    }

    /// A single-field validation error.
    pub fn field(field: &str, reason: impl Into<String>) -> Self {
        InventoryError::Validation(vec![FieldError {
            field: field.into(),
            reason: reason.into(),
        }])
    }
}
