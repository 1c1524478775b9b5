//! The control plane's relational state: devices, secrets, users, sessions, API tokens
//! and the audit log, in SQLite (default) or PostgreSQL.
//!
//! [`Store::open`] connects and applies the migrations of its backend
//! (`migrations/sqlite`, `migrations/postgres`, kept in step). Queries are plain runtime
//! SQL through sqlx's `Any` driver, written once for both backends. Secrets are sealed
//! with a [`MasterKey`] that never comes from the database.

mod alert_rules;
mod alerts;
mod api_tokens;
mod audit;
mod cache;
mod config;
mod device_model;
mod devices;
mod error;
mod list;
mod page_cache;
mod role;
mod secrets;
mod snapshot;
mod store;
mod token_cache;
mod users;
mod validate;
mod wire;

pub use alert_rules::StoredRule;
pub use alerts::{
    Alert, AlertFilter, AlertTransition, Attempt, NewNotification, Notification, Silence,
};
pub use api_tokens::{ApiToken, NewApiToken};
pub use audit::{AuditEntry, AuditFilter, NewAudit};
pub use config::{DatabaseConfig, SecretsConfig};
pub use device_model::{
    CollectorSettings, DeviceInput, ManagedBy, SnmpView, SshInput, SshView, StoredDevice,
};
pub use error::{FieldError, InventoryError};
pub use list::{DeviceFilter, DevicePage, SORT_FIELDS};
pub use role::{Permission, Role};
pub use secrets::{MasterKey, write_private};
pub use snapshot::COUNTED_TABLES;
/// The database driver's error, inside [`InventoryError::Database`].
pub use sqlx::Error as SqlxError;
pub use store::{Backend, Store};
pub use users::{LoginOutcome, Session, User};

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A random URL-safe token of `bytes` random bytes.
pub fn random_token(bytes: usize) -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut b = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// SHA-256 of a high-entropy token, hex: how refresh and API tokens are stored.
pub fn token_hash(token: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests;
