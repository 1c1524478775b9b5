//! Reports made on the server: generate one in the background, follow its progress,
//! list them, download the file. Readonly users and above may do all of it, over the
//! tables their role may read; every generation and download is audited.

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sotp_reports::{Format, ReportSpec};

use super::devices::audit;
use crate::reports::{ReportJob, ReportsError, kind};
use crate::{ApiError, ApiJson, ApiState, ErrorBody, Principal};

/// The request body of `POST /api/v1/reports/generate`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GenerateRequest {
    /// availability, performance, alerts or inventory.
    #[serde(rename = "type")]
    #[schema(example = "availability")]
    pub kind: String,
    /// Start of the period (RFC 3339), included.
    #[schema(example = "2026-11-01T00:00:00Z")]
    #[schema(value_type = String, format = DateTime)]
    pub from: DateTime<Utc>,
    /// End of the period (RFC 3339), excluded.
    #[schema(example = "2026-12-01T00:00:00Z")]
    #[schema(value_type = String, format = DateTime)]
    pub to: DateTime<Utc>,
    /// Only these device ids.
    #[serde(default)]
    pub devices: Vec<String>,
    /// Only devices with one of these tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// csv, parquet, html or pdf.
    #[schema(example = "pdf")]
    pub format: String,
    /// The availability target as a ratio (default 0.999).
    pub sla: Option<f64>,
    /// The ICMP poll interval in seconds availability counts in (default: the server's
    /// `[icmp] interval`).
    pub interval_seconds: Option<u64>,
    /// Rows of the "top" tables (default 10).
    pub top: Option<usize>,
}

/// A report just started.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Started {
    /// The report, as it starts.
    #[serde(flatten)]
    pub report: ReportJob,
    /// Where to follow it.
    pub status_url: String,
}

impl From<ReportsError> for ApiError {
    fn from(e: ReportsError) -> Self {
        match e {
            ReportsError::NotFound(_) => {
                ApiError::new(StatusCode::NOT_FOUND, "not_found", e.to_string())
            }
            ReportsError::NotReady(..) => {
                ApiError::new(StatusCode::CONFLICT, "not_ready", e.to_string())
            }
            e => ApiError::internal("reports", e),
        }
    }
}

/// Starts a report in the background; answers at once with its id. Follow it with
/// `GET /api/v1/reports/{id}` and fetch it with `GET /api/v1/reports/{id}/download`.
#[utoipa::path(post, path = "/api/v1/reports/generate", tag = "reports",
    request_body = GenerateRequest,
    responses(
        (status = 202, description = "started", body = Started),
        (status = 400, description = "a bad type, format, period or device", body = ErrorBody)),
    security(("bearer" = ["query"])))]
pub async fn generate(
    State(st): State<ApiState>,
    Extension(principal): Extension<Principal>,
    ApiJson(req): ApiJson<GenerateRequest>,
) -> Result<Response, ApiError> {
    let kind = kind(&req.kind).map_err(ApiError::bad_parameters)?;
    let format: Format = req
        .format
        .parse()
        .map_err(|e: sotp_reports::ReportError| ApiError::bad_parameters(e.to_string()))?;
    let mut spec = ReportSpec::new(kind, req.from, req.to);
    spec.devices = req.devices;
    spec.tags = req.tags;
    spec.poll_interval = req
        .interval_seconds
        .map_or(st.reports.poll_interval, std::time::Duration::from_secs);
    if let Some(sla) = req.sla {
        spec.sla_target = sla;
    }
    if let Some(top) = req.top {
        spec.top = top;
    }
    spec.validate()
        .map_err(|e| ApiError::bad_parameters(e.to_string()))?;
    let job = st
        .reports
        .start(
            st.engine.clone(),
            spec,
            format,
            principal.actor.clone(),
            principal.role.sql_tables(),
        )
        .await?;
    audit(
        &st,
        &principal,
        "report.generate",
        job.id.clone(),
        None,
        Some(serde_json::to_value(&job).unwrap_or_default()),
        "success",
    )
    .await;
    let status_url = format!("/api/v1/reports/{}", job.id);
    Ok((
        StatusCode::ACCEPTED,
        Json(Started {
            report: job,
            status_url,
        }),
    )
        .into_response())
}

/// Every stored or running report, newest first (reports past `[reports] retention` are
/// deleted).
#[utoipa::path(get, path = "/api/v1/reports", tag = "reports",
    responses((status = 200, description = "the reports", body = Vec<ReportJob>)),
    security(("bearer" = ["query"])))]
pub async fn list(State(st): State<ApiState>) -> Result<Json<Vec<ReportJob>>, ApiError> {
    Ok(Json(st.reports.list().await?))
}

/// One report's status and progress.
#[utoipa::path(get, path = "/api/v1/reports/{id}", tag = "reports",
    params(("id" = String, Path, description = "Report id")),
    responses(
        (status = 200, description = "the report", body = ReportJob),
        (status = 404, description = "no such report", body = ErrorBody)),
    security(("bearer" = ["query"])))]
pub async fn get_one(
    State(st): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<ReportJob>, ApiError> {
    Ok(Json(st.reports.get(&id).await?))
}

/// A finished report's file.
#[utoipa::path(get, path = "/api/v1/reports/{id}/download", tag = "reports",
    params(("id" = String, Path, description = "Report id")),
    responses(
        (status = 200, description = "the file (Content-Disposition names it)", content_type = "application/octet-stream"),
        (status = 404, description = "no such report", body = ErrorBody),
        (status = 409, description = "still running, or failed", body = ErrorBody)),
    security(("bearer" = ["query"])))]
pub async fn download(
    State(st): State<ApiState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let (job, bytes) = st.reports.file(&id).await?;
    audit(
        &st,
        &principal,
        "report.download",
        id.clone(),
        None,
        None,
        "success",
    )
    .await;
    let content_type = match job.format.as_str() {
        "csv" => "text/csv; charset=utf-8",
        "parquet" => "application/vnd.apache.parquet",
        "html" => "text/html; charset=utf-8",
        _ => "application/pdf",
    };
    let name = format!("sotp-{}-{}.{}", job.kind, job.id, job.format);
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        bytes,
    )
        .into_response())
}
