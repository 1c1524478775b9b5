//! Device credentials at rest: sealed with XChaCha20-Poly1305 under a master key that
//! comes from `SOTP_MASTER_KEY` or a key file, never from the database. The database
//! holds sealed values only: an `env:`/`file:` reference is the configuration file's
//! business and is resolved before a secret reaches the inventory.

use std::path::Path;

use base64::Engine;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

use crate::InventoryError;

const SEALED_PREFIX: &str = "enc:v1:";
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD_NO_PAD;

/// The 32-byte key that seals secrets. Its `Debug` never shows the key.
#[derive(Clone)]
pub struct MasterKey([u8; 32]);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

impl MasterKey {
    /// A new random key.
    pub fn generate() -> Self {
        MasterKey(XChaCha20Poly1305::generate_key(&mut OsRng).into())
    }

    /// Parses 64 hex characters (surrounding whitespace ignored).
    pub fn from_hex(s: &str) -> Result<Self, InventoryError> {
        let bytes = hex::decode(s.trim())
            .map_err(|e| InventoryError::Secret(format!("master key is not hex: {e}")))?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| {
            InventoryError::Secret("master key must be 32 bytes (64 hex characters)".into())
        })?;
        Ok(MasterKey(key))
    }

    /// The key as 64 hex characters.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The key from `env_value` (`SOTP_MASTER_KEY`), else from `key_file`, else from
    /// `default_file`, which is created with a new random key (mode 0600) if missing.
    pub fn load(
        env_value: Option<&str>,
        key_file: Option<&Path>,
        default_file: &Path,
    ) -> Result<Self, InventoryError> {
        if let Some(v) = env_value.filter(|v| !v.trim().is_empty()) {
            return Self::from_hex(v);
        }
        let read = |p: &Path| {
            let text = std::fs::read_to_string(p).map_err(|e| {
                InventoryError::Secret(format!("cannot read key file {}: {e}", p.display()))
            })?;
            Self::from_hex(&text)
        };
        if let Some(p) = key_file {
            return read(p);
        }
        if default_file.exists() {
            return read(default_file);
        }
        let key = Self::generate();
        write_private(default_file, &key.to_hex())?;
        tracing::warn!(file = %default_file.display(), "created a new master key for secrets; back it up, it is not in the database");
        Ok(key)
    }

    /// A key derived for another purpose (e.g. signing access tokens), so that the master
    /// key itself is used only to seal secrets.
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        h.update(b"sotp-derive-v1\0");
        h.update(purpose.as_bytes());
        h.update(b"\0");
        h.update(self.0);
        h.finalize().into()
    }

    /// Seals `plain`, bound to `owner`/`name` so a sealed value cannot be moved to
    /// another row.
    pub fn seal(&self, owner: &str, name: &str, plain: &str) -> Result<String, InventoryError> {
        let cipher = XChaCha20Poly1305::new((&self.0).into());
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let aad = format!("{owner}\0{name}");
        let ct = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plain.as_bytes(),
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| InventoryError::Secret("encryption failed".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        Ok(format!("{SEALED_PREFIX}{}", B64.encode(out)))
    }

    /// Opens a value made by [`MasterKey::seal`].
    pub fn open(&self, owner: &str, name: &str, sealed: &str) -> Result<String, InventoryError> {
        let raw = sealed
            .strip_prefix(SEALED_PREFIX)
            .and_then(|b| B64.decode(b).ok())
            .filter(|r| r.len() > 24)
            .ok_or_else(|| InventoryError::Secret(format!("{owner}/{name} is not sealed")))?;
        let (nonce, ct) = raw.split_at(24);
        let cipher = XChaCha20Poly1305::new((&self.0).into());
        let aad = format!("{owner}\0{name}");
        let plain = cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| {
                InventoryError::Secret(format!(
                    "{owner}/{name} cannot be opened: wrong master key or damaged value"
                ))
            })?;
        String::from_utf8(plain).map_err(|e| InventoryError::Secret(e.to_string()))
    }
}

/// The master key seals the secrets published on the `inventory` topic, so collectors
/// holding the same key open them.
impl sotp_schemas::SecretCodec for MasterKey {
    fn seal(&self, owner: &str, name: &str, plain: &str) -> Result<String, String> {
        MasterKey::seal(self, owner, name, plain).map_err(|e| e.to_string())
    }

    fn open(&self, owner: &str, name: &str, sealed: &str) -> Result<String, String> {
        MasterKey::open(self, owner, name, sealed).map_err(|e| e.to_string())
    }
}

/// Writes `text` to a new file only its owner can read (mode 0600), creating its folder;
/// an existing file is an error, never overwritten.
pub fn write_private(path: &Path, text: &str) -> Result<(), InventoryError> {
    use std::io::Write;
    let err = |e: std::io::Error| {
        InventoryError::Secret(format!("cannot write key file {}: {e}", path.display()))
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(path).map_err(err)?;
    f.write_all(text.as_bytes()).map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_and_binding() {
        let k = MasterKey::generate();
        let s = k.seal("dev1", "snmp.community", "public-secret").unwrap();
        assert!(!s.contains("public-secret"));
        assert_eq!(
            k.open("dev1", "snmp.community", &s).unwrap(),
            "public-secret"
        );
        assert!(k.open("dev2", "snmp.community", &s).is_err());
        assert!(
            MasterKey::generate()
                .open("dev1", "snmp.community", &s)
                .is_err()
        );
        assert!(format!("{k:?}").contains("redacted"));
    }
}
