//! The 1-minute rollup row (`metrics_1m` table): min, avg, max and count of one series
//! over one minute, and its Arrow form.

use std::sync::{Arc, OnceLock};

use arrow_array::builder::{
    Float64Builder, StringBuilder, TimestampNanosecondBuilder, UInt64Builder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use serde::{Deserialize, Serialize};

use crate::metric::{column, strings};
use crate::{DeviceId, MetricName, SchemaError, UtcNanos};

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

/// Converts a `metrics_1m` record batch back into rows (the inverse of
/// [`RollupBatchBuilder`]).
pub fn batch_to_rollups(batch: &RecordBatch) -> Result<Vec<RollupRow>, SchemaError> {
    use arrow_array::Array;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Float64Type, TimestampNanosecondType, UInt64Type};
    let wrong = |column: &'static str, what: &str| SchemaError::Column {
        column,
        reason: format!("expected {what}"),
    };
    let time = column(batch, "time")?
        .as_primitive_opt::<TimestampNanosecondType>()
        .ok_or_else(|| wrong("time", "Timestamp(ns)"))?;
    let float = |name: &'static str| {
        column(batch, name)?
            .as_primitive_opt::<Float64Type>()
            .ok_or_else(|| wrong(name, "Float64"))
    };
    let (min, avg, max) = (float("min")?, float("avg")?, float("max")?);
    let count = column(batch, "count")?
        .as_primitive_opt::<UInt64Type>()
        .ok_or_else(|| wrong("count", "UInt64"))?;
    let device_id = strings(batch, "device_id")?;
    let device = strings(batch, "device")?;
    let metric = strings(batch, "metric")?;
    let instance = strings(batch, "instance")?;
    Ok((0..batch.num_rows())
        .map(|i| RollupRow {
            time: UtcNanos(time.value(i)),
            device_id: DeviceId::new(device_id.value(i)),
            device: Arc::from(device.value(i)),
            metric: MetricName::new(metric.value(i)),
            instance: (!instance.is_null(i)).then(|| Arc::from(instance.value(i))),
            min: min.value(i),
            avg: avg.value(i),
            max: max.value(i),
            count: count.value(i),
        })
        .collect())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_read_back_as_written_with_and_without_instance() {
        let row = |instance: Option<&str>, n: u64| RollupRow {
            time: UtcNanos(60_000_000_000 * n as i64),
            device_id: DeviceId::new("r1"),
            device: Arc::from("r1"),
            metric: MetricName::new("if.in_bps"),
            instance: instance.map(Arc::from),
            min: 1.0,
            avg: 2.5,
            max: 4.0,
            count: n,
        };
        let rows = vec![row(Some("Gi0/1"), 3), row(None, 4)];
        let mut b = RollupBatchBuilder::default();
        for r in &rows {
            b.push(r);
        }
        assert_eq!(batch_to_rollups(&b.finish()).unwrap(), rows);
    }
}
