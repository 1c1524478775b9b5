//! What several benchmarks share: synthetic SNMP polls as the collector publishes them,
//! and the calling thread's CPU time.

use std::sync::Arc;

use sotp_schemas::{DeviceId, MetricName, MetricSample, UtcNanos};

/// The interface counters an SNMP poll reads.
pub const COUNTERS: [&str; 8] = [
    "if.in_octets",
    "if.out_octets",
    "if.in_ucast_pkts",
    "if.out_ucast_pkts",
    "if.in_errors",
    "if.out_errors",
    "if.in_discards",
    "if.out_discards",
];

/// Poll `k` (every 30 s from 2026-01-01) of one device: sysUpTime, and per interface its
/// speed and the 64-bit counters, growing by poll.
pub fn snmp_poll(
    dev: &DeviceId,
    name: &Arc<str>,
    ifaces: &[Arc<str>],
    k: i64,
) -> Vec<MetricSample> {
    let collector: Arc<str> = Arc::from("snmp");
    let t = UtcNanos(1_767_225_600_000_000_000 + k * 30_000_000_000);
    let mut out = Vec::with_capacity(1 + ifaces.len() * 10);
    let g = |m: &str, v: f64| MetricSample::gauge(t, dev, name, &collector, &MetricName::new(m), v);
    out.push(g("sys.uptime_s", 1000.0 + 30.0 * k as f64));
    for (i, inst) in ifaces.iter().enumerate() {
        let mut s = g("if.speed_bps", 1e9);
        s.instance = Some(inst.clone());
        out.push(s);
        for (c, m) in COUNTERS.iter().enumerate() {
            let mut s = g(m, 0.0);
            let v = (k as u64) * 1_000_000 * (c as u64 + 1) + i as u64;
            s.counter = Some(v);
            s.value = v as f64;
            s.instance = Some(inst.clone());
            s.labels.insert("counter_width".into(), "64".into());
            out.push(s);
        }
    }
    out
}

/// Time this thread spent on a CPU, ns (Linux `schedstat`): a stage that runs on the
/// calling thread costs this much whatever else the machine runs.
pub fn thread_cpu_ns() -> u64 {
    schedstat_ns(std::path::Path::new("/proc/thread-self/schedstat"))
}

/// Time on a CPU, ns, from a `schedstat` file of `/proc` (a thread's or a process's);
/// 0 when it cannot be read (the thread ended).
pub fn schedstat_ns(path: &std::path::Path) -> u64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}
