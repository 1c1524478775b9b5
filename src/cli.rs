//! The command line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// SOTP: network telemetry pipeline. Polls devices over ICMP and SNMP (v1, v2c, v3) and
/// receives syslog, derives rates, utilization and 1-minute rollups, keeps recent data in
/// memory and history in Parquet, and answers SQL over HTTP.
#[derive(Debug, Parser)]
#[command(name = "sotp", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run SOTP: collectors, the streaming stage, storage and the HTTP API.
    ///
    /// Without --config it starts on embedded defaults: in-process bus, SQLite and
    /// Parquet under ./sotp-data, API on 127.0.0.1:8080, and no devices (add them with
    /// [[devices]] in a configuration file or through the devices API). With [bus]
    /// kind = "kafka", --role runs a subset of the roles per process. SIGINT or SIGTERM
    /// stops it cleanly: polls in flight finish and everything in memory is written to
    /// Parquet.
    Run(RunArgs),
    /// Run one SQL query against a running server, or directly on the Parquet files.
    ///
    /// Only read-only statements are allowed: SELECT, WITH, EXPLAIN, SHOW.
    /// Tables: metrics (time, device_id, device, metric, instance, value, counter,
    /// labels, collector), metrics_1m (1-minute rollups), logs, devices and audit.
    Query(QueryArgs),
    /// Export a query's result to a file: Parquet, Arrow, CSV or NDJSON.
    ///
    /// The result streams from the server (or from the Parquet files with --data-dir)
    /// into the file as it is computed, so an export of any size needs little memory on
    /// either side. A progress line shows on a terminal. The file appears under its name
    /// only when complete: an export that fails or is cut short (a limit such as
    /// [query] export_max_rows or export_timeout) leaves no file behind.
    Export(ExportArgs),
    /// Make a report: availability (uptime, downtime and unknown time per device, SLA,
    /// downtime episodes), performance (min, mean, p95, max of latency, loss, jitter, CPU,
    /// memory, utilization; top N), alerts (counts, time to resolve, MTTR, noisiest rules
    /// and devices) or inventory (devices and when each collector last heard from them).
    ///
    /// Over a period [--from, --to), from a running server (its SQL export, with your
    /// token's role) or directly from a data directory (--data-dir). CSV and Parquet hold
    /// the main table (one row per device); HTML and PDF every table and chart.
    /// --show-sql prints the statements instead (docs/reports.md explains each column).
    Report(ReportArgs),
    /// Check that the `sotp run` of a data directory is alive: exit 0 when its heartbeat
    /// (`<data_dir>/health.json`, written every 5 s) is fresh and its bus connected, 1
    /// with the reason otherwise. For container health checks and supervisors.
    Health(HealthArgs),
    /// Parse a saved command output with TextFSM templates, as the SSH collector does.
    ///
    /// The template is found in the templates folder's `index` by platform and command,
    /// abbreviations included (`sh ip int br`), exactly as ntc-templates does. Prints a
    /// JSON array of objects keyed by the template's value names in lower case: what
    /// Python's `ntc_templates.parse.parse_output(platform=, command=, data=)` returns.
    /// Exits 1 with the reason when no template matches or the template fails.
    Parse(ParseArgs),
    /// Print an example configuration or check a configuration file.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Manage users of the API (the first admin is created here).
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage API tokens (for Grafana, scripts and other services).
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Manage the master key that seals device credentials.
    Secrets {
        #[command(subcommand)]
        command: SecretsCommand,
    },
    /// Back up a data directory: the control database (a consistent snapshot, taken while
    /// the server runs), the stage's and alert windows' state, the configuration file and
    /// the Parquet files (copied from the local disk; on object storage only listed,
    /// unless --copy-parquet).
    ///
    /// Writes the folder sotp-backup-<UTC time> at --to (a path, or a URL such as
    /// s3://bucket/backups with the AWS_* variables) with a manifest of every file and its
    /// SHA-256, written last. The master key is never inside: --key-to FILE keeps a copy
    /// of it elsewhere. --keep N deletes the oldest backups beyond N. See
    /// docs/operations.md.
    Backup(BackupArgs),
    /// Restore a backup into a new, empty data directory, and check it: every file's
    /// SHA-256, the master key against the backup's, the database's integrity, every
    /// sealed secret opened, the control tables' row counts, the listed Parquet files
    /// still present.
    ///
    /// --from is one backup folder, or a destination of `sotp backup --to` (its newest
    /// complete backup is taken). Nothing is written when the key or a file is wrong.
    Restore(RestoreArgs),
}

/// `sotp backup`.
#[derive(Debug, Args)]
pub struct BackupArgs {
    #[command(flatten)]
    pub common: StoreArgs,
    /// Where to write the backup: a local folder, or an object store URL (s3://, gs://,
    /// az://).
    #[arg(long)]
    pub to: String,
    /// Also write the master key to this file (mode 0600), which must be outside --to.
    #[arg(long)]
    pub key_to: Option<PathBuf>,
    /// Copy the Parquet files even when they are on object storage.
    #[arg(long)]
    pub copy_parquet: bool,
    /// Keep only the newest N complete backups at --to.
    #[arg(long)]
    pub keep: Option<usize>,
}

/// `sotp restore`.
#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// Configuration file whose [database], [secrets] and [storage] settings to restore
    /// into (default: the embedded defaults, everything in --data-dir).
    #[arg(long, short, env = "SOTP_CONFIG")]
    pub config: Option<PathBuf>,
    /// The backup: a folder sotp-backup-..., or where `sotp backup --to` writes them.
    #[arg(long)]
    pub from: String,
    /// The master key file of the backed-up server (what --key-to wrote).
    #[arg(long)]
    pub key_from: Option<PathBuf>,
    /// The new data directory: must not exist or be empty.
    #[arg(long)]
    pub data_dir: PathBuf,
}

/// Where the inventory is: the configuration file and data directory.
#[derive(Debug, Args)]
pub struct StoreArgs {
    /// Configuration file (TOML) whose [database] and [secrets] settings to use.
    #[arg(long, short, env = "SOTP_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data directory; overrides `data_dir` in the configuration.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user. The password comes from SOTP_PASSWORD, else it is asked for.
    Create {
        #[command(flatten)]
        common: StoreArgs,
        /// Login name.
        #[arg(long)]
        username: String,
        /// admin, operator, auditor or readonly.
        #[arg(long)]
        role: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create an API token and print it (or write it to --out). Send it as
    /// `Authorization: Bearer <token>`, or as the password of a PostgreSQL-wire login
    /// (Grafana's data source). Only its hash is stored: it cannot be shown again.
    Create {
        #[command(flatten)]
        common: StoreArgs,
        /// Name, e.g. `grafana`.
        #[arg(long)]
        name: String,
        /// admin, operator, auditor or readonly.
        #[arg(long)]
        role: String,
        /// Seconds until it expires; without it, it never expires.
        #[arg(long)]
        expires_in: Option<i64>,
        /// Write the token to this file (mode 0600) instead of printing it. When the file
        /// exists already, nothing is created (for start-up scripts that run every time).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// Re-seal every stored secret under a new master key (from SOTP_NEW_MASTER_KEY, or
    /// generated). The new key replaces the key file (the old one is kept as
    /// `.key.old`), or is printed when the key comes from SOTP_MASTER_KEY.
    RotateKey {
        #[command(flatten)]
        common: StoreArgs,
    },
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Configuration file (TOML). See `sotp config example`.
    #[arg(long, short, env = "SOTP_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data directory; overrides `data_dir` in the configuration.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Role of this process (repeatable): collector, pipeline, sink, api, or all. Roles
    /// other than `all` need `[bus] kind = "kafka"`, where each can run as its own process.
    #[arg(long = "role", value_enum, default_value = "all")]
    pub roles: Vec<crate::roles::Role>,
}

/// Output formats of `sotp query`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// An aligned table for people.
    Table,
    /// CSV with a header row.
    Csv,
    /// JSON: {"columns": [...], "rows": [[...]]}.
    Json,
}

#[derive(Debug, Args)]
pub struct QueryArgs {
    /// The SQL statement.
    pub sql: String,
    /// Read the Parquet files under this data directory directly, without a server
    /// (only data already flushed to Parquet is visible).
    #[arg(long, conflicts_with = "server")]
    pub data_dir: Option<PathBuf>,
    /// Configuration file whose [storage] and [query] settings to use with --data-dir.
    #[arg(long, short, requires = "data_dir")]
    pub config: Option<PathBuf>,
    /// URL of a running SOTP API.
    #[arg(long, default_value = "http://127.0.0.1:8080", env = "SOTP_SERVER")]
    pub server: String,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    /// Access token or API token for the server (see POST /api/v1/auth/login and
    /// POST /api/v1/tokens).
    #[arg(long, env = "SOTP_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

#[derive(Debug, Args)]
pub struct HealthArgs {
    /// Configuration file of the process to check (for its data_dir).
    #[arg(long, short, env = "SOTP_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data directory; overrides `data_dir` in the configuration.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// An older heartbeat means the process hangs or has died.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub max_age: std::time::Duration,
}

#[derive(Debug, Args)]
pub struct ParseArgs {
    /// The device platform, as named in the index (cisco_ios, cisco_nxos, arista_eos,
    /// juniper_junos, ...).
    #[arg(long, short)]
    pub platform: String,
    /// The command whose output FILE holds, as typed on the device (`show version`,
    /// `sh ver`).
    #[arg(long, short = 'C')]
    pub command: String,
    /// The templates folder (holding `index`), e.g. ntc-templates'
    /// `ntc_templates/templates`. Defaults to $NTC_TEMPLATES_DIR, as ntc-templates reads it.
    #[arg(long, short, env = "NTC_TEMPLATES_DIR")]
    pub templates: Option<PathBuf>,
    /// The command output to parse; `-` reads standard input.
    pub file: PathBuf,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The SQL statement.
    pub sql: String,
    /// The file to write.
    #[arg(long, short)]
    pub out: PathBuf,
    /// File format.
    #[arg(long, short, value_enum, default_value_t = ExportFormatArg::Parquet)]
    pub format: ExportFormatArg,
    /// Replace --out when it exists.
    #[arg(long)]
    pub force: bool,
    /// Read the Parquet files under this data directory directly, without a server
    /// (only data already flushed to Parquet is visible).
    #[arg(long, conflicts_with = "server")]
    pub data_dir: Option<PathBuf>,
    /// Configuration file whose [storage] and [query] settings to use with --data-dir.
    #[arg(long, short, requires = "data_dir")]
    pub config: Option<PathBuf>,
    /// URL of a running SOTP API.
    #[arg(long, default_value = "http://127.0.0.1:8080", env = "SOTP_SERVER")]
    pub server: String,
    /// Access token or API token for the server.
    #[arg(long, env = "SOTP_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

/// `sotp report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The report.
    #[arg(long = "type", value_enum, value_name = "TYPE")]
    pub kind: ReportTypeArg,
    /// Start of the period (RFC 3339, e.g. 2026-11-01T00:00:00Z), included.
    #[arg(long, value_parser = parse_time)]
    pub from: chrono::DateTime<chrono::Utc>,
    /// End of the period (RFC 3339), excluded.
    #[arg(long, value_parser = parse_time)]
    pub to: chrono::DateTime<chrono::Utc>,
    /// File format.
    #[arg(long, short, value_enum, default_value_t = ReportFormatArg::Pdf)]
    pub format: ReportFormatArg,
    /// The file to write (it appears only when complete).
    #[arg(long, short, required_unless_present = "show_sql")]
    pub out: Option<PathBuf>,
    /// Replace --out when it exists.
    #[arg(long)]
    pub force: bool,
    /// Only these device ids (comma-separated or repeated).
    #[arg(long, value_delimiter = ',')]
    pub devices: Vec<String>,
    /// Only devices with one of these tags (comma-separated or repeated).
    #[arg(long, value_delimiter = ',')]
    pub tags: Vec<String>,
    /// The availability target as a ratio (0.999 is 99.9 %).
    #[arg(long, default_value_t = 0.999)]
    pub sla: f64,
    /// The ICMP poll interval availability counts in (default: [icmp] interval of the
    /// configuration).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub interval: Option<std::time::Duration>,
    /// Rows of the "top" tables.
    #[arg(long, default_value_t = 10)]
    pub top: usize,
    /// Print the report's SQL statements and exit.
    #[arg(long)]
    pub show_sql: bool,
    /// Configuration file (for [icmp] interval, and [storage] and [database] with
    /// --data-dir).
    #[arg(long, short, env = "SOTP_CONFIG")]
    pub config: Option<PathBuf>,
    /// Read the data directory directly, without a server (only data already flushed to
    /// Parquet is visible).
    #[arg(long, conflicts_with = "server")]
    pub data_dir: Option<PathBuf>,
    /// URL of a running SOTP API.
    #[arg(long, default_value = "http://127.0.0.1:8080", env = "SOTP_SERVER")]
    pub server: String,
    /// Access token or API token for the server.
    #[arg(long, env = "SOTP_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

fn parse_time(s: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|e| format!("`{s}` is not an RFC 3339 time such as 2026-11-01T00:00:00Z: {e}"))
}

/// Report types of `sotp report`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ReportTypeArg {
    /// Uptime, downtime and unknown time per device and location, SLA, downtime episodes.
    Availability,
    /// Min, mean, p95 and max of latency, loss, jitter, CPU, memory, utilization; top N.
    Performance,
    /// Alert counts by severity, rule and device; time to resolve and MTTR.
    Alerts,
    /// Devices and when each collector last heard from them.
    Inventory,
}

/// File formats of `sotp report`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ReportFormatArg {
    /// The main table as CSV.
    Csv,
    /// The main table as Apache Parquet.
    Parquet,
    /// Every table and chart in one HTML page.
    Html,
    /// Every table and chart on A4 pages.
    Pdf,
}

/// File formats of `sotp export`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ExportFormatArg {
    /// Apache Parquet, zstd-compressed.
    Parquet,
    /// The Arrow IPC file format (Feather v2).
    Arrow,
    /// CSV with a header row, timestamps in RFC 3339.
    Csv,
    /// Newline-delimited JSON, one object per row.
    Ndjson,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print a configuration with every field, its default and what it does.
    Example,
    /// Check a configuration file and report every problem at once.
    Check {
        /// The file to check.
        file: PathBuf,
    },
}
