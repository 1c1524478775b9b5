//! The one error type of the HTTP API: every handler returns `Result<_, ApiError>` and
//! every failure leaves as the same JSON body `{"error": {"code", "message"}}` (plus
//! `fields` for a validation failure), mapped once here.
//!
//! 4xx is the caller's fault (invalid JSON, a refused statement, a limit exceeded);
//! 5xx is SOTP's own. Database and object-store error texts are logged, never sent: the
//! client gets a stable code and a short sentence.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use sotp_inventory::{FieldError, InventoryError};
use sotp_query::QueryError;

use crate::auth::AuthError;

/// The body of every error response (the OpenAPI `Error` schema).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// `error` of [`ErrorBody`].
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `validation_failed`.
    pub code: String,
    /// For people.
    pub message: String,
    /// Each invalid field with the reason (validation failures only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fields: Option<Vec<FieldError>>,
}

/// Why a request failed.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    fields: Option<Vec<FieldError>>,
    retry_after: Option<u64>,
}

impl ApiError {
    /// An error with this status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            fields: None,
            retry_after: None,
        }
    }

    /// 400 with code `invalid_parameters`.
    pub fn bad_parameters(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_parameters", message)
    }

    /// 429 with a `Retry-After` header.
    pub fn rate_limited(message: impl Into<String>, retry_after_s: u64) -> Self {
        Self {
            retry_after: Some(retry_after_s),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message)
        }
    }

    /// A server-side failure: logged with its detail, answered with a generic message.
    pub fn internal(what: &str, detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, what, "request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("{what} failed; the server log has the details"),
        )
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The stable code.
    pub fn code(&self) -> &'static str {
        self.code
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message,
                fields: self.fields,
            },
        };
        let mut r = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"sotp\""),
            );
        }
        if let Some(s) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&s.to_string())
        {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        r
    }
}

impl From<InventoryError> for ApiError {
    fn from(e: InventoryError) -> Self {
        match e {
            InventoryError::Validation(fields) => Self {
                fields: Some(fields.clone()),
                ..Self::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "validation_failed",
                    InventoryError::Validation(fields).to_string(),
                )
            },
            InventoryError::NotFound(m) => {
                Self::new(StatusCode::NOT_FOUND, "not_found", format!("{m} not found"))
            }
            InventoryError::Conflict(m) => Self::new(StatusCode::CONFLICT, "conflict", m),
            InventoryError::Refused(m) => Self::new(StatusCode::CONFLICT, "config_managed", m),
            InventoryError::Unauthenticated(m) => {
                Self::new(StatusCode::UNAUTHORIZED, "unauthenticated", m)
            }
            e @ InventoryError::Throttled(secs) => Self {
                retry_after: Some(secs.max(1) as u64),
                ..Self::new(StatusCode::TOO_MANY_REQUESTS, "throttled", e.to_string())
            },
            e @ InventoryError::Database(_) => {
                tracing::error!(error = %e, "inventory database");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "database_unavailable",
                    "the control database did not answer; retry later",
                )
            }
            e => Self::internal("the inventory", e),
        }
    }
}

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> Self {
        if let QueryError::Busy(m) = &e {
            return Self {
                retry_after: Some(1),
                ..Self::new(StatusCode::SERVICE_UNAVAILABLE, "busy", m.clone())
            };
        }
        let status =
            StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if status.is_server_error() {
            return Self::internal("the query", e);
        }
        Self::new(status, e.code(), e.to_string())
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        let (status, code) = match &e {
            AuthError::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, "unauthenticated"),
            AuthError::PasswordChangeRequired => {
                (StatusCode::FORBIDDEN, "password_change_required")
            }
            AuthError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            AuthError::RateLimited => return Self::rate_limited(e.to_string(), 1),
            AuthError::Store(_) => {
                return Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "database_unavailable",
                    "the control database did not answer; retry later",
                );
            }
        };
        Self::new(status, code, e.to_string())
    }
}

impl From<JsonRejection> for ApiError {
    fn from(e: JsonRejection) -> Self {
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
        Self::new(status, code, e.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(e: QueryRejection) -> Self {
        Self::bad_parameters(e.body_text())
    }
}

/// A JSON request body whose rejection is an [`ApiError`]: 400 invalid JSON, 415 wrong
/// content type, 413 too large, 422 well-formed JSON with wrong fields.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        Ok(Self(Json::<T>::from_request(req, state).await?.0))
    }
}

/// Query-string parameters whose rejection is a 400 naming the bad one.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Ok(Self(
            axum::extract::Query::<T>::from_request_parts(parts, state)
                .await?
                .0,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_and_query_failures_never_send_their_text() {
        let e = ApiError::from(QueryError::Internal(
            "object store: s3://secret-bucket/key denied".into(),
        ));
        assert_eq!(e.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!e.message.contains("secret-bucket"), "{e}");
        let e = ApiError::from(InventoryError::Database(sqlx_error()));
        assert_eq!(e.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(!e.message.contains("pg_hba"), "{e}");
        let e = ApiError::from(QueryError::RowLimit(10));
        assert_eq!((e.status().as_u16(), e.code()), (422, "row_limit_exceeded"));
    }

    fn sqlx_error() -> sotp_inventory::SqlxError {
        sotp_inventory::SqlxError::Protocol("pg_hba.conf rejects host 10.0.0.1".into())
    }
}
