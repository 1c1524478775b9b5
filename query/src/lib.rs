//! SQL over SOTP's tables and the HTTP API.
//!
//! [`QueryEngine`] plans read-only SQL with DataFusion over [`HotColdTable`]s (the hot
//! tier and the Parquet files of one table, every row exactly once); [`api::router`]
//! serves it over HTTP together with `/health`, `/ready` and `/metrics`.

// The OpenAPI document is one large `json!` literal.
#![recursion_limit = "256"]

pub mod api;
mod config;
mod encode;
mod engine;
mod error;
mod guard;
mod inventory_table;
mod table;

pub use config::QueryConfig;
pub use encode::{QueryOutput, to_csv, to_json};
pub use engine::QueryEngine;
pub use error::QueryError;
pub use guard::check_statement;
pub use inventory_table::{InventoryKind, InventoryTable};
pub use table::{COLD_STORE_URL, HotColdTable};
