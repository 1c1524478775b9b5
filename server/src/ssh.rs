//! What `POST /api/v1/devices/{id}/execute` needs beside the control plane: the SSH
//! runner with its limits, the TextFSM templates, and the per-user command rate.

use std::num::NonZeroU32;
use std::path::Path;
use std::sync::Arc;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use sotp_ssh::{HostKeyAlarm, HostKeyRules, SshConfig, SshRunner};
use sotp_textfsm::NtcTemplates;

/// The SSH side of the API.
#[derive(Debug)]
pub struct SshService {
    /// Runs the commands.
    pub runner: SshRunner,
    /// Parses outputs; `None` when `[ssh] templates_dir` is empty.
    pub templates: Option<NtcTemplates>,
    /// Where the key of a device without a pinned one comes from (known_hosts, trust on
    /// first use).
    pub host_keys: HostKeyRules,
    /// Commands per user per minute.
    limiter: DefaultKeyedRateLimiter<String>,
    per_minute: u32,
}

impl SshService {
    /// The service as configured, telling `alarm` of every changed host key a command
    /// meets; fails when the templates folder has no readable index.
    pub fn new(config: &SshConfig, alarm: Option<HostKeyAlarm>) -> Result<Arc<Self>, String> {
        let templates = if config.templates_dir.is_empty() {
            None
        } else {
            let dir = Path::new(&config.templates_dir);
            Some(
                NtcTemplates::load(dir)
                    .map_err(|e| format!("[ssh] templates_dir {}: {e}", config.templates_dir))?,
            )
        };
        let per_minute = config.commands_per_minute.max(1);
        let quota = Quota::per_minute(NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN));
        let runner = SshRunner::new(config.limits());
        Ok(Arc::new(SshService {
            runner: match alarm {
                Some(alarm) => runner.with_host_key_alarm(alarm),
                None => runner,
            },
            templates,
            host_keys: config.host_key_rules(),
            limiter: RateLimiter::keyed(quota),
            per_minute,
        }))
    }

    /// Commands per user per minute.
    pub fn per_minute(&self) -> u32 {
        self.per_minute
    }

    /// Counts one command of `actor` against the per-minute rate: `Err(seconds to wait)`
    /// when over it.
    pub fn take(&self, actor: &str) -> Result<(), u64> {
        self.limiter
            .check_key(&actor.to_owned())
            .map_err(|_| u64::from(60 / self.per_minute).max(1))
    }
}

impl Default for SshService {
    fn default() -> Self {
        let config = SshConfig::default();
        let per_minute = config.commands_per_minute.max(1);
        SshService {
            runner: SshRunner::new(config.limits()),
            templates: None,
            host_keys: HostKeyRules::default(),
            limiter: RateLimiter::keyed(Quota::per_minute(
                NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN),
            )),
            per_minute,
        }
    }
}
