//! SQL over SOTP's Parquet against DuckDB on the very same files, in the same run.
//!
//! The data set is the `storage` benchmark's (one day of `--devices` devices with
//! `--interfaces` interfaces each: the SNMP collector's twelve interface series every
//! 30 s and an ICMP RTT every 10 s), written through the production `TableStore` flush
//! into `--dir` (kept, and reused when it is already there). Each query then runs in a
//! process of its own, once to warm up and `--runs` times measured, through SOTP's
//! `QueryEngine` (the engine behind the HTTP API and the PostgreSQL wire) and through
//! DuckDB in Python (`--python`, with the `duckdb` package) reading the same files; the
//! report gives the medians, their ratio, the rows each returned (they must agree) and
//! each process's peak resident memory.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};
use sotp_query::{QueryConfig, QueryEngine};
use sotp_schemas::metric_schema;
use sotp_sinks::writer::Layout;
use sotp_sinks::{ColdStore, StorageConfig, TableStore};

/// The day the `storage` benchmark writes.
const FROM: &str = "2025-11-26T00:00:00Z";
const TO: &str = "2025-11-27T00:00:00Z";

/// The queries: the four of the query-speed issue, then dashboard panels of
/// `deploy/grafana/dashboards` with Grafana's macros expanded as Grafana expands them for
/// a 24-hour range (`$__timeFilter(time)` to a `BETWEEN`, `$__timeGroupAlias(time, '1m')`
/// to a minute bucket named `time`), written in SQL both engines accept.
fn queries() -> Vec<(&'static str, String)> {
    let range = format!("time BETWEEN '{FROM}' AND '{TO}'");
    vec![
        (
            "one device, 24 h of icmp.rtt_ms by minute",
            format!(
                "SELECT date_trunc('minute', time) AS minute, avg(value) AS rtt FROM metrics \
                 WHERE device_id = 'dev-00042' AND metric = 'icmp.rtt_ms' AND {range} \
                 GROUP BY 1 ORDER BY 1"
            ),
        ),
        (
            "top 10 devices by mean icmp.rtt_ms",
            "SELECT device_id, avg(value) AS rtt FROM metrics WHERE metric = 'icmp.rtt_ms' \
             GROUP BY device_id ORDER BY rtt DESC, device_id LIMIT 10"
                .into(),
        ),
        (
            "count(*) by metric",
            "SELECT metric, count(*) AS n FROM metrics GROUP BY metric ORDER BY metric".into(),
        ),
        (
            "max(counter) - min(counter) of if.in_octets per interface, top 10",
            "SELECT device_id, instance, max(counter) - min(counter) AS delta FROM metrics \
             WHERE metric = 'if.in_octets' GROUP BY device_id, instance \
             ORDER BY delta DESC, device_id, instance LIMIT 10"
                .into(),
        ),
        (
            "dashboard: network overview, average RTT",
            format!(
                "SELECT avg(value) AS value FROM metrics WHERE {range} AND metric = 'icmp.rtt_ms'"
            ),
        ),
        (
            "dashboard: network overview, top 10 latency",
            format!(
                "SELECT max(device) AS device, device_id, \
                 avg(CASE WHEN metric = 'icmp.rtt_ms' THEN value END) AS avg_rtt_ms, \
                 max(CASE WHEN metric = 'icmp.rtt_max_ms' THEN value END) AS max_rtt_ms, \
                 avg(CASE WHEN metric = 'icmp.jitter_ms' THEN value END) AS avg_jitter_ms, \
                 avg(CASE WHEN metric = 'icmp.loss_ratio' THEN value END) AS avg_loss \
                 FROM metrics WHERE {range} \
                 AND metric IN ('icmp.rtt_ms', 'icmp.rtt_max_ms', 'icmp.jitter_ms', 'icmp.loss_ratio') \
                 GROUP BY device_id ORDER BY avg_rtt_ms DESC NULLS LAST, device_id LIMIT 10"
            ),
        ),
        (
            "dashboard: device details, interface traffic in",
            format!(
                "SELECT date_trunc('minute', time) AS time, instance AS metric, avg(value) AS value \
                 FROM metrics WHERE {range} AND device_id = 'dev-00042' AND metric = 'if.in_octets' \
                 GROUP BY 1, 2 ORDER BY 1, 2"
            ),
        ),
        (
            "dashboard: SOTP health, samples per minute by collector",
            format!(
                "SELECT date_trunc('minute', time) AS time, collector AS metric, count(*) AS value \
                 FROM metrics WHERE {range} GROUP BY 1, 2 ORDER BY 1, 2"
            ),
        ),
    ]
}

/// Writes the data set into `dir` unless a previous run left it there.
async fn ensure_data(dir: &Path, devices: u32, hours: u32, interfaces: u32) -> anyhow::Result<()> {
    if dir.join("metrics").is_dir() {
        eprintln!("query: reusing the data set in {}", dir.display());
        return Ok(());
    }
    eprintln!(
        "query: writing {devices} devices x {hours} h into {}",
        dir.display()
    );
    let report = crate::storage::run(
        devices,
        hours,
        interfaces,
        crate::storage::Series::Collector,
        Some(dir.to_path_buf()),
    )
    .await?;
    eprintln!("query: {report}");
    Ok(())
}

/// Runs every query through both engines, each in a process of its own.
pub(crate) async fn run(
    dir: PathBuf,
    devices: u32,
    hours: u32,
    interfaces: u32,
    runs: usize,
    python: String,
) -> anyhow::Result<serde_json::Value> {
    ensure_data(&dir, devices, hours, interfaces).await?;
    let me = std::env::current_exe()?;
    let mut results = Vec::new();
    for (name, sql) in queries() {
        let sotp = child(
            Command::new(&me)
                .arg("query-one")
                .arg("--dir")
                .arg(&dir)
                .arg("--runs")
                .arg(runs.to_string())
                .arg(&sql),
        )
        .with_context(|| format!("SOTP on {name}"))?;
        let duck = child(
            Command::new(&python)
                .arg("-c")
                .arg(DUCKDB)
                .arg(&dir)
                .arg(runs.to_string())
                .arg(&sql),
        )
        .with_context(|| format!("DuckDB on {name} (with {python})"))?;
        let (s, d) = (sotp["median_s"].as_f64(), duck["median_s"].as_f64());
        let ratio = s.zip(d).map(|(s, d)| s / d);
        let rows_agree = sotp["rows"] == duck["rows"];
        eprintln!(
            "query: {name}: SOTP {:.4} s, DuckDB {:.4} s, ratio {:.2}{}",
            s.unwrap_or(f64::NAN),
            d.unwrap_or(f64::NAN),
            ratio.unwrap_or(f64::NAN),
            if rows_agree {
                ""
            } else {
                " (ROW COUNTS DIFFER)"
            },
        );
        results.push(serde_json::json!({
            "query": name,
            "sql": sql,
            "sotp": sotp,
            "duckdb": duck,
            "ratio": ratio,
            "rows_agree": rows_agree,
        }));
    }
    Ok(serde_json::json!({
        "bench": "query",
        "dir": dir,
        "runs": runs,
        "queries": results,
    }))
}

/// Runs `cmd`, fails with its standard error unless it succeeds, parses its last line.
pub(crate) fn child(cmd: &mut Command) -> anyhow::Result<serde_json::Value> {
    let out = cmd.output()?;
    if !out.status.success() {
        bail!(
            "{} failed: {}",
            cmd.get_program().to_string_lossy(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line).with_context(|| format!("parsing {line:?}"))
}

/// One query through SOTP's engine over the `metrics` table in `dir`: a warm-up, then
/// `runs` measured; prints the median, the rows and the process's peak resident memory.
pub(crate) async fn one(
    dir: PathBuf,
    runs: usize,
    sql: String,
    explain: bool,
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
    if explain {
        let out = engine.execute(&format!("EXPLAIN ANALYZE {sql}")).await?;
        let text = arrow::util::pretty::pretty_format_batches(&out.batches)?;
        eprintln!("{text}");
    }
    let mut rows = engine.execute(&sql).await?.rows();
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        let out = engine.execute(&sql).await?;
        times.push(t.elapsed().as_secs_f64());
        rows = out.rows();
    }
    Ok(summary(&mut times, rows))
}

pub(crate) fn summary(times: &mut [f64], rows: usize) -> serde_json::Value {
    times.sort_by(f64::total_cmp);
    serde_json::json!({
        "median_s": times.get(times.len() / 2),
        "min_s": times.first(),
        "max_s": times.last(),
        "rows": rows,
        "peak_rss_mb": peak_rss_mb(),
    })
}

/// This process's peak resident memory (VmHWM), in MiB.
fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// The same measurement in DuckDB: argv = dir, runs, sql.
const DUCKDB: &str = r#"
import duckdb, json, sys, time
d, runs, sql = sys.argv[1], int(sys.argv[2]), sys.argv[3]
con = duckdb.connect()
con.execute("SET TimeZone = 'UTC'")
con.execute("SET enable_progress_bar = false")
files = (d + "/metrics/**/*.parquet").replace("'", "''")
con.execute(f"CREATE VIEW metrics AS SELECT * FROM read_parquet('{files}', hive_partitioning = false)")
rows = len(con.execute(sql).fetchall())
times = []
for _ in range(runs):
    t = time.perf_counter()
    rows = len(con.execute(sql).fetchall())
    times.append(time.perf_counter() - t)
times.sort()
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(json.dumps({"median_s": times[len(times) // 2], "min_s": times[0], "max_s": times[-1],
                  "rows": rows, "peak_rss_mb": hwm / 1024, "version": duckdb.__version__}))
"#;
