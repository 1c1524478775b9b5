//! Exact de-duplication of log records: how the `logs` sink drops an event a collector's
//! producer delivered to Kafka twice (a process killed with acknowledgements in flight
//! sends them again from its spool; docs/delivery.md).
//!
//! A receiver gives every message of a socket its own receive time, later than the one
//! before (`ingest/src/syslog/listener.rs`, `ReceiveClock`): the frames of one read get
//! consecutive nanoseconds. So (source address, receive time, raw bytes) names one
//! message, and two identical lines sent together stay two rows. The sink keeps, per
//! source address, the (receive time, hash of the raw bytes) of the records stored within
//! [`WINDOW_NS`] of the source's newest (at most [`MAX_PER_SOURCE`]), and drops a record
//! found there, counted in `sotp_sink_repeated_rows_total`. Sources quiet for longer
//! than the window are forgotten. Repeats come within seconds: the re-sent records are
//! the first a restarted collector sends, and from a dead collector's sources few
//! records arrive in between.
//!
//! On start, and on every partition assignment, the records of the other writers'
//! files that may fall in the window are read back (three columns; files and row groups
//! whose newest receive time is older are skipped by their statistics).

use std::collections::VecDeque;
use std::hash::BuildHasher;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::TimestampNanosecondType;
use futures::TryStreamExt;
use hashbrown::HashMap;
use parquet::arrow::{ParquetRecordBatchStreamBuilder, ProjectionMask};
use parquet::file::statistics::Statistics;
use sotp_schemas::LogRecord;

use crate::store::StoreFile;
use crate::watermark::FilesRead;
use crate::{StoreError, TableStore};

/// How far before a source's newest record its records are remembered (15 minutes).
pub const WINDOW_NS: i64 = 15 * 60 * 1_000_000_000;

/// Most records remembered per source address.
pub const MAX_PER_SOURCE: usize = 4096;

/// Inserts between two passes that forget the sources quiet for longer than the window.
const FORGET_EVERY: usize = 1 << 16;

/// Recently stored records per source address: (receive time, raw hash), ascending.
#[derive(Debug, Default)]
pub struct RecentLogs {
    sources: HashMap<String, VecDeque<(i64, u64)>>,
    hasher: hashbrown::DefaultHashBuilder,
    files: FilesRead,
    /// The newest receive time seen, of any source.
    newest: i64,
    inserts: usize,
}

impl RecentLogs {
    /// Records `r`; `false` when it is already stored (a repeat to drop).
    pub fn insert_record(&mut self, r: &LogRecord) -> bool {
        self.insert(&r.source_address, r.received_at.0, &r.raw)
    }

    fn insert(&mut self, source: &str, at: i64, raw: &[u8]) -> bool {
        let entry = (at, self.hasher.hash_one(raw));
        let seen = self.sources.entry_ref(source).or_default();
        match seen.back() {
            Some(&last) if entry > last => seen.push_back(entry),
            None => seen.push_back(entry),
            Some(_) => match seen.binary_search(&entry) {
                Ok(_) => return false,
                Err(i) => seen.insert(i, entry),
            },
        }
        let newest = seen.back().map_or(at, |e| e.0);
        while seen.len() > MAX_PER_SOURCE || seen.front().is_some_and(|e| e.0 < newest - WINDOW_NS)
        {
            seen.pop_front();
        }
        self.newest = self.newest.max(at);
        self.inserts += 1;
        if self.inserts.is_multiple_of(FORGET_EVERY) {
            let cutoff = self.newest - WINDOW_NS;
            self.sources
                .retain(|_, seen| seen.back().is_some_and(|e| e.0 >= cutoff));
        }
        true
    }

    /// Source addresses remembered.
    pub fn len(&self) -> usize {
        self.sources.len()
    }

    /// True when no source is remembered.
    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }

    /// Reads the stored records back from the table's newest files (of any writer).
    pub async fn load(table: &TableStore) -> Result<Self, StoreError> {
        let mut r = Self::default();
        let files = r.catch_up(table).await?;
        tracing::info!(
            table = table.name(),
            files,
            sources = r.len(),
            "recent log records read back"
        );
        Ok(r)
    }

    /// Reads the other writers' files not read yet, from the newest two hours (the
    /// window is shorter than an hour): first their footers, then the three columns of
    /// the row groups that reach into the window before the newest receive time.
    /// Returns the files read.
    pub async fn catch_up(&mut self, table: &TableStore) -> Result<usize, StoreError> {
        let snapshot = table.snapshot();
        let Some(newest_hour) = snapshot.cold.iter().map(|f| f.key.hour).max() else {
            return Ok(0);
        };
        let oldest = newest_hour - 2;
        self.files.0.retain(|_, hour| *hour > oldest);
        let mut opened = Vec::new();
        let mut newest = self.newest;
        for file in snapshot.cold.iter().filter(|f| {
            f.key.hour > oldest
                && f.key.writer != Some(table.writer())
                && !self.files.0.contains_key(&f.path)
        }) {
            let reader = StoreFile::new(table.store(), &file.path, file.size);
            let builder = ParquetRecordBatchStreamBuilder::new(reader).await?;
            let maxima = newest_received(&builder);
            newest = newest.max(maxima.iter().flatten().copied().max().unwrap_or(i64::MIN));
            opened.push((file, builder, maxima));
        }
        let cutoff = newest.saturating_sub(WINDOW_NS);
        let n = opened.len();
        for (file, builder, maxima) in opened {
            let groups: Vec<usize> = (0..maxima.len())
                .filter(|g| maxima[*g].is_none_or(|m| m >= cutoff))
                .collect();
            if !groups.is_empty() {
                let wanted = ["received_at", "source_address", "raw"];
                let mask = ProjectionMask::columns(builder.parquet_schema(), wanted);
                let mut batches = builder
                    .with_projection(mask)
                    .with_row_groups(groups)
                    .build()?;
                while let Some(b) = batches.try_next().await? {
                    self.rows_of(&b, cutoff);
                }
            }
            self.files.0.insert(file.path.clone(), file.key.hour);
        }
        Ok(n)
    }

    fn rows_of(&mut self, b: &RecordBatch, cutoff: i64) {
        let (Some(at), Some(source), Some(raw)) = (
            b.column_by_name("received_at")
                .and_then(|c| c.as_primitive_opt::<TimestampNanosecondType>()),
            b.column_by_name("source_address")
                .and_then(|c| c.as_string_opt::<i32>()),
            b.column_by_name("raw")
                .and_then(|c| c.as_binary_opt::<i32>()),
        ) else {
            return;
        };
        for i in 0..b.num_rows() {
            if at.value(i) >= cutoff && !source.is_null(i) {
                self.insert(source.value(i), at.value(i), raw.value(i));
            }
        }
    }
}

/// The newest `received_at` of each row group, from the footer's statistics (`None`
/// without them: the row group is read).
fn newest_received<T>(builder: &ParquetRecordBatchStreamBuilder<T>) -> Vec<Option<i64>> {
    let meta = builder.metadata();
    let column = builder
        .parquet_schema()
        .columns()
        .iter()
        .position(|c| c.name() == "received_at");
    meta.row_groups()
        .iter()
        .map(|g| match column.and_then(|c| g.column(c).statistics()) {
            Some(Statistics::Int64(s)) => s.max_opt().copied(),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests;
