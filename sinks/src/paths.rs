//! Object paths of Parquet files: Hive-style partitions by table and hour, and file names
//! that carry the sequence range they hold (the key to exactly-once reads and idempotent
//! rewrites).
//!
//! `metrics/date=2026-11-26/hour=21/part-00000000000000000042-00000000000000000057.parquet`
//! holds the rows of batches 42 up to (not including) 57 whose time falls in that hour.

use chrono::{DateTime, Datelike, Timelike, Utc};
use object_store::path::Path;

const NANOS_PER_HOUR: i64 = 3_600_000_000_000;

/// Paths of one table's files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TablePaths {
    table: String,
}

/// What a file name says about its contents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileKey {
    /// First sequence number in the file's range.
    pub seq_start: u64,
    /// One past the last sequence number.
    pub seq_end: u64,
    /// The hour (since 1970) of every row in the file.
    pub hour: i64,
}

impl TablePaths {
    /// Paths for `table` (`metrics`, `logs`, ...).
    pub fn new(table: &str) -> Self {
        Self {
            table: table.to_string(),
        }
    }

    /// The table's folder.
    pub fn root(&self) -> Path {
        Path::from(self.table.as_str())
    }

    /// The hour a timestamp (ns since 1970) falls in.
    pub fn hour_of(time_ns: i64) -> i64 {
        time_ns.div_euclid(NANOS_PER_HOUR)
    }

    /// The path of the file for one hour of one sequence range.
    pub fn file(&self, key: FileKey) -> Path {
        let start: DateTime<Utc> =
            DateTime::from_timestamp_nanos(key.hour.saturating_mul(NANOS_PER_HOUR));
        Path::from(format!(
            "{}/date={:04}-{:02}-{:02}/hour={:02}/part-{:020}-{:020}.parquet",
            self.table,
            start.year(),
            start.month(),
            start.day(),
            start.hour(),
            key.seq_start,
            key.seq_end
        ))
    }

    /// Reads a path written by [`TablePaths::file`]; `None` for anything else (foreign
    /// files, uploads in progress).
    pub fn parse(&self, path: &Path) -> Option<FileKey> {
        let s = path.as_ref();
        let rest = s.strip_prefix(&self.table)?.strip_prefix("/date=")?;
        let (date, rest) = rest.split_once("/hour=")?;
        let (hour, name) = rest.split_once('/')?;
        let name = name.strip_prefix("part-")?.strip_suffix(".parquet")?;
        let (a, b) = name.split_once('-')?;
        if a.len() != 20 || b.len() != 20 {
            return None;
        }
        let day = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?;
        let hour: u32 = hour.parse().ok().filter(|h| *h < 24)?;
        let secs = day.and_hms_opt(hour, 0, 0)?.and_utc().timestamp();
        let key = FileKey {
            seq_start: a.parse().ok()?,
            seq_end: b.parse().ok()?,
            hour: secs.div_euclid(3600),
        };
        (key.seq_start < key.seq_end).then_some(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_paths_round_trip() {
        let p = TablePaths::new("metrics");
        let hour = TablePaths::hour_of(1_764_194_055_000_000_000);
        let key = FileKey {
            seq_start: 42,
            seq_end: 57,
            hour,
        };
        let path = p.file(key);
        assert_eq!(
            path.as_ref(),
            "metrics/date=2025-11-26/hour=21/part-00000000000000000042-00000000000000000057.parquet"
        );
        assert_eq!(p.parse(&path), Some(key));
    }

    #[test]
    fn foreign_and_partial_names_are_ignored() {
        let p = TablePaths::new("metrics");
        for s in [
            "logs/date=2025-11-26/hour=21/part-00000000000000000042-00000000000000000057.parquet",
            "metrics/date=2025-11-26/hour=21/other.parquet",
            "metrics/date=2025-11-26/hour=24/part-00000000000000000042-00000000000000000057.parquet",
            "metrics/date=2025-11-26/hour=21/part-00000000000000000057-00000000000000000042.parquet",
            "metrics/date=2025-11-26/hour=21/part-00000000000000000042-00000000000000000057.parquet#1",
        ] {
            assert_eq!(p.parse(&Path::from(s)), None, "{s}");
        }
    }
}
