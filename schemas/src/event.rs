//! What travels on the bus: batches of one event type, and their JSON wire encoding.

use crate::{
    AlertEvent, CommandRecord, InventoryChange, LogRecord, MetricSample, RollupRow, SchemaError,
    Topic,
};

/// The version of the JSON wire encoding. Bump it on every change to `schemas/json/`;
/// the Kafka bus sends it in a `schema_version` header. Version 2 added the
/// `metrics.1m` topic (rollup rows) and refused references in device secrets; version 3
/// gave alert events their identity, annotations, receivers and group; version 4 their
/// notification policies; version 5 added devices' `ssh` access and the `commands` topic.
pub const WIRE_VERSION: u32 = 5;

/// A batch of events of one type. Collectors publish batches so that the in-process bus
/// pays one queue operation per poll, not per sample.
#[derive(Clone, Debug, PartialEq)]
pub enum EventBatch {
    /// Metric samples (`metrics.raw` or `metrics`).
    Metrics(Vec<MetricSample>),
    /// Closed 1-minute rollups (`metrics.1m`).
    Rollups(Vec<RollupRow>),
    /// Log records (`logs`).
    Logs(Vec<LogRecord>),
    /// Alert transitions (`alerts`).
    Alerts(Vec<AlertEvent>),
    /// Device definitions and deletions (`inventory`).
    Inventory(Vec<InventoryChange>),
    /// SSH command runs (`commands`).
    Commands(Vec<CommandRecord>),
}

impl EventBatch {
    /// Number of events in the batch.
    pub fn len(&self) -> usize {
        match self {
            EventBatch::Metrics(v) => v.len(),
            EventBatch::Rollups(v) => v.len(),
            EventBatch::Logs(v) => v.len(),
            EventBatch::Alerts(v) => v.len(),
            EventBatch::Inventory(v) => v.len(),
            EventBatch::Commands(v) => v.len(),
        }
    }

    /// True when the batch holds no event.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Keeps the events whose flag in `keep` (one per event, in order) is true.
    pub fn retain_flagged(&mut self, keep: &[bool]) {
        fn retain<T>(v: &mut Vec<T>, keep: &[bool]) {
            let mut it = keep.iter();
            v.retain(|_| *it.next().unwrap_or(&true));
        }
        match self {
            EventBatch::Metrics(v) => retain(v, keep),
            EventBatch::Rollups(v) => retain(v, keep),
            EventBatch::Logs(v) => retain(v, keep),
            EventBatch::Alerts(v) => retain(v, keep),
            EventBatch::Inventory(v) => retain(v, keep),
            EventBatch::Commands(v) => retain(v, keep),
        }
    }

    /// Appends `other` when it holds the same kind of events; gives it back otherwise.
    pub fn try_extend(&mut self, other: EventBatch) -> Result<(), EventBatch> {
        match (self, other) {
            (EventBatch::Metrics(a), EventBatch::Metrics(b)) => a.extend(b),
            (EventBatch::Rollups(a), EventBatch::Rollups(b)) => a.extend(b),
            (EventBatch::Logs(a), EventBatch::Logs(b)) => a.extend(b),
            (EventBatch::Alerts(a), EventBatch::Alerts(b)) => a.extend(b),
            (EventBatch::Inventory(a), EventBatch::Inventory(b)) => a.extend(b),
            (EventBatch::Commands(a), EventBatch::Commands(b)) => a.extend(b),
            (_, other) => return Err(other),
        }
        Ok(())
    }

    /// Encodes each event as one JSON document (one Kafka message each). A deleted device
    /// on `inventory` encodes as an empty document: a tombstone on Kafka.
    pub fn to_json_lines(&self) -> Result<Vec<Vec<u8>>, SchemaError> {
        fn enc<T: serde::Serialize>(v: &[T]) -> Result<Vec<Vec<u8>>, SchemaError> {
            v.iter()
                .map(|e| serde_json::to_vec(e).map_err(SchemaError::from))
                .collect()
        }
        match self {
            EventBatch::Metrics(v) => v.iter().map(MetricSample::to_json).collect(),
            EventBatch::Rollups(v) => enc(v),
            EventBatch::Logs(v) => enc(v),
            EventBatch::Alerts(v) => enc(v),
            EventBatch::Commands(v) => enc(v),
            EventBatch::Inventory(v) => v
                .iter()
                .map(|c| match &c.device {
                    Some(d) => d.to_json(),
                    None => Ok(Vec::new()),
                })
                .collect(),
        }
    }

    /// Decodes one JSON document read from `topic`.
    pub fn from_json(topic: Topic, bytes: &[u8]) -> Result<EventBatch, SchemaError> {
        Ok(match topic {
            Topic::MetricsRaw | Topic::Metrics => {
                EventBatch::Metrics(vec![MetricSample::from_json(bytes)?])
            }
            Topic::Rollups => EventBatch::Rollups(vec![serde_json::from_slice(bytes)?]),
            Topic::Logs => EventBatch::Logs(vec![serde_json::from_slice(bytes)?]),
            Topic::Alerts => EventBatch::Alerts(vec![serde_json::from_slice(bytes)?]),
            Topic::Inventory => {
                let d = crate::DeviceRecord::from_json(bytes)?;
                EventBatch::Inventory(vec![InventoryChange {
                    id: d.id.clone(),
                    device: Some(d),
                }])
            }
            Topic::Commands => EventBatch::Commands(vec![serde_json::from_slice(bytes)?]),
        })
    }
}
