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

use sotp_benches::{snmp_poll, thread_cpu_ns};
use sotp_pipeline::stream::Stage;
use sotp_schemas::{DeviceId, MetricSample};

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
            last.extend(snmp_poll(id, n, &ifaces, k));
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
