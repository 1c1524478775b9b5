//! What travels on the bus: batches of one event type, and their JSON wire encoding.

use crate::{AlertEvent, InventoryChange, LogRecord, MetricSample, SchemaError, Topic};

/// The version of the JSON wire encoding. Bump it on every change to `schemas/json/`;
/// the Kafka bus sends it in a `schema_version` header.
pub const WIRE_VERSION: u32 = 1;

/// A batch of events of one type. Collectors publish batches so that the in-process bus
/// pays one queue operation per poll, not per sample.
#[derive(Clone, Debug, PartialEq)]
pub enum EventBatch {
    /// Metric samples (`metrics.raw` or `metrics`).
    Metrics(Vec<MetricSample>),
    /// Log records (`logs`).
    Logs(Vec<LogRecord>),
    /// Alert transitions (`alerts`).
    Alerts(Vec<AlertEvent>),
    /// Device definitions and deletions (`inventory`).
    Inventory(Vec<InventoryChange>),
}

impl EventBatch {
    /// Number of events in the batch.
    pub fn len(&self) -> usize {
        match self {
            EventBatch::Metrics(v) => v.len(),
            EventBatch::Logs(v) => v.len(),
            EventBatch::Alerts(v) => v.len(),
            EventBatch::Inventory(v) => v.len(),
        }
    }

    /// True when the batch holds no event.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
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
            EventBatch::Metrics(v) => enc(v),
            EventBatch::Logs(v) => enc(v),
            EventBatch::Alerts(v) => enc(v),
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
                EventBatch::Metrics(vec![serde_json::from_slice(bytes)?])
            }
            Topic::Logs => EventBatch::Logs(vec![serde_json::from_slice(bytes)?]),
            Topic::Alerts => EventBatch::Alerts(vec![serde_json::from_slice(bytes)?]),
            Topic::Inventory => {
                let d = crate::DeviceRecord::from_json(bytes)?;
                EventBatch::Inventory(vec![InventoryChange {
                    id: d.id.clone(),
                    device: Some(d),
                }])
            }
            Topic::Commands => {
                return Err(SchemaError::Column {
                    column: "topic",
                    reason: format!("no event type is defined for topic `{topic}` yet"),
                });
            }
        })
    }
}
