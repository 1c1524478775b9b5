//! Identifier strings decoded from JSON are shared, not allocated per event.
//!
//! A consumer decodes hundreds of thousands of samples a second whose device ids, device
//! names, metric names, instances and collectors repeat: each decoded string used to cost
//! two allocations (serde builds a `Box<str>`, then the `Arc<str>`) and a free when the
//! sample was dropped. Each thread keeps the strings it decoded last in a set and hands
//! out clones of them (a reference count). The set is bounded: when it holds
//! [`MAX_STRINGS`] it is emptied and fills again. Strings longer than [`MAX_LEN`] (not
//! identifiers) are never kept. The set hashes with hashbrown's foldhash (seeded per
//! process) rather than SipHash: each sample looks up five short strings.

use std::cell::RefCell;
use std::fmt;
use std::sync::Arc;

use hashbrown::HashSet;
use serde::Deserializer;
use serde::de::{self, Visitor};

/// Strings a thread keeps at most.
pub(crate) const MAX_STRINGS: usize = 1 << 16;

/// Longest string kept, in bytes.
pub(crate) const MAX_LEN: usize = 256;

thread_local! {
    static STRINGS: RefCell<HashSet<Arc<str>>> = RefCell::new(HashSet::new());
}

/// A shared copy of `s`: the one this thread decoded before when it kept it.
pub(crate) fn intern(s: &str) -> Arc<str> {
    if s.len() > MAX_LEN {
        return Arc::from(s);
    }
    STRINGS.with(|set| {
        let mut set = set.borrow_mut();
        if let Some(a) = set.get(s) {
            return a.clone();
        }
        if set.len() >= MAX_STRINGS {
            set.clear();
        }
        let a: Arc<str> = Arc::from(s);
        set.insert(a.clone());
        a
    })
}

struct Interned;

impl Visitor<'_> for Interned {
    type Value = Arc<str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Arc<str>, E> {
        Ok(intern(v))
    }
}

/// `deserialize_with` for an `Arc<str>` identifier field.
pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Arc<str>, D::Error> {
    d.deserialize_str(Interned)
}

struct OptionInterned;

impl<'de> Visitor<'de> for OptionInterned {
    type Value = Option<Arc<str>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string or null")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        deserialize(d).map(Some)
    }
}

/// `deserialize_with` for an `Option<Arc<str>>` identifier field (with `default`).
pub(crate) fn option<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Arc<str>>, D::Error> {
    d.deserialize_option(OptionInterned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_strings_decoded_twice_share_one_allocation_and_long_ones_do_not() {
        let a = intern("router-1");
        let b = intern(&String::from("router-1"));
        assert!(Arc::ptr_eq(&a, &b));
        let long = "x".repeat(MAX_LEN + 1);
        assert!(!Arc::ptr_eq(&intern(&long), &intern(&long)));
        assert_eq!(&*intern(&long), long.as_str());
    }

    #[test]
    fn the_set_is_emptied_when_full_and_keeps_answering_right() {
        for i in 0..MAX_STRINGS + 10 {
            let s = format!("dev-{i}");
            assert_eq!(&*intern(&s), s.as_str());
        }
        let size = STRINGS.with(|s| s.borrow().len());
        assert!(size <= MAX_STRINGS, "{size} strings kept");
        assert!(size >= 10, "refilled after being emptied: {size}");
    }
}
