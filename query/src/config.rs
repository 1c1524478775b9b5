//! `[query]`: limits that keep one query from hurting the process.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// `[query]`: limits applied to every SQL query (HTTP, CLI).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueryConfig {
    /// A query running longer than this is cancelled with a 422 error.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Memory one query may use for sorts, joins and aggregations, in MiB.
    pub memory_limit_mb: usize,
    /// A result with more rows than this is refused with a 422 error; add a LIMIT.
    pub max_rows: usize,
}

impl Default for QueryConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            memory_limit_mb: 1024,
            max_rows: 1_000_000,
        }
    }
}

impl QueryConfig {
    /// Every problem with the values, as (field, reason) pairs.
    pub fn validate(&self) -> Vec<(&'static str, String)> {
        let mut e = Vec::new();
        if self.timeout.is_zero() {
            e.push(("query.timeout", "must be greater than 0".into()));
        }
        if self.memory_limit_mb < 16 {
            e.push((
                "query.memory_limit_mb",
                format!("must be at least 16, got {}", self.memory_limit_mb),
            ));
        }
        if self.max_rows == 0 {
            e.push(("query.max_rows", "must be at least 1".into()));
        }
        e
    }
}
