//! A cache of serialised device-list pages (the JSON body of `GET /api/v1/devices`).
//!
//! Under the issue 6 benchmark (1,000 concurrent clients reading the first page of
//! 10,000 devices) reading 50 rows through sqlx and serialising them was most of each
//! request. A page body is reused under the same rules as the list totals
//! (`crate::cache`): until the next device write through this store and for at most
//! [`TTL`], the bound on staleness when another SOTP process writes to the same
//! PostgreSQL database.
//!
//! Concurrent requests for a page that is missing or stale share one load: the first
//! reads the database, the others wait for its result instead of all querying at once
//! when an entry expires. The cache holds at most [`MAX_ENTRIES`] pages and about
//! [`MAX_BYTES`] of bodies; when full, stale entries go first, then all.

use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::OnceCell;

use crate::InventoryError;
use crate::cache::Cache;

/// The longest a cached page is used (the same bound as the list totals).
pub(crate) const TTL: Duration = crate::list::COUNT_TTL;

/// Distinct pages (filter, sort, limit, offset) kept at most.
pub(crate) const MAX_ENTRIES: usize = 256;

/// Bytes of page bodies kept at most (a page of 1,000 devices is about 350 KB).
pub(crate) const MAX_BYTES: usize = 32 << 20;

/// Page bodies by request (`K`: the list parameters), each a cell that the first
/// request fills.
#[derive(Debug)]
pub(crate) struct PageCache<K>(Cache<K, Arc<OnceCell<Bytes>>>);

impl<K: Hash + Eq> Default for PageCache<K> {
    fn default() -> Self {
        Self(
            Cache::new(TTL, MAX_ENTRIES)
                .with_max_weight(MAX_BYTES, |cell| cell.get().map_or(0, Bytes::len)),
        )
    }
}

impl<K: Hash + Eq> PageCache<K> {
    /// The body for `key`: the cached one, or the result of `load`, shared with
    /// concurrent callers of the same key. A device write that commits during the load
    /// ([`PageCache::invalidate`]) makes the result unused by later requests.
    pub(crate) async fn get_or_load<F, Fut>(&self, key: K, load: F) -> Result<Bytes, InventoryError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Bytes, InventoryError>>,
    {
        let cell = self.0.get_or_insert_with(key, || Arc::new(OnceCell::new()));
        // A failed load leaves the cell empty: the next waiter tries again.
        cell.get_or_try_init(load).await.cloned()
    }

    /// Called after a device write commits.
    pub(crate) fn invalidate(&self) {
        self.0.invalidate();
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    #[cfg(test)]
    pub(crate) fn bytes(&self) -> usize {
        self.0.weight()
    }

    /// Makes every entry `by` older (tests of the TTL).
    #[cfg(test)]
    pub(crate) fn age_all(&self, by: Duration) {
        self.0.age_all(by);
    }
}

#[cfg(test)]
mod tests;
