//! How one device is reached over SNMP: version, port and credentials.
//!
//! Secret values (communities, v3 keys) are kept as [`Secret`]: the literal value or an
//! `env:NAME` / `file:/path` reference, resolved by the collector when it opens a
//! session. Their `Debug` output never shows the value.

use std::fmt;

/// A secret value or a reference to one. `Debug` prints `"<redacted>"` (or the reference
/// kind and name for `env:`/`file:` references, which are not secret).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

/// A secret reference could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// `env:NAME` names a variable that is not set.
    #[error("environment variable `{0}` (from an `env:` secret reference) is not set")]
    Env(String),
    /// `file:/path` could not be read.
    #[error("cannot read secret file `{path}`: {source}")]
    File {
        /// The referenced file.
        path: String,
        /// The system's error.
        source: std::io::Error,
    },
}

impl Secret {
    /// Wraps a configured value (literal or reference).
    pub fn new(raw: impl Into<String>) -> Self {
        Self(raw.into())
    }

    /// The configured text, as written (a literal secret or a reference).
    pub fn configured(&self) -> &str {
        &self.0
    }

    /// The secret's value: the literal, the environment variable's value, or the file's
    /// content without its trailing newline.
    pub fn resolve(&self) -> Result<String, SecretError> {
        if let Some(name) = self.0.strip_prefix("env:") {
            std::env::var(name).map_err(|_| SecretError::Env(name.to_string()))
        } else if let Some(path) = self.0.strip_prefix("file:") {
            std::fs::read_to_string(path)
                .map(|s| s.trim_end_matches(['\r', '\n']).to_string())
                .map_err(|source| SecretError::File {
                    path: path.to_string(),
                    source,
                })
        } else {
            Ok(self.0.clone())
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.starts_with("env:") || self.0.starts_with("file:") {
            write!(f, "{:?}", self.0)
        } else {
            f.write_str("\"<redacted>\"")
        }
    }
}

/// SNMP protocol version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SnmpVersion {
    /// SNMPv1 (GETNEXT walks, 32-bit counters only).
    V1,
    /// SNMPv2c (community, GETBULK).
    V2c,
    /// SNMPv3 (USM).
    V3,
}

/// SNMPv3 authentication protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthProtocol {
    /// HMAC-MD5-96.
    Md5,
    /// HMAC-SHA-96.
    Sha,
    /// HMAC-SHA-224.
    Sha224,
    /// HMAC-SHA-256.
    Sha256,
    /// HMAC-SHA-384.
    Sha384,
    /// HMAC-SHA-512.
    Sha512,
}

/// SNMPv3 privacy protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrivProtocol {
    /// CBC-DES.
    Des,
    /// CFB-AES-128.
    Aes,
    /// CFB-AES-192.
    Aes192,
    /// CFB-AES-256.
    Aes256,
}

/// SNMPv3 user-based security settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsmSettings {
    /// Security name.
    pub user: String,
    /// Authentication protocol and key; none for noAuthNoPriv.
    pub auth: Option<(AuthProtocol, Secret)>,
    /// Privacy protocol and key; none for noPriv.
    pub privacy: Option<(PrivProtocol, Secret)>,
    /// Context name (empty by default).
    pub context: String,
}

/// How to reach one device over SNMP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnmpTarget {
    /// Protocol version.
    pub version: SnmpVersion,
    /// UDP port (161 by default).
    pub port: u16,
    /// Community (v1, v2c).
    pub community: Secret,
    /// USM settings (v3).
    pub usm: Option<UsmSettings>,
    /// Overrides the collector's counter interval for this device.
    pub interval: Option<std::time::Duration>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_literal_secrets_but_shows_references() {
        assert_eq!(format!("{:?}", Secret::new("s3cr3t")), "\"<redacted>\"");
        assert_eq!(
            format!("{:?}", Secret::new("env:SNMP_KEY")),
            "\"env:SNMP_KEY\""
        );
    }

    #[test]
    fn resolves_env_and_file_references() {
        assert_eq!(Secret::new("plain").resolve().unwrap(), "plain");
        let dir = std::env::temp_dir().join(format!("sotp-secret-{}", std::process::id()));
        std::fs::write(&dir, "from-file\n").unwrap();
        let s = Secret::new(format!("file:{}", dir.display()));
        assert_eq!(s.resolve().unwrap(), "from-file");
        std::fs::remove_file(&dir).unwrap();
        let missing = Secret::new("env:SOTP_SURELY_UNSET_VARIABLE_42");
        assert!(
            missing
                .resolve()
                .unwrap_err()
                .to_string()
                .contains("SOTP_SURELY_UNSET_VARIABLE_42")
        );
    }
}
