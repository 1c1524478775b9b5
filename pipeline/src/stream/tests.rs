//! Golden tests of the stage: fixed raw samples in, the exact derived rows and rollup
//! rows out, compared as Arrow tables; and state surviving a restart.

use std::sync::Arc;

use arrow::util::pretty::pretty_format_batches;
use sotp_schemas::{
    DeviceId, MetricName, MetricSample, RollupBatchBuilder, RollupRow, UtcNanos, samples_to_batch,
};

use super::*;

const S: i64 = 1_000_000_000;
/// 2026-01-01T00:00:00Z.
const T0: i64 = 1_767_225_600 * S;

fn sample(t_s: i64, metric: &str, inst: Option<&str>, value: f64) -> MetricSample {
    let mut s = MetricSample::gauge(
        UtcNanos(T0 + t_s * S),
        &DeviceId::new("sw1"),
        &Arc::from("sw1"),
        &Arc::from("snmp"),
        &MetricName::new(metric),
        value,
    );
    s.instance = inst.map(Arc::from);
    s
}

fn counter(t_s: i64, metric: &str, inst: &str, v: u64, width: u8) -> MetricSample {
    let mut s = sample(t_s, metric, Some(inst), v as f64);
    s.counter = Some(v);
    s.labels.insert("counter_width".into(), width.to_string());
    s
}

/// One poll: uptime, speed, oper status, the two octet counters, CPU and memory.
fn poll(t_s: i64, up_s: u64, in_oct: u64, out_oct: u64, cpu: f64) -> Vec<MetricSample> {
    vec![
        sample(t_s, "sys.uptime_s", None, up_s as f64),
        sample(t_s, "if.speed_bps", Some("Gi0/1"), 1e9),
        sample(t_s, "if.oper_status", Some("Gi0/1"), 1.0),
        counter(t_s, "if.in_octets", "Gi0/1", in_oct, 32),
        counter(t_s, "if.out_octets", "Gi0/1", out_oct, 64),
        sample(t_s, "cpu.load_pct", Some("1"), cpu),
        sample(t_s, "mem.used_bytes", Some("RAM"), 250.0),
        sample(t_s, "mem.total_bytes", Some("RAM"), 1000.0),
    ]
}

/// The batch with its time column shown as seconds since T0 (the pretty printer cannot
/// print a named time zone without chrono-tz).
fn relative(batch: arrow::array::RecordBatch) -> arrow::array::RecordBatch {
    use arrow::array::{Array, AsArray, Int64Array};
    use arrow::datatypes::{DataType, Field, Schema, TimestampNanosecondType};
    let t = batch.column(0).as_primitive::<TimestampNanosecondType>();
    let secs: Int64Array = t.values().iter().map(|v| Some((v - T0) / S)).collect();
    let mut fields = vec![Arc::new(Field::new("t_s", DataType::Int64, false))];
    fields.extend(batch.schema().fields().iter().skip(1).cloned());
    let mut cols: Vec<Arc<dyn Array>> = vec![Arc::new(secs)];
    cols.extend(batch.columns().iter().skip(1).cloned());
    arrow::array::RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).unwrap()
}

/// Compares `got` with the golden file `golden/<name>`; `SOTP_BLESS=1` rewrites it.
fn golden(name: &str, got: &[String]) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/stream/golden")
        .join(name);
    let got = got.join("\n") + "\n";
    if std::env::var_os("SOTP_BLESS").is_some() {
        std::fs::write(&path, &got).unwrap();
    }
    let want = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(
        got,
        want,
        "golden file {} differs; got:\n{got}",
        path.display()
    );
}

fn render(samples: &[MetricSample]) -> Vec<String> {
    let batch = relative(samples_to_batch(samples).project(&[0, 3, 4, 5, 7]).unwrap());
    pretty_format_batches(&[batch])
        .unwrap()
        .to_string()
        .lines()
        .map(str::to_string)
        .collect()
}

fn render_rollups(rows: &[RollupRow]) -> Vec<String> {
    let mut b = RollupBatchBuilder::default();
    for r in rows {
        b.push(r);
    }
    let batch = relative(b.finish().project(&[0, 3, 4, 5, 6, 7, 8]).unwrap());
    pretty_format_batches(&[batch])
        .unwrap()
        .to_string()
        .lines()
        .map(str::to_string)
        .collect()
}

/// The same derived samples (as a sorted set) and rollups whatever the micro-batch
/// boundaries: on Kafka each sample is its own message, so a poll can be split anywhere
/// (a reboot needs the poll's uptime, the memory ratio both parts).
#[test]
fn a_poll_split_between_micro_batches_gives_the_same_outputs() {
    let polls: Vec<MetricSample> = [
        poll(0, 1000, 4_000_000_000, 10, 10.0),
        poll(30, 1030, 4_000_003_000, 20, 30.0),
        poll(60, 5, 100, 50, 50.0), // rebooted
        poll(90, 35, 200, 80, 70.0),
    ]
    .concat();
    let run = |cuts: &[usize]| {
        let mut stage = Stage::default();
        let (mut out, mut rollups) = (Vec::new(), Vec::new());
        let mut from = 0;
        for &to in cuts.iter().chain(std::iter::once(&polls.len())) {
            stage.process(&polls[from..to], &mut out, &mut rollups);
            from = to;
        }
        stage.close_idle(0, &mut rollups);
        // The same rows; their order follows the batches.
        let (mut derived, mut rolled) = (render(&out), render_rollups(&rollups));
        derived.sort();
        rolled.sort();
        (derived, rolled, stage.stats)
    };
    let whole = run(&[]);
    assert_eq!(whole.2.discontinuities, 2, "the reboot is seen");
    for cut in 1..polls.len() {
        assert_eq!(run(&[cut]), whole, "cut after sample {cut}");
    }
    // Every sample its own batch, as on Kafka at worst.
    let each: Vec<usize> = (1..polls.len()).collect();
    assert_eq!(run(&each), whole);

    // The stage restarted from its saved state at every cut: the same again (the
    // context of a poll cut by the restart is in the state).
    for cut in 1..polls.len() {
        let mut stage = Stage::default();
        let (mut out, mut rollups) = (Vec::new(), Vec::new());
        stage.process(&polls[..cut], &mut out, &mut rollups);
        let saved = serde_json::to_vec(&stage.to_saved()).unwrap();
        let mut stage = Stage::from_saved(serde_json::from_slice(&saved).unwrap());
        stage.process(&polls[cut..], &mut out, &mut rollups);
        stage.close_idle(0, &mut rollups);
        let (mut derived, mut rolled) = (render(&out), render_rollups(&rollups));
        derived.sort();
        rolled.sort();
        assert_eq!(
            (derived, rolled),
            (whole.0.clone(), whole.1.clone()),
            "restart after sample {cut}"
        );
    }
}

#[test]
fn golden_rates_utilization_ratios_and_rollups() {
    let m32 = u64::from(u32::MAX);
    let polls = [
        poll(0, 1000, m32 - 999, u64::MAX - 10_000, 10.0),
        // 30 s later: the 32-bit counter wrapped (+3000), the 64-bit one is exact near 2^64.
        poll(30, 1030, 2000, u64::MAX - 10, 30.0),
        // Next minute; the device rebooted (uptime back to 5 s).
        poll(60, 5, 100, 50, 50.0),
        poll(90, 35, 4_200_000_100, 80, 70.0),
    ];
    let mut stage = Stage::default();
    let (mut out, mut rollups) = (Vec::new(), Vec::new());
    for p in &polls {
        stage.process(p, &mut out, &mut rollups);
    }
    // Minutes of series that went quiet close once the stream has moved past them.
    stage.close_idle(0, &mut rollups);
    out.retain(|s| s.metric.as_str() != "mem.used_ratio" || s.time.0 == T0);
    golden("derived.txt", &render(&out));
    golden("rollups_1m.txt", &render_rollups(&rollups));
    assert_eq!(stage.stats.rates, 3);
    assert_eq!(stage.stats.discontinuities, 3);
}

#[test]
fn state_survives_a_restart_and_the_first_poll_after_it_yields_a_rate() {
    let dir = tempfile::tempdir().unwrap();
    let path = state_path(dir.path());
    let mut stage = Stage::default();
    let (mut out, mut rollups) = (Vec::new(), Vec::new());
    stage.process(&poll(0, 100, 1000, 1000, 1.0), &mut out, &mut rollups);
    state::save(&path, &stage.to_saved()).unwrap();
    drop(stage);

    let mut stage = load_stage(&path);
    out.clear();
    stage.process(&poll(30, 130, 4000, 1000, 1.0), &mut out, &mut rollups);
    let bps: Vec<f64> = out
        .iter()
        .filter(|s| s.metric.as_str() == "if.in_bps")
        .map(|s| s.value)
        .collect();
    assert_eq!(bps, vec![800.0]);
    // The open minute came back too: both samples of minute 0 are in one rollup row.
    stage.process(&poll(60, 160, 4000, 1000, 1.0), &mut out, &mut rollups);
    let cpu = rollups
        .iter()
        .find(|r| r.metric.as_str() == "cpu.load_pct")
        .unwrap();
    assert_eq!(cpu.count, 2);

    std::fs::write(&path, b"{ not json").unwrap();
    let stage = load_stage(&path);
    assert_eq!(stage.series_count(), 0);
    assert!(path.with_extension("json.corrupt").exists());
}
