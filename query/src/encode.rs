//! Query results as JSON (`{"columns": [...], "rows": [[...]]}`) or CSV with a header.

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::{DataType, SchemaRef};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use serde_json::{Map, Number, Value};

use crate::QueryError;

/// The complete result of one query. While it lives, its memory counts against the
/// query budget.
#[derive(Debug, Clone)]
pub struct QueryOutput {
    /// Column names and types.
    pub schema: SchemaRef,
    /// The rows.
    pub batches: Vec<RecordBatch>,
    /// The result's reservation in the query budget (none for a result made outside the
    /// engine).
    pub(crate) _held: Option<std::sync::Arc<datafusion::execution::memory_pool::MemoryReservation>>,
}

impl QueryOutput {
    /// A result made outside the engine (tests, tools).
    pub fn new(schema: SchemaRef, batches: Vec<RecordBatch>) -> Self {
        Self {
            schema,
            batches,
            _held: None,
        }
    }
}

impl QueryOutput {
    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }
}

fn json_value(array: &ArrayRef, fmt: &ArrayFormatter<'_>, i: usize) -> Value {
    use arrow::datatypes::*;
    if array.is_null(i) {
        return Value::Null;
    }
    macro_rules! int {
        ($t:ty) => {
            Value::Number(Number::from(array.as_primitive::<$t>().value(i)))
        };
    }
    match array.data_type() {
        DataType::Boolean => Value::Bool(array.as_boolean().value(i)),
        DataType::Int8 => int!(Int8Type),
        DataType::Int16 => int!(Int16Type),
        DataType::Int32 => int!(Int32Type),
        DataType::Int64 => int!(Int64Type),
        DataType::UInt8 => int!(UInt8Type),
        DataType::UInt16 => int!(UInt16Type),
        DataType::UInt32 => int!(UInt32Type),
        DataType::UInt64 => int!(UInt64Type),
        DataType::Float32 => {
            Number::from_f64(f64::from(array.as_primitive::<Float32Type>().value(i)))
                .map_or(Value::Null, Value::Number)
        }
        DataType::Float64 => Number::from_f64(array.as_primitive::<Float64Type>().value(i))
            .map_or(Value::Null, Value::Number),
        DataType::Utf8 => Value::String(array.as_string::<i32>().value(i).to_string()),
        DataType::LargeUtf8 => Value::String(array.as_string::<i64>().value(i).to_string()),
        DataType::Utf8View => Value::String(array.as_string_view().value(i).to_string()),
        _ => Value::String(fmt.value(i).to_string()),
    }
}

/// Encodes a result as `{"columns": [{"name", "type"}], "rows": [[...], ...]}`.
///
/// Integers stay exact, floats are JSON numbers (NaN and infinities become null),
/// timestamps are RFC 3339 strings, other types their Arrow text form.
pub fn to_json(out: &QueryOutput) -> Result<Value, QueryError> {
    let columns: Vec<Value> = out
        .schema
        .fields()
        .iter()
        .map(|f| {
            let mut m = Map::new();
            m.insert("name".into(), Value::String(f.name().clone()));
            m.insert("type".into(), Value::String(type_name(f.data_type())));
            Value::Object(m)
        })
        .collect();
    let options = FormatOptions::default().with_null("");
    let mut rows = Vec::with_capacity(out.rows());
    for batch in &out.batches {
        let formatters = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| QueryError::Internal(e.to_string()))?;
        for i in 0..batch.num_rows() {
            rows.push(Value::Array(
                batch
                    .columns()
                    .iter()
                    .zip(&formatters)
                    .map(|(c, f)| json_value(c, f, i))
                    .collect(),
            ));
        }
    }
    Ok(serde_json::json!({ "columns": columns, "rows": rows }))
}

fn type_name(t: &DataType) -> String {
    match t {
        DataType::Timestamp(unit, Some(tz)) => format!("Timestamp({unit:?}, {tz})"),
        other => other.to_string(),
    }
}

/// Encodes a result as CSV with a header row; timestamps in RFC 3339.
pub fn to_csv(out: &QueryOutput) -> Result<Vec<u8>, QueryError> {
    let mut buf = Vec::new();
    {
        let mut w = arrow::csv::WriterBuilder::new()
            .with_header(true)
            .build(&mut buf);
        if out.batches.is_empty() {
            // Still print the header for an empty result.
            let empty = RecordBatch::new_empty(out.schema.clone());
            w.write(&empty)
                .map_err(|e| QueryError::Internal(e.to_string()))?;
        }
        for b in &out.batches {
            w.write(b)
                .map_err(|e| QueryError::Internal(e.to_string()))?;
        }
    }
    Ok(buf)
}

/// Bytes of one encoded chunk of a result, about.
const CHUNK: usize = 64 * 1024;

/// A result encoded as JSON (the document of [`to_json`]) in chunks of about 64 KiB,
/// made as they are asked for: a response streams them without holding the whole text,
/// and the result (with its memory reservation) lives until the last one is made.
#[derive(Debug)]
pub struct JsonChunks {
    out: QueryOutput,
    batch: usize,
    row: usize,
    started: bool,
    /// A row was written: the next one needs a comma.
    wrote_row: bool,
    done: bool,
}

impl JsonChunks {
    /// The chunks of `out`.
    pub fn new(out: QueryOutput) -> Self {
        Self {
            out,
            batch: 0,
            row: 0,
            started: false,
            wrote_row: false,
            done: false,
        }
    }

    fn header(&self) -> Result<Vec<u8>, QueryError> {
        let columns: Vec<Value> = self
            .out
            .schema
            .fields()
            .iter()
            .map(|f| serde_json::json!({"name": f.name(), "type": type_name(f.data_type())}))
            .collect();
        let mut buf = b"{\"columns\":".to_vec();
        serde_json::to_writer(&mut buf, &columns)
            .map_err(|e| QueryError::Internal(e.to_string()))?;
        buf.extend_from_slice(b",\"rows\":[");
        Ok(buf)
    }

    /// Rows from the current position until about [`CHUNK`] bytes.
    fn rows(&mut self, buf: &mut Vec<u8>) -> Result<(), QueryError> {
        let options = FormatOptions::default().with_null("");
        while buf.len() < CHUNK && self.batch < self.out.batches.len() {
            let batch = &self.out.batches[self.batch];
            let formatters = batch
                .columns()
                .iter()
                .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| QueryError::Internal(e.to_string()))?;
            while buf.len() < CHUNK && self.row < batch.num_rows() {
                if std::mem::replace(&mut self.wrote_row, true) {
                    buf.push(b',');
                }
                let row: Vec<Value> = batch
                    .columns()
                    .iter()
                    .zip(&formatters)
                    .map(|(c, f)| json_value(c, f, self.row))
                    .collect();
                serde_json::to_writer(&mut *buf, &row)
                    .map_err(|e| QueryError::Internal(e.to_string()))?;
                self.row += 1;
            }
            if self.row == batch.num_rows() {
                self.batch += 1;
                self.row = 0;
            }
        }
        Ok(())
    }
}

impl Iterator for JsonChunks {
    type Item = Result<Vec<u8>, QueryError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let mut buf = Vec::with_capacity(CHUNK + 1024);
        if !self.started {
            self.started = true;
            match self.header() {
                Ok(h) => buf = h,
                Err(e) => return Some(Err(e)),
            }
        }
        if let Err(e) = self.rows(&mut buf) {
            self.done = true;
            return Some(Err(e));
        }
        if self.batch >= self.out.batches.len() {
            buf.extend_from_slice(b"]}");
            self.done = true;
        }
        Some(Ok(buf))
    }
}

/// A result encoded as CSV with a header row, in chunks of at most 1,024 rows, made as
/// they are asked for (see [`JsonChunks`]).
#[derive(Debug)]
pub struct CsvChunks {
    out: QueryOutput,
    batch: usize,
    row: usize,
    header: bool,
    done: bool,
}

impl CsvChunks {
    /// The chunks of `out`.
    pub fn new(out: QueryOutput) -> Self {
        Self {
            out,
            batch: 0,
            row: 0,
            header: true,
            done: false,
        }
    }
}

impl Iterator for CsvChunks {
    type Item = Result<Vec<u8>, QueryError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let slice = match self.out.batches.get(self.batch) {
            Some(b) => {
                let n = (b.num_rows() - self.row).min(1024);
                let s = b.slice(self.row, n);
                self.row += n;
                if self.row >= b.num_rows() {
                    self.batch += 1;
                    self.row = 0;
                }
                s
            }
            None => {
                self.done = true;
                if !self.header {
                    return None;
                }
                RecordBatch::new_empty(self.out.schema.clone())
            }
        };
        let mut buf = Vec::new();
        let written = arrow::csv::WriterBuilder::new()
            .with_header(std::mem::take(&mut self.header))
            .build(&mut buf)
            .write(&slice);
        Some(
            written
                .map(|()| buf)
                .map_err(|e| QueryError::Internal(e.to_string())),
        )
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{Field, Schema};

    use super::*;

    fn output(rows: i64) -> QueryOutput {
        let schema = Arc::new(Schema::new(vec![
            Field::new("n", DataType::Int64, false),
            Field::new("s", DataType::Utf8, true),
        ]));
        let batches = [0..rows / 2, rows / 2..rows]
            .into_iter()
            .map(|r| {
                RecordBatch::try_new(
                    schema.clone(),
                    vec![
                        Arc::new(Int64Array::from_iter_values(r.clone())),
                        Arc::new(StringArray::from_iter(
                            r.map(|i| (i % 3 != 0).then(|| format!("row \"{i}\""))),
                        )),
                    ],
                )
                .unwrap()
            })
            .collect();
        QueryOutput::new(schema, batches)
    }

    #[test]
    fn chunked_json_and_csv_equal_the_whole_encodings() {
        for rows in [0, 1, 7, 20_000] {
            let out = output(rows);
            let whole = to_json(&out).unwrap();
            let chunks: Vec<Vec<u8>> = JsonChunks::new(out.clone())
                .collect::<Result<_, _>>()
                .unwrap();
            if rows == 20_000 {
                assert!(chunks.len() > 3, "{} chunks", chunks.len());
            }
            let streamed: Value = serde_json::from_slice(&chunks.concat()).unwrap();
            assert_eq!(streamed, whole, "{rows} rows");
            let csv: Vec<u8> = CsvChunks::new(out.clone())
                .collect::<Result<Vec<_>, _>>()
                .unwrap()
                .concat();
            assert_eq!(csv, to_csv(&out).unwrap(), "{rows} rows");
        }
    }
}
