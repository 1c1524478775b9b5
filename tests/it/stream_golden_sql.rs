//! Golden SQL: a fixed sequence of raw SNMP samples goes through the streaming stage into
//! the `metrics` and `metrics_1m` tables (part flushed to Parquet, part in the hot tier),
//! and SQL over them must give exactly the rows in `tests/it/golden/*.txt`.
//! `SOTP_BLESS=1` rewrites the golden files.

use std::sync::Arc;

use arrow::util::pretty::pretty_format_batches;
use sotp_pipeline::stream::Stage;
use sotp_query::{QueryConfig, QueryEngine};
use sotp_schemas::{
    DeviceId, MetricName, MetricSample, RollupBatchBuilder, UtcNanos, metric_schema, rollup_schema,
    samples_to_batch,
};
use sotp_sinks::writer::Layout;
use sotp_sinks::{ColdStore, TableStore};

const S: i64 = 1_000_000_000;
/// 2026-01-01T00:00:00Z, seconds.
const T0: i64 = 1_767_225_600;

fn gauge(t: i64, dev: &str, metric: &str, inst: Option<&str>, v: f64) -> MetricSample {
    let mut s = MetricSample::gauge(
        UtcNanos((T0 + t) * S),
        &DeviceId::new(dev),
        &Arc::from(dev),
        &Arc::from("snmp"),
        &MetricName::new(metric),
        v,
    );
    s.instance = inst.map(Arc::from);
    s
}

fn counter(t: i64, dev: &str, metric: &str, inst: &str, v: u64, width: u8) -> MetricSample {
    let mut s = gauge(t, dev, metric, Some(inst), v as f64);
    s.counter = Some(v);
    s.labels.insert("counter_width".into(), width.to_string());
    s
}

/// Three minutes of 30-second polls of two devices: sw1 has a 32-bit counter that wraps
/// and a 64-bit counter near 2^64; r1 reboots at t = 120 s.
fn polls() -> Vec<Vec<MetricSample>> {
    let m32 = u64::from(u32::MAX);
    (0..6)
        .flat_map(|k| {
            let t = k * 30;
            let sw1 = vec![
                gauge(t, "sw1", "sys.uptime_s", None, (10_000 + t) as f64),
                gauge(t, "sw1", "if.speed_bps", Some("Gi0/1"), 1e8),
                gauge(t, "sw1", "if.oper_status", Some("Gi0/1"), 1.0),
                counter(
                    t,
                    "sw1",
                    "if.in_octets",
                    "Gi0/1",
                    (m32 - 1_000_000 + 2_000_000 * t as u64) & m32,
                    32,
                ),
                counter(
                    t,
                    "sw1",
                    "if.out_octets",
                    "Gi0/1",
                    u64::MAX - 1_000_000_000 + 3_750_000 * t as u64,
                    64,
                ),
                gauge(t, "sw1", "cpu.load_pct", Some("1"), (10 + k * 5) as f64),
            ];
            let up = if t < 120 { 500 + t } else { t - 110 };
            let r1 = vec![
                gauge(t, "r1", "sys.uptime_s", None, up as f64),
                gauge(t, "r1", "if.speed_bps", Some("ge-0/0/0"), 1e9),
                counter(
                    t,
                    "r1",
                    "if.in_octets",
                    "ge-0/0/0",
                    if t < 120 {
                        1_000 + 1_000 * t as u64
                    } else {
                        7 * t as u64
                    },
                    64,
                ),
                gauge(
                    t,
                    "r1",
                    "mem.used_pct",
                    Some("Routing Engine"),
                    40.0 + k as f64,
                ),
            ];
            [sw1, r1]
        })
        .collect()
}

fn golden(name: &str, got: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/it/golden")
        .join(name);
    if std::env::var_os("SOTP_BLESS").is_some() {
        std::fs::write(&path, got).unwrap();
    }
    let want = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(
        got,
        want,
        "golden file {} differs; got:\n{got}",
        path.display()
    );
}

#[test]
fn raw_samples_in_expected_metrics_and_metrics_1m_rows_out() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let cold = ColdStore::local(dir.path()).unwrap();
        let metrics = TableStore::open("metrics", metric_schema(), Layout::metrics(), cold.clone(), 1000, 3)
            .await
            .unwrap();
        let rollups = TableStore::open("metrics_1m", rollup_schema(), Layout::rollups(), cold.clone(), 1000, 3)
            .await
            .unwrap();
        let mut stage = Stage::default();
        for (k, poll) in polls().iter().enumerate() {
            let (mut out, mut closed) = (Vec::new(), Vec::new());
            stage.process(poll, &mut out, &mut closed);
            metrics.append(samples_to_batch(poll));
            if !out.is_empty() {
                metrics.append(samples_to_batch(&out));
            }
            let mut b = RollupBatchBuilder::default();
            closed.iter().for_each(|r| b.push(r));
            if !b.is_empty() {
                rollups.append(b.finish());
            }
            if k == 5 {
                // Half the rows go to Parquet: the queries read hot and cold together.
                metrics.flush().await.unwrap();
                rollups.flush().await.unwrap();
            }
        }
        let engine = QueryEngine::new(QueryConfig::default(), &cold, &[metrics, rollups]).unwrap();
        let run = |sql: String| {
            let engine = &engine;
            async move {
                let out = engine.execute(&sql).await.unwrap();
                pretty_format_batches(&out.batches).unwrap().to_string() + "\n"
            }
        };
        let t = format!("(CAST(time AS BIGINT) / 1000000000 - {T0})");
        golden(
            "metrics_derived.txt",
            &run(format!(
                "SELECT {t} AS t_s, device, metric, instance, value, labels FROM metrics
                 WHERE metric IN ('if.in_bps', 'if.out_bps', 'if.in_util_ratio', 'if.out_util_ratio',
                                  'mem.used_ratio') OR metric LIKE '%.discontinuity'
                 ORDER BY device, metric, instance, t_s"
            ))
            .await,
        );
        golden(
            "metrics_raw_counters.txt",
            &run(format!(
                "SELECT {t} AS t_s, device, metric, instance, counter, labels FROM metrics
                 WHERE counter IS NOT NULL AND {t} IN (0, 30) ORDER BY device, metric, t_s"
            ))
            .await,
        );
        golden(
            "metrics_1m.txt",
            &run(format!(
                "SELECT {t} AS t_s, device, metric, instance, min, avg, max, count FROM metrics_1m
                 ORDER BY device, metric, instance, t_s"
            ))
            .await,
        );
    });
}
