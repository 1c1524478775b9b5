//! Who is calling and what they may do: bearer tokens (access JWTs and API tokens), the
//! route permission table, rate limits, security headers and CORS.
//!
//! Every route is listed in [`ROUTES`] with its access rule; the middleware refuses a
//! route missing from the table, so a new route cannot be left open by accident.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sotp_inventory::{Permission, Role, Store, User};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;

use super::ApiState;
use super::auth_config::AuthConfig;
use crate::error::error_body;

/// Who may call a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone, without a token.
    Public,
    /// `/metrics`: public unless `[auth] public_metrics = false`.
    Metrics,
    /// A token whose role has this permission.
    Needs(Permission),
}

/// Every route with its access rule: the one permission matrix of the HTTP API (the
/// role side is [`Role::allows`]).
pub const ROUTES: &[(&str, &str, Access)] = {
    use Access::*;
    use Permission::*;
    &[
        ("GET", "/health", Public),
        ("GET", "/ready", Public),
        ("GET", "/metrics", Metrics),
        ("GET", "/api/v1/openapi.json", Public),
        ("POST", "/api/v1/auth/login", Public),
        ("POST", "/api/v1/auth/refresh", Public),
        ("POST", "/api/v1/auth/logout", Needs(Self_)),
        ("POST", "/api/v1/auth/password", Needs(Self_)),
        ("GET", "/api/v1/auth/me", Needs(Self_)),
        ("POST", "/api/v1/query", Needs(Query)),
        ("GET", "/api/v1/logs", Needs(Query)),
        ("GET", "/api/v1/logs/stream", Needs(Query)),
        ("GET", "/api/v1/devices", Needs(DevicesRead)),
        ("POST", "/api/v1/devices", Needs(DevicesWrite)),
        ("GET", "/api/v1/devices/{id}", Needs(DevicesRead)),
        ("PUT", "/api/v1/devices/{id}", Needs(DevicesWrite)),
        ("PATCH", "/api/v1/devices/{id}", Needs(DevicesWrite)),
        ("DELETE", "/api/v1/devices/{id}", Needs(DevicesWrite)),
        ("GET", "/api/v1/users", Needs(Admin)),
        ("POST", "/api/v1/users", Needs(Admin)),
        ("PATCH", "/api/v1/users/{id}", Needs(Admin)),
        ("POST", "/api/v1/users/{id}/password", Needs(Admin)),
        ("GET", "/api/v1/tokens", Needs(Admin)),
        ("POST", "/api/v1/tokens", Needs(Admin)),
        ("DELETE", "/api/v1/tokens/{id}", Needs(Admin)),
        ("GET", "/api/v1/audit", Needs(AuditRead)),
    ]
};

/// The authenticated caller of a request.
#[derive(Clone, Debug)]
pub struct Principal {
    /// User name, or `token:<name>` for an API token.
    pub actor: String,
    /// Role in force for this request.
    pub role: Role,
    /// The user, for sessions.
    pub user_id: Option<i64>,
    /// The session of an access token.
    pub session_id: Option<String>,
    /// Client address.
    pub source: String,
}

/// Claims of an access token.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Claims {
    pub(crate) sub: String,
    pub(crate) uid: i64,
    pub(crate) sid: String,
    pub(crate) role: Role,
    pub(crate) iat: i64,
    pub(crate) exp: i64,
}

/// The control plane as the API sees it: the store, token keys, limits.
///
/// axum clones the API state for every request (once per middleware, extractor and
/// handler), so all of it sits behind one `Arc`: a clone is one reference count, not a
/// dozen contended ones (they showed up in the issue 6 benchmark's profile).
#[derive(Clone)]
pub struct Control(Arc<ControlInner>);

/// What [`Control`] shares; reached through `Deref` (`control.store`).
pub struct ControlInner {
    /// The inventory.
    pub store: Store,
    pub(crate) config: AuthConfig,
    pub(crate) enc: EncodingKey,
    dec: DecodingKey,
    general: DefaultKeyedRateLimiter<IpAddr>,
    login: DefaultKeyedRateLimiter<IpAddr>,
    checks: std::sync::atomic::AtomicU64,
}

impl std::ops::Deref for Control {
    type Target = ControlInner;

    fn deref(&self) -> &ControlInner {
        &self.0
    }
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::fmt::Debug for ControlInner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Control")
            .field("backend", &self.store.backend())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Control {
    /// Access tokens are signed (HS256) with a key derived from the master key, so
    /// every API process sharing the master key accepts them.
    pub fn new(store: Store, config: AuthConfig) -> Self {
        let key = store.master_key().derive("jwt-hs256");
        let nz = |n: u32| NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN);
        let general = Quota::per_second(nz(config.requests_per_second))
            .allow_burst(nz(config.requests_per_second.saturating_mul(2)));
        let login = Quota::per_minute(nz(config.logins_per_minute))
            .allow_burst(nz(config.logins_per_minute));
        Self(Arc::new(ControlInner {
            store: store
                .with_refresh_ttl(config.refresh_ttl)
                .with_session_lifetime(config.session_lifetime),
            enc: EncodingKey::from_secret(&key),
            dec: DecodingKey::from_secret(&key),
            general: RateLimiter::keyed(general),
            login: RateLimiter::keyed(login),
            checks: Default::default(),
            config,
        }))
    }

    /// A signed access token for `user` in session `sid`; and its lifetime in seconds.
    pub(crate) fn access_token(&self, user: &User, sid: &str) -> (String, i64) {
        let now = chrono::Utc::now().timestamp();
        let ttl = self.config.access_ttl.as_secs() as i64;
        let claims = Claims {
            sub: user.username.clone(),
            uid: user.id,
            sid: sid.to_string(),
            role: user.role,
            iat: now,
            exp: now + ttl,
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.enc)
            .unwrap_or_default();
        (token, ttl)
    }

    /// Checks a login attempt against the per-address limit.
    pub(crate) fn login_allowed(&self, ip: IpAddr) -> bool {
        self.login.check_key(&ip).is_ok()
    }

    async fn authenticate(&self, token: &str, source: String) -> Result<Principal, Response> {
        let denied = |m: &str| unauthorized(m);
        if token.starts_with("sotp_") {
            let t = self
                .store
                .check_api_token(token)
                .await
                .map_err(super::control_error::into_response)?
                .ok_or_else(|| denied("unknown, expired or revoked API token"))?;
            return Ok(Principal {
                actor: format!("token:{}", t.name),
                role: t.role,
                user_id: None,
                session_id: None,
                source,
            });
        }
        let mut v = Validation::new(Algorithm::HS256);
        v.leeway = 5;
        v.set_required_spec_claims(&["exp", "sub"]);
        let claims = jsonwebtoken::decode::<Claims>(token, &self.dec, &v)
            .map_err(|e| denied(&format!("invalid access token: {e}")))?
            .claims;
        let user = self
            .store
            .session_user(&claims.sid)
            .await
            .map_err(super::control_error::into_response)?
            .ok_or_else(|| denied("session ended (logged out, revoked or user disabled)"))?;
        if user.must_change_password {
            return Err(Principal::must_change());
        }
        Ok(Principal {
            actor: user.username,
            role: user.role,
            user_id: Some(user.id),
            session_id: Some(claims.sid),
            source,
        })
    }
}

impl Principal {
    fn must_change() -> Response {
        error_body(
            StatusCode::FORBIDDEN,
            "password_change_required",
            "change your password first: POST /api/v1/auth/password",
        )
    }
}

fn unauthorized(message: &str) -> Response {
    let mut r = error_body(StatusCode::UNAUTHORIZED, "unauthenticated", message);
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"sotp\""),
    );
    r
}

/// The client's address (the TCP peer; proxies' headers are not trusted).
pub(crate) fn client_ip(req_ext: &axum::http::Extensions) -> IpAddr {
    req_ext
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::from([0, 0, 0, 0]), |c| c.0.ip())
}

/// The access rule of a route, or `None` when it is missing from [`ROUTES`].
pub fn access_of(method: &Method, path: &str) -> Option<Access> {
    ROUTES
        .iter()
        .find(|(m, p, _)| *m == method.as_str() && *p == path)
        .map(|(_, _, a)| *a)
}

/// The middleware on every route: rate limit, authentication, permission.
pub(crate) async fn require(State(st): State<ApiState>, mut req: Request, next: Next) -> Response {
    let Some(path) = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
    else {
        return next.run(req).await;
    };
    let access = access_of(req.method(), &path);
    let control = &st.control;
    let perm = match access {
        Some(Access::Public) => return next.run(req).await,
        Some(Access::Metrics) if control.config.public_metrics => return next.run(req).await,
        Some(Access::Metrics) => Permission::Query,
        Some(Access::Needs(p)) => p,
        None => {
            tracing::error!(%path, method = %req.method(), "route missing from the permission table");
            return error_body(
                StatusCode::FORBIDDEN,
                "forbidden",
                "route has no permission entry",
            );
        }
    };
    let ip = client_ip(req.extensions());
    // Forget addresses whose buckets are full again, so the limiter's memory stays small.
    if control
        .checks
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        .is_multiple_of(4096)
    {
        control.general.retain_recent();
        control.login.retain_recent();
    }
    if control.general.check_key(&ip).is_err() {
        let mut r = error_body(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "too many requests from this address; slow down",
        );
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return r;
    }
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(|t| t.trim().to_string());
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return unauthorized(
            "missing `Authorization: Bearer <token>`; log in at POST /api/v1/auth/login",
        );
    };
    let principal = match control.authenticate(&token, ip.to_string()).await {
        Ok(p) => p,
        // A user who must change the password may still do that, or log out.
        Err(r)
            if r.status() == StatusCode::FORBIDDEN
                && (path == "/api/v1/auth/password" || path == "/api/v1/auth/logout") =>
        {
            match must_change_principal(control, &token, ip).await {
                Some(p) => p,
                None => return r,
            }
        }
        Err(r) => return r,
    };
    if !principal.role.allows(perm) {
        return error_body(
            StatusCode::FORBIDDEN,
            "forbidden",
            &format!("role {} may not {} {path}", principal.role, req.method()),
        );
    }
    req.extensions_mut().insert(principal);
    next.run(req).await
}

async fn must_change_principal(control: &Control, token: &str, ip: IpAddr) -> Option<Principal> {
    let mut v = Validation::new(Algorithm::HS256);
    v.leeway = 5;
    let claims = jsonwebtoken::decode::<Claims>(token, &control.dec, &v)
        .ok()?
        .claims;
    let user = control.store.session_user(&claims.sid).await.ok()??;
    Some(Principal {
        actor: user.username,
        role: user.role,
        user_id: Some(user.id),
        session_id: Some(claims.sid),
        source: ip.to_string(),
    })
}

/// Security headers on every response.
pub(crate) fn header_layers() -> [SetResponseHeaderLayer<HeaderValue>; 5] {
    let h = |n: &'static str, v: &'static str| {
        SetResponseHeaderLayer::if_not_present(
            HeaderName::from_static(n),
            HeaderValue::from_static(v),
        )
    };
    [
        h("x-content-type-options", "nosniff"),
        h("x-frame-options", "DENY"),
        h("referrer-policy", "no-referrer"),
        h(
            "content-security-policy",
            "default-src 'none'; frame-ancestors 'none'",
        ),
        h("cache-control", "no-store"),
    ]
}

/// CORS for the configured origins (none: no cross-origin access).
pub(crate) fn cors(config: &AuthConfig) -> CorsLayer {
    let origins: Vec<HeaderValue> = config
        .cors_origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
}
