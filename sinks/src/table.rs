//! One table's hot tier and cold-file manifest, kept consistent for exactly-once reads.
//!
//! Every `TableStore` is one *writer* ([`WriterId`], random per open): its files carry its
//! id, so several processes write one table on one storage without sharing names.
//! Invariants (all under one lock), for this writer's own batches and files:
//! - batches get strictly increasing sequence numbers; `hot` holds `[hot_floor, next_seq)`;
//! - own cold files cover `[0, flushed_upto)`, one flush range after another, and a range
//!   is never split between memory and disk for readers: eviction drops whole flushed
//!   ranges;
//! - a snapshot reads all hot batches, exactly the own cold files with
//!   `seq_end <= hot_floor`, and every file of the other writers whole (their rows are
//!   never in this writer's memory: each bus event is written by one writer only, see
//!   `docs/delivery.md`).
//!
//! So every row is in exactly one place a reader looks at, whenever a flush or an eviction
//! happens.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use futures::TryStreamExt;
use object_store::ObjectStoreExt;
use object_store::path::Path;
use tokio::sync::Mutex as AsyncMutex;

use crate::offsets::{self, Offsets};
use crate::paths::{self, FileKey, TablePaths, WriterId};
use crate::writer::{self, Layout};
use crate::{ColdStore, StoreError};

/// A Parquet file of the cold tier.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColdFile {
    /// Path relative to the store root.
    pub path: Path,
    /// Size in bytes.
    pub size: u64,
    /// Sequence range and hour the file holds.
    pub key: FileKey,
}

#[derive(Debug)]
struct HotBatch {
    seq: u64,
    batch: RecordBatch,
    /// When the batch arrived (for the hot window and the file age).
    arrived: Instant,
}

#[derive(Debug, Default)]
struct State {
    next_seq: u64,
    hot_floor: u64,
    flushed_upto: u64,
    hot: VecDeque<HotBatch>,
    hot_rows: usize,
    hot_bytes: usize,
    /// Flushed ranges still (partly) in memory, oldest first.
    ranges_in_hot: VecDeque<(u64, u64)>,
    files: Vec<ColdFile>,
    /// Bus offsets of everything appended (see [`crate::offsets`]).
    received: Offsets,
    /// Bus offsets of everything in Parquet.
    flushed: Offsets,
    /// Per other writer, the newest flush (`seq_end`) whose offset map is merged into
    /// `received` and `flushed`.
    merged_maps: HashMap<Option<WriterId>, u64>,
}

/// What a consistent read sees: every row of the table exactly once.
#[derive(Clone, Debug)]
pub struct TableSnapshot {
    /// The table's schema.
    pub schema: SchemaRef,
    /// Recent rows in memory.
    pub hot: Vec<RecordBatch>,
    /// Older rows in Parquet files.
    pub cold: Vec<ColdFile>,
    /// Where the cold files are.
    pub store: ColdStore,
}

impl TableSnapshot {
    /// Rows in the hot part.
    pub fn hot_rows(&self) -> usize {
        self.hot.iter().map(RecordBatch::num_rows).sum()
    }
}

/// What a flush wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FlushReport {
    /// Files written.
    pub files: usize,
    /// Rows written.
    pub rows: usize,
    /// Bytes written.
    pub bytes: u64,
}

/// One table: hot tier plus cold manifest.
#[derive(Debug)]
pub struct TableStore {
    name: String,
    writer: WriterId,
    schema: SchemaRef,
    layout: Layout,
    paths: TablePaths,
    store: ColdStore,
    row_group_rows: usize,
    zstd_level: i32,
    state: RwLock<State>,
    flush_lock: AsyncMutex<()>,
}

impl TableStore {
    /// Opens a table as a new writer (a random [`WriterId`]): lists the existing files
    /// (all of other writers, read whole) and merges every writer's newest offset map.
    pub async fn open(
        name: &str,
        schema: SchemaRef,
        layout: Layout,
        store: ColdStore,
        row_group_rows: usize,
        zstd_level: i32,
    ) -> Result<Arc<Self>, StoreError> {
        let paths = TablePaths::new(name);
        let writer = WriterId::random();
        let (files, incomplete) = list_files(&store, &paths).await?;
        if incomplete > 0 {
            // Their events were never committed: the bus replays them into new files.
            tracing::warn!(
                table = name,
                files = incomplete,
                "files of flushes left incomplete (a writer killed between its puts, or still writing) are not read"
            );
        }
        let table = Self {
            name: name.to_string(),
            writer,
            schema,
            layout,
            paths,
            store,
            row_group_rows,
            zstd_level,
            state: RwLock::new(State {
                files,
                ..State::default()
            }),
            flush_lock: AsyncMutex::new(()),
        };
        let maps = table.merge_offset_maps().await?;
        tracing::info!(
            table = name,
            %writer,
            files = table.read().files.len(),
            offset_maps = maps,
            store = table.store.description(),
            "table opened"
        );
        Ok(Arc::new(table))
    }

    /// Merges into `received` and `flushed` the newest offset map of every other writer
    /// that flushed since the last merge (each writer's newest files hold its cumulative
    /// map): afterwards an event below the merged offset of its partition is known to be
    /// in Parquet, whoever wrote it. Returns how many maps were read.
    async fn merge_offset_maps(&self) -> Result<usize, StoreError> {
        let todo: Vec<(Option<WriterId>, u64, Path)> = {
            let s = self.read();
            let mut newest: HashMap<Option<WriterId>, &ColdFile> = HashMap::new();
            for f in s.files.iter().filter(|f| f.key.writer != Some(self.writer)) {
                let e = newest.entry(f.key.writer).or_insert(f);
                if f.key.seq_end > e.key.seq_end {
                    *e = f;
                }
            }
            newest
                .into_iter()
                .filter(|(w, f)| s.merged_maps.get(w).is_none_or(|m| *m < f.key.seq_end))
                .map(|(w, f)| (w, f.key.seq_end, f.path.clone()))
                .collect()
        };
        let mut read = Vec::with_capacity(todo.len());
        for (writer, seq_end, path) in todo {
            read.push((
                writer,
                seq_end,
                offsets::read_file_offsets(&self.store, &path).await?,
            ));
        }
        let n = read.len();
        let mut s = self.write();
        for (writer, seq_end, map) in read {
            offsets::merge(&mut s.received, &map);
            offsets::merge(&mut s.flushed, &map);
            s.merged_maps.insert(writer, seq_end);
        }
        Ok(n)
    }

    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The table's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// This store's writer id (in the names of the files it writes).
    pub fn writer(&self) -> WriterId {
        self.writer
    }

    /// The table's schema.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Where the cold files are.
    pub fn store(&self) -> &ColdStore {
        &self.store
    }

    /// Adds a batch to the hot tier; it is visible to snapshots from now on.
    pub fn append(&self, batch: RecordBatch) {
        self.append_with_offsets(batch, &Offsets::new());
    }

    /// Adds a batch whose rows came from the bus up to `offsets` (see
    /// [`crate::offsets`]); the next flush records them in its files.
    pub fn append_with_offsets(&self, batch: RecordBatch, received: &Offsets) {
        if batch.num_rows() == 0 {
            return;
        }
        let mut s = self.write();
        offsets::merge(&mut s.received, received);
        let seq = s.next_seq;
        s.next_seq += 1;
        s.hot_rows += batch.num_rows();
        s.hot_bytes += batch.get_array_memory_size();
        s.hot.push_back(HotBatch {
            seq,
            batch,
            arrived: Instant::now(),
        });
        metrics::gauge!("sotp_hot_rows", "table" => self.name.clone()).set(s.hot_rows as f64);
        metrics::gauge!("sotp_hot_bytes", "table" => self.name.clone()).set(s.hot_bytes as f64);
    }

    /// Next offset not yet received for one partition (`offsets::offset_key`): a replayed
    /// event below it is already in the table.
    pub fn received_offset(&self, key: &str) -> Option<i64> {
        self.read().received.get(key).copied()
    }

    /// Offsets of everything written to Parquet: what a consumer may commit.
    pub fn flushed_offsets(&self) -> Offsets {
        self.read().flushed.clone()
    }

    /// Picks up files written by other writers (an `api` role reading what `sink` roles
    /// write, a sink reading what the other sinks of its group wrote). This writer's own
    /// files stay as they are. Returns how many files appeared.
    pub async fn refresh(&self) -> Result<usize, StoreError> {
        let (listed, _) = list_files(&self.store, &self.paths).await?;
        let mut s = self.write();
        let before = s.files.len();
        let mut files: Vec<ColdFile> = s
            .files
            .iter()
            .filter(|f| f.key.writer == Some(self.writer))
            .cloned()
            .collect();
        files.extend(
            listed
                .into_iter()
                .filter(|f| f.key.writer != Some(self.writer)),
        );
        files.sort_by_key(|f| (f.key.writer, f.key.seq_start, f.key.hour));
        let added = files.len().saturating_sub(before);
        s.files = files;
        Ok(added)
    }

    /// Before consuming partitions just assigned to this sink: picks up the other
    /// writers' new files and merges their offset maps (a previous owner of a partition
    /// may have flushed it moments ago, or died after its last flush), so that a replay
    /// of what they wrote is skipped. Returns how many offset maps were read.
    pub async fn catch_up(&self) -> Result<usize, StoreError> {
        self.refresh().await?;
        self.merge_offset_maps().await
    }

    /// Rows waiting to be flushed, and how long the oldest has waited.
    pub fn pending(&self) -> (usize, Option<Duration>) {
        let s = self.read();
        let mut rows = 0;
        let mut oldest = None;
        for b in s.hot.iter().filter(|b| b.seq >= s.flushed_upto) {
            rows += b.batch.num_rows();
            oldest.get_or_insert(b.arrived);
        }
        (rows, oldest.map(|t| t.elapsed()))
    }

    /// Bytes of Arrow memory the hot tier holds: in all, and of the batches not yet
    /// flushed (which cannot be evicted).
    pub fn hot_bytes(&self) -> (usize, usize) {
        let s = self.read();
        let unflushed = s
            .hot
            .iter()
            .filter(|b| b.seq >= s.flushed_upto)
            .map(|b| b.batch.get_array_memory_size())
            .sum();
        (s.hot_bytes, unflushed)
    }

    /// A consistent view: every row exactly once.
    pub fn snapshot(&self) -> TableSnapshot {
        let s = self.read();
        TableSnapshot {
            schema: self.schema.clone(),
            hot: s.hot.iter().map(|b| b.batch.clone()).collect(),
            cold: s
                .files
                .iter()
                .filter(|f| f.key.writer != Some(self.writer) || f.key.seq_end <= s.hot_floor)
                .cloned()
                .collect(),
            store: self.store.clone(),
        }
    }

    /// Writes every batch not yet on disk to Parquet (one file per hour it spans). The
    /// batches stay in the hot tier until [`TableStore::evict`] drops them.
    pub async fn flush(&self) -> Result<FlushReport, StoreError> {
        let _one_at_a_time = self.flush_lock.lock().await;
        let (start, end, batches, received) = {
            let s = self.read();
            let batches: Vec<RecordBatch> = s
                .hot
                .iter()
                .filter(|b| b.seq >= s.flushed_upto)
                .map(|b| b.batch.clone())
                .collect();
            (s.flushed_upto, s.next_seq, batches, s.received.clone())
        };
        if batches.is_empty() {
            return Ok(FlushReport::default());
        }
        let started = Instant::now();
        let layout = self.layout.clone();
        let file_offsets = received.clone();
        let props =
            writer::writer_properties(&self.schema, &layout, self.row_group_rows, self.zstd_level)?;
        // Sorting and encoding are CPU work: keep them off the async workers.
        let encoded = tokio::task::spawn_blocking(
            move || -> Result<Vec<(i64, usize, bytes::Bytes)>, StoreError> {
                writer::split_by_hour(&batches, &layout)?
                    .into_iter()
                    .map(|(hour, parts)| {
                        let bytes =
                            offsets::encode_with_offsets(&parts, props.clone(), &file_offsets)?;
                        Ok((hour, parts.iter().map(RecordBatch::num_rows).sum(), bytes))
                    })
                    .collect()
            },
        )
        .await
        .map_err(|e| StoreError::Io {
            path: self.name.clone(),
            source: std::io::Error::other(e),
        })??;
        let mut report = FlushReport::default();
        let mut written = Vec::new();
        // Readers count the flush once all its files are there (`paths::complete_flushes`).
        let files = u32::try_from(encoded.len()).unwrap_or(u32::MAX);
        for (hour, rows, bytes) in encoded {
            let key = FileKey {
                writer: Some(self.writer),
                seq_start: start,
                seq_end: end,
                hour,
                files,
            };
            let path = self.paths.file(key);
            let size = bytes.len() as u64;
            // A put is atomic: readers see the whole file or nothing.
            self.store.store().put(&path, bytes.into()).await?;
            report.files += 1;
            report.rows += rows;
            report.bytes += size;
            written.push(ColdFile { path, size, key });
        }
        // Readers delete the files of a flush that stays incomplete for an hour
        // (`CUT_FLUSH_AGE`): if this process was stopped that long between two puts, an
        // earlier file may be gone. The flush then fails and is retried whole.
        if let Some((_, earlier)) = written.split_last() {
            for f in earlier {
                self.store.store().head(&f.path).await?;
            }
        }
        {
            let mut s = self.write();
            s.files.extend(written);
            s.flushed_upto = end;
            s.ranges_in_hot.push_back((start, end));
            s.flushed = received;
        }
        metrics::counter!("sotp_flushes_total", "table" => self.name.clone()).increment(1);
        metrics::counter!("sotp_rows_written_total", "table" => self.name.clone())
            .increment(report.rows as u64);
        metrics::counter!("sotp_bytes_written_total", "table" => self.name.clone())
            .increment(report.bytes);
        tracing::info!(table = %self.name, writer = %self.writer, files = report.files, rows = report.rows, bytes = report.bytes,
            seq_start = start, seq_end = end, took_ms = started.elapsed().as_millis() as u64, "flushed to parquet");
        Ok(report)
    }

    /// Drops from memory the flushed ranges whose every batch arrived more than `window`
    /// ago. Whole ranges only, so readers never see a range half in memory.
    pub fn evict(&self, window: Duration) -> usize {
        self.evict_beyond(window, usize::MAX)
    }

    /// As [`TableStore::evict`], and also the oldest flushed ranges however recent while
    /// the hot tier holds more than `max_bytes` (their rows are read from the files
    /// instead). Rows not yet flushed stay whatever their size: the sink flushes early
    /// to keep them under the bound (`StorageConfig::hot_max_bytes`).
    pub fn evict_beyond(&self, window: Duration, max_bytes: usize) -> usize {
        let mut s = self.write();
        let mut dropped = 0;
        while let Some(&(start, end)) = s.ranges_in_hot.front() {
            let newest_in_range = s
                .hot
                .iter()
                .take_while(|b| b.seq < end)
                .map(|b| b.arrived)
                .max();
            if s.hot_bytes <= max_bytes && newest_in_range.is_some_and(|t| t.elapsed() < window) {
                break;
            }
            while s.hot.front().is_some_and(|b| b.seq < end) {
                let b = s.hot.pop_front().expect("front exists");
                s.hot_rows -= b.batch.num_rows();
                s.hot_bytes -= b.batch.get_array_memory_size();
                dropped += b.batch.num_rows();
            }
            debug_assert!(start >= s.hot_floor);
            s.hot_floor = end;
            s.ranges_in_hot.pop_front();
        }
        if dropped > 0 {
            metrics::gauge!("sotp_hot_rows", "table" => self.name.clone()).set(s.hot_rows as f64);
            metrics::gauge!("sotp_hot_bytes", "table" => self.name.clone()).set(s.hot_bytes as f64);
        }
        dropped
    }
}

/// Every file of the table SOTP wrote, of every writer, in whole flushes; and how many
/// files of incomplete flushes were left out.
async fn list_files(
    store: &ColdStore,
    paths: &TablePaths,
) -> Result<(Vec<ColdFile>, usize), StoreError> {
    let mut files = Vec::new();
    let mut modified = Vec::new();
    let mut listing = store.store().list(Some(&paths.root()));
    while let Some(meta) = listing.try_next().await? {
        match paths.parse(&meta.location) {
            Some(key) => {
                modified.push(meta.last_modified);
                files.push(ColdFile {
                    path: meta.location,
                    size: meta.size,
                    key,
                })
            }
            None => {
                tracing::debug!(path = %meta.location, "ignoring a file that SOTP did not write")
            }
        }
    }
    // Only whole flushes: a writer killed between the puts of a flush spanning hours
    // left part of it, whose map would claim rows that are not there.
    let keys: Vec<FileKey> = files.iter().map(|f| f.key).collect();
    let (keep, left_out) = paths::complete_flushes(&keys);
    if left_out > 0 {
        let mut keep = keep.into_iter().peekable();
        let mut i = 0;
        let mut cut = Vec::new();
        files.retain(|f| {
            let kept = keep.next_if_eq(&i).is_some();
            if !kept {
                cut.push((f.path.clone(), modified[i]));
            }
            i += 1;
            kept
        });
        delete_cut_flushes(store, cut).await;
    }
    files.sort_by_key(|f| (f.key.writer, f.key.seq_start, f.key.hour));
    Ok((files, left_out))
}

/// How long the files of an incomplete flush stay before they are deleted. A flush puts
/// its files within seconds; a writer whose flush failed half-way (storage down) writes
/// the same names again when it retries, so deleting its first files loses nothing.
pub const CUT_FLUSH_AGE: Duration = Duration::from_secs(3600);

/// Deletes the files of incomplete flushes (a writer killed between the puts of a flush
/// spanning hours) once they are [`CUT_FLUSH_AGE`] old: they are never read, and their
/// rows were replayed. Best effort: another process may delete them first.
async fn delete_cut_flushes(store: &ColdStore, cut: Vec<(Path, chrono::DateTime<chrono::Utc>)>) {
    let Ok(age) = chrono::Duration::from_std(CUT_FLUSH_AGE) else {
        return;
    };
    let before = chrono::Utc::now() - age;
    for (path, modified) in cut {
        if modified > before {
            continue;
        }
        match store.store().delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {
                tracing::info!(path = %path, "deleted a file of a flush cut by a killed writer (never read)")
            }
            Err(e) => {
                tracing::warn!(path = %path, error = %e, "cannot delete a file of a cut flush")
            }
        }
    }
}

#[cfg(test)]
mod tests;
