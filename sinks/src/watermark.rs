//! Per-series watermarks: how the sinks drop what the streaming stage outputs a second
//! time after it restarted from its last checkpoint.
//!
//! The stage's outputs (derived samples, closed rollup minutes) are a deterministic
//! function of its inputs, and within one series (device id, metric, instance) they come
//! in strictly increasing time. When the stage restarts from a checkpoint it produces
//! again, identical, what it had output after that checkpoint. A row whose time is not
//! after the newest time already stored for its series is therefore a repeat, and is
//! dropped (counted in `sotp_sink_repeated_rows_total`).
//!
//! On start the watermarks are read back from the table's newest Parquet files (the last
//! [`LOOKBACK_HOURS`] hours): a repeat is at most one checkpoint interval old. With several
//! sinks, a series moves to another sink with its partition: on every assignment the
//! sink reads the other writers' files it has not read yet ([`SeriesWatermark::catch_up`]).

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::TimestampNanosecondType;
use object_store::ObjectStoreExt;
use object_store::path::Path;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use sotp_schemas::{DeviceId, MetricName, MetricSample, RollupRow};

use crate::{StoreError, TableStore};

/// Hours of files read back on start.
pub const LOOKBACK_HOURS: i64 = 2;

/// A series: device id, metric, instance.
pub(crate) type Key = (DeviceId, MetricName, Option<Arc<str>>);

/// Newest stored time per series.
#[derive(Debug, Default)]
pub struct SeriesWatermark {
    newest: HashMap<Key, i64>,
    files: FilesRead,
}

/// The other writers' files already read into a repeat filter (with their hour, to
/// forget those past the look-back).
#[derive(Clone, Debug, Default)]
pub(crate) struct FilesRead(pub(crate) HashMap<Path, i64>);

fn advance_in(newest: &mut HashMap<Key, i64>, key: Key, time: i64) -> bool {
    match newest.get_mut(&key) {
        Some(t) if *t >= time => false,
        Some(t) => {
            *t = time;
            true
        }
        None => {
            newest.insert(key, time);
            true
        }
    }
}

impl SeriesWatermark {
    /// Records `time` for the series; `false` when it is not after the newest one (a
    /// repeat to drop).
    pub fn advance(
        &mut self,
        device_id: &DeviceId,
        metric: &MetricName,
        instance: &Option<Arc<str>>,
        time: i64,
    ) -> bool {
        let key = (device_id.clone(), metric.clone(), instance.clone());
        advance_in(&mut self.newest, key, time)
    }

    /// [`SeriesWatermark::advance`] for a metric sample.
    pub fn advance_sample(&mut self, s: &MetricSample) -> bool {
        self.advance(&s.device_id, &s.metric, &s.instance, s.time.0)
    }

    /// [`SeriesWatermark::advance`] for a rollup row.
    pub fn advance_rollup(&mut self, r: &RollupRow) -> bool {
        self.advance(&r.device_id, &r.metric, &r.instance, r.time.0)
    }

    /// Series known.
    pub fn len(&self) -> usize {
        self.newest.len()
    }

    /// True when no series is known.
    pub fn is_empty(&self) -> bool {
        self.newest.is_empty()
    }

    /// Reads the newest time per series from the table's files of the last
    /// [`LOOKBACK_HOURS`] hours (of any writer).
    pub async fn load(table: &TableStore) -> Result<Self, StoreError> {
        let mut wm = Self::default();
        wm.catch_up(table).await?;
        tracing::info!(
            table = table.name(),
            series = wm.len(),
            "series watermarks read back"
        );
        Ok(wm)
    }

    /// Reads the other writers' files of the last [`LOOKBACK_HOURS`] hours not read yet
    /// (the table's file list as of its last refresh). Returns the files read.
    pub async fn catch_up(&mut self, table: &TableStore) -> Result<usize, StoreError> {
        let Self { newest, files } = self;
        read_back(table, files, |key, time| {
            advance_in(newest, key, time);
        })
        .await
    }

    pub(crate) fn with_files_read(mut self, files: FilesRead) -> Self {
        self.files = files;
        self
    }
}

/// Calls `f` with the series and time of every row in the table's files of the last
/// [`LOOKBACK_HOURS`] hours, of other writers (this writer's rows went through the
/// filter as they were stored), skipping the files in `read` and adding those it reads.
/// Returns how many files it read.
pub(crate) async fn read_back(
    table: &TableStore,
    read: &mut FilesRead,
    mut f: impl FnMut(Key, i64),
) -> Result<usize, StoreError> {
    let wanted = ["time", "device_id", "metric", "instance"];
    read_back_columns(table, read, &wanted, |batch| rows_of(batch, &mut f)).await
}

/// Calls `f` with every batch (of the `wanted` columns) of the table's files of the last
/// [`LOOKBACK_HOURS`] hours, of other writers, skipping the files in `read` and adding
/// those it reads. Returns how many files it read.
pub(crate) async fn read_back_columns(
    table: &TableStore,
    read: &mut FilesRead,
    wanted: &[&str],
    mut f: impl FnMut(&RecordBatch),
) -> Result<usize, StoreError> {
    let snapshot = table.snapshot();
    let Some(newest_hour) = snapshot.cold.iter().map(|f| f.key.hour).max() else {
        return Ok(0);
    };
    let oldest = newest_hour - LOOKBACK_HOURS;
    read.0.retain(|_, hour| *hour > oldest);
    let mut n = 0;
    let todo: Vec<_> = snapshot
        .cold
        .iter()
        .filter(|f| {
            f.key.hour > oldest
                && f.key.writer != Some(table.writer())
                && !read.0.contains_key(&f.path)
        })
        .collect();
    for file in todo {
        let bytes = table.store().store().get(&file.path).await?.bytes().await?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(bytes)?;
        let mask = ProjectionMask::columns(builder.parquet_schema(), wanted.iter().copied());
        for batch in builder.with_projection(mask).build()? {
            f(&batch?);
        }
        read.0.insert(file.path.clone(), file.key.hour);
        n += 1;
    }
    Ok(n)
}

fn rows_of(b: &RecordBatch, f: &mut impl FnMut(Key, i64)) {
    let (Some(time), Some(dev), Some(metric), Some(inst)) = (
        b.column_by_name("time"),
        b.column_by_name("device_id"),
        b.column_by_name("metric"),
        b.column_by_name("instance"),
    ) else {
        return;
    };
    let (Some(time), Some(dev), Some(metric), Some(inst)) = (
        time.as_primitive_opt::<TimestampNanosecondType>(),
        dev.as_string_opt::<i32>(),
        metric.as_string_opt::<i32>(),
        inst.as_string_opt::<i32>(),
    ) else {
        return;
    };
    for i in 0..b.num_rows() {
        let instance = (!inst.is_null(i)).then(|| Arc::from(inst.value(i)));
        f(
            (
                DeviceId::new(dev.value(i)),
                MetricName::new(metric.value(i)),
                instance,
            ),
            time.value(i),
        );
    }
}

#[cfg(test)]
mod tests {
    use sotp_schemas::samples_to_batch;

    use super::*;
    use crate::ColdStore;
    use crate::test_support::sample;

    #[tokio::test]
    async fn repeats_are_refused_and_watermarks_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let store = ColdStore::open("", dir.path()).unwrap();
        let open = || crate::test_support::metrics_table(&store);
        let t = open().await;
        let mut wm = SeriesWatermark::default();
        let base = 1_764_000_000_000_000_000;
        let rows: Vec<_> = [(base, "a"), (base + 10, "a"), (base + 5, "b")]
            .iter()
            .map(|(t, m)| sample(*t, m))
            .collect();
        assert!(rows.iter().all(|s| wm.advance_sample(s)));
        assert!(
            !wm.advance_sample(&sample(base + 10, "a")),
            "same time: a repeat"
        );
        assert!(!wm.advance_sample(&sample(base, "a")), "older: a repeat");
        t.append(samples_to_batch(&rows));
        t.flush().await.unwrap();
        drop(t);
        let t = open().await;
        let mut back = SeriesWatermark::load(&t).await.unwrap();
        assert_eq!(back.len(), 2);
        assert!(!back.advance_sample(&sample(base + 10, "a")));
        assert!(!back.advance_sample(&sample(base + 5, "b")));
        assert!(back.advance_sample(&sample(base + 11, "a")));
    }
}
