//! The connection pool, the backend in use and the migrations applied on open.

use std::borrow::Cow;

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AnyPool, SqlSafeStr};

use crate::{InventoryError, MasterKey};

/// Which database holds the inventory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// SQLite file (default, nothing to install).
    Sqlite,
    /// PostgreSQL server (shared by several SOTP processes).
    Postgres,
}

/// One migration per version, per backend; both lists must have the same versions.
const MIGRATIONS: &[(i64, &str, &str, &str)] = &[
    (
        1,
        "init",
        include_str!("../migrations/sqlite/0001_init.sql"),
        include_str!("../migrations/postgres/0001_init.sql"),
    ),
    (
        2,
        "devices_live_name",
        include_str!("../migrations/sqlite/0002_devices_live_name.sql"),
        include_str!("../migrations/postgres/0002_devices_live_name.sql"),
    ),
    (
        3,
        "login_failures",
        include_str!("../migrations/sqlite/0003_login_failures.sql"),
        include_str!("../migrations/postgres/0003_login_failures.sql"),
    ),
    (
        4,
        "alerts",
        include_str!("../migrations/sqlite/0004_alerts.sql"),
        include_str!("../migrations/postgres/0004_alerts.sql"),
    ),
    (
        5,
        "alert_rules",
        include_str!("../migrations/sqlite/0005_alert_rules.sql"),
        include_str!("../migrations/postgres/0005_alert_rules.sql"),
    ),
];

/// The inventory database and the key that seals its secrets.
#[derive(Clone, Debug)]
pub struct Store {
    pub(crate) pool: AnyPool,
    backend: Backend,
    pub(crate) key: MasterKey,
    pub(crate) refresh_ttl: std::time::Duration,
    /// A session ends this long after its login, however often it is refreshed.
    pub(crate) session_lifetime: std::time::Duration,
    /// Ids of devices changed through this store (see [`Store::subscribe_changes`]).
    changes: tokio::sync::broadcast::Sender<String>,
    /// Device-list totals, reused until the next device write.
    pub(crate) device_counts: std::sync::Arc<crate::cache::Cache<String, i64>>,
    /// Device-list page bodies, reused under the same rules as the totals.
    pub(crate) device_pages: std::sync::Arc<crate::page_cache::PageCache<crate::DeviceFilter>>,
    /// API tokens verified in the last seconds (see `token_cache`).
    pub(crate) api_token_cache: std::sync::Arc<crate::token_cache::TokenCache>,
}

impl Store {
    /// Connects to `url` (`sqlite://...` or `postgres://...`), creating a SQLite file
    /// if missing, and applies pending migrations.
    pub async fn open(url: &str, key: MasterKey) -> Result<Self, InventoryError> {
        install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(InventoryError::field(
                "database.url",
                "use sqlite:///path/file.db or postgres://user:pass@host/db",
            ));
        };
        let url = match backend {
            Backend::Sqlite if !url.contains('?') => {
                if let Some(dir) = std::path::Path::new(url.trim_start_matches("sqlite://"))
                    .parent()
                    .filter(|d| !d.as_os_str().is_empty())
                {
                    std::fs::create_dir_all(dir).map_err(|e| {
                        InventoryError::Database(sqlx::Error::Configuration(
                            format!("cannot create {}: {e}", dir.display()).into(),
                        ))
                    })?;
                }
                format!("{url}?mode=rwc")
            }
            _ => url.to_string(),
        };
        let sqlite = backend == Backend::Sqlite;
        let pool = AnyPoolOptions::new()
            .max_connections(if sqlite { 4 } else { 16 })
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if sqlite {
                        // Safe with WAL: a crash loses at most the last commits, never
                        // consistency; avoids an fsync per statement.
                        sqlx::Executor::execute(&mut *conn, "PRAGMA synchronous=NORMAL").await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        if backend == Backend::Sqlite {
            // WAL lets readers run while one writer writes; it persists in the file.
            sqlx::query("PRAGMA journal_mode=WAL")
                .execute(&pool)
                .await?;
        }
        let store = Store {
            pool,
            backend,
            key,
            refresh_ttl: std::time::Duration::from_secs(7 * 86_400),
            session_lifetime: std::time::Duration::from_secs(30 * 86_400),
            changes: tokio::sync::broadcast::Sender::new(4096),
            device_counts: std::sync::Arc::new(crate::list::count_cache()),
            device_pages: Default::default(),
            api_token_cache: std::sync::Arc::new(crate::token_cache::new()),
        };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<(), InventoryError> {
        let migrations = MIGRATIONS
            .iter()
            .map(|(v, name, sqlite, pg)| {
                let sql = if self.backend == Backend::Sqlite {
                    sqlite
                } else {
                    pg
                };
                Migration::new(
                    *v,
                    Cow::Borrowed(*name),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    false,
                )
            })
            .collect();
        Migrator::with_migrations(migrations)
            .run(&self.pool)
            .await?;
        Ok(())
    }

    /// Sets how long a refresh token lives (default 7 days).
    pub fn with_refresh_ttl(mut self, ttl: std::time::Duration) -> Self {
        self.refresh_ttl = ttl;
        self
    }

    /// Sets the absolute lifetime of a session (default 30 days): past it, neither its
    /// refresh tokens nor its access tokens work, however recently it was refreshed.
    pub fn with_session_lifetime(mut self, lifetime: std::time::Duration) -> Self {
        self.session_lifetime = lifetime;
        self
    }

    /// The ids of devices created, changed or deleted through this store (every clone
    /// shares the stream), from now on. A receiver that falls behind gets
    /// `RecvError::Lagged` and should re-read the whole inventory.
    pub fn subscribe_changes(&self) -> tokio::sync::broadcast::Receiver<String> {
        self.changes.subscribe()
    }

    /// After a device write commits: list totals and pages are stale, and followers
    /// hear of it.
    pub(crate) fn changed(&self, id: &str) {
        self.device_counts.invalidate();
        self.device_pages.invalidate();
        // No receiver (a CLI command, a test) is fine.
        let _ = self.changes.send(id.to_string());
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The key sealing secrets.
    pub fn master_key(&self) -> &MasterKey {
        &self.key
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Re-seals every stored secret under `new_key` in one transaction; returns how many.
    /// References (`env:`, `file:`) are left as they are.
    pub async fn rotate_key(&self, new_key: &MasterKey) -> Result<usize, InventoryError> {
        let mut tx = self.pool.begin().await?;
        let rows: Vec<(String, String, String)> =
            sqlx::query_as("SELECT owner, name, value FROM secrets")
                .fetch_all(&mut *tx)
                .await?;
        let mut n = 0;
        for (owner, name, value) in rows {
            if !value.starts_with("enc:") {
                continue;
            }
            let plain = self.key.open(&owner, &name, &value)?;
            let sealed = new_key.seal(&owner, &name, &plain)?;
            sqlx::query("UPDATE secrets SET value = $1 WHERE owner = $2 AND name = $3")
                .bind(sealed)
                .bind(owner)
                .bind(name)
                .execute(&mut *tx)
                .await?;
            n += 1;
        }
        tx.commit().await?;
        Ok(n)
    }
}
