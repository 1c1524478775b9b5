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

mod admin;
mod auth_config;
mod auth_routes;
mod control_error;
mod devices;
mod openapi;
mod security;

pub use auth_config::AuthConfig;
pub use security::{Access, Control, ControlInner, Principal, ROUTES, access_of};

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
    /// Users, tokens, devices and the audit log; checks every request.
    pub control: Control,
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
    let cors = security::cors(&state.control.config);
    let [h1, h2, h3, h4, h5] = security::header_layers();
    // One layer for the stack (outermost first): axum boxes each `.layer` call
    // separately and clones every box for every request, which showed in the issue 6
    // benchmark's profile; a `ServiceBuilder` is one box around plain types. (The body
    // limit stays a layer of its own: its response body type is not axum's.)
    let middleware = tower::ServiceBuilder::new()
        .layer(SetRequestIdLayer::x_request_id(Counter::default()))
        .layer(TraceLayer::new_for_http())
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(h5)
        .layer(h4)
        .layer(h3)
        .layer(h2)
        .layer(h1)
        .layer(cors);
    Router::new()
        .route("/api/v1/query", post(query))
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(prometheus))
        .merge(logs::routes())
        .merge(control_routes())
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            security::require,
        ))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(middleware)
}

/// The control-plane routes; every one is listed in [`ROUTES`].
fn control_routes() -> Router<ApiState> {
    use axum::routing::{delete, patch, put};
    Router::new()
        .route("/api/v1/auth/login", post(auth_routes::login))
        .route("/api/v1/auth/refresh", post(auth_routes::refresh))
        .route("/api/v1/auth/logout", post(auth_routes::logout))
        .route("/api/v1/auth/password", post(auth_routes::change_password))
        .route("/api/v1/auth/me", get(auth_routes::me))
        .route("/api/v1/devices", get(devices::list).post(devices::create))
        .route(
            "/api/v1/devices/{id}",
            get(devices::get_one)
                .merge(put(devices::replace))
                .merge(patch(devices::patch))
                .merge(delete(devices::delete)),
        )
        .route(
            "/api/v1/users",
            get(admin::list_users).post(admin::create_user),
        )
        .route("/api/v1/users/{id}", patch(admin::update_user))
        .route("/api/v1/users/{id}/password", post(admin::reset_password))
        .route(
            "/api/v1/tokens",
            get(admin::list_tokens).post(admin::create_token),
        )
        .route("/api/v1/tokens/{id}", delete(admin::revoke_token))
        .route("/api/v1/audit", get(admin::list_audit))
        .route("/api/v1/openapi.json", get(openapi::serve))
}

async fn query(
    State(state): State<ApiState>,
    axum::extract::Extension(principal): axum::extract::Extension<Principal>,
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
    let tables = principal.role.sql_tables();
    let out = match state.engine.execute_as(&req.sql, Some(tables)).await {
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
        "no such route; see /api/v1/openapi.json",
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

#[cfg(test)]
mod control_tests;
