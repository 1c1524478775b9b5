//! Configuration of the SNMP collector (`[snmp]`).

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// `[snmp]`: SNMP polling.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SnmpConfig {
    /// Poll devices that have `snmp` settings at all.
    pub enabled: bool,
    /// Time between two counter polls of one device, for example "30s".
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// Time between two metadata polls (names, speeds, alias, sysObjectID).
    #[serde(with = "humantime_serde")]
    pub metadata_interval: Duration,
    /// Wait for each reply, for example "2s".
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Attempts after the first one when a reply does not come.
    pub retries: u32,
    /// Longest time one poll of one device may take; what it read by then is kept and
    /// the poll marked partial. Unset: the device's polling interval.
    #[serde(with = "humantime_serde", skip_serializing_if = "Option::is_none")]
    pub poll_timeout: Option<Duration>,
    /// Starting max-repetitions of GETBULK; it adapts per device.
    pub max_repetitions: u32,
    /// Most varbinds asked for in one request (columns x max-repetitions).
    pub max_varbinds: u32,
    /// Most rows one table column may have before the walk is abandoned.
    pub max_rows: usize,
    /// Polls that may run at once.
    pub concurrency: usize,
    /// A directory of extra vendor profiles (`*.toml`); "" for the built-in ones only.
    pub profiles_dir: PathBuf,
}

impl Default for SnmpConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            interval: Duration::from_secs(30),
            metadata_interval: Duration::from_secs(600),
            timeout: Duration::from_secs(2),
            retries: 2,
            poll_timeout: None,
            max_repetitions: 25,
            max_varbinds: 250,
            max_rows: 100_000,
            concurrency: 500,
            profiles_dir: PathBuf::new(),
        }
    }
}

impl SnmpConfig {
    /// Every problem with the values, as (field, reason) pairs.
    pub fn validate(&self) -> Vec<(&'static str, String)> {
        let mut errors = Vec::new();
        if self.interval.is_zero() {
            errors.push(("snmp.interval", "must be greater than 0".to_string()));
        }
        if self.metadata_interval < self.interval {
            errors.push((
                "snmp.metadata_interval",
                "must be at least the interval".to_string(),
            ));
        }
        if self.timeout.is_zero() {
            errors.push(("snmp.timeout", "must be greater than 0".to_string()));
        }
        if self.poll_timeout.is_some_and(|p| p < self.timeout) {
            errors.push((
                "snmp.poll_timeout",
                "must be at least the timeout of one request".to_string(),
            ));
        }
        if self.retries > 10 {
            errors.push((
                "snmp.retries",
                format!("must be at most 10, got {}", self.retries),
            ));
        }
        if self.max_repetitions == 0 || self.max_varbinds == 0 {
            errors.push((
                "snmp.max_repetitions",
                "max_repetitions and max_varbinds must be at least 1".to_string(),
            ));
        }
        if self.max_rows == 0 {
            errors.push(("snmp.max_rows", "must be at least 1".to_string()));
        }
        if self.concurrency == 0 {
            errors.push(("snmp.concurrency", "must be at least 1".to_string()));
        }
        if !self.profiles_dir.as_os_str().is_empty() && !self.profiles_dir.is_dir() {
            errors.push((
                "snmp.profiles_dir",
                format!("`{}` is not a directory", self.profiles_dir.display()),
            ));
        }
        errors
    }
}
