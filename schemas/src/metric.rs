//! The metric sample: one value of one series at one time, and its Arrow form.
//!
//! The sample is narrow: `time, device_id, device, metric, instance, value, counter,
//! labels, collector`. Gauges carry `value` only; raw counters carry the exact `counter`
//! (u64). In Rust and on the JSON wire a raw counter's `value` repeats the counter as f64
//! for convenience; in Arrow and Parquet that copy is stored as NULL (it would double the
//! bytes of every counter sample) and restored on the way back.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use arrow_array::builder::{
    Float64Builder, StringBuilder, TimestampNanosecondBuilder, UInt64Builder,
};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, TimestampNanosecondType, UInt64Type};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use serde::{Deserialize, Serialize};

use crate::{DeviceId, MetricName, SchemaError, UtcNanos};

/// One sample of one series.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricSample {
    /// When the value was measured (UTC, nanoseconds).
    pub time: UtcNanos,
    /// The device's stable id.
    pub device_id: DeviceId,
    /// The device's display name at the time of the sample.
    #[serde(deserialize_with = "crate::intern::deserialize")]
    pub device: Arc<str>,
    /// Dotted metric name, for example `icmp.rtt_ms`.
    pub metric: MetricName,
    /// The sub-object (interface name, CPU index), or none.
    #[serde(default, deserialize_with = "crate::intern::option")]
    pub instance: Option<Arc<str>>,
    /// The value as a float (gauges, rates, ratios; raw counters converted).
    pub value: f64,
    /// The exact raw counter for counter samples, else none. On the wire it is a decimal
    /// string so that JSON consumers without 64-bit integers keep every digit.
    #[serde(default, with = "counter_string")]
    pub counter: Option<u64>,
    /// Free-form labels (for example `alias`, `counter_width`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// The collector that produced the sample (`icmp`, `snmp`, ...).
    #[serde(deserialize_with = "crate::intern::deserialize")]
    pub collector: Arc<str>,
}

impl MetricSample {
    /// A gauge sample without instance or labels.
    pub fn gauge(
        time: UtcNanos,
        device_id: &DeviceId,
        device: &Arc<str>,
        collector: &Arc<str>,
        metric: &MetricName,
        value: f64,
    ) -> Self {
        Self {
            time,
            device_id: device_id.clone(),
            device: device.clone(),
            metric: metric.clone(),
            instance: None,
            value,
            counter: None,
            labels: BTreeMap::new(),
            collector: collector.clone(),
        }
    }

    /// Decodes one sample from its JSON wire form (one Kafka message). SOTP's own canonical
    /// encoding is read in one pass; any other valid JSON for a sample is decoded by serde.
    pub fn from_json(bytes: &[u8]) -> Result<Self, SchemaError> {
        match wire::decode(bytes) {
            Some(sample) => Ok(sample),
            None => Ok(serde_json::from_slice(bytes)?),
        }
    }

    /// The JSON wire form of the sample (one Kafka message): SOTP's canonical encoding,
    /// byte for byte what `serde_json` writes, written directly when no string needs an
    /// escape.
    pub fn to_json(&self) -> Result<Vec<u8>, SchemaError> {
        let mut out = Vec::with_capacity(192);
        if wire::encode(self, &mut out) {
            return Ok(out);
        }
        Ok(serde_json::to_vec(self)?)
    }

    /// The series key: (device id, metric, instance).
    pub fn series(&self) -> (&str, &str, Option<&str>) {
        (
            self.device_id.as_str(),
            self.metric.as_str(),
            self.instance.as_deref(),
        )
    }
}

mod counter_string {
    use std::fmt;

    use serde::de::{self, Visitor};
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.collect_str(v),
            None => s.serialize_none(),
        }
    }

    /// A counter read from its decimal string without copying the string.
    struct Counter(u64);

    impl<'de> Deserialize<'de> for Counter {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_str(Decimal)
        }
    }

    struct Decimal;

    impl Visitor<'_> for Decimal {
        type Value = Counter;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a counter as a decimal string")
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Counter, E> {
            v.parse::<u64>().map(Counter).map_err(E::custom)
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        Ok(Option::<Counter>::deserialize(d)?.map(|c| c.0))
    }
}

/// The Arrow schema of the `metrics` table, in its fixed column order.
pub fn metric_schema() -> SchemaRef {
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
                Field::new("value", DataType::Float64, true),
                Field::new("counter", DataType::UInt64, true),
                Field::new("labels", DataType::Utf8, true),
                Field::new("collector", DataType::Utf8, false),
            ]))
        })
        .clone()
}

/// Builds a `metrics` record batch sample by sample.
#[derive(Debug)]
pub struct MetricBatchBuilder {
    time: TimestampNanosecondBuilder,
    device_id: StringBuilder,
    device: StringBuilder,
    metric: StringBuilder,
    instance: StringBuilder,
    value: Float64Builder,
    counter: UInt64Builder,
    labels: StringBuilder,
    collector: StringBuilder,
    rows: usize,
}

impl MetricBatchBuilder {
    /// A builder with room for `capacity` rows.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            time: TimestampNanosecondBuilder::with_capacity(capacity).with_timezone("UTC"),
            device_id: StringBuilder::with_capacity(capacity, capacity * 8),
            device: StringBuilder::with_capacity(capacity, capacity * 8),
            metric: StringBuilder::with_capacity(capacity, capacity * 12),
            instance: StringBuilder::with_capacity(capacity, capacity * 4),
            value: Float64Builder::with_capacity(capacity),
            counter: UInt64Builder::with_capacity(capacity),
            labels: StringBuilder::with_capacity(capacity, 0),
            collector: StringBuilder::with_capacity(capacity, capacity * 4),
            rows: 0,
        }
    }

    /// Appends one sample.
    pub fn push(&mut self, s: &MetricSample) {
        self.time.append_value(s.time.0);
        self.device_id.append_value(s.device_id.as_str());
        self.device.append_value(&s.device);
        self.metric.append_value(s.metric.as_str());
        self.instance.append_option(s.instance.as_deref());
        match s.counter {
            // The float copy of a raw counter is derivable: store it once, exactly.
            Some(c) if c as f64 == s.value => self.value.append_null(),
            _ => self.value.append_value(s.value),
        }
        self.counter.append_option(s.counter);
        if s.labels.is_empty() {
            self.labels.append_null();
        } else {
            // A BTreeMap of strings always serialises.
            let json = serde_json::to_string(&s.labels).unwrap_or_default();
            self.labels.append_value(json);
        }
        self.collector.append_value(&s.collector);
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
            Arc::new(self.value.finish()),
            Arc::new(self.counter.finish()),
            Arc::new(self.labels.finish()),
            Arc::new(self.collector.finish()),
        ];
        self.rows = 0;
        // The columns match the schema by construction.
        RecordBatch::try_new(metric_schema(), columns).expect("metric columns match schema")
    }
}

/// Converts samples into one `metrics` record batch.
pub fn samples_to_batch(samples: &[MetricSample]) -> RecordBatch {
    let mut b = MetricBatchBuilder::with_capacity(samples.len());
    for s in samples {
        b.push(s);
    }
    b.finish()
}

pub(crate) fn column<'a>(
    batch: &'a RecordBatch,
    name: &'static str,
) -> Result<&'a ArrayRef, SchemaError> {
    batch.column_by_name(name).ok_or(SchemaError::Column {
        column: name,
        reason: "missing".into(),
    })
}

pub(crate) fn strings<'a>(
    batch: &'a RecordBatch,
    name: &'static str,
) -> Result<&'a arrow_array::StringArray, SchemaError> {
    column(batch, name)?
        .as_string_opt::<i32>()
        .ok_or(SchemaError::Column {
            column: name,
            reason: "expected Utf8".into(),
        })
}

/// Converts a `metrics` record batch back into samples (the inverse of [`samples_to_batch`]).
pub fn batch_to_samples(batch: &RecordBatch) -> Result<Vec<MetricSample>, SchemaError> {
    let time = column(batch, "time")?
        .as_primitive_opt::<TimestampNanosecondType>()
        .ok_or(SchemaError::Column {
            column: "time",
            reason: "expected Timestamp(ns)".into(),
        })?;
    let device_id = strings(batch, "device_id")?;
    let device = strings(batch, "device")?;
    let metric = strings(batch, "metric")?;
    let instance = strings(batch, "instance")?;
    let labels = strings(batch, "labels")?;
    let collector = strings(batch, "collector")?;
    let value = column(batch, "value")?
        .as_primitive_opt::<Float64Type>()
        .ok_or(SchemaError::Column {
            column: "value",
            reason: "expected Float64".into(),
        })?;
    let counter = column(batch, "counter")?
        .as_primitive_opt::<UInt64Type>()
        .ok_or(SchemaError::Column {
            column: "counter",
            reason: "expected UInt64".into(),
        })?;
    (0..batch.num_rows())
        .map(|i| {
            let labels = if labels.is_null(i) {
                BTreeMap::new()
            } else {
                serde_json::from_str(labels.value(i))?
            };
            Ok(MetricSample {
                time: UtcNanos(time.value(i)),
                device_id: DeviceId::new(device_id.value(i)),
                device: Arc::from(device.value(i)),
                metric: MetricName::new(metric.value(i)),
                instance: (!instance.is_null(i)).then(|| Arc::from(instance.value(i))),
                value: if value.is_null(i) {
                    if counter.is_null(i) {
                        f64::NAN
                    } else {
                        counter.value(i) as f64
                    }
                } else {
                    value.value(i)
                },
                counter: (!counter.is_null(i)).then(|| counter.value(i)),
                labels,
                collector: Arc::from(collector.value(i)),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests;
mod wire;
