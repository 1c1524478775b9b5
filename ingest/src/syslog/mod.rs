//! Syslog receiver: UDP, TCP and TLS (RFC 5425) listeners and enrichment of each record
//! with its device id. Framing (RFC 6587) and the parsers for RFC 5424, RFC 3164 and
//! vendor dialects are the pure crate `sotp-syslog`.
//!
//! Every message becomes one [`sotp_schemas::LogRecord`] on the `logs` topic, parsed
//! or not: a message that no dialect reads keeps its raw bytes with `parse_error` set.
//! See `docs/syslog.md`.

mod config;
mod enrich;
mod listener;
mod tls;
mod udp_drops;

pub use config::SyslogConfig;
pub use enrich::Enricher;
pub use listener::{SyslogError, SyslogReceiver};
pub use sotp_syslog::{Dialect, Frame, FrameDecoder, Parsed, parse};
