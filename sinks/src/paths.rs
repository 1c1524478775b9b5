//! Object paths of Parquet files: Hive-style partitions by table and hour, and file names
//! that carry the sequence range they hold (the key to exactly-once reads and idempotent
//! rewrites).
//!
//! `metrics/date=2026-11-26/hour=21/part-3f9a0c4e1d2b7a65-00000000000000000042-00000000000000000057.parquet`
//! holds the rows of batches 42 up to (not including) 57 of writer `3f9a0c4e1d2b7a65`
//! whose time falls in that hour. Every [`crate::TableStore`] opened for writing is its own
//! writer (a random 64-bit id per open), so several sink processes on one storage never
//! pick the same name; sequence numbers count per writer. Files of the older form
//! `part-<seq_start>-<seq_end>.parquet` (one writer per table) stay readable as the
//! writer [`FileKey::writer`] `None`.
//!
//! A flush whose rows span several hours writes one file per hour, one put after the
//! other; each name ends with the number of files of its flush (`-f2`), and a flush is
//! read only once all its files are listed ([`complete_flushes`]). A process killed
//! between two puts leaves a flush that is never read: its map does not count, so its
//! events are replayed from the bus into a new flush, and none is lost or read twice.
//! Its files are deleted once an hour old (`table::CUT_FLUSH_AGE`).
//! Names without the count (one file, or older versions) stand alone.

use chrono::{DateTime, Datelike, Timelike, Utc};
use object_store::path::Path;

const NANOS_PER_HOUR: i64 = 3_600_000_000_000;

/// Paths of one table's files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TablePaths {
    table: String,
}

/// The writer of a table's files: one per [`crate::TableStore`] opened, random.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WriterId(pub u64);

impl WriterId {
    /// A new random writer id.
    pub fn random() -> Self {
        Self(rand::random())
    }
}

impl std::fmt::Display for WriterId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// What a file name says about its contents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileKey {
    /// Who wrote the file (`None`: the older name without a writer, from a single-writer
    /// table).
    pub writer: Option<WriterId>,
    /// First sequence number in the file's range.
    pub seq_start: u64,
    /// One past the last sequence number.
    pub seq_end: u64,
    /// The hour (since 1970) of every row in the file.
    pub hour: i64,
    /// Files the flush wrote (one per hour its rows span); 1 for names without it.
    pub files: u32,
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
        let writer = key.writer.map(|w| format!("{w}-")).unwrap_or_default();
        let files = if key.files > 1 {
            format!("-f{}", key.files)
        } else {
            String::new()
        };
        Path::from(format!(
            "{}/date={:04}-{:02}-{:02}/hour={:02}/part-{writer}{:020}-{:020}{files}.parquet",
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
        let (name, files) = match name.rsplit_once("-f") {
            Some((head, n)) if !n.is_empty() && n.bytes().all(|c| c.is_ascii_digit()) => {
                (head, n.parse().ok().filter(|n| *n > 1)?)
            }
            _ => (name, 1),
        };
        let (writer, name) = match name.len() {
            41 => (None, name),
            58 => {
                let (w, rest) = name.split_once('-')?;
                let hex =
                    w.len() == 16 && w.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'));
                (
                    Some(WriterId(u64::from_str_radix(w, 16).ok().filter(|_| hex)?)),
                    rest,
                )
            }
            _ => return None,
        };
        let (a, b) = name.split_once('-')?;
        if a.len() != 20 || b.len() != 20 {
            return None;
        }
        let day = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?;
        let hour: u32 = hour.parse().ok().filter(|h| *h < 24)?;
        let secs = day.and_hms_opt(hour, 0, 0)?.and_utc().timestamp();
        let key = FileKey {
            writer,
            seq_start: a.parse().ok()?,
            seq_end: b.parse().ok()?,
            hour: secs.div_euclid(3600),
            files,
        };
        (key.seq_start < key.seq_end).then_some(key)
    }
}

/// The keys of flushes with every file listed: a flush of `n` files counts only once `n`
/// files of its writer and sequence range are there. Returns the complete flushes'
/// keys' positions in `keys`, and how many files of incomplete flushes were left out.
pub fn complete_flushes(keys: &[FileKey]) -> (Vec<usize>, usize) {
    let mut listed: std::collections::HashMap<(Option<WriterId>, u64, u64), u32> =
        std::collections::HashMap::new();
    for k in keys {
        *listed
            .entry((k.writer, k.seq_start, k.seq_end))
            .or_default() += 1;
    }
    let mut keep = Vec::with_capacity(keys.len());
    for (i, k) in keys.iter().enumerate() {
        if listed[&(k.writer, k.seq_start, k.seq_end)] >= k.files {
            keep.push(i);
        }
    }
    let left_out = keys.len() - keep.len();
    (keep, left_out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_paths_round_trip() {
        let p = TablePaths::new("metrics");
        let hour = TablePaths::hour_of(1_764_194_055_000_000_000);
        let key = FileKey {
            writer: Some(WriterId(0x3f9a_0c4e_1d2b_7a65)),
            seq_start: 42,
            seq_end: 57,
            hour,
            files: 1,
        };
        let path = p.file(key);
        assert_eq!(
            path.as_ref(),
            "metrics/date=2025-11-26/hour=21/part-3f9a0c4e1d2b7a65-00000000000000000042-00000000000000000057.parquet"
        );
        assert_eq!(p.parse(&path), Some(key));
        let random = FileKey {
            writer: Some(WriterId::random()),
            ..key
        };
        assert_eq!(p.parse(&p.file(random)), Some(random));
        let two = FileKey { files: 2, ..random };
        assert!(
            p.file(two)
                .as_ref()
                .ends_with("-00000000000000000057-f2.parquet")
        );
        assert_eq!(p.parse(&p.file(two)), Some(two));
        let f_writer = FileKey {
            writer: Some(WriterId(0xf000_0000_0000_0001)),
            ..key
        };
        assert_eq!(p.parse(&p.file(f_writer)), Some(f_writer));
    }

    #[test]
    fn a_flush_counts_once_all_its_files_are_listed() {
        let k = |writer: u64, start: u64, hour: i64, files: u32| FileKey {
            writer: Some(WriterId(writer)),
            seq_start: start,
            seq_end: start + 5,
            hour,
            files,
        };
        let keys = [
            k(1, 0, 10, 1),
            // Writer 1's second flush spans two hours: both files there.
            k(1, 5, 10, 2),
            k(1, 5, 11, 2),
            // Writer 2 was killed between its two puts: one file of two.
            k(2, 0, 10, 2),
            k(2, 5, 10, 1),
        ];
        let (keep, left_out) = complete_flushes(&keys);
        assert_eq!(keep, vec![0, 1, 2, 4]);
        assert_eq!(left_out, 1);
    }

    #[test]
    fn names_without_a_writer_stay_readable() {
        let p = TablePaths::new("metrics");
        let old = Path::from(
            "metrics/date=2025-11-26/hour=21/part-00000000000000000042-00000000000000000057.parquet",
        );
        let key = p.parse(&old).unwrap();
        assert_eq!((key.writer, key.seq_start, key.seq_end), (None, 42, 57));
        assert_eq!(p.file(key), old, "the old form is written back identically");
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
            // Writer ids: 16 lowercase hex digits, nothing else.
            "metrics/date=2025-11-26/hour=21/part-3F9A0C4E1D2B7A65-00000000000000000042-00000000000000000057.parquet",
            "metrics/date=2025-11-26/hour=21/part-3f9a0c4e1d2b7a6g-00000000000000000042-00000000000000000057.parquet",
            "metrics/date=2025-11-26/hour=21/part-+f9a0c4e1d2b7a65-00000000000000000042-00000000000000000057.parquet",
            "metrics/date=2025-11-26/hour=21/part-3f9a0c4e1d2b7a6-500000000000000000042-00000000000000000057.parquet",
            "metrics/date=2025-11-26/hour=21/part-3f9a0c4e1d2b7a65-00000000000000000057-00000000000000000042.parquet",
            // A file count is 2 or more, in decimal.
            "metrics/date=2025-11-26/hour=21/part-3f9a0c4e1d2b7a65-00000000000000000042-00000000000000000057-f1.parquet",
            "metrics/date=2025-11-26/hour=21/part-3f9a0c4e1d2b7a65-00000000000000000042-00000000000000000057-f0.parquet",
            "metrics/date=2025-11-26/hour=21/part-3f9a0c4e1d2b7a65-00000000000000000042-00000000000000000057-fx.parquet",
        ] {
            assert_eq!(p.parse(&Path::from(s)), None, "{s}");
        }
    }
}
