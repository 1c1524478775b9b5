//! `[query]`: limits that keep queries from hurting the process or each other.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// `[query]`: limits applied to every SQL query (HTTP, PostgreSQL wire, CLI).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueryConfig {
    /// A query running longer than this is cancelled with a 422 error.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Memory all queries together may use (sorts, joins, aggregations and the results
    /// held for encoding), in MiB: the process's budget for SQL.
    pub memory_budget_mb: usize,
    /// Memory one query may use within the budget, in MiB.
    pub memory_limit_mb: usize,
    /// A result larger than this in memory is refused with a 422 error, in MiB; add a
    /// LIMIT, aggregate, or export it.
    pub max_result_mb: usize,
    /// A result with more rows than this is refused with a 422 error; add a LIMIT.
    pub max_rows: usize,
    /// Queries running at once; more wait in line (up to `queue_timeout`).
    pub concurrency: usize,
    /// Queries one user (or API token) may run at once; more wait in line.
    pub per_user_concurrency: usize,
    /// How long a query waits for its turn before it is refused (503, retry later).
    #[serde(with = "humantime_serde")]
    pub queue_timeout: Duration,
    /// An export (`POST /api/v1/export`, `sotp export`) running longer than this is
    /// cancelled. Exports stream, so `max_rows` and `max_result_mb` do not apply to them;
    /// `memory_limit_mb` does.
    #[serde(with = "humantime_serde")]
    pub export_timeout: Duration,
    /// An export with more rows than this is cancelled.
    pub export_max_rows: usize,
}

impl Default for QueryConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            memory_budget_mb: 1024,
            memory_limit_mb: 512,
            max_result_mb: 256,
            max_rows: 1_000_000,
            concurrency: 8,
            per_user_concurrency: 2,
            queue_timeout: Duration::from_secs(10),
            export_timeout: Duration::from_secs(3600),
            export_max_rows: 1_000_000_000,
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
        if self.memory_budget_mb < self.memory_limit_mb {
            e.push((
                "query.memory_budget_mb",
                format!(
                    "must be at least memory_limit_mb ({}), got {}",
                    self.memory_limit_mb, self.memory_budget_mb
                ),
            ));
        }
        if self.max_result_mb == 0 {
            e.push(("query.max_result_mb", "must be at least 1".into()));
        }
        if self.max_rows == 0 {
            e.push(("query.max_rows", "must be at least 1".into()));
        }
        if self.export_timeout.is_zero() {
            e.push(("query.export_timeout", "must be greater than 0".into()));
        }
        if self.export_max_rows == 0 {
            e.push(("query.export_max_rows", "must be at least 1".into()));
        }
        if self.concurrency == 0 {
            e.push(("query.concurrency", "must be at least 1".into()));
        }
        if self.per_user_concurrency == 0 {
            e.push(("query.per_user_concurrency", "must be at least 1".into()));
        }
        e
    }
}
