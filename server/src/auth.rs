//! Who is calling and what they may do, as plain functions of (credential, permission):
//! the one authentication and authorisation every front door uses (the HTTP API's
//! middleware, the PostgreSQL wire's login, the web UI's session cookie), so a rule
//! changed here holds everywhere.
//!
//! A credential is a bearer token (an access JWT from a login, or an API token
//! `sotp_...`) or a user name with a password. [`Control::authenticate`] turns it into a
//! [`Principal`] (checking the session, the user, the token's revocation and expiry on
//! every call), and [`Control::authorize`] also checks the role against a
//! [`Permission`]. Nothing here knows about HTTP.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sotp_inventory::{InventoryError, LoginOutcome, Permission, Role, Store, User};

use crate::auth_config::AuthConfig;

/// How a caller proves who it is.
#[derive(Clone, Copy)]
pub enum Credential<'a> {
    /// `Authorization: Bearer <token>`: an access token or an API token.
    Bearer(&'a str),
    /// A user name and a secret: the user's password, or an API token given as the
    /// password (how PostgreSQL clients such as Grafana log in with a token).
    Password {
        /// User name (ignored when the secret is an API token).
        user: &'a str,
        /// Password or API token.
        secret: &'a str,
    },
}

impl std::fmt::Debug for Credential<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::Bearer(_) => f.write_str("Bearer(<redacted>)"),
            Credential::Password { user, .. } => write!(f, "Password({user:?}, <redacted>)"),
        }
    }
}

/// Why a caller was refused.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No valid credential: unknown, expired or revoked, or a wrong password.
    #[error("{0}")]
    Unauthenticated(String),
    /// The user must change the password before anything else.
    #[error("change your password first: POST /api/v1/auth/password")]
    PasswordChangeRequired,
    /// The role may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// Too many attempts from this address.
    #[error("too many requests from this address; slow down")]
    RateLimited,
    /// The control database failed.
    #[error("control database: {0}")]
    Store(InventoryError),
}

impl From<InventoryError> for AuthError {
    fn from(e: InventoryError) -> Self {
        match e {
            InventoryError::Unauthenticated(m) => AuthError::Unauthenticated(m),
            e @ InventoryError::Throttled(_) => AuthError::Unauthenticated(e.to_string()),
            e => AuthError::Store(e),
        }
    }
}

/// The authenticated caller of one request or one connection.
#[derive(Clone, Debug)]
pub struct Principal {
    /// User name, or `token:<name>` for an API token.
    pub actor: String,
    /// Role in force.
    pub role: Role,
    /// The user, for sessions and password logins.
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

/// The control plane as the front doors see it: the store, token keys, limits.
///
/// axum clones its state for every request, so all of it sits behind one `Arc`: a clone
/// is one reference count, not a dozen contended ones.
#[derive(Clone)]
pub struct Control(Arc<ControlInner>);

/// What [`Control`] shares; reached through `Deref` (`control.store`).
pub struct ControlInner {
    /// The inventory.
    pub store: Store,
    pub(crate) config: AuthConfig,
    pub(crate) enc: EncodingKey,
    dec: DecodingKey,
    pub(crate) general: DefaultKeyedRateLimiter<IpAddr>,
    login: DefaultKeyedRateLimiter<IpAddr>,
    pub(crate) checks: std::sync::atomic::AtomicU64,
    /// Live streams held per user.
    streams: Arc<std::sync::Mutex<std::collections::HashMap<String, usize>>>,
}

/// A live stream's place in its user's quota, given back when dropped.
#[derive(Debug)]
pub struct StreamSlot {
    user: String,
    streams: Arc<std::sync::Mutex<std::collections::HashMap<String, usize>>>,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut m = self.streams.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = m.get_mut(&self.user) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                m.remove(&self.user);
            }
        }
    }
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
            streams: Default::default(),
            config,
        }))
    }

    /// A place for one more live stream of `user`, or none when they hold
    /// `[auth] streams_per_user` already.
    pub fn stream_slot(&self, user: &str) -> Option<StreamSlot> {
        let mut m = self.streams.lock().unwrap_or_else(|p| p.into_inner());
        let n = m.entry(user.to_string()).or_default();
        if *n >= self.config.streams_per_user {
            return None;
        }
        *n += 1;
        Some(StreamSlot {
            user: user.to_string(),
            streams: self.streams.clone(),
        })
    }

    /// The authentication settings.
    pub fn config(&self) -> &AuthConfig {
        &self.config
    }

    /// A signed access token for `user` in session `sid`; and its lifetime in seconds.
    pub fn access_token(&self, user: &User, sid: &str) -> (String, i64) {
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

    /// The actor to record for a login attempt by the name `typed`: the account's name
    /// when it is a user's, else `<unknown user>`. People type their password into the
    /// name field, and the audit log must not keep it. `succeeded` is the name a
    /// successful login resolved (no look-up then).
    pub async fn login_actor(&self, typed: &str, succeeded: Option<&str>) -> String {
        let name = match succeeded {
            Some(n) => Some(n.to_string()),
            None => self.store.user_exists(typed).await.ok().flatten(),
        };
        name.unwrap_or_else(|| "<unknown user>".into())
    }

    /// Checks a login attempt against the per-address limit.
    pub fn login_allowed(&self, ip: IpAddr) -> bool {
        self.login.check_key(&ip).is_ok()
    }

    /// Who `credential` belongs to. A user who must change the password is refused
    /// with [`AuthError::PasswordChangeRequired`] unless `allow_password_change`.
    pub async fn authenticate(
        &self,
        credential: Credential<'_>,
        source: IpAddr,
        allow_password_change: bool,
    ) -> Result<Principal, AuthError> {
        let source = source.to_string();
        match credential {
            Credential::Bearer(token) if token.starts_with("sotp_") => {
                self.api_token(token, source).await
            }
            Credential::Bearer(token) => self.access(token, source, allow_password_change).await,
            Credential::Password { secret, .. } if secret.starts_with("sotp_") => {
                self.api_token(secret, source).await
            }
            Credential::Password { user, secret } => {
                let out: LoginOutcome = self.store.login(user, secret, &source).await?;
                if out.user.must_change_password {
                    // A password login opens no usable session for such a user.
                    self.store.revoke_session(&out.session.id).await?;
                    return Err(AuthError::PasswordChangeRequired);
                }
                Ok(Principal {
                    actor: out.user.username,
                    role: out.user.role,
                    user_id: Some(out.user.id),
                    session_id: Some(out.session.id),
                    source,
                })
            }
        }
    }

    /// [`Control::authenticate`], then the role's right to `permission`.
    pub async fn authorize(
        &self,
        credential: Credential<'_>,
        permission: Permission,
        source: IpAddr,
        allow_password_change: bool,
    ) -> Result<Principal, AuthError> {
        let p = self
            .authenticate(credential, source, allow_password_change)
            .await?;
        if !p.role.allows(permission) {
            return Err(AuthError::Forbidden(format!(
                "role {} may not do this (needs {})",
                p.role,
                permission.as_str()
            )));
        }
        Ok(p)
    }

    /// Whether `principal` still holds: its session live, its user enabled and its role
    /// unchanged, or its API token live. For long-lived streams and connections, which
    /// recheck this periodically and end when it fails.
    pub async fn still_valid(&self, principal: &Principal) -> Result<bool, AuthError> {
        if let Some(sid) = &principal.session_id {
            let user = self.store.session_user(sid).await?;
            return Ok(user.is_some_and(|u| u.role == principal.role));
        }
        Ok(true)
    }

    async fn api_token(&self, token: &str, source: String) -> Result<Principal, AuthError> {
        let t = self.store.check_api_token(token).await?.ok_or_else(|| {
            AuthError::Unauthenticated("unknown, expired or revoked API token".into())
        })?;
        Ok(Principal {
            actor: format!("token:{}", t.name),
            role: t.role,
            user_id: None,
            session_id: None,
            source,
        })
    }

    async fn access(
        &self,
        token: &str,
        source: String,
        allow_password_change: bool,
    ) -> Result<Principal, AuthError> {
        let mut v = Validation::new(Algorithm::HS256);
        v.leeway = 5;
        v.set_required_spec_claims(&["exp", "sub"]);
        let claims = jsonwebtoken::decode::<Claims>(token, &self.dec, &v)
            .map_err(|e| AuthError::Unauthenticated(format!("invalid access token: {e}")))?
            .claims;
        let user = self.store.session_user(&claims.sid).await?.ok_or_else(|| {
            AuthError::Unauthenticated(
                "session ended (logged out, revoked or user disabled)".into(),
            )
        })?;
        if user.must_change_password && !allow_password_change {
            return Err(AuthError::PasswordChangeRequired);
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
