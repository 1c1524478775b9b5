//! Benchmark of the Kafka bus against a broker on this machine (tansu; see
//! `scripts/bench-kafka.sh`, which starts a fresh broker for each run and runs the plain
//! librdkafka references).
//!
//! - `produce`: SOTP's producer (`KafkaBus::publish` + flush until every event is
//!   acknowledged), messages/s; also writes the same messages to a file for the Python
//!   reference producer.
//! - `e2e`: samples/s from publish to rows in the hot tier and Parquet, on Kafka and on the
//!   embedded bus, same data, same run. The consumer is the sinks' (a group member with
//!   clean rebalances, `subscribe_with_rebalance`).
//! - `consume`: fills a topic first, then times SOTP consuming it into a table and
//!   Parquet, and a plain librdkafka consumer (confluent-kafka, JSON decoding only:
//!   `scripts/bench_plain_consumer.py`) reading the same topic: the ratio says how much of
//!   the end-to-end time is SOTP's and how much the broker's.
//!
//! Each run prints where the time went: CPU seconds per thread group of this process and
//! of the broker (`--broker-pid`), the consumer's deliveries and the time it waited for
//! them, and librdkafka's fetch requests and bytes per request.

// The allocator of the `sotp` binary, so that the bench measures what runs.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Parser, ValueEnum};
use sotp_bus::{Bus, MemoryBus, MemoryBusConfig};
use sotp_kafka::{FetchTotals, KafkaBus, KafkaConfig};
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
    Consume,
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
    /// The broker's process id, to report its CPU time beside SOTP's.
    #[arg(long)]
    broker_pid: Option<u32>,
    /// Python with confluent-kafka for the `consume` reference.
    #[arg(long, env = "SOTP_PYTHON", default_value = "python3")]
    python: String,
}

/// CPU time of each thread of a process (`/proc/<pid>/task/*/schedstat`, nanoseconds on
/// CPU), grouped by what the threads do.
fn thread_cpu(pid: Option<u32>) -> BTreeMap<&'static str, Duration> {
    let root = pid.map_or_else(
        || "/proc/self/task".to_string(),
        |p| format!("/proc/{p}/task"),
    );
    let main = std::process::id().to_string();
    let mut out = BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir(&root) else {
        return out;
    };
    for t in tasks.flatten() {
        let path = t.path();
        let comm = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        let ns = sotp_benches::schedstat_ns(&path.join("schedstat"));
        let comm = comm.trim();
        let group = if pid.is_some() {
            "broker"
        } else if t.file_name().to_str() == Some(main.as_str()) {
            "main"
        } else if comm.starts_with("rdk:") {
            "librdkafka"
        } else if comm.starts_with("sotp-poll") {
            "consumer_poll_decode"
        } else if comm == "sotp-kafka-send" {
            "producer_sender"
        } else if comm.starts_with("producer pol") {
            "delivery_reports"
        } else if comm.starts_with("tokio-rt") {
            "tokio_workers"
        } else {
            "other"
        };
        *out.entry(group).or_default() += Duration::from_nanos(ns);
    }
    out
}

/// CPU time of this process (and the broker) since [`CpuSnapshot::take`].
struct CpuSnapshot {
    own: BTreeMap<&'static str, Duration>,
    broker: BTreeMap<&'static str, Duration>,
    broker_pid: Option<u32>,
}

impl CpuSnapshot {
    fn take(broker_pid: Option<u32>) -> Self {
        Self {
            own: thread_cpu(None),
            broker: broker_pid.map(|p| thread_cpu(Some(p))).unwrap_or_default(),
            broker_pid,
        }
    }

    /// `group=seconds ...` of the CPU used since the snapshot (threads that ended in
    /// between are not counted).
    fn report(&self) -> String {
        let now = Self::take(self.broker_pid);
        let mut parts = Vec::new();
        let mut total = Duration::ZERO;
        for (group, d) in &now.own {
            let used = d.saturating_sub(self.own.get(group).copied().unwrap_or_default());
            total += used;
            parts.push(format!("{group}={:.2}", used.as_secs_f64()));
        }
        parts.push(format!("sotp_total={:.2}", total.as_secs_f64()));
        if let Some(b) = now.broker.get("broker") {
            let used = b.saturating_sub(self.broker.get("broker").copied().unwrap_or_default());
            parts.push(format!("broker={:.2}", used.as_secs_f64()));
        }
        parts.join(" ")
    }
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
        statistics_interval: Some(Duration::from_millis(500)),
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

/// A table of the metrics schema in a temporary folder, as a sink keeps it.
async fn table(dir: &std::path::Path) -> anyhow::Result<Arc<TableStore>> {
    let store = ColdStore::open("", dir)?;
    Ok(TableStore::open(
        "metrics",
        metric_schema(),
        Layout::metrics(),
        store,
        1 << 20,
        1,
    )
    .await?)
}

/// What the consumer loop saw: deliveries and the time it waited for them.
#[derive(Default)]
struct ConsumerLoop {
    deliveries: u64,
    waited: Duration,
    /// When the first events arrived.
    first: Option<Instant>,
}

/// Receives `n` events from `sub` into `table` (Arrow batches of 8,192 rows, as the sinks
/// build them) and flushes it to Parquet.
async fn consume_into(
    sub: &mut Box<dyn sotp_bus::Subscription>,
    table: &TableStore,
    n: usize,
) -> anyhow::Result<ConsumerLoop> {
    let mut seen = ConsumerLoop::default();
    let mut builder = MetricBatchBuilder::with_capacity(8192);
    let mut got = 0;
    while got < n {
        let waiting = Instant::now();
        let d = tokio::time::timeout(Duration::from_secs(120), sub.recv())
            .await
            .context("no data for 120 s")?
            .context("stream ended")?;
        // The wait for the first delivery is the group join, not a fetch.
        if seen.first.is_some() {
            seen.waited += waiting.elapsed();
        }
        seen.first.get_or_insert_with(Instant::now);
        seen.deliveries += 1;
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
    anyhow::ensure!(report.rows == n, "{} rows written of {n}", report.rows);
    Ok(seen)
}

/// `consumer ...` line: deliveries, wait, and librdkafka's fetches when known.
fn consumer_line(label: &str, n: usize, seen: &ConsumerLoop, fetch: Option<FetchTotals>) -> String {
    let mut line = format!(
        "consumer bus={label} deliveries={} events_per_delivery={:.0} waited_for_events_s={:.2}",
        seen.deliveries,
        n as f64 / seen.deliveries.max(1) as f64,
        seen.waited.as_secs_f64()
    );
    if let Some(f) = fetch {
        line.push_str(&format!(
            " fetch_requests={} bytes_fetched={} bytes_per_fetch={:.0} messages_per_fetch={:.0}",
            f.requests,
            f.bytes,
            f.bytes as f64 / f.requests.max(1) as f64,
            f.messages as f64 / f.requests.max(1) as f64
        ));
    }
    line
}

/// Waits for librdkafka's next statistics (every 500 ms) so that the fetch totals
/// include the end of the run.
async fn settled_fetch_totals(bus: &KafkaBus) -> FetchTotals {
    let before = bus.fetch_totals();
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = bus.fetch_totals();
        if now != before {
            return now;
        }
    }
    bus.fetch_totals()
}

/// Publishes everything while consuming it into a table, and flushes: samples/s.
async fn e2e_on(
    bus: Arc<dyn Bus>,
    kafka: Option<&KafkaBus>,
    n: usize,
    label: &str,
    broker_pid: Option<u32>,
) -> anyhow::Result<f64> {
    let dir = tempfile::tempdir()?;
    let table = table(dir.path()).await?;
    let mut sub = bus.subscribe_with_rebalance(Topic::MetricsRaw, "bench")?;
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
    let fetch_before = match kafka {
        Some(k) => Some(settled_fetch_totals(k).await),
        None => None,
    };
    let data = samples(n);
    let cpu = CpuSnapshot::take(broker_pid);
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
    let consumed = consume_into(&mut sub, &table, n).await?;
    let secs = started.elapsed().as_secs_f64();
    let cpu = cpu.report();
    publisher.await??;
    let fetch = match (kafka, fetch_before) {
        (Some(k), Some(b)) => {
            let a = settled_fetch_totals(k).await;
            Some(FetchTotals {
                requests: a.requests - b.requests,
                bytes: a.bytes - b.bytes,
                messages: a.messages - b.messages,
            })
        }
        _ => None,
    };
    println!(
        "e2e bus={label} samples={n} seconds={secs:.3} samples_per_s={:.0}",
        n as f64 / secs
    );
    println!("cpu_seconds bus={label} {cpu}");
    println!("{}", consumer_line(label, n, &consumed, fetch));
    Ok(n as f64 / secs)
}

/// Fills a topic, then consumes it with SOTP and with the plain reference consumer.
async fn consume(args: &Args) -> anyhow::Result<()> {
    let prefix = format!("benchconsume{}.", std::process::id());
    let config = kafka_config(&args.brokers, &prefix);
    let topic = config.topic(Topic::MetricsRaw);
    let bus = KafkaBus::connect(config).await?;
    let started = Instant::now();
    for b in samples(args.samples) {
        bus.publish(Topic::MetricsRaw, b).await?;
    }
    anyhow::ensure!(
        bus.sync(Duration::from_secs(300)).await,
        "the topic was not filled: {:?}",
        bus.totals()
    );
    println!(
        "filled topic={topic} messages={} seconds={:.3}",
        args.samples,
        started.elapsed().as_secs_f64()
    );
    let dir = tempfile::tempdir()?;
    let table = table(dir.path()).await?;
    let mut sub = bus.subscribe_with_rebalance(Topic::MetricsRaw, "consume")?;
    let cpu = CpuSnapshot::take(args.broker_pid);
    let consumed = consume_into(&mut sub, &table, args.samples).await?;
    let first = consumed.first.context("no delivery")?;
    let secs = first.elapsed().as_secs_f64();
    let cpu = cpu.report();
    let fetch = settled_fetch_totals(&bus).await;
    let sotp = args.samples as f64 / secs;
    println!(
        "sotp_consumer messages={} seconds={secs:.3} msgs_per_s={sotp:.0}",
        args.samples
    );
    println!("cpu_seconds bus=kafka-consume {cpu}");
    println!(
        "{}",
        consumer_line("kafka-consume", args.samples, &consumed, Some(fetch))
    );
    drop(sub);
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../scripts/bench_plain_consumer.py"
    );
    let plain = |extra: &[&str]| -> anyhow::Result<f64> {
        let out = std::process::Command::new(&args.python)
            .args([script, &args.brokers, &topic, &args.samples.to_string()])
            .args(extra)
            .output()
            .with_context(|| format!("running {} {script}", args.python))?;
        let text = String::from_utf8_lossy(&out.stdout);
        anyhow::ensure!(
            out.status.success(),
            "the plain consumer failed: {}{}",
            text,
            String::from_utf8_lossy(&out.stderr)
        );
        print!("{text}");
        text.split_whitespace()
            .find_map(|w| w.strip_prefix("msgs_per_s="))
            .and_then(|v| v.parse().ok())
            .context("no msgs_per_s in the plain consumer's output")
    };
    // What the broker and librdkafka allow without decoding, then with the JSON decoded.
    plain(&["--fetch-only"])?;
    let plain = plain(&[])?;
    println!("consume sotp/plain ratio={:.2}", sotp / plain);
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        match args.mode {
            Mode::Produce => produce(&args).await,
            Mode::Consume => consume(&args).await,
            Mode::E2e => {
                let memory: Arc<dyn Bus> = Arc::new(MemoryBus::new(MemoryBusConfig::default()));
                let mem = e2e_on(memory, None, args.samples, "memory", None).await?;
                let prefix = format!("benche2e{}.", std::process::id());
                let kafka = KafkaBus::connect(kafka_config(&args.brokers, &prefix)).await?;
                let bus: Arc<dyn Bus> = Arc::new(kafka.clone());
                let k = e2e_on(bus, Some(&kafka), args.samples, "kafka", args.broker_pid).await?;
                println!("e2e kafka/memory ratio={:.2}", k / mem);
                Ok(())
            }
        }
    })
}
