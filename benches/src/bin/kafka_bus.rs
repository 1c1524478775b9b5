//! Benchmark of the Kafka bus against a broker on this machine (tansu; see
//! `scripts/bench-kafka.sh`, which starts it and runs the plain librdkafka reference).
//!
//! - `produce`: SOTP's producer (`KafkaBus::publish` + flush until every event is
//!   acknowledged), messages/s; also writes the same messages to a file for the Python
//!   reference producer.
//! - `e2e`: samples/s from publish to rows in the hot tier and Parquet, on Kafka and on the
//!   embedded bus, same data, same run.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Parser, ValueEnum};
use sotp_bus::{Bus, MemoryBus, MemoryBusConfig};
use sotp_kafka::{KafkaBus, KafkaConfig};
use sotp_schemas::{
    DeviceId, EventBatch, MetricBatchBuilder, MetricName, MetricSample, Topic, UtcNanos,
    metric_schema,
};
use sotp_sinks::writer::Layout;
use sotp_sinks::{ColdStore, TableStore};

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Mode {
    Produce,
    E2e,
}

#[derive(Debug, Parser)]
struct Args {
    #[arg(value_enum)]
    mode: Mode,
    /// Broker address.
    #[arg(long)]
    brokers: String,
    /// Samples to send.
    #[arg(long, default_value_t = 1_000_000)]
    samples: usize,
    /// Where `produce` writes the messages (key TAB JSON per line) for the reference.
    #[arg(long)]
    messages_out: Option<std::path::PathBuf>,
}

fn samples(n: usize) -> Vec<EventBatch> {
    let metrics = [
        "icmp.rtt_ms",
        "icmp.loss_ratio",
        "icmp.up",
        "poll.ok",
        "poll.duration_ms",
    ]
    .map(MetricName::new);
    let col: Arc<str> = Arc::from("icmp");
    let devices: Vec<(DeviceId, Arc<str>)> = (0..1000)
        .map(|i| {
            let name = format!("bench-{i:04}");
            (DeviceId::new(&name), Arc::from(name.as_str()))
        })
        .collect();
    let base = UtcNanos::now().0;
    let mut out = Vec::new();
    let mut batch = Vec::with_capacity(1000);
    for i in 0..n {
        let (id, name) = &devices[i % devices.len()];
        let m = &metrics[(i / devices.len()) % metrics.len()];
        batch.push(MetricSample::gauge(
            UtcNanos(base + i as i64),
            id,
            name,
            &col,
            m,
            i as f64 * 0.001,
        ));
        if batch.len() == 1000 {
            out.push(EventBatch::Metrics(std::mem::take(&mut batch)));
        }
    }
    if !batch.is_empty() {
        out.push(EventBatch::Metrics(batch));
    }
    out
}

fn kafka_config(brokers: &str, prefix: &str) -> KafkaConfig {
    KafkaConfig {
        brokers: brokers.to_string(),
        topic_prefix: prefix.to_string(),
        group_prefix: prefix.to_string(),
        session_timeout: Duration::from_secs(6),
        ..KafkaConfig::default()
    }
}

async fn produce(args: &Args) -> anyhow::Result<()> {
    let prefix = format!("bench{}.", std::process::id());
    let bus = KafkaBus::connect(kafka_config(&args.brokers, &prefix)).await?;
    let data = samples(args.samples);
    if let Some(path) = &args.messages_out {
        use std::io::Write;
        let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
        for b in &data {
            let EventBatch::Metrics(v) = b else { continue };
            for (s, json) in v.iter().zip(b.to_json_lines()?) {
                f.write_all(s.device_id.as_str().as_bytes())?;
                f.write_all(b"\t")?;
                f.write_all(&json)?;
                f.write_all(b"\n")?;
            }
        }
    }
    let started = Instant::now();
    for b in data {
        bus.publish(Topic::MetricsRaw, b).await?;
    }
    let left = bus.flush(Duration::from_secs(300)).await;
    let secs = started.elapsed().as_secs_f64();
    anyhow::ensure!(left == 0, "{left} events undelivered");
    println!(
        "sotp_producer messages={} seconds={secs:.3} msgs_per_s={:.0}",
        args.samples,
        args.samples as f64 / secs
    );
    Ok(())
}

/// Publishes everything, consumes it into a table and flushes: samples/s.
async fn e2e_on(bus: Arc<dyn Bus>, n: usize, label: &str) -> anyhow::Result<f64> {
    let dir = tempfile::tempdir()?;
    let store = ColdStore::open("", dir.path())?;
    let table = TableStore::open(
        "metrics",
        metric_schema(),
        Layout::metrics(),
        store,
        1 << 20,
        1,
    )
    .await?;
    let mut sub = bus.subscribe(Topic::MetricsRaw, "bench")?;
    // Warm up: the consumer group join is not part of the measurement.
    let warmup = 1000;
    for b in samples(warmup) {
        bus.publish(Topic::MetricsRaw, b).await?;
    }
    let mut seen = 0;
    while seen < warmup {
        let d = tokio::time::timeout(Duration::from_secs(120), sub.recv())
            .await
            .context("no warm-up data for 120 s")?
            .context("stream ended")?;
        seen += d.batch.len();
    }
    let data = samples(n);
    let started = Instant::now();
    let publisher = {
        let bus = bus.clone();
        tokio::spawn(async move {
            for b in data {
                bus.publish(Topic::MetricsRaw, b).await?;
            }
            anyhow::Ok(())
        })
    };
    let mut builder = MetricBatchBuilder::with_capacity(8192);
    let mut got = 0;
    while got < n {
        let d = tokio::time::timeout(Duration::from_secs(120), sub.recv())
            .await
            .context("no data for 120 s")?
            .context("stream ended")?;
        if let EventBatch::Metrics(v) = d.batch {
            for s in &v {
                builder.push(s);
                if builder.len() >= 8192 {
                    table.append(builder.finish());
                }
            }
            got += v.len();
        }
    }
    table.append(builder.finish());
    let report = table.flush().await?;
    let secs = started.elapsed().as_secs_f64();
    publisher.await??;
    anyhow::ensure!(report.rows == n, "{} rows written of {n}", report.rows);
    println!(
        "e2e bus={label} samples={n} seconds={secs:.3} samples_per_s={:.0}",
        n as f64 / secs
    );
    Ok(n as f64 / secs)
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        match args.mode {
            Mode::Produce => produce(&args).await,
            Mode::E2e => {
                let memory: Arc<dyn Bus> = Arc::new(MemoryBus::new(MemoryBusConfig::default()));
                let mem = e2e_on(memory, args.samples, "memory").await?;
                let prefix = format!("benche2e{}.", std::process::id());
                let kafka: Arc<dyn Bus> =
                    Arc::new(KafkaBus::connect(kafka_config(&args.brokers, &prefix)).await?);
                let k = e2e_on(kafka, args.samples, "kafka").await?;
                println!("e2e kafka/memory ratio={:.2}", k / mem);
                Ok(())
            }
        }
    })
}
