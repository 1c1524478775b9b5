//! The `sotp` binary's library: configuration, command line and the wiring of roles.
//! `main.rs` only dispatches; integration tests use these modules directly.

pub mod alerting;
pub mod backup;
pub mod bus;
pub mod cli;
pub mod components;
pub mod config;
pub mod control;
pub mod export_cmd;
pub mod health;
pub mod inventory_feed;
pub mod parse_cmd;
pub mod query_cmd;
pub mod report_cmd;
pub mod report_schedule;
pub mod roles;
pub mod run;
pub mod telemetry;
