//! Syslog over TLS (RFC 5425): the server configuration from PEM files, with optional
//! client certificates checked against a CA bundle. The crypto provider is `ring`,
//! named explicitly so no process-wide default is needed.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use tokio_rustls::TlsAcceptor;

use super::SyslogConfig;
use super::listener::SyslogError;

fn tls_err(field: &'static str, path: &str, reason: impl std::fmt::Display) -> SyslogError {
    SyslogError::Tls {
        field,
        path: path.to_string(),
        reason: reason.to_string(),
    }
}

fn certs(field: &'static str, path: &str) -> Result<Vec<CertificateDer<'static>>, SyslogError> {
    let certs = CertificateDer::pem_file_iter(Path::new(path))
        .map_err(|e| tls_err(field, path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| tls_err(field, path, e))?;
    if certs.is_empty() {
        return Err(tls_err(field, path, "no PEM certificate in the file"));
    }
    Ok(certs)
}

/// Builds the TLS acceptor from `[syslog] cert`, `key` and `client_ca`.
pub(crate) fn acceptor(config: &SyslogConfig) -> Result<TlsAcceptor, SyslogError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain = certs("syslog.cert", &config.cert)?;
    let key = PrivateKeyDer::from_pem_file(Path::new(&config.key))
        .map_err(|e| tls_err("syslog.key", &config.key, e))?;
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err("syslog.cert", &config.cert, e))?;
    let builder = if config.client_ca.is_empty() {
        builder.with_no_client_auth()
    } else {
        let mut roots = rustls::RootCertStore::empty();
        for c in certs("syslog.client_ca", &config.client_ca)? {
            roots
                .add(c)
                .map_err(|e| tls_err("syslog.client_ca", &config.client_ca, e))?;
        }
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|e| tls_err("syslog.client_ca", &config.client_ca, e))?;
        builder.with_client_cert_verifier(verifier)
    };
    let server = builder
        .with_single_cert(chain, key)
        .map_err(|e| tls_err("syslog.key", &config.key, e))?;
    Ok(TlsAcceptor::from(Arc::new(server)))
}
