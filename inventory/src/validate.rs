//! Validation of device input: every problem is reported at once, each with its field.

use std::net::IpAddr;

use crate::{DeviceInput, FieldError, InventoryError};

const COLLECTORS: &[&str] = &["icmp", "snmp", "ssh", "syslog"];
const MAX_TEXT: usize = 200;

impl DeviceInput {
    /// Checks every field; returns the canonical address.
    pub fn validate(&self) -> Result<String, InventoryError> {
        self.validate_with(&[])
    }

    /// [`DeviceInput::validate`] for a device that already holds the secrets named in
    /// `stored` (e.g. `snmp.community`), which an update may leave out.
    pub fn validate_with(&self, stored: &[String]) -> Result<String, InventoryError> {
        let mut errs = Vec::new();
        let mut add = |field: &str, reason: String| {
            errs.push(FieldError {
                field: field.to_string(),
                reason,
            })
        };
        if self.name.trim().is_empty() {
            add("name", "must not be empty".into());
        }
        for (field, v) in [
            ("name", &self.name),
            ("type", &self.device_type),
            ("vendor", &self.vendor),
            ("model", &self.model),
            ("location", &self.location),
        ] {
            if v.chars().count() > MAX_TEXT {
                add(field, format!("longer than {MAX_TEXT} characters"));
            }
            if v.chars().any(char::is_control) {
                add(field, "contains control characters".into());
            }
        }
        let address = match self.address.trim().parse::<IpAddr>() {
            Ok(a) => a.to_string(),
            Err(_) => {
                add(
                    "address",
                    format!("`{}` is not an IPv4 or IPv6 address", self.address),
                );
                String::new()
            }
        };
        for (i, t) in self.tags.iter().enumerate() {
            if t.trim().is_empty() || t.chars().count() > 64 || t.chars().any(char::is_control) {
                add(
                    &format!("tags[{i}]"),
                    "must be 1 to 64 printable characters".into(),
                );
            }
        }
        let port_ok = |p: Option<i64>| p.is_none_or(|p| (1..=65535).contains(&p));
        if let Some(s) = &self.snmp {
            let stored = |name: &str| stored.iter().any(|n| *n == format!("snmp.{name}"));
            for (field, reason) in s.validate(&stored) {
                add(&format!("snmp.{field}"), reason);
            }
        }
        if let Some(s) = &self.ssh {
            if s.user.trim().is_empty() {
                add("ssh.user", "must not be empty".into());
            }
            if !port_ok(s.port) {
                add("ssh.port", "must be between 1 and 65535".into());
            }
            if let Some(p) = &s.platform
                && (p.is_empty()
                    || p.len() > 64
                    || !p
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'))
            {
                add(
                    "ssh.platform",
                    "must be a platform name such as cisco_ios or juniper_junos".into(),
                );
            }
            if let Some(k) = &s.host_key
                && !is_sha256_fingerprint(k.trim())
            {
                add(
                    "ssh.host_key",
                    "must be a SHA-256 fingerprint as `ssh-keygen -l` prints it: SHA256: and 43 base64 characters".into(),
                );
            }
        }
        for (field, value) in self.secret_fields() {
            if let Some(kind) = reference_kind(value) {
                add(
                    field,
                    format!(
                        "`{kind}` references are read only from the configuration file; send the secret itself (it is sealed at rest and never shown)"
                    ),
                );
            }
        }
        for (name, c) in &self.collectors {
            if !COLLECTORS.contains(&name.as_str()) {
                add(
                    &format!("collectors.{name}"),
                    format!("unknown collector: use one of {}", COLLECTORS.join(", ")),
                );
            }
            if let Some(i) = &c.interval {
                match humantime::parse_duration(i) {
                    Ok(d) if d.as_secs() >= 1 => {}
                    Ok(_) => add(
                        &format!("collectors.{name}.interval"),
                        "must be at least 1s".into(),
                    ),
                    Err(e) => add(
                        &format!("collectors.{name}.interval"),
                        format!("`{i}`: {e}"),
                    ),
                }
            }
        }
        if errs.is_empty() {
            Ok(address)
        } else {
            Err(InventoryError::Validation(errs))
        }
    }
}

/// The reference prefix `value` starts with (`env:`, `file:`, `vault:`), if any: the
/// configuration file's way to name a secret, which a device arriving through the API
/// may not use (a collector would read the server's own environment or files and send
/// them to the device's address).
fn reference_kind(value: &str) -> Option<&'static str> {
    ["env:", "file:", "vault:"]
        .into_iter()
        .find(|p| value.trim_start().starts_with(p))
}

/// `SHA256:` and the 43 characters of an unpadded base64 SHA-256 digest.
fn is_sha256_fingerprint(s: &str) -> bool {
    s.strip_prefix("SHA256:").is_some_and(|b| {
        b.len() == 43
            && b.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'+' || c == b'/')
    })
}
