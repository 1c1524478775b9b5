//! The mechanism behind the store's caches (device-list totals, device-list pages,
//! verified API tokens): values valid for one write generation and a TTL, in a bounded
//! map.
//!
//! A write that makes entries wrong commits first, then calls [`Cache::invalidate`]: a
//! new generation, and the map cleared. A reader that goes to the database takes
//! [`Cache::generation`] *before* reading, and [`Cache::put`] keeps its answer only if
//! no invalidation happened since. The check and the insert are under the map's lock,
//! and `invalidate` bumps and clears under the same lock, so an answer read before a
//! write committed is never served after it.
//!
//! The TTL bounds how stale an entry can be when another SOTP process writes to the same
//! PostgreSQL database (its writes do not reach this process's generation). When the map
//! is full (entries, or the summed weight of the values when a weight is set), stale
//! entries go first, then all.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

#[derive(Debug)]
struct Entry<V> {
    generation: u64,
    at: Instant,
    value: V,
}

/// A bound on the summed weight of the values (for example bytes of page bodies).
#[derive(Debug)]
struct Weight<V> {
    max: usize,
    of: fn(&V) -> usize,
}

/// Values by key, valid for one write generation and at most `ttl`.
#[derive(Debug)]
pub(crate) struct Cache<K, V> {
    ttl: Duration,
    max_entries: usize,
    weight: Option<Weight<V>>,
    generation: AtomicU64,
    entries: Mutex<HashMap<K, Entry<V>>>,
}

impl<K: Hash + Eq, V: Clone> Cache<K, V> {
    /// An empty cache keeping at most `max_entries` values, each for at most `ttl`.
    pub(crate) fn new(ttl: Duration, max_entries: usize) -> Self {
        Self {
            ttl,
            max_entries,
            weight: None,
            generation: AtomicU64::new(0),
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// Also bounds the summed `weight_of` the values to `max`.
    pub(crate) fn with_max_weight(mut self, max: usize, weight_of: fn(&V) -> usize) -> Self {
        self.weight = Some(Weight { max, of: weight_of });
        self
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<K, Entry<V>>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The current write generation: read it before reading the database, and give it
    /// to [`Cache::put`] with the answer.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Called after a write commits: nothing cached before it is used any more.
    pub(crate) fn invalidate(&self) {
        let mut entries = self.lock();
        self.generation.fetch_add(1, Ordering::AcqRel);
        entries.clear();
    }

    fn fresh(&self, e: &Entry<V>) -> bool {
        e.generation == self.generation() && e.at.elapsed() < self.ttl
    }

    /// The value for `key`, if it is of this generation and younger than the TTL.
    pub(crate) fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let entries = self.lock();
        entries
            .get(key)
            .filter(|e| self.fresh(e))
            .map(|e| e.value.clone())
    }

    /// Keeps `value`, read from the database at `generation`; nothing is kept when a
    /// write was invalidated since.
    pub(crate) fn put(&self, key: K, generation: u64, value: V) {
        let mut entries = self.lock();
        if self.generation() == generation {
            self.insert(&mut entries, key, generation, value);
        }
    }

    /// The fresh value for `key`, or `make()` kept for later callers. Both happen under
    /// the lock, so concurrent callers of one key share one value (for example a cell
    /// that one of them fills).
    pub(crate) fn get_or_insert_with(&self, key: K, make: impl FnOnce() -> V) -> V {
        let mut entries = self.lock();
        if let Some(e) = entries.get(&key).filter(|e| self.fresh(e)) {
            return e.value.clone();
        }
        let value = make();
        let generation = self.generation();
        self.insert(&mut entries, key, generation, value.clone());
        value
    }

    fn insert(&self, entries: &mut HashMap<K, Entry<V>>, key: K, generation: u64, value: V) {
        if self.full(entries) {
            entries.retain(|_, e| self.fresh(e));
            if self.full(entries) {
                entries.clear();
            }
        }
        let at = Instant::now();
        entries.insert(
            key,
            Entry {
                generation,
                at,
                value,
            },
        );
    }

    fn full(&self, entries: &HashMap<K, Entry<V>>) -> bool {
        entries.len() >= self.max_entries
            || self
                .weight
                .as_ref()
                .is_some_and(|w| entries.values().map(|e| (w.of)(&e.value)).sum::<usize>() >= w.max)
    }

    /// Entries held (fresh or not).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    /// The summed weight of the values held.
    #[cfg(test)]
    pub(crate) fn weight(&self) -> usize {
        let w = self.weight.as_ref().expect("a weighted cache");
        self.lock().values().map(|e| (w.of)(&e.value)).sum()
    }

    /// Makes every entry `by` older (tests of the TTL).
    #[cfg(test)]
    pub(crate) fn age_all(&self, by: Duration) {
        for e in self.lock().values_mut() {
            e.at = e.at.checked_sub(by).unwrap_or(e.at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_secs(1);

    #[test]
    fn a_write_or_the_ttl_ends_an_entry() {
        let c = Cache::<String, i64>::new(TTL, 8);
        let g = c.generation();
        c.put("all".into(), g, 10);
        assert_eq!(c.get("all"), Some(10));
        assert_eq!(c.get("other"), None);
        c.invalidate();
        assert_eq!(c.get("all"), None);
        assert_eq!(c.len(), 0, "a write clears");
        // An answer read before the write committed is not kept.
        c.put("all".into(), g, 10);
        assert_eq!(c.get("all"), None);
        assert_eq!(c.len(), 0);
        let g = c.generation();
        c.put("all".into(), g, 11);
        assert_eq!(c.get("all"), Some(11));
        c.age_all(TTL);
        assert_eq!(c.get("all"), None, "older than the TTL");
        assert_eq!(c.get_or_insert_with("all".into(), || 12), 12);
        assert_eq!(c.get_or_insert_with("all".into(), || 13), 12, "kept");
    }

    #[test]
    fn entries_and_weight_are_bounded_stale_ones_going_first() {
        let c = Cache::<String, usize>::new(TTL, 4);
        for i in 0..11 {
            c.put(format!("k{i}"), c.generation(), i);
            assert!(c.len() <= 4);
        }
        assert_eq!(c.get("k10"), Some(10), "the newest entry is kept");

        let c = Cache::<String, usize>::new(TTL, 100).with_max_weight(10, |v| *v);
        c.put("old".into(), c.generation(), 3);
        c.age_all(TTL);
        c.put("a".into(), c.generation(), 4);
        c.put("b".into(), c.generation(), 4);
        // Full (11 >= 10): the stale entry goes, the fresh ones stay.
        c.put("c".into(), c.generation(), 1);
        assert_eq!(
            (c.get("a"), c.get("b"), c.get("c")),
            (Some(4), Some(4), Some(1))
        );
        assert_eq!(c.weight(), 9);
        // Full of fresh entries: all go.
        c.put("d".into(), c.generation(), 9);
        c.put("e".into(), c.generation(), 2);
        assert_eq!((c.get("a"), c.get("e")), (None, Some(2)));
        assert!(c.weight() <= 10);
    }
}
