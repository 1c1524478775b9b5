//! Configuration of the syslog receiver (`[syslog]`).

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// `[syslog]`: the syslog receiver (UDP, TCP, TLS).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyslogConfig {
    /// Receive syslog at all.
    pub enabled: bool,
    /// UDP address to listen on; `""` turns UDP off.
    pub udp: String,
    /// TCP address to listen on (RFC 6587: octet counting or newline framing, detected
    /// per frame); `""` turns TCP off.
    pub tcp: String,
    /// TLS address (RFC 5425, octet-counted frames over TLS); `""` (the default) turns
    /// TLS off. Needs `cert` and `key`.
    pub tls: String,
    /// PEM certificate chain for TLS.
    pub cert: String,
    /// PEM private key for TLS.
    pub key: String,
    /// PEM CA bundle: when set, TLS clients must present a certificate it signed.
    pub client_ca: String,
    /// Longest message kept whole, in bytes; longer frames are cut to this size (and
    /// counted in `sotp_syslog_truncated_total`).
    pub max_message_bytes: usize,
    /// TCP connections served at once; further connections wait in the kernel backlog.
    pub max_connections: usize,
    /// TCP and TLS connections one client address may hold; more are closed at once
    /// (`sotp_syslog_refused_connections_total`), so one address cannot take every slot.
    pub max_connections_per_address: usize,
    /// A new connection must complete its TLS handshake and send its first byte within
    /// this time, or it is closed: silent sockets cannot hold slots.
    #[serde(with = "humantime_serde")]
    pub first_byte_timeout: Duration,
    /// A TCP connection idle this long (after its first byte) is closed.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// Give a message from an unknown address the device its hostname names. Off by
    /// default: anyone can put any hostname in a message; such records carry
    /// `sotp@32473 device_from="hostname"` in their structured data.
    pub trust_hostname: bool,
    /// Receive buffer of the UDP socket, in bytes (the kernel may cap it; the size
    /// actually granted is logged and exported as `sotp_syslog_udp_recv_buffer_bytes`).
    pub udp_recv_buffer_bytes: usize,
    /// Records gathered into one bus batch at most.
    pub batch_max: usize,
}

impl Default for SyslogConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            udp: "127.0.0.1:5514".into(),
            tcp: "127.0.0.1:5514".into(),
            tls: String::new(),
            cert: String::new(),
            key: String::new(),
            client_ca: String::new(),
            max_message_bytes: 64 * 1024,
            max_connections: 1000,
            max_connections_per_address: 32,
            first_byte_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(300),
            trust_hostname: false,
            udp_recv_buffer_bytes: 4 * 1024 * 1024,
            batch_max: 1024,
        }
    }
}

impl SyslogConfig {
    /// Every problem with the values, as (field, reason) pairs.
    pub fn validate(&self) -> Vec<(&'static str, String)> {
        let mut errors = Vec::new();
        for (field, value) in [("syslog.udp", &self.udp), ("syslog.tcp", &self.tcp)] {
            if !value.is_empty() && value.parse::<SocketAddr>().is_err() {
                errors.push((
                    field,
                    format!("`{value}` is not an address:port such as 127.0.0.1:5514 (or \"\" to turn it off)"),
                ));
            }
        }
        if !self.tls.is_empty() {
            if self.tls.parse::<SocketAddr>().is_err() {
                errors.push((
                    "syslog.tls",
                    format!("`{}` is not an address:port such as 127.0.0.1:6514 (or \"\" to turn it off)", self.tls),
                ));
            }
            if self.cert.is_empty() {
                errors.push((
                    "syslog.cert",
                    "TLS needs a PEM certificate chain file".into(),
                ));
            }
            if self.key.is_empty() {
                errors.push(("syslog.key", "TLS needs a PEM private key file".into()));
            }
        }
        if !(480..=16 * 1024 * 1024).contains(&self.max_message_bytes) {
            errors.push((
                "syslog.max_message_bytes",
                format!(
                    "must be between 480 (the RFC minimum) and 16777216, got {}",
                    self.max_message_bytes
                ),
            ));
        }
        if self.max_connections_per_address == 0 {
            errors.push((
                "syslog.max_connections_per_address",
                "must be at least 1".into(),
            ));
        }
        if self.first_byte_timeout.is_zero() {
            errors.push(("syslog.first_byte_timeout", "must be greater than 0".into()));
        }
        if self.max_connections == 0 {
            errors.push(("syslog.max_connections", "must be at least 1".into()));
        }
        if self.idle_timeout.is_zero() {
            errors.push(("syslog.idle_timeout", "must be greater than 0".into()));
        }
        if self.batch_max == 0 {
            errors.push(("syslog.batch_max", "must be at least 1".into()));
        }
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_every_problem_is_named() {
        assert!(SyslogConfig::default().validate().is_empty());
        let bad = SyslogConfig {
            udp: "nowhere".into(),
            tls: "127.0.0.1:6514".into(),
            max_message_bytes: 10,
            max_connections: 0,
            ..SyslogConfig::default()
        };
        let fields: Vec<_> = bad.validate().into_iter().map(|(f, _)| f).collect();
        assert_eq!(
            fields,
            [
                "syslog.udp",
                "syslog.cert",
                "syslog.key",
                "syslog.max_message_bytes",
                "syslog.max_connections"
            ]
        );
    }
}
