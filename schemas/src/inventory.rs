//! The `inventory` topic's wire record: one device definition per message, keyed by
//! device id. A message with no value (a tombstone) deletes the device; the topic is
//! compacted, so it always holds the latest definition of every device.
//!
//! Secrets never travel in plain text: an SNMP community or v3 key is on the wire sealed
//! (`enc:v1:...`, XChaCha20-Poly1305 under the control plane's master key, bound to the
//! device id and field name, exactly as stored in the inventory database) or not at all.
//! Collectors open sealed values with the same master key ([`Device::open_secrets`]) and
//! refuse a record holding anything else ([`DeviceRecord::unsealed_secrets`]): a topic
//! anyone with produce rights can write must not decide what a collector sends.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{
    AuthProtocol, Device, DeviceId, PollSettings, PrivProtocol, SchemaError, Secret, SecretCodec,
    SnmpTarget, SnmpVersion, SshAccess, UsmSettings,
};

/// ICMP polling settings on the wire.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PollRecord {
    /// The collector polls this device.
    pub enabled: bool,
    /// Interval override in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_ms: Option<u64>,
}

/// SNMP settings on the wire. Secret fields hold a sealed value, never a plain secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnmpRecord {
    /// `1`, `2c` or `3`.
    pub version: SnmpVersion,
    /// UDP port of the agent.
    pub port: u16,
    /// Community (v1, v2c), sealed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub community: Option<String>,
    /// USM user (v3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// `MD5`, `SHA`, `SHA-224`, `SHA-256`, `SHA-384` or `SHA-512`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_protocol: Option<AuthProtocol>,
    /// Authentication key, sealed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_key: Option<String>,
    /// `DES`, `AES`, `AES-192` or `AES-256`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priv_protocol: Option<PrivProtocol>,
    /// Privacy key, sealed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priv_key: Option<String>,
    /// Context name (v3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// Interval override in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_ms: Option<u64>,
}

/// SSH access on the wire. Secret fields hold a sealed value, never a plain secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SshRecord {
    /// TCP port.
    pub port: u16,
    /// Login user.
    pub user: String,
    /// Private key, sealed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Password, sealed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// The platform.
    pub platform: String,
    /// The pinned host key fingerprint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_key: Option<String>,
    /// Legacy algorithms offered.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub legacy_algorithms: bool,
}

/// One device definition as published on `inventory` (JSON, wire version 5,
/// `schemas/json/device_record.schema.json`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceRecord {
    /// Stable id (also the Kafka key).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Management address.
    pub address: IpAddr,
    /// Free-form tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// ICMP polling.
    pub icmp: PollRecord,
    /// SNMP polling; absent when the device is not polled over SNMP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snmp: Option<SnmpRecord>,
    /// SSH access; absent when the device has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh: Option<SshRecord>,
}

/// One change on `inventory`: a device defined (or redefined), or deleted (`device` is
/// none: a tombstone on Kafka).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InventoryChange {
    /// The device id (the Kafka key).
    pub id: String,
    /// The new definition; none when the device is deleted or no longer monitored.
    pub device: Option<DeviceRecord>,
}

/// The secret's text for the wire: a sealed value. A plain value is never put on the
/// wire (seal it first with [`Device::seal_secrets`]).
fn wire_secret(s: &Secret) -> Option<String> {
    s.is_sealed().then(|| s.configured().to_string())
}

impl From<&SnmpTarget> for SnmpRecord {
    fn from(t: &SnmpTarget) -> Self {
        let usm = t.usm.as_ref();
        Self {
            version: t.version,
            port: t.port,
            community: (t.version != SnmpVersion::V3)
                .then(|| wire_secret(&t.community))
                .flatten(),
            user: usm.map(|u| u.user.clone()),
            auth_protocol: usm.and_then(|u| u.auth.as_ref().map(|a| a.0)),
            auth_key: usm.and_then(|u| u.auth.as_ref().and_then(|a| wire_secret(&a.1))),
            priv_protocol: usm.and_then(|u| u.privacy.as_ref().map(|p| p.0)),
            priv_key: usm.and_then(|u| u.privacy.as_ref().and_then(|p| wire_secret(&p.1))),
            context: usm.map(|u| u.context.clone()).filter(|c| !c.is_empty()),
            interval_ms: t.interval.map(|i| i.as_millis() as u64),
        }
    }
}

impl From<SnmpRecord> for SnmpTarget {
    fn from(r: SnmpRecord) -> Self {
        let version = r.version;
        let usm = (version == SnmpVersion::V3).then(|| UsmSettings {
            user: r.user.clone().unwrap_or_default(),
            auth: r.auth_protocol.zip(r.auth_key.clone().map(Secret::new)),
            privacy: r.priv_protocol.zip(r.priv_key.clone().map(Secret::new)),
            context: r.context.clone().unwrap_or_default(),
        });
        SnmpTarget {
            version,
            port: r.port,
            community: Secret::new(r.community.unwrap_or_default()),
            usm,
            interval: r.interval_ms.map(Duration::from_millis),
        }
    }
}

impl From<&Device> for DeviceRecord {
    /// The wire form. Literal secrets are left out: seal them first
    /// ([`Device::seal_secrets`]).
    fn from(d: &Device) -> Self {
        Self {
            id: d.id.as_str().to_string(),
            name: d.name.to_string(),
            address: d.address,
            tags: d.tags.clone(),
            icmp: PollRecord {
                enabled: d.icmp.enabled,
                interval_ms: d.icmp.interval.map(|i| i.as_millis() as u64),
            },
            snmp: d.snmp.as_ref().map(SnmpRecord::from),
            ssh: d.ssh.as_ref().map(|a| SshRecord {
                port: a.port,
                user: a.user.clone(),
                key: a.key.as_ref().and_then(wire_secret),
                password: a.password.as_ref().and_then(wire_secret),
                platform: a.platform.clone(),
                host_key: a.host_key.clone(),
                legacy_algorithms: a.legacy_algorithms,
            }),
        }
    }
}

impl From<DeviceRecord> for Device {
    /// The collector's view; sealed secrets stay sealed until
    /// [`Device::open_secrets`].
    fn from(r: DeviceRecord) -> Self {
        Device {
            id: DeviceId::new(&r.id),
            name: Arc::from(r.name.as_str()),
            address: r.address,
            tags: r.tags,
            icmp: PollSettings {
                enabled: r.icmp.enabled,
                interval: r.icmp.interval_ms.map(Duration::from_millis),
            },
            snmp: r.snmp.map(SnmpTarget::from),
            ssh: r.ssh.map(|a| SshAccess {
                port: a.port,
                user: a.user,
                key: a.key.map(Secret::new),
                password: a.password.map(Secret::new),
                platform: a.platform,
                host_key: a.host_key,
                legacy_algorithms: a.legacy_algorithms,
            }),
        }
    }
}

impl Device {
    /// Seals every literal secret under `codec` (bound to this device's id), so that the
    /// device can go on the wire.
    pub fn seal_secrets(&mut self, codec: &dyn SecretCodec) -> Result<(), String> {
        let id = self.id.as_str().to_string();
        if let Some(t) = &mut self.snmp {
            t.seal_secrets(&id, codec)?;
        }
        if let Some(a) = &mut self.ssh {
            a.seal_secrets(&id, codec)?;
        }
        Ok(())
    }

    /// Opens every sealed secret with `codec`; returns the names of those that did not
    /// open (wrong master key): they stay sealed and polls needing them fail with a clear
    /// error, for this device only.
    pub fn open_secrets(&mut self, codec: &dyn SecretCodec) -> Vec<&'static str> {
        let id = self.id.as_str().to_string();
        let mut failed = match &mut self.snmp {
            Some(t) => t.open_secrets(&id, codec),
            None => Vec::new(),
        };
        if let Some(a) = &mut self.ssh {
            failed.extend(a.open_secrets(&id, codec));
        }
        failed
    }
}

impl DeviceRecord {
    /// The secret fields (`snmp.community`, `snmp.auth_key`, `snmp.priv_key`, `ssh.key`,
    /// `ssh.password`) holding
    /// anything but a sealed value. SOTP only ever writes sealed secrets here, so readers
    /// refuse a record naming any.
    pub fn unsealed_secrets(&self) -> Vec<&'static str> {
        let none = None;
        let (community, auth_key, priv_key) = match &self.snmp {
            Some(s) => (&s.community, &s.auth_key, &s.priv_key),
            None => (&none, &none, &none),
        };
        let (key, password) = match &self.ssh {
            Some(a) => (&a.key, &a.password),
            None => (&none, &none),
        };
        [
            ("snmp.community", community),
            ("snmp.auth_key", auth_key),
            ("snmp.priv_key", priv_key),
            ("ssh.key", key),
            ("ssh.password", password),
        ]
        .into_iter()
        .filter(|(_, v)| v.as_deref().is_some_and(|v| !Secret::new(v).is_sealed()))
        .map(|(n, _)| n)
        .collect()
    }

    /// The JSON message.
    pub fn to_json(&self) -> Result<Vec<u8>, SchemaError> {
        Ok(serde_json::to_vec(self)?)
    }

    /// Reads a JSON message.
    pub fn from_json(bytes: &[u8]) -> Result<Self, SchemaError> {
        Ok(serde_json::from_slice(bytes)?)
    }
}

#[cfg(test)]
mod tests;
