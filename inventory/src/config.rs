//! `[database]` and `[secrets]` configuration sections.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// `[database]`: where the control plane keeps devices, users, tokens and the audit log.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite:///path/inventory.db` or `postgres://user:pass@host:5432/db`. Empty: SQLite
    /// in `<data_dir>/inventory.db`.
    pub url: String,
}

impl DatabaseConfig {
    /// Every problem, as (field, reason) pairs.
    pub fn validate(&self) -> Vec<(&'static str, String)> {
        let ok = self.url.is_empty()
            || self.url.starts_with("sqlite:")
            || self.url.starts_with("postgres://")
            || self.url.starts_with("postgresql://");
        if ok {
            Vec::new()
        } else {
            vec![(
                "database.url",
                "use sqlite:///path/file.db or postgres://user:pass@host/db".into(),
            )]
        }
    }

    /// The URL to connect to, with SQLite under `data_dir` when none is configured.
    pub fn resolved_url(&self, data_dir: &Path) -> String {
        if self.url.is_empty() {
            format!("sqlite://{}", data_dir.join("inventory.db").display())
        } else {
            self.url.clone()
        }
    }
}

/// `[secrets]`: the master key that seals device credentials at rest.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecretsConfig {
    /// File holding the 32-byte master key (64 hex characters). The `SOTP_MASTER_KEY`
    /// environment variable takes precedence. When neither is set, `sotp run` creates
    /// `<data_dir>/master.key` (mode 0600) on first start. Empty: not set.
    pub key_file: String,
}

impl SecretsConfig {
    /// The configured key file, if any.
    pub fn key_file(&self) -> Option<PathBuf> {
        (!self.key_file.is_empty()).then(|| PathBuf::from(&self.key_file))
    }
}
