//! Query results as JSON (`{"columns": [...], "rows": [[...]]}`) or CSV with a header.

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::{DataType, SchemaRef};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use serde_json::{Map, Number, Value};

use crate::QueryError;

/// The complete result of one query.
#[derive(Debug, Clone)]
pub struct QueryOutput {
    /// Column names and types.
    pub schema: SchemaRef,
    /// The rows.
    pub batches: Vec<RecordBatch>,
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
