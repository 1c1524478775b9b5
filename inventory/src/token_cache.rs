//! A short-lived cache of verified API tokens.
//!
//! Every authenticated request with an API token used to hash the token and read
//! `api_tokens` (an indexed SQLite or PostgreSQL read); under the issue 6 benchmark
//! (1,000 concurrent clients) that read was a large share of each request. A token found
//! live is remembered, keyed by the SHA-256 of its value (never the value itself), for
//! at most [`TTL`]:
//! - a revocation through this store clears the cache and bumps a generation after it
//!   commits; a check that read the database before that commit cannot put its (now
//!   stale) answer in the cache (see `crate::cache`);
//! - a token's own expiry is checked on every hit;
//! - unknown, revoked or expired tokens are never cached (a flood of bad tokens cannot
//!   fill the memory, and still costs one read each);
//! - another SOTP process sharing the PostgreSQL database that revokes a token is seen
//!   here within [`TTL`] at most: that is the staleness bound across processes.
//!
//! The role check stays on every request: the cache only answers "which live token is
//! this", and the API checks the token's role against the route each time.

use std::time::Duration;

use crate::ApiToken;
use crate::cache::Cache;

/// The longest a verified token is trusted without reading the database again.
pub(crate) const TTL: Duration = Duration::from_secs(5);

/// Tokens kept at most (expired entries are dropped first, then all, when full).
pub(crate) const MAX_ENTRIES: usize = 4096;

/// A live token as read from the database.
#[derive(Clone, Debug)]
pub(crate) struct Verified {
    pub(crate) token: ApiToken,
    /// The token's expiry (ms since the epoch), if any.
    pub(crate) expires_ms: Option<i64>,
}

/// Live API tokens by the SHA-256 (hex) of their value.
pub(crate) type TokenCache = Cache<String, Verified>;

/// An empty token cache.
pub(crate) fn new() -> TokenCache {
    Cache::new(TTL, MAX_ENTRIES)
}

/// The cached live token with this hash at `now_ms`, if any (its own expiry is checked
/// on every hit).
pub(crate) fn live(cache: &TokenCache, hash: &str, now_ms: i64) -> Option<ApiToken> {
    cache
        .get(hash)
        .filter(|v| v.expires_ms.is_none_or(|x| x > now_ms))
        .map(|v| v.token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Role;

    fn token(name: &str) -> ApiToken {
        ApiToken {
            id: 1,
            name: name.into(),
            role: Role::Readonly,
            created_by: "alice".into(),
            created_at: "2026-11-27T00:00:00Z".into(),
            expires_at: None,
            revoked_at: None,
        }
    }

    fn put(c: &TokenCache, hash: &str, generation: u64, token: ApiToken, expires_ms: Option<i64>) {
        c.put(hash.into(), generation, Verified { token, expires_ms });
    }

    #[test]
    fn revocation_ttl_and_expiry_end_a_cached_token() {
        let c = new();
        let g = c.generation();
        put(&c, "h1", g, token("a"), None);
        assert_eq!(live(&c, "h1", 0).map(|t| t.name), Some("a".into()));
        assert!(live(&c, "h2", 0).is_none());
        c.invalidate();
        assert!(live(&c, "h1", 0).is_none(), "revocation clears");
        // A check that read the database before the revocation committed keeps nothing.
        put(&c, "h1", g, token("a"), None);
        assert!(live(&c, "h1", 0).is_none());
        assert_eq!(c.len(), 0);
        let g = c.generation();
        put(&c, "h1", g, token("a"), None);
        c.age_all(TTL);
        assert!(live(&c, "h1", 0).is_none(), "older than the TTL");
        put(&c, "h3", g, token("b"), Some(1_000));
        assert!(live(&c, "h3", 999).is_some());
        assert!(live(&c, "h3", 1_000).is_none(), "the token's own expiry");
    }
}
