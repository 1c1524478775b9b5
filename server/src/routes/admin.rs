//! Admin and auditor routes: users, API tokens and the audit log.

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use sotp_inventory::{ApiToken, AuditEntry, AuditFilter, Role, User};

use super::devices::{audit, json};
use crate::{ApiError, ApiJson, ApiQuery, ApiState, ErrorBody, Principal};

/// `POST /api/v1/users` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(as = NewUser)]
#[serde(deny_unknown_fields)]
pub struct NewUserRequest {
    /// Login name.
    pub username: String,
    /// Initial password.
    pub password: String,
    /// Role.
    pub role: Role,
    /// Make the user choose a new password at first login (default true).
    #[serde(default)]
    pub must_change_password: Option<bool>,
}

/// `PATCH /api/v1/users/{id}` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    /// Disable (ends every session) or enable.
    pub disabled: Option<bool>,
    /// Force a password change at next use.
    pub must_change_password: Option<bool>,
    /// New role (ends every session when it changes).
    pub role: Option<Role>,
}

/// `POST /api/v1/users/{id}/password` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordReset {
    /// The new password; the user must change it at next use.
    pub password: String,
}

/// `POST /api/v1/tokens` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(as = NewToken)]
#[serde(deny_unknown_fields)]
pub struct NewTokenRequest {
    /// Name, e.g. `grafana`.
    pub name: String,
    /// Role the token acts with.
    pub role: Role,
    /// Seconds until it expires; none: never.
    #[serde(default)]
    pub expires_in: Option<i64>,
}

/// A list of users.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserList {
    /// Every user.
    pub items: Vec<User>,
}

/// A list of API tokens.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenList {
    /// Every token (never the secret).
    pub items: Vec<ApiToken>,
}

/// A token just created: its metadata and, this once, the secret.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NewTokenResponse {
    /// Metadata.
    #[serde(flatten)]
    pub meta: ApiToken,
    /// `sotp_...`, shown once: send it as `Authorization: Bearer`.
    pub token: String,
}

/// One page of the audit log, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditPage {
    /// The entries.
    pub items: Vec<AuditEntry>,
    /// Entries matching the filters, over all pages.
    pub total: i64,
}

/// Every user.
#[utoipa::path(get, path = "/api/v1/users", tag = "admin",
    responses((status = 200, description = "every user", body = UserList)),
    security(("bearer" = ["admin"])))]
pub async fn list_users(State(st): State<ApiState>) -> Result<Json<UserList>, ApiError> {
    Ok(Json(UserList {
        items: st.control.store.users().await?,
    }))
}

/// Creates a user.
#[utoipa::path(post, path = "/api/v1/users", tag = "admin",
    request_body = NewUserRequest,
    responses(
        (status = 201, description = "created", body = User),
        (status = 409, description = "the name is taken", body = ErrorBody),
        (status = 422, description = "invalid fields, each listed", body = ErrorBody)),
    security(("bearer" = ["admin"])))]
pub async fn create_user(
    State(st): State<ApiState>,
    Extension(p): Extension<Principal>,
    ApiJson(b): ApiJson<NewUserRequest>,
) -> Result<(StatusCode, Json<User>), ApiError> {
    let r = st
        .control
        .store
        .create_user(
            &b.username,
            &b.password,
            b.role,
            b.must_change_password.unwrap_or(true),
        )
        .await;
    let resource = format!("user/{}", b.username.chars().take(64).collect::<String>());
    match r {
        Ok(u) => {
            audit(&st, &p, "user.create", resource, None, json(&u), "success").await;
            Ok((StatusCode::CREATED, Json(u)))
        }
        Err(e) => {
            audit(&st, &p, "user.create", resource, None, None, "failure").await;
            Err(e.into())
        }
    }
}

/// Disables or enables a user, forces a password change, or changes the role.
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "admin",
    params(("id" = i64, Path, description = "User id")),
    request_body = UserPatch,
    responses(
        (status = 200, description = "the user after the change", body = User),
        (status = 404, description = "no such user", body = ErrorBody)),
    security(("bearer" = ["admin"])))]
pub async fn update_user(
    State(st): State<ApiState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<i64>,
    ApiJson(b): ApiJson<UserPatch>,
) -> Result<Json<User>, ApiError> {
    let (before, after) = st
        .control
        .store
        .update_user(id, b.disabled, b.must_change_password, b.role)
        .await?;
    let resource = format!("user/{}", after.username);
    audit(
        &st,
        &p,
        "user.update",
        resource,
        json(&before),
        json(&after),
        "success",
    )
    .await;
    Ok(Json(after))
}

/// Sets a new password the user must change at next use; every session of the user ends.
#[utoipa::path(post, path = "/api/v1/users/{id}/password", tag = "admin",
    params(("id" = i64, Path, description = "User id")),
    request_body = PasswordReset,
    responses(
        (status = 204, description = "reset"),
        (status = 404, description = "no such user", body = ErrorBody),
        (status = 422, description = "the password is too weak", body = ErrorBody)),
    security(("bearer" = ["admin"])))]
pub async fn reset_password(
    State(st): State<ApiState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<i64>,
    ApiJson(b): ApiJson<PasswordReset>,
) -> Result<StatusCode, ApiError> {
    let store = &st.control.store;
    let user = store.user(id).await?;
    store.set_password(id, &b.password, true).await?;
    let resource = format!("user/{}", user.username);
    audit(
        &st,
        &p,
        "user.reset_password",
        resource,
        None,
        None,
        "success",
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

/// Every API token (never the secret).
#[utoipa::path(get, path = "/api/v1/tokens", tag = "admin",
    responses((status = 200, description = "every token", body = TokenList)),
    security(("bearer" = ["admin"])))]
pub async fn list_tokens(State(st): State<ApiState>) -> Result<Json<TokenList>, ApiError> {
    Ok(Json(TokenList {
        items: st.control.store.api_tokens().await?,
    }))
}

/// Creates an API token for a machine (Grafana, a script); the secret is shown once.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "admin",
    request_body = NewTokenRequest,
    responses(
        (status = 201, description = "created; `token` is shown this once", body = NewTokenResponse),
        (status = 422, description = "invalid fields, each listed", body = ErrorBody)),
    security(("bearer" = ["admin"])))]
pub async fn create_token(
    State(st): State<ApiState>,
    Extension(p): Extension<Principal>,
    ApiJson(b): ApiJson<NewTokenRequest>,
) -> Result<(StatusCode, Json<NewTokenResponse>), ApiError> {
    let t = st
        .control
        .store
        .create_api_token(&b.name, b.role, b.expires_in, &p.actor)
        .await?;
    let resource = format!("token/{}", t.meta.id);
    audit(
        &st,
        &p,
        "token.create",
        resource,
        None,
        json(&t.meta),
        "success",
    )
    .await;
    Ok((
        StatusCode::CREATED,
        Json(NewTokenResponse {
            meta: t.meta,
            token: t.token,
        }),
    ))
}

/// Revokes an API token at once.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "admin",
    params(("id" = i64, Path, description = "Token id")),
    responses(
        (status = 200, description = "the revoked token", body = ApiToken),
        (status = 404, description = "no such token", body = ErrorBody)),
    security(("bearer" = ["admin"])))]
pub async fn revoke_token(
    State(st): State<ApiState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<i64>,
) -> Result<Json<ApiToken>, ApiError> {
    let t = st.control.store.revoke_api_token(id).await?;
    audit(
        &st,
        &p,
        "token.revoke",
        format!("token/{id}"),
        None,
        json(&t),
        "success",
    )
    .await;
    Ok(Json(t))
}

/// The audit log, newest first, with filters.
#[utoipa::path(get, path = "/api/v1/audit", tag = "admin",
    params(AuditFilter),
    responses((status = 200, description = "one page", body = AuditPage)),
    security(("bearer" = ["audit.read"])))]
pub async fn list_audit(
    State(st): State<ApiState>,
    ApiQuery(f): ApiQuery<AuditFilter>,
) -> Result<Json<AuditPage>, ApiError> {
    let (items, total) = st.control.store.audit_entries(&f).await?;
    Ok(Json(AuditPage { items, total }))
}
