//! A short-lived cache of verified API tokens.
//!
//! Every authenticated request with an API token used to hash the token and read
//! `api_tokens` (an indexed SQLite or PostgreSQL read); under the issue 6 benchmark
//! (1,000 concurrent clients) that read was a large share of each request. A token found
//! live is remembered, keyed by the SHA-256 of its value (never the value itself), for
//! at most [`TTL`]:
//! - a revocation through this store clears the cache and bumps a generation after it
//!   commits; a check that read the database before that commit cannot put its (now
//!   stale) answer in the cache (see [`TokenCache::put`]);
//! - a token's own expiry is checked on every hit;
//! - unknown, revoked or expired tokens are never cached (a flood of bad tokens cannot
//!   fill the memory, and still costs one read each);
//! - another SOTP process sharing the PostgreSQL database that revokes a token is seen
//!   here within [`TTL`] at most: that is the staleness bound across processes.
//!
//! The role check stays on every request: the cache only answers "which live token is
//! this", and the API checks the token's role against the route each time.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::ApiToken;

/// The longest a verified token is trusted without reading the database again.
pub(crate) const TTL: Duration = Duration::from_secs(5);

/// Tokens kept at most (expired entries are dropped first, then all, when full).
pub(crate) const MAX_ENTRIES: usize = 4096;

#[derive(Debug)]
struct Entry {
    token: ApiToken,
    /// The token's expiry (ms since the epoch), if any.
    expires_ms: Option<i64>,
    at: Instant,
}

/// Live API tokens by the SHA-256 (hex) of their value.
#[derive(Debug, Default)]
pub(crate) struct TokenCache {
    generation: AtomicU64,
    entries: Mutex<HashMap<String, Entry>>,
}

impl TokenCache {
    /// The current revocation generation: read it before reading the database.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The cached live token with this hash at `now_ms`, if any.
    pub(crate) fn get(&self, hash: &str, now_ms: i64) -> Option<ApiToken> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(hash)
            .filter(|e| e.at.elapsed() < TTL && e.expires_ms.is_none_or(|x| x > now_ms))
            .map(|e| e.token.clone())
    }

    /// Keeps `token`, read from the database at `generation`; nothing is kept when a
    /// revocation committed since then.
    pub(crate) fn put(
        &self,
        hash: String,
        generation: u64,
        token: ApiToken,
        expires_ms: Option<i64>,
    ) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        // Checked under the lock: `invalidate` bumps the generation, then clears under
        // the same lock, so an entry put before the clear is removed by it.
        if self.generation() != generation {
            return;
        }
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, e| e.at.elapsed() < TTL);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(
            hash,
            Entry {
                token,
                expires_ms,
                at: Instant::now(),
            },
        );
    }

    /// Called after a token revocation commits: nothing cached is trusted any more.
    pub(crate) fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Makes every entry `by` older (tests of the TTL).
    #[cfg(test)]
    pub(crate) fn age_all(&self, by: Duration) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        for e in entries.values_mut() {
            e.at = e.at.checked_sub(by).unwrap_or(e.at);
        }
    }
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

    #[test]
    fn revocation_ttl_and_expiry_end_a_cached_token() {
        let c = TokenCache::default();
        let g = c.generation();
        c.put("h1".into(), g, token("a"), None);
        assert_eq!(c.get("h1", 0).map(|t| t.name), Some("a".into()));
        assert!(c.get("h2", 0).is_none());
        c.invalidate();
        assert!(c.get("h1", 0).is_none(), "revocation clears");
        // A check that read the database before the revocation committed keeps nothing.
        c.put("h1".into(), g, token("a"), None);
        assert!(c.get("h1", 0).is_none());
        assert_eq!(c.len(), 0);
        let g = c.generation();
        c.put("h1".into(), g, token("a"), None);
        c.age_all(TTL);
        assert!(c.get("h1", 0).is_none(), "older than the TTL");
        c.put("h3".into(), g, token("b"), Some(1_000));
        assert!(c.get("h3", 999).is_some());
        assert!(c.get("h3", 1_000).is_none(), "the token's own expiry");
    }

    #[test]
    fn the_cache_is_bounded() {
        let c = TokenCache::default();
        let g = c.generation();
        for i in 0..MAX_ENTRIES * 2 + 7 {
            c.put(format!("h{i}"), g, token("t"), None);
            assert!(c.len() <= MAX_ENTRIES);
        }
        let last = format!("h{}", MAX_ENTRIES * 2 + 6);
        assert!(c.get(&last, 0).is_some(), "the newest entry is kept");
    }
}
