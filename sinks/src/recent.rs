//! Exact de-duplication of raw samples by (series, time): how the sink drops an event
//! a collector's producer delivered to Kafka twice.
//!
//! A collector that dies while its acknowledgements are in flight sends the unacknowledged
//! events again from its spool after the restart; those the broker had already taken (or
//! that reach it late on the dead process's connection) are in the topic twice
//! (docs/delivery.md). A raw sample is one poll of one series at one instant, so a
//! second sample with the same (device id, metric, instance, time) is that event again.
//!
//! Unlike the stage's outputs ([`crate::watermark`]), raw samples are not dropped for
//! being older than the series' newest: a collector's clock stepping back, or a device
//! handed over between collectors, gives legitimate older samples. So the sink keeps, per
//! series, the exact times stored within [`WINDOW_NS`] of the series' newest (at most
//! [`MAX_TIMES`] of them) and drops only a sample whose time is one of them, counted in
//! `sotp_sink_repeated_rows_total`. A repeat older than the window cannot be told from a
//! late sample and is stored; repeats come within seconds of the original.
//!
//! On start the times are read back from the table's newest Parquet files, like the
//! watermarks, and on every partition assignment from the other writers' files not read
//! yet ([`RecentTimes::catch_up`]): a series keeps its filter when its partition moves
//! to another sink.

use std::collections::VecDeque;

use hashbrown::HashMap;
use sotp_schemas::MetricSample;

use crate::watermark::{FilesRead, Key, SeriesWatermark, read_back};
use crate::{StoreError, TableStore};

/// How far before a series' newest time its stored times are remembered (15 minutes).
pub const WINDOW_NS: i64 = 15 * 60 * 1_000_000_000;

/// Most times remembered per series (a series polled every second keeps 15 minutes).
pub const MAX_TIMES: usize = 1024;

/// Recently stored times per series, ascending.
#[derive(Debug, Default)]
pub struct RecentTimes {
    series: HashMap<Key, VecDeque<i64>>,
    files: FilesRead,
}

impl RecentTimes {
    /// Records the sample's time; `false` when the series already has a sample at that
    /// time (a repeat to drop).
    pub fn insert_sample(&mut self, s: &MetricSample) -> bool {
        let key = (s.device_id.clone(), s.metric.clone(), s.instance.clone());
        self.insert(key, s.time.0)
    }

    fn insert(&mut self, key: Key, time: i64) -> bool {
        insert_in(&mut self.series, key, time)
    }

    /// Reads the other writers' files not read yet (see
    /// [`SeriesWatermark::catch_up`]). Returns the files read.
    pub async fn catch_up(&mut self, table: &TableStore) -> Result<usize, StoreError> {
        let Self { series, files } = self;
        read_back(table, files, |key, time| {
            insert_in(series, key, time);
        })
        .await
    }
}

fn insert_in(series: &mut HashMap<Key, VecDeque<i64>>, key: Key, time: i64) -> bool {
    {
        let times = series.entry(key).or_default();
        match times.back() {
            Some(&last) if time > last => times.push_back(time),
            None => times.push_back(time),
            Some(_) => match times.binary_search(&time) {
                Ok(_) => return false,
                Err(at) => times.insert(at, time),
            },
        }
        let newest = *times.back().expect("just inserted");
        while times.len() > MAX_TIMES || times.front().is_some_and(|&t| t < newest - WINDOW_NS) {
            times.pop_front();
        }
        true
    }
}

impl RecentTimes {
    /// Series known.
    pub fn len(&self) -> usize {
        self.series.len()
    }

    /// True when no series is known.
    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// Reads the stored times back from the table's newest files (of any writer).
    pub async fn load(table: &TableStore) -> Result<Self, StoreError> {
        Ok(load_with_watermark(table).await?.0)
    }
}

/// Reads the table's newest files once for both repeat filters of a metrics sink on
/// Kafka: the raw samples' recent times and the stage outputs' watermarks.
pub async fn load_with_watermark(
    table: &TableStore,
) -> Result<(RecentTimes, SeriesWatermark), StoreError> {
    let (mut recent, mut wm) = (RecentTimes::default(), SeriesWatermark::default());
    read_back(table, &mut recent.files, |key, time| {
        wm.advance(&key.0, &key.1, &key.2, time);
        insert_in(&mut recent.series, key, time);
    })
    .await?;
    let wm = wm.with_files_read(recent.files.clone());
    tracing::info!(
        table = table.name(),
        series = recent.len(),
        "recent sample times and series watermarks read back"
    );
    Ok((recent, wm))
}

#[cfg(test)]
mod tests {
    use sotp_schemas::samples_to_batch;

    use super::*;
    use crate::ColdStore;
    use crate::test_support::sample;

    #[test]
    fn only_exact_repeats_are_refused() {
        let mut r = RecentTimes::default();
        let base = 1_764_000_000_000_000_000;
        for t in [base, base + 30, base + 60] {
            assert!(r.insert_sample(&sample(t, "a")));
        }
        assert!(!r.insert_sample(&sample(base + 30, "a")), "a repeat");
        assert!(!r.insert_sample(&sample(base + 60, "a")), "a repeat");
        assert!(r.insert_sample(&sample(base + 30, "b")), "another series");
        // Older than the newest but never stored (a clock stepped back): kept, once.
        assert!(r.insert_sample(&sample(base + 45, "a")));
        assert!(!r.insert_sample(&sample(base + 45, "a")));
        // Past the window the times are forgotten: a very late repeat is stored.
        assert!(r.insert_sample(&sample(base + WINDOW_NS + 31, "a")));
        assert!(
            !r.insert_sample(&sample(base + 60, "a")),
            "still within the window"
        );
        assert!(
            r.insert_sample(&sample(base + 30, "a")),
            "out of the window"
        );
    }

    #[test]
    fn memory_per_series_is_bounded() {
        let mut r = RecentTimes::default();
        for t in 0..(MAX_TIMES as i64 + 500) {
            assert!(r.insert_sample(&sample(t, "a")));
        }
        assert_eq!(r.series.values().next().unwrap().len(), MAX_TIMES);
        assert!(!r.insert_sample(&sample(MAX_TIMES as i64 + 499, "a")));
        assert!(r.insert_sample(&sample(0, "a")), "forgotten");
    }

    #[tokio::test]
    async fn times_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let store = ColdStore::open("", dir.path()).unwrap();
        let open = || crate::test_support::metrics_table(&store);
        let t = open().await;
        let base = 1_764_000_000_000_000_000;
        let rows: Vec<_> = [(base, "a"), (base + 10, "a"), (base + 5, "b")]
            .iter()
            .map(|(t, m)| sample(*t, m))
            .collect();
        t.append(samples_to_batch(&rows));
        t.flush().await.unwrap();
        drop(t);
        let t = open().await;
        let mut back = RecentTimes::load(&t).await.unwrap();
        assert_eq!(back.len(), 2);
        assert!(!back.insert_sample(&sample(base, "a")));
        assert!(!back.insert_sample(&sample(base + 5, "b")));
        assert!(back.insert_sample(&sample(base + 5, "a")));
        // One read-back gives the stage outputs' watermarks too.
        let (_, mut wm) = load_with_watermark(&t).await.unwrap();
        assert!(!wm.advance_sample(&sample(base + 10, "a")));
        assert!(wm.advance_sample(&sample(base + 11, "a")));
        assert!(!wm.advance_sample(&sample(base + 5, "b")));
    }
}
