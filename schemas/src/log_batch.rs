//! The Arrow form of [`LogRecord`]: the `logs` table's schema and a batch builder.
//!
//! Structured data is stored as a JSON object string (`{"SD-ID": {"name": "value"}}`),
//! `raw` as binary (the exact bytes received), times as UTC nanosecond timestamps.

use std::sync::{Arc, OnceLock};

use arrow_array::builder::{
    BinaryBuilder, BooleanBuilder, StringBuilder, TimestampNanosecondBuilder, UInt8Builder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};

use crate::metric::{column, strings};
use crate::{DeviceId, LogRecord, SchemaError, StructuredData, UtcNanos};

fn ts(name: &str, nullable: bool) -> Field {
    Field::new(
        name,
        DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
        nullable,
    )
}

/// The Arrow schema of the `logs` table, in its fixed column order.
pub fn log_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            Arc::new(Schema::new(vec![
                ts("received_at", false),
                ts("time", true),
                Field::new("source_address", DataType::Utf8, false),
                Field::new("device_id", DataType::Utf8, true),
                Field::new("hostname", DataType::Utf8, true),
                Field::new("facility", DataType::UInt8, true),
                Field::new("severity", DataType::UInt8, true),
                Field::new("app_name", DataType::Utf8, true),
                Field::new("procid", DataType::Utf8, true),
                Field::new("msgid", DataType::Utf8, true),
                Field::new("structured_data", DataType::Utf8, true),
                Field::new("vendor_mnemonic", DataType::Utf8, true),
                Field::new("message", DataType::Utf8, false),
                Field::new("raw", DataType::Binary, false),
                Field::new("parse_error", DataType::Boolean, false),
            ]))
        })
        .clone()
}

/// Converts a `logs` record batch back into records (the inverse of [`logs_to_batch`]).
pub fn batch_to_logs(batch: &RecordBatch) -> Result<Vec<LogRecord>, SchemaError> {
    use arrow_array::Array;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{TimestampNanosecondType, UInt8Type};
    let wrong = |column: &'static str, what: &str| SchemaError::Column {
        column,
        reason: format!("expected {what}"),
    };
    let times = |name: &'static str| {
        column(batch, name)?
            .as_primitive_opt::<TimestampNanosecondType>()
            .ok_or_else(|| wrong(name, "Timestamp(ns)"))
    };
    let small = |name: &'static str| {
        column(batch, name)?
            .as_primitive_opt::<UInt8Type>()
            .ok_or_else(|| wrong(name, "UInt8"))
    };
    let (received_at, time) = (times("received_at")?, times("time")?);
    let (facility, severity) = (small("facility")?, small("severity")?);
    let source_address = strings(batch, "source_address")?;
    let device_id = strings(batch, "device_id")?;
    let hostname = strings(batch, "hostname")?;
    let app_name = strings(batch, "app_name")?;
    let procid = strings(batch, "procid")?;
    let msgid = strings(batch, "msgid")?;
    let structured_data = strings(batch, "structured_data")?;
    let vendor_mnemonic = strings(batch, "vendor_mnemonic")?;
    let message = strings(batch, "message")?;
    let raw = column(batch, "raw")?
        .as_binary_opt::<i32>()
        .ok_or_else(|| wrong("raw", "Binary"))?;
    let parse_error = column(batch, "parse_error")?
        .as_boolean_opt()
        .ok_or_else(|| wrong("parse_error", "Boolean"))?;
    let text =
        |a: &arrow_array::StringArray, i: usize| (!a.is_null(i)).then(|| a.value(i).to_string());
    Ok((0..batch.num_rows())
        .map(|i| LogRecord {
            received_at: UtcNanos(received_at.value(i)),
            time: (!time.is_null(i)).then(|| UtcNanos(time.value(i))),
            source_address: source_address.value(i).to_string(),
            device_id: (!device_id.is_null(i)).then(|| DeviceId::new(device_id.value(i))),
            hostname: text(hostname, i),
            facility: (!facility.is_null(i)).then(|| facility.value(i)),
            severity: (!severity.is_null(i)).then(|| severity.value(i)),
            app_name: text(app_name, i),
            procid: text(procid, i),
            msgid: text(msgid, i),
            structured_data: match structured_data.is_null(i) {
                true => StructuredData::default(),
                false => StructuredData::from_json(structured_data.value(i)).unwrap_or_default(),
            },
            vendor_mnemonic: text(vendor_mnemonic, i),
            message: message.value(i).to_string(),
            raw: raw.value(i).to_vec(),
            parse_error: parse_error.value(i),
        })
        .collect())
}

/// Builds a `logs` record batch record by record.
#[derive(Debug)]
pub struct LogBatchBuilder {
    received_at: TimestampNanosecondBuilder,
    time: TimestampNanosecondBuilder,
    source_address: StringBuilder,
    device_id: StringBuilder,
    hostname: StringBuilder,
    facility: UInt8Builder,
    severity: UInt8Builder,
    app_name: StringBuilder,
    procid: StringBuilder,
    msgid: StringBuilder,
    structured_data: StringBuilder,
    vendor_mnemonic: StringBuilder,
    message: StringBuilder,
    raw: BinaryBuilder,
    parse_error: BooleanBuilder,
    rows: usize,
    /// The rows asked for at creation: the most a finished builder is sized for again.
    capacity: usize,
}

impl LogBatchBuilder {
    /// A builder with room for `capacity` rows.
    pub fn with_capacity(capacity: usize) -> Self {
        let s = |bytes: usize| StringBuilder::with_capacity(capacity, capacity * bytes);
        Self {
            received_at: TimestampNanosecondBuilder::with_capacity(capacity).with_timezone("UTC"),
            time: TimestampNanosecondBuilder::with_capacity(capacity).with_timezone("UTC"),
            source_address: s(16),
            device_id: s(8),
            hostname: s(8),
            facility: UInt8Builder::with_capacity(capacity),
            severity: UInt8Builder::with_capacity(capacity),
            app_name: s(8),
            procid: s(4),
            msgid: s(4),
            structured_data: s(0),
            vendor_mnemonic: s(8),
            message: s(128),
            raw: BinaryBuilder::with_capacity(capacity, capacity * 192),
            parse_error: BooleanBuilder::with_capacity(capacity),
            rows: 0,
            capacity,
        }
    }

    /// Appends one record.
    pub fn push(&mut self, r: &LogRecord) {
        self.received_at.append_value(r.received_at.0);
        self.time.append_option(r.time.map(|t| t.0));
        self.source_address.append_value(&r.source_address);
        self.device_id
            .append_option(r.device_id.as_ref().map(|d| d.as_str()));
        self.hostname.append_option(r.hostname.as_deref());
        self.facility.append_option(r.facility);
        self.severity.append_option(r.severity);
        self.app_name.append_option(r.app_name.as_deref());
        self.procid.append_option(r.procid.as_deref());
        self.msgid.append_option(r.msgid.as_deref());
        self.structured_data
            .append_option(r.structured_data.as_json());
        self.vendor_mnemonic
            .append_option(r.vendor_mnemonic.as_deref());
        self.message.append_value(&r.message);
        self.raw.append_value(&r.raw);
        self.parse_error.append_value(r.parse_error);
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

    /// Finishes the batch and resets the builder, sized for as many rows as this batch
    /// had (arrow's `finish` would leave empty buffers, grown again by doubling and
    /// copying on every batch).
    pub fn finish(&mut self) -> RecordBatch {
        let next = Self::with_capacity(self.rows.clamp(16, self.capacity.max(16)));
        let mut b = std::mem::replace(self, next);
        let columns: Vec<ArrayRef> = vec![
            Arc::new(b.received_at.finish()),
            Arc::new(b.time.finish()),
            Arc::new(b.source_address.finish()),
            Arc::new(b.device_id.finish()),
            Arc::new(b.hostname.finish()),
            Arc::new(b.facility.finish()),
            Arc::new(b.severity.finish()),
            Arc::new(b.app_name.finish()),
            Arc::new(b.procid.finish()),
            Arc::new(b.msgid.finish()),
            Arc::new(b.structured_data.finish()),
            Arc::new(b.vendor_mnemonic.finish()),
            Arc::new(b.message.finish()),
            Arc::new(b.raw.finish()),
            Arc::new(b.parse_error.finish()),
        ];
        self.capacity = b.capacity;
        // The columns match the schema by construction.
        RecordBatch::try_new(log_schema(), columns).expect("log columns match schema")
    }
}

/// Converts records into one `logs` record batch.
pub fn logs_to_batch(records: &[LogRecord]) -> RecordBatch {
    let mut b = LogBatchBuilder::with_capacity(records.len());
    for r in records {
        b.push(r);
    }
    b.finish()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use arrow_array::Array;
    use arrow_array::cast::AsArray;

    use super::*;
    use crate::{DeviceId, StructuredData, UtcNanos};

    #[test]
    fn a_record_fills_every_column_and_nulls_stay_null() {
        let mut sd = BTreeMap::new();
        sd.insert(
            "meta".to_string(),
            BTreeMap::from([("seq".to_string(), "1".to_string())]),
        );
        let full = LogRecord {
            received_at: UtcNanos(2),
            time: Some(UtcNanos(1)),
            source_address: "127.0.0.1:514".into(),
            device_id: Some(DeviceId::new("r1")),
            hostname: Some("r1".into()),
            facility: Some(23),
            severity: Some(5),
            app_name: Some("app".into()),
            procid: Some("12".into()),
            msgid: Some("ID".into()),
            structured_data: StructuredData::from_map(&sd),
            vendor_mnemonic: Some("SYS-5-CONFIG_I".into()),
            message: "hello".into(),
            raw: vec![0xff, b'x'],
            parse_error: false,
        };
        let bare = LogRecord {
            received_at: UtcNanos(3),
            time: None,
            source_address: "127.0.0.2:514".into(),
            device_id: None,
            hostname: None,
            facility: None,
            severity: None,
            app_name: None,
            procid: None,
            msgid: None,
            structured_data: StructuredData::new(),
            vendor_mnemonic: None,
            message: "junk".into(),
            raw: b"junk".to_vec(),
            parse_error: true,
        };
        // A finished builder starts again empty, sized for the last batch.
        let mut builder = LogBatchBuilder::with_capacity(1);
        builder.push(&bare);
        assert_eq!(builder.finish().num_rows(), 1);
        builder.push(&full);
        builder.push(&bare);
        assert_eq!(builder.len(), 2);
        let again = builder.finish();
        assert!(builder.is_empty());
        let b = logs_to_batch(&[full.clone(), bare.clone()]);
        assert_eq!(
            batch_to_logs(&b).unwrap(),
            vec![full, bare],
            "read back as written"
        );
        assert_eq!(again, b);
        assert_eq!(b.schema(), log_schema());
        assert_eq!(b.num_rows(), 2);
        let sd = b
            .column_by_name("structured_data")
            .unwrap()
            .as_string::<i32>();
        assert_eq!(sd.value(0), r#"{"meta":{"seq":"1"}}"#);
        assert!(sd.is_null(1));
        let raw = b.column_by_name("raw").unwrap().as_binary::<i32>();
        assert_eq!(raw.value(0), &[0xff, b'x']);
        for col in ["time", "device_id", "hostname", "facility", "app_name"] {
            assert!(b.column_by_name(col).unwrap().is_null(1), "{col}");
            assert!(!b.column_by_name(col).unwrap().is_null(0), "{col}");
        }
    }
}
