//! Newtypes for identifiers, so that a device id is never confused with a device name.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// The stable identifier of a device: the key of its events on every topic.
///
/// Cheap to clone (an `Arc<str>`), because every sample of a device carries it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct DeviceId(Arc<str>);

/// Decoded through the thread's shared strings ([`crate::intern`]).
impl<'de> Deserialize<'de> for DeviceId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        crate::intern::deserialize(d).map(Self)
    }
}

impl DeviceId {
    /// Wraps a string as a device id.
    pub fn new(id: impl AsRef<str>) -> Self {
        Self(Arc::from(id.as_ref()))
    }

    /// A decoded id, sharing the thread's copy of the string ([`crate::intern`]).
    pub(crate) fn interned(id: &str) -> Self {
        Self(crate::intern::intern(id))
    }

    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The shared string itself: a clone costs a reference count, not an allocation
    /// (the Kafka producer keys every message with it).
    pub fn as_arc(&self) -> &Arc<str> {
        &self.0
    }
}

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for DeviceId {
    fn from(s: &str) -> Self {
        Self::new(s)
    }
}

/// A dotted, stable metric name such as `icmp.rtt_ms` or `poll.ok`.
///
/// Names are `&'static str` constants in the collectors; the newtype keeps a cheap
/// shared string so decoded samples (from JSON or Arrow) can carry any name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct MetricName(Arc<str>);

/// Decoded through the thread's shared strings ([`crate::intern`]).
impl<'de> Deserialize<'de> for MetricName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        crate::intern::deserialize(d).map(Self)
    }
}

impl MetricName {
    /// Wraps a metric name.
    pub fn new(name: impl AsRef<str>) -> Self {
        Self(Arc::from(name.as_ref()))
    }

    /// A decoded name, sharing the thread's copy of the string ([`crate::intern`]).
    pub(crate) fn interned(name: &str) -> Self {
        Self(crate::intern::intern(name))
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MetricName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for MetricName {
    fn from(s: &str) -> Self {
        Self::new(s)
    }
}
