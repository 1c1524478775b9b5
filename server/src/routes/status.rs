//! Liveness, readiness, Prometheus metrics and the OpenAPI document itself.

use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::{ApiError, ApiState, ErrorBody};

/// Liveness: the process answers.
#[utoipa::path(get, path = "/health", tag = "status",
    responses((status = 200, description = "alive", body = serde_json::Value, example = json!({"status": "ok"}))),
    security(()))]
pub async fn health() -> Response {
    Json(serde_json::json!({ "status": "ok" })).into_response()
}

/// Readiness: collectors and sinks are running (and, on Kafka, the brokers reachable).
#[utoipa::path(get, path = "/ready", tag = "status",
    responses(
        (status = 200, description = "ready", body = serde_json::Value),
        (status = 503, description = "starting or the brokers are unreachable", body = serde_json::Value)),
    security(()))]
pub async fn ready(State(state): State<ApiState>) -> Response {
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

/// SOTP's own metrics in the Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "status",
    responses(
        (status = 200, description = "Prometheus text format", body = String, content_type = "text/plain"),
        (status = 404, description = "metrics disabled ([api] metrics = false)", body = ErrorBody)),
    security(("bearer" = ["metrics"])))]
pub async fn metrics(State(state): State<ApiState>) -> Result<Response, ApiError> {
    match &state.prometheus {
        Some(h) => Ok((
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
            h.render(),
        )
            .into_response()),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "metrics endpoint disabled",
        )),
    }
}

/// This document (OpenAPI 3.1), generated from the routes and their types.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "status",
    responses((status = 200, description = "the OpenAPI document", body = serde_json::Value)),
    security(()))]
pub async fn openapi_json(State(state): State<ApiState>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        state.openapi.as_ref().clone(),
    )
        .into_response()
}
