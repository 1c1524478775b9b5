//! A cache of device-list totals (`SELECT COUNT(*)` per filter).
//!
//! `GET /api/v1/devices` returns the total with every page; counting 10,000 rows costs
//! more than reading the 50 of a page, and under load (the issue 6 benchmark: 1,000
//! concurrent clients) the count dominated. A total is reused while no device was
//! written through this store (every write bumps a generation after it commits) and
//! for at most [`TTL`], which bounds how stale a total can be when another SOTP process
//! writes to the same PostgreSQL database.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The longest a cached total is used.
pub(crate) const TTL: Duration = Duration::from_secs(1);

/// Distinct filters kept (the cache is cleared when full).
const MAX_ENTRIES: usize = 1024;

#[derive(Debug)]
struct Entry {
    generation: u64,
    at: Instant,
    total: i64,
}

/// Totals per filter, valid for one write generation.
#[derive(Debug, Default)]
pub(crate) struct CountCache {
    generation: AtomicU64,
    entries: Mutex<HashMap<String, Entry>>,
}

impl CountCache {
    /// The current write generation: read it before counting, store the count with it.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Called after every committed device write.
    pub(crate) fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// The cached total for `key`, if still valid.
    pub(crate) fn get(&self, key: &str) -> Option<i64> {
        let generation = self.generation();
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(key)
            .filter(|e| e.generation == generation && e.at.elapsed() < TTL)
            .map(|e| e.total)
    }

    /// Keeps `total`, counted at `generation` (a write since then makes it unused).
    pub(crate) fn put(&self, key: String, generation: u64, total: i64) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(
            key,
            Entry {
                generation,
                at: Instant::now(),
                total,
            },
        );
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

    #[test]
    fn a_write_or_the_ttl_ends_a_cached_total() {
        let c = CountCache::default();
        let g = c.generation();
        c.put("all".into(), g, 10);
        assert_eq!(c.get("all"), Some(10));
        assert_eq!(c.get("other"), None);
        c.invalidate();
        assert_eq!(c.get("all"), None);
        // A count that raced with a write is stored under the old generation: unused.
        c.put("all".into(), g, 10);
        assert_eq!(c.get("all"), None);
        let g = c.generation();
        c.put("all".into(), g, 11);
        assert_eq!(c.get("all"), Some(11));
        let mut entries = c.entries.lock().unwrap();
        entries.get_mut("all").unwrap().at -= TTL;
        drop(entries);
        assert_eq!(c.get("all"), None);
    }
}
