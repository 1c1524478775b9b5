//! Syslog over TLS (RFC 5425): the server settings from `[syslog] cert`, `key` and
//! `client_ca` (PEM files, read by `sotp-tls` like every TLS listener of SOTP).

use tokio_rustls::TlsAcceptor;

use super::SyslogConfig;
use super::listener::SyslogError;

/// Builds the TLS acceptor from `[syslog] cert`, `key` and `client_ca`.
pub(crate) fn acceptor(config: &SyslogConfig) -> Result<TlsAcceptor, SyslogError> {
    let files = sotp_tls::PemFiles {
        section: "syslog",
        cert: &config.cert,
        key: &config.key,
        client_ca: &config.client_ca,
    };
    Ok(files.acceptor()?)
}
