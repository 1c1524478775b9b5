//! How one device is reached over SNMP: version, port and credentials.
//!
//! Secret values (communities, v3 keys) are kept as [`Secret`]: the plain value, about
//! to be used, or *sealed* (`enc:v1:...`, encrypted under the control plane's master key
//! and bound to its device and field): that is how secrets are stored and how they travel
//! on the `inventory` topic. A sealed secret is opened with a [`SecretCodec`] (the master
//! key) before use; [`Secret::expose`] refuses it. `Debug` never shows a value.
//!
//! There is no reference kind here on purpose: `env:NAME` and `file:/path` are the
//! configuration file's business, resolved by the binary when it loads the file. A value
//! arriving through the API or the bus is only ever a value, so no caller can make a
//! process read its own files or environment and send them to an address of its choice.

use std::fmt;

/// A plain or sealed secret value. `Debug` prints `"<redacted>"` or `"<sealed>"`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

/// A secret cannot be used as it is.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The secret is still sealed: the process has no (or the wrong) master key.
    #[error(
        "the secret is sealed (encrypted under the master key) and was not opened: give this process the same SOTP_MASTER_KEY or [secrets] key_file as the control plane"
    )]
    Sealed,
}

impl Secret {
    /// Wraps a value: sealed when it starts with `enc:`, plain otherwise. Text such as
    /// `env:NAME` is a plain value here, never read as a reference.
    pub fn new(raw: impl Into<String>) -> Self {
        Self(raw.into())
    }

    /// The text as held: the plain value or the sealed form.
    pub fn configured(&self) -> &str {
        &self.0
    }

    /// A sealed value (`enc:...`), not usable before [`SecretCodec::open`].
    pub fn is_sealed(&self) -> bool {
        self.0.starts_with(SEALED_PREFIX)
    }

    /// A plain value (not sealed).
    pub fn is_literal(&self) -> bool {
        !self.is_sealed()
    }

    /// The plain value, for a collector about to use it; a sealed secret is an error.
    pub fn expose(&self) -> Result<&str, SecretError> {
        if self.is_sealed() {
            Err(SecretError::Sealed)
        } else {
            Ok(&self.0)
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_sealed() {
            f.write_str("\"<sealed>\"")
        } else {
            f.write_str("\"<redacted>\"")
        }
    }
}

/// Prefix of a sealed secret.
const SEALED_PREFIX: &str = "enc:";

/// Seals and opens secrets, bound to their owner (device id) and name (for example
/// `snmp.community`) so that a sealed value copied elsewhere does not open. The
/// control plane's master key implements it.
pub trait SecretCodec: Send + Sync {
    /// Seals `plain`; the result starts with `enc:`.
    fn seal(&self, owner: &str, name: &str, plain: &str) -> Result<String, String>;
    /// Opens a value made by [`SecretCodec::seal`].
    fn open(&self, owner: &str, name: &str, sealed: &str) -> Result<String, String>;
}

/// SNMP protocol version. On the wire and in files: `1`, `2c` or `3` (also read: `2`,
/// `v1`, `v2c`, `v3`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum SnmpVersion {
    /// SNMPv1 (GETNEXT walks, 32-bit counters only).
    V1,
    /// SNMPv2c (community, GETBULK).
    V2c,
    /// SNMPv3 (USM).
    V3,
}

/// SNMPv3 authentication protocol. Written with its canonical name (`SHA-256`), read in
/// either spelling (`sha256`, `sha1`...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
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

impl AuthProtocol {
    /// Every protocol, with its canonical name.
    pub const ALL: [(AuthProtocol, &'static str); 6] = [
        (AuthProtocol::Md5, "MD5"),
        (AuthProtocol::Sha, "SHA"),
        (AuthProtocol::Sha224, "SHA-224"),
        (AuthProtocol::Sha256, "SHA-256"),
        (AuthProtocol::Sha384, "SHA-384"),
        (AuthProtocol::Sha512, "SHA-512"),
    ];

    /// Parses a name in either spelling, case-insensitive: `SHA-256`, `sha256`, `sha1`...
    pub fn parse(s: &str) -> Option<Self> {
        by_name(&Self::ALL, s, ("sha1", "sha"))
    }

    /// The canonical name (`SHA-256`).
    pub fn name(self) -> &'static str {
        name_of(&Self::ALL, self)
    }
}

/// The entry of `all` named `s` in either spelling (`alias.0` meaning `alias.1`).
fn by_name<T: Copy>(all: &[(T, &'static str)], s: &str, alias: (&str, &str)) -> Option<T> {
    let s = squash(s);
    let s = if s == alias.0 { alias.1.to_string() } else { s };
    all.iter().find(|(_, n)| squash(n) == s).map(|(p, _)| *p)
}

/// The canonical name of `v` in `all`.
fn name_of<T: Copy + PartialEq>(all: &[(T, &'static str)], v: T) -> &'static str {
    all.iter().find(|(p, _)| *p == v).map_or("", |(_, n)| n)
}

/// Lower case without `-` and `_`: `SHA-256`, `sha256` and `sha_256` compare equal.
fn squash(s: &str) -> String {
    s.trim()
        .chars()
        .filter(|c| *c != '-' && *c != '_')
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// SNMPv3 privacy protocol. Written with its canonical name (`AES-256`), read in either
/// spelling (`aes256`, `aes128`...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
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

impl PrivProtocol {
    /// Every protocol, with its canonical name.
    pub const ALL: [(PrivProtocol, &'static str); 4] = [
        (PrivProtocol::Des, "DES"),
        (PrivProtocol::Aes, "AES"),
        (PrivProtocol::Aes192, "AES-192"),
        (PrivProtocol::Aes256, "AES-256"),
    ];

    /// Parses a name in either spelling, case-insensitive: `AES-256`, `aes256`, `aes128`...
    pub fn parse(s: &str) -> Option<Self> {
        by_name(&Self::ALL, s, ("aes128", "aes"))
    }

    /// The canonical name (`AES-256`).
    pub fn name(self) -> &'static str {
        name_of(&Self::ALL, self)
    }
}

/// `String` conversions of the protocol enums, for serde: the canonical name out, either
/// spelling in.
macro_rules! named {
    ($t:ty, $what:literal, $all:expr) => {
        impl TryFrom<String> for $t {
            type Error = String;
            fn try_from(s: String) -> Result<Self, String> {
                <$t>::parse(&s).ok_or_else(|| format!("unknown {} `{s}`: use {}", $what, $all))
            }
        }

        impl From<$t> for String {
            fn from(v: $t) -> String {
                v.name().to_string()
            }
        }
    };
}

named!(SnmpVersion, "SNMP version", "1, 2c or 3");
named!(
    AuthProtocol,
    "authentication protocol",
    "MD5, SHA, SHA-224, SHA-256, SHA-384 or SHA-512"
);
named!(
    PrivProtocol,
    "privacy protocol",
    "DES, AES, AES-192 or AES-256"
);

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

impl SnmpVersion {
    /// `1`, `2c` or `3`.
    pub fn name(self) -> &'static str {
        match self {
            SnmpVersion::V1 => "1",
            SnmpVersion::V2c => "2c",
            SnmpVersion::V3 => "3",
        }
    }

    /// Parses `1`, `2c` (or `2`) and `3`.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "1" | "v1" => Some(SnmpVersion::V1),
            "2c" | "2" | "v2c" => Some(SnmpVersion::V2c),
            "3" | "v3" => Some(SnmpVersion::V3),
            _ => None,
        }
    }
}

impl SnmpTarget {
    /// The secrets of this target by field name (`snmp.community`, `snmp.auth_key`,
    /// `snmp.priv_key`), the names they are sealed under.
    pub fn secrets_mut(&mut self) -> Vec<(&'static str, &mut Secret)> {
        let mut out = vec![("snmp.community", &mut self.community)];
        if let Some(usm) = &mut self.usm {
            if let Some((_, k)) = &mut usm.auth {
                out.push(("snmp.auth_key", k));
            }
            if let Some((_, k)) = &mut usm.privacy {
                out.push(("snmp.priv_key", k));
            }
        }
        out
    }

    /// Seals every literal secret (references and sealed values stay as they are).
    pub fn seal_secrets(&mut self, owner: &str, codec: &dyn SecretCodec) -> Result<(), String> {
        for (name, s) in self.secrets_mut() {
            if s.is_literal() && !s.0.is_empty() {
                *s = Secret(codec.seal(owner, name, &s.0)?);
            }
        }
        Ok(())
    }

    /// Opens every sealed secret. A secret that does not open stays sealed (its use then
    /// fails for this device only); the names of those are returned.
    pub fn open_secrets(&mut self, owner: &str, codec: &dyn SecretCodec) -> Vec<&'static str> {
        let mut failed = Vec::new();
        for (name, s) in self.secrets_mut() {
            if s.is_sealed() {
                match codec.open(owner, name, &s.0) {
                    Ok(plain) => *s = Secret(plain),
                    Err(_) => failed.push(name),
                }
            }
        }
        failed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocols_accept_both_spellings() {
        for (s, want) in [
            ("SHA-256", AuthProtocol::Sha256),
            ("sha256", AuthProtocol::Sha256),
            ("Sha_256", AuthProtocol::Sha256),
            ("sha", AuthProtocol::Sha),
            ("SHA1", AuthProtocol::Sha),
            ("md5", AuthProtocol::Md5),
            ("SHA-512", AuthProtocol::Sha512),
        ] {
            assert_eq!(AuthProtocol::parse(s), Some(want), "{s}");
        }
        for (s, want) in [
            ("AES-256", PrivProtocol::Aes256),
            ("aes256", PrivProtocol::Aes256),
            ("aes", PrivProtocol::Aes),
            ("AES-128", PrivProtocol::Aes),
            ("des", PrivProtocol::Des),
        ] {
            assert_eq!(PrivProtocol::parse(s), Some(want), "{s}");
        }
        assert_eq!(AuthProtocol::parse("sha3"), None);
        assert_eq!(PrivProtocol::parse("rc4"), None);
        assert_eq!(AuthProtocol::Sha256.name(), "SHA-256");
        assert_eq!(PrivProtocol::Aes192.name(), "AES-192");
    }

    #[test]
    fn sealed_secrets_are_not_exposed_and_do_not_print() {
        let s = Secret::new("enc:v1:abc");
        assert!(s.is_sealed() && !s.is_literal());
        assert!(matches!(s.expose(), Err(SecretError::Sealed)));
        assert_eq!(format!("{s:?}"), "\"<sealed>\"");
    }

    #[test]
    fn references_are_plain_text_here_and_never_read() {
        // `env:`/`file:` are resolved by the configuration loader only; here they are
        // values like any other, so nothing can point a collector at the process's
        // environment or files.
        let home = Secret::new("env:HOME");
        assert_eq!(home.expose().unwrap(), "env:HOME");
        assert_eq!(format!("{home:?}"), "\"<redacted>\"");
        assert_eq!(
            Secret::new("file:/etc/passwd").expose().unwrap(),
            "file:/etc/passwd"
        );
        assert_eq!(format!("{:?}", Secret::new("s3cr3t")), "\"<redacted>\"");
    }
}
