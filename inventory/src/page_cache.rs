//! A cache of serialised device-list pages (the JSON body of `GET /api/v1/devices`).
//!
//! Under the issue 6 benchmark (1,000 concurrent clients reading the first page of
//! 10,000 devices) reading 50 rows through sqlx and serialising them was most of each
//! request. A page body is reused under the same rules as the list totals
//! (`count_cache`): while no device was written through this store (the store's write
//! generation is unchanged) and for at most [`TTL`], the bound on staleness when another
//! SOTP process writes to the same PostgreSQL database.
//!
//! Concurrent requests for a page that is missing or stale share one load: the first
//! reads the database, the others wait for its result instead of all querying at once
//! when an entry expires. The cache holds at most [`MAX_ENTRIES`] pages and about
//! [`MAX_BYTES`] of bodies; when full, stale entries go first, then all.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::OnceCell;

use crate::InventoryError;

/// The longest a cached page is used (the same bound as the list totals).
pub(crate) const TTL: Duration = crate::count_cache::TTL;

/// Distinct pages (filter, sort, limit, offset) kept at most.
pub(crate) const MAX_ENTRIES: usize = 256;

/// Bytes of page bodies kept at most (a page of 1,000 devices is about 350 KB).
pub(crate) const MAX_BYTES: usize = 32 << 20;

#[derive(Debug)]
struct Entry {
    generation: u64,
    at: Instant,
    body: Arc<OnceCell<Bytes>>,
}

impl Entry {
    fn fresh(&self, generation: u64) -> bool {
        self.generation == generation && self.at.elapsed() < TTL
    }
}

/// Page bodies by request (`K`: the list parameters), valid for one write generation.
#[derive(Debug)]
pub(crate) struct PageCache<K> {
    entries: Mutex<HashMap<K, Entry>>,
}

impl<K> Default for PageCache<K> {
    fn default() -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Hash + Eq> PageCache<K> {
    /// The body for `key` at write `generation` (read before calling, so a write that
    /// commits during the load makes the result unused by later requests): the cached
    /// one, or the result of `load`, shared with concurrent callers of the same key.
    pub(crate) async fn get_or_load<F, Fut>(
        &self,
        key: K,
        generation: u64,
        load: F,
    ) -> Result<Bytes, InventoryError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Bytes, InventoryError>>,
    {
        let cell = {
            let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
            match entries.get(&key) {
                Some(e) if e.fresh(generation) => e.body.clone(),
                _ => {
                    make_room(&mut entries, generation);
                    let body = Arc::new(OnceCell::new());
                    entries.insert(
                        key,
                        Entry {
                            generation,
                            at: Instant::now(),
                            body: body.clone(),
                        },
                    );
                    body
                }
            }
        };
        // A failed load leaves the cell empty: the next waiter tries again.
        cell.get_or_try_init(load).await.cloned()
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

/// Before adding an entry: drops stale entries when the cache is full, then everything
/// if that was not enough.
fn make_room<K>(entries: &mut HashMap<K, Entry>, generation: u64) {
    let full = |entries: &HashMap<K, Entry>| {
        entries.len() >= MAX_ENTRIES
            || entries
                .values()
                .filter_map(|e| e.body.get().map(Bytes::len))
                .sum::<usize>()
                >= MAX_BYTES
    };
    if full(entries) {
        entries.retain(|_, e| e.fresh(generation));
        if full(entries) {
            entries.clear();
        }
    }
}

#[cfg(test)]
#[path = "page_cache_tests.rs"]
mod tests;
