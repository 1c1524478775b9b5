//! SOTP's front doors: the HTTP API (axum) over the SQL engine (`sotp-query`) and the
//! control plane (`sotp-inventory`), with one authentication function ([`auth`]) that
//! every front door shares.
//!
//! Every route is a handler annotated with `#[utoipa::path]` (method, path, parameters,
//! bodies, responses and the permission it needs) and registered through
//! [`routes::all`]: the router, the OpenAPI document (`/api/v1/openapi.json`) and the
//! permission table ([`access::RouteTable`]) all come from that one registration, so a
//! route cannot exist without its document entry and its role. Every failure is an
//! [`ApiError`], a JSON body `{"error": {"code", "message"}}` with a 4xx status for bad
//! input and 5xx only for failures of SOTP itself.

pub mod access;
pub mod auth;
mod auth_config;
mod error;
mod openapi;
pub mod reports;
pub mod routes;
mod serve;
mod ssh;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use axum::Router;
use axum::http::{HeaderValue, Request};
use axum::response::IntoResponse;
use metrics_exporter_prometheus::PrometheusHandle;
use sotp_query::QueryEngine;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;

pub use access::{Access, RouteTable};
pub use auth::{AuthError, Control, ControlInner, Credential, Principal};
pub use auth_config::AuthConfig;
pub use error::{ApiError, ApiJson, ApiQuery, ErrorBody};
pub use reports::{ReportJob, ReportStatus, Reports, ReportsConfig};
pub use serve::{ServeConfig, serve};
pub use ssh::SshService;

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
    /// Every route with its access rule (filled by [`router`]).
    pub routes: Arc<RouteTable>,
    /// The OpenAPI document, serialised once (filled by [`router`]).
    pub openapi: Arc<String>,
    /// Alert rules and receivers as configured, and the backtest.
    pub alerting: Arc<dyn Alerting>,
    /// SSH commands on devices (`POST /api/v1/devices/{id}/execute`).
    pub ssh: Arc<SshService>,
    /// Reports made here (`/api/v1/reports`).
    pub reports: Arc<Reports>,
}

/// Why a backtest gave no answer.
#[derive(Debug)]
pub enum BacktestError {
    /// The rule is refused (the reason).
    Invalid(String),
    /// Reading the stored data failed.
    Failed(String),
}

/// What the API knows of alert rules and receivers, and how it backtests a rule. The
/// binary provides it: the evaluator belongs to the streaming stage's crates, which the
/// server does not depend on.
pub trait Alerting: Send + Sync + std::fmt::Debug {
    /// The configured rules (with the SQL each runs).
    fn rules(&self) -> Vec<serde_json::Value>;
    /// A rule given through the API, checked as the configuration's are (it parses, its
    /// SQL plans over the rule tables with the right shape, its receivers exist): its
    /// view with `compiled_sql`, or the reason it is refused.
    fn check(&self, rule: &serde_json::Value) -> Result<serde_json::Value, String>;
    /// True when the configuration defines a rule named `name` (not changeable here).
    fn is_configured(&self, name: &str) -> bool;
    /// The configured receivers, without secrets.
    fn receivers(&self) -> Vec<serde_json::Value>;
    /// Transitions `rule` would have made over `(from, to]` (nanoseconds) of stored data.
    fn backtest(
        &self,
        engine: QueryEngine,
        rule: serde_json::Value,
        from: i64,
        to: i64,
    ) -> futures::future::BoxFuture<'static, Result<Vec<serde_json::Value>, BacktestError>>;
}

/// No alerting configured.
#[derive(Debug)]
pub struct NoAlerting;

impl Alerting for NoAlerting {
    fn rules(&self) -> Vec<serde_json::Value> {
        Vec::new()
    }
    fn check(&self, _: &serde_json::Value) -> Result<serde_json::Value, String> {
        Err("this server runs no alert evaluator".into())
    }
    fn is_configured(&self, _: &str) -> bool {
        false
    }
    fn receivers(&self) -> Vec<serde_json::Value> {
        Vec::new()
    }
    fn backtest(
        &self,
        _: QueryEngine,
        _: serde_json::Value,
        _: i64,
        _: i64,
    ) -> futures::future::BoxFuture<'static, Result<Vec<serde_json::Value>, BacktestError>> {
        Box::pin(async {
            Err(BacktestError::Invalid(
                "this server runs no alert evaluator".into(),
            ))
        })
    }
}

impl ApiState {
    /// The state of an API over `engine` and `control`.
    pub fn new(
        engine: QueryEngine,
        prometheus: Option<PrometheusHandle>,
        ready: Arc<AtomicBool>,
        control: Control,
    ) -> Self {
        Self {
            engine,
            prometheus,
            ready,
            control,
            routes: Default::default(),
            openapi: Default::default(),
            alerting: Arc::new(NoAlerting),
            ssh: Arc::new(SshService::default()),
            reports: Arc::new(Reports::new(
                Arc::new(object_store::memory::InMemory::new()),
                std::time::Duration::from_secs(90 * 86_400),
                std::time::Duration::from_secs(30),
            )),
        }
    }

    /// The same state with `reports` (stored on the configured object storage).
    pub fn with_reports(mut self, reports: Arc<Reports>) -> Self {
        self.reports = reports;
        self
    }

    /// The same state with `ssh` for the command route.
    pub fn with_ssh(mut self, ssh: Arc<SshService>) -> Self {
        self.ssh = ssh;
        self
    }

    /// The same state with `alerting` for the alert rule routes.
    pub fn with_alerting(mut self, alerting: Arc<dyn Alerting>) -> Self {
        self.alerting = alerting;
        self
    }
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

/// The OpenAPI document and the permission table of every route. Panics when a route's
/// `#[utoipa::path]` says nothing or something malformed about who may call it: a
/// programming error that the unit tests catch before any release.
pub fn document() -> (utoipa::openapi::OpenApi, RouteTable) {
    let (_, doc) = routes::all().split_for_parts();
    let table = RouteTable::from_openapi(&doc)
        .unwrap_or_else(|problems| panic!("routes without a valid access rule: {problems:#?}"));
    (doc, table)
}

/// The API's routes and middleware.
pub fn router(mut state: ApiState) -> Router {
    let (routes, doc) = routes::all().split_for_parts();
    let table = RouteTable::from_openapi(&doc)
        .unwrap_or_else(|problems| panic!("routes without a valid access rule: {problems:#?}"));
    state.routes = Arc::new(table);
    state.openapi = Arc::new(openapi::served(&doc).to_string());
    let cors = access::cors(&state.control.config);
    let [h1, h2, h3, h4, h5] = access::header_layers();
    // One layer for the stack (outermost first): axum boxes each `.layer` call
    // separately and clones every box for every request; a `ServiceBuilder` is one box
    // around plain types. (The body limit stays a layer of its own: its response body
    // type is not axum's.)
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
    routes
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            access::require,
        ))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(middleware)
}

async fn not_found() -> axum::response::Response {
    ApiError::new(
        axum::http::StatusCode::NOT_FOUND,
        "not_found",
        "no such route; see /api/v1/openapi.json",
    )
    .into_response()
}

async fn method_not_allowed() -> axum::response::Response {
    ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "method not allowed on this route",
    )
    .into_response()
}

#[cfg(test)]
mod alerts_tests;
#[cfg(test)]
mod export_tests;
#[cfg(test)]
mod tests;

#[cfg(test)]
mod control_tests;
