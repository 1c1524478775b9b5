//! Time to decode one metric sample from its JSON wire form, as the Kafka consumer does
//! (`MetricSample::from_json`), beside serde's derived decoder on the same messages; and
//! to encode one (`MetricSample::to_json`, as the producer does) beside `serde_json`.
//!
//! `cargo run --profile bench -p sotp-schemas --example decode_cost [messages]`

use std::sync::Arc;
use std::time::Instant;

use sotp_schemas::{DeviceId, EventBatch, MetricName, MetricSample, Topic, UtcNanos};

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let metrics = [
        "icmp.rtt_ms",
        "icmp.loss_ratio",
        "icmp.up",
        "icmp.jitter_ms",
    ]
    .map(MetricName::new);
    let col: Arc<str> = Arc::from("icmp");
    let base = UtcNanos::now().0;
    let samples: Vec<MetricSample> = (0..n)
        .map(|i| {
            let name = format!("bench-{:04}", i % 1000);
            MetricSample::gauge(
                UtcNanos(base + i as i64),
                &DeviceId::new(&name),
                &Arc::from(name.as_str()),
                &col,
                &metrics[(i / 1000) % metrics.len()],
                i as f64 * 0.001,
            )
        })
        .collect();
    let wire: Vec<Vec<u8>> = samples
        .iter()
        .map(|s| serde_json::to_vec(s).expect("a sample serializes"))
        .collect();
    for round in 0..3 {
        let start = Instant::now();
        let mut decoded = 0usize;
        for w in &wire {
            decoded += EventBatch::from_json(Topic::MetricsRaw, w)
                .expect("our own encoding decodes")
                .len();
        }
        let one_pass = start.elapsed().as_nanos() as f64 / decoded as f64;
        let start = Instant::now();
        for w in &wire {
            let s: MetricSample = serde_json::from_slice(w).expect("our own encoding decodes");
            std::hint::black_box(s);
        }
        let serde = start.elapsed().as_nanos() as f64 / wire.len() as f64;
        let start = Instant::now();
        for s in &samples {
            std::hint::black_box(s.to_json().expect("a sample encodes"));
        }
        let encode = start.elapsed().as_nanos() as f64 / samples.len() as f64;
        let start = Instant::now();
        for s in &samples {
            std::hint::black_box(serde_json::to_vec(s).expect("a sample encodes"));
        }
        let encode_serde = start.elapsed().as_nanos() as f64 / samples.len() as f64;
        println!(
            "round {round}: {decoded} samples; decode: from_json {one_pass:.0} ns, serde_json {serde:.0} ns ({:.2}x); \
             encode: to_json {encode:.0} ns, serde_json {encode_serde:.0} ns ({:.2}x)",
            serde / one_pass,
            encode_serde / encode
        );
    }
}
