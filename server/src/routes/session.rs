//! `/api/v1/auth/*`: login, refresh, logout, change password, who am I.

use axum::Json;
use axum::extract::{Extension, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use sotp_inventory::{InventoryError, LoginOutcome, NewAudit, Role};

use crate::access::client_ip;
use crate::{ApiError, ApiJson, ApiState, ErrorBody, Principal};

/// `POST /api/v1/auth/login` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// User name.
    pub username: String,
    /// Password.
    pub password: String,
}

/// `POST /api/v1/auth/refresh` body.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The refresh token of the last login or refresh.
    pub refresh_token: String,
}

/// `POST /api/v1/auth/password` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordRequest {
    /// The current password.
    pub current_password: String,
    /// The new password (at least 8 characters).
    pub new_password: String,
}

/// Tokens returned by login and refresh.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenResponse {
    /// JWT for `Authorization: Bearer`.
    pub access_token: String,
    /// Single-use token for `POST /api/v1/auth/refresh`.
    pub refresh_token: String,
    /// Seconds the access token is valid.
    pub expires_in: i64,
    /// Always `Bearer`.
    pub token_type: &'static str,
}

/// Who the caller is.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Me {
    /// User name, or `token:<name>`.
    pub actor: String,
    /// Role in force.
    pub role: Role,
    /// The user's id (none for an API token).
    pub user_id: Option<i64>,
}

fn tokens(st: &ApiState, out: &LoginOutcome) -> Json<TokenResponse> {
    let (access_token, expires_in) = st.control.access_token(&out.user, &out.session.id);
    Json(TokenResponse {
        access_token,
        refresh_token: out.session.refresh_token.clone(),
        expires_in,
        token_type: "Bearer",
    })
}

/// Exchanges a user name and password for an access token and a refresh token.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "logged in", body = TokenResponse),
        (status = 401, description = "wrong user name or password", body = ErrorBody),
        (status = 429, description = "too many attempts, or the account is locked", body = ErrorBody)),
    security(()))]
pub async fn login(
    State(st): State<ApiState>,
    req: Request,
) -> Result<Json<TokenResponse>, ApiError> {
    let ip = client_ip(req.extensions());
    if !st.control.login_allowed(ip) {
        return Err(ApiError::rate_limited(
            "too many login attempts from this address; wait a minute",
            60,
        ));
    }
    let ApiJson(b) =
        <ApiJson<LoginRequest> as axum::extract::FromRequest<ApiState>>::from_request(req, &st)
            .await?;
    let store = &st.control.store;
    let result = store.login(&b.username, &b.password, &ip.to_string()).await;
    let outcome = match &result {
        Ok(_) => "success",
        Err(InventoryError::Throttled(_)) => "throttled",
        Err(_) => "failure",
    };
    let succeeded = result.as_ref().ok().map(|out| out.user.username.as_str());
    let shown = st.control.login_actor(&b.username, succeeded).await;
    let _ = store
        .audit(NewAudit {
            actor: shown.clone(),
            source: ip.to_string(),
            action: "auth.login".into(),
            resource: format!("user/{shown}"),
            outcome: outcome.into(),
            ..Default::default()
        })
        .await;
    match result {
        Ok(out) => Ok(tokens(&st, &out)),
        Err(e) => {
            // A fixed delay on failures slows down guessing beyond the lockout.
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            Err(e.into())
        }
    }
}

/// Exchanges a refresh token for new tokens; a token used twice revokes its session.
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "new tokens", body = TokenResponse),
        (status = 401, description = "unknown, expired, reused or revoked", body = ErrorBody)),
    security(()))]
pub async fn refresh(
    State(st): State<ApiState>,
    ApiJson(b): ApiJson<RefreshRequest>,
) -> Result<Json<TokenResponse>, ApiError> {
    match st.control.store.refresh(&b.refresh_token).await {
        Ok(out) => Ok(tokens(&st, &out)),
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
            Err(e.into())
        }
    }
}

/// Ends the session of the access token at once.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    responses(
        (status = 204, description = "logged out"),
        (status = 400, description = "an API token has no session", body = ErrorBody)),
    security(("bearer" = ["self"])))]
pub async fn logout(
    State(st): State<ApiState>,
    Extension(p): Extension<Principal>,
) -> Result<StatusCode, ApiError> {
    let Some(sid) = &p.session_id else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "not_a_session",
            "API tokens do not log out; revoke them with DELETE /api/v1/tokens/{id}",
        ));
    };
    st.control.store.revoke_session(sid).await?;
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
    Ok(StatusCode::NO_CONTENT)
}

/// Changes the caller's own password; every other session of the user ends.
#[utoipa::path(post, path = "/api/v1/auth/password", tag = "auth",
    request_body = PasswordRequest,
    responses(
        (status = 204, description = "changed"),
        (status = 400, description = "an API token has no password", body = ErrorBody),
        (status = 422, description = "the current password is wrong or the new one too weak", body = ErrorBody)),
    security(("bearer" = ["self"])))]
pub async fn change_password(
    State(st): State<ApiState>,
    Extension(p): Extension<Principal>,
    ApiJson(b): ApiJson<PasswordRequest>,
) -> Result<StatusCode, ApiError> {
    let Some(uid) = p.user_id else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "not_a_user",
            "API tokens have no password",
        ));
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
    r?;
    Ok(StatusCode::NO_CONTENT)
}

/// Who the caller is and with which role.
#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth",
    responses((status = 200, description = "the caller", body = Me)),
    security(("bearer" = ["self"])))]
pub async fn me(Extension(p): Extension<Principal>) -> Response {
    Json(Me {
        actor: p.actor,
        role: p.role,
        user_id: p.user_id,
    })
    .into_response()
}
