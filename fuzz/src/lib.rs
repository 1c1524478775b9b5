//! The syslog parsers and the RFC 6587 frame decoder, compiled straight from
//! `ingest/src/syslog/` (they are pure code: bytes in, fields out) so that the fuzz
//! build instruments only them and their few dependencies, not the whole `sotp-ingest`
//! crate (Kafka, SNMP, Tokio). The fuzz targets call them exactly as the receiver does.

#![allow(dead_code, unreachable_pub)]

#[path = "../../ingest/src/syslog/framing.rs"]
pub mod framing;
#[path = "../../ingest/src/syslog/parse/mod.rs"]
pub mod parse;
