//! Interned series: each series (or interface) the stage has seen gets a dense `u32` id
//! once, and its state lives in vectors indexed by that id.
//!
//! A raw sample is looked up by a borrowed view of its key ([`SeriesRef`], [`IfRef`]):
//! one foldhash of three short strings, no clone of the shared strings, and after that
//! every per-series access (last counter observation, interface speed, open rollup
//! minute, derived names) is a vector index. With string keys hashed with SipHash in
//! several maps per sample this was a third of the stage's time.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use hashbrown::{Equivalent, HashMap};
use sotp_schemas::{DeviceId, MetricName, MetricSample};

use super::state::{IfKey, SeriesKey};

/// A series as borrowed from a sample: hashes and compares like its [`SeriesKey`].
#[derive(Clone, Copy, Debug)]
pub(super) struct SeriesRef<'a> {
    pub(super) device_id: &'a str,
    pub(super) metric: &'a str,
    pub(super) instance: Option<&'a str>,
}

impl<'a> SeriesRef<'a> {
    /// The series of `s`.
    pub(super) fn of(s: &'a MetricSample) -> Self {
        Self::named(s, s.metric.as_str())
    }

    /// The series of `s` with another metric name (a sample derived from `s`).
    pub(super) fn named(s: &'a MetricSample, metric: &'a str) -> Self {
        Self {
            device_id: s.device_id.as_str(),
            metric,
            instance: s.instance.as_deref(),
        }
    }

    fn to_key(self) -> SeriesKey {
        SeriesKey {
            device_id: DeviceId::new(self.device_id),
            metric: MetricName::new(self.metric),
            instance: self.instance.map(Arc::from),
        }
    }
}

/// Hashes a series' parts; [`SeriesKey`] and [`SeriesRef`] both hash this way, which
/// the map's borrowed lookups rely on.
pub(super) fn hash_series<H: Hasher>(dev: &str, metric: &str, instance: Option<&str>, h: &mut H) {
    dev.hash(h);
    metric.hash(h);
    instance.hash(h);
}

impl Hash for SeriesRef<'_> {
    fn hash<H: Hasher>(&self, h: &mut H) {
        hash_series(self.device_id, self.metric, self.instance, h);
    }
}

impl Equivalent<SeriesKey> for SeriesRef<'_> {
    fn equivalent(&self, k: &SeriesKey) -> bool {
        self.metric == k.metric.as_str()
            && self.device_id == k.device_id.as_str()
            && self.instance == k.instance.as_deref()
    }
}

/// An interface as borrowed from a sample: hashes and compares like its [`IfKey`].
#[derive(Clone, Copy, Debug, Hash)]
pub(super) struct IfRef<'a>(pub &'a str, pub &'a str);

impl Equivalent<IfKey> for IfRef<'_> {
    fn equivalent(&self, k: &IfKey) -> bool {
        self.1 == &*k.1 && self.0 == k.0.as_str()
    }
}

impl IfRef<'_> {
    fn to_key(self) -> IfKey {
        (DeviceId::new(self.0), Arc::from(self.1))
    }
}

/// A borrowed key that can be turned into the owned key it stands for.
pub(super) trait ToKey<K>: Hash + Equivalent<K> + Copy {
    /// The owned key.
    fn to_owned_key(self) -> K;
}

impl ToKey<SeriesKey> for SeriesRef<'_> {
    fn to_owned_key(self) -> SeriesKey {
        self.to_key()
    }
}

impl ToKey<IfKey> for IfRef<'_> {
    fn to_owned_key(self) -> IfKey {
        self.to_key()
    }
}

/// Dense ids for keys, in order of first sight. Ids are never reused.
#[derive(Debug)]
pub(super) struct Interner<K> {
    ids: HashMap<K, u32>,
    keys: Vec<K>,
}

impl<K> Default for Interner<K> {
    fn default() -> Self {
        Self {
            ids: HashMap::default(),
            keys: Vec::new(),
        }
    }
}

impl<K: Hash + Eq + Clone> Interner<K> {
    /// The id of `key`, and whether it is new.
    pub(super) fn intern<Q: ToKey<K>>(&mut self, key: Q) -> (u32, bool) {
        if let Some(&id) = self.ids.get(&key) {
            return (id, false);
        }
        self.insert(key.to_owned_key())
    }

    /// The id of an owned key, and whether it is new.
    pub(super) fn intern_owned(&mut self, key: K) -> (u32, bool) {
        if let Some(&id) = self.ids.get(&key) {
            return (id, false);
        }
        self.insert(key)
    }

    fn insert(&mut self, key: K) -> (u32, bool) {
        let id = u32::try_from(self.keys.len()).expect("fewer than 2^32 series");
        self.ids.insert(key.clone(), id);
        self.keys.push(key);
        (id, true)
    }

    /// The key of `id`.
    pub(super) fn key(&self, id: u32) -> &K {
        &self.keys[id as usize]
    }

    /// Every key with its id.
    pub(super) fn iter(&self) -> impl Iterator<Item = (u32, &K)> {
        self.keys.iter().enumerate().map(|(i, k)| (i as u32, k))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(dev: &str, metric: &str, inst: Option<&str>) -> MetricSample {
        let mut s = MetricSample::gauge(
            sotp_schemas::UtcNanos(0),
            &DeviceId::new(dev),
            &Arc::from(dev),
            &Arc::from("snmp"),
            &MetricName::new(metric),
            1.0,
        );
        s.instance = inst.map(Arc::from);
        s
    }

    #[test]
    fn borrowed_and_owned_keys_meet() {
        let mut i: Interner<SeriesKey> = Interner::default();
        let a = sample("d1", "if.in_octets", Some("Gi0/1"));
        let (id, new) = i.intern(SeriesRef::of(&a));
        assert!(new);
        assert_eq!(i.intern_owned(SeriesKey::of(&a)), (id, false));
        assert_eq!(i.intern(SeriesRef::of(&a)), (id, false));
        // Every part tells series apart, and no instance is not an empty instance.
        for other in [
            sample("d2", "if.in_octets", Some("Gi0/1")),
            sample("d1", "if.out_octets", Some("Gi0/1")),
            sample("d1", "if.in_octets", Some("Gi0/2")),
            sample("d1", "if.in_octets", None),
            sample("d1", "if.in_octets", Some("")),
        ] {
            let (o, new) = i.intern(SeriesRef::of(&other));
            assert!(new, "{other:?}");
            assert_ne!(o, id);
            assert_eq!(i.key(o), &SeriesKey::of(&other));
        }
        assert_eq!(i.iter().count(), 6);
        assert!(
            i.intern(SeriesRef::named(&a, "if.in_bps")).1,
            "a derived name is its own series"
        );
    }

    #[test]
    fn interfaces() {
        let mut i: Interner<IfKey> = Interner::default();
        let (a, _) = i.intern(IfRef("d1", "Gi0/1"));
        assert_eq!(
            i.intern_owned((DeviceId::new("d1"), Arc::from("Gi0/1"))),
            (a, false)
        );
        assert!(i.intern(IfRef("d1", "Gi0/2")).1);
        assert!(i.intern(IfRef("d2", "Gi0/1")).1);
    }
}
