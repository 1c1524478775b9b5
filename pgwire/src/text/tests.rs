use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, Float64Array, StringArray, TimestampNanosecondArray};

use super::*;

fn f8(v: f64) -> String {
    let mut s = String::new();
    float(&mut s, v, 15, None);
    s
}

fn f4(v: f32) -> String {
    let mut s = String::new();
    float(&mut s, f64::from(v), 6, Some(v));
    s
}

/// The outputs captured from PostgreSQL 15.18 (`SELECT x::float8`, `extra_float_digits` 1).
#[test]
fn floats_print_as_postgresql_prints_them() {
    let cases = [
        (1.0, "1"),
        (0.1, "0.1"),
        (-0.0, "-0"),
        (100000000000000.0, "100000000000000"),
        (123456789012345.6, "123456789012345.6"),
        (1e15, "1e+15"),
        (1e16, "1e+16"),
        (123456789.125, "123456789.125"),
        (1e-5, "1e-05"),
        (0.0001, "0.0001"),
        (9.007199254740992e15, "9.007199254740992e+15"),
        (1e21, "1e+21"),
        (f64::NAN, "NaN"),
        (f64::INFINITY, "Infinity"),
        (f64::NEG_INFINITY, "-Infinity"),
    ];
    for (v, want) in cases {
        assert_eq!(f8(v), want, "{v:?}");
    }
    let cases4 = [
        (0.1f32, "0.1"),
        (100000.0, "100000"),
        (123456.0, "123456"),
        (1e6, "1e+06"),
        (1234567.0, "1.234567e+06"),
        (0.0001, "0.0001"),
        (1e-5, "1e-05"),
    ];
    for (v, want) in cases4 {
        assert_eq!(f4(v), want, "{v:?}");
    }
}

#[test]
fn timestamps_use_a_space_a_trimmed_fraction_and_a_short_offset() {
    let mut s = String::new();
    timestamp(&mut s, 1_767_225_600_000_000, true);
    assert_eq!(s, "2026-01-01 00:00:00+00");
    s.clear();
    timestamp(&mut s, 1_767_225_601_500_000, true);
    assert_eq!(s, "2026-01-01 00:00:01.5+00");
    s.clear();
    timestamp(&mut s, 1_767_225_600_123_456, false);
    assert_eq!(s, "2026-01-01 00:00:00.123456");
    s.clear();
    timestamp(&mut s, -1, true);
    assert_eq!(s, "1969-12-31 23:59:59.999999+00");
}

#[test]
fn a_batch_becomes_text_rows_with_nulls_as_minus_one() {
    let columns: Vec<ArrayRef> = vec![
        Arc::new(
            TimestampNanosecondArray::from(vec![Some(1_767_225_600_123_456_789), None])
                .with_timezone("UTC"),
        ),
        Arc::new(Float64Array::from(vec![Some(2.5), None])),
        Arc::new(BooleanArray::from(vec![Some(true), Some(false)])),
        Arc::new(StringArray::from(vec![Some("r1"), Some("")])),
    ];
    let kinds: Vec<PgColumn> = columns
        .iter()
        .map(|c| PgColumn::of(c.data_type()))
        .collect();
    assert_eq!(
        kinds.iter().map(|k| k.type_name()).collect::<Vec<_>>(),
        [
            "timestamp with time zone",
            "double precision",
            "boolean",
            "text"
        ]
    );
    let rows = rows(&columns, &kinds, &[]).unwrap();
    // The nanoseconds are cut to PostgreSQL's microseconds.
    let text = String::from_utf8_lossy(&rows[0].data).to_string();
    assert!(text.contains("2026-01-01 00:00:00.123456+00"), "{text:?}");
    assert!(text.contains("2.5") && text.contains('t') && text.contains("r1"));
    // Second row: NULL, NULL, f, '' (length 0, not NULL).
    let b = &rows[1].data;
    assert_eq!(&b[0..4], &(-1i32).to_be_bytes());
    assert_eq!(&b[4..8], &(-1i32).to_be_bytes());
    assert_eq!(&b[8..13], &[0, 0, 0, 1, b'f']);
    assert_eq!(&b[13..17], &0i32.to_be_bytes());
    assert_eq!(rows[1].field_count, 4);
}

#[test]
fn numeric_binary_matches_postgresqls_send_format() {
    let enc = |s: &str| {
        let mut b = Vec::new();
        numeric(s, &mut b);
        b.chunks(2)
            .map(|c| i16::from_be_bytes([c[0], c[1]]))
            .collect::<Vec<i16>>()
    };
    // ndigits, weight, sign, dscale, digits (values from PostgreSQL's numeric_send).
    assert_eq!(enc("0"), vec![0, 0, 0, 0]);
    assert_eq!(enc("123.45"), vec![2, 0, 0, 2, 123, 4500]);
    assert_eq!(enc("-12345678.9"), vec![3, 1, 0x4000, 1, 1234, 5678, 9000]);
    assert_eq!(enc("0.0001"), vec![1, -1, 0, 4, 1]);
    assert_eq!(enc("10000"), vec![1, 1, 0, 0, 1]);
    assert_eq!(enc("1.50"), vec![2, 0, 0, 2, 1, 5000]);
}

#[test]
fn binary_rows_use_postgresqls_send_formats() {
    use arrow::array::{
        BooleanArray, Float64Array, Int64Array, StringArray, TimestampMicrosecondArray,
    };
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(vec![Some(-2), None])),
        Arc::new(Float64Array::from(vec![1.5, 0.0])),
        Arc::new(BooleanArray::from(vec![true, false])),
        // 2000-01-01T00:00:01Z: one second after PostgreSQL's epoch.
        Arc::new(
            TimestampMicrosecondArray::from(vec![946_684_801_000_000, 0]).with_timezone("UTC"),
        ),
        Arc::new(StringArray::from(vec!["édge", "x"])),
    ];
    let kinds: Vec<PgColumn> = columns
        .iter()
        .map(|c| PgColumn::of(c.data_type()))
        .collect();
    let rows = rows(&columns, &kinds, &[true; 5]).unwrap();
    let mut expected = Vec::new();
    for v in [
        (-2i64).to_be_bytes().as_slice(),
        1.5f64.to_be_bytes().as_slice(),
        &[1],
        1_000_000i64.to_be_bytes().as_slice(),
        "édge".as_bytes(),
    ] {
        expected.extend_from_slice(&(v.len() as i32).to_be_bytes());
        expected.extend_from_slice(v);
    }
    assert_eq!(rows[0].data.as_ref(), expected.as_slice());
    assert_eq!(
        &rows[1].data[..4],
        &(-1i32).to_be_bytes(),
        "NULL is length -1"
    );
}
