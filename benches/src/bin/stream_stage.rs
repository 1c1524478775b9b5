//! Streaming-stage throughput: raw SNMP counter samples per second turned into rates,
//! utilization and 1-minute rollups, on one core.
//!
//! `cargo run -p sotp-benches --profile bench --bin stream_stage -- [devices] [interfaces] [polls] [micro_batch]`
//!
//! Polls are gathered into micro-batches of at least `micro_batch` raw samples (default
//! `MICRO_BATCH_SAMPLES`, as `run_stream` does with what is queued); each micro-batch
//! is one DataFusion computation. Prints wall-clock throughput and throughput per second
//! the thread was on a CPU (the cost, steady whatever else the machine runs).

use std::sync::Arc;
use std::time::Instant;

// The allocator of the `sotp` binary, so that the bench measures what runs.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use sotp_pipeline::stream::Stage;
use sotp_schemas::{DeviceId, MetricName, MetricSample, UtcNanos};

const COUNTERS: [&str; 8] = [
    "if.in_octets",
    "if.out_octets",
    "if.in_ucast_pkts",
    "if.out_ucast_pkts",
    "if.in_errors",
    "if.out_errors",
    "if.in_discards",
    "if.out_discards",
];

fn poll(dev: &DeviceId, name: &Arc<str>, ifaces: &[Arc<str>], k: i64) -> Vec<MetricSample> {
    let collector: Arc<str> = Arc::from("snmp");
    let t = UtcNanos(1_767_225_600_000_000_000 + k * 30_000_000_000);
    let mut out = Vec::with_capacity(1 + ifaces.len() * 10);
    let g = |m: &str, v: f64| MetricSample::gauge(t, dev, name, &collector, &MetricName::new(m), v);
    out.push(g("sys.uptime_s", 1000.0 + 30.0 * k as f64));
    for (i, inst) in ifaces.iter().enumerate() {
        let mut s = g("if.speed_bps", 1e9);
        s.instance = Some(inst.clone());
        out.push(s);
        for (c, m) in COUNTERS.iter().enumerate() {
            let mut s = g(m, 0.0);
            let v = (k as u64) * 1_000_000 * (c as u64 + 1) + i as u64;
            s.counter = Some(v);
            s.value = v as f64;
            s.instance = Some(inst.clone());
            s.labels.insert("counter_width".into(), "64".into());
            out.push(s);
        }
    }
    out
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let devices = args.first().copied().unwrap_or(200);
    let interfaces = args.get(1).copied().unwrap_or(48);
    let polls = args.get(2).copied().unwrap_or(10);
    let micro = args
        .get(3)
        .copied()
        .unwrap_or(sotp_pipeline::stream::MICRO_BATCH_SAMPLES);
    let ifaces: Vec<Arc<str>> = (0..interfaces)
        .map(|i| Arc::from(format!("Gi0/{i}")))
        .collect();
    let devs: Vec<(DeviceId, Arc<str>)> = (0..devices)
        .map(|d| (DeviceId::new(format!("d{d}")), Arc::from(format!("d{d}"))))
        .collect();
    // Batches are built before timing: the bench measures the stage, not the generator.
    let mut batches: Vec<Vec<MetricSample>> = vec![Vec::new()];
    for k in 0..polls as i64 {
        for (id, n) in &devs {
            let last = batches.last_mut().expect("one batch at least");
            last.extend(poll(id, n, &ifaces, k));
            if last.len() >= micro {
                batches.push(Vec::new());
            }
        }
    }
    batches.retain(|b| !b.is_empty());
    let raw: usize = batches.iter().map(Vec::len).sum();
    let mut stage = Stage::default();
    let (mut out, mut rollups) = (Vec::new(), Vec::new());
    let started = Instant::now();
    let cpu_started = thread_cpu_ns();
    for b in &batches {
        stage.process(b, &mut out, &mut rollups);
        out.clear();
    }
    let secs = started.elapsed().as_secs_f64();
    let cpu_secs = (thread_cpu_ns() - cpu_started) as f64 / 1e9;
    println!(
        "stream_stage: {raw} raw samples ({devices} devices x {interfaces} interfaces x {polls} polls, {} micro-batches of >= {micro}) in {secs:.3} s = {:.0} samples/s; on-CPU {cpu_secs:.3} s = {:.0} samples per CPU-second; {} rates, {} rollup rows",
        batches.len(),
        raw as f64 / secs,
        raw as f64 / cpu_secs,
        stage.stats.rates,
        rollups.len()
    );
}

/// Time this thread spent on a CPU, ns (Linux `schedstat`): the stage runs on the calling
/// thread (one DataFusion partition), so this is its cost whatever else the machine runs.
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}
