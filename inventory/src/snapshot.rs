//! What `sotp backup` and `sotp restore` need of the control database: a consistent copy
//! taken while the server runs, an integrity check, and a check that a master key opens
//! every sealed secret (a restore with the wrong key is refused before anything runs).

use std::path::Path;

use crate::store::Backend;
use crate::{InventoryError, MasterKey, Store};

/// The tables whose row counts a backup records and a restore compares.
pub const COUNTED_TABLES: &[&str] = &[
    "devices",
    "secrets",
    "users",
    "api_tokens",
    "audit",
    "alerts",
    "alert_transitions",
    "notifications",
    "silences",
    "alert_rules",
];

impl Store {
    /// Writes a consistent copy of the SQLite database to `path` (`VACUUM INTO`: the state
    /// of one transaction, while writers go on). PostgreSQL is saved with its own tools
    /// (`pg_dump`), so this is an error there.
    pub async fn snapshot_to(&self, path: &Path) -> Result<(), InventoryError> {
        if self.backend() != Backend::Sqlite {
            return Err(InventoryError::field(
                "database.url",
                "the control database is PostgreSQL: save it with pg_dump (docs/operations.md); sotp backup saves the rest",
            ));
        }
        let target = path.to_str().ok_or_else(|| {
            InventoryError::field("backup", "the snapshot path is not valid UTF-8")
        })?;
        sqlx::query("VACUUM INTO $1")
            .bind(target.to_owned())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// SQLite's `PRAGMA integrity_check`; PostgreSQL has nothing to check here.
    pub async fn integrity_check(&self) -> Result<(), InventoryError> {
        if self.backend() != Backend::Sqlite {
            return Ok(());
        }
        let rows: Vec<(String,)> = sqlx::query_as("PRAGMA integrity_check")
            .fetch_all(&self.pool)
            .await?;
        let problems: Vec<String> = rows
            .into_iter()
            .map(|(r,)| r)
            .filter(|r| r != "ok")
            .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(InventoryError::field(
                "database",
                format!("integrity check failed: {}", problems.join("; ")),
            ))
        }
    }

    /// Opens every sealed secret with `key`; returns how many. The first one it does not
    /// open is named in the error (another key sealed it).
    pub async fn check_key(&self, key: &MasterKey) -> Result<usize, InventoryError> {
        let rows: Vec<(String, String, String)> =
            sqlx::query_as("SELECT owner, name, value FROM secrets")
                .fetch_all(&self.pool)
                .await?;
        let mut opened = 0;
        for (owner, name, value) in rows.iter().filter(|(_, _, v)| v.starts_with("enc:")) {
            key.open(owner, name, value).map_err(|_| {
                InventoryError::Secret(format!(
                    "the master key does not open the secret {name} of {owner}: it was sealed under another key"
                ))
            })?;
            opened += 1;
        }
        Ok(opened)
    }

    /// Row counts of [`COUNTED_TABLES`], in that order.
    pub async fn table_counts(&self) -> Result<Vec<(String, i64)>, InventoryError> {
        let mut out = Vec::with_capacity(COUNTED_TABLES.len());
        for table in COUNTED_TABLES {
            let (n,): (i64,) =
                sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
                    .fetch_one(&self.pool)
                    .await?;
            out.push(((*table).to_owned(), n));
        }
        Ok(out)
    }
}
