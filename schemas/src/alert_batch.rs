//! The Arrow form of [`AlertEvent`]: the `alerts` table (every transition, the history
//! of every alert) and its batch builder. Labels and annotations are JSON object strings.

use std::sync::{Arc, OnceLock};

use arrow_array::builder::{Float64Builder, StringBuilder, TimestampNanosecondBuilder};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};

use crate::AlertEvent;

fn ts(name: &str, nullable: bool) -> Field {
    Field::new(
        name,
        DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
        nullable,
    )
}

/// The Arrow schema of the `alerts` table, in its fixed column order.
pub fn alert_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            let s = |n: &str| Field::new(n, DataType::Utf8, false);
            Arc::new(Schema::new(vec![
                ts("time", false),
                s("alert_id"),
                s("fingerprint"),
                s("rule"),
                s("state"),
                s("severity"),
                Field::new("device_id", DataType::Utf8, true),
                Field::new("value", DataType::Float64, true),
                s("message"),
                s("labels"),
                s("annotations"),
                ts("starts_at", true),
            ]))
        })
        .clone()
}

/// Builds `alerts` record batches transition by transition.
#[derive(Debug)]
pub struct AlertBatchBuilder {
    time: TimestampNanosecondBuilder,
    alert_id: StringBuilder,
    fingerprint: StringBuilder,
    rule: StringBuilder,
    state: StringBuilder,
    severity: StringBuilder,
    device_id: StringBuilder,
    value: Float64Builder,
    message: StringBuilder,
    labels: StringBuilder,
    annotations: StringBuilder,
    starts_at: TimestampNanosecondBuilder,
    rows: usize,
}

impl Default for AlertBatchBuilder {
    fn default() -> Self {
        Self {
            time: TimestampNanosecondBuilder::new().with_timezone("UTC"),
            alert_id: StringBuilder::new(),
            fingerprint: StringBuilder::new(),
            rule: StringBuilder::new(),
            state: StringBuilder::new(),
            severity: StringBuilder::new(),
            device_id: StringBuilder::new(),
            value: Float64Builder::new(),
            message: StringBuilder::new(),
            labels: StringBuilder::new(),
            annotations: StringBuilder::new(),
            starts_at: TimestampNanosecondBuilder::new().with_timezone("UTC"),
            rows: 0,
        }
    }
}

impl AlertBatchBuilder {
    /// Appends one transition.
    pub fn push(&mut self, e: &AlertEvent) {
        self.time.append_value(e.time.0);
        self.alert_id.append_value(&e.alert_id);
        self.fingerprint.append_value(&e.fingerprint);
        self.rule.append_value(&e.rule_name);
        self.state.append_value(e.state.as_str());
        self.severity.append_value(&e.severity);
        self.device_id
            .append_option(e.device_id.as_ref().map(|d| d.as_str()));
        self.value.append_option(e.value.filter(|v| v.is_finite()));
        self.message.append_value(&e.message);
        self.labels
            .append_value(serde_json::to_string(&e.labels).unwrap_or_default());
        self.annotations
            .append_value(serde_json::to_string(&e.annotations).unwrap_or_default());
        self.starts_at.append_option(e.starts_at.map(|t| t.0));
        self.rows += 1;
    }

    /// Rows appended so far.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// True when nothing was appended.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Finishes the batch and resets the builder.
    pub fn finish(&mut self) -> RecordBatch {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.time.finish()),
            Arc::new(self.alert_id.finish()),
            Arc::new(self.fingerprint.finish()),
            Arc::new(self.rule.finish()),
            Arc::new(self.state.finish()),
            Arc::new(self.severity.finish()),
            Arc::new(self.device_id.finish()),
            Arc::new(self.value.finish()),
            Arc::new(self.message.finish()),
            Arc::new(self.labels.finish()),
            Arc::new(self.annotations.finish()),
            Arc::new(self.starts_at.finish()),
        ];
        self.rows = 0;
        RecordBatch::try_new(alert_schema(), columns).expect("alert columns match schema")
    }
}
