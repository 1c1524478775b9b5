//! The runner: one session per command, within limits on sessions in total and per
//! device, each step under its timeout.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::client::{self, Timeouts};
use crate::{AllowedCommand, SshError, SshTarget};

/// Timeouts and limits of the runner.
#[derive(Clone, Debug)]
pub struct SshLimits {
    /// TCP connection, key exchange and authentication, each.
    pub connect_timeout: Duration,
    /// The command, from sending it to the end of its output.
    pub command_timeout: Duration,
    /// A session with no traffic for this long is closed.
    pub idle_timeout: Duration,
    /// Sessions open at once, in total.
    pub max_sessions: usize,
    /// Sessions open at once to one device.
    pub max_sessions_per_device: usize,
    /// How long a command waits for a free session before [`SshError::Busy`].
    pub queue_timeout: Duration,
    /// The largest output kept, in bytes.
    pub max_output_bytes: usize,
}

impl Default for SshLimits {
    fn default() -> Self {
        SshLimits {
            connect_timeout: Duration::from_secs(10),
            command_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(30),
            max_sessions: 100,
            max_sessions_per_device: 2,
            queue_timeout: Duration::from_secs(30),
            max_output_bytes: 16 << 20,
        }
    }
}

/// A command's result.
#[derive(Clone, Debug)]
pub struct CommandOutput {
    /// The output, as text (invalid UTF-8 replaced), line ends as `\n`.
    pub output: String,
    /// The exit status, on an exec channel.
    pub exit_status: Option<u32>,
    /// From the start of the connection to the end of the output.
    pub duration: Duration,
    /// The host key's fingerprint the device presented (to pin after a first use).
    pub host_key: String,
    /// The key was accepted as a first use (trust on first use: neither pinned nor in the
    /// known_hosts file): the caller pins it.
    pub first_use: bool,
}

/// A device presented another host key than the one pinned for it: possibly a
/// man in the middle, or a replaced device. Nothing was sent to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostKeyChange {
    /// The target's device id.
    pub device: String,
    /// The address connected to.
    pub address: std::net::IpAddr,
    /// What was expected ([`SshError::HostKeyChanged`]): `<fingerprint> is pinned`, or
    /// `line N of FILE lists another key`.
    pub expected: String,
    /// The fingerprint presented.
    pub actual: String,
}

/// Told of every [`HostKeyChange`] a runner meets, whoever asked for the command: the
/// SSH collector and the API publish it on `logs`, where alert rules can watch it.
pub type HostKeyAlarm = Arc<dyn Fn(&HostKeyChange) + Send + Sync>;

/// Runs allowed commands on devices.
#[derive(Debug)]
pub struct SshRunner {
    limits: SshLimits,
    total: Arc<Semaphore>,
    per_device: Mutex<HashMap<String, Arc<Semaphore>>>,
    alarm: Alarm,
}

/// The runner's [`HostKeyAlarm`], if any.
#[derive(Default)]
struct Alarm(Option<HostKeyAlarm>);

impl std::fmt::Debug for Alarm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Alarm(set)"
        } else {
            "Alarm(none)"
        })
    }
}

impl SshRunner {
    /// A runner with these limits.
    pub fn new(limits: SshLimits) -> Self {
        SshRunner {
            total: Arc::new(Semaphore::new(limits.max_sessions.max(1))),
            per_device: Mutex::new(HashMap::new()),
            limits,
            alarm: Alarm::default(),
        }
    }

    /// The runner, telling `alarm` of every changed host key it meets.
    pub fn with_host_key_alarm(mut self, alarm: HostKeyAlarm) -> Self {
        self.alarm = Alarm(Some(alarm));
        self
    }

    /// The limits in force.
    pub fn limits(&self) -> &SshLimits {
        &self.limits
    }

    /// Runs `command` (already checked against the target's platform) on the target:
    /// connects, checks the host key, logs in, runs it, disconnects.
    pub async fn run(
        &self,
        target: &SshTarget,
        command: &AllowedCommand,
    ) -> Result<CommandOutput, SshError> {
        let _permits = self.permits(&target.device).await?;
        let started = Instant::now();
        let t = Timeouts {
            connect: self.limits.connect_timeout,
            command: self.limits.command_timeout,
            idle: self.limits.idle_timeout,
        };
        let session = client::open(target, t).await.inspect_err(|e| {
            // Possibly a man in the middle: every caller (API, collector) is told the
            // same way.
            if let SshError::HostKeyChanged { expected, actual } = e {
                metrics::counter!("sotp_ssh_host_key_changed_total").increment(1);
                tracing::warn!(device = %target.device, expected, actual, "SSH host key changed: nothing sent");
                if let Some(alarm) = &self.alarm.0 {
                    alarm(&HostKeyChange {
                        device: target.device.clone(),
                        address: target.address,
                        expected: expected.clone(),
                        actual: actual.clone(),
                    });
                }
            }
        })?;
        let (host_key, first_use) = (session.host_key.clone(), session.first_use);
        let result = session
            .run(target.platform, command, t, self.limits.max_output_bytes)
            .await;
        session.close().await;
        let raw = result?;
        let output = String::from_utf8(raw.bytes)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
            .replace("\r\n", "\n");
        Ok(CommandOutput {
            output,
            exit_status: raw.exit_status,
            duration: started.elapsed(),
            host_key,
            first_use,
        })
    }

    async fn permits(
        &self,
        device: &str,
    ) -> Result<(OwnedSemaphorePermit, OwnedSemaphorePermit), SshError> {
        let device_sem = {
            let mut map = self.per_device.lock().unwrap_or_else(|e| e.into_inner());
            // Forget idle devices' semaphores so the map does not grow with the inventory's
            // history.
            map.retain(|_, s| {
                Arc::strong_count(s) > 1
                    || s.available_permits() < self.limits.max_sessions_per_device
            });
            map.entry(device.to_owned())
                .or_insert_with(|| {
                    Arc::new(Semaphore::new(self.limits.max_sessions_per_device.max(1)))
                })
                .clone()
        };
        let wait = self.limits.queue_timeout;
        let device_permit = tokio::time::timeout(wait, device_sem.acquire_owned())
            .await
            .map_err(|_| SshError::Busy {
                scope: "to this device",
            })?
            .map_err(|_| SshError::Busy {
                scope: "to this device",
            })?;
        let total_permit = tokio::time::timeout(wait, self.total.clone().acquire_owned())
            .await
            .map_err(|_| SshError::Busy { scope: "in total" })?
            .map_err(|_| SshError::Busy { scope: "in total" })?;
        Ok((device_permit, total_permit))
    }
}

/// Where the host key of a device without a pinned one comes from: `[ssh] known_hosts`
/// and `[ssh] trust_on_first_use`, shared by the API and the collector.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostKeyRules {
    /// An OpenSSH known_hosts file.
    pub known_hosts: Option<std::path::PathBuf>,
    /// Accept (and pin) the key of a device neither pinned nor listed.
    pub trust_on_first_use: bool,
}

impl HostKeyRules {
    /// How to check a device's host key: its pinned key, else the known_hosts file, else
    /// trust on first use when `first_use` is allowed (the API; not the unattended
    /// collector); none: the device cannot be reached safely.
    pub fn policy(&self, pinned: Option<&str>, first_use: bool) -> Option<crate::HostKeyPolicy> {
        let tofu = first_use && self.trust_on_first_use;
        match (pinned, &self.known_hosts) {
            (Some(k), _) => Some(crate::HostKeyPolicy::Pinned(k.to_owned())),
            (None, Some(path)) => Some(crate::HostKeyPolicy::KnownHosts {
                path: path.clone(),
                trust_on_first_use: tofu,
            }),
            (None, None) if tofu => Some(crate::HostKeyPolicy::TrustOnFirstUse),
            (None, None) => None,
        }
    }
}

/// `[ssh]`: read-only commands on devices.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SshConfig {
    /// A TextFSM templates folder with an ntc-templates `index` (e.g. the PyPI package's
    /// `ntc_templates/templates`): command outputs are parsed into rows with it. `""`:
    /// outputs are returned unparsed.
    pub templates_dir: String,
    /// Commands one user may run per minute through the API (`POST
    /// /api/v1/devices/{id}/execute`); more get 429.
    pub commands_per_minute: u32,
    /// Accept the host key a device presents when none is pinned, and pin it (stored as
    /// the device's `ssh.host_key`). Off: a device without a pinned key is refused.
    pub trust_on_first_use: bool,
    /// An OpenSSH `known_hosts` file: a device without a pinned `ssh.host_key` must
    /// present the key it lists for its address (`[addr]:port` off port 22; hashed
    /// entries too). `""`: none.
    pub known_hosts: String,
    /// TCP connection, key exchange and authentication, each.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// A command, from sending it to the end of its output.
    #[serde(with = "humantime_serde")]
    pub command_timeout: Duration,
    /// A session without traffic for this long is closed.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// Sessions open at once, in total.
    pub max_sessions: usize,
    /// Sessions open at once to one device.
    pub max_sessions_per_device: usize,
    /// How long a command waits for a free session before it is refused as busy.
    #[serde(with = "humantime_serde")]
    pub queue_timeout: Duration,
    /// The largest output kept, in bytes; a longer one fails the command.
    pub max_output_bytes: usize,
    /// How often the running configuration of every device with SSH settings is
    /// collected; a version is stored when it changed. `0s`: no backups.
    #[serde(with = "humantime_serde")]
    pub backup_interval: Duration,
    /// `[[ssh.collect]]`: commands run on a schedule on the devices of a platform.
    pub collect: Vec<CollectConfig>,
}

/// `[[ssh.collect]]`: commands run on every device of a platform at an interval; each
/// result goes to the `commands` topic and the `command_outputs` table.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectConfig {
    /// The platform whose devices run them (`cisco_ios`, ...).
    pub platform: String,
    /// The commands: each must be allowed on the platform.
    pub commands: Vec<String>,
    /// Time between two runs on one device.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
}

impl Default for SshConfig {
    fn default() -> Self {
        let l = SshLimits::default();
        SshConfig {
            templates_dir: String::new(),
            commands_per_minute: 10,
            trust_on_first_use: false,
            known_hosts: String::new(),
            connect_timeout: l.connect_timeout,
            command_timeout: l.command_timeout,
            idle_timeout: l.idle_timeout,
            max_sessions: l.max_sessions,
            max_sessions_per_device: l.max_sessions_per_device,
            queue_timeout: l.queue_timeout,
            max_output_bytes: l.max_output_bytes,
            backup_interval: Duration::from_secs(3600),
            collect: Vec::new(),
        }
    }
}

impl SshConfig {
    /// Where the host key of a device without a pinned one comes from.
    pub fn host_key_rules(&self) -> HostKeyRules {
        HostKeyRules {
            known_hosts: (!self.known_hosts.is_empty())
                .then(|| std::path::PathBuf::from(&self.known_hosts)),
            trust_on_first_use: self.trust_on_first_use,
        }
    }

    /// Every problem of the settings, as (field, reason): `[[ssh.collect]]` entries name a
    /// known platform, commands allowed on it, and an interval.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if !self.known_hosts.is_empty()
            && let Err(e) = std::fs::File::open(&self.known_hosts)
        {
            out.push((
                "ssh.known_hosts".into(),
                format!("cannot read {}: {e}", self.known_hosts),
            ));
        }
        for (i, c) in self.collect.iter().enumerate() {
            let at = format!("ssh.collect[{i}]");
            let Some(platform) = crate::Platform::named(&c.platform) else {
                out.push((
                    format!("{at}.platform"),
                    format!(
                        "`{}` is not a known platform: one of {}",
                        c.platform,
                        crate::Platform::names().join(", ")
                    ),
                ));
                continue;
            };
            if c.commands.is_empty() {
                out.push((
                    format!("{at}.commands"),
                    "must name at least one command".into(),
                ));
            }
            for (j, command) in c.commands.iter().enumerate() {
                if let Err(e) = platform.check(command) {
                    out.push((format!("{at}.commands[{j}]"), e.to_string()));
                }
            }
            if c.interval < Duration::from_secs(1) {
                out.push((format!("{at}.interval"), "must be at least 1s".into()));
            }
        }
        if self.commands_per_minute == 0 {
            out.push((
                "ssh.commands_per_minute".into(),
                "must be at least 1".into(),
            ));
        }
        if self.max_sessions == 0 || self.max_sessions_per_device == 0 {
            out.push((
                "ssh.max_sessions".into(),
                "sessions limits must be at least 1".into(),
            ));
        }
        out
    }

    /// The runner's limits.
    pub fn limits(&self) -> SshLimits {
        SshLimits {
            connect_timeout: self.connect_timeout,
            command_timeout: self.command_timeout,
            idle_timeout: self.idle_timeout,
            max_sessions: self.max_sessions,
            max_sessions_per_device: self.max_sessions_per_device,
            queue_timeout: self.queue_timeout,
            max_output_bytes: self.max_output_bytes,
        }
    }
}

#[cfg(test)]
mod tests;
