//! TLS for SOTP's listeners (the syslog receiver, the HTTP API, the PostgreSQL wire):
//! one way to read a certificate chain, a private key and an optional CA bundle for
//! client certificates from PEM files, with errors that name the setting and the file.
//! The crypto provider is `ring`, named explicitly so no process-wide default is needed.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
pub use tokio_rustls::TlsAcceptor;

/// A TLS setting that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{field} (`{path}`): {reason}")]
pub struct TlsError {
    /// The setting, e.g. `syslog.cert`.
    pub field: String,
    /// The file it names.
    pub path: String,
    /// What is wrong with it.
    pub reason: String,
}

/// Where the PEM files are, and the names of their settings (for errors).
#[derive(Clone, Copy, Debug)]
pub struct PemFiles<'a> {
    /// The section of the settings, e.g. `syslog` or `api`: errors name `<section>.cert`.
    pub section: &'a str,
    /// The certificate chain, leaf first.
    pub cert: &'a str,
    /// The private key of the leaf.
    pub key: &'a str,
    /// CA bundle that signs accepted client certificates; empty: no client certificates.
    pub client_ca: &'a str,
}

impl PemFiles<'_> {
    fn err(&self, field: &str, path: &str, reason: impl std::fmt::Display) -> TlsError {
        TlsError {
            field: format!("{}.{field}", self.section),
            path: path.to_string(),
            reason: reason.to_string(),
        }
    }

    fn certs(&self, field: &str, path: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
        let certs = CertificateDer::pem_file_iter(Path::new(path))
            .map_err(|e| self.err(field, path, e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.err(field, path, e))?;
        if certs.is_empty() {
            return Err(self.err(field, path, "no PEM certificate in the file"));
        }
        Ok(certs)
    }

    /// The server settings: this chain and key, client certificates checked against
    /// `client_ca` when it is set.
    pub fn server_config(&self) -> Result<rustls::ServerConfig, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let chain = self.certs("cert", self.cert)?;
        let key = PrivateKeyDer::from_pem_file(Path::new(self.key))
            .map_err(|e| self.err("key", self.key, e))?;
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| self.err("cert", self.cert, e))?;
        let builder = if self.client_ca.is_empty() {
            builder.with_no_client_auth()
        } else {
            let mut roots = rustls::RootCertStore::empty();
            for c in self.certs("client_ca", self.client_ca)? {
                roots
                    .add(c)
                    .map_err(|e| self.err("client_ca", self.client_ca, e))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| self.err("client_ca", self.client_ca, e))?;
            builder.with_client_cert_verifier(verifier)
        };
        builder
            .with_single_cert(chain, key)
            .map_err(|e| self.err("key", self.key, e))
    }

    /// [`PemFiles::server_config`] as an acceptor of TLS connections.
    pub fn acceptor(&self) -> Result<TlsAcceptor, TlsError> {
        Ok(TlsAcceptor::from(Arc::new(self.server_config()?)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_or_empty_file_names_its_setting_and_path() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        let empty = empty.display().to_string();
        let files = PemFiles {
            section: "api",
            cert: &empty,
            key: &empty,
            client_ca: "",
        };
        let e = files.server_config().unwrap_err();
        assert_eq!(e.field, "api.cert");
        assert!(e.to_string().contains("no PEM certificate"), "{e}");
        let gone = PemFiles {
            cert: "/nonexistent/cert.pem",
            ..files
        };
        let e = gone.server_config().unwrap_err().to_string();
        assert!(
            e.contains("api.cert") && e.contains("/nonexistent/cert.pem"),
            "{e}"
        );
    }
}
