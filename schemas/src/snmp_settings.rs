//! SNMP settings as a person writes them, in the configuration file
//! (`snmp = { version = "2c", ... }` in `[[devices]]`) and in the devices API (`"snmp":
//! {...}`): one type, one validation and one conversion into the collector's
//! [`SnmpTarget`], whichever way the device came in.
//!
//! Protocol names are accepted in either spelling, case-insensitive: `SHA-256` or
//! `sha256`, `AES-256` or `aes256`, `sha1`, `aes128`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{AuthProtocol, PrivProtocol, Secret, SnmpTarget, SnmpVersion, UsmSettings};

/// `{ version = "2c", community = "public", port = 161 }` or the v3 fields. Secret values
/// may be literals or `env:NAME` / `file:/path` references.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SnmpSettings {
    /// `1`, `2c` or `3`.
    pub version: String,
    /// UDP port of the agent (default 161).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<i64>,
    /// Community (v1, v2c; secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub community: Option<String>,
    /// USM user (v3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// `MD5`, `SHA`, `SHA-224`, `SHA-256`, `SHA-384`, `SHA-512` (or `md5`, `sha`,
    /// `sha256`...; v3; none = noAuthNoPriv).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_protocol: Option<String>,
    /// Authentication key (v3; secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_key: Option<String>,
    /// `DES`, `AES` (AES-128), `AES-192`, `AES-256` (or `des`, `aes`, `aes256`...; v3;
    /// none = noPriv).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priv_protocol: Option<String>,
    /// Privacy key (v3; secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priv_key: Option<String>,
    /// Context name (v3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// Overrides the collector's interval for this device, e.g. `30s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
}

impl std::fmt::Debug for SnmpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hide = |s: &Option<String>| s.as_ref().map(|s| Secret::new(s.clone()));
        f.debug_struct("SnmpSettings")
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

fn names<T>(all: &[(T, &str)]) -> String {
    all.iter().map(|(_, n)| *n).collect::<Vec<_>>().join(", ")
}

fn parse_interval(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s.trim()).map_err(|e| format!("`{s}`: {e}"))?;
    if d.is_zero() {
        return Err("must be greater than 0".into());
    }
    Ok(d)
}

impl SnmpSettings {
    /// Every problem, as (field name inside `snmp`, reason). `stored(name)` says whether
    /// a secret (`community`, `auth_key`, `priv_key`) that the input leaves out is already
    /// stored (an update through the API may omit secrets).
    pub fn validate(&self, stored: &dyn Fn(&str) -> bool) -> Vec<(&'static str, String)> {
        let mut e = Vec::new();
        let has = |v: &Option<String>, name: &str| {
            v.as_deref().is_some_and(|s| !s.is_empty()) || stored(name)
        };
        match SnmpVersion::parse(&self.version) {
            Some(SnmpVersion::V1 | SnmpVersion::V2c) => {
                if !has(&self.community, "community") {
                    e.push(("community", "required for SNMP v1 and v2c".into()));
                }
            }
            Some(SnmpVersion::V3) => {
                if self.user.as_deref().is_none_or(|u| u.trim().is_empty()) {
                    e.push(("user", "required for SNMPv3".into()));
                }
                match &self.auth_protocol {
                    Some(p) if AuthProtocol::parse(p).is_none() => e.push((
                        "auth_protocol",
                        format!("`{p}`: use one of {}", names(&AuthProtocol::ALL)),
                    )),
                    Some(_) if !has(&self.auth_key, "auth_key") => {
                        e.push(("auth_key", "required with auth_protocol".into()))
                    }
                    None if self.auth_key.is_some() => {
                        e.push(("auth_protocol", "required with auth_key".into()))
                    }
                    _ => {}
                }
                match &self.priv_protocol {
                    Some(p) => {
                        let valid = PrivProtocol::parse(p).is_some();
                        if !valid {
                            e.push((
                                "priv_protocol",
                                format!("`{p}`: use one of {}", names(&PrivProtocol::ALL)),
                            ));
                        }
                        if self.auth_protocol.is_none() {
                            e.push((
                                "priv_protocol",
                                "privacy needs authentication: set auth_protocol and auth_key"
                                    .into(),
                            ));
                        }
                        if valid && !has(&self.priv_key, "priv_key") {
                            e.push(("priv_key", "required with priv_protocol".into()));
                        }
                    }
                    None if self.priv_key.is_some() => {
                        e.push(("priv_protocol", "required with priv_key".into()))
                    }
                    None => {}
                }
            }
            None => e.push((
                "version",
                format!("`{}`: use \"1\", \"2c\" or \"3\"", self.version),
            )),
        }
        if self.port.is_some_and(|p| !(1..=65535).contains(&p)) {
            e.push(("port", "must be between 1 and 65535".into()));
        }
        if let Some(Err(r)) = self.interval.as_deref().map(parse_interval) {
            e.push(("interval", r));
        }
        e
    }

    /// The collector's view; call after [`SnmpSettings::validate`] found nothing.
    pub fn target(&self) -> SnmpTarget {
        let version = SnmpVersion::parse(&self.version).unwrap_or(SnmpVersion::V2c);
        let secret = |s: &Option<String>| s.clone().map(Secret::new);
        let usm = (version == SnmpVersion::V3).then(|| UsmSettings {
            user: self.user.clone().unwrap_or_default(),
            auth: self
                .auth_protocol
                .as_deref()
                .and_then(AuthProtocol::parse)
                .zip(secret(&self.auth_key)),
            privacy: self
                .priv_protocol
                .as_deref()
                .and_then(PrivProtocol::parse)
                .zip(secret(&self.priv_key)),
            context: self.context.clone().unwrap_or_default(),
        });
        SnmpTarget {
            version,
            port: self
                .port
                .and_then(|p| u16::try_from(p).ok())
                .filter(|p| *p > 0)
                .unwrap_or(161),
            community: Secret::new(self.community.clone().unwrap_or_default()),
            usm,
            interval: self
                .interval
                .as_deref()
                .and_then(|i| parse_interval(i).ok()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(json: &str) -> SnmpSettings {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn both_spellings_give_the_same_target() {
        let a = settings(
            r#"{"version":"3","user":"u","auth_protocol":"SHA-256","auth_key":"k1","priv_protocol":"AES-256","priv_key":"k2"}"#,
        );
        let b = settings(
            r#"{"version":"3","user":"u","auth_protocol":"sha256","auth_key":"k1","priv_protocol":"aes256","priv_key":"k2"}"#,
        );
        assert!(a.validate(&|_| false).is_empty());
        assert!(b.validate(&|_| false).is_empty());
        assert_eq!(a.target(), b.target());
        let usm = a.target().usm.unwrap();
        assert_eq!(usm.auth.unwrap().0, AuthProtocol::Sha256);
        assert_eq!(usm.privacy.unwrap().0, PrivProtocol::Aes256);
    }

    #[test]
    fn every_problem_is_listed_and_stored_secrets_count() {
        let fields = |s: &SnmpSettings, stored: &dyn Fn(&str) -> bool| {
            s.validate(stored)
                .into_iter()
                .map(|(f, _)| f)
                .collect::<Vec<_>>()
        };
        let none = |_: &str| false;
        assert_eq!(
            fields(&settings(r#"{"version":"4","port":0}"#), &none),
            ["version", "port"]
        );
        let v2 = settings(r#"{"version":"2c","interval":"0s"}"#);
        assert_eq!(fields(&v2, &none), ["community", "interval"]);
        assert_eq!(fields(&v2, &|n| n == "community"), ["interval"]);
        assert_eq!(
            fields(
                &settings(r#"{"version":"3","priv_protocol":"ROT13"}"#),
                &none
            ),
            ["user", "priv_protocol", "priv_protocol"]
        );
        let v3 =
            settings(r#"{"version":"3","user":"u","auth_protocol":"sha","priv_protocol":"aes"}"#);
        assert_eq!(fields(&v3, &none), ["auth_key", "priv_key"]);
        assert!(fields(&v3, &|_| true).is_empty());
        let t = settings(r#"{"version":"2c","community":"c","interval":"5s"}"#).target();
        assert_eq!((t.port, t.interval), (161, Some(Duration::from_secs(5))));
    }

    #[test]
    fn debug_never_shows_secrets() {
        let s = settings(r#"{"version":"2c","community":"very-secret"}"#);
        assert!(!format!("{s:?}").contains("very-secret"));
    }
}
