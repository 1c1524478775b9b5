//! Query errors, each with its HTTP status and a stable code (every front door maps
//! them the same way: HTTP by the status, PostgreSQL wire by the code).

use datafusion::error::DataFusionError;

/// Why a query did not produce a result.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The SQL does not parse or plan (syntax, unknown table or column, type error).
    #[error("{0}")]
    Invalid(String),
    /// The statement is not a read-only query.
    #[error("{0}")]
    Refused(String),
    /// The query ran longer than `[query] timeout`.
    #[error("query cancelled after the time limit of {0}")]
    TimeLimit(String),
    /// The query needed more memory than `[query] memory_limit_mb`.
    #[error("query needs more than the memory limit of {limit_mb} MiB: {detail}")]
    MemoryLimit {
        /// The configured limit.
        limit_mb: usize,
        /// DataFusion's message.
        detail: String,
    },
    /// The result has more rows than `[query] max_rows`.
    #[error("result has more than {0} rows (the row limit); add a LIMIT or aggregate")]
    RowLimit(usize),
    /// The result is larger than `[query] max_result_mb`.
    #[error(
        "result is larger than {0} MiB (the result limit); add a LIMIT, select fewer or smaller columns, or aggregate"
    )]
    ResultLimit(usize),
    /// Too many queries are running (for this user or for the process).
    #[error("{0}")]
    Busy(String),
    /// Reading the data failed (an unreadable file, an object store error).
    #[error("query failed: {0}")]
    Internal(String),
}

impl QueryError {
    /// The HTTP status for this error: 400 invalid SQL, 403 a refused statement, 422 a
    /// limit exceeded, 500 a failure of SOTP itself.
    pub fn http_status(&self) -> u16 {
        match self {
            QueryError::Invalid(_) => 400,
            QueryError::Refused(_) => 403,
            QueryError::TimeLimit(_)
            | QueryError::MemoryLimit { .. }
            | QueryError::RowLimit(_)
            | QueryError::ResultLimit(_) => 422,
            QueryError::Busy(_) => 503,
            QueryError::Internal(_) => 500,
        }
    }

    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            QueryError::Invalid(_) => "invalid_sql",
            QueryError::Refused(_) => "statement_refused",
            QueryError::TimeLimit(_) => "time_limit_exceeded",
            QueryError::MemoryLimit { .. } => "memory_limit_exceeded",
            QueryError::RowLimit(_) => "row_limit_exceeded",
            QueryError::ResultLimit(_) => "result_limit_exceeded",
            QueryError::Busy(_) => "busy",
            QueryError::Internal(_) => "internal",
        }
    }

    /// Whether running the same query again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            QueryError::Internal(_) | QueryError::TimeLimit(_) | QueryError::Busy(_)
        )
    }

    /// Classifies a DataFusion error.
    pub(crate) fn from_datafusion(e: DataFusionError, memory_limit_mb: usize) -> Self {
        match e.find_root() {
            DataFusionError::ResourcesExhausted(detail) => QueryError::MemoryLimit {
                limit_mb: memory_limit_mb,
                detail: detail.clone(),
            },
            DataFusionError::SQL(..)
            | DataFusionError::Plan(_)
            | DataFusionError::SchemaError(..)
            | DataFusionError::NotImplemented(_) => QueryError::Invalid(e.find_root().to_string()),
            DataFusionError::Execution(m)
                if m.contains("not allowed") || m.contains("not supported") =>
            {
                QueryError::Refused(m.clone())
            }
            DataFusionError::ArrowError(..) | DataFusionError::Execution(_) => {
                QueryError::Invalid(e.find_root().to_string())
            }
            _ => QueryError::Internal(e.to_string()),
        }
    }
}
