//! Encodes record batches as Parquet files laid out for time series.
//!
//! Rows are sorted by series (device_id, metric, instance) then time, so that string
//! columns become long runs (dictionary + RLE cost almost nothing), timestamps become
//! small regular deltas (DELTA_BINARY_PACKED), and float values of one series sit
//! together (BYTE_STREAM_SPLIT, then zstd).

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, UInt32Array};
use arrow::compute::{SortColumn, SortOptions, lexsort_to_indices, take_record_batch};
use arrow::datatypes::{DataType, SchemaRef};
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
}

impl Layout {
    /// The `metrics` table's layout.
    pub fn metrics() -> Self {
        Self {
            series: vec!["device_id", "metric", "instance"],
            time: "time",
        }
    }

    /// The `metrics_1m` rollup table's layout (same series key as `metrics`).
    pub fn rollups() -> Self {
        Self::metrics()
    }
}

fn sort_columns(
    batch: &RecordBatch,
    layout: &Layout,
    hours: Option<ArrayRef>,
) -> Result<Vec<SortColumn>, StoreError> {
    let mut cols = Vec::new();
    if let Some(h) = hours {
        cols.push(SortColumn {
            values: h,
            options: None,
        });
    }
    for name in layout.series.iter().chain(std::iter::once(&layout.time)) {
        let values = batch
            .column_by_name(name)
            .ok_or_else(|| arrow::error::ArrowError::SchemaError(format!("no column `{name}`")))?
            .clone();
        cols.push(SortColumn {
            values,
            options: Some(SortOptions {
                descending: false,
                nulls_first: true,
            }),
        });
    }
    Ok(cols)
}

/// Sorts `batch` by hour, series and time, and splits it into one batch per hour.
pub fn split_by_hour(
    batch: &RecordBatch,
    layout: &Layout,
) -> Result<Vec<(i64, RecordBatch)>, StoreError> {
    if batch.num_rows() == 0 {
        return Ok(Vec::new());
    }
    let time = batch
        .column_by_name(layout.time)
        .and_then(|c| {
            c.as_any()
                .downcast_ref::<arrow::array::TimestampNanosecondArray>()
        })
        .ok_or_else(|| {
            arrow::error::ArrowError::SchemaError(format!(
                "`{}` is not a timestamp(ns)",
                layout.time
            ))
        })?;
    let hours: arrow::array::Int64Array = time
        .values()
        .iter()
        .map(|t| Some(TablePaths::hour_of(*t)))
        .collect();
    let hours: ArrayRef = Arc::new(hours);
    let indices: UInt32Array =
        lexsort_to_indices(&sort_columns(batch, layout, Some(hours.clone()))?, None)?;
    let sorted = take_record_batch(batch, &indices)?;
    let sorted_hours = arrow::compute::take(&hours, &indices, None)?;
    let sorted_hours = sorted_hours
        .as_any()
        .downcast_ref::<arrow::array::Int64Array>()
        .expect("hours are Int64");
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..=sorted.num_rows() {
        if i == sorted.num_rows() || sorted_hours.value(i) != sorted_hours.value(start) {
            out.push((sorted_hours.value(start), sorted.slice(start, i - start)));
            start = i;
        }
    }
    Ok(out)
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

/// Encodes one sorted batch as a complete Parquet file in memory.
pub fn encode(batch: &RecordBatch, props: WriterProperties) -> Result<Bytes, StoreError> {
    let mut buf = Vec::with_capacity(batch.get_array_memory_size() / 4 + 1024);
    let mut w = ArrowWriter::try_new(&mut buf, batch.schema(), Some(props))?;
    w.write(batch)?;
    w.close()?;
    Ok(Bytes::from(buf))
}
