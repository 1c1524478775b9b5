use std::sync::Arc;

use arrow::array::{Float64Array, Int64Array, StringArray, TimestampNanosecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::*;

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new(
            "time",
            DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
            false,
        ),
        Field::new("n", DataType::Int64, false),
        Field::new("device", DataType::Utf8, true),
        Field::new("value", DataType::Float64, true),
    ]))
}

/// Rows `from..to`: a timestamp one second apart, the row number, a device name (null
/// every 7th row, with a comma and a quote every 5th) and a value.
fn batch(from: i64, to: i64) -> RecordBatch {
    let r = from..to;
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(
                TimestampNanosecondArray::from_iter_values(
                    r.clone()
                        .map(|i| 1_767_225_600_000_000_000 + i * 1_000_000_000),
                )
                .with_timezone("UTC"),
            ),
            Arc::new(Int64Array::from_iter_values(r.clone())),
            Arc::new(StringArray::from_iter(r.clone().map(|i| {
                (i % 7 != 0).then(|| {
                    if i % 5 == 0 {
                        format!("edge \"{i}\", rack 2")
                    } else {
                        format!("dev-{i}")
                    }
                })
            }))),
            Arc::new(Float64Array::from_iter_values(r.map(|i| i as f64 / 4.0))),
        ],
    )
    .unwrap()
}

/// Encodes rows `0..rows` in batches of `per_batch`; returns every chunk handed out.
fn export(format: ExportFormat, rows: i64, per_batch: i64) -> Vec<Vec<u8>> {
    let mut enc = ExportEncoder::new(format, &schema()).unwrap();
    let mut chunks = Vec::new();
    let mut from = 0;
    while from < rows {
        let to = (from + per_batch).min(rows);
        chunks.push(enc.write(&batch(from, to)).unwrap());
        from = to;
    }
    chunks.push(enc.finish().unwrap());
    chunks
}

/// The row numbers (`n`) and the sum of `value` read back from a Parquet or Arrow file.
fn read_back(format: ExportFormat, bytes: Vec<u8>) -> (Vec<i64>, f64) {
    let batches: Vec<RecordBatch> = match format {
        ExportFormat::Parquet => {
            ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes))
                .unwrap()
                .build()
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
        }
        ExportFormat::Arrow => {
            arrow::ipc::reader::FileReader::try_new(std::io::Cursor::new(bytes), None)
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
        }
        other => panic!("not a binary format: {other:?}"),
    };
    let mut n: Vec<i64> = Vec::new();
    let mut sum = 0.0;
    for b in &batches {
        assert_eq!(b.schema(), schema(), "the schema survives the round trip");
        n.extend(
            b.column(1)
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap()
                .values(),
        );
        sum += b
            .column(3)
            .as_any()
            .downcast_ref::<Float64Array>()
            .unwrap()
            .values()
            .iter()
            .sum::<f64>();
    }
    (n, sum)
}

#[test]
fn parquet_and_arrow_exports_read_back_every_row_with_its_types() {
    for format in [ExportFormat::Parquet, ExportFormat::Arrow] {
        for rows in [0, 1, 10_000] {
            let bytes = export(format, rows, 4096).concat();
            let (n, sum) = read_back(format, bytes);
            assert_eq!(n, (0..rows).collect::<Vec<_>>(), "{format:?} {rows} rows");
            let expected: f64 = (0..rows).map(|i| i as f64 / 4.0).sum();
            assert_eq!(sum, expected, "{format:?} {rows} rows");
        }
    }
}

#[test]
fn a_large_parquet_export_hands_out_row_groups_before_it_ends() {
    let rows = 3 * ROW_GROUP_ROWS as i64 + 17;
    let chunks = export(ExportFormat::Parquet, rows, 65_536);
    let before_end = chunks[..chunks.len() - 1]
        .iter()
        .filter(|c| !c.is_empty())
        .count();
    assert!(
        before_end >= 3,
        "three full row groups are sent before the footer, got {before_end} non-empty chunks"
    );
    let (n, _) = read_back(ExportFormat::Parquet, chunks.concat());
    assert_eq!(n.len() as i64, rows);
    assert!(n.iter().copied().eq(0..rows), "every row once, in order");
}

#[test]
fn csv_export_has_one_header_quotes_what_needs_it_and_keeps_every_row() {
    for rows in [0, 3, 10_000] {
        let text = String::from_utf8(export(ExportFormat::Csv, rows, 999).concat()).unwrap();
        let mut reader = arrow::csv::ReaderBuilder::new(schema())
            .with_header(true)
            .build(std::io::Cursor::new(text.clone()))
            .unwrap();
        assert!(text.starts_with("time,n,device,value\n"), "{text:.60}");
        assert_eq!(text.matches("time,n,device,value").count(), 1);
        let mut n: Vec<i64> = Vec::new();
        for b in reader.by_ref() {
            let b = b.unwrap();
            n.extend(
                b.column(1)
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .unwrap()
                    .values(),
            );
        }
        assert_eq!(n, (0..rows).collect::<Vec<_>>(), "{rows} rows");
    }
    let text = String::from_utf8(export(ExportFormat::Csv, 6, 6).concat()).unwrap();
    assert!(
        text.contains("2026-01-01T00:00:05Z,5,\"edge \"\"5\"\", rack 2\",1.25"),
        "{text}"
    );
}

#[test]
fn ndjson_export_is_one_object_per_row_with_nulls_left_out() {
    let text = String::from_utf8(export(ExportFormat::Ndjson, 1000, 300).concat()).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1000);
    assert_eq!(
        lines[5],
        serde_json::json!({"time": "2026-01-01T00:00:05Z", "n": 5, "device": "edge \"5\", rack 2", "value": 1.25})
    );
    assert_eq!(
        lines[7],
        serde_json::json!({"time": "2026-01-01T00:00:07Z", "n": 7, "value": 1.75})
    );
    assert_eq!(export(ExportFormat::Ndjson, 0, 10).concat(), b"");
}

#[test]
fn format_names_parse_back_and_unknown_ones_are_named_in_the_error() {
    for f in ExportFormat::ALL {
        assert_eq!(f.as_str().parse::<ExportFormat>(), Ok(f));
    }
    let e = "xlsx".parse::<ExportFormat>().unwrap_err();
    assert!(
        e.contains("`xlsx`") && e.contains("parquet, arrow, csv or ndjson"),
        "{e}"
    );
}
