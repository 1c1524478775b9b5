//! Device types as the API accepts them (with secrets) and returns them (without).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

fn yes() -> bool {
    true
}

use sotp_schemas::SnmpSettings;

/// SSH settings as sent by a client.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SshInput {
    /// TCP port (default 22).
    #[serde(default)]
    pub port: Option<i64>,
    /// Login user.
    pub user: String,
    /// Private key in OpenSSH format (secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Password (secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// The device's platform for commands (`cisco_ios`, `cisco_nxos`, `cisco_xr`,
    /// `arista_eos`, `juniper_junos`, `huawei_vrp`, `linux`): its prompts, paging, and the
    /// read-only commands allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    /// The pinned host key: its SHA-256 fingerprint as `ssh-keygen -l` prints it
    /// (`SHA256:...`). A device presenting another key is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_key: Option<String>,
    /// Also offer the SHA-1 key exchanges, CBC ciphers and SHA-1 MACs old devices need.
    #[serde(default)]
    pub legacy_algorithms: bool,
}

/// Whether and how often one collector polls the device.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CollectorSettings {
    /// Poll with this collector.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Overrides the collector's interval, e.g. `30s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
}

/// A device as created or replaced through the API.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceInput {
    /// Display name.
    pub name: String,
    /// IPv4 or IPv6 management address, unique among live devices.
    pub address: String,
    /// Kind of device: router, switch, firewall...
    #[serde(default, rename = "type")]
    pub device_type: String,
    /// Vendor.
    #[serde(default)]
    pub vendor: String,
    /// Model.
    #[serde(default)]
    pub model: String,
    /// Site, rack...
    #[serde(default)]
    pub location: String,
    /// Free-form tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// SNMP settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snmp: Option<SnmpSettings>,
    /// SSH settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh: Option<SshInput>,
    /// Per-collector settings keyed by collector (`icmp`, `snmp`, `ssh`).
    #[serde(default)]
    pub collectors: BTreeMap<String, CollectorSettings>,
    /// Monitored at all.
    #[serde(default = "yes")]
    pub active: bool,
}

/// SNMP settings as returned: secrets only say whether they are set.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SnmpView {
    /// `1`, `2c` or `3`.
    pub version: String,
    /// UDP port.
    pub port: i64,
    /// v3 user.
    pub user: Option<String>,
    /// v3 authentication protocol.
    pub auth_protocol: Option<String>,
    /// v3 privacy protocol.
    pub priv_protocol: Option<String>,
    /// v3 context name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// Interval override, e.g. `30s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    /// A community is stored.
    pub community_set: bool,
    /// An authentication key is stored.
    pub auth_key_set: bool,
    /// A privacy key is stored.
    pub priv_key_set: bool,
}

/// SSH settings as returned.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SshView {
    /// TCP port.
    pub port: i64,
    /// Login user.
    pub user: String,
    /// A private key is stored.
    pub key_set: bool,
    /// A password is stored.
    pub password_set: bool,
    /// The platform for commands.
    #[serde(default)]
    pub platform: Option<String>,
    /// The pinned host key fingerprint.
    #[serde(default)]
    pub host_key: Option<String>,
    /// Legacy algorithms offered.
    #[serde(default)]
    pub legacy_algorithms: bool,
}

/// Who owns a device's definition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ManagedBy {
    /// Created through the API; the API may change it.
    Api,
    /// Imported from the configuration file; change it there.
    Config,
}

/// A device as stored and returned.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = Device)]
pub struct StoredDevice {
    /// Stable id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Canonical address.
    pub address: String,
    /// Kind of device.
    #[serde(rename = "type")]
    pub device_type: String,
    /// Vendor.
    pub vendor: String,
    /// Model.
    pub model: String,
    /// Location.
    pub location: String,
    /// Tags.
    pub tags: Vec<String>,
    /// SNMP settings without secrets.
    pub snmp: Option<SnmpView>,
    /// SSH settings without secrets.
    pub ssh: Option<SshView>,
    /// Per-collector settings.
    pub collectors: BTreeMap<String, CollectorSettings>,
    /// Monitored at all.
    pub active: bool,
    /// `api` or `config`.
    pub managed_by: ManagedBy,
    /// User who created it (`config` for imported devices).
    pub created_by: String,
    /// Creation time, RFC 3339.
    pub created_at: String,
    /// Last change, RFC 3339.
    pub updated_at: String,
    /// Deletion time (soft delete), RFC 3339.
    pub deleted_at: Option<String>,
}

impl StoredDevice {
    /// The record as an input (without secrets), the base of a merge patch.
    pub fn as_input(&self) -> DeviceInput {
        DeviceInput {
            name: self.name.clone(),
            address: self.address.clone(),
            device_type: self.device_type.clone(),
            vendor: self.vendor.clone(),
            model: self.model.clone(),
            location: self.location.clone(),
            tags: self.tags.clone(),
            snmp: self.snmp.as_ref().map(|s| SnmpSettings {
                version: s.version.clone(),
                port: Some(s.port),
                user: s.user.clone(),
                auth_protocol: s.auth_protocol.clone(),
                priv_protocol: s.priv_protocol.clone(),
                context: s.context.clone(),
                interval: s.interval.clone(),
                ..SnmpSettings::default()
            }),
            ssh: self.ssh.as_ref().map(|s| SshInput {
                port: Some(s.port),
                user: s.user.clone(),
                key: None,
                password: None,
                platform: s.platform.clone(),
                host_key: s.host_key.clone(),
                legacy_algorithms: s.legacy_algorithms,
            }),
            collectors: self.collectors.clone(),
            active: self.active,
        }
    }
}
