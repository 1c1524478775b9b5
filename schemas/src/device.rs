//! A monitored device as the collectors see it.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::{DeviceId, SnmpTarget};

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
}
