//! Per-device SNMP settings (`snmp = { ... }` in `[[devices]]`) and their validation.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sotp_schemas::{AuthProtocol, PrivProtocol, Secret, SnmpTarget, SnmpVersion, UsmSettings};

/// `snmp = { version = "2c", community = "public", port = 161 }` or the v3 fields.
/// Secret values may be literals or `env:NAME` / `file:/path` references.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceSnmp {
    /// `1`, `2c` or `3`.
    pub version: String,
    /// UDP port of the agent.
    #[serde(default = "default_port")]
    pub port: u16,
    /// Community (v1, v2c).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub community: Option<String>,
    /// USM user (v3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// `md5`, `sha`, `sha224`, `sha256`, `sha384`, `sha512` (v3; none = noAuthNoPriv).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_protocol: Option<String>,
    /// Authentication key (v3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_key: Option<String>,
    /// `des`, `aes` (AES-128), `aes192`, `aes256` (v3; none = noPriv).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priv_protocol: Option<String>,
    /// Privacy key (v3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priv_key: Option<String>,
    /// Context name (v3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// Overrides `[snmp] interval` for this device.
    #[serde(
        default,
        with = "humantime_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub interval: Option<Duration>,
}

fn default_port() -> u16 {
    161
}

impl std::fmt::Debug for DeviceSnmp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hide = |s: &Option<String>| s.as_ref().map(|s| Secret::new(s.clone()));
        f.debug_struct("DeviceSnmp")
            .field("version", &self.version)
            .field("port", &self.port)
            .field("community", &hide(&self.community))
            .field("user", &self.user)
            .field("auth_protocol", &self.auth_protocol)
            .field("auth_key", &hide(&self.auth_key))
            .field("priv_protocol", &self.priv_protocol)
            .field("priv_key", &hide(&self.priv_key))
            .field("context", &self.context)
            .field("interval", &self.interval)
            .finish()
    }
}

fn auth(s: &str) -> Option<AuthProtocol> {
    Some(match s.to_ascii_lowercase().replace('-', "").as_str() {
        "md5" => AuthProtocol::Md5,
        "sha" | "sha1" => AuthProtocol::Sha,
        "sha224" => AuthProtocol::Sha224,
        "sha256" => AuthProtocol::Sha256,
        "sha384" => AuthProtocol::Sha384,
        "sha512" => AuthProtocol::Sha512,
        _ => return None,
    })
}

fn privacy(s: &str) -> Option<PrivProtocol> {
    Some(match s.to_ascii_lowercase().replace('-', "").as_str() {
        "des" => PrivProtocol::Des,
        "aes" | "aes128" => PrivProtocol::Aes,
        "aes192" => PrivProtocol::Aes192,
        "aes256" => PrivProtocol::Aes256,
        _ => return None,
    })
}

impl DeviceSnmp {
    /// Every problem, as (field under `at`, reason).
    pub fn validate(&self, at: &str) -> Vec<(String, String)> {
        let mut e = Vec::new();
        let mut add = |f: &str, r: String| e.push((format!("{at}.snmp.{f}"), r));
        match self.version.as_str() {
            "1" | "2c" => {
                if self.community.as_deref().is_none_or(str::is_empty) {
                    add("community", "required for SNMP v1 and v2c".into());
                }
            }
            "3" => {
                if self.user.as_deref().is_none_or(str::is_empty) {
                    add("user", "required for SNMPv3".into());
                }
                match (&self.auth_protocol, &self.auth_key) {
                    (Some(p), _) if auth(p).is_none() => add(
                        "auth_protocol",
                        format!("`{p}`: use md5, sha, sha224, sha256, sha384 or sha512"),
                    ),
                    (Some(_), None) => add("auth_key", "required with auth_protocol".into()),
                    (None, Some(_)) => add("auth_protocol", "required with auth_key".into()),
                    _ => {}
                }
                match (&self.priv_protocol, &self.priv_key) {
                    (Some(p), _) if privacy(p).is_none() => add(
                        "priv_protocol",
                        format!("`{p}`: use des, aes, aes192 or aes256"),
                    ),
                    (Some(_), None) => add("priv_key", "required with priv_protocol".into()),
                    (None, Some(_)) => add("priv_protocol", "required with priv_key".into()),
                    (Some(_), Some(_)) if self.auth_protocol.is_none() => add(
                        "priv_protocol",
                        "privacy needs authentication: set auth_protocol and auth_key".into(),
                    ),
                    _ => {}
                }
            }
            v => add("version", format!("`{v}`: use \"1\", \"2c\" or \"3\"")),
        }
        if self.port == 0 {
            add("port", "must be between 1 and 65535".into());
        }
        if self.interval.is_some_and(|i| i.is_zero()) {
            add("interval", "must be greater than 0".into());
        }
        e
    }

    /// The collector's view; call after [`DeviceSnmp::validate`] found nothing.
    pub fn target(&self) -> SnmpTarget {
        let version = match self.version.as_str() {
            "1" => SnmpVersion::V1,
            "3" => SnmpVersion::V3,
            _ => SnmpVersion::V2c,
        };
        let usm = (version == SnmpVersion::V3).then(|| UsmSettings {
            user: self.user.clone().unwrap_or_default(),
            auth: self
                .auth_protocol
                .as_deref()
                .and_then(auth)
                .zip(self.auth_key.clone().map(Secret::new)),
            privacy: self
                .priv_protocol
                .as_deref()
                .and_then(privacy)
                .zip(self.priv_key.clone().map(Secret::new)),
            context: self.context.clone().unwrap_or_default(),
        });
        SnmpTarget {
            version,
            port: self.port,
            community: Secret::new(self.community.clone().unwrap_or_default()),
            usm,
            interval: self.interval,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::load_str;

    #[test]
    fn snmp_device_settings_are_validated_and_secrets_stay_hidden() {
        let text = r#"
[[devices]]
name = "a"
address = "127.0.0.1"
snmp = { version = "3", user = "u", auth_protocol = "sha", auth_key = "topsecret", priv_protocol = "aes256", priv_key = "env:PRIV" }

[[devices]]
name = "b"
address = "127.0.0.2"
snmp = { version = "4", community = "c" }

[[devices]]
name = "c"
address = "127.0.0.3"
snmp = { version = "3", user = "u", priv_protocol = "rc4", priv_key = "x" }

[[devices]]
name = "d"
address = "127.0.0.4"
snmp = { version = "2c" }
"#;
        let err = load_str(text, "t", Vec::new()).unwrap_err().to_string();
        for want in [
            "devices[1].snmp.version",
            "devices[2].snmp.priv_protocol",
            "devices[3].snmp.community",
        ] {
            assert!(err.contains(want), "{want} missing in:\n{err}");
        }
        assert!(!err.contains("devices[0]"), "{err}");

        let ok = load_str(
            &text[..text.find("[[devices]]\nname = \"b\"").unwrap()],
            "t",
            Vec::new(),
        )
        .unwrap();
        let debug = format!("{ok:?}");
        assert!(!debug.contains("topsecret"), "{debug}");
        assert!(debug.contains("env:PRIV"), "{debug}");
        let dev = &ok.device_list()[0];
        assert!(!format!("{dev:?}").contains("topsecret"));
        let usm = dev.snmp.as_ref().unwrap().usm.as_ref().unwrap();
        assert_eq!(usm.auth.as_ref().unwrap().1.resolve().unwrap(), "topsecret");
        assert_eq!(
            usm.privacy.as_ref().unwrap().0,
            sotp_schemas::PrivProtocol::Aes256
        );
    }
}
