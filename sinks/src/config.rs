//! `[storage]`: where Parquet files go and when they roll; how long the hot tier keeps data.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// `[storage]`: the cold tier (Parquet on object storage) and the hot tier (memory).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Where Parquet files go: empty for `<data_dir>/parquet`, else a `file:///abs/path`,
    /// `s3://bucket/prefix`, `gs://bucket/prefix` or `az://container/prefix` URL.
    /// Credentials and endpoints come from the usual `AWS_*`, `GOOGLE_*`, `AZURE_*`
    /// environment variables.
    pub url: String,
    /// A Parquet file is written at the latest this long after its first row arrived.
    #[serde(with = "humantime_serde")]
    pub max_file_age: Duration,
    /// A Parquet file is written once this many rows are waiting.
    pub max_file_rows: usize,
    /// Rows per Parquet row group.
    pub row_group_rows: usize,
    /// zstd level for Parquet pages (1 to 22).
    pub zstd_level: i32,
    /// How much recent data the hot tier keeps in memory for fast queries.
    #[serde(with = "humantime_serde")]
    pub hot_window: Duration,
    /// At most this many bytes of Arrow memory per table in the hot tier: beyond it the
    /// oldest flushed rows leave memory before `hot_window` (queries read them from
    /// Parquet), and rows waiting in memory are flushed once they reach half of it. At
    /// 10,000 syslog messages/s, two hours of logs would take tens of GB.
    pub hot_max_bytes: usize,
    /// Rows gathered before they become one in-memory batch (queries see rows once they
    /// are in a batch, at the latest after `batch_latency`).
    pub batch_rows: usize,
    /// Longest wait before gathered rows become visible to queries.
    #[serde(with = "humantime_serde")]
    pub batch_latency: Duration,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            max_file_age: Duration::from_secs(300),
            max_file_rows: 2_000_000,
            row_group_rows: 1_000_000,
            zstd_level: 3,
            hot_window: Duration::from_secs(2 * 3600),
            hot_max_bytes: 512 << 20,
            batch_rows: 65_536,
            batch_latency: Duration::from_secs(1),
        }
    }
}

impl StorageConfig {
    /// Every problem with the values, as (field, reason) pairs.
    pub fn validate(&self) -> Vec<(&'static str, String)> {
        let mut e = Vec::new();
        if !self.url.is_empty() {
            match url::Url::parse(&self.url) {
                Ok(u)
                    if [
                        "file", "s3", "s3a", "gs", "az", "azure", "abfs", "abfss", "memory",
                    ]
                    .contains(&u.scheme()) => {}
                Ok(u) => e.push((
                    "storage.url",
                    format!(
                        "unsupported scheme `{}` (use file, s3, gs or az)",
                        u.scheme()
                    ),
                )),
                Err(err) => e.push(("storage.url", format!("not a URL: {err}"))),
            }
        }
        if self.max_file_age.is_zero() {
            e.push(("storage.max_file_age", "must be greater than 0".into()));
        }
        if self.hot_max_bytes < 1 << 20 {
            e.push((
                "storage.hot_max_bytes",
                "must be at least 1048576 (1 MiB)".into(),
            ));
        }
        if self.max_file_rows == 0 {
            e.push(("storage.max_file_rows", "must be at least 1".into()));
        }
        if self.row_group_rows == 0 {
            e.push(("storage.row_group_rows", "must be at least 1".into()));
        }
        if !(1..=22).contains(&self.zstd_level) {
            e.push((
                "storage.zstd_level",
                format!("must be between 1 and 22, got {}", self.zstd_level),
            ));
        }
        if self.batch_rows == 0 {
            e.push(("storage.batch_rows", "must be at least 1".into()));
        }
        if self.batch_latency.is_zero() {
            e.push(("storage.batch_latency", "must be greater than 0".into()));
        }
        e
    }
}
