//! The SQL engine over SOTP's tables: [`QueryEngine`] plans read-only SQL with
//! DataFusion over [`HotColdTable`]s (the hot tier and the Parquet files of one table,
//! every row exactly once) and the inventory's tables, guarded ([`check_statement`]) and
//! limited in time, memory and rows; results encode as JSON or CSV ([`to_json`],
//! [`to_csv`]). No front door lives here: `sotp-server` serves it over HTTP (and the
//! PostgreSQL wire) through one authentication function.

mod config;
mod encode;
mod engine;
mod error;
mod export;
mod guard;
mod inventory_table;
mod limits;
pub mod pg;
mod table;
mod typed;

pub use config::QueryConfig;
pub use encode::{CsvChunks, JsonChunks, QueryOutput, to_csv, to_json};
pub use engine::{BatchStream, Caller, QueryEngine};
pub use error::QueryError;
pub use export::{ExportEncoder, ExportFormat};
pub use guard::check_statement;
pub use inventory_table::{InventoryKind, InventoryTable};
pub use table::{COLD_STORE_URL, HotColdTable};
