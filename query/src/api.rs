//! The HTTP API: SQL queries, health, readiness and Prometheus metrics.
//!
//! Every error is a JSON body `{"error": {"code", "message"}}` with a 4xx status for bad
//! input (invalid JSON, unknown format, refused statement, a limit exceeded) and 5xx
//! only for failures of SOTP itself.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use axum::extract::rejection::JsonRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use serde::Deserialize;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;

mod logs;

use crate::error::error_body;
use crate::{QueryEngine, to_csv, to_json};

/// Largest accepted request body.
const MAX_BODY_BYTES: usize = 1024 * 1024;

/// What the handlers share.
#[derive(Clone, Debug)]
pub struct ApiState {
    /// Runs SQL.
    pub engine: QueryEngine,
    /// Renders `/metrics`; `None` disables the endpoint.
    pub prometheus: Option<PrometheusHandle>,
    /// Set once collectors and sinks are running.
    pub ready: Arc<AtomicBool>,
}

/// The request body of `POST /api/v1/query`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryRequest {
    /// One read-only SQL statement.
    pub sql: String,
}

/// Query-string parameters of `POST /api/v1/query`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueryParams {
    /// `json` (default) or `csv`.
    #[serde(default)]
    pub format: Option<String>,
}

#[derive(Clone, Default)]
struct Counter(Arc<AtomicU64>);

impl MakeRequestId for Counter {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
        let n = self.0.fetch_add(1, Ordering::Relaxed);
        HeaderValue::from_str(&format!("{:016x}", n))
            .ok()
            .map(RequestId::new)
    }
}

/// The API's routes and middleware.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/api/v1/query", post(query))
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(prometheus))
        .merge(logs::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http())
        .layer(SetRequestIdLayer::x_request_id(Counter::default()))
}

async fn query(
    State(state): State<ApiState>,
    params: Result<Query<QueryParams>, axum::extract::rejection::QueryRejection>,
    body: Result<Json<QueryRequest>, JsonRejection>,
) -> Response {
    let format = match params {
        Ok(Query(p)) => p.format.unwrap_or_else(|| "json".into()),
        Err(e) => {
            return error_body(
                StatusCode::BAD_REQUEST,
                "invalid_parameters",
                &e.body_text(),
            );
        }
    };
    if format != "json" && format != "csv" {
        return error_body(
            StatusCode::BAD_REQUEST,
            "invalid_parameters",
            &format!("unknown format `{format}`: use json or csv"),
        );
    }
    let req = match body {
        Ok(Json(r)) => r,
        Err(e) => {
            let status = match e {
                JsonRejection::MissingJsonContentType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
                JsonRejection::BytesRejection(_) => StatusCode::PAYLOAD_TOO_LARGE,
                _ => StatusCode::BAD_REQUEST,
            };
            return error_body(
                status,
                "invalid_body",
                &format!(
                    "{}; expected a JSON body like {{\"sql\": \"SELECT 1\"}}",
                    e.body_text()
                ),
            );
        }
    };
    let out = match state.engine.execute(&req.sql).await {
        Ok(out) => out,
        Err(e) => return e.into_response(),
    };
    let encoded = if format == "csv" {
        to_csv(&out)
            .map(|csv| ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], csv).into_response())
    } else {
        to_json(&out).map(|v| Json(v).into_response())
    };
    encoded.unwrap_or_else(IntoResponse::into_response)
}

async fn health() -> Response {
    Json(serde_json::json!({ "status": "ok" })).into_response()
}

async fn ready(State(state): State<ApiState>) -> Response {
    if state.ready.load(Ordering::Acquire) {
        Json(serde_json::json!({ "status": "ready" })).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({ "status": "starting" })),
        )
            .into_response()
    }
}

async fn prometheus(State(state): State<ApiState>) -> Response {
    match &state.prometheus {
        Some(h) => (
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
            h.render(),
        )
            .into_response(),
        None => error_body(
            StatusCode::NOT_FOUND,
            "not_found",
            "metrics endpoint disabled",
        ),
    }
}

async fn not_found() -> Response {
    error_body(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such route; see /api/v1/query, /health, /ready, /metrics",
    )
}

async fn method_not_allowed() -> Response {
    error_body(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "method not allowed on this route",
    )
}

#[cfg(test)]
#[path = "api/tests.rs"]
mod tests;
