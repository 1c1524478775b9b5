//! Synthetic samples through the in-process bus, the hot tier and Parquet, as `sotp run`
//! wires them on embedded defaults.

use std::sync::Arc;
use std::time::Instant;

use sotp_bus::{Bus, MemoryBus, MemoryBusConfig};
use sotp_schemas::{
    DeviceId, EventBatch, MetricName, MetricSample, Topic, UtcNanos, metric_schema,
};
use sotp_sinks::writer::Layout;
use sotp_sinks::{ColdStore, StorageConfig, TableStore, run_metrics_sink};
use tokio_util::sync::CancellationToken;

const BATCH: u64 = 1000;

pub(crate) async fn run(samples: u64, producers: u64) -> anyhow::Result<serde_json::Value> {
    let dir = tempfile::tempdir()?;
    let config = StorageConfig::default();
    let cold = ColdStore::local(dir.path())?;
    let table = TableStore::open(
        "metrics",
        metric_schema(),
        Layout::metrics(),
        cold,
        config.row_group_rows,
        config.zstd_level,
    )
    .await?;
    let bus = MemoryBus::new(MemoryBusConfig::default());
    let sub = bus.subscribe(Topic::MetricsRaw, "sink")?;
    let sink = tokio::spawn(run_metrics_sink(
        sub,
        table.clone(),
        config,
        CancellationToken::new(),
    ));

    let metrics: Vec<MetricName> = ["icmp.rtt_ms", "icmp.loss_ratio", "icmp.up", "poll.ok"]
        .map(MetricName::new)
        .to_vec();
    let collector: Arc<str> = Arc::from("bench");
    let devices: Vec<(DeviceId, Arc<str>)> = (0..10_000)
        .map(|i| {
            let id = DeviceId::new(format!("dev-{i:05}"));
            let name: Arc<str> = Arc::from(id.as_str());
            (id, name)
        })
        .collect();
    let devices = Arc::new(devices);

    let start = Instant::now();
    let cpu0 = crate::cpu_seconds(false);
    let base = UtcNanos::now().0;
    let per_producer = samples / producers;
    let mut tasks = Vec::new();
    for p in 0..producers {
        let (bus, metrics, collector, devices) = (
            bus.clone(),
            metrics.clone(),
            collector.clone(),
            devices.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut i = p * per_producer;
            let end = i + per_producer;
            while i < end {
                let n = BATCH.min(end - i);
                let batch: Vec<MetricSample> = (i..i + n)
                    .map(|k| {
                        let (id, name) = &devices[(k % devices.len() as u64) as usize];
                        let m =
                            &metrics[(k / devices.len() as u64 % metrics.len() as u64) as usize];
                        MetricSample::gauge(
                            UtcNanos(base + k as i64 * 1000),
                            id,
                            name,
                            &collector,
                            m,
                            (k % 997) as f64 * 0.01,
                        )
                    })
                    .collect();
                bus.publish(Topic::MetricsRaw, EventBatch::Metrics(batch))
                    .await
                    .expect("bus open");
                i += n;
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    let published = start.elapsed().as_secs_f64();
    bus.close();
    sink.await?;
    let total = start.elapsed().as_secs_f64();
    let snap = table.snapshot();
    let written = samples / producers * producers;
    // Everything must have arrived and be on disk: nothing pending, every row counted.
    anyhow::ensure!(table.pending().0 == 0, "rows left unflushed");
    anyhow::ensure!(
        snap.hot_rows() as u64 == written,
        "{} rows arrived, {written} sent",
        snap.hot_rows()
    );
    let files = table.flush().await?; // no-op: proves the final flush covered everything
    anyhow::ensure!(files.rows == 0);
    let bytes: u64 = walk_bytes(dir.path());
    Ok(serde_json::json!({
        "bench": "ingest",
        "samples": written,
        "producers": producers,
        "seconds_to_publish": published,
        "seconds_until_all_in_parquet": total,
        "samples_per_second": written as f64 / total,
        "cpu_seconds": crate::cpu_seconds(false) - cpu0,
        "samples_per_cpu_second": written as f64 / (crate::cpu_seconds(false) - cpu0),
        "parquet_bytes": bytes,
    }))
}

fn walk_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| {
            let p = e.path();
            if p.is_dir() {
                walk_bytes(&p)
            } else {
                e.metadata().map(|m| m.len()).unwrap_or(0)
            }
        })
        .sum()
}

/// Times the parts of the ingest path on `n` samples: building them, turning them into
/// Arrow batches, and one flush (sort, encode, write).
pub(crate) async fn parts(n: u64) -> anyhow::Result<serde_json::Value> {
    let collector: Arc<str> = Arc::from("bench");
    let metrics: Vec<MetricName> = ["icmp.rtt_ms", "icmp.loss_ratio", "icmp.up", "poll.ok"]
        .map(MetricName::new)
        .to_vec();
    let devices: Vec<(DeviceId, Arc<str>)> = (0..10_000)
        .map(|i| {
            let id = DeviceId::new(format!("dev-{i:05}"));
            let name: Arc<str> = Arc::from(id.as_str());
            (id, name)
        })
        .collect();
    let base = UtcNanos::now().0;
    let t = Instant::now();
    let samples: Vec<MetricSample> = (0..n)
        .map(|k| {
            let (id, name) = &devices[(k % 10_000) as usize];
            let m = &metrics[(k / 10_000 % 4) as usize];
            MetricSample::gauge(
                UtcNanos(base + k as i64 * 1000),
                id,
                name,
                &collector,
                m,
                (k % 997) as f64 * 0.01,
            )
        })
        .collect();
    let make = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut b = sotp_schemas::MetricBatchBuilder::with_capacity(65_536);
    let mut batches = Vec::new();
    for s in &samples {
        b.push(s);
        if b.len() >= 65_536 {
            batches.push(b.finish());
        }
    }
    batches.push(b.finish());
    let build = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let hours = sotp_sinks::writer::split_by_hour(&batches, &Layout::metrics())?;
    let sort = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let props =
        sotp_sinks::writer::writer_properties(&metric_schema(), &Layout::metrics(), 1_000_000, 3)?;
    let mut encoded = 0;
    for (_, b) in &hours {
        encoded += sotp_sinks::writer::encode(b, props.clone())?.len();
    }
    let encode = t.elapsed().as_secs_f64();
    let dir = tempfile::tempdir()?;
    let config = StorageConfig::default();
    let table = TableStore::open(
        "metrics",
        metric_schema(),
        Layout::metrics(),
        ColdStore::local(dir.path())?,
        config.row_group_rows,
        config.zstd_level,
    )
    .await?;
    for batch in batches {
        table.append(batch);
    }
    let t = Instant::now();
    let report = table.flush().await?;
    let flush = t.elapsed().as_secs_f64();
    Ok(serde_json::json!({
        "bench": "ingest-parts", "samples": n,
        "make_samples_s": make, "arrow_batches_s": build, "sort_split_s": sort, "encode_s": encode, "encoded_bytes": encoded, "flush_s": flush, "rows_flushed": report.rows,
    }))
}
