//! One echo to each of N loopback addresses: SOTP's ICMP collector against fping.

use std::net::{IpAddr, Ipv4Addr};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt;
use sotp_ingest::Poller;
use sotp_ingest::icmp::{IcmpConfig, IcmpPoller};
use sotp_schemas::{Device, DeviceId, PollSettings, UtcNanos};

use crate::cpu_seconds;

fn addresses(n: u32) -> Vec<Ipv4Addr> {
    let first = u32::from(Ipv4Addr::new(127, 20, 0, 1));
    (0..n).map(|k| Ipv4Addr::from(first + k)).collect()
}

pub(crate) async fn run(targets: u32, concurrency: usize) -> anyhow::Result<serde_json::Value> {
    let addrs = addresses(targets);
    let devices: Vec<Device> = addrs
        .iter()
        .map(|a| Device {
            id: DeviceId::new(a.to_string()),
            name: Arc::from(a.to_string()),
            address: IpAddr::V4(*a),
            tags: Vec::new(),
            icmp: PollSettings {
                enabled: true,
                interval: None,
            },
            snmp: None,
            ssh: None,
        })
        .collect();
    let config = IcmpConfig {
        count: 1,
        timeout: Duration::from_secs(1),
        concurrency,
        ..IcmpConfig::default()
    };
    let poller = Arc::new(IcmpPoller::new(config)?);

    // SOTP: every device polled once, `concurrency` at a time.
    let cpu0 = cpu_seconds(false);
    let t0 = Instant::now();
    let up: usize = futures::stream::iter(devices.iter())
        .map(|d| {
            let p = poller.clone();
            async move { p.poll(d, UtcNanos::now()).await.ok as usize }
        })
        .buffer_unordered(concurrency)
        .fold(0, |acc, ok| async move { acc + ok })
        .await;
    let sotp_wall = t0.elapsed().as_secs_f64();
    let sotp_cpu = cpu_seconds(false) - cpu0;

    // fping on the same list, same run.
    let list = tempfile::NamedTempFile::new()?;
    std::fs::write(
        list.path(),
        addrs.iter().map(|a| format!("{a}\n")).collect::<String>(),
    )?;
    let cpu_c0 = cpu_seconds(true);
    let t1 = Instant::now();
    let out = Command::new("fping")
        .args(["-c1", "-q", "-i", "1", "-f"])
        .arg(list.path())
        .output()
        .context("running fping (apt-get install fping)")?;
    let fping_wall = t1.elapsed().as_secs_f64();
    let fping_cpu = cpu_seconds(true) - cpu_c0;
    let fping_up = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.contains("1/1/0%"))
        .count();

    Ok(serde_json::json!({
        "bench": "icmp-sweep",
        "targets": targets,
        "concurrency": concurrency,
        "sotp": { "wall_s": sotp_wall, "cpu_s": sotp_cpu, "replied": up },
        "fping": { "wall_s": fping_wall, "cpu_s": fping_cpu, "replied": fping_up },
        "ratio_wall_sotp_over_fping": sotp_wall / fping_wall,
        "ratio_cpu_sotp_over_fping": sotp_cpu / fping_cpu.max(0.01),
    }))
}
