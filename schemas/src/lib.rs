//! Event types that flow through SOTP, their Arrow schemas and their JSON wire encoding.
//!
//! This crate does no I/O. Every other crate depends on it, so it stays light: only
//! `arrow-array`/`arrow-schema`, `serde` and `chrono`.
//!
//! The JSON encoding is a public interface (outside Kafka consumers read it); the files in
//! `schemas/json/` describe it and [`WIRE_VERSION`] is bumped on every change.

mod alert;
mod alert_batch;
mod command;
mod device;
mod error;
mod event;
mod ids;
mod intern;
mod inventory;
mod log;
mod log_batch;
mod metric;
mod rollup;
mod snmp;
mod snmp_settings;
mod time;
mod topic;

pub use alert::{AlertEvent, AlertState};
pub use alert_batch::{AlertBatchBuilder, alert_schema};
pub use command::{CommandBatchBuilder, CommandKind, CommandRecord, command_schema};
pub use device::{Device, PollSettings, SshAccess};
pub use error::SchemaError;
pub use event::{EventBatch, WIRE_VERSION};
pub use ids::{DeviceId, MetricName};
pub use inventory::{DeviceRecord, InventoryChange, PollRecord, SnmpRecord, SshRecord};
pub use log::LogRecord;
pub use log_batch::{LogBatchBuilder, batch_to_logs, log_schema, logs_to_batch};
pub use metric::{
    MetricBatchBuilder, MetricSample, batch_to_samples, metric_schema, samples_to_batch,
};
pub use rollup::{RollupBatchBuilder, RollupRow, batch_to_rollups, rollup_schema};
pub use snmp::{
    AuthProtocol, PrivProtocol, Secret, SecretCodec, SecretError, SnmpTarget, SnmpVersion,
    UsmSettings,
};
pub use snmp_settings::SnmpSettings;
pub use sotp_syslog::{SdMap, SdWriter, StructuredData};
pub use time::UtcNanos;
pub use topic::Topic;
