//! `POST /api/v1/query`: one read-only SQL statement over the tables the caller's role
//! may read, answered as JSON or CSV.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Extension, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use sotp_query::{Caller, CsvChunks, JsonChunks};

use crate::{ApiError, ApiQuery, ApiState, ErrorBody, Principal};

/// The request body of `POST /api/v1/query`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QueryRequest {
    /// One read-only SQL statement (SELECT, WITH, EXPLAIN, SHOW).
    #[schema(
        example = "SELECT device, avg(value) AS rtt_ms FROM metrics WHERE metric = 'icmp.rtt_ms' GROUP BY device"
    )]
    pub sql: String,
}

/// Query-string parameters of `POST /api/v1/query`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct QueryParams {
    /// `json` (default) or `csv`.
    #[serde(default)]
    pub format: Option<String>,
}

/// A JSON result: the columns with their Arrow types, then the rows.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct QueryResult {
    /// Name and type of each column.
    pub columns: Vec<Column>,
    /// The rows, each an array in column order.
    pub rows: Vec<Vec<serde_json::Value>>,
}

/// One result column.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Column {
    /// Column name.
    pub name: String,
    /// Arrow data type.
    #[serde(rename = "type")]
    pub data_type: String,
}

/// Runs one read-only SQL statement; each role sees its own tables.
#[utoipa::path(post, path = "/api/v1/query", tag = "sql",
    params(QueryParams),
    request_body = QueryRequest,
    responses(
        (status = 200, description = "the result (JSON, or CSV with ?format=csv)", body = QueryResult),
        (status = 400, description = "invalid SQL or parameters", body = ErrorBody),
        (status = 403, description = "not a read-only statement, or a table the role may not read", body = ErrorBody),
        (status = 422, description = "a time, memory or row limit was exceeded", body = ErrorBody)),
    security(("bearer" = ["query"])))]
pub async fn query(
    State(state): State<ApiState>,
    Extension(principal): Extension<Principal>,
    ApiQuery(params): ApiQuery<QueryParams>,
    body: Result<Json<QueryRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    // Any body that is not `{"sql": "..."}` is a 400 with the expected shape (415 and 413
    // for a wrong content type and an oversized body).
    let Json(req) = body.map_err(|e| {
        let status = match e {
            JsonRejection::MissingJsonContentType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            JsonRejection::BytesRejection(_) => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::BAD_REQUEST,
        };
        ApiError::new(
            status,
            "invalid_body",
            format!(
                "{}; expected a JSON body like {{\"sql\": \"SELECT 1\"}}",
                e.body_text()
            ),
        )
    })?;
    let format = params.format.unwrap_or_else(|| "json".into());
    if format != "json" && format != "csv" {
        return Err(ApiError::bad_parameters(format!(
            "unknown format `{format}`: use json or csv"
        )));
    }
    let caller = Caller {
        user: Some(&principal.actor),
        tables: Some(principal.role.sql_tables()),
    };
    let out = state.engine.execute_for(caller, &req.sql).await?;
    // Encoded as the client reads it: the text is never held whole, and the result keeps
    // its place in the query memory budget until the last byte is sent.
    let (content_type, body) = if format == "csv" {
        ("text/csv; charset=utf-8", stream(CsvChunks::new(out)))
    } else {
        ("application/json", stream(JsonChunks::new(out)))
    };
    Ok(([(header::CONTENT_TYPE, content_type)], body).into_response())
}

fn stream(
    chunks: impl Iterator<Item = Result<Vec<u8>, sotp_query::QueryError>> + Send + 'static,
) -> axum::body::Body {
    axum::body::Body::from_stream(futures::stream::iter(
        chunks.map(|c| c.map(axum::body::Bytes::from)),
    ))
}
