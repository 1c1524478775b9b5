use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use object_store::memory::InMemory;
use serde_json::Value;
use sotp_schemas::{DeviceId, MetricName, MetricSample, UtcNanos, metric_schema, samples_to_batch};
use sotp_sinks::writer::Layout;
use sotp_sinks::{ColdStore, TableStore};
use tower::ServiceExt;

use std::sync::atomic::AtomicBool;

use sotp_query::{QueryConfig, QueryEngine};

use super::*;

pub(crate) async fn state(config: QueryConfig) -> (ApiState, Arc<TableStore>) {
    let cold = ColdStore::from_store(Arc::new(InMemory::new()), "memory");
    let table = TableStore::open(
        "metrics",
        metric_schema(),
        Layout::metrics(),
        cold.clone(),
        1000,
        3,
    )
    .await
    .unwrap();
    let engine = QueryEngine::new(config, &cold, std::slice::from_ref(&table)).unwrap();
    let st = ApiState::new(
        engine,
        None,
        Arc::new(AtomicBool::new(false)),
        super::control_tests::test_control().await,
    );
    (st, table)
}

pub(crate) fn samples(devices: usize, first_t: i64) -> Vec<MetricSample> {
    let col: Arc<str> = Arc::from("icmp");
    (0..devices)
        .map(|i| {
            let id = DeviceId::new(format!("dev-{i:03}"));
            let mut s = MetricSample::gauge(
                UtcNanos(first_t + i as i64),
                &id,
                &Arc::from(id.as_str()),
                &col,
                &MetricName::new("icmp.up"),
                1.0,
            );
            if i == 0 {
                s.counter = Some(u64::MAX);
            }
            s
        })
        .collect()
}

async fn call(
    st: &ApiState,
    method: &str,
    uri: &str,
    body: Option<&str>,
) -> (StatusCode, String, Option<String>) {
    let (status, headers, bytes) = call_raw(st, method, uri, body).await;
    let bytes = bytes.unwrap();
    let rid = headers
        .get("x-request-id")
        .map(|v| v.to_str().unwrap().to_string());
    (status, String::from_utf8(bytes).unwrap(), rid)
}

/// One request as an admin API token; the answer's status, headers and bytes (an error
/// when the body ended early).
pub(crate) async fn call_raw(
    st: &ApiState,
    method: &str,
    uri: &str,
    body: Option<&str>,
) -> (
    StatusCode,
    axum::http::HeaderMap,
    Result<Vec<u8>, axum::Error>,
) {
    // Every call authenticates, as an admin API token.
    let token = st
        .control
        .store
        .create_api_token("test", sotp_inventory::Role::Admin, None, "test")
        .await
        .unwrap()
        .token;
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .header("authorization", format!("Bearer {token}"));
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    let req = req
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
        .unwrap();
    let resp = router(st.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .map(|b| b.to_vec());
    (status, headers, bytes)
}

async fn sql(st: &ApiState, q: &str) -> (StatusCode, Value) {
    let body = serde_json::json!({ "sql": q }).to_string();
    let (status, text, _) = call(st, "POST", "/api/v1/query", Some(&body)).await;
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{text}: {e}")),
    )
}

#[tokio::test]
async fn json_answer_has_columns_and_rows_over_hot_and_cold() {
    let (st, table) = state(QueryConfig::default()).await;
    table.append(samples_to_batch(&samples(3, 1_000)));
    table.flush().await.unwrap();
    table.evict(Duration::ZERO);
    table.append(samples_to_batch(&samples(2, 5_000)));
    let (status, v) = sql(
        &st,
        "SELECT device_id, time, counter FROM metrics ORDER BY time",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(
        v["columns"][0],
        serde_json::json!({"name": "device_id", "type": "Utf8"})
    );
    assert_eq!(v["columns"][1]["type"], "Timestamp(Nanosecond, UTC)");
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 5);
    assert_eq!(rows[0][0], "dev-000");
    assert_eq!(rows[0][1], "1970-01-01T00:00:00.000001Z");
    // u64 counters stay exact.
    assert_eq!(rows[0][2].as_u64(), Some(u64::MAX));
    assert_eq!(rows[1][2], Value::Null);
}

#[tokio::test]
async fn csv_has_a_header_row() {
    let (st, table) = state(QueryConfig::default()).await;
    table.append(samples_to_batch(&samples(2, 0)));
    let body =
        serde_json::json!({ "sql": "SELECT device_id, value FROM metrics ORDER BY device_id" })
            .to_string();
    let (status, text, _) = call(&st, "POST", "/api/v1/query?format=csv", Some(&body)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(text, "device_id,value\ndev-000,1.0\ndev-001,1.0\n");
    let (status, text, _) = call(
        &st,
        "POST",
        "/api/v1/query?format=csv",
        Some(r#"{"sql":"SELECT 1 AS a WHERE false"}"#),
    )
    .await;
    assert_eq!((status, text.as_str()), (StatusCode::OK, "a\n"));
}

#[tokio::test]
async fn bad_requests_get_4xx_with_a_json_error() {
    let (st, _) = state(QueryConfig::default()).await;
    let cases: Vec<(&str, Option<&str>, StatusCode, &str)> = vec![
        (
            "/api/v1/query",
            Some("{not json"),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            "/api/v1/query",
            Some(r#"{"query": "SELECT 1"}"#),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            "/api/v1/query?format=xml",
            Some(r#"{"sql": "SELECT 1"}"#),
            StatusCode::BAD_REQUEST,
            "invalid_parameters",
        ),
        (
            "/api/v1/query",
            Some(r#"{"sql": "DROP TABLE metrics"}"#),
            StatusCode::FORBIDDEN,
            "statement_refused",
        ),
        (
            "/api/v1/query",
            Some(r#"{"sql": "COPY (SELECT 1) TO '/tmp/x.csv'"}"#),
            StatusCode::FORBIDDEN,
            "statement_refused",
        ),
        (
            "/api/v1/query",
            Some(r#"{"sql": "CREATE EXTERNAL TABLE x STORED AS CSV LOCATION '/etc/passwd'"}"#),
            StatusCode::FORBIDDEN,
            "statement_refused",
        ),
        (
            "/api/v1/query",
            Some(r#"{"sql": "SELECT * FROM '/etc/passwd'"}"#),
            StatusCode::BAD_REQUEST,
            "invalid_sql",
        ),
        (
            "/api/v1/query",
            Some(r#"{"sql": "SELECT nope FROM metrics"}"#),
            StatusCode::BAD_REQUEST,
            "invalid_sql",
        ),
        (
            "/api/v1/query",
            Some(r#"{"sql": "SELEKT"}"#),
            StatusCode::BAD_REQUEST,
            "invalid_sql",
        ),
        ("/nowhere", None, StatusCode::NOT_FOUND, "not_found"),
    ];
    for (uri, body, want, code) in cases {
        let (status, text, rid) = call(&st, "POST", uri, body).await;
        assert_eq!(status, want, "{uri} {body:?}: {text}");
        let v: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{uri} {body:?}: {text}: {e}"));
        assert_eq!(v["error"]["code"], code, "{text}");
        assert!(!v["error"]["message"].as_str().unwrap().is_empty());
        assert!(rid.is_some(), "every response carries x-request-id");
    }
    let (status, text, _) = call(&st, "GET", "/api/v1/query", None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{text}");
}

#[tokio::test]
async fn limits_give_422_and_the_engine_keeps_working() {
    let config = QueryConfig {
        timeout: Duration::from_millis(300),
        memory_limit_mb: 16,
        max_rows: 1000,
        ..QueryConfig::default()
    };
    let (st, _) = state(config).await;
    let (status, v) = sql(&st, "SELECT * FROM generate_series(1, 1001)").await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("row_limit_exceeded")),
        "{v}"
    );
    let (status, v) = sql(
        &st,
        "SELECT count(*) FROM generate_series(1, 100000000000) a WHERE a.value % 7 = 3",
    )
    .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("time_limit_exceeded")
        ),
        "{v}"
    );
    // The memory limit on its own, with time to reach it even on a loaded machine.
    let (mem, _) = state(QueryConfig {
        timeout: Duration::from_secs(300),
        memory_limit_mb: 16,
        max_rows: 1000,
        ..QueryConfig::default()
    })
    .await;
    let (status, v) = sql(
        &mem,
        "SELECT count(*) FROM generate_series(1, 4000000) a JOIN generate_series(1, 4000000) b ON a.value = b.value",
    )
    .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("memory_limit_exceeded")
        ),
        "{v}"
    );
    let (status, v) = sql(&st, "SELECT 40 + 2 AS answer").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["rows"][0][0], 42);
}

#[tokio::test]
async fn health_ready_and_not_found() {
    let (st, _) = state(QueryConfig::default()).await;
    assert_eq!(call(&st, "GET", "/health", None).await.0, StatusCode::OK);
    assert_eq!(
        call(&st, "GET", "/ready", None).await.0,
        StatusCode::SERVICE_UNAVAILABLE
    );
    st.ready.store(true, Ordering::Release);
    assert_eq!(call(&st, "GET", "/ready", None).await.0, StatusCode::OK);
    // Without a recorder the metrics endpoint says it is disabled.
    assert_eq!(
        call(&st, "GET", "/metrics", None).await.0,
        StatusCode::NOT_FOUND
    );
}
