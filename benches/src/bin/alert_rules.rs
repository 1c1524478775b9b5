//! Cost of alert rules next to the streaming stage: 1,000 devices x ~50 series every
//! 30 s through the counter stage, then the stage's raw and derived samples through the
//! alert windows with 200 rules. Prints the CPU time of each per 30 s window and their
//! ratio (the target: rules cost under 20 % of the stage).
//!
//! `cargo run -p sotp-benches --profile bench --bin alert_rules -- [devices] [windows] [rules] [--storm] [--only=threshold|rate|utilization|sql]`
//!
//! Without `--storm` no rule's bound is crossed (rules evaluated, nothing fires); with
//! it most instances fire and resolve (every transition built and published).
//!
//! Series per device: sysUpTime, and per interface (5) its speed and 8 counters: the
//! stage turns them into rates and utilization. Rules: typed thresholds on utilization
//! and rates, rate of change, utilization, availability and SQL, over the same window.

use std::sync::Arc;
use std::time::Duration;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use sotp_alerts::{AlertWindows, AlertingConfig, RuleConfig};
use sotp_benches::{COUNTERS, snmp_poll, thread_cpu_ns};
use sotp_pipeline::stream::Stage;
use sotp_schemas::{DeviceId, EventBatch, MetricName, MetricSample};

const INTERFACES: usize = 5;

/// One poll round of a device: the SNMP poll and its `poll.ok`.
fn poll(dev: &DeviceId, name: &Arc<str>, ifaces: &[Arc<str>], k: i64) -> Vec<MetricSample> {
    let mut out = snmp_poll(dev, name, ifaces, k);
    let mut ok = out[0].clone();
    ok.metric = MetricName::new("poll.ok");
    ok.value = 1.0;
    out.push(ok);
    out
}

/// `fire`: bounds most instances cross (a storm of transitions); else bounds nothing
/// crosses (the usual case: rules evaluated, nothing fires).
fn rules(n: usize, fire: bool) -> Vec<RuleConfig> {
    let scale = if fire { 1.0 } else { 1e12 };
    (0..n)
        .map(|i| {
            let json = match i % 5 {
                0 => serde_json::json!({"threshold": {"metric": "if.in_util_ratio", "op": ">", "value": (0.5 + (i as f64) / (2.0 * n as f64)) * scale}}),
                1 => serde_json::json!({"threshold": {"metric": COUNTERS[i % 8].replace("octets", "bps").replace("_pkts", "_pkts_per_s").replace("errors", "errors_per_s").replace("discards", "discards_per_s"), "op": ">", "value": 1000.0 * i as f64 * scale}}),
                2 => serde_json::json!({"rate_of_change": {"metric": "sys.uptime_s", "op": "<", "value": if fire { 2.0 } else { 0.5 }}}),
                3 => serde_json::json!({"utilization": {"above": 0.8 * scale}}),
                _ => serde_json::json!({"sql": format!("SELECT device_id, instance, max(value) AS value FROM metrics WHERE metric = 'if.in_errors_per_s' GROUP BY device_id, instance HAVING max(value) > {}", i as f64 * scale)}),
            };
            let mut v = json;
            v["name"] = serde_json::json!(format!("rule-{i}"));
            v["every"] = serde_json::json!("30s");
            v["for"] = serde_json::json!("1m");
            serde_json::from_value(v).expect("bench rule")
        })
        .collect()
}

/// The rules of one form (`--only=`), or all.
fn picked(all: Vec<RuleConfig>, only: Option<&str>) -> Vec<RuleConfig> {
    all.into_iter()
        .filter(|r| match only {
            None => true,
            Some("threshold") => r.threshold.is_some(),
            Some("rate") => r.rate_of_change.is_some(),
            Some("utilization") => r.utilization.is_some(),
            Some("sql") => r.sql.is_some(),
            Some(other) => panic!("--only={other}: threshold, rate, utilization or sql"),
        })
        .collect()
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let devices = args.first().copied().unwrap_or(1000);
    let windows = args.get(1).copied().unwrap_or(10);
    let n_rules = args.get(2).copied().unwrap_or(200);
    let fire = std::env::args().any(|a| a == "--storm");
    // `--only=threshold|rate|utilization|sql`: only the rules of that form (of the N),
    // to see what each form costs.
    let only = std::env::args().find_map(|a| a.strip_prefix("--only=").map(String::from));
    let ifaces: Vec<Arc<str>> = (0..INTERFACES)
        .map(|i| Arc::from(format!("Gi0/{i}")))
        .collect();
    let devs: Vec<(DeviceId, Arc<str>)> = (0..devices)
        .map(|d| (DeviceId::new(format!("d{d}")), Arc::from(format!("d{d}"))))
        .collect();
    // One batch per 30 s poll round (all devices), built before timing; one more round
    // so the last window closes.
    let rounds: Vec<Vec<MetricSample>> = (0..=windows as i64)
        .map(|k| {
            devs.iter()
                .flat_map(|(id, n)| poll(id, n, &ifaces, k))
                .collect()
        })
        .collect();
    let raw: usize = rounds.iter().map(Vec::len).sum();

    let mut stage = Stage::default();
    let mut derived_rounds = Vec::new();
    let stage_cpu = {
        let started = thread_cpu_ns();
        for r in &rounds {
            let (mut out, mut rollups) = (Vec::new(), Vec::new());
            stage.process(r, &mut out, &mut rollups);
            derived_rounds.push(out);
        }
        thread_cpu_ns() - started
    };
    let derived: usize = derived_rounds.iter().map(Vec::len).sum();

    let dir = std::env::temp_dir().join("sotp-bench-alert-rules");
    let config = AlertingConfig {
        allowed_lateness: Duration::from_secs(5),
        ..AlertingConfig::default()
    };
    let mut w = AlertWindows::new(
        &picked(rules(n_rules, fire), only.as_deref()),
        config,
        dir.join("state.json"),
    )
    .expect("rules");
    let mut transitions = 0;
    let rules_cpu = {
        let started = thread_cpu_ns();
        for (r, d) in rounds.into_iter().zip(derived_rounds) {
            transitions += w.push(EventBatch::Metrics(r)).len();
            transitions += w.push(EventBatch::Metrics(d)).len();
        }
        thread_cpu_ns() - started
    };
    let per_window = |ns: u64| ns as f64 / 1e6 / windows as f64;
    println!(
        "{{\"bench\":\"alert_rules\",\"devices\":{devices},\"series_per_device\":{},\"windows\":{windows},\"rules\":{n_rules},\"storm\":{fire},\"raw_samples\":{raw},\"derived_samples\":{derived},\"stage_cpu_ms_per_window\":{:.1},\"rules_cpu_ms_per_window\":{:.1},\"rules_over_stage\":{:.2},\"transitions\":{transitions}}}",
        raw / devices / (windows + 1),
        per_window(stage_cpu),
        per_window(rules_cpu),
        rules_cpu as f64 / stage_cpu as f64
    );
}
