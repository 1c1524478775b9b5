//! Issue 15 benchmark: one read-only command (`show version`) on N devices at a given
//! concurrency through SOTP's SSH runner, the same work as
//! `benches/scripts/netmiko_show_version.py` does with netmiko. Both talk to the same
//! OpenSSH server playing a Cisco IOS CLI (`benches/scripts/ssh_show_version.sh` starts
//! it); the "devices" are that server's sessions, one per device.
//!
//! ```text
//! ssh_show_version --port P --user U --key FILE --host-key SHA256:... --devices 1000 --concurrency 50
//! ```
//! Prints one JSON line: devices, failures, seconds, bytes of output.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use futures::StreamExt;
use sotp_ssh::{HostKeyPolicy, Platform, SshAuth, SshLimits, SshRunner, SshTarget};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
struct Args {
    /// The server's port on 127.0.0.1.
    #[arg(long)]
    port: u16,
    /// Login user.
    #[arg(long)]
    user: String,
    /// Private key file (OpenSSH PEM).
    #[arg(long)]
    key: std::path::PathBuf,
    /// The server's host key fingerprint (`SHA256:...`).
    #[arg(long)]
    host_key: String,
    /// Devices (one session each).
    #[arg(long, default_value_t = 1000)]
    devices: usize,
    /// Sessions at once.
    #[arg(long, default_value_t = 50)]
    concurrency: usize,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let pem = std::fs::read_to_string(&args.key)
        .with_context(|| format!("reading {}", args.key.display()))?;
    let platform = Platform::named("cisco_ios").context("cisco_ios platform")?;
    let command = platform.check("show version")?;
    let runner = SshRunner::new(SshLimits {
        max_sessions: args.concurrency,
        max_sessions_per_device: 1,
        connect_timeout: Duration::from_secs(60),
        command_timeout: Duration::from_secs(60),
        queue_timeout: Duration::from_secs(600),
        ..SshLimits::default()
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let started = Instant::now();
    let (failures, bytes) = rt.block_on(async {
        let runs = futures::stream::iter(0..args.devices)
            .map(|i| {
                let target = SshTarget {
                    device: format!("d{i}"),
                    address: "127.0.0.1".parse().expect("an address"),
                    port: args.port,
                    user: args.user.clone(),
                    auth: SshAuth::Key {
                        pem: pem.clone(),
                        passphrase: None,
                    },
                    host_key: HostKeyPolicy::Pinned(args.host_key.clone()),
                    platform,
                    legacy_algorithms: false,
                };
                let (runner, command) = (&runner, &command);
                async move { runner.run(&target, command).await }
            })
            .buffer_unordered(args.concurrency);
        let (mut failures, mut bytes) = (0usize, 0usize);
        let mut runs = std::pin::pin!(runs);
        while let Some(r) = runs.next().await {
            match r {
                Ok(out) => bytes += out.output.len(),
                Err(e) => {
                    if failures == 0 {
                        eprintln!("first failure: {e}");
                    }
                    failures += 1;
                }
            }
        }
        (failures, bytes)
    });
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({"tool": "sotp", "devices": args.devices, "concurrency": args.concurrency,
                           "failures": failures, "seconds": seconds, "output_bytes": bytes})
    );
    if failures > 0 {
        bail!("{failures} of {} devices failed", args.devices);
    }
    Ok(())
}
