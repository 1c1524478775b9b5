//! SOTP's configuration: one TOML file, every field documented, unknown fields refused,
//! every value overridable by `SOTP__SECTION__FIELD` environment variables.
//!
//! Loading order: built-in defaults, then the file, then the environment; then
//! validation, which reports every problem at once, each with its field.

mod load;
pub mod secrets;
mod snmp;

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sotp_alerts::{AlertingConfig, Evaluator, RuleConfig};
use sotp_ingest::icmp::IcmpConfig;
use sotp_ingest::snmp::SnmpConfig;
use sotp_ingest::syslog::SyslogConfig;
use sotp_inventory::{DatabaseConfig, SecretsConfig};
use sotp_notify::{InhibitRule, NotifyConfig, ReceiverConfig};
use sotp_pgwire::PgwireConfig;
use sotp_pipeline::stream::StreamConfig;
use sotp_query::QueryConfig;
use sotp_schemas::{Device, DeviceId, PollSettings, SnmpSettings};
use sotp_server::AuthConfig;
use sotp_sinks::StorageConfig;
use sotp_ssh::SshConfig;

pub use load::{ConfigError, ConfigIssue, load, load_str};

/// The example configuration printed by `sotp config example`: every field, with its
/// default value and what it does.
pub const EXAMPLE: &str = include_str!("example.toml");

/// Name of a stand-in for a `[[devices]]` entry that failed to parse (see `load`).
const PLACEHOLDER: &str = "\u{1}invalid entry";

/// The whole configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where SOTP keeps its data (Parquet files, state). `--data-dir` overrides it.
    pub data_dir: PathBuf,
    /// `[log]`: log output.
    pub log: LogConfig,
    /// `[api]`: the HTTP API.
    pub api: ApiConfig,
    /// `[pgwire]`: the PostgreSQL wire protocol.
    pub pgwire: PgwireConfig,
    /// `[bus]`: how events travel between stages.
    pub bus: BusConfig,
    /// `[icmp]`: ICMP echo polling.
    pub icmp: IcmpConfig,
    /// `[syslog]`: the syslog receiver.
    pub syslog: SyslogConfig,
    /// `[snmp]`: SNMP polling.
    pub snmp: SnmpConfig,
    /// `[ssh]`: read-only commands on devices over SSH.
    pub ssh: SshConfig,
    /// `[stream]`: the streaming stage (rates, utilization, rollups).
    pub stream: StreamConfig,
    /// `[storage]`: Parquet files and the in-memory hot tier.
    pub storage: StorageConfig,
    /// `[query]`: SQL limits.
    pub query: QueryConfig,
    /// `[database]`: the control-plane database (devices, users, audit).
    pub database: DatabaseConfig,
    /// `[secrets]`: the master key sealing device credentials.
    pub secrets: SecretsConfig,
    /// `[auth]`: tokens, CORS, rate limits.
    pub auth: AuthConfig,
    /// `[[devices]]`: devices to monitor.
    pub devices: Vec<DeviceConfig>,
    /// `[[device_ranges]]`: many devices on consecutive addresses.
    pub device_ranges: Vec<DeviceRange>,
    /// `[alerting]`: alert windows (lateness, outages, flapping).
    pub alerting: AlertingConfig,
    /// `[notify]`: delivery of notifications (retries, backoff).
    pub notify: NotifyConfig,
    /// `[[alert_rules]]`: alert rules managed by the configuration.
    pub alert_rules: Vec<RuleConfig>,
    /// `[[receivers]]`: where notifications go.
    pub receivers: Vec<ReceiverConfig>,
    /// `[[inhibit_rules]]`: alerts that mute others while they fire.
    pub inhibit_rules: Vec<InhibitRule>,
    /// `[backup]`: scheduled backups.
    pub backup: crate::backup::BackupConfig,
    /// `[reports]`: reports made on the server.
    pub reports: sotp_server::ReportsConfig,
    /// `[[report_schedules]]`: reports made on a schedule and sent by email.
    pub report_schedules: Vec<sotp_reports::schedule::ScheduleConfig>,
    /// The file this configuration was read from (none: the built-in defaults); not a
    /// setting. Scheduled backups save it.
    #[serde(skip)]
    pub file: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./sotp-data"),
            log: LogConfig::default(),
            api: ApiConfig::default(),
            pgwire: PgwireConfig::default(),
            bus: BusConfig::default(),
            icmp: IcmpConfig::default(),
            syslog: SyslogConfig::default(),
            snmp: SnmpConfig::default(),
            ssh: SshConfig::default(),
            stream: StreamConfig::default(),
            storage: StorageConfig::default(),
            query: QueryConfig::default(),
            database: DatabaseConfig::default(),
            secrets: SecretsConfig::default(),
            auth: AuthConfig::default(),
            devices: Vec::new(),
            device_ranges: Vec::new(),
            alerting: AlertingConfig::default(),
            notify: NotifyConfig::default(),
            alert_rules: Vec::new(),
            receivers: Vec::new(),
            inhibit_rules: Vec::new(),
            backup: crate::backup::BackupConfig::default(),
            reports: sotp_server::ReportsConfig::default(),
            report_schedules: Vec::new(),
            file: None,
        }
    }
}

/// `[log]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `error`, `warn`, `info`, `debug`, `trace`, or a full filter such as
    /// `info,sotp_ingest=debug`. `RUST_LOG` overrides it.
    pub level: String,
    /// `text` for people, `json` for log collectors.
    pub format: LogFormat,
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One readable line per event.
    #[default]
    Text,
    /// One JSON object per event.
    Json,
}

/// Which bus carries events between the roles.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BusKind {
    /// In-process queues: nothing to install, every role in one process.
    #[default]
    Memory,
    /// A Kafka cluster: roles may run as separate processes.
    Kafka,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".into(),
            format: LogFormat::Text,
        }
    }
}

/// `[api]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// Address and port of the HTTP API.
    pub listen: String,
    /// Serve Prometheus metrics at `/metrics`.
    pub metrics: bool,
    /// Connections open at once; more are closed as they arrive (counted in
    /// `sotp_api_connections_refused_total`).
    pub max_connections: usize,
    /// Time a client has to send its request headers (and to complete a TLS handshake)
    /// before its connection is closed.
    #[serde(with = "humantime_serde")]
    pub header_read_timeout: Duration,
    /// PEM certificate chain for HTTPS; empty: plain HTTP (keep `listen` on loopback, or
    /// put a TLS proxy in front).
    pub tls_cert: String,
    /// PEM private key of `tls_cert`.
    pub tls_key: String,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            metrics: true,
            max_connections: 1024,
            header_read_timeout: Duration::from_secs(10),
            tls_cert: String::new(),
            tls_key: String::new(),
        }
    }
}

impl ApiConfig {
    /// The TLS acceptor of `tls_cert` and `tls_key`, none without them.
    pub fn tls(&self) -> Result<Option<sotp_tls::TlsAcceptor>, sotp_tls::TlsError> {
        if self.tls_cert.is_empty() {
            return Ok(None);
        }
        let files = sotp_tls::PemFiles {
            section: "api",
            cert: &self.tls_cert,
            key: &self.tls_key,
            client_ca: "",
        };
        files.acceptor().map(Some)
    }
}

/// A secret setting: a literal value or an `env:NAME` / `file:/path` reference. Debug
/// output (a logged config) shows a reference but never a literal value.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ConfigSecret(pub String);

impl std::fmt::Debug for ConfigSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.0.as_str();
        if s.is_empty() || s.starts_with("env:") || s.starts_with("file:") {
            write!(f, "{s:?}")
        } else {
            f.write_str("\"<redacted>\"")
        }
    }
}

/// `[bus]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BusConfig {
    /// `memory`: in-process queues, nothing to install. `kafka`: a Kafka cluster, so
    /// roles can run as separate processes.
    pub kind: BusKind,
    /// Events that may wait for one consumer before producers slow down.
    pub capacity_events: usize,
    /// Kafka: bootstrap brokers, `host:port,host:port`.
    pub brokers: String,
    /// Kafka: prefix of every topic name.
    pub topic_prefix: String,
    /// Kafka: partitions of the topics SOTP creates when missing.
    pub partitions: i32,
    /// Kafka: replication factor of the topics SOTP creates.
    pub replication: i32,
    /// Kafka: events a producer buffers in memory while the brokers are unreachable;
    /// when full the oldest are dropped and counted (`sotp_bus_dropped_events_total`).
    pub buffer_events: usize,
    /// Kafka: bytes of a disk spool under `<data_dir>/spool`: every event is written to it
    /// before `publish` returns and kept until the brokers acknowledge it, so it survives
    /// a restart or `kill -9` and is sent first on start (see docs/delivery.md); when the
    /// unsent events exceed it the oldest are dropped and counted; 0 disables it.
    pub spool_max_bytes: u64,
    /// Kafka: consumer group session timeout; a dead process's partitions (and, for
    /// collectors, devices) move to the others after it.
    #[serde(with = "humantime_serde")]
    pub session_timeout: Duration,
    /// Kafka: prefix of consumer group names.
    pub group_prefix: String,
    /// Kafka: `plaintext`, `ssl`, `sasl_plaintext` or `sasl_ssl`.
    pub security_protocol: sotp_kafka::SecurityProtocol,
    /// Kafka: `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512` with a SASL protocol; empty otherwise.
    pub sasl_mechanism: String,
    /// Kafka: SASL user name.
    pub sasl_username: String,
    /// Kafka: SASL password, or a reference read at start: `env:NAME` or `file:/path`
    /// (also settable by the `SOTP__BUS__SASL_PASSWORD` environment variable).
    pub sasl_password: ConfigSecret,
    /// Kafka: CA certificate file (PEM) that signs the brokers' certificates; empty for
    /// the system's.
    pub ssl_ca_location: String,
}

impl Default for BusConfig {
    fn default() -> Self {
        Self {
            kind: BusKind::Memory,
            capacity_events: 200_000,
            brokers: "127.0.0.1:9092".into(),
            topic_prefix: "sotp.".into(),
            partitions: 6,
            replication: 1,
            buffer_events: 1_000_000,
            spool_max_bytes: 0,
            session_timeout: Duration::from_secs(10),
            group_prefix: "sotp-".into(),
            security_protocol: sotp_kafka::SecurityProtocol::Plaintext,
            sasl_mechanism: String::new(),
            sasl_username: String::new(),
            sasl_password: ConfigSecret::default(),
            ssl_ca_location: String::new(),
        }
    }
}

/// Per-device settings of one collector.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DevicePoll {
    /// Poll this device with this collector.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Overrides the collector's interval for this device.
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub interval: Option<Duration>,
}

fn yes() -> bool {
    true
}

/// `[[devices]]`: one device.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceConfig {
    /// Stable id; defaults to the name. Keep it when renaming a device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Display name.
    pub name: String,
    /// IPv4 or IPv6 management address.
    pub address: String,
    /// Free-form tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// ICMP settings for this device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icmp: Option<DevicePoll>,
    /// SNMP settings for this device; none = not polled over SNMP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snmp: Option<SnmpSettings>,
    /// SSH settings for read-only commands (the devices API's `ssh` object); `key` and
    /// `password` may be `env:`/`file:` references.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh: Option<sotp_inventory::SshInput>,
}

/// `[[device_ranges]]`: `count` devices on consecutive IPv4 addresses from `first_address`,
/// named `<name_prefix><address>`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceRange {
    /// Prefix of each device's name and id.
    pub name_prefix: String,
    /// First IPv4 address.
    pub first_address: String,
    /// How many devices (1 to 65536).
    pub count: u32,
    /// Tags of every device in the range.
    #[serde(default)]
    pub tags: Vec<String>,
    /// ICMP settings for these devices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icmp: Option<DevicePoll>,
}

impl Config {
    /// The receivers with their secret references (`env:`, `file:`) resolved.
    pub fn resolved_receivers(&self) -> Result<Vec<ReceiverConfig>, String> {
        self.receivers
            .iter()
            .map(|r| {
                let mut r = r.clone();
                for (field, value) in [("secret", &mut r.secret), ("password", &mut r.password)] {
                    if let Some(v) = value.as_mut() {
                        *v = secrets::resolve(v)
                            .map_err(|why| format!("receivers.{}.{field}: {why}", r.name))?;
                    }
                }
                Ok(r)
            })
            .collect()
    }

    /// Problems of `[[alert_rules]]`, `[[receivers]]`, `[[inhibit_rules]]`, `[alerting]`
    /// and `[notify]`: each rule is planned as it will run (a bad rule stops the start
    /// with its reason), names are unique, and every receiver a rule names exists.
    fn alerting_problems(&self) -> Vec<(String, String)> {
        let mut e: Vec<(String, String)> = self.notify.validate();
        if self.alerting.allowed_lateness > Duration::from_secs(3600) {
            e.push(("alerting.allowed_lateness".into(), "at most 1h".into()));
        }
        if self.alerting.idle_timeout.is_zero() {
            e.push((
                "alerting.idle_timeout".into(),
                "must be greater than 0".into(),
            ));
        }
        let mut receivers = std::collections::BTreeSet::new();
        for r in &self.receivers {
            e.extend(r.validate());
            if !receivers.insert(r.name.as_str()) {
                e.push((
                    format!("receivers.{}", r.name),
                    "the name is used twice".into(),
                ));
            }
        }
        if let Err(why) = self.resolved_receivers() {
            let (field, reason) = why.split_once(": ").unwrap_or(("receivers", &why));
            e.push((field.into(), reason.into()));
        }
        let mut rules = std::collections::BTreeSet::new();
        for (i, r) in self.alert_rules.iter().enumerate() {
            let at = format!("alert_rules[{i}]");
            if let Err(err) = Evaluator::validate(r) {
                e.push((at.clone(), err.to_string()));
            }
            if !rules.insert(r.name.as_str()) {
                e.push((
                    format!("{at}.name"),
                    format!("rule `{}` is defined twice", r.name),
                ));
            }
            for name in r.receivers.iter().chain(&r.escalate_to) {
                if !receivers.contains(name.as_str()) {
                    e.push((
                        format!("{at}.receivers"),
                        format!("no [[receivers]] named `{name}`"),
                    ));
                }
            }
            if r.escalate_after.is_some() && r.escalate_to.is_empty() {
                e.push((
                    format!("{at}.escalate_to"),
                    "escalate_after needs escalate_to".into(),
                ));
            }
        }
        for (i, inh) in self.inhibit_rules.iter().enumerate() {
            for name in std::iter::once(&inh.source).chain(&inh.targets) {
                if !rules.contains(name.as_str()) {
                    e.push((
                        format!("inhibit_rules[{i}]"),
                        format!("no [[alert_rules]] named `{name}`"),
                    ));
                }
            }
        }
        e
    }

    /// Every semantic problem, as (field, reason) pairs.
    pub fn validate(&self) -> Vec<(String, String)> {
        let mut e: Vec<(String, String)> = Vec::new();
        let mut add = |field: &str, reason: String| e.push((field.to_string(), reason));
        if !["error", "warn", "info", "debug", "trace"].contains(&self.log.level.as_str())
            && tracing_subscriber::EnvFilter::try_new(&self.log.level).is_err()
        {
            add(
                "log.level",
                format!("`{}` is not a level or a filter", self.log.level),
            );
        }
        if self.api.max_connections == 0 {
            add("api.max_connections", "must be at least 1".into());
        }
        if self.api.header_read_timeout.is_zero() {
            add("api.header_read_timeout", "must be greater than 0".into());
        }
        if self.api.tls_cert.is_empty() != self.api.tls_key.is_empty() {
            add(
                "api.tls_key",
                "tls_cert and tls_key go together: set both or neither".into(),
            );
        } else if let Err(e) = self.api.tls() {
            add(&e.field, format!("`{}`: {}", e.path, e.reason));
        }
        if self.pgwire.tls_cert.is_empty() != self.pgwire.tls_key.is_empty() {
            add(
                "pgwire.tls_key",
                "tls_cert and tls_key go together: set both or neither".into(),
            );
        }
        if self.pgwire.max_connections == 0 {
            add("pgwire.max_connections", "must be at least 1".into());
        }
        if !self.pgwire.listen.is_empty()
            && self.pgwire.listen.parse::<std::net::SocketAddr>().is_err()
        {
            add(
                "pgwire.listen",
                format!(
                    "`{}` is not HOST:PORT (or \"\" to turn it off)",
                    self.pgwire.listen
                ),
            );
        }
        if self.api.listen.parse::<std::net::SocketAddr>().is_err() {
            add(
                "api.listen",
                format!(
                    "`{}` is not an address:port such as 127.0.0.1:8080",
                    self.api.listen
                ),
            );
        }
        match self.bus.kind {
            BusKind::Memory => {}
            BusKind::Kafka => {
                if let Err(r) = secrets::resolve(&self.bus.sasl_password.0) {
                    add("bus.sasl_password", r);
                }
                for (f, r) in crate::bus::kafka_config(self).validate() {
                    add(&f, r);
                }
            }
        }
        if self.bus.capacity_events == 0 {
            add("bus.capacity_events", "must be at least 1".into());
        }
        for (f, r) in self
            .icmp
            .validate()
            .into_iter()
            .chain(self.syslog.validate())
            .chain(self.snmp.validate())
            .chain(self.stream.validate())
            .chain(self.storage.validate())
            .chain(self.query.validate())
            .chain(self.database.validate())
            .chain(self.auth.validate())
            .chain(self.backup.validate())
        {
            add(f, r);
        }
        for (f, r) in self.alerting_problems() {
            add(&f, r);
        }
        for (f, r) in crate::report_schedule::problems(self) {
            add(&f, r);
        }
        for (f, r) in self.ssh.problems() {
            add(&f, r);
        }
        let mut seen_ids = std::collections::HashMap::new();
        for (i, d) in self.devices.iter().enumerate() {
            if d.name == PLACEHOLDER {
                continue;
            }
            let at = format!("devices[{i}]");
            if d.name.trim().is_empty() {
                add(&format!("{at}.name"), "must not be empty".into());
            }
            if d.address.parse::<IpAddr>().is_err() {
                add(
                    &format!("{at}.address"),
                    format!("`{}` is not an IPv4 or IPv6 address", d.address),
                );
            }
            if let Some(p) = &d.icmp
                && p.interval.is_some_and(|i| i.is_zero())
            {
                add(
                    &format!("{at}.icmp.interval"),
                    "must be greater than 0".into(),
                );
            }
            if let Some(s) = &d.snmp {
                for (f, r) in s.validate(&|_| false) {
                    add(&format!("{at}.snmp.{f}"), r);
                }
                for (f, r) in secrets::resolve_snmp(s).1 {
                    add(&format!("{at}.snmp.{f}"), r);
                }
            }
            if let Some(s) = &d.ssh {
                if s.user.trim().is_empty() {
                    add(&format!("{at}.ssh.user"), "must not be empty".into());
                }
                if s.key.is_none() && s.password.is_none() {
                    add(&format!("{at}.ssh"), "needs a key or a password".into());
                }
                match s.platform.as_deref() {
                    Some(p) if sotp_ssh::Platform::named(p).is_some() => {}
                    other => add(
                        &format!("{at}.ssh.platform"),
                        format!(
                            "{} one of: {}",
                            other.map_or("is required:".to_string(), |p| format!(
                                "`{p}` is not a known platform:"
                            )),
                            sotp_ssh::Platform::names().join(", ")
                        ),
                    ),
                }
                for (f, r) in secrets::resolve_ssh(s).1 {
                    add(&format!("{at}.ssh.{f}"), r);
                }
            }
            let id = d.id.clone().unwrap_or_else(|| d.name.clone());
            if let Some(prev) = seen_ids.insert(id.clone(), at.clone()) {
                add(
                    &format!("{at}.id"),
                    format!("device id `{id}` is already used by {prev}"),
                );
            }
        }
        for (i, r) in self.device_ranges.iter().enumerate() {
            if r.name_prefix == PLACEHOLDER {
                continue;
            }
            let at = format!("device_ranges[{i}]");
            match r.first_address.parse::<std::net::Ipv4Addr>() {
                Ok(a) if u64::from(u32::from(a)) + u64::from(r.count) > u64::from(u32::MAX) + 1 => {
                    add(&format!("{at}.count"), "runs past 255.255.255.255".into())
                }
                Ok(_) => {}
                Err(_) => add(
                    &format!("{at}.first_address"),
                    format!("`{}` is not an IPv4 address", r.first_address),
                ),
            }
            if !(1..=65_536).contains(&r.count) {
                add(
                    &format!("{at}.count"),
                    format!("must be between 1 and 65536, got {}", r.count),
                );
            }
        }
        e
    }

    /// The SNMP settings of `device` with its `env:`/`file:` references resolved. A
    /// reference that stopped resolving since validation is logged and left empty: that
    /// device's polls then fail, never with the reference's text as the secret.
    pub fn device_snmp(&self, device: &DeviceConfig) -> Option<SnmpSettings> {
        let (resolved, failed) = secrets::resolve_snmp(device.snmp.as_ref()?);
        for (field, why) in failed {
            tracing::error!(device = %device.name, field, reason = %why, "a secret reference of this device does not resolve");
        }
        Some(resolved)
    }

    /// A `[[devices]]` entry's SSH settings with their secret references resolved
    /// (logged and left empty when one does not resolve; `validate` reports it first).
    pub fn device_ssh(&self, device: &DeviceConfig) -> Option<sotp_inventory::SshInput> {
        let (resolved, failed) = secrets::resolve_ssh(device.ssh.as_ref()?);
        for (field, why) in failed {
            tracing::error!(device = %device.name, field, reason = %why, "a secret reference of this device does not resolve");
        }
        Some(resolved)
    }

    /// The devices to monitor: `[[devices]]` then every `[[device_ranges]]` expanded.
    /// Call after [`Config::validate`] found nothing.
    pub fn device_list(&self) -> Vec<Device> {
        let poll = |p: &Option<DevicePoll>| PollSettings {
            enabled: p.as_ref().is_none_or(|p| p.enabled),
            interval: p.as_ref().and_then(|p| p.interval),
        };
        let mut out: Vec<Device> = Vec::new();
        for d in &self.devices {
            let Ok(address) = d.address.parse() else {
                continue;
            };
            out.push(Device {
                id: DeviceId::new(d.id.as_deref().unwrap_or(&d.name)),
                name: Arc::from(d.name.as_str()),
                address,
                tags: d.tags.clone(),
                icmp: poll(&d.icmp),
                snmp: self.device_snmp(d).as_ref().map(SnmpSettings::target),
                ssh: self.device_ssh(d).and_then(|s| {
                    Some(sotp_schemas::SshAccess {
                        port: u16::try_from(s.port.unwrap_or(22)).ok()?,
                        user: s.user,
                        key: s.key.map(sotp_schemas::Secret::new),
                        password: s.password.map(sotp_schemas::Secret::new),
                        platform: s.platform?,
                        host_key: s.host_key,
                        legacy_algorithms: s.legacy_algorithms,
                    })
                }),
            });
        }
        for r in &self.device_ranges {
            let Ok(first) = r.first_address.parse::<std::net::Ipv4Addr>() else {
                continue;
            };
            for k in 0..r.count {
                let Some(a) = u32::from(first).checked_add(k) else {
                    break;
                };
                let address = std::net::Ipv4Addr::from(a);
                let name = format!("{}{address}", r.name_prefix);
                out.push(Device {
                    id: DeviceId::new(&name),
                    name: Arc::from(name.as_str()),
                    address: IpAddr::V4(address),
                    tags: r.tags.clone(),
                    icmp: poll(&r.icmp),
                    snmp: None,
                    ssh: None,
                });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod secret_tests {
    use super::*;

    #[test]
    fn a_literal_secret_is_never_in_debug_output() {
        let mut bus = BusConfig {
            sasl_password: ConfigSecret("hunter2".into()),
            ..BusConfig::default()
        };
        let shown = format!("{bus:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("<redacted>"));
        bus.sasl_password = ConfigSecret("env:KAFKA_PASSWORD".into());
        assert!(format!("{bus:?}").contains("env:KAFKA_PASSWORD"));
    }
}
