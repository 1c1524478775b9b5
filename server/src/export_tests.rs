//! `POST /api/v1/export` and `GET /api/v1/devices/{id}/metrics` through the router.

use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::Float64Type;
use axum::http::StatusCode;
use serde_json::{Value, json};
use sotp_inventory::{DeviceInput, ManagedBy};
use sotp_query::{HotColdTable, QueryConfig};
use sotp_schemas::{
    DeviceId, MetricName, MetricSample, RollupBatchBuilder, RollupRow, UtcNanos, rollup_schema,
    samples_to_batch,
};
use sotp_sinks::writer::Layout;
use sotp_sinks::{ColdStore, TableStore};

use crate::ApiState;
use crate::tests::{call_raw, samples, state};

async fn export(
    st: &ApiState,
    sql: &str,
    format: &str,
) -> (
    StatusCode,
    axum::http::HeaderMap,
    Result<Vec<u8>, axum::Error>,
) {
    let body = json!({ "sql": sql, "format": format }).to_string();
    call_raw(st, "POST", "/api/v1/export", Some(&body)).await
}

fn error_code(bytes: &[u8]) -> String {
    let v: Value = serde_json::from_slice(bytes).unwrap();
    v["error"]["code"].as_str().unwrap().to_string()
}

/// Row count and sum of column `value` of a Parquet or Arrow file.
fn columnar(format: &str, bytes: Vec<u8>) -> (usize, f64) {
    let batches: Vec<RecordBatch> = if format == "parquet" {
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(
            bytes,
        ))
        .unwrap()
        .build()
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
    } else {
        arrow::ipc::reader::FileReader::try_new(std::io::Cursor::new(bytes), None)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    let rows = batches.iter().map(RecordBatch::num_rows).sum();
    let sum = batches
        .iter()
        .map(|b| {
            let v = b
                .column_by_name("value")
                .unwrap()
                .as_primitive::<Float64Type>();
            (0..v.len())
                .filter(|i| !v.is_null(*i))
                .map(|i| v.value(i))
                .sum::<f64>()
        })
        .sum();
    (rows, sum)
}

#[tokio::test]
async fn every_export_format_streams_every_row_of_hot_and_cold_data() {
    let (st, table) = state(QueryConfig::default()).await;
    table.append(samples_to_batch(&samples(3000, 1_000)));
    table.flush().await.unwrap();
    table.evict(std::time::Duration::ZERO);
    table.append(samples_to_batch(&samples(2000, 9_000_000)));
    let sql = "SELECT time, device_id, metric, value FROM metrics";
    for format in ["parquet", "arrow", "csv", "ndjson"] {
        let (status, headers, bytes) = export(&st, sql, format).await;
        let bytes = bytes.unwrap();
        assert_eq!(
            status,
            StatusCode::OK,
            "{format}: {}",
            String::from_utf8_lossy(&bytes)
        );
        let disposition = headers["content-disposition"].to_str().unwrap();
        assert_eq!(
            disposition,
            format!("attachment; filename=\"sotp-export.{format}\"")
        );
        let (rows, sum) = match format {
            "parquet" | "arrow" => columnar(format, bytes),
            "csv" => {
                let text = String::from_utf8(bytes).unwrap();
                let mut lines = text.lines();
                assert_eq!(lines.next(), Some("time,device_id,metric,value"));
                let rows: Vec<&str> = lines.collect();
                let sum = rows
                    .iter()
                    .map(|l| l.rsplit(',').next().unwrap().parse::<f64>().unwrap())
                    .sum();
                (rows.len(), sum)
            }
            _ => {
                let text = String::from_utf8(bytes).unwrap();
                let rows: Vec<Value> = text
                    .lines()
                    .map(|l| serde_json::from_str(l).unwrap())
                    .collect();
                assert_eq!(rows[0]["metric"], "icmp.up", "{}", rows[0]);
                (
                    rows.len(),
                    rows.iter().map(|r| r["value"].as_f64().unwrap()).sum(),
                )
            }
        };
        assert_eq!((rows, sum), (5000, 5000.0), "{format}: every row once");
    }
    let audit = st.control.store.audit_all().await.unwrap();
    let exports = audit.iter().filter(|a| a.action == "query.export").count();
    assert_eq!(exports, 4, "each export is audited");
}

#[tokio::test]
async fn export_failures_before_the_first_byte_are_json_errors_naming_the_cause() {
    let (st, _) = state(QueryConfig {
        export_max_rows: 10,
        ..QueryConfig::default()
    })
    .await;
    let cases = [
        (
            "SELECT 1 AS a",
            "xlsx",
            StatusCode::BAD_REQUEST,
            "invalid_parameters",
            "`xlsx`",
        ),
        (
            "DROP TABLE metrics",
            "csv",
            StatusCode::FORBIDDEN,
            "statement_refused",
            "",
        ),
        (
            "SELECT nope FROM metrics",
            "csv",
            StatusCode::BAD_REQUEST,
            "invalid_sql",
            "nope",
        ),
        (
            "SELECT * FROM generate_series(1, 100)",
            "parquet",
            StatusCode::UNPROCESSABLE_ENTITY,
            "row_limit_exceeded",
            "10 rows",
        ),
    ];
    for (sql, format, want, code, says) in cases {
        let (status, _, bytes) = export(&st, sql, format).await;
        let bytes = bytes.unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert_eq!(
            (status, error_code(&bytes).as_str()),
            (want, code),
            "{sql}: {text}"
        );
        assert!(text.contains(says), "{sql}: {text}");
    }
    let (status, _, bytes) = call_raw(
        &st,
        "POST",
        "/api/v1/export",
        Some(r#"{"sql": "SELECT 1"}"#),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", bytes);
}

#[tokio::test]
async fn an_export_past_its_row_limit_after_the_first_batch_ends_the_transfer_early() {
    let (st, _) = state(QueryConfig {
        export_max_rows: 50_000,
        ..QueryConfig::default()
    })
    .await;
    for format in ["csv", "parquet"] {
        let (status, _, body) =
            export(&st, "SELECT value FROM generate_series(1, 1000000)", format).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "the first batch was within the limit"
        );
        assert!(
            body.is_err(),
            "{format}: the transfer must not look complete"
        );
    }
    let (status, _, body) = export(&st, "SELECT value FROM generate_series(1, 50000)", "csv").await;
    assert_eq!(status, StatusCode::OK);
    let text = String::from_utf8(body.unwrap()).unwrap();
    assert_eq!(
        text.lines().count(),
        50_001,
        "exactly at the limit is allowed"
    );
}

/// A device with RTT samples at 10 s, 20 s, ... past `t0`, and `metrics_1m` rows.
async fn device_with_history(st: &ApiState, table: &TableStore, t0: i64) -> String {
    let input: DeviceInput =
        serde_json::from_value(json!({"name": "edge-1", "address": "192.0.2.10"})).unwrap();
    let dev = st
        .control
        .store
        .create_device(&input, "test", ManagedBy::Api, None)
        .await
        .unwrap();
    let id = DeviceId::new(dev.id.clone());
    let name: Arc<str> = Arc::from("edge-1");
    let col: Arc<str> = Arc::from("icmp");
    let rtt = MetricName::new("icmp.rtt_ms");
    // Minute 0: 1..=6 ms; minute 1: 10 ms six times.
    let mut rows: Vec<MetricSample> = (0..12)
        .map(|i| {
            let v = if i < 6 { (i + 1) as f64 } else { 10.0 };
            MetricSample::gauge(UtcNanos(t0 + i * 10_000_000_000), &id, &name, &col, &rtt, v)
        })
        .collect();
    let mut other = rows[0].clone();
    other.metric = MetricName::new("icmp.loss_pct");
    rows.push(other);
    table.append(samples_to_batch(&rows));
    // Rollups: two hours of minutes, avg 2 with 1 sample then avg 5 with 3 samples.
    let cold = ColdStore::from_store(Arc::new(object_store::memory::InMemory::new()), "memory");
    let rollups = TableStore::open(
        "metrics_1m",
        rollup_schema(),
        Layout::rollups(),
        cold,
        1000,
        3,
    )
    .await
    .unwrap();
    let mut b = RollupBatchBuilder::default();
    for m in 0..120 {
        let (avg, count) = if m % 2 == 0 { (2.0, 1) } else { (5.0, 3) };
        b.push(&RollupRow {
            time: UtcNanos(t0 + m * 60_000_000_000),
            device_id: id.clone(),
            device: name.clone(),
            metric: rtt.clone(),
            instance: None,
            min: avg - 1.0,
            avg,
            max: avg + 1.0,
            count,
        });
    }
    rollups.append(b.finish());
    st.engine
        .register("metrics_1m", Arc::new(HotColdTable::new(rollups)))
        .unwrap();
    dev.id
}

async fn series(st: &ApiState, id: &str, query: &str) -> (StatusCode, Value) {
    let uri = format!("/api/v1/devices/{id}/metrics?{query}");
    let (status, _, bytes) = call_raw(st, "GET", &uri, None).await;
    (status, serde_json::from_slice(&bytes.unwrap()).unwrap())
}

/// 2026-12-01T00:00:00Z in nanoseconds.
const T0: i64 = 1_796_083_200_000_000_000;

#[tokio::test]
async fn device_series_buckets_raw_samples_for_short_ranges() {
    let (st, table) = state(QueryConfig::default()).await;
    let id = device_with_history(&st, &table, T0).await;
    let (status, v) = series(
        &st,
        &id,
        "metric=icmp.rtt_ms&from=2026-12-01T00:00:00Z&to=2026-12-01T00:05:00Z&step=1m",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(
        (
            v["device"].as_str(),
            v["source"].as_str(),
            v["step_seconds"].as_u64()
        ),
        (Some("edge-1"), Some("metrics"), Some(60))
    );
    assert_eq!(
        v["series"],
        json!([{"instance": null, "points": [
            {"time": "2026-12-01T00:00:00Z", "value": 3.5, "min": 1.0, "max": 6.0, "samples": 6},
            {"time": "2026-12-01T00:01:00Z", "value": 10.0, "min": 10.0, "max": 10.0, "samples": 6},
        ]}]),
        "the loss metric is not mixed in; empty buckets are left out"
    );
    // Without a step, a 5-minute range gets 10 s buckets: one sample each.
    let (_, v) = series(
        &st,
        &id,
        "metric=icmp.rtt_ms&from=2026-12-01T00:00:00Z&to=2026-12-01T00:05:00Z",
    )
    .await;
    assert_eq!(v["step_seconds"], 10);
    assert_eq!(v["series"][0]["points"].as_array().unwrap().len(), 12);
}

#[tokio::test]
async fn device_series_reads_rollups_for_long_ranges_weighting_each_minute_by_its_samples() {
    let (st, table) = state(QueryConfig::default()).await;
    let id = device_with_history(&st, &table, T0).await;
    let (status, v) = series(
        &st,
        &id,
        "metric=icmp.rtt_ms&from=2026-12-01T00:00:00Z&to=2026-12-02T00:00:00Z&step=1h",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["source"], "metrics_1m");
    // Each hour: 30 minutes of avg 2 (1 sample) and 30 of avg 5 (3 samples).
    let expected = (30.0 * 2.0 + 90.0 * 5.0) / 120.0;
    assert_eq!(
        v["series"][0]["points"],
        json!([
            {"time": "2026-12-01T00:00:00Z", "value": expected, "min": 1.0, "max": 6.0, "samples": 120},
            {"time": "2026-12-01T01:00:00Z", "value": expected, "min": 1.0, "max": 6.0, "samples": 120},
        ])
    );
    // The same long range forced onto raw samples sees only the two raw minutes.
    let (_, raw) = series(
        &st,
        &id,
        "metric=icmp.rtt_ms&from=2026-12-01T00:00:00Z&to=2026-12-02T00:00:00Z&step=1h&source=raw",
    )
    .await;
    assert_eq!(raw["source"], "metrics");
    assert_eq!(raw["series"][0]["points"][0]["samples"], 12);
}

#[tokio::test]
async fn device_series_refuses_bad_parameters_with_a_message_and_unknown_devices_with_404() {
    let (st, table) = state(QueryConfig::default()).await;
    let id = device_with_history(&st, &table, T0).await;
    let cases = [
        ("from=2026-12-01T00:00:00Z", "metric"),
        (
            "metric=x&from=2026-12-02T00:00:00Z&to=2026-12-01T00:00:00Z",
            "must be before",
        ),
        ("metric=x&from=now-30d&step=1s", "buckets"),
        ("metric=x&from=last%20week", "`from`"),
        ("metric=x&step=fast", "`step`"),
        ("metric=x&step=30s&source=1m", "whole minutes"),
        ("metric=x&source=cold", "`source`"),
        ("metric=x%5C", "backslashes"),
    ];
    for (query, says) in cases {
        let (status, v) = series(&st, &id, query).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {v}");
        assert!(
            v["error"]["message"].as_str().unwrap().contains(says),
            "{query}: {v}"
        );
    }
    let (status, v) = series(&st, "no-such-device", "metric=icmp.rtt_ms").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{v}");
    let (status, v) = series(&st, &id, "metric=icmp.rtt_ms").await;
    assert_eq!(
        (status, v["series"].clone()),
        (StatusCode::OK, json!([])),
        "no samples in the last hour"
    );
}
