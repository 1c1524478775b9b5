//! UTC timestamps with nanosecond precision, as every event carries them.

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::SchemaError;

/// Nanoseconds since 1970-01-01T00:00:00Z.
///
/// Stored as an `i64` (the Arrow `Timestamp(Nanosecond, "UTC")` representation) so that
/// building record batches costs nothing; on the wire it is an RFC 3339 string with nine
/// fractional digits, which every JSON consumer can parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UtcNanos(pub i64);

impl UtcNanos {
    /// The current time.
    pub fn now() -> Self {
        Self::from_datetime(Utc::now()).unwrap_or(Self(i64::MAX))
    }

    /// Converts a chrono timestamp; fails outside the years 1677 to 2262.
    pub fn from_datetime(dt: DateTime<Utc>) -> Result<Self, SchemaError> {
        dt.timestamp_nanos_opt()
            .map(Self)
            .ok_or_else(|| SchemaError::TimeRange(dt.to_rfc3339()))
    }

    /// The timestamp as a chrono value.
    pub fn to_datetime(self) -> DateTime<Utc> {
        DateTime::from_timestamp_nanos(self.0)
    }

    /// Parses an RFC 3339 timestamp.
    pub fn parse_rfc3339(s: &str) -> Result<Self, SchemaError> {
        let dt = DateTime::parse_from_rfc3339(s)
            .map_err(|e| SchemaError::TimeRange(format!("{s}: {e}")))?;
        Self::from_datetime(dt.with_timezone(&Utc))
    }
}

impl fmt::Display for UtcNanos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            &self
                .to_datetime()
                .to_rfc3339_opts(SecondsFormat::Nanos, true),
        )
    }
}

impl Serialize for UtcNanos {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for UtcNanos {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::parse_rfc3339(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_keeps_nanoseconds() {
        let t = UtcNanos(1_764_194_055_123_456_789);
        let s = t.to_string();
        assert_eq!(s, "2025-11-26T21:54:15.123456789Z");
        assert_eq!(UtcNanos::parse_rfc3339(&s).unwrap(), t);
    }

    #[test]
    fn offsets_are_normalised_to_utc() {
        let t = UtcNanos::parse_rfc3339("2025-11-26T22:54:15.5+01:00").unwrap();
        assert_eq!(t.to_string(), "2025-11-26T21:54:15.500000000Z");
    }
}
