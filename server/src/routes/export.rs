//! `POST /api/v1/export`: one read-only SQL statement whose result streams out as
//! Parquet, Arrow, CSV or NDJSON while it is computed, whatever its size.

use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{Extension, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde::Deserialize;
use sotp_query::{BatchStream, Caller, ExportEncoder, ExportFormat, QueryError};

use crate::routes::devices::audit;
use crate::{ApiError, ApiJson, ApiState, ErrorBody, Principal};

/// The request body of `POST /api/v1/export`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportRequest {
    /// One read-only SQL statement (SELECT, WITH).
    #[schema(example = "SELECT * FROM metrics WHERE time > now() - INTERVAL '1 day'")]
    pub sql: String,
    /// `parquet` (zstd), `arrow` (the Arrow IPC file format), `csv` (with a header row)
    /// or `ndjson` (one JSON object per row).
    #[schema(example = "parquet")]
    pub format: String,
}

/// Streams a query's result as a file while it is computed: the server holds one batch
/// at a time (one row group for Parquet), so the size is bounded only by
/// `[query] export_max_rows` and `export_timeout`. An error before the first byte is a
/// JSON error as for `/api/v1/query`; a limit reached later ends the transfer early
/// (an incomplete chunked body, never a file that looks whole) and is logged.
#[utoipa::path(post, path = "/api/v1/export", tag = "sql",
    request_body = ExportRequest,
    responses(
        (status = 200, description = "the file, streamed (Content-Disposition names it)", content_type = "application/octet-stream"),
        (status = 400, description = "invalid SQL or an unknown format", body = ErrorBody),
        (status = 403, description = "not a read-only statement, or a table the role may not read", body = ErrorBody),
        (status = 422, description = "a limit was exceeded before the first byte", body = ErrorBody)),
    security(("bearer" = ["query"])))]
pub async fn export(
    State(state): State<ApiState>,
    Extension(principal): Extension<Principal>,
    ApiJson(req): ApiJson<ExportRequest>,
) -> Result<Response, ApiError> {
    let format: ExportFormat = req.format.parse().map_err(ApiError::bad_parameters)?;
    let caller = Caller {
        user: Some(&principal.actor),
        tables: Some(principal.role.sql_tables()),
    };
    let mut rows = state.engine.stream_for(caller, &req.sql).await?;
    let mut encoder = ExportEncoder::new(format, &rows.schema())?;
    // The first batch decides between an error answer and a file: most failures (a
    // limit, an unreadable file) show up before it.
    let first = match rows.next().await {
        Some(batch) => encoder.write(&batch?)?,
        None => Vec::new(),
    };
    let detail = serde_json::json!({ "sql": req.sql, "format": format.as_str() });
    audit(
        &state,
        &principal,
        "query.export",
        "export".into(),
        None,
        Some(detail),
        "success",
    )
    .await;
    let filename = format!("sotp-export.{}", format.extension());
    let body = Body::from_stream(stream(rows, encoder, first, format, principal.actor));
    Ok((
        [
            (header::CONTENT_TYPE, format.content_type().to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
        body,
    )
        .into_response())
}

struct Export {
    rows: BatchStream,
    encoder: Option<ExportEncoder>,
    first: Option<Vec<u8>>,
    format: ExportFormat,
    actor: String,
    bytes: u64,
    started: Instant,
}

/// The file's bytes as they are encoded; ends after the footer or after an error.
fn stream(
    rows: BatchStream,
    encoder: ExportEncoder,
    first: Vec<u8>,
    format: ExportFormat,
    actor: String,
) -> impl futures::Stream<Item = Result<Bytes, QueryError>> + Send {
    let export = Export {
        rows,
        encoder: Some(encoder),
        first: Some(first),
        format,
        actor,
        bytes: 0,
        started: Instant::now(),
    };
    futures::stream::unfold(export, |mut e| async move {
        if let Some(first) = e.first.take().filter(|b| !b.is_empty()) {
            e.bytes += first.len() as u64;
            return Some((Ok(Bytes::from(first)), e));
        }
        loop {
            let encoder = e.encoder.as_mut()?;
            let step = match e.rows.next().await {
                Some(Ok(batch)) => encoder.write(&batch),
                Some(Err(err)) => Err(err),
                None => {
                    let last = e
                        .encoder
                        .take()
                        .map_or(Ok(Vec::new()), ExportEncoder::finish);
                    if last.is_ok() {
                        metrics::counter!("sotp_exports_total", "outcome" => "ok").increment(1);
                        tracing::info!(
                            actor = %e.actor,
                            format = e.format.as_str(),
                            rows = e.rows.rows(),
                            bytes = e.bytes,
                            took_ms = e.started.elapsed().as_millis() as u64,
                            "export done"
                        );
                    }
                    last
                }
            };
            match step {
                Ok(bytes) if bytes.is_empty() && e.encoder.is_some() => continue,
                Ok(bytes) => {
                    e.bytes += bytes.len() as u64;
                    metrics::counter!("sotp_export_bytes_total").increment(bytes.len() as u64);
                    return Some((Ok(Bytes::from(bytes)), e));
                }
                Err(err) => {
                    e.encoder = None;
                    metrics::counter!("sotp_exports_total", "outcome" => err.code()).increment(1);
                    tracing::warn!(
                        actor = %e.actor,
                        format = e.format.as_str(),
                        rows = e.rows.rows(),
                        error = %err,
                        "export ended early: the client gets an incomplete transfer"
                    );
                    return Some((Err(err), e));
                }
            }
        }
    })
}
