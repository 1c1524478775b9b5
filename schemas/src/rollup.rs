//! The 1-minute rollup row (`metrics_1m` table): min, avg, max and count of one series
//! over one minute, and its Arrow form.

use std::sync::{Arc, OnceLock};

use arrow_array::builder::{
    Float64Builder, StringBuilder, TimestampNanosecondBuilder, UInt64Builder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use serde::{Deserialize, Serialize};

use crate::{DeviceId, MetricName, UtcNanos};

/// One closed minute of one series: a row of `metrics_1m`, and one message on the
/// `metrics.1m` topic (`schemas/json/rollup_row.schema.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RollupRow {
    /// Start of the minute (UTC).
    pub time: UtcNanos,
    /// The device's stable id.
    pub device_id: DeviceId,
    /// The device's display name.
    pub device: Arc<str>,
    /// Metric name.
    pub metric: MetricName,
    /// Sub-object, or none.
    #[serde(default)]
    pub instance: Option<Arc<str>>,
    /// Smallest value in the minute.
    pub min: f64,
    /// Mean of the values in the minute.
    pub avg: f64,
    /// Largest value in the minute.
    pub max: f64,
    /// Number of samples in the minute.
    pub count: u64,
}

/// The Arrow schema of the `metrics_1m` table.
pub fn rollup_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            Arc::new(Schema::new(vec![
                Field::new(
                    "time",
                    DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
                    false,
                ),
                Field::new("device_id", DataType::Utf8, false),
                Field::new("device", DataType::Utf8, false),
                Field::new("metric", DataType::Utf8, false),
                Field::new("instance", DataType::Utf8, true),
                Field::new("min", DataType::Float64, false),
                Field::new("avg", DataType::Float64, false),
                Field::new("max", DataType::Float64, false),
                Field::new("count", DataType::UInt64, false),
            ]))
        })
        .clone()
}

/// Builds `metrics_1m` record batches row by row.
#[derive(Debug)]
pub struct RollupBatchBuilder {
    time: TimestampNanosecondBuilder,
    device_id: StringBuilder,
    device: StringBuilder,
    metric: StringBuilder,
    instance: StringBuilder,
    min: Float64Builder,
    avg: Float64Builder,
    max: Float64Builder,
    count: UInt64Builder,
    rows: usize,
}

impl Default for RollupBatchBuilder {
    fn default() -> Self {
        Self {
            time: TimestampNanosecondBuilder::new().with_timezone("UTC"),
            device_id: StringBuilder::new(),
            device: StringBuilder::new(),
            metric: StringBuilder::new(),
            instance: StringBuilder::new(),
            min: Float64Builder::new(),
            avg: Float64Builder::new(),
            max: Float64Builder::new(),
            count: UInt64Builder::new(),
            rows: 0,
        }
    }
}

impl RollupBatchBuilder {
    /// Appends one row.
    pub fn push(&mut self, r: &RollupRow) {
        self.time.append_value(r.time.0);
        self.device_id.append_value(r.device_id.as_str());
        self.device.append_value(&r.device);
        self.metric.append_value(r.metric.as_str());
        self.instance.append_option(r.instance.as_deref());
        self.min.append_value(r.min);
        self.avg.append_value(r.avg);
        self.max.append_value(r.max);
        self.count.append_value(r.count);
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
            Arc::new(self.device_id.finish()),
            Arc::new(self.device.finish()),
            Arc::new(self.metric.finish()),
            Arc::new(self.instance.finish()),
            Arc::new(self.min.finish()),
            Arc::new(self.avg.finish()),
            Arc::new(self.max.finish()),
            Arc::new(self.count.finish()),
        ];
        self.rows = 0;
        RecordBatch::try_new(rollup_schema(), columns).expect("rollup columns match schema")
    }
}
