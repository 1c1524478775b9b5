//! Bytes per sample in Parquet for a day of realistic series: interface counters every
//! 30 s and ICMP RTTs every 10 s.
//!
//! `--series collector` (the default) writes what the SNMP collector stores for each
//! interface at each 30 s poll (`ingest/src/snmp/interfaces.rs`): the eight IF-MIB
//! counters (octets and unicast packets as Counter64, errors and discards as Counter32)
//! plus speed, admin status, oper status and the discontinuity time. `--series octets`
//! keeps only the two octet counters: the worst case, every sample a noisy counter.
//!
//! Traffic per direction is log-uniform between 10 kbit/s and 1 Gbit/s, follows a diurnal
//! curve and has ±20 % independent noise in every interval; a quarter of the ports are
//! unused (counters stand still, oper status down). Packets follow the octets through a
//! per-port mean packet size with ±5 % noise. One port in twenty has sporadic errors and
//! discards. RTTs are a per-device base plus up to 5 % noise, at microsecond resolution
//! like the collector's clock. Rows go through the same `TableStore` flush as production.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use clap::ValueEnum;
use parquet::file::reader::{FileReader, SerializedFileReader};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sotp_schemas::{
    DeviceId, MetricBatchBuilder, MetricName, MetricSample, UtcNanos, metric_schema,
};
use sotp_sinks::writer::Layout;
use sotp_sinks::{ColdStore, StorageConfig, TableStore};

const SEC: i64 = 1_000_000_000;
const POLL: i64 = 30 * SEC;

/// Which interface series each poll writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Series {
    /// Everything the SNMP collector stores per interface and poll (12 samples).
    Collector,
    /// Only ifHCInOctets and ifHCOutOctets (2 samples): the worst case.
    Octets,
}

/// One direction of one port.
struct Direction {
    mean_bps: f64,
    packet_bytes: f64,
    octets: u64,
    packets: u64,
    errors: u32,
    discards: u32,
}

impl Direction {
    fn new(rng: &mut StdRng, idle: bool) -> Self {
        Self {
            mean_bps: if idle {
                0.0
            } else {
                10f64.powf(rng.random_range(4.0..9.0))
            },
            packet_bytes: rng.random_range(300.0..1400.0),
            octets: rng.random::<u64>() >> 8,
            packets: rng.random::<u64>() >> 16,
            errors: rng.random_range(0..1000),
            discards: rng.random_range(0..10_000),
        }
    }

    /// Advances the counters by one poll interval at time `t`.
    fn step(&mut self, rng: &mut StdRng, t: i64, faulty: bool) {
        if self.mean_bps == 0.0 {
            return;
        }
        let day = (t as f64 / (86_400.0 * SEC as f64)) * std::f64::consts::TAU;
        let bps = self.mean_bps * (1.0 + 0.5 * day.sin()) * rng.random_range(0.8..1.2);
        let octets = bps * 30.0 / 8.0;
        self.octets = self.octets.wrapping_add(octets as u64);
        let size = self.packet_bytes * rng.random_range(0.95..1.05);
        self.packets = self.packets.wrapping_add((octets / size) as u64);
        if faulty && rng.random_bool(0.01) {
            self.errors = self.errors.wrapping_add(rng.random_range(1..20));
        }
        if faulty && rng.random_bool(0.02) {
            self.discards = self.discards.wrapping_add(rng.random_range(1..50));
        }
    }
}

/// Names interned once.
struct Names {
    snmp: Arc<str>,
    icmp: Arc<str>,
    rtt: MetricName,
    octets: [MetricName; 2],
    packets: [MetricName; 2],
    errors: [MetricName; 2],
    discards: [MetricName; 2],
    speed: MetricName,
    admin: MetricName,
    oper: MetricName,
    discontinuity: MetricName,
}

impl Names {
    fn new() -> Self {
        let pair = |a: &str, b: &str| [MetricName::new(a), MetricName::new(b)];
        Self {
            snmp: Arc::from("snmp"),
            icmp: Arc::from("icmp"),
            rtt: MetricName::new("icmp.rtt_ms"),
            octets: pair("if.in_octets", "if.out_octets"),
            packets: pair("if.in_ucast_pkts", "if.out_ucast_pkts"),
            errors: pair("if.in_errors", "if.out_errors"),
            discards: pair("if.in_discards", "if.out_discards"),
            speed: MetricName::new("if.speed_bps"),
            admin: MetricName::new("if.admin_status"),
            oper: MetricName::new("if.oper_status"),
            discontinuity: MetricName::new("if.counter_discontinuity_ticks"),
        }
    }
}

pub(crate) async fn run(
    devices: u32,
    hours: u32,
    interfaces: u32,
    series: Series,
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
    let mut rng = StdRng::seed_from_u64(42);
    let start = 1_764_115_200 * SEC; // 2025-11-26T00:00:00Z
    let end = start + i64::from(hours) * 3600 * SEC;
    let n = Names::new();
    let mut total = 0u64;
    let t0 = Instant::now();
    // One device at a time keeps memory flat; a flush every ~2M rows like production.
    let mut b = MetricBatchBuilder::with_capacity(1 << 16);
    for d in 0..devices {
        let id = DeviceId::new(format!("dev-{d:05}"));
        let name: Arc<str> = Arc::from(format!("core-{d:05}"));
        for i in 0..interfaces {
            let ifname: Arc<str> = Arc::from(format!("GigabitEthernet0/{i}"));
            let idle = rng.random_bool(0.25);
            let faulty = !idle && rng.random_bool(0.05);
            let speed = if rng.random_bool(0.8) { 1e9 } else { 1e10 };
            let mut dirs = [
                Direction::new(&mut rng, idle),
                Direction::new(&mut rng, idle),
            ];
            let mut labels = BTreeMap::from([("if_index".to_string(), (i + 1).to_string())]);
            if rng.random_bool(0.5) {
                labels.insert("alias".into(), format!("uplink to rack {}", i % 7));
            }
            let counter_labels = |width: &str| {
                let mut l = labels.clone();
                l.insert("counter_width".into(), width.into());
                l
            };
            let (w64, w32) = (counter_labels("64"), counter_labels("32"));
            let mut t = start;
            while t < end {
                let mut push = |metric: &MetricName, value: f64, counter: Option<(u64, &_)>| {
                    let mut s =
                        MetricSample::gauge(UtcNanos(t), &id, &name, &n.snmp, metric, value);
                    s.instance = Some(ifname.clone());
                    s.labels = match counter {
                        Some((c, l)) => {
                            s.counter = Some(c);
                            BTreeMap::clone(l)
                        }
                        None => labels.clone(),
                    };
                    b.push(&s);
                    total += 1;
                };
                for (k, dir) in dirs.iter_mut().enumerate() {
                    dir.step(&mut rng, t, faulty);
                    push(&n.octets[k], dir.octets as f64, Some((dir.octets, &w64)));
                    if series == Series::Collector {
                        push(&n.packets[k], dir.packets as f64, Some((dir.packets, &w64)));
                        let errors = u64::from(dir.errors);
                        push(&n.errors[k], errors as f64, Some((errors, &w32)));
                        let discards = u64::from(dir.discards);
                        push(&n.discards[k], discards as f64, Some((discards, &w32)));
                    }
                }
                if series == Series::Collector {
                    push(&n.speed, speed, None);
                    push(&n.admin, if idle { 2.0 } else { 1.0 }, None);
                    push(&n.oper, if idle { 2.0 } else { 1.0 }, None);
                    push(&n.discontinuity, 0.0, None);
                }
                t += POLL;
            }
        }
        let base: f64 = rng.random_range(0.2..40.0);
        let mut t = start;
        while t < end {
            let v = ((base + rng.random_range(0.0..base * 0.05)) * 1000.0).round() / 1000.0;
            b.push(&MetricSample::gauge(
                UtcNanos(t),
                &id,
                &name,
                &n.icmp,
                &n.rtt,
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
    table.evict(std::time::Duration::ZERO);
    let snap = table.snapshot();
    let bytes: u64 = snap.cold.iter().map(|f| f.size).sum();
    let columns = column_bytes(&dir)?;
    let per_column: serde_json::Map<String, serde_json::Value> = columns
        .iter()
        .map(|(c, b)| (c.clone(), serde_json::json!(*b as f64 / total as f64)))
        .collect();
    Ok(serde_json::json!({
        "bench": "storage",
        "series": format!("{series:?}").to_lowercase(),
        "devices": devices,
        "hours": hours,
        "interfaces_per_device": interfaces,
        "samples": total,
        "parquet_files": snap.cold.len(),
        "parquet_bytes": bytes,
        "bytes_per_sample": bytes as f64 / total as f64,
        "column_bytes_per_sample": per_column,
        "seconds": t0.elapsed().as_secs_f64(),
    }))
}

/// Compressed bytes per top-level column over every Parquet file under `dir`.
fn column_bytes(dir: &std::path::Path) -> anyhow::Result<BTreeMap<String, u64>> {
    let mut out = BTreeMap::new();
    for entry in walkdir(dir)? {
        if entry.extension().is_none_or(|e| e != "parquet") {
            continue;
        }
        let reader = SerializedFileReader::new(std::fs::File::open(&entry)?)?;
        for rg in reader.metadata().row_groups() {
            for col in rg.columns() {
                let top = col.column_path().parts()[0].clone();
                *out.entry(top).or_default() += col.compressed_size() as u64;
            }
        }
    }
    Ok(out)
}

fn walkdir(dir: &std::path::Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)? {
            let p = e?.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    Ok(out)
}
