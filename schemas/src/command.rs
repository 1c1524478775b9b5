//! One SSH command run on a device (`commands` topic, `command_outputs` table): a
//! scheduled collection or a configuration backup, with its output and the rows its
//! TextFSM template found.

use std::sync::{Arc, OnceLock};

use arrow_array::builder::{
    BooleanBuilder, Int64Builder, StringBuilder, TimestampNanosecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use serde::{Deserialize, Serialize};

use crate::{DeviceId, UtcNanos};

/// What a command run was for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CommandKind {
    /// A `[[ssh.collect]]` command.
    Collect,
    /// A configuration backup: published only when the configuration changed (its
    /// secrets masked).
    Config,
}

impl CommandKind {
    /// `collect` or `config`.
    pub fn as_str(self) -> &'static str {
        match self {
            CommandKind::Collect => "collect",
            CommandKind::Config => "config",
        }
    }
}

/// One command run (JSON on `commands`, wire version 5,
/// `schemas/json/command_record.schema.json`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandRecord {
    /// When the run started.
    pub time: UtcNanos,
    /// The device.
    pub device_id: DeviceId,
    /// The device's name.
    pub device: String,
    /// The device's platform.
    pub platform: String,
    /// The command as sent.
    pub command: String,
    /// Collection or configuration backup.
    pub kind: CommandKind,
    /// The command ran and returned its output.
    pub ok: bool,
    /// Why it did not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The output (a configuration with its secrets masked).
    pub output: String,
    /// The rows the template found, as a JSON array; none without a template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parsed: Option<String>,
    /// The template(s) used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// Milliseconds from the connection to the end of the output.
    pub duration_ms: u64,
    /// A configuration's digest (SHA-256 of the masked text without the lines that change
    /// on every collection).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_hash: Option<String>,
    /// The digest of the version this one replaces; none for a device's first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_hash: Option<String>,
}

/// The Arrow schema of the `command_outputs` table, in its fixed column order.
pub fn command_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            let s = |n: &str, nullable| Field::new(n, DataType::Utf8, nullable);
            Arc::new(Schema::new(vec![
                Field::new(
                    "time",
                    DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
                    false,
                ),
                s("device_id", false),
                s("device", false),
                s("platform", false),
                s("command", false),
                s("kind", false),
                Field::new("ok", DataType::Boolean, false),
                s("error", true),
                s("output", false),
                s("parsed", true),
                s("template", true),
                Field::new("duration_ms", DataType::Int64, false),
                s("config_hash", true),
                s("previous_hash", true),
            ]))
        })
        .clone()
}

/// Builds `command_outputs` record batches run by run.
#[derive(Debug)]
pub struct CommandBatchBuilder {
    time: TimestampNanosecondBuilder,
    device_id: StringBuilder,
    device: StringBuilder,
    platform: StringBuilder,
    command: StringBuilder,
    kind: StringBuilder,
    ok: BooleanBuilder,
    error: StringBuilder,
    output: StringBuilder,
    parsed: StringBuilder,
    template: StringBuilder,
    duration_ms: Int64Builder,
    config_hash: StringBuilder,
    previous_hash: StringBuilder,
    rows: usize,
}

impl Default for CommandBatchBuilder {
    fn default() -> Self {
        Self {
            time: TimestampNanosecondBuilder::new().with_timezone("UTC"),
            device_id: StringBuilder::new(),
            device: StringBuilder::new(),
            platform: StringBuilder::new(),
            command: StringBuilder::new(),
            kind: StringBuilder::new(),
            ok: BooleanBuilder::new(),
            error: StringBuilder::new(),
            output: StringBuilder::new(),
            parsed: StringBuilder::new(),
            template: StringBuilder::new(),
            duration_ms: Int64Builder::new(),
            config_hash: StringBuilder::new(),
            previous_hash: StringBuilder::new(),
            rows: 0,
        }
    }
}

impl CommandBatchBuilder {
    /// Appends one run.
    pub fn push(&mut self, r: &CommandRecord) {
        self.time.append_value(r.time.0);
        self.device_id.append_value(r.device_id.as_str());
        self.device.append_value(&r.device);
        self.platform.append_value(&r.platform);
        self.command.append_value(&r.command);
        self.kind.append_value(r.kind.as_str());
        self.ok.append_value(r.ok);
        self.error.append_option(r.error.as_deref());
        self.output.append_value(&r.output);
        self.parsed.append_option(r.parsed.as_deref());
        self.template.append_option(r.template.as_deref());
        self.duration_ms
            .append_value(i64::try_from(r.duration_ms).unwrap_or(i64::MAX));
        self.config_hash.append_option(r.config_hash.as_deref());
        self.previous_hash.append_option(r.previous_hash.as_deref());
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
            Arc::new(self.platform.finish()),
            Arc::new(self.command.finish()),
            Arc::new(self.kind.finish()),
            Arc::new(self.ok.finish()),
            Arc::new(self.error.finish()),
            Arc::new(self.output.finish()),
            Arc::new(self.parsed.finish()),
            Arc::new(self.template.finish()),
            Arc::new(self.duration_ms.finish()),
            Arc::new(self.config_hash.finish()),
            Arc::new(self.previous_hash.finish()),
        ];
        self.rows = 0;
        RecordBatch::try_new(command_schema(), columns).expect("command columns match schema")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_round_trips_through_json_and_fills_one_row() {
        let r = CommandRecord {
            time: UtcNanos(1_764_000_000_000_000_000),
            device_id: DeviceId::new("r1"),
            device: "r1".into(),
            platform: "cisco_ios".into(),
            command: "show running-config".into(),
            kind: CommandKind::Config,
            ok: true,
            error: None,
            output: "hostname r1\n".into(),
            parsed: None,
            template: None,
            duration_ms: 12,
            config_hash: Some("ab".into()),
            previous_hash: None,
        };
        let json = serde_json::to_string(&r).unwrap();
        assert!(json.contains(r#""kind":"config""#), "{json}");
        assert_eq!(serde_json::from_str::<CommandRecord>(&json).unwrap(), r);
        let mut b = CommandBatchBuilder::default();
        b.push(&r);
        let batch = b.finish();
        assert_eq!(batch.num_rows(), 1);
        assert_eq!(batch.schema(), command_schema());
    }
}
