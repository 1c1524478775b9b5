//! Both sinks (logs and metrics) flush beside their reading, and a failing flush stops
//! the reading at a bound (back-pressure) without losing a row. The storage failure is
//! real: a plain file sits where the table's folder must go, until it is removed.

use std::time::{Duration, Instant};

use sotp_bus::{Bus, MemoryBus, MemoryBusConfig};
use sotp_schemas::{EventBatch, LogRecord, Topic};

use crate::test_support::{metrics_table, sample};

use super::*;
use crate::ColdStore;
use crate::test_support::{log_record, logs_table};

fn record(i: i64) -> LogRecord {
    log_record(
        1_764_190_000_000_000_000 + i,
        "127.0.0.1:5514",
        &format!("line {i}"),
    )
}

/// Rows in the Parquet files of table `name`.
fn rows_on_disk(dir: &std::path::Path, name: &str) -> usize {
    let mut n = 0;
    for e in walk(&dir.join(name)) {
        let f = std::fs::File::open(e).unwrap();
        let r = parquet::file::reader::SerializedFileReader::new(f).unwrap();
        n += parquet::file::reader::FileReader::metadata(&r)
            .file_metadata()
            .num_rows() as usize;
    }
    n
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else if p.extension().is_some_and(|x| x == "parquet") {
            out.push(p);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_flush_bounds_what_waits_in_memory_and_loses_nothing() {
    bounded_flush(Topic::Logs).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_metrics_flush_bounds_what_waits_in_memory_and_loses_nothing() {
    bounded_flush(Topic::MetricsRaw).await;
}

/// The sink of `topic` (logs, or metrics) against a storage that fails, then recovers.
async fn bounded_flush(topic: Topic) {
    const TOTAL: i64 = 2_000;
    const FILE_ROWS: usize = 100;
    let name = if topic == Topic::Logs {
        "logs"
    } else {
        "metrics"
    };
    let dir = tempfile::tempdir().unwrap();
    // The table's folder cannot be created: every flush fails until this file goes.
    let blocker = dir.path().join(name);
    std::fs::write(&blocker, b"not a folder").unwrap();
    let store = ColdStore::local(dir.path()).unwrap();
    let table = if topic == Topic::Logs {
        logs_table(&store).await
    } else {
        metrics_table(&store).await
    };
    let bus = Arc::new(MemoryBus::new(MemoryBusConfig {
        capacity_events: 50,
    }));
    let sub = bus.subscribe(topic, "sink").unwrap();
    let config = StorageConfig {
        max_file_rows: FILE_ROWS,
        batch_rows: 10,
        batch_latency: Duration::from_millis(10),
        ..StorageConfig::default()
    };
    let sink = if topic == Topic::Logs {
        tokio::spawn(run_logs_sink(
            sub,
            table.clone(),
            config,
            CancellationToken::new(),
        ))
    } else {
        tokio::spawn(crate::run_metrics_sink(
            sub,
            table.clone(),
            config,
            CancellationToken::new(),
        ))
    };
    let published = Arc::new(std::sync::atomic::AtomicI64::new(0));
    let publisher = {
        let (bus, published) = (bus.clone(), published.clone());
        tokio::spawn(async move {
            for i in (0..TOTAL).step_by(10) {
                let batch = if topic == Topic::Logs {
                    EventBatch::Logs((i..i + 10).map(record).collect())
                } else {
                    EventBatch::Metrics(
                        (i..i + 10)
                            .map(|t| sample(1_764_190_000_000_000_000 + t, "m"))
                            .collect(),
                    )
                };
                bus.publish(topic, batch).await.unwrap();
                published.store(i + 10, std::sync::atomic::Ordering::SeqCst);
                // A steady sender, so the first flush starts near one file's worth.
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
    };

    // The first flush starts at one file's worth of rows, fails and retries; the sink
    // reads on beside it (a flush inline in the sink would stop it at one file's worth)
    // up to two files' worth, then stops reading: the publisher waits.
    let deadline = Instant::now() + Duration::from_secs(10);
    while table.pending().0 < 2 * FILE_ROWS {
        assert!(
            Instant::now() < deadline,
            "the sink stopped reading during the flush"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let seen = |t: &TableStore| {
        (
            t.pending().0,
            published.load(std::sync::atomic::Ordering::SeqCst),
        )
    };
    let before = seen(&table);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        seen(&table),
        before,
        "reading stopped while the flush fails"
    );
    assert!(before.1 < TOTAL, "the publisher felt no back-pressure");
    assert_eq!(rows_on_disk(dir.path(), name), 0);

    // Storage back: every row reaches Parquet exactly once.
    std::fs::remove_file(&blocker).unwrap();
    publisher.await.unwrap();
    bus.close();
    sink.await.unwrap();
    assert_eq!(rows_on_disk(dir.path(), name), TOTAL as usize);
    assert_eq!(table.pending().0, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hot_tier_stays_within_its_byte_bound_by_flushing_early_and_loses_nothing() {
    const TOTAL: i64 = 30_000;
    const BOUND: usize = 1 << 20;
    let dir = tempfile::tempdir().unwrap();
    let store = ColdStore::local(dir.path()).unwrap();
    let table = logs_table(&store).await;
    let bus = Arc::new(MemoryBus::new(MemoryBusConfig::default()));
    let sub = bus.subscribe(Topic::Logs, "sink").unwrap();
    // Neither the file size nor the file age would flush within this test, and the hot
    // window would keep everything: only the byte bound flushes and evicts.
    let config = StorageConfig {
        hot_max_bytes: BOUND,
        batch_rows: 100,
        batch_latency: Duration::from_millis(10),
        ..StorageConfig::default()
    };
    let sink = tokio::spawn(run_logs_sink(
        sub,
        table.clone(),
        config,
        CancellationToken::new(),
    ));
    let mut max_hot = 0;
    for i in (0..TOTAL).step_by(100) {
        bus.publish(
            Topic::Logs,
            EventBatch::Logs((i..i + 100).map(record).collect()),
        )
        .await
        .unwrap();
        max_hot = max_hot.max(table.hot_bytes().0);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Without the bound all 30,000 rows would stay in memory (several MB).
    assert!(max_hot > 0);
    let deadline = Instant::now() + Duration::from_secs(20);
    while table.hot_bytes().0 > BOUND {
        assert!(
            Instant::now() < deadline,
            "hot tier at {:?} bytes, bound {BOUND}",
            table.hot_bytes()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(rows_on_disk(dir.path(), "logs") > 0, "no early flush");
    // Between two of the sink's ticks the tier may exceed the bound by what arrived.
    assert!(max_hot < 4 * BOUND, "hot tier reached {max_hot} bytes");
    bus.close();
    sink.await.unwrap();
    assert_eq!(rows_on_disk(dir.path(), "logs"), TOTAL as usize);
}
