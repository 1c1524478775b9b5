//! Arrow columns as PostgreSQL sees them: the type (a built-in OID every driver knows,
//! so Grafana's pgx never meets an "unknown data type oid") and the value in
//! PostgreSQL's own text output, byte for byte: `2026-01-01 00:00:00+00` for a
//! timestamp with time zone (a space, never `T` or `Z`: lib/pq and pgx parse
//! positionally), `1e+16` and `Infinity` for floats, `t`/`f` for booleans, `\x..` for
//! bytes. Results travel in the text format (the simple query protocol's only one).

use std::fmt::Write as _;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Date32Array, Float32Array, Float64Array, Int16Array,
    Int32Array, Int64Array, StringArray, TimestampMicrosecondArray,
};
use arrow::compute::{CastOptions, cast_with_options};
use arrow::datatypes::{DataType, Field, Int16Type, Int32Type, Int64Type, TimeUnit};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use bytes::{BufMut, BytesMut};
use pgwire::api::Type;
use pgwire::api::results::{FieldFormat, FieldInfo};
use pgwire::messages::data::DataRow;

/// How one Arrow type travels: the PostgreSQL type, its `typlen`, and the Arrow type
/// the column is cast to before it is written.
#[derive(Clone, Debug)]
pub(crate) struct PgColumn {
    pub(crate) pg: Type,
    typlen: i16,
    as_arrow: DataType,
}

impl PgColumn {
    /// The PostgreSQL form of an Arrow type. Types PostgreSQL has no built-in for
    /// (lists, maps, structs, intervals) are sent as text in Arrow's display form.
    pub(crate) fn of(t: &DataType) -> PgColumn {
        let (pg, typlen, as_arrow) = match t {
            DataType::Boolean => (Type::BOOL, 1, DataType::Boolean),
            DataType::Int8 | DataType::Int16 | DataType::UInt8 => (Type::INT2, 2, DataType::Int16),
            DataType::Int32 | DataType::UInt16 => (Type::INT4, 4, DataType::Int32),
            DataType::Int64 | DataType::UInt32 | DataType::UInt64 => {
                (Type::INT8, 8, DataType::Int64)
            }
            DataType::Float16 | DataType::Float32 => (Type::FLOAT4, 4, DataType::Float32),
            DataType::Float64 => (Type::FLOAT8, 8, DataType::Float64),
            DataType::Timestamp(_, Some(_)) => (
                Type::TIMESTAMPTZ,
                8,
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            ),
            DataType::Timestamp(_, None) => (
                Type::TIMESTAMP,
                8,
                DataType::Timestamp(TimeUnit::Microsecond, None),
            ),
            DataType::Date32 | DataType::Date64 => (Type::DATE, 4, DataType::Date32),
            DataType::Decimal128(..) | DataType::Decimal256(..) => {
                (Type::NUMERIC, -1, DataType::Utf8)
            }
            DataType::Binary | DataType::LargeBinary | DataType::BinaryView => {
                (Type::BYTEA, -1, DataType::Binary)
            }
            DataType::Dictionary(_, v) => return PgColumn::of(v),
            _ => (Type::TEXT, -1, DataType::Utf8),
        };
        PgColumn {
            pg,
            typlen,
            as_arrow,
        }
    }

    /// The PostgreSQL type name, as `information_schema.columns.data_type` and
    /// `format_type()` give it (Grafana's query builder matches on these).
    pub(crate) fn type_name(&self) -> &'static str {
        match self.pg {
            Type::BOOL => "boolean",
            Type::INT2 => "smallint",
            Type::INT4 => "integer",
            Type::INT8 => "bigint",
            Type::FLOAT4 => "real",
            Type::FLOAT8 => "double precision",
            Type::TIMESTAMPTZ => "timestamp with time zone",
            Type::TIMESTAMP => "timestamp without time zone",
            Type::DATE => "date",
            Type::NUMERIC => "numeric",
            Type::BYTEA => "bytea",
            _ => "text",
        }
    }
}

/// The RowDescription of a result with these Arrow fields (text format).
pub(crate) fn fields(schema: &[Arc<Field>]) -> (Arc<Vec<FieldInfo>>, Vec<PgColumn>) {
    let columns: Vec<PgColumn> = schema.iter().map(|f| PgColumn::of(f.data_type())).collect();
    let names: Vec<&str> = schema.iter().map(|f| f.name().as_str()).collect();
    (described(&names, &columns, |_| FieldFormat::Text), columns)
}

/// The RowDescription of columns named `names` of these kinds, each in the format
/// `format(i)` asks for.
pub(crate) fn described(
    names: &[&str],
    columns: &[PgColumn],
    format: impl Fn(usize) -> FieldFormat,
) -> Arc<Vec<FieldInfo>> {
    Arc::new(
        names
            .iter()
            .zip(columns)
            .enumerate()
            .map(|(i, (name, c))| {
                FieldInfo::new(name.to_string(), None, None, c.pg.clone(), format(i))
                    .with_type_size(c.typlen)
            })
            .collect(),
    )
}

/// A RowDescription of text columns with these names (for answers SOTP makes itself).
pub(crate) fn text_fields(names: &[&str]) -> Arc<Vec<FieldInfo>> {
    Arc::new(
        names
            .iter()
            .map(|n| {
                FieldInfo::new(n.to_string(), None, None, Type::TEXT, FieldFormat::Text)
                    .with_type_size(-1)
            })
            .collect(),
    )
}

/// One row of text values (`None` is NULL).
pub(crate) fn text_row(values: &[Option<&str>]) -> DataRow {
    let mut buf = BytesMut::new();
    for v in values {
        put(&mut buf, v.map(str::as_bytes));
    }
    DataRow::new(buf, values.len() as i16)
}

fn put(buf: &mut BytesMut, v: Option<&[u8]>) {
    match v {
        Some(b) => {
            buf.put_i32(b.len() as i32);
            buf.put_slice(b);
        }
        None => buf.put_i32(-1),
    }
}

/// Writes one column's value at `row` as PostgreSQL text into `out`; false for NULL.
type Writer<'a> = Box<dyn Fn(usize, &mut String) -> bool + 'a>;
/// Writes one column's value at `row` in PostgreSQL's binary format; false for NULL.
type BinaryWriter<'a> = Box<dyn Fn(usize, &mut Vec<u8>) -> bool + 'a>;

enum Column<'a> {
    Text(Writer<'a>),
    Binary(BinaryWriter<'a>),
}

/// The DataRows of one batch's `columns` (each cast by [`PgColumn`] first), each column
/// in the text format, or in the binary format where `binary[i]` (the extended
/// protocol lets a client ask).
pub(crate) fn rows(
    columns: &[ArrayRef],
    kinds: &[PgColumn],
    binary: &[bool],
) -> Result<Vec<DataRow>, arrow::error::ArrowError> {
    let cast: Vec<ArrayRef> = columns
        .iter()
        .zip(kinds)
        .map(|(c, k)| cast_for(c, &k.as_arrow))
        .collect::<Result<_, _>>()?;
    let writers: Vec<Column<'_>> = cast
        .iter()
        .zip(kinds)
        .enumerate()
        .map(|(i, (c, k))| {
            if binary.get(i).copied().unwrap_or(false) {
                Column::Binary(binary_writer(c.as_ref(), &k.pg))
            } else {
                Column::Text(writer(c.as_ref()))
            }
        })
        .collect();
    let n = cast.first().map_or(0, |c| c.len());
    let mut out = Vec::with_capacity(n);
    let (mut text, mut bytes) = (String::new(), Vec::new());
    for row in 0..n {
        let mut buf = BytesMut::with_capacity(16 * writers.len());
        for w in &writers {
            let value = match w {
                Column::Text(w) => {
                    text.clear();
                    w(row, &mut text).then_some(text.as_bytes())
                }
                Column::Binary(w) => {
                    bytes.clear();
                    w(row, &mut bytes).then_some(bytes.as_slice())
                }
            };
            put(&mut buf, value);
        }
        out.push(DataRow::new(buf, writers.len() as i16));
    }
    Ok(out)
}

/// Microseconds from the Unix epoch to PostgreSQL's (2000-01-01).
pub(crate) const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;
/// Days from the Unix epoch to PostgreSQL's.
pub(crate) const PG_EPOCH_DAYS: i32 = 10_957;

/// PostgreSQL's binary send format of one column cast to its kind.
fn binary_writer<'a>(c: &'a dyn Array, pg: &Type) -> BinaryWriter<'a> {
    let valid = move |i: usize| c.is_valid(i);
    macro_rules! be {
        ($arr:expr) => {{
            let a = $arr;
            Box::new(move |i, b: &mut Vec<u8>| {
                valid(i) && {
                    b.extend_from_slice(&a.value(i).to_be_bytes());
                    true
                }
            })
        }};
    }
    match c.data_type() {
        DataType::Boolean => {
            let a: &BooleanArray = c.as_boolean();
            Box::new(move |i, b| {
                valid(i) && {
                    b.push(u8::from(a.value(i)));
                    true
                }
            })
        }
        DataType::Int16 => be!(c.as_primitive::<Int16Type>()),
        DataType::Int32 => be!(c.as_primitive::<Int32Type>()),
        DataType::Int64 => be!(c.as_primitive::<Int64Type>()),
        DataType::Float32 => be!(c.as_primitive::<arrow::datatypes::Float32Type>()),
        DataType::Float64 => be!(c.as_primitive::<arrow::datatypes::Float64Type>()),
        DataType::Timestamp(..) => {
            let a: &TimestampMicrosecondArray = c.as_primitive();
            Box::new(move |i, b| {
                valid(i) && {
                    b.extend_from_slice(&(a.value(i) - PG_EPOCH_MICROS).to_be_bytes());
                    true
                }
            })
        }
        DataType::Date32 => {
            let a: &Date32Array = c.as_primitive();
            Box::new(move |i, b| {
                valid(i) && {
                    b.extend_from_slice(&(a.value(i) - PG_EPOCH_DAYS).to_be_bytes());
                    true
                }
            })
        }
        DataType::Binary => {
            let a = c.as_binary::<i32>();
            Box::new(move |i, b| {
                valid(i) && {
                    b.extend_from_slice(a.value(i));
                    true
                }
            })
        }
        _ if *pg == Type::NUMERIC => {
            let a = c.as_string::<i32>();
            Box::new(move |i, b| {
                valid(i) && {
                    numeric(a.value(i), b);
                    true
                }
            })
        }
        // Text travels as its UTF-8 bytes in both formats.
        _ => {
            let a = c.as_string::<i32>();
            Box::new(move |i, b| {
                valid(i) && {
                    b.extend_from_slice(a.value(i).as_bytes());
                    true
                }
            })
        }
    }
}

/// Base-10000 digits of a run of decimal digits, four at a time.
fn base_10000(digits: &str) -> Vec<i16> {
    digits
        .as_bytes()
        .chunks(4)
        .map(|c| c.iter().fold(0i16, |n, d| n * 10 + i16::from(d - b'0')))
        .collect()
}

/// PostgreSQL's binary `numeric` of a decimal text (`-123.4500`): digit count, weight
/// of the first base-10000 digit, sign, display scale, then the digits.
pub(crate) fn numeric(text: &str, out: &mut Vec<u8>) {
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (int, frac) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let int = int.trim_start_matches('0');
    // The integer part grouped from the right, the fraction from the left.
    let int_groups = base_10000(&format!("{}{int}", "0".repeat((4 - int.len() % 4) % 4)));
    let frac_groups = base_10000(&format!("{frac}{}", "0".repeat((4 - frac.len() % 4) % 4)));
    let mut weight = int_groups.len() as i16 - 1;
    let mut digits: Vec<i16> = int_groups.into_iter().chain(frac_groups).collect();
    let leading = digits.iter().take_while(|d| **d == 0).count();
    digits.drain(..leading);
    weight -= leading as i16;
    while digits.last() == Some(&0) {
        digits.pop();
    }
    if digits.is_empty() {
        weight = 0;
    }
    let sign: u16 = if negative && !digits.is_empty() {
        0x4000
    } else {
        0
    };
    out.extend_from_slice(&(digits.len() as i16).to_be_bytes());
    out.extend_from_slice(&weight.to_be_bytes());
    out.extend_from_slice(&sign.to_be_bytes());
    out.extend_from_slice(&(frac.len() as u16).to_be_bytes());
    for d in digits {
        out.extend_from_slice(&d.to_be_bytes());
    }
}

fn cast_for(c: &ArrayRef, to: &DataType) -> Result<ArrayRef, arrow::error::ArrowError> {
    if c.data_type() == to {
        return Ok(c.clone());
    }
    if to == &DataType::Utf8
        && !matches!(
            c.data_type(),
            DataType::Dictionary(..)
                | DataType::Utf8View
                | DataType::LargeUtf8
                | DataType::Decimal128(..)
                | DataType::Decimal256(..)
        )
    {
        // Lists, maps, structs, intervals: Arrow's display form.
        let formatter = ArrayFormatter::try_new(c.as_ref(), &FormatOptions::default())?;
        let strings: StringArray = (0..c.len())
            .map(|i| c.is_valid(i).then(|| formatter.value(i).to_string()))
            .collect();
        return Ok(Arc::new(strings));
    }
    cast_with_options(c, to, &CastOptions::default())
}

fn writer(c: &dyn Array) -> Writer<'_> {
    let valid = move |i: usize| c.is_valid(i);
    match c.data_type() {
        DataType::Boolean => {
            let a: &BooleanArray = c.as_boolean();
            Box::new(move |i, s| {
                valid(i) && {
                    s.push(if a.value(i) { 't' } else { 'f' });
                    true
                }
            })
        }
        DataType::Int16 => {
            let a: &Int16Array = c.as_primitive::<Int16Type>();
            Box::new(move |i, s| valid(i) && write!(s, "{}", a.value(i)).is_ok())
        }
        DataType::Int32 => {
            let a: &Int32Array = c.as_primitive::<Int32Type>();
            Box::new(move |i, s| valid(i) && write!(s, "{}", a.value(i)).is_ok())
        }
        DataType::Int64 => {
            let a: &Int64Array = c.as_primitive::<Int64Type>();
            Box::new(move |i, s| valid(i) && write!(s, "{}", a.value(i)).is_ok())
        }
        DataType::Float32 => {
            let a: &Float32Array = c.as_primitive();
            Box::new(move |i, s| {
                valid(i) && {
                    float(s, f64::from(a.value(i)), 6, Some(a.value(i)));
                    true
                }
            })
        }
        DataType::Float64 => {
            let a: &Float64Array = c.as_primitive();
            Box::new(move |i, s| {
                valid(i) && {
                    float(s, a.value(i), 15, None);
                    true
                }
            })
        }
        DataType::Timestamp(_, tz) => {
            let a: &TimestampMicrosecondArray = c.as_primitive();
            let zone = tz.is_some();
            Box::new(move |i, s| {
                valid(i) && {
                    timestamp(s, a.value(i), zone);
                    true
                }
            })
        }
        DataType::Date32 => {
            let a: &Date32Array = c.as_primitive();
            Box::new(move |i, s| {
                valid(i) && {
                    date(s, a.value(i));
                    true
                }
            })
        }
        DataType::Binary => {
            let a = c.as_binary::<i32>();
            Box::new(move |i, s| {
                valid(i) && {
                    s.push_str("\\x");
                    for b in a.value(i) {
                        let _ = write!(s, "{b:02x}");
                    }
                    true
                }
            })
        }
        _ => {
            let a = c.as_string::<i32>();
            Box::new(move |i, s| {
                valid(i) && {
                    s.push_str(a.value(i));
                    true
                }
            })
        }
    }
}

/// PostgreSQL's float output (`float8out` with `extra_float_digits` 1): the shortest
/// digits that read back to the same value, in scientific form when the decimal
/// exponent is below -4 or at least `sci_from` (15 for float8, 6 for float4).
pub(crate) fn float(s: &mut String, v: f64, sci_from: i32, single: Option<f32>) {
    if v.is_nan() {
        s.push_str("NaN");
        return;
    }
    if v.is_infinite() {
        s.push_str(if v > 0.0 { "Infinity" } else { "-Infinity" });
        return;
    }
    if v == 0.0 {
        s.push_str(if v.is_sign_negative() { "-0" } else { "0" });
        return;
    }
    // Shortest digits for the real type (an f32 widened to f64 would print more).
    let sci = match single {
        Some(f) => format!("{f:e}"),
        None => format!("{v:e}"),
    };
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if exp < -4 || exp >= sci_from {
        let _ = write!(
            s,
            "{mantissa}e{}{:02}",
            if exp < 0 { '-' } else { '+' },
            exp.abs()
        );
    } else {
        match single {
            Some(f) => {
                let _ = write!(s, "{f}");
            }
            None => {
                let _ = write!(s, "{v}");
            }
        }
    }
}

/// `YYYY-MM-DD HH:MM:SS[.ffffff]` with trailing zeros of the fraction removed, and
/// `+00` for a timestamp with time zone (SOTP answers in UTC).
pub(crate) fn timestamp(s: &mut String, micros: i64, zone: bool) {
    let secs = micros.div_euclid(1_000_000);
    let frac = micros.rem_euclid(1_000_000);
    match chrono::DateTime::from_timestamp(secs, 0) {
        Some(t) => {
            let _ = write!(s, "{}", t.format("%Y-%m-%d %H:%M:%S"));
        }
        None => s.push_str(if micros < 0 { "-infinity" } else { "infinity" }),
    }
    if frac != 0 {
        let f = format!("{frac:06}");
        s.push('.');
        s.push_str(f.trim_end_matches('0'));
    }
    if zone {
        s.push_str("+00");
    }
}

fn date(s: &mut String, days: i32) {
    let d = chrono::NaiveDate::from_ymd_opt(1970, 1, 1)
        .and_then(|e| e.checked_add_signed(chrono::Duration::days(i64::from(days))));
    match d {
        Some(d) => {
            let _ = write!(s, "{}", d.format("%Y-%m-%d"));
        }
        None => s.push_str("infinity"),
    }
}

#[cfg(test)]
mod tests;
