//! Maps inventory errors and request-body rejections to JSON error responses.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sotp_inventory::InventoryError;

use crate::error::error_body;

/// The response for an inventory error.
pub(crate) fn into_response(e: InventoryError) -> Response {
    match e {
        InventoryError::Validation(fields) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(serde_json::json!({ "error": {
                "code": "validation_failed",
                "message": InventoryError::Validation(fields.clone()).to_string(),
                "fields": fields,
            }})),
        )
            .into_response(),
        InventoryError::NotFound(m) => error_body(
            StatusCode::NOT_FOUND,
            "not_found",
            &format!("{m} not found"),
        ),
        InventoryError::Conflict(m) => error_body(StatusCode::CONFLICT, "conflict", &m),
        InventoryError::Refused(m) => error_body(StatusCode::CONFLICT, "config_managed", &m),
        InventoryError::Unauthenticated(m) => {
            error_body(StatusCode::UNAUTHORIZED, "unauthenticated", &m)
        }
        e @ InventoryError::Locked(secs) => {
            let mut r = error_body(StatusCode::TOO_MANY_REQUESTS, "locked", &e.to_string());
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            r
        }
        e @ InventoryError::Database(_) => {
            tracing::error!(error = %e, "inventory database");
            error_body(
                StatusCode::SERVICE_UNAVAILABLE,
                "database_unavailable",
                &e.to_string(),
            )
        }
        e => {
            tracing::error!(error = %e, "inventory");
            error_body(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                &e.to_string(),
            )
        }
    }
}

/// The request body, or the response for a bad one: 400 invalid JSON, 415 wrong
/// content type, 413 too large, 422 well-formed JSON with wrong fields.
// The error is the finished HTTP response, returned straight to the client.
#[allow(clippy::result_large_err)]
pub(crate) fn body<T>(b: Result<Json<T>, JsonRejection>) -> Result<T, Response> {
    b.map(|Json(v)| v).map_err(|e| {
        let (status, code) = match &e {
            JsonRejection::JsonDataError(_) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
            }
            JsonRejection::MissingJsonContentType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "invalid_body")
            }
            JsonRejection::BytesRejection(_) => (StatusCode::PAYLOAD_TOO_LARGE, "invalid_body"),
            _ => (StatusCode::BAD_REQUEST, "invalid_json"),
        };
        error_body(status, code, &e.body_text())
    })
}

/// Query-string parameters, or a 400 naming the bad one.
#[allow(clippy::result_large_err)]
pub(crate) fn params<T>(p: Result<axum::extract::Query<T>, QueryRejection>) -> Result<T, Response> {
    p.map(|axum::extract::Query(v)| v).map_err(|e| {
        error_body(
            StatusCode::BAD_REQUEST,
            "invalid_parameters",
            &e.body_text(),
        )
    })
}
