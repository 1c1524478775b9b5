//! `sotp_schemas::{StructuredData, SdWriter, SdMap}` for the fuzz build, from
//! `schemas/src/structured_data.rs` itself.

#[path = "../../../schemas/src/structured_data.rs"]
mod structured_data;

pub use structured_data::{SdMap, SdWriter, StructuredData};
