//! Errors raised while converting events between their Rust, Arrow and JSON forms.

/// A conversion between encodings failed.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// A record batch does not have the column layout this crate expects.
    #[error("record batch column `{column}`: {reason}")]
    Column {
        /// The column that is missing or of the wrong type.
        column: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// Arrow refused to build a batch.
    #[error("arrow: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    /// A JSON document does not decode into an event.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    /// A timestamp cannot be represented as nanoseconds since 1970 in an i64.
    #[error("timestamp `{0}` is out of range (1677-09-21 to 2262-04-11)")]
    TimeRange(String),
}
