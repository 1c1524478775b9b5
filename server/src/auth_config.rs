//! `[auth]`: sessions, the `/metrics` exposure, CORS and rate limits of the HTTP API.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// `[auth]`: authentication and HTTP hygiene settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Lifetime of an access token (JWT) returned by login and refresh.
    #[serde(with = "humantime_serde")]
    pub access_ttl: Duration,
    /// Lifetime of a refresh token; each use replaces it with a new one. A session
    /// unused for this long ends.
    #[serde(with = "humantime_serde")]
    pub refresh_ttl: Duration,
    /// Absolute lifetime of a session: this long after the login, its refresh and access
    /// tokens stop working however often it was refreshed, and the user logs in again.
    #[serde(with = "humantime_serde")]
    pub session_lifetime: Duration,
    /// Serve `/metrics` without a token (for Prometheus scrapers). When false it needs
    /// a token of any role.
    pub public_metrics: bool,
    /// Origins allowed to call the API from a browser (CORS), e.g.
    /// `["https://grafana.example.com"]`. Empty: no cross-origin access.
    pub cors_origins: Vec<String>,
    /// Requests per second one client address may send to authenticated routes
    /// (bursts of twice that); more get 429.
    pub requests_per_second: u32,
    /// Login attempts per minute from one client address; more get 429.
    pub logins_per_minute: u32,
    /// Live streams (`/api/v1/logs/stream`) one user or API token may hold at once.
    pub streams_per_user: usize,
    /// How often a live stream checks that its caller's session still holds (ended on
    /// logout, a password or role change, or a disabled user).
    #[serde(with = "humantime_serde")]
    pub stream_recheck: Duration,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            access_ttl: Duration::from_secs(15 * 60),
            refresh_ttl: Duration::from_secs(7 * 86_400),
            session_lifetime: Duration::from_secs(30 * 86_400),
            public_metrics: false,
            cors_origins: Vec::new(),
            requests_per_second: 1000,
            logins_per_minute: 30,
            streams_per_user: 4,
            stream_recheck: Duration::from_secs(5),
        }
    }
}

impl AuthConfig {
    /// Every problem, as (field, reason) pairs.
    pub fn validate(&self) -> Vec<(&'static str, String)> {
        let mut e = Vec::new();
        if self.access_ttl < Duration::from_secs(10)
            || self.access_ttl > Duration::from_secs(86_400)
        {
            e.push(("auth.access_ttl", "must be between 10s and 24h".into()));
        }
        if self.refresh_ttl < self.access_ttl {
            e.push((
                "auth.refresh_ttl",
                "must not be shorter than access_ttl".into(),
            ));
        }
        if self.session_lifetime < self.access_ttl {
            e.push((
                "auth.session_lifetime",
                "must not be shorter than access_ttl".into(),
            ));
        }
        for o in &self.cors_origins {
            if !(o.starts_with("http://") || o.starts_with("https://"))
                || axum::http::HeaderValue::from_str(o).is_err()
            {
                e.push((
                    "auth.cors_origins",
                    format!("`{o}` is not an origin like https://host:port"),
                ));
            }
        }
        if self.requests_per_second == 0 {
            e.push(("auth.requests_per_second", "must be at least 1".into()));
        }
        if self.streams_per_user == 0 {
            e.push(("auth.streams_per_user", "must be at least 1".into()));
        }
        if self.stream_recheck.is_zero() || self.stream_recheck > Duration::from_secs(300) {
            e.push(("auth.stream_recheck", "must be between 1ms and 5m".into()));
        }
        if self.logins_per_minute == 0 {
            e.push(("auth.logins_per_minute", "must be at least 1".into()));
        }
        e
    }
}
