//! The availability report over a month of polls against the same SQL in DuckDB.
//!
//! The data set: `--devices` devices polled by ICMP every 30 s for `--days` days from
//! 2026-11-01 (1,000 devices and 30 days: 86.4 million `icmp.up` samples), each device
//! with up to three outages of 30 s to an hour and one device in twenty with a collector
//! gap of up to two hours, written through the production `TableStore` flush into `--dir`
//! (kept, and reused when it is already there). Then, each in a process of its own, once
//! to warm up and `--runs` times measured:
//! - SOTP: `sotp_reports::generate` (the four statements of the availability report
//!   through the `QueryEngine`, with the inventory's 1,000 devices in SQLite) and the PDF
//!   rendered, as `sotp report --data-dir --format pdf` does;
//! - DuckDB in Python (`--python`, with the `duckdb` package) running the very same four
//!   statements over the same files, translated only where the dialects differ
//!   (`epoch_ns(time)` for `CAST(time AS BIGINT)`, `//` for integer division,
//!   `make_timestamp` for `arrow_cast`), with the same devices in a table.
//!
//! The report gives the medians, their ratio, each process's peak resident memory, and
//! the sums of the main table's downtime and unknown seconds from both (they must agree).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sotp_query::{InventoryKind, InventoryTable, QueryConfig, QueryEngine};
use sotp_reports::{Format, ReportKind, ReportSpec};
use sotp_schemas::{
    DeviceId, MetricBatchBuilder, MetricName, MetricSample, UtcNanos, metric_schema,
};
use sotp_sinks::writer::Layout;
use sotp_sinks::{ColdStore, StorageConfig, TableStore};

const SEC: i64 = 1_000_000_000;
const POLL: i64 = 30 * SEC;
/// 2026-11-01T00:00:00Z.
const START: i64 = 1_793_491_200 * SEC;

fn period(days: u32) -> (DateTime<Utc>, DateTime<Utc>) {
    let from = DateTime::<Utc>::from_timestamp_nanos(START);
    (from, from + chrono::Duration::days(i64::from(days)))
}

fn device_id(d: u32) -> String {
    format!("dev-{d:05}")
}

fn device_name(d: u32) -> String {
    format!("core-{d:05}")
}

fn location(d: u32) -> String {
    format!("site-{:02}", d % 20)
}

/// Writes the data set into `dir` unless a previous run left it there.
async fn ensure_data(dir: &Path, devices: u32, days: u32) -> anyhow::Result<u64> {
    if dir.join("metrics").is_dir() {
        eprintln!("report: reusing the data set in {}", dir.display());
        return Ok(0);
    }
    eprintln!(
        "report: writing {devices} devices x {days} days of 30 s polls into {}",
        dir.display()
    );
    let config = StorageConfig::default();
    let table = TableStore::open(
        "metrics",
        metric_schema(),
        Layout::metrics(),
        ColdStore::local(dir)?,
        config.row_group_rows,
        config.zstd_level,
    )
    .await?;
    let mut rng = StdRng::seed_from_u64(17);
    let (up, icmp) = (MetricName::new("icmp.up"), Arc::<str>::from("icmp"));
    let slots = i64::from(days) * 86_400 * SEC / POLL;
    let mut b = MetricBatchBuilder::with_capacity(1 << 16);
    let (t0, mut total) = (Instant::now(), 0u64);
    for d in 0..devices {
        let (id, name) = (
            DeviceId::new(device_id(d)),
            Arc::<str>::from(device_name(d)),
        );
        let mut down = Vec::new();
        for _ in 0..rng.random_range(0..4) {
            let len = rng.random_range(1..120);
            let at = rng.random_range(0..slots - len);
            down.push(at..at + len);
        }
        let gap = rng.random_bool(0.05).then(|| {
            let len = rng.random_range(1..240);
            let at = rng.random_range(0..slots - len);
            at..at + len
        });
        // Devices are spread over the interval, as the scheduler spreads them.
        let phase = i64::from(d % 30) * SEC;
        for s in 0..slots {
            if gap.as_ref().is_some_and(|g| g.contains(&s)) {
                continue;
            }
            let answered = !down.iter().any(|r| r.contains(&s));
            b.push(&MetricSample::gauge(
                UtcNanos(START + s * POLL + phase),
                &id,
                &name,
                &icmp,
                &up,
                f64::from(u8::from(answered)),
            ));
            total += 1;
            if b.len() >= 1 << 16 {
                table.append(b.finish());
                if table.pending().0 >= config.max_file_rows {
                    table.flush().await?;
                    table.evict(std::time::Duration::ZERO);
                }
            }
        }
        if d % 100 == 99 {
            eprintln!(
                "report: {} devices, {total} samples, {:.0} s",
                d + 1,
                t0.elapsed().as_secs_f64()
            );
        }
    }
    if !b.is_empty() {
        table.append(b.finish());
    }
    table.flush().await?;
    table.evict(std::time::Duration::ZERO);
    Ok(total)
}

/// Writes the data set if needed, then measures both engines.
pub(crate) async fn run(
    dir: PathBuf,
    devices: u32,
    days: u32,
    runs: usize,
    python: String,
) -> anyhow::Result<serde_json::Value> {
    let written = ensure_data(&dir, devices, days).await?;
    let me = std::env::current_exe()?;
    let sotp = crate::query::child(
        Command::new(&me)
            .arg("report-one")
            .arg("--dir")
            .arg(&dir)
            .args([
                "--devices",
                &devices.to_string(),
                "--days",
                &days.to_string(),
            ])
            .args(["--runs", &runs.to_string()]),
    )
    .context("SOTP's report")?;
    let (from, to) = period(days);
    let statements: Vec<String> =
        sotp_reports::sql::queries(&ReportSpec::new(ReportKind::Availability, from, to))?
            .into_iter()
            .map(|q| q.sql)
            .collect();
    let duck = crate::query::child(
        Command::new(&python)
            .arg("-c")
            .arg(DUCKDB)
            .arg(&dir)
            .arg(runs.to_string())
            .arg(devices.to_string())
            .arg(serde_json::to_string(&statements)?),
    )
    .with_context(|| format!("DuckDB (with {python})"))?;
    let (s, d) = (sotp["median_s"].as_f64(), duck["median_s"].as_f64());
    let agree = sotp["downtime_seconds"] == duck["downtime_seconds"]
        && sotp["unknown_seconds"] == duck["unknown_seconds"]
        && sotp["rows"] == duck["rows"];
    Ok(serde_json::json!({
        "bench": "report",
        "devices": devices,
        "days": days,
        "samples_written": written,
        "sotp": sotp,
        "duckdb": duck,
        "ratio": s.zip(d).map(|(s, d)| s / d),
        "answers_agree": agree,
    }))
}

/// SOTP's side, in a process of its own: the availability report as PDF, `runs` times.
pub(crate) async fn one(
    dir: PathBuf,
    devices: u32,
    days: u32,
    runs: usize,
) -> anyhow::Result<serde_json::Value> {
    let cold = ColdStore::local(&dir)?;
    let storage = StorageConfig::default();
    let table = TableStore::open(
        "metrics",
        metric_schema(),
        Layout::metrics(),
        cold.clone(),
        storage.row_group_rows,
        storage.zstd_level,
    )
    .await?;
    let engine = QueryEngine::new(QueryConfig::default(), &cold, &[table])?;
    let tmp = tempfile::tempdir()?;
    let url = format!("sqlite://{}", tmp.path().join("inventory.db").display());
    let store = sotp_inventory::Store::open(&url, sotp_inventory::MasterKey::generate()).await?;
    for d in 0..devices {
        let input: sotp_inventory::DeviceInput = serde_json::from_value(serde_json::json!({
            "name": device_name(d),
            "address": format!("10.{}.{}.{}", d / 62_500, (d / 250) % 250, d % 250 + 1),
            "location": location(d),
        }))?;
        store
            .create_device(
                &input,
                "bench",
                sotp_inventory::ManagedBy::Api,
                Some(&device_id(d)),
            )
            .await?;
    }
    engine.register(
        "devices",
        Arc::new(InventoryTable::new(store, InventoryKind::Devices)),
    )?;
    let (from, to) = period(days);
    let spec = ReportSpec::new(ReportKind::Availability, from, to);
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..=runs {
        let t = Instant::now();
        let report = sotp_reports::generate(&engine, &spec, |_| {}).await?;
        let pdf = sotp_reports::render(&report, Format::Pdf)?;
        times.push(t.elapsed().as_secs_f64());
        last = Some((report, pdf.len()));
    }
    times.remove(0); // the warm-up
    let (report, pdf_bytes) = last.context("at least one run")?;
    let main = &report.sections[0];
    let sum = |column: &str| -> anyhow::Result<i64> {
        let i = main.schema.index_of(column)?;
        let mut total = 0;
        for b in &main.batches {
            let c = arrow::compute::cast(b.column(i), &arrow::datatypes::DataType::Int64)?;
            let c = c
                .as_any()
                .downcast_ref::<arrow::array::Int64Array>()
                .context("Int64")?;
            total += c.iter().flatten().sum::<i64>();
        }
        Ok(total)
    };
    let mut summary = crate::query::summary(&mut times, main.rows());
    summary["downtime_seconds"] = sum("downtime_seconds")?.into();
    summary["unknown_seconds"] = sum("unknown_seconds")?.into();
    summary["pdf_bytes"] = pdf_bytes.into();
    Ok(summary)
}

/// DuckDB's side: argv = dir, runs, devices, the statements as a JSON list.
const DUCKDB: &str = r#"
import duckdb, json, re, sys, time
d, runs, devices, statements = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), json.loads(sys.argv[4])
def duck(sql):
    sql = sql.replace("CAST(time AS BIGINT)", "epoch_ns(time)")
    sql = re.sub(r"\) / (\d+) AS (slot|point)", r") // \1 AS \2", sql)
    return re.sub(r"arrow_cast\((.+?), 'Timestamp\(Nanosecond, Some\(\"UTC\"\)\)'\)", r"make_timestamp((\1) // 1000)", sql)
statements = [duck(s) for s in statements]
con = duckdb.connect()
con.execute("SET TimeZone = 'UTC'")
con.execute("SET enable_progress_bar = false")
files = (d + "/metrics/**/*.parquet").replace("'", "''")
con.execute(f"CREATE VIEW metrics AS SELECT * FROM read_parquet('{files}', hive_partitioning = false)")
con.execute(f"""CREATE TABLE devices AS SELECT printf('dev-%05d', i) AS id, printf('core-%05d', i) AS name,
    printf('site-%02d', i % 20) AS location FROM range({devices}) t(i)""")
def once():
    return [con.execute(s).fetchall() for s in statements]
results = once()
times = []
for _ in range(runs):
    t = time.perf_counter()
    results = once()
    times.append(time.perf_counter() - t)
times.sort()
cols = [c[0] for c in con.execute(statements[0]).description]
main = results[0]
down = sum(r[cols.index("downtime_seconds")] or 0 for r in main)
unknown = sum(r[cols.index("unknown_seconds")] or 0 for r in main)
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(json.dumps({"median_s": times[len(times) // 2], "min_s": times[0], "max_s": times[-1],
                  "rows": len(main), "downtime_seconds": int(down), "unknown_seconds": int(unknown),
                  "peak_rss_mb": hwm / 1024, "version": duckdb.__version__}))
"#;
