//! Bytes per sample in Parquet for a day of realistic series: interface octet counters
//! every 30 s and ICMP RTTs every 10 s.
//!
//! Counters grow by a per-interface traffic rate (log-uniform from 10 kbit/s to 1 Gbit/s,
//! a quarter of the ports unused) that drifts over the day (diurnal curve plus noise); RTTs are a per-device base plus small noise, measured to the microsecond
//! like the collector's clock. Rows go through the same `TableStore` flush as production.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use rand::{Rng, SeedableRng};
use sotp_schemas::{
    DeviceId, MetricBatchBuilder, MetricName, MetricSample, UtcNanos, metric_schema,
};
use sotp_sinks::writer::Layout;
use sotp_sinks::{ColdStore, StorageConfig, TableStore};

const SEC: i64 = 1_000_000_000;

pub(crate) async fn run(
    devices: u32,
    hours: u32,
    interfaces: u32,
    keep: Option<std::path::PathBuf>,
) -> anyhow::Result<serde_json::Value> {
    let tmp = tempfile::tempdir()?;
    let dir = keep.unwrap_or_else(|| tmp.path().to_path_buf());
    let config = StorageConfig::default();
    let cold = ColdStore::local(&dir)?;
    let table = TableStore::open(
        "metrics",
        metric_schema(),
        Layout::metrics(),
        cold,
        config.row_group_rows,
        config.zstd_level,
    )
    .await?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    let start = 1_764_115_200 * SEC; // 2025-11-26T00:00:00Z
    let span = i64::from(hours) * 3600 * SEC;
    let snmp: Arc<str> = Arc::from("snmp");
    let icmp: Arc<str> = Arc::from("icmp");
    let (in_oct, out_oct, rtt) = (
        MetricName::new("if.in_octets"),
        MetricName::new("if.out_octets"),
        MetricName::new("icmp.rtt_ms"),
    );
    let mut total = 0u64;
    let t0 = Instant::now();
    // One device at a time keeps memory flat; a flush every ~2M rows like production.
    let mut b = MetricBatchBuilder::with_capacity(1 << 16);
    for d in 0..devices {
        let id = DeviceId::new(format!("dev-{d:05}"));
        let name: Arc<str> = Arc::from(format!("core-{d:05}"));
        for i in 0..interfaces {
            let ifname: Arc<str> = Arc::from(format!("GigabitEthernet0/{i}"));
            let labels = BTreeMap::from([("counter_width".to_string(), "64".to_string())]);
            for metric in [&in_oct, &out_oct] {
                // Traffic is log-uniform between 10 kbit/s and 1 Gbit/s, and a quarter of
                // the ports are unused (counters stand still), as on access switches.
                let idle = rng.random_bool(0.25);
                let mean_bps: f64 = if idle {
                    0.0
                } else {
                    10f64.powf(rng.random_range(4.0..9.0))
                };
                let mut counter: u64 = rng.random();
                counter >>= 8;
                let mut t = start;
                while t < start + span {
                    let day = (t as f64 / (86_400.0 * SEC as f64)) * std::f64::consts::TAU;
                    let bps = mean_bps * (1.0 + 0.5 * day.sin()) * rng.random_range(0.8..1.2);
                    counter = counter.wrapping_add((bps * 30.0 / 8.0) as u64);
                    let mut s =
                        MetricSample::gauge(UtcNanos(t), &id, &name, &snmp, metric, counter as f64);
                    s.counter = Some(counter);
                    s.instance = Some(ifname.clone());
                    s.labels = labels.clone();
                    b.push(&s);
                    total += 1;
                    t += 30 * SEC;
                }
            }
        }
        let base: f64 = rng.random_range(0.2..40.0);
        let mut t = start;
        while t < start + span {
            let v = ((base + rng.random_range(0.0..base * 0.05)) * 1000.0).round() / 1000.0;
            b.push(&MetricSample::gauge(
                UtcNanos(t),
                &id,
                &name,
                &icmp,
                &rtt,
                v,
            ));
            total += 1;
            t += 10 * SEC;
        }
        if b.len() >= 1 << 16 {
            table.append(b.finish());
        }
        if table.pending().0 >= config.max_file_rows {
            table.flush().await?;
            table.evict(std::time::Duration::ZERO);
        }
    }
    if !b.is_empty() {
        table.append(b.finish());
    }
    table.flush().await?;
    let snap = table.snapshot();
    let bytes: u64 = snap.cold.iter().map(|f| f.size).sum();
    Ok(serde_json::json!({
        "bench": "storage",
        "devices": devices,
        "hours": hours,
        "interfaces_per_device": interfaces,
        "samples": total,
        "parquet_files": snap.cold.len(),
        "parquet_bytes": bytes,
        "bytes_per_sample": bytes as f64 / total as f64,
        "seconds": t0.elapsed().as_secs_f64(),
    }))
}
