//! The SSH collector: `[[ssh.collect]]` commands on a schedule, and configuration
//! backups, on every device with SSH settings (a platform, a pinned host key, a key or a
//! password). Each run is one [`CommandRecord`] on `commands`: its output and the rows its
//! TextFSM template found. A configuration is published only when it changed (its digest
//! differs from the last one published for the device, kept in `<data_dir>/ssh/backups.json`
//! across restarts and, on Kafka, in the bus's shared store [`DIGESTS`] so that the
//! collector a device moves to compares with the version its previous collector stored),
//! with its secrets masked, and a change also goes on `logs` as a
//! `CONFIG_CHANGED` record that a log-pattern alert rule can watch (the first version a
//! collector sees is a `CONFIG_BASELINE` record instead: not a change). A device presenting
//! another host key than the pinned one is refused and reported on `logs` as a
//! `HOST_KEY_CHANGED` record ([`host_key_alarm`], the API's runner too).

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use sotp_bus::Bus;
use sotp_schemas::{
    CommandKind, CommandRecord, Device, DeviceId, EventBatch, LogRecord, Topic, UtcNanos,
};
use sotp_ssh::{
    HostKeyAlarm, HostKeyChange, HostKeyRules, Platform, SshAuth, SshConfig, SshRunner, SshTarget,
};
use sotp_textfsm::NtcTemplates;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::{Collector, Context, StartError};

/// The bus's shared store of the last configuration digest stored per device
/// ([`Bus::put_state`]; on Kafka the topic `<prefix>state.ssh.config_digests`).
pub const DIGESTS: &str = "ssh.config_digests";

/// How long the backups of a device new to this collector wait before the shared digests
/// are asked for again, when the bus could not give them.
const DIGESTS_RETRY: Duration = Duration::from_secs(10);

/// The SSH collector, with its settings and where it keeps the configuration digests.
#[derive(Debug)]
pub struct Ssh {
    /// `[ssh]`.
    pub config: SshConfig,
    /// Where `backups.json` goes (`<data_dir>/ssh`); none keeps the digests in memory only.
    pub state_dir: Option<PathBuf>,
}

/// One thing to run on one device.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Job {
    device: DeviceId,
    command: String,
    kind: CommandKind,
}

#[derive(Debug)]
struct Shared {
    /// Where the key of a device without a pinned one comes from.
    host_keys: HostKeyRules,
    runner: SshRunner,
    templates: Option<NtcTemplates>,
    bus: Arc<dyn sotp_bus::Bus>,
    /// Digest of the last configuration published per device.
    digests: Mutex<HashMap<String, String>>,
    state_file: Option<PathBuf>,
}

#[async_trait]
impl Collector for Ssh {
    fn name(&self) -> &'static str {
        "ssh"
    }

    async fn start(
        self: Box<Self>,
        ctx: Context,
        stop: CancellationToken,
    ) -> Result<JoinHandle<()>, StartError> {
        let fail = |e: String| StartError {
            collector: "ssh",
            source: e.into(),
        };
        let templates = if self.config.templates_dir.is_empty() {
            None
        } else {
            Some(
                NtcTemplates::load(std::path::Path::new(&self.config.templates_dir))
                    .map_err(|e| fail(format!("[ssh] templates_dir: {e}")))?,
            )
        };
        let state_file = match &self.state_dir {
            Some(dir) => {
                std::fs::create_dir_all(dir)
                    .map_err(|e| fail(format!("cannot create {}: {e}", dir.display())))?;
                Some(dir.join("backups.json"))
            }
            None => None,
        };
        let digests = state_file
            .as_ref()
            .and_then(|f| std::fs::read(f).ok())
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        let shared = Arc::new(Shared {
            host_keys: self.config.host_key_rules(),
            runner: SshRunner::new(self.config.limits())
                .with_host_key_alarm(host_key_alarm(ctx.bus.clone())),
            templates,
            bus: ctx.bus.clone(),
            digests: Mutex::new(digests),
            state_file,
        });
        Ok(tokio::spawn(run(self.config, shared, ctx, stop)))
    }
}

/// The jobs of `device` with their intervals.
fn jobs_of(config: &SshConfig, device: &Device) -> Vec<(Job, Duration)> {
    let Some(ssh) = &device.ssh else {
        return Vec::new();
    };
    let Some(platform) = Platform::named(&ssh.platform) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for c in config.collect.iter().filter(|c| c.platform == ssh.platform) {
        for command in &c.commands {
            out.push((
                Job {
                    device: device.id.clone(),
                    command: command.clone(),
                    kind: CommandKind::Collect,
                },
                c.interval,
            ));
        }
    }
    if !config.backup_interval.is_zero() {
        out.push((
            Job {
                device: device.id.clone(),
                command: platform.running_config.clone(),
                kind: CommandKind::Config,
            },
            config.backup_interval,
        ));
    }
    out
}

async fn run(config: SshConfig, shared: Arc<Shared>, ctx: Context, stop: CancellationToken) {
    let mut due: HashMap<Job, tokio::time::Instant> = HashMap::new();
    let mut running: tokio::task::JoinSet<()> = tokio::task::JoinSet::new();
    let mut devices = ctx.devices.clone();
    // Devices whose last stored configuration digest this collector knows.
    let mut settled: HashSet<DeviceId> = HashSet::new();
    // Jobs still running: a job is never started again before its last run ended. A
    // backup that started while the previous one was still storing its digest (the
    // first store creates the shared topic, which can outlast a short interval) compared
    // with no digest and stored the same version twice.
    let in_flight: Arc<Mutex<HashSet<Job>>> = Arc::default();
    loop {
        let current: Vec<Device> = devices.borrow().clone();
        if !config.backup_interval.is_zero() {
            settle(&shared, &current, &mut settled).await;
        }
        let now = tokio::time::Instant::now();
        let mut planned: HashMap<Job, Duration> = HashMap::new();
        for d in &current {
            planned.extend(jobs_of(&config, d));
        }
        // Jobs of removed devices or commands go; new ones run at once.
        if planned.len() != due.len() || planned.keys().any(|j| !due.contains_key(j)) {
            tracing::info!(
                devices = current.iter().filter(|d| d.ssh.is_some()).count(),
                jobs = planned.len(),
                "SSH collection planned"
            );
        }
        due.retain(|job, _| planned.contains_key(job));
        for (job, interval) in &planned {
            let at = due.entry(job.clone()).or_insert(now);
            if *at <= now {
                if job.kind == CommandKind::Config && !settled.contains(&job.device) {
                    *at = now + DIGESTS_RETRY;
                    continue;
                }
                *at = now + *interval;
                if !in_flight
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(job.clone())
                {
                    // Counted as the shared scheduler counts the polling collectors' skips.
                    metrics::counter!("sotp_poll_skipped_total", "collector" => "ssh").increment(1);
                    tracing::debug!(device = %job.device, command = %job.command, "previous run still going: this one is skipped");
                    continue;
                }
                let ended = InFlight {
                    jobs: in_flight.clone(),
                    job: job.clone(),
                };
                if let Some(device) = current.iter().find(|d| d.id == job.device) {
                    let (shared, device, job) = (shared.clone(), device.clone(), job.clone());
                    running.spawn(async move {
                        run_job(&shared, &device, &job).await;
                        drop(ended);
                    });
                }
            }
        }
        while running.try_join_next().is_some() {}
        let next = due
            .values()
            .min()
            .copied()
            .unwrap_or(now + Duration::from_secs(60));
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep_until(next) => {}
            _ = devices.changed() => {}
        }
    }
    // Runs in flight finish (each is bounded by the command timeout).
    while running.join_next().await.is_some() {}
}

/// Marks a job ended when its run ends, however it ends.
struct InFlight {
    jobs: Arc<Mutex<HashSet<Job>>>,
    job: Job,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.jobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.job);
    }
}

/// Takes the shared digests of the devices new to this collector (all of them at start;
/// on Kafka those of an `inventory` partition that came from another collector), so their
/// next version is compared with the last one stored by whichever collector had them.
/// Devices that left are forgotten here: if they come back, their digest may have moved
/// on meanwhile. When the bus cannot answer, the new devices stay unsettled and their
/// backups wait ([`DIGESTS_RETRY`]).
async fn settle(shared: &Shared, current: &[Device], settled: &mut HashSet<DeviceId>) {
    // A set of the current ids: a thousand devices compared pairwise on every wake-up of
    // the scheduler would be a million comparisons.
    let present: HashSet<&DeviceId> = current.iter().map(|d| &d.id).collect();
    settled.retain(|id| present.contains(id));
    let gained: Vec<&DeviceId> = current
        .iter()
        .filter(|d| d.ssh.is_some() && !settled.contains(&d.id))
        .map(|d| &d.id)
        .collect();
    if gained.is_empty() {
        return;
    }
    match shared.bus.load_state(DIGESTS).await {
        Ok(loaded) => {
            let mut digests = shared.digests.lock().unwrap_or_else(|e| e.into_inner());
            let mut taken = 0;
            for id in gained {
                if let Some(digest) = loaded.get(id.as_str()) {
                    digests.insert(id.as_str().to_owned(), digest.clone());
                    taken += 1;
                }
                settled.insert(id.clone());
            }
            if taken > 0 {
                tracing::info!(
                    devices = taken,
                    "configuration digests taken over from the shared store"
                );
            }
        }
        Err(e) => tracing::warn!(
            error = %e,
            devices = gained.len(),
            "cannot read the configuration digests shared by the collectors; the backups of devices new to this collector wait"
        ),
    }
}

async fn run_job(shared: &Shared, device: &Device, job: &Job) {
    let Some(record) = execute(shared, device, job).await else {
        return;
    };
    if let Some(e) = &record.error {
        tracing::warn!(device = %device.name, command = %job.command, error = %e, "SSH command failed");
    }
    let change =
        (job.kind == CommandKind::Config && record.ok).then(|| config_change(device, &record));
    let mut published = Vec::new();
    if job.kind == CommandKind::Collect || !record.ok || record.previous_hash != record.config_hash
    {
        published.push(
            shared
                .bus
                .publish(Topic::Commands, EventBatch::Commands(vec![record.clone()]))
                .await,
        );
    }
    if let Some(Some(log)) = change {
        published.push(
            shared
                .bus
                .publish(Topic::Logs, EventBatch::Logs(vec![log]))
                .await,
        );
        // The digest is kept once the version is on the bus, here and in the shared
        // store: a failed publish or store is collected and published again next time
        // (a version stored twice rather than a change lost).
        let digest = record.config_hash.clone().unwrap_or_default();
        if published.iter().all(Result::is_ok) {
            match shared
                .bus
                .put_state(DIGESTS, device.id.as_str(), &digest)
                .await
            {
                Ok(()) => remember(shared, device, digest),
                Err(e) => {
                    tracing::error!(device = %device.name, error = %e, "cannot share the configuration digest; the configuration is published again next time")
                }
            }
        }
    }
    for r in published {
        if let Err(e) = r {
            tracing::error!(device = %device.name, command = %job.command, error = %e, "cannot publish an SSH command's result");
        }
    }
}

/// The command run as a record, or none when the device cannot be reached this way at all
/// (logged).
async fn execute(shared: &Shared, device: &Device, job: &Job) -> Option<CommandRecord> {
    let ssh = device.ssh.as_ref()?;
    let platform = Platform::named(&ssh.platform)?;
    let started = UtcNanos::now();
    let mut record = CommandRecord {
        time: started,
        device_id: device.id.clone(),
        device: device.name.to_string(),
        platform: ssh.platform.clone(),
        command: job.command.clone(),
        kind: job.kind,
        ok: false,
        error: None,
        output: String::new(),
        parsed: None,
        template: None,
        duration_ms: 0,
        config_hash: None,
        previous_hash: None,
    };
    let command = match platform.check(&job.command) {
        Ok(c) => c,
        Err(e) => {
            record.error = Some(e.to_string());
            return Some(record);
        }
    };
    // Never trust on first use here: an unattended poller would accept whatever answers.
    let Some(host_key) = shared.host_keys.policy(ssh.host_key.as_deref(), false) else {
        record.error = Some(
            "no pinned ssh.host_key and no [ssh] known_hosts: scheduled commands need one (set it, list the device in known_hosts, or run a command through the API with [ssh] trust_on_first_use)".into(),
        );
        return Some(record);
    };
    let auth = match (&ssh.key, &ssh.password) {
        (Some(k), _) if k.expose().is_ok() => SshAuth::Key {
            pem: k.expose().unwrap_or_default().to_owned(),
            passphrase: None,
        },
        (_, Some(p)) if p.expose().is_ok() => {
            SshAuth::Password(p.expose().unwrap_or_default().to_owned())
        }
        _ => {
            record.error = Some(
                "no usable ssh.key or ssh.password (missing, or sealed under another master key)"
                    .into(),
            );
            return Some(record);
        }
    };
    let target = SshTarget {
        device: device.id.as_str().to_owned(),
        address: device.address,
        port: ssh.port,
        user: ssh.user.clone(),
        auth,
        host_key,
        platform,
        legacy_algorithms: ssh.legacy_algorithms,
    };
    match shared.runner.run(&target, &command).await {
        Ok(out) => {
            record.ok = true;
            record.duration_ms = u64::try_from(out.duration.as_millis()).unwrap_or(u64::MAX);
            match job.kind {
                CommandKind::Collect => {
                    let parsed = shared.templates.as_ref().and_then(|lib| {
                        sotp_textfsm::parse_if_templated(
                            lib,
                            &platform.templates,
                            command.as_str(),
                            &out.output,
                        )
                    });
                    if let Some((template, table)) = parsed {
                        record.template = Some(template);
                        match table {
                            Ok(t) => record.parsed = serde_json::to_string(&t.ordered_json()).ok(),
                            Err(e) => record.error = Some(format!("template: {e}")),
                        }
                    }
                    record.output = out.output;
                }
                CommandKind::Config => {
                    let masked = sotp_ssh::mask_secrets(&out.output);
                    let digest = sotp_ssh::config_hash(&masked);
                    record.previous_hash = shared
                        .digests
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .get(device.id.as_str())
                        .cloned();
                    record.config_hash = Some(digest);
                    record.output = masked;
                }
            }
        }
        Err(e) => {
            record.error = Some(e.to_string());
        }
    }
    metrics::counter!("sotp_ssh_commands_total", "kind" => job.kind.as_str(), "ok" => if record.ok { "true" } else { "false" }).increment(1);
    Some(record)
}

/// The `logs` record of a stored configuration version: `CONFIG_CHANGED` when it replaced
/// a known one, `CONFIG_BASELINE` (informational) when none was stored before (a new
/// device; on Kafka one whose partition came from another collector knows that
/// collector's digest, [`settle`]): a first version is not a change to alert on. None
/// when it did not change.
fn config_change(device: &Device, record: &CommandRecord) -> Option<LogRecord> {
    if record.previous_hash == record.config_hash {
        return None;
    }
    let short = |h: &str| h[..h.len().min(12)].to_owned();
    let new = short(record.config_hash.as_deref().unwrap_or_default());
    let bytes = record.output.len();
    let (kind, message) = match record.previous_hash.as_deref() {
        Some(old) => (
            (5, "CONFIG_CHANGED"),
            format!(
                "configuration of {} changed: {} -> {new} ({bytes} bytes, secrets masked)",
                device.name,
                short(old)
            ),
        ),
        None => (
            (6, "CONFIG_BASELINE"),
            format!(
                "configuration of {} recorded: {new} ({bytes} bytes, secrets masked); no earlier version known to this collector",
                device.name
            ),
        ),
    };
    Some(event(
        record.time,
        &device.id,
        Some(device.name.to_string()),
        device.address,
        kind,
        message,
    ))
}

/// An event of SOTP's own about a device, as a `logs` record (facility local7,
/// application `sotp`, `msgid` and mnemonic `SOTP-<severity>-<msgid>`), so the log
/// pattern alert rules and the `logs` table see it like a device's message.
fn event(
    time: UtcNanos,
    device_id: &DeviceId,
    hostname: Option<String>,
    address: std::net::IpAddr,
    (severity, msgid): (u8, &str),
    message: String,
) -> LogRecord {
    LogRecord {
        received_at: time,
        time: Some(time),
        source_address: address.to_string(),
        device_id: Some(device_id.clone()),
        hostname,
        facility: Some(23),
        severity: Some(severity),
        app_name: Some("sotp".into()),
        procid: None,
        msgid: Some(msgid.into()),
        structured_data: Default::default(),
        vendor_mnemonic: Some(format!("SOTP-{severity}-{msgid}")),
        raw: message.clone().into_bytes(),
        message,
        parse_error: false,
    }
}

/// The alarm a runner calls when a device presents another host key than the pinned
/// one: a `HOST_KEY_CHANGED` record (severity 2, critical: possibly a man in the middle)
/// published on `logs`, for the collector's runner and the API's alike.
pub fn host_key_alarm(bus: Arc<dyn Bus>) -> HostKeyAlarm {
    Arc::new(move |change: &HostKeyChange| {
        let message = format!(
            "SSH host key of {} ({}) changed: it presented {} but {}; nothing was sent",
            change.device, change.address, change.actual, change.expected
        );
        let record = event(
            UtcNanos::now(),
            &DeviceId::new(&change.device),
            None,
            change.address,
            (2, "HOST_KEY_CHANGED"),
            message,
        );
        let bus = bus.clone();
        tokio::spawn(async move {
            if let Err(e) = bus
                .publish(Topic::Logs, EventBatch::Logs(vec![record]))
                .await
            {
                tracing::error!(error = %e, "cannot publish a changed SSH host key on logs");
            }
        });
    })
}

fn remember(shared: &Shared, device: &Device, digest: String) {
    let snapshot = {
        let mut d = shared.digests.lock().unwrap_or_else(|e| e.into_inner());
        d.insert(device.id.as_str().to_owned(), digest);
        d.clone()
    };
    if let Some(file) = &shared.state_file {
        let tmp = file.with_extension("json.tmp");
        let written = serde_json::to_vec(&snapshot)
            .map_err(std::io::Error::other)
            .and_then(|b| std::fs::write(&tmp, b))
            .and_then(|()| std::fs::rename(&tmp, file));
        if let Err(e) = written {
            tracing::error!(file = %file.display(), error = %e, "cannot save the configuration digests");
        }
    }
}
