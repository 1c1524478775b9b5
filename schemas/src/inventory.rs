//! The `inventory` topic's wire record: one device definition per message, keyed by
//! device id. A message with no value (a tombstone) deletes the device; the topic is
//! compacted, so it always holds the latest definition of every device.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{Device, DeviceId, PollSettings, SchemaError};

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

/// One device definition as published on `inventory` (JSON, wire version 1,
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
}

impl From<&Device> for DeviceRecord {
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
        }
    }
}

impl From<DeviceRecord> for Device {
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
            // SNMP settings (with their secrets) are not on the wire yet: collectors
            // sharded through Kafka poll ICMP only.
            snmp: None,
        }
    }
}

impl DeviceRecord {
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
mod tests {
    use super::*;

    #[test]
    fn device_round_trips_through_the_wire_record() {
        let d = Device {
            id: DeviceId::new("core-1"),
            name: Arc::from("Core 1"),
            address: "2001:db8::1".parse().unwrap(),
            tags: vec!["dc1".into()],
            icmp: PollSettings {
                enabled: true,
                interval: Some(Duration::from_millis(1500)),
            },
            snmp: None,
        };
        let json = DeviceRecord::from(&d).to_json().unwrap();
        let back: Device = DeviceRecord::from_json(&json).unwrap().into();
        assert_eq!(back, d);
        assert!(DeviceRecord::from_json(br#"{"id":"x"}"#).is_err());
    }
}
