//! Syslog parsing on its own: every dialect SOTP reads ([`parse`]), the RFC 6587 frame
//! decoder of syslog over TCP ([`framing`]) and the structured data both produce
//! ([`StructuredData`]). Bytes in, fields out: no I/O, no async runtime, no Arrow, so
//! that the fuzzers, the benchmarks and other projects can build it alone (see
//! `README.md`). The receiver (`sotp-ingest`) turns a [`Parsed`] message into a log record.

pub mod framing;
pub mod parse;
mod structured_data;

pub use framing::{Frame, FrameDecoder};
pub use parse::{Dialect, Parsed, parse};
pub use structured_data::{SdMap, SdWriter, StructuredData};
