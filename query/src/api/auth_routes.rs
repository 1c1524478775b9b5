//! `/api/v1/auth/*`: login, refresh, logout, change password, who am I.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Extension, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use sotp_inventory::{InventoryError, LoginOutcome, NewAudit};

use super::ApiState;
use super::control_error::{body, into_response};
use super::security::{Principal, client_ip};
use crate::error::error_body;

/// `POST /api/v1/auth/login` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LoginRequest {
    /// User name.
    pub(crate) username: String,
    /// Password.
    pub(crate) password: String,
}

/// `POST /api/v1/auth/refresh` and (optionally) `/logout` body.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RefreshRequest {
    /// The refresh token of the last login or refresh.
    pub(crate) refresh_token: String,
}

/// `POST /api/v1/auth/password` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PasswordRequest {
    /// The current password.
    pub(crate) current_password: String,
    /// The new password (at least 8 characters).
    pub(crate) new_password: String,
}

/// Tokens returned by login and refresh.
#[derive(Debug, Serialize)]
pub(crate) struct TokenResponse {
    /// JWT for `Authorization: Bearer`.
    pub(crate) access_token: String,
    /// Single-use token for `POST /api/v1/auth/refresh`.
    pub(crate) refresh_token: String,
    /// Seconds the access token is valid.
    pub(crate) expires_in: i64,
    /// Always `Bearer`.
    pub(crate) token_type: &'static str,
}

fn tokens(st: &ApiState, out: &LoginOutcome) -> Response {
    let (access_token, expires_in) = st.control.access_token(&out.user, &out.session.id);
    Json(TokenResponse {
        access_token,
        refresh_token: out.session.refresh_token.clone(),
        expires_in,
        token_type: "Bearer",
    })
    .into_response()
}

pub(crate) async fn login(State(st): State<ApiState>, req: Request) -> Response {
    let ip = client_ip(req.extensions());
    if !st.control.login_allowed(ip) {
        return error_body(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "too many login attempts from this address; wait a minute",
        );
    }
    let b: Result<Json<LoginRequest>, JsonRejection> =
        <Json<LoginRequest> as axum::extract::FromRequest<ApiState>>::from_request(req, &st).await;
    let b = match body(b) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let store = &st.control.store;
    let result = store.login(&b.username, &b.password).await;
    let outcome = match &result {
        Ok(_) => "success",
        Err(InventoryError::Locked(_)) => "locked",
        Err(_) => "failure",
    };
    let _ = store
        .audit(NewAudit {
            actor: b.username.chars().take(64).collect(),
            source: ip.to_string(),
            action: "auth.login".into(),
            resource: format!("user/{}", b.username.chars().take(64).collect::<String>()),
            outcome: outcome.into(),
            ..Default::default()
        })
        .await;
    match result {
        Ok(out) => tokens(&st, &out),
        Err(e) => {
            // Growing delays on failures slow down guessing beyond the lockout.
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            into_response(e)
        }
    }
}

pub(crate) async fn refresh(
    State(st): State<ApiState>,
    b: Result<Json<RefreshRequest>, JsonRejection>,
) -> Response {
    let b = match body(b) {
        Ok(b) => b,
        Err(r) => return r,
    };
    match st.control.store.refresh(&b.refresh_token).await {
        Ok(out) => tokens(&st, &out),
        Err(e) => {
            if e.to_string().contains("reused") {
                let _ = st
                    .control
                    .store
                    .audit(NewAudit {
                        actor: "anonymous".into(),
                        action: "auth.refresh_reuse".into(),
                        resource: "session".into(),
                        outcome: "denied".into(),
                        ..Default::default()
                    })
                    .await;
            }
            into_response(e)
        }
    }
}

pub(crate) async fn logout(
    State(st): State<ApiState>,
    Extension(p): Extension<Principal>,
) -> Response {
    let Some(sid) = &p.session_id else {
        return error_body(
            StatusCode::BAD_REQUEST,
            "not_a_session",
            "API tokens do not log out; revoke them with DELETE /api/v1/tokens/{id}",
        );
    };
    if let Err(e) = st.control.store.revoke_session(sid).await {
        return into_response(e);
    }
    let _ = st
        .control
        .store
        .audit(NewAudit {
            actor: p.actor.clone(),
            source: p.source.clone(),
            action: "auth.logout".into(),
            resource: format!("user/{}", p.actor),
            outcome: "success".into(),
            ..Default::default()
        })
        .await;
    StatusCode::NO_CONTENT.into_response()
}

pub(crate) async fn change_password(
    State(st): State<ApiState>,
    Extension(p): Extension<Principal>,
    b: Result<Json<PasswordRequest>, JsonRejection>,
) -> Response {
    let b = match body(b) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Some(uid) = p.user_id else {
        return error_body(
            StatusCode::BAD_REQUEST,
            "not_a_user",
            "API tokens have no password",
        );
    };
    let r = st
        .control
        .store
        .change_password(
            uid,
            &b.current_password,
            &b.new_password,
            p.session_id.as_deref(),
        )
        .await;
    let _ = st
        .control
        .store
        .audit(NewAudit {
            actor: p.actor.clone(),
            source: p.source.clone(),
            action: "user.change_password".into(),
            resource: format!("user/{}", p.actor),
            outcome: if r.is_ok() { "success" } else { "failure" }.into(),
            ..Default::default()
        })
        .await;
    match r {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => into_response(e),
    }
}

pub(crate) async fn me(Extension(p): Extension<Principal>) -> Response {
    Json(serde_json::json!({ "actor": p.actor, "role": p.role, "user_id": p.user_id }))
        .into_response()
}
