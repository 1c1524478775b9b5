//! Exports: a query's result encoded batch by batch as Parquet, Arrow IPC, CSV or
//! newline-delimited JSON, the bytes handed out as soon as they are ready, so an export
//! of any size holds one batch and (for Parquet) one row group at a time.

use std::io::Write;
use std::sync::{Arc, Mutex};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::QueryError;

/// The formats an export can take.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    /// Apache Parquet, zstd-compressed, row groups of at most 1 Mi rows.
    Parquet,
    /// The Arrow IPC file format (Feather v2).
    Arrow,
    /// CSV with a header row; timestamps in RFC 3339.
    Csv,
    /// One JSON object per line.
    Ndjson,
}

impl ExportFormat {
    /// Every format, in the order the documentation lists them.
    pub const ALL: [ExportFormat; 4] = [
        ExportFormat::Parquet,
        ExportFormat::Arrow,
        ExportFormat::Csv,
        ExportFormat::Ndjson,
    ];

    /// The name used in requests and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            ExportFormat::Parquet => "parquet",
            ExportFormat::Arrow => "arrow",
            ExportFormat::Csv => "csv",
            ExportFormat::Ndjson => "ndjson",
        }
    }

    /// The HTTP content type.
    pub fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Parquet => "application/vnd.apache.parquet",
            ExportFormat::Arrow => "application/vnd.apache.arrow.file",
            ExportFormat::Csv => "text/csv; charset=utf-8",
            ExportFormat::Ndjson => "application/x-ndjson",
        }
    }

    /// The usual file name extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::Parquet => "parquet",
            ExportFormat::Arrow => "arrow",
            ExportFormat::Csv => "csv",
            ExportFormat::Ndjson => "ndjson",
        }
    }
}

impl std::str::FromStr for ExportFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| {
                format!("unknown export format `{s}`: use parquet, arrow, csv or ndjson")
            })
    }
}

/// Parquet row groups end at this many rows, or earlier at [`ROW_GROUP_BYTES`].
const ROW_GROUP_ROWS: usize = 1 << 20;
/// A Parquet row group is closed once its encoded columns hold this many bytes, which
/// bounds what an export of wide rows keeps in memory.
const ROW_GROUP_BYTES: usize = 64 << 20;

/// Bytes written by an encoder and not yet handed out.
#[derive(Clone, Debug, Default)]
struct Pending(Arc<Mutex<Vec<u8>>>);

impl Pending {
    fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl Write for Pending {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

enum Writer {
    Parquet(ArrowWriter<Pending>),
    Arrow(arrow::ipc::writer::FileWriter<Pending>),
    Csv(arrow::csv::Writer<Pending>),
    Ndjson(arrow::json::LineDelimitedWriter<Pending>),
}

/// Encodes one result in one format: [`ExportEncoder::write`] for each batch, then
/// [`ExportEncoder::finish`]; each returns the bytes that are ready.
pub struct ExportEncoder {
    writer: Writer,
    pending: Pending,
}

impl std::fmt::Debug for ExportEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExportEncoder").finish_non_exhaustive()
    }
}

fn failed(format: ExportFormat) -> impl Fn(String) -> QueryError {
    move |e| {
        QueryError::Internal(format!(
            "cannot encode the export as {}: {e}",
            format.as_str()
        ))
    }
}

impl ExportEncoder {
    /// An encoder of results with `schema` in `format`.
    pub fn new(format: ExportFormat, schema: &SchemaRef) -> Result<Self, QueryError> {
        let pending = Pending::default();
        let err = failed(format);
        let writer = match format {
            ExportFormat::Parquet => {
                let props = WriterProperties::builder()
                    .set_compression(Compression::ZSTD(ZstdLevel::default()))
                    .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
                    .build();
                Writer::Parquet(
                    ArrowWriter::try_new(pending.clone(), schema.clone(), Some(props))
                        .map_err(|e| err(e.to_string()))?,
                )
            }
            ExportFormat::Arrow => Writer::Arrow(
                arrow::ipc::writer::FileWriter::try_new(pending.clone(), schema)
                    .map_err(|e| err(e.to_string()))?,
            ),
            ExportFormat::Csv => Writer::Csv(
                arrow::csv::WriterBuilder::new()
                    .with_header(true)
                    .build(pending.clone()),
            ),
            ExportFormat::Ndjson => {
                Writer::Ndjson(arrow::json::LineDelimitedWriter::new(pending.clone()))
            }
        };
        let mut encoder = Self { writer, pending };
        if let Writer::Csv(w) = &mut encoder.writer {
            // The header, even for an empty result.
            w.write(&RecordBatch::new_empty(schema.clone()))
                .map_err(|e| err(e.to_string()))?;
        }
        Ok(encoder)
    }

    fn format(&self) -> ExportFormat {
        match self.writer {
            Writer::Parquet(_) => ExportFormat::Parquet,
            Writer::Arrow(_) => ExportFormat::Arrow,
            Writer::Csv(_) => ExportFormat::Csv,
            Writer::Ndjson(_) => ExportFormat::Ndjson,
        }
    }

    /// Encodes one batch; returns the bytes ready to send (possibly none: Parquet keeps
    /// a row group until it is full).
    pub fn write(&mut self, batch: &RecordBatch) -> Result<Vec<u8>, QueryError> {
        let err = failed(self.format());
        match &mut self.writer {
            Writer::Parquet(w) => {
                w.write(batch).map_err(|e| err(e.to_string()))?;
                if w.in_progress_size() >= ROW_GROUP_BYTES {
                    w.flush().map_err(|e| err(e.to_string()))?;
                }
            }
            Writer::Arrow(w) => w.write(batch).map_err(|e| err(e.to_string()))?,
            Writer::Csv(w) => w.write(batch).map_err(|e| err(e.to_string()))?,
            Writer::Ndjson(w) => w.write(batch).map_err(|e| err(e.to_string()))?,
        }
        Ok(self.pending.take())
    }

    /// Ends the file (Parquet and Arrow footers); returns the last bytes.
    pub fn finish(self) -> Result<Vec<u8>, QueryError> {
        let err = failed(self.format());
        match self.writer {
            Writer::Parquet(w) => w.close().map(drop).map_err(|e| err(e.to_string()))?,
            Writer::Arrow(mut w) => w.finish().map_err(|e| err(e.to_string()))?,
            Writer::Csv(_) => {}
            Writer::Ndjson(mut w) => w.finish().map_err(|e| err(e.to_string()))?,
        }
        Ok(self.pending.take())
    }
}

#[cfg(test)]
mod tests;
