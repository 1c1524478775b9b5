//! Sustained TCP syslog ingest: SOTP's receiver (frame, parse, enrich, bus, hot tier,
//! then Parquet) against rsyslog (imtcp to a file), fed the same octet-counted stream of
//! real device lines (the shared corpus, repeated) in the same run. SOTP's time is
//! reported twice: until every row is in the hot tier (queryable), and until every row
//! is in Parquet too (files are written every `--file-rows` rows during the run, then
//! the rest at the end).
//!
//! `cargo run --profile bench -p sotp-benches --bin syslog_ingest -- --messages 1000000`
//! (`--rounds`, default 5: SOTP then rsyslog, repeated; the median ratio is printed last)
//! Needs `rsyslogd` (scripts/setup-peers.sh installs it) and the corpus
//! (`SOTP_CORPORA`, default `../shared/corpora`).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use sotp_bus::{Bus, MemoryBus, MemoryBusConfig};
use sotp_ingest::syslog::{SyslogConfig, SyslogReceiver};
use sotp_schemas::{Topic, log_schema};
use sotp_sinks::writer::Layout;
use sotp_sinks::{ColdStore, StorageConfig, TableStore, run_logs_sink};
use tokio_util::sync::CancellationToken;

// The allocator of the `sotp` binary, so that the bench measures what runs.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
struct Args {
    /// Messages to send to each receiver.
    #[arg(long, default_value_t = 1_000_000)]
    messages: usize,
    /// Folder holding `syslog/*.jsonl`.
    #[arg(long, env = "SOTP_CORPORA", default_value = "../shared/corpora")]
    corpora: PathBuf,
    /// The sink writes a Parquet file whenever this many rows wait (`[storage]
    /// max_file_rows`): files are written while ingest goes on, as in a running `sotp`.
    #[arg(long, default_value_t = 250_000)]
    file_rows: usize,
    /// Rounds of SOTP then rsyslog, one after the other: the ratio of each round compares
    /// runs seconds apart, and the median over rounds damps this VM's slow spells.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
}

/// Corpus lines (no octet-counted streams, no line feeds), repeated to `n`, octet-counted.
fn stream(corpora: &Path, n: usize) -> anyhow::Result<Vec<u8>> {
    let dir = corpora.join("syslog");
    let mut lines = Vec::new();
    for e in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
        let p = e?.path();
        if p.extension().is_none_or(|x| x != "jsonl") {
            continue;
        }
        for l in std::fs::read_to_string(&p)?.lines() {
            let r: serde_json::Value = serde_json::from_str(l)?;
            let line = r["line"].as_str().unwrap_or_default();
            if r["transport_hint"] != "octet-counted" && !line.is_empty() && !line.contains('\n') {
                lines.push(line.to_string());
            }
        }
    }
    if lines.is_empty() {
        bail!("no corpus lines in {}", dir.display());
    }
    let mut out = Vec::new();
    for i in 0..n {
        let l = &lines[i % lines.len()];
        write!(out, "{} {l}", l.len())?;
    }
    Ok(out)
}

/// Parquet files under `dir` and their total size.
fn parquet_files(dir: &std::path::Path) -> (usize, u64) {
    let mut found = (0, 0);
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = e.path();
        if path.is_dir() {
            let (f, b) = parquet_files(&path);
            found = (found.0 + f, found.1 + b);
        } else if path.extension().is_some_and(|x| x == "parquet") {
            found = (found.0 + 1, found.1 + e.metadata().map_or(0, |m| m.len()));
        }
    }
    found
}

/// CPU seconds this process has used so far (user + system, all threads), from
/// `/proc/self/stat` (clock ticks of 10 ms).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the `(comm)`, which may hold spaces: utime and stime are the 12th
    // and 13th.
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = after.split_whitespace().collect();
    let tick = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (tick(11) + tick(12)) / 100.0
}

fn send(port: u16, data: &[u8]) -> anyhow::Result<()> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    for chunk in data.chunks(256 * 1024) {
        s.write_all(chunk)?;
    }
    Ok(())
}

async fn sotp(
    data: Arc<Vec<u8>>,
    n: usize,
    file_rows: usize,
) -> anyhow::Result<(Duration, Duration)> {
    let dir = tempfile::tempdir()?;
    let cold = ColdStore::local(dir.path())?;
    let table = TableStore::open("logs", log_schema(), Layout::logs(), cold, 1_000_000, 3).await?;
    let bus = MemoryBus::new(MemoryBusConfig {
        capacity_events: 200_000,
    });
    let shared: Arc<dyn Bus> = Arc::new(bus.clone());
    let stop = CancellationToken::new();
    let sink = tokio::spawn(run_logs_sink(
        bus.subscribe(Topic::Logs, "sink")?,
        table.clone(),
        // Rows become visible within 100 ms, so the end of the run is not hidden by
        // the default 1 s batch latency.
        StorageConfig {
            batch_latency: Duration::from_millis(100),
            max_file_rows: file_rows,
            ..StorageConfig::default()
        },
        stop.clone(),
    ));
    let config = SyslogConfig {
        udp: String::new(),
        tcp: "127.0.0.1:0".into(),
        ..SyslogConfig::default()
    };
    let receiver = SyslogReceiver::bind(config, Vec::<sotp_schemas::Device>::new(), shared).await?;
    let port = receiver.tcp_addr().context("no TCP address")?.port();
    let stop_rx = CancellationToken::new();
    let rx = tokio::spawn(receiver.run(stop_rx.clone()));
    let started = Instant::now();
    let cpu_start = cpu_seconds();
    let sender = std::thread::spawn(move || send(port, &data));
    while table.snapshot().hot_rows() < n {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let ingest = started.elapsed();
    sender.join().expect("sender thread")?;
    stop_rx.cancel();
    rx.await?;
    bus.close();
    sink.await?;
    let total = started.elapsed();
    let cpu = cpu_seconds() - cpu_start;
    let snapshot = table.snapshot();
    let rows = snapshot.hot_rows();
    if rows != n {
        bail!("SOTP stored {rows} rows, sent {n}");
    }
    let (files, parquet) = parquet_files(dir.path());
    println!(
        "SOTP    Parquet: {files} files, {parquet} bytes ({:.1} bytes/message)",
        parquet as f64 / n as f64
    );
    println!(
        "SOTP    CPU: {cpu:.2} s over {:.2} s ({:.2} cores busy, sender included)",
        total.as_secs_f64(),
        cpu / total.as_secs_f64()
    );
    Ok((ingest, total))
}

fn rsyslog(data: Arc<Vec<u8>>, n: usize) -> anyhow::Result<Duration> {
    let dir = tempfile::tempdir()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let out = dir.path().join("out.log");
    let conf = dir.path().join("rsyslog.conf");
    std::fs::write(
        &conf,
        format!(
            "global(workDirectory=\"{d}\")\nmodule(load=\"imtcp\")\ninput(type=\"imtcp\" address=\"127.0.0.1\" port=\"{port}\")\naction(type=\"omfile\" file=\"{o}\" template=\"RSYSLOG_FileFormat\")\n",
            d = dir.path().display(),
            o = out.display()
        ),
    )?;
    let mut child = Command::new("rsyslogd")
        .args(["-n", "-f"])
        .arg(&conf)
        .arg("-i")
        .arg(dir.path().join("pid"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting rsyslogd (apt-get install rsyslog)")?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            bail!("rsyslogd did not listen on {port}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let started = Instant::now();
    let sender = std::thread::spawn(move || send(port, &data));
    let (mut lines, mut offset) = (0usize, 0u64);
    let deadline = Instant::now() + Duration::from_secs(600);
    while lines < n {
        if Instant::now() > deadline {
            bail!("rsyslog wrote {lines} of {n} lines");
        }
        std::thread::sleep(Duration::from_millis(20));
        if let Ok(mut f) = std::fs::File::open(&out) {
            use std::io::Seek;
            f.seek(std::io::SeekFrom::Start(offset))?;
            let mut buf = Vec::new();
            f.read_to_end(&mut buf)?;
            offset += buf.len() as u64;
            lines += buf.iter().filter(|b| **b == b'\n').count();
        }
    }
    let took = started.elapsed();
    sender.join().expect("sender thread")?;
    child.kill().ok();
    child.wait().ok();
    Ok(took)
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let n = args.messages;
    let data = Arc::new(stream(&args.corpora, n)?);
    println!(
        "{n} messages, {} bytes, one TCP connection, octet-counted",
        data.len()
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    let (mut hot, mut all) = (Vec::new(), Vec::new());
    for round in 1..=args.rounds.max(1) {
        println!("round {round}");
        let (ingest, total) = rt.block_on(sotp(data.clone(), n, args.file_rows))?;
        let rs = rsyslog(data.clone(), n)?;
        println!(
            "SOTP    parse+enrich+hot tier: {:>10.0} msg/s ({:.2} s); all in Parquet: {:>10.0} msg/s ({:.2} s)",
            rate(ingest),
            ingest.as_secs_f64(),
            rate(total),
            total.as_secs_f64()
        );
        println!(
            "rsyslog imtcp -> file:        {:>10.0} msg/s ({:.2} s)",
            rate(rs),
            rs.as_secs_f64()
        );
        hot.push(rate(ingest) / rate(rs));
        all.push(rate(total) / rate(rs));
        println!(
            "ratio SOTP / rsyslog: {:.2} to the hot tier, {:.2} with every row in Parquet",
            hot[hot.len() - 1],
            all[all.len() - 1]
        );
    }
    let summary = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        (v[0], v[v.len() / 2], v[v.len() - 1])
    };
    let ((h0, hm, h1), (a0, am, a1)) = (summary(&mut hot), summary(&mut all));
    println!(
        "median ratio over {} rounds: {hm:.2} to the hot tier ({h0:.2} to {h1:.2}), {am:.2} with every row in Parquet ({a0:.2} to {a1:.2})",
        hot.len()
    );
    Ok(())
}
