//! `sotp-bench`: end-to-end benchmarks of SOTP's components against reference tools.
//!
//! Each subcommand prints one JSON line with its measurements; `docs/BENCHMARKS.md` lists
//! the exact commands and the results on the project's 2-core machine.
//!
//! - `icmp-sweep`: one echo to each of N loopback addresses with SOTP's ICMP collector, and
//!   `fping -c1 -q -i 1` on the same list in the same run; wall and CPU time ratios.
//! - `ingest`: synthetic samples through the in-process bus, the hot tier and Parquet.
//! - `storage`: bytes per sample in Parquet for realistic series.
//! - `query`: SQL over the `storage` data set through SOTP's engine and DuckDB.

mod icmp_sweep;
mod ingest;
mod query;
mod report;
mod storage;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "sotp-bench",
    about = "SOTP benchmarks (see docs/BENCHMARKS.md)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// One ICMP echo to each of N loopback addresses: SOTP vs fping.
    IcmpSweep {
        /// Number of addresses (127.20.0.1 onwards).
        #[arg(long, default_value_t = 10_000)]
        targets: u32,
        /// Concurrent polls in SOTP's collector.
        #[arg(long, default_value_t = 1000)]
        concurrency: usize,
    },
    /// Samples per second through bus, hot tier and Parquet.
    Ingest {
        /// Total samples.
        #[arg(long, default_value_t = 20_000_000)]
        samples: u64,
        /// Producer tasks.
        #[arg(long, default_value_t = 2)]
        producers: u64,
    },
    /// Time of each part of the ingest path (profiling aid).
    IngestParts {
        /// Samples.
        #[arg(long, default_value_t = 2_000_000)]
        samples: u64,
    },
    /// Bytes per sample in Parquet for a day of realistic series.
    Storage {
        /// Devices.
        #[arg(long, default_value_t = 1000)]
        devices: u32,
        /// Hours of data.
        #[arg(long, default_value_t = 24)]
        hours: u32,
        /// Interfaces per device, polled every 30 s.
        #[arg(long, default_value_t = 10)]
        interfaces: u32,
        /// Which series each interface poll writes.
        #[arg(long, value_enum, default_value = "collector")]
        series: storage::Series,
        /// Keep the Parquet files in this directory (default: a temporary one).
        #[arg(long)]
        keep: Option<std::path::PathBuf>,
    },
    /// SQL scans and dashboard queries over the `storage` data set: SOTP vs DuckDB.
    Query {
        /// Where the data set is written, or reused when a previous run left it.
        #[arg(long)]
        dir: std::path::PathBuf,
        /// Devices (when the data set is written).
        #[arg(long, default_value_t = 100)]
        devices: u32,
        /// Hours of data (when the data set is written).
        #[arg(long, default_value_t = 24)]
        hours: u32,
        /// Interfaces per device (when the data set is written).
        #[arg(long, default_value_t = 10)]
        interfaces: u32,
        /// Measured runs of each query after one warm-up; the median is reported.
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// A Python with the `duckdb` package.
        #[arg(long, env = "SOTP_PYTHON", default_value = "python3")]
        python: String,
    },
    /// The availability report over a month of 30 s polls (PDF): SOTP vs the same SQL in
    /// DuckDB on the same files.
    Report {
        /// Where the data set is written, or reused when a previous run left it.
        #[arg(long)]
        dir: std::path::PathBuf,
        /// Devices (when the data set is written).
        #[arg(long, default_value_t = 1000)]
        devices: u32,
        /// Days of polls (when the data set is written).
        #[arg(long, default_value_t = 30)]
        days: u32,
        /// Measured runs after one warm-up; the median is reported.
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// A Python with the `duckdb` package.
        #[arg(long, env = "SOTP_PYTHON", default_value = "python3")]
        python: String,
    },
    /// SOTP's side of `report` (run in a process of its own).
    #[command(hide = true)]
    ReportOne {
        /// The data set.
        #[arg(long)]
        dir: std::path::PathBuf,
        /// Devices in the inventory.
        #[arg(long)]
        devices: u32,
        /// Days of the period.
        #[arg(long)]
        days: u32,
        /// Measured runs.
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
    /// One query through SOTP's engine (run by `query` in a process of its own).
    #[command(hide = true)]
    QueryOne {
        /// The data set.
        #[arg(long)]
        dir: std::path::PathBuf,
        /// Measured runs.
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// Print EXPLAIN ANALYZE first (to standard error).
        #[arg(long)]
        explain: bool,
        /// The SQL.
        sql: String,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let report = match cli.command {
        Command::IcmpSweep {
            targets,
            concurrency,
        } => rt.block_on(icmp_sweep::run(targets, concurrency))?,
        Command::Ingest { samples, producers } => rt.block_on(ingest::run(samples, producers))?,
        Command::IngestParts { samples } => rt.block_on(ingest::parts(samples))?,
        Command::Storage {
            devices,
            hours,
            interfaces,
            series,
            keep,
        } => rt.block_on(storage::run(devices, hours, interfaces, series, keep))?,
        Command::Query {
            dir,
            devices,
            hours,
            interfaces,
            runs,
            python,
        } => rt.block_on(query::run(dir, devices, hours, interfaces, runs, python))?,
        Command::Report {
            dir,
            devices,
            days,
            runs,
            python,
        } => rt.block_on(report::run(dir, devices, days, runs, python))?,
        Command::ReportOne {
            dir,
            devices,
            days,
            runs,
        } => rt.block_on(report::one(dir, devices, days, runs))?,
        Command::QueryOne {
            dir,
            runs,
            explain,
            sql,
        } => rt.block_on(query::one(dir, runs, sql, explain))?,
    };
    println!("{report}");
    Ok(())
}

/// CPU seconds (user + system) used so far by this process, or by its waited-for children.
pub(crate) fn cpu_seconds(children: bool) -> f64 {
    // /proc/self/stat has utime and stime in clock ticks for self; children's in cutime/cstime.
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let (u, s) = if children { (13, 14) } else { (11, 12) };
    let ticks: f64 = [u, s]
        .iter()
        .filter_map(|i| fields.get(*i)?.parse::<f64>().ok())
        .sum();
    // USER_HZ is 100 on Linux, whatever the kernel's HZ.
    ticks / 100.0
}
