//! A monitored device as the collectors see it.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::{DeviceId, Secret, SecretCodec, SnmpTarget};

/// Whether and how often one collector polls one device.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PollSettings {
    /// The collector polls this device.
    pub enabled: bool,
    /// Overrides the collector's interval for this device.
    pub interval: Option<Duration>,
}

/// One device to monitor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    /// Stable id (the key of its events).
    pub id: DeviceId,
    /// Display name.
    pub name: Arc<str>,
    /// Management address (IPv4 or IPv6).
    pub address: IpAddr,
    /// Free-form tags.
    pub tags: Vec<String>,
    /// ICMP polling of this device.
    pub icmp: PollSettings,
    /// SNMP polling of this device, when configured.
    pub snmp: Option<SnmpTarget>,
    /// SSH access (scheduled commands, configuration backups), when configured.
    pub ssh: Option<SshAccess>,
}

/// How to reach a device over SSH. The secrets are sealed on the wire and opened by the
/// collector ([`Device::open_secrets`](crate::Device::open_secrets)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SshAccess {
    /// TCP port.
    pub port: u16,
    /// Login user.
    pub user: String,
    /// Private key (PEM text).
    pub key: Option<Secret>,
    /// Password.
    pub password: Option<Secret>,
    /// The platform (`cisco_ios`, ...): prompts, paging and the allowed commands.
    pub platform: String,
    /// The pinned host key fingerprint (`SHA256:...`); none: not pinned.
    pub host_key: Option<String>,
    /// Legacy key exchanges, ciphers and MACs offered.
    pub legacy_algorithms: bool,
}

impl SshAccess {
    fn secrets_mut(&mut self) -> Vec<(&'static str, &mut Secret)> {
        let mut out = Vec::new();
        if let Some(k) = &mut self.key {
            out.push(("ssh.key", k));
        }
        if let Some(p) = &mut self.password {
            out.push(("ssh.password", p));
        }
        out
    }

    /// Seals every literal secret under `codec`, bound to the device `owner`.
    pub fn seal_secrets(&mut self, owner: &str, codec: &dyn SecretCodec) -> Result<(), String> {
        for (name, s) in self.secrets_mut() {
            if s.is_literal() && !s.configured().is_empty() {
                *s = Secret::new(codec.seal(owner, name, s.configured())?);
            }
        }
        Ok(())
    }

    /// Opens every sealed secret; returns the names of those that did not open.
    pub fn open_secrets(&mut self, owner: &str, codec: &dyn SecretCodec) -> Vec<&'static str> {
        let mut failed = Vec::new();
        for (name, s) in self.secrets_mut() {
            if s.is_sealed() {
                match codec.open(owner, name, s.configured()) {
                    Ok(plain) => *s = Secret::new(plain),
                    Err(_) => failed.push(name),
                }
            }
        }
        failed
    }
}
