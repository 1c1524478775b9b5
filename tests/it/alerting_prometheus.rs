//! Differential test of the alert evaluator against Prometheus's own (Debian's
//! `promtool test rules`): the same input series, given to SOTP's alert windows and to
//! promtool, with the same threshold and absence rules and `for`, must give the same
//! firing alerts at every evaluation time. The expected alerts written into promtool's
//! test file are what SOTP's evaluator decided; promtool fails when Prometheus decides
//! otherwise at any evaluation time.
//!
//! Samples sit 20 s before each 30 s evaluation time, so no sample lies on a window
//! edge (Prometheus 2.42's range selectors include their start, SOTP's windows do not).

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use sotp_alerts::{AlertWindows, AlertingConfig, RuleConfig};
use sotp_schemas::{AlertState, DeviceId, EventBatch, MetricName, MetricSample, UtcNanos};

const S: i64 = 1_000_000_000;
const STEPS: i64 = 80;
const DEVICES: [&str; 3] = ["d1", "d2", "d3"];

/// A small deterministic generator (no dependency, same series on every run).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn sample(device: &str, metric: &str, t: i64, v: f64) -> MetricSample {
    MetricSample::gauge(
        UtcNanos(t),
        &DeviceId::new(device),
        &Arc::from(device),
        &Arc::from("test"),
        &MetricName::new(metric),
        v,
    )
}

/// Per device: the CPU values (every step) and which steps have a poll sample.
type Series = BTreeMap<&'static str, (Vec<f64>, Vec<bool>)>;

fn series() -> Series {
    let mut rng = Lcg(42);
    DEVICES
        .iter()
        .map(|d| {
            let (mut high, mut present) = (false, true);
            let mut cpu = Vec::new();
            let mut polls = Vec::new();
            for _ in 0..STEPS {
                if rng.next() < 0.25 {
                    high = !high;
                }
                if rng.next() < 0.2 {
                    present = !present;
                }
                cpu.push(if high {
                    0.91 + rng.next() * 0.08
                } else {
                    0.5 + rng.next() * 0.3
                });
                polls.push(present);
            }
            (*d, (cpu, polls))
        })
        .collect()
}

fn rules() -> Vec<RuleConfig> {
    let json = serde_json::json!([
        { "name": "CpuHigh", "threshold": { "metric": "cpu.util_ratio", "op": ">", "value": 0.9 },
          "every": "30s", "for": "1m" },
        { "name": "PollsAbsent", "absence": { "metric": "poll.ok" }, "every": "30s", "for": "1m" },
    ]);
    serde_json::from_value(json).unwrap()
}

/// SOTP's firing set (rule, device) at each evaluation time (seconds).
/// The firing (rule, device) pairs at each evaluation time (seconds).
type Firing = BTreeMap<i64, BTreeSet<(String, String)>>;

fn sotp_firing(series: &Series) -> (Firing, [usize; 3]) {
    let dir = tempfile::tempdir().unwrap();
    let config = AlertingConfig {
        allowed_lateness: Duration::ZERO,
        flap_changes: 0,
        // Prometheus has no outage collapse: every device is its own alert.
        outage_min_devices: 0,
        ..AlertingConfig::default()
    };
    let mut w = AlertWindows::new(&rules(), config, dir.path().join("state.json")).unwrap();
    w.set_devices(
        DEVICES
            .iter()
            .map(|d| (d.to_string(), d.to_string(), "192.0.2.1".to_string())),
    );
    let mut events = Vec::new();
    for k in 0..STEPS {
        let t = (k * 30 + 10) * S;
        let mut batch = Vec::new();
        for (d, (cpu, polls)) in series {
            batch.push(sample(d, "cpu.util_ratio", t, cpu[k as usize]));
            if polls[k as usize] {
                batch.push(sample(d, "poll.ok", t, 1.0));
            }
        }
        events.extend(w.push(EventBatch::Metrics(batch)));
    }
    events.extend(w.finish_until(STEPS * 30 * S));
    let mut firing = BTreeSet::new();
    let mut at = BTreeMap::new();
    let mut counts = [0usize; 3];
    let mut by_time: BTreeMap<i64, Vec<_>> = BTreeMap::new();
    for e in &events {
        by_time.entry(e.time.0 / S).or_default().push(e);
    }
    for step in 1..=STEPS {
        let t = step * 30;
        for e in by_time.get(&t).into_iter().flatten() {
            let key = (e.rule_name.clone(), e.labels["device"].clone());
            match e.state {
                AlertState::Firing => {
                    counts[0] += 1;
                    firing.insert(key);
                }
                AlertState::Resolved => {
                    counts[1] += 1;
                    firing.remove(&key);
                }
            }
        }
        at.insert(t, firing.clone());
    }
    counts[2] = events.len();
    (at, counts)
}

fn promtool_files(
    series: &Series,
    firing: &BTreeMap<i64, BTreeSet<(String, String)>>,
) -> (String, String) {
    let rules = "groups:\n  - name: sotp\n    interval: 30s\n    rules:\n      \
        - alert: CpuHigh\n        expr: cpu_util_ratio > 0.9\n        for: 1m\n      \
        - alert: PollsAbsent\n        expr: absent_over_time(poll_ok{device=\"d1\"}[30s]) or absent_over_time(poll_ok{device=\"d2\"}[30s]) or absent_over_time(poll_ok{device=\"d3\"}[30s])\n        for: 1m\n"
        .to_string();
    let mut t = String::from(
        "rule_files: [rules.yml]\nevaluation_interval: 30s\ntests:\n  - interval: 10s\n    input_series:\n",
    );
    // Slot i of the 10 s grid is time 10 s * i; samples at 30 k + 10 are slots 3 k + 1.
    let values = |vals: Vec<Option<f64>>| {
        let mut slots = vec!["_".to_string(); (STEPS * 3 + 1) as usize];
        for (k, v) in vals.into_iter().enumerate() {
            if let Some(v) = v {
                slots[3 * k + 1] = format!("{v}");
            }
        }
        slots.join(" ")
    };
    for (d, (cpu, polls)) in series {
        t.push_str(&format!(
            "      - series: 'cpu_util_ratio{{device=\"{d}\"}}'\n        values: '{}'\n",
            values(cpu.iter().map(|v| Some(*v)).collect())
        ));
        t.push_str(&format!(
            "      - series: 'poll_ok{{device=\"{d}\"}}'\n        values: '{}'\n",
            values(polls.iter().map(|p| p.then_some(1.0)).collect())
        ));
    }
    t.push_str("    alert_rule_test:\n");
    for (time, set) in firing {
        for rule in ["CpuHigh", "PollsAbsent"] {
            t.push_str(&format!(
                "      - eval_time: {time}s\n        alertname: {rule}\n        exp_alerts:"
            ));
            let devices: Vec<&String> = set
                .iter()
                .filter(|(r, _)| r == rule)
                .map(|(_, d)| d)
                .collect();
            if devices.is_empty() {
                t.push_str(" []\n");
            } else {
                t.push('\n');
                for d in devices {
                    t.push_str(&format!("          - exp_labels: {{ device: \"{d}\" }}\n"));
                }
            }
        }
    }
    (rules, t)
}

#[test]
fn threshold_and_absence_rules_fire_and_resolve_when_prometheus_does() {
    let series = series();
    let (firing, [fired, resolved, _]) = sotp_firing(&series);
    // The generator reaches every path: alerts that fire, alerts that resolve, and
    // conditions interrupted before `for` (steps where a condition held but nothing fired).
    assert!(
        fired >= 5 && resolved >= 5,
        "fired {fired}, resolved {resolved}"
    );
    let dir = tempfile::tempdir().unwrap();
    let (rules, test) = promtool_files(&series, &firing);
    std::fs::write(dir.path().join("rules.yml"), rules).unwrap();
    std::fs::write(dir.path().join("test.yml"), &test).unwrap();
    let out = Command::new("promtool")
        .args(["test", "rules", "test.yml"])
        .current_dir(dir.path())
        .output()
        .unwrap_or_else(|e| panic!("cannot run promtool ({e}): install Debian's prometheus package (scripts/setup-peers.sh does)"));
    assert!(
        out.status.success(),
        "Prometheus disagrees with SOTP's evaluator:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
