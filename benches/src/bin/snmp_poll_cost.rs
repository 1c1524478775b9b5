//! SNMP polling cost: CPU-seconds of this process per full interface-table poll by
//! SOTP's SNMP poller (`sotp_ingest::snmp::SnmpPoller`, the code the `sotp` binary runs),
//! measured from `/proc/self/stat` (user + system time), the same way
//! `scripts/bench-snmp-poll.sh` measures `prometheus-snmp-exporter`.
//!
//! `snmp_poll_cost --agent 10.213.0.2:161 --community public --polls 20 [--metadata-every-poll]`
//!
//! Prints one line: `sotp_cpu_s_per_poll=<f64> samples_per_poll=<n> wall_s_per_poll=<f64>
//! interfaces=<n> first_wall_s=<f64> first_samples=<n> first_interfaces=<n> first_ok=<bool>`
//! (`first_*`: the untimed first poll, the one that finds out what a slow agent can
//! answer within `--timeout`; `interfaces`: the interfaces with an `if.in_octets` sample
//! in the last poll).
//! With `--metadata-every-poll` every poll also walks the names, speeds and aliases (as
//! the exporter does on every scrape); without it they are cached, as in production
//! (`metadata_interval`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use sotp_ingest::Poller;
use sotp_ingest::snmp::{SnmpConfig, SnmpPoller};
use sotp_schemas::{Device, DeviceId, PollSettings, Secret, SnmpTarget, SnmpVersion, UtcNanos};

#[derive(Parser)]
struct Args {
    /// The agent, address:port.
    #[arg(long)]
    agent: SocketAddr,
    /// SNMPv2c community.
    #[arg(long, default_value = "public")]
    community: String,
    /// Timed polls (after one untimed warm-up poll).
    #[arg(long, default_value_t = 20)]
    polls: u32,
    /// Walk the interface metadata on every poll too.
    #[arg(long)]
    metadata_every_poll: bool,
    /// The request timeout.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    timeout: Duration,
    /// Retries of a request that timed out.
    #[arg(long, default_value_t = 1)]
    retries: u32,
}

/// Interfaces with an `if.in_octets` sample.
fn interfaces(samples: &[sotp_schemas::MetricSample]) -> usize {
    samples
        .iter()
        .filter(|s| s.metric.as_str() == "if.in_octets")
        .filter_map(|s| s.instance.as_deref())
        .collect::<std::collections::BTreeSet<_>>()
        .len()
}

/// User + system CPU time of this process, seconds.
fn cpu_seconds() -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").context("/proc/self/stat")?;
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = stat.rsplit_once(") ").context("stat format")?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after ")".
    let ticks: f64 = f[11].parse::<f64>()? + f[12].parse::<f64>()?;
    Ok(ticks / 100.0)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config = SnmpConfig {
        timeout: args.timeout,
        retries: args.retries,
        metadata_interval: if args.metadata_every_poll {
            Duration::ZERO
        } else {
            Duration::from_secs(3600)
        },
        ..SnmpConfig::default()
    };
    let poller = SnmpPoller::new(config)?;
    let device = Device {
        id: DeviceId::new("bench"),
        name: Arc::from("bench"),
        address: args.agent.ip(),
        tags: Vec::new(),
        icmp: PollSettings::default(),
        snmp: Some(SnmpTarget {
            version: SnmpVersion::V2c,
            port: args.agent.port(),
            community: Secret::new(args.community.clone()),
            usm: None,
            interval: None,
        }),
        ssh: None,
    };
    // Warm-up: opens the session and fills the metadata cache.
    let started = Instant::now();
    let first = poller.poll(&device, UtcNanos::now()).await;
    let first_wall = started.elapsed().as_secs_f64();
    if first.samples.is_empty() {
        bail!("warm-up poll got nothing: {:?}", first.error);
    }
    let cpu0 = cpu_seconds()?;
    let wall0 = Instant::now();
    let mut samples = 0usize;
    let mut last = 0;
    for _ in 0..args.polls {
        let r = poller.poll(&device, UtcNanos::now()).await;
        if !r.ok {
            bail!("poll failed: {:?}", r.error);
        }
        samples += r.samples.len();
        last = interfaces(&r.samples);
    }
    let cpu = cpu_seconds()? - cpu0;
    let wall = wall0.elapsed().as_secs_f64();
    let n = f64::from(args.polls);
    println!(
        "sotp_cpu_s_per_poll={:.6} samples_per_poll={} wall_s_per_poll={:.4} interfaces={last} first_wall_s={first_wall:.3} first_samples={} first_interfaces={} first_ok={}",
        cpu / n,
        samples / args.polls as usize,
        wall / n,
        first.samples.len(),
        interfaces(&first.samples),
        first.ok
    );
    Ok(())
}
