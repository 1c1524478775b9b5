//! The log record (syslog). The syslog issue fills in parsing; the shape is fixed here so
//! the `logs` topic and table exist from the start.

use serde::{Deserialize, Serialize};

use crate::{DeviceId, StructuredData, UtcNanos};

/// One received log message, parsed as far as any dialect allowed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogRecord {
    /// When SOTP received the message.
    pub received_at: UtcNanos,
    /// The time the device wrote in the message, when it had one.
    #[serde(default)]
    pub time: Option<UtcNanos>,
    /// The sender's address (`ip:port`).
    pub source_address: String,
    /// The device matched through the inventory, or none for unknown sources.
    #[serde(default)]
    pub device_id: Option<DeviceId>,
    /// Hostname field of the message.
    #[serde(default)]
    pub hostname: Option<String>,
    /// Syslog facility (0..23).
    #[serde(default)]
    pub facility: Option<u8>,
    /// Syslog severity (0 emergency .. 7 debug).
    #[serde(default)]
    pub severity: Option<u8>,
    /// APP-NAME (RFC 5424) or TAG (RFC 3164).
    #[serde(default)]
    pub app_name: Option<String>,
    /// PROCID.
    #[serde(default)]
    pub procid: Option<String>,
    /// MSGID.
    #[serde(default)]
    pub msgid: Option<String>,
    /// RFC 5424 structured data: SD-ID to parameters.
    #[serde(default, skip_serializing_if = "StructuredData::is_empty")]
    pub structured_data: StructuredData,
    /// Vendor mnemonic such as Cisco's `%LINK-3-UPDOWN`.
    #[serde(default)]
    pub vendor_mnemonic: Option<String>,
    /// The message text (lossy UTF-8).
    pub message: String,
    /// The bytes as received, base64 on the wire.
    #[serde(with = "raw_base64")]
    pub raw: Vec<u8>,
    /// True when no dialect parsed the message; it is kept raw.
    pub parse_error: bool,
}

mod raw_base64 {
    //! The `raw` bytes as standard base64 (RFC 4648) on the wire.
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(v))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        STANDARD
            .decode(s.as_bytes())
            .map_err(|e| serde::de::Error::custom(format!("raw is not valid base64: {e}")))
    }
}
