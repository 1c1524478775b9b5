//! Admin and auditor routes: users, API tokens and the audit log.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use sotp_inventory::{AuditFilter, Role};

use super::ApiState;
use super::control_error::{body, into_response, params};
use super::devices::audit;
use super::security::Principal;

/// `POST /api/v1/users` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewUserRequest {
    /// Login name.
    pub(crate) username: String,
    /// Initial password.
    pub(crate) password: String,
    /// Role.
    pub(crate) role: Role,
    /// Make the user choose a new password at first login (default true).
    #[serde(default)]
    pub(crate) must_change_password: Option<bool>,
}

/// `PATCH /api/v1/users/{id}` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UserPatch {
    /// Disable (revokes every session) or enable.
    pub(crate) disabled: Option<bool>,
    /// Force a password change at next use.
    pub(crate) must_change_password: Option<bool>,
    /// New role.
    pub(crate) role: Option<Role>,
}

/// `POST /api/v1/users/{id}/password` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PasswordReset {
    /// The new password; the user must change it at next use.
    pub(crate) password: String,
}

/// `POST /api/v1/tokens` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewTokenRequest {
    /// Name, e.g. `grafana`.
    pub(crate) name: String,
    /// Role the token acts with.
    pub(crate) role: Role,
    /// Seconds until it expires; none: never.
    #[serde(default)]
    pub(crate) expires_in: Option<i64>,
}

fn json<T: serde::Serialize>(v: &T) -> Option<serde_json::Value> {
    serde_json::to_value(v).ok()
}

pub(crate) async fn list_users(State(st): State<ApiState>) -> Response {
    match st.control.store.users().await {
        Ok(u) => Json(serde_json::json!({ "items": u })).into_response(),
        Err(e) => into_response(e),
    }
}

pub(crate) async fn create_user(
    State(st): State<ApiState>,
    Extension(p): Extension<Principal>,
    b: Result<Json<NewUserRequest>, JsonRejection>,
) -> Response {
    let b = match body(b) {
        Ok(b) => b,
        Err(r) => return r,
    };
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
            (StatusCode::CREATED, Json(u)).into_response()
        }
        Err(e) => {
            audit(&st, &p, "user.create", resource, None, None, "failure").await;
            into_response(e)
        }
    }
}

pub(crate) async fn update_user(
    State(st): State<ApiState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<i64>,
    b: Result<Json<UserPatch>, JsonRejection>,
) -> Response {
    let b = match body(b) {
        Ok(b) => b,
        Err(r) => return r,
    };
    match st
        .control
        .store
        .update_user(id, b.disabled, b.must_change_password, b.role)
        .await
    {
        Ok((before, after)) => {
            audit(
                &st,
                &p,
                "user.update",
                format!("user/{}", after.username),
                json(&before),
                json(&after),
                "success",
            )
            .await;
            Json(after).into_response()
        }
        Err(e) => into_response(e),
    }
}

pub(crate) async fn reset_password(
    State(st): State<ApiState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<i64>,
    b: Result<Json<PasswordReset>, JsonRejection>,
) -> Response {
    let b = match body(b) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let store = &st.control.store;
    let user = match store.user(id).await {
        Ok(u) => u,
        Err(e) => return into_response(e),
    };
    match store.set_password(id, &b.password, true).await {
        Ok(()) => {
            audit(
                &st,
                &p,
                "user.reset_password",
                format!("user/{}", user.username),
                None,
                None,
                "success",
            )
            .await;
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => into_response(e),
    }
}

pub(crate) async fn list_tokens(State(st): State<ApiState>) -> Response {
    match st.control.store.api_tokens().await {
        Ok(t) => Json(serde_json::json!({ "items": t })).into_response(),
        Err(e) => into_response(e),
    }
}

pub(crate) async fn create_token(
    State(st): State<ApiState>,
    Extension(p): Extension<Principal>,
    b: Result<Json<NewTokenRequest>, JsonRejection>,
) -> Response {
    let b = match body(b) {
        Ok(b) => b,
        Err(r) => return r,
    };
    match st
        .control
        .store
        .create_api_token(&b.name, b.role, b.expires_in, &p.actor)
        .await
    {
        Ok(t) => {
            audit(
                &st,
                &p,
                "token.create",
                format!("token/{}", t.meta.id),
                None,
                json(&t.meta),
                "success",
            )
            .await;
            let mut v = json(&t.meta).unwrap_or_default();
            v["token"] = serde_json::Value::String(t.token);
            (StatusCode::CREATED, Json(v)).into_response()
        }
        Err(e) => into_response(e),
    }
}

pub(crate) async fn revoke_token(
    State(st): State<ApiState>,
    Extension(p): Extension<Principal>,
    Path(id): Path<i64>,
) -> Response {
    match st.control.store.revoke_api_token(id).await {
        Ok(t) => {
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
            Json(t).into_response()
        }
        Err(e) => into_response(e),
    }
}

pub(crate) async fn list_audit(
    State(st): State<ApiState>,
    q: Result<Query<AuditFilter>, QueryRejection>,
) -> Response {
    let f = match params(q) {
        Ok(f) => f,
        Err(r) => return r,
    };
    match st.control.store.audit_entries(&f).await {
        Ok((items, total)) => {
            Json(serde_json::json!({ "items": items, "total": total })).into_response()
        }
        Err(e) => into_response(e),
    }
}
