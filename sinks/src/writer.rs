//! Encodes record batches as Parquet files laid out for time series.
//!
//! Rows are sorted by series (device_id, metric, instance) then time, so that string
//! columns become long runs (dictionary + RLE cost almost nothing), timestamps become
//! small regular deltas (DELTA_BINARY_PACKED), and float values of one series sit
//! together (BYTE_STREAM_SPLIT, then zstd).

use std::collections::HashMap;

use arrow::array::{ArrayRef, RecordBatch};
use arrow::compute::{SortOptions, interleave_record_batch};
use arrow::datatypes::{DataType, SchemaRef};
use arrow::row::{Row, RowConverter, SortField};
use bytes::Bytes;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::metadata::SortingColumn;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use crate::StoreError;
use crate::paths::TablePaths;

/// How to sort and encode one table.
#[derive(Clone, Debug)]
pub struct Layout {
    /// The columns that identify a series, in sort order.
    pub series: Vec<&'static str>,
    /// The time column (sorted last).
    pub time: &'static str,
    /// Free-text columns written without min/max statistics: the bounds of long,
    /// nearly unique text prune nothing (searches are `contains` or regex), and
    /// comparing every value for them was 7 % of the encode work of a log row.
    pub free_text: Vec<&'static str>,
}

impl Layout {
    /// The `metrics` table's layout.
    pub fn metrics() -> Self {
        Self {
            series: vec!["device_id", "metric", "instance"],
            time: "time",
            free_text: Vec::new(),
        }
    }

    /// The `logs` table's layout: by device (then sender), then receive time.
    pub fn logs() -> Self {
        Self {
            series: vec!["device_id", "source_address"],
            time: "received_at",
            free_text: vec!["message", "raw", "structured_data"],
        }
    }

    /// The `metrics_1m` rollup table's layout (same series key as `metrics`).
    pub fn rollups() -> Self {
        Self::metrics()
    }

    /// The `alerts` table's layout: by rule and instance, then time (an alert's timeline
    /// is one run).
    pub fn alerts() -> Self {
        Self {
            series: vec!["rule", "fingerprint"],
            time: "time",
            free_text: vec!["message", "annotations"],
        }
    }

    /// The `command_outputs` table's layout: by device and command, then time (a
    /// device's configuration history is one run).
    pub fn commands() -> Self {
        Self {
            series: vec!["device_id", "command"],
            time: "time",
            free_text: vec!["output", "parsed", "error"],
        }
    }
}

fn column(batch: &RecordBatch, name: &str) -> Result<ArrayRef, StoreError> {
    Ok(batch
        .column_by_name(name)
        .ok_or_else(|| arrow::error::ArrowError::SchemaError(format!("no column `{name}`")))?
        .clone())
}

/// Rows as `(batch, row)` pairs in (hour, series, time) order (`None` when the rows are
/// in that order already), and each row's hour in that order.
type Order = (Option<Vec<(usize, usize)>>, Vec<i64>);

/// The (hour, series, time) order of the rows of `batches`.
///
/// Comparing string columns row by row is what makes a multi-column sort slow. A flush
/// holds few series and many rows, so each distinct series is ranked once (on arrow's
/// row format, one memcmp per comparison) and rows are then sorted on a plain
/// `(hour, rank, time)` key. On 2 million rows (`sotp-bench ingest-parts`) sort and
/// split went from 1.77 s with arrow's `lexsort_to_indices` to 1.27 s.
fn sort_order(batches: &[&RecordBatch], layout: &Layout) -> Result<Order, StoreError> {
    let schema = batches[0].schema();
    let options = SortOptions {
        descending: false,
        nulls_first: true,
    };
    let fields = layout
        .series
        .iter()
        .map(|n| {
            let f = schema.field_with_name(n)?;
            Ok(SortField::new_with_options(f.data_type().clone(), options))
        })
        .collect::<Result<_, arrow::error::ArrowError>>()?;
    let converter = RowConverter::new(fields)?;
    let n: usize = batches.iter().map(|b| b.num_rows()).sum();
    let mut rows = converter.empty_rows(n, n * 16);
    let mut times = Vec::with_capacity(n);
    let mut origin = Vec::with_capacity(n);
    for (b, batch) in batches.iter().enumerate() {
        let series: Vec<ArrayRef> = layout
            .series
            .iter()
            .map(|name| column(batch, name))
            .collect::<Result<_, _>>()?;
        converter.append(&mut rows, &series)?;
        let time = column(batch, layout.time)?;
        let time = time
            .as_any()
            .downcast_ref::<arrow::array::TimestampNanosecondArray>()
            .ok_or_else(|| {
                arrow::error::ArrowError::SchemaError(format!(
                    "`{}` is not a timestamp(ns)",
                    layout.time
                ))
            })?;
        times.extend_from_slice(time.values());
        origin.extend((0..batch.num_rows()).map(|r| (b, r)));
    }
    let mut ids: HashMap<Row<'_>, u32> = HashMap::new();
    let mut distinct: Vec<Row<'_>> = Vec::new();
    // A row of the same series as the row before (runs are common: a device's polls, a
    // sender's burst) is one memcmp, not a hash look-up.
    let mut last: Option<(Row<'_>, u32)> = None;
    let row_ids: Vec<u32> = rows
        .iter()
        .map(|r| {
            if let Some((prev, id)) = last
                && prev == r
            {
                return id;
            }
            let id = *ids.entry(r).or_insert_with(|| {
                distinct.push(r);
                (distinct.len() - 1) as u32
            });
            last = Some((r, id));
            id
        })
        .collect();
    let mut by_key: Vec<u32> = (0..distinct.len() as u32).collect();
    by_key.sort_unstable_by(|a, b| distinct[*a as usize].cmp(&distinct[*b as usize]));
    let mut rank = vec![0u32; distinct.len()];
    for (r, id) in by_key.into_iter().enumerate() {
        rank[id as usize] = r as u32;
    }
    let mut keys: Vec<(i64, u32, i64, u32)> = times
        .iter()
        .zip(&row_ids)
        .enumerate()
        .map(|(i, (t, id))| (TablePaths::hour_of(*t), rank[*id as usize], *t, i as u32))
        .collect();
    // Rows often arrive in order already (one sender, one series): no sort, no copy.
    if keys.is_sorted() {
        return Ok((None, keys.iter().map(|k| k.0).collect()));
    }
    keys.sort_unstable();
    let hours = keys.iter().map(|k| k.0).collect();
    let order = keys.into_iter().map(|k| origin[k.3 as usize]).collect();
    Ok((Some(order), hours))
}

/// Sorts the rows of `batches` (one schema) by hour, series and time, and splits them
/// into the rows of each hour. Rows already in order stay where they are (an hour is
/// then slices of the batches: no copy); otherwise each hour is gathered into one
/// batch. The batches are never concatenated first.
pub fn split_by_hour(
    batches: &[RecordBatch],
    layout: &Layout,
) -> Result<Vec<(i64, Vec<RecordBatch>)>, StoreError> {
    let batches: Vec<&RecordBatch> = batches.iter().filter(|b| b.num_rows() > 0).collect();
    let n: usize = batches.iter().map(|b| b.num_rows()).sum();
    if n == 0 {
        return Ok(Vec::new());
    }
    u32::try_from(n)
        .map_err(|_| arrow::error::ArrowError::ComputeError("flush too large to sort".into()))?;
    let (order, hours) = sort_order(&batches, layout)?;
    // Runs of one hour, as ranges of the sorted order.
    let mut runs = Vec::new();
    let mut start = 0;
    for i in 1..=hours.len() {
        if i == hours.len() || hours[i] != hours[start] {
            runs.push((hours[start], start..i));
            start = i;
        }
    }
    let Some(order) = order else {
        // In order already: cut the batches at the hour boundaries.
        let (mut b, mut offset) = (0, 0);
        let mut out = Vec::with_capacity(runs.len());
        for (hour, range) in runs {
            let mut parts = Vec::new();
            let mut left = range.len();
            while left > 0 {
                let take = (batches[b].num_rows() - offset).min(left);
                parts.push(batches[b].slice(offset, take));
                left -= take;
                offset += take;
                if offset == batches[b].num_rows() {
                    (b, offset) = (b + 1, 0);
                }
            }
            out.push((hour, parts));
        }
        return Ok(out);
    };
    runs.into_iter()
        .map(|(hour, range)| {
            Ok((
                hour,
                vec![interleave_record_batch(&batches, &order[range])?],
            ))
        })
        .collect()
}

/// Writer settings chosen per column type for time series.
pub fn writer_properties(
    schema: &SchemaRef,
    layout: &Layout,
    row_group_rows: usize,
    zstd_level: i32,
) -> Result<WriterProperties, StoreError> {
    let level = ZstdLevel::try_new(zstd_level)?;
    let mut b = WriterProperties::builder()
        .set_compression(Compression::ZSTD(level))
        .set_max_row_group_row_count(Some(row_group_rows))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_created_by(format!("sotp {}", env!("CARGO_PKG_VERSION")));
    let mut sorting = Vec::new();
    for (i, field) in schema.fields().iter().enumerate() {
        let path = ColumnPath::from(field.name().as_str());
        b = match field.data_type() {
            DataType::Timestamp(..) | DataType::Int64 | DataType::UInt64 => b
                .set_column_dictionary_enabled(path.clone(), false)
                .set_column_encoding(path, Encoding::DELTA_BINARY_PACKED),
            // Repeated gauge values (up = 1, loss = 0) stay dictionary-encoded; when the
            // dictionary grows too large, the fallback is byte-stream-split.
            DataType::Float64 => b.set_column_encoding(path, Encoding::BYTE_STREAM_SPLIT),
            _ if layout.free_text.contains(&field.name().as_str()) => b
                .set_column_dictionary_enabled(path.clone(), true)
                .set_column_statistics_enabled(path, EnabledStatistics::None),
            _ => b.set_column_dictionary_enabled(path, true),
        };
        if layout.series.contains(&field.name().as_str()) || field.name() == layout.time {
            sorting.push((field.name().clone(), i));
        }
    }
    // Record the sort order so engines can use it.
    let order: Vec<SortingColumn> = layout
        .series
        .iter()
        .chain(std::iter::once(&layout.time))
        .filter_map(|n| sorting.iter().find(|(f, _)| f == n))
        .map(|(_, i)| SortingColumn {
            column_idx: *i as i32,
            descending: false,
            nulls_first: true,
        })
        .collect();
    Ok(b.set_sorting_columns(Some(order)).build())
}

/// Encodes sorted rows (the parts of one hour, in order) as a complete Parquet file in
/// memory.
pub fn encode(parts: &[RecordBatch], props: WriterProperties) -> Result<Bytes, StoreError> {
    encode_with(parts, props, |_| {})
}

/// [`encode`], with `finish` adding to the file's metadata before it is closed.
pub(crate) fn encode_with(
    parts: &[RecordBatch],
    props: WriterProperties,
    finish: impl FnOnce(&mut ArrowWriter<&mut Vec<u8>>),
) -> Result<Bytes, StoreError> {
    let Some(first) = parts.first() else {
        return Err(arrow::error::ArrowError::ComputeError("nothing to encode".into()).into());
    };
    let size: usize = parts.iter().map(RecordBatch::get_array_memory_size).sum();
    let mut buf = Vec::with_capacity(size / 4 + 1024);
    let mut w = ArrowWriter::try_new(&mut buf, first.schema(), Some(props))?;
    for part in parts {
        w.write(part)?;
    }
    finish(&mut w);
    w.close()?;
    Ok(Bytes::from(buf))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{AsArray, StringArray, TimestampNanosecondArray};
    use arrow::datatypes::{Field, Schema, TimeUnit, TimestampNanosecondType};

    use super::*;

    const H: i64 = 3_600_000_000_000;

    fn batch(rows: &[(&str, i64)]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new(
                "received_at",
                DataType::Timestamp(TimeUnit::Nanosecond, None),
                false,
            ),
            Field::new("device_id", DataType::Utf8, true),
            Field::new("source_address", DataType::Utf8, false),
        ]));
        let columns: Vec<ArrayRef> = vec![
            Arc::new(TimestampNanosecondArray::from_iter_values(
                rows.iter().map(|r| r.1),
            )),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0))),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|_| "a"))),
        ];
        RecordBatch::try_new(schema, columns).unwrap()
    }

    fn split(rows: &[(&str, i64)]) -> Vec<(i64, Vec<(String, i64)>)> {
        split_by_hour(&[batch(rows)], &Layout::logs())
            .unwrap()
            .into_iter()
            .map(|(h, parts)| {
                let b = arrow::compute::concat_batches(&parts[0].schema(), &parts).unwrap();
                let t = b.column(0).as_primitive::<TimestampNanosecondType>();
                let d = b.column(1).as_string::<i32>();
                (
                    h,
                    (0..b.num_rows())
                        .map(|i| (d.value(i).to_string(), t.value(i)))
                        .collect(),
                )
            })
            .collect()
    }

    #[test]
    fn rows_are_sorted_by_hour_series_and_time_whether_sorted_or_not() {
        let want = vec![
            (0, vec![("a".into(), 5), ("b".into(), 1)]),
            (1, vec![("a".into(), H + 2), ("a".into(), H + 3)]),
        ];
        // Out of order: sorted and split.
        assert_eq!(
            split(&[("a", H + 3), ("b", 1), ("a", H + 2), ("a", 5)]),
            want
        );
        // In order already (the shortcut without a copy): the same answer.
        assert_eq!(
            split(&[("a", 5), ("b", 1), ("a", H + 2), ("a", H + 3)]),
            want
        );
    }

    /// Rows of several batches, cut into hours as `(series, time)` lists, and how many
    /// parts each hour came in.
    type Split = Vec<(i64, usize, Vec<(String, i64)>)>;

    fn split_batches(batches: &[Vec<(&str, i64)>]) -> Split {
        let batches: Vec<RecordBatch> = batches.iter().map(|rows| batch(rows)).collect();
        split_by_hour(&batches, &Layout::logs())
            .unwrap()
            .into_iter()
            .map(|(h, parts)| {
                let rows = parts
                    .iter()
                    .flat_map(|b| {
                        let t = b
                            .column(0)
                            .as_primitive::<TimestampNanosecondType>()
                            .clone();
                        let d = b.column(1).as_string::<i32>().clone();
                        (0..b.num_rows()).map(move |i| (d.value(i).to_string(), t.value(i)))
                    })
                    .collect();
                (h, parts.len(), rows)
            })
            .collect()
    }

    #[test]
    fn rows_of_several_batches_are_split_without_a_copy_when_in_order() {
        // In order across three batches (one empty), the hour boundary inside the second:
        // slices of the batches.
        let got = split_batches(&[
            vec![("a", 1), ("a", 2)],
            vec![],
            vec![("a", 3), ("a", H), ("b", H + 1)],
        ]);
        let want_rows = |h: i64| -> Vec<(String, i64)> {
            if h == 0 {
                vec![("a".into(), 1), ("a".into(), 2), ("a".into(), 3)]
            } else {
                vec![("a".into(), H), ("b".into(), H + 1)]
            }
        };
        assert_eq!(got, vec![(0, 2, want_rows(0)), (1, 1, want_rows(1))]);
        // Out of order across batches: gathered into one batch per hour, sorted.
        let got = split_batches(&[
            vec![("b", H + 1), ("a", 3)],
            vec![("a", H), ("a", 1), ("a", 2)],
        ]);
        assert_eq!(got, vec![(0, 1, want_rows(0)), (1, 1, want_rows(1))]);
        assert!(split_batches(&[vec![], vec![]]).is_empty());
    }

    #[test]
    fn free_text_columns_carry_no_statistics_and_series_columns_do() {
        let b = batch(&[("a", 5), ("b", 1)]);
        let layout = Layout {
            free_text: vec!["source_address"],
            ..Layout::logs()
        };
        let props = writer_properties(&b.schema(), &layout, 1000, 3).unwrap();
        let bytes = encode(&[b], props).unwrap();
        let reader = parquet::file::reader::SerializedFileReader::new(bytes).unwrap();
        let meta = parquet::file::reader::FileReader::metadata(&reader);
        let stats = |name: &str| {
            let rg = meta.row_group(0);
            let i = (0..rg.num_columns())
                .find(|i| rg.column(*i).column_path().string() == name)
                .unwrap();
            rg.column(i)
                .statistics()
                .and_then(|s| s.min_bytes_opt().map(<[u8]>::to_vec))
        };
        assert_eq!(stats("device_id"), Some(b"a".to_vec()));
        assert_eq!(stats("source_address"), None);
    }
}
