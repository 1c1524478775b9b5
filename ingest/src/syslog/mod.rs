//! Syslog receiver: UDP, TCP and TLS (RFC 5425) listeners, RFC 6587 framing, parsers for RFC 5424,
//! RFC 3164 and vendor dialects, and enrichment of each record with its device id.
//!
//! Every message becomes one [`sotp_schemas::LogRecord`] on the `logs` topic, parsed
//! or not: a message that no dialect reads keeps its raw bytes with `parse_error` set.
//! See `docs/syslog.md`.

mod config;
mod enrich;
pub mod framing;
mod listener;
pub mod parse;
mod tls;
mod udp_drops;

pub use config::SyslogConfig;
pub use enrich::Enricher;
pub use framing::{Frame, FrameDecoder};
pub use listener::{SyslogError, SyslogReceiver};
pub use parse::{Dialect, Parsed, parse};
