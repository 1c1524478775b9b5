//! Storage: a hot tier of recent Arrow batches in memory and a cold tier of Parquet files
//! on object storage, kept so that every row is visible exactly once.
//!
//! How exactly-once works (see [`table`]): every appended batch gets a sequence number.
//! A flush writes the batches of a contiguous sequence range to Parquet files whose names
//! carry that range. The hot tier only evicts whole flushed ranges, and a reader's
//! [`TableSnapshot`] takes the hot batches plus only the cold files whose whole range lies
//! below the hot tier's first sequence number. Both are read under one lock, so a flush
//! or an eviction between two queries never hides or doubles a row.

pub mod component;
pub mod config;
pub mod log_sink;
pub mod offsets;
pub mod paths;
pub mod recent;
pub mod recent_alerts;
pub mod recent_logs;
pub mod sink;
pub mod store;
pub mod table;
#[cfg(test)]
mod test_support;
pub mod watermark;
pub mod writer;

pub use component::{Rows, Sink, TableSink};
pub use config::StorageConfig;
pub use log_sink::{run_logs_sink, run_logs_sink_with};
pub use paths::TablePaths;
pub use recent::{RecentTimes, load_with_watermark};
pub use recent_alerts::RecentAlerts;
pub use recent_logs::RecentLogs;
pub use sink::{Repeats, run_metrics_sink, run_metrics_sink_with};
pub use store::{ColdStore, StoreError};
pub use table::{ColdFile, FlushReport, TableSnapshot, TableStore};
pub use watermark::SeriesWatermark;
