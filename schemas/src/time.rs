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
        if let Some(t) = parse_canonical(s) {
            return Ok(t);
        }
        let dt = DateTime::parse_from_rfc3339(s)
            .map_err(|e| SchemaError::TimeRange(format!("{s}: {e}")))?;
        Self::from_datetime(dt.with_timezone(&Utc))
    }
}

// Every event carries a timestamp on the wire, so the wire form is written and read here
// without chrono's general formatter and parser (which build a `String` and try every
// RFC 3339 variant): `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`, the form `Display` writes.
// Anything else (offsets, fewer digits, a leap second) goes to chrono. The property
// tests below compare both ways with chrono.

const NANOS_PER_SEC: i64 = 1_000_000_000;
const SECS_PER_DAY: i64 = 86_400;

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01 (H. Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// The canonical wire form, or `None` for chrono to decide.
fn parse_canonical(s: &str) -> Option<UtcNanos> {
    let b = s.as_bytes();
    if b.len() != 30
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
        || b[19] != b'.'
        || b[29] != b'Z'
    {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<i64> {
        b[from..to].iter().try_fold(0i64, |n, c| {
            c.is_ascii_digit().then(|| n * 10 + i64::from(c - b'0'))
        })
    };
    let (y, mo, d) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (h, mi, sec, frac) = (num(11, 13)?, num(14, 16)?, num(17, 19)?, num(20, 29)?);
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 59
    {
        return None;
    }
    let secs = days_from_civil(y, mo, d) * SECS_PER_DAY + h * 3600 + mi * 60 + sec;
    secs.checked_mul(NANOS_PER_SEC)?
        .checked_add(frac)
        .map(UtcNanos)
}

impl UtcNanos {
    /// The wire form `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`, or none outside the years 0 to 9999
    /// (which `i64` nanoseconds never leave).
    fn canonical(self) -> Option<[u8; 30]> {
        let secs = self.0.div_euclid(NANOS_PER_SEC);
        let nanos = self.0.rem_euclid(NANOS_PER_SEC);
        let (y, m, d) = civil_from_days(secs.div_euclid(SECS_PER_DAY));
        let sod = secs.rem_euclid(SECS_PER_DAY);
        if !(0..=9999).contains(&y) {
            return None;
        }
        let mut out = *b"0000-00-00T00:00:00.000000000Z";
        let mut put = |at: usize, width: usize, mut v: i64| {
            for i in (at..at + width).rev() {
                out[i] = b'0' + (v % 10) as u8;
                v /= 10;
            }
        };
        put(0, 4, y);
        put(5, 2, m);
        put(8, 2, d);
        put(11, 2, sod / 3600);
        put(14, 2, sod / 60 % 60);
        put(17, 2, sod % 60);
        put(20, 9, nanos);
        Some(out)
    }
}

impl UtcNanos {
    /// The wire form's bytes (`YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`), or none outside the years
    /// 0 to 9999.
    pub(crate) fn canonical_bytes(self) -> Option<[u8; 30]> {
        self.canonical()
    }
}

impl fmt::Display for UtcNanos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.canonical() {
            // Only ASCII digits and separators were written.
            Some(b) => f.write_str(std::str::from_utf8(&b).map_err(|_| fmt::Error)?),
            // Outside the range i64 nanoseconds reach; kept for completeness.
            None => f.write_str(
                &self
                    .to_datetime()
                    .to_rfc3339_opts(SecondsFormat::Nanos, true),
            ),
        }
    }
}

impl Serialize for UtcNanos {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // A plain string: the serializer copies it once (`collect_str` goes through
        // `fmt::Write` and escapes piece by piece).
        match self.canonical().as_ref().map(|b| std::str::from_utf8(b)) {
            Some(Ok(text)) => s.serialize_str(text),
            _ => s.collect_str(self),
        }
    }
}

/// Reads the string where it lies (a `Cow<str>` would copy it into a `String` first).
struct Rfc3339;

impl serde::de::Visitor<'_> for Rfc3339 {
    type Value = UtcNanos;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an RFC 3339 timestamp")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<UtcNanos, E> {
        UtcNanos::parse_rfc3339(v).map_err(E::custom)
    }
}

impl<'de> Deserialize<'de> for UtcNanos {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(Rfc3339)
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
    fn the_whole_i64_range_formats_and_parses_as_chrono_does() {
        use proptest::prelude::*;
        use proptest::test_runner::{Config, TestRunner};
        let mut runner = TestRunner::new(Config::with_cases(20_000));
        let fast = std::cell::Cell::new(0u32);
        runner
            .run(
                &prop_oneof![
                    any::<i64>(),
                    // Around the epoch, leap days and the turn of centuries.
                    -5_000_000_000_000_000_000i64..5_000_000_000_000_000_000i64,
                    (-100i64 * 366..100 * 366).prop_map(|d| d * 86_400 * 1_000_000_000),
                ],
                |n| {
                    let t = UtcNanos(n);
                    let chrono = t.to_datetime().to_rfc3339_opts(SecondsFormat::Nanos, true);
                    let ours = t.to_string();
                    prop_assert_eq!(&ours, &chrono);
                    let json = serde_json::to_string(&t)
                        .map_err(|e| TestCaseError::fail(e.to_string()))?;
                    prop_assert_eq!(json, format!("\"{chrono}\""));
                    let parsed = parse_canonical(&ours);
                    fast.set(fast.get() + u32::from(parsed.is_some()));
                    prop_assert_eq!(parsed, Some(t));
                    Ok(())
                },
            )
            .unwrap();
        // Every formatted timestamp took the fast parser.
        assert!(
            fast.get() >= 20_000,
            "{} of 20,000 on the fast path",
            fast.get()
        );
    }

    #[test]
    fn strings_the_fast_parser_declines_get_chronos_answer() {
        use proptest::prelude::*;
        use proptest::test_runner::{Config, TestRunner};
        let mut runner = TestRunner::new(Config::with_cases(20_000));
        let (fast, declined) = (std::cell::Cell::new(0u32), std::cell::Cell::new(0u32));
        runner
            .run(
                &(
                    // Mostly years i64 nanoseconds reach (1678 to 2261), some beyond.
                    prop_oneof![9 => 1678i64..2262, 1 => 0i64..10_000],
                    prop_oneof![9 => 1i64..13, 1 => prop::sample::select(vec![0i64, 13])],
                    1i64..33,
                    0i64..25,
                    0i64..61,
                    0i64..62,
                    0i64..1_000_000_000,
                    prop::sample::select(vec!["Z", "Z", "Z", "z", "+00:00", "-05:30", ""]),
                    prop::sample::select(vec!["T", "T", "T", "t", " "]),
                ),
                |(y, mo, d, h, mi, s, ns, zone, sep)| {
                    let text =
                        format!("{y:04}-{mo:02}-{d:02}{sep}{h:02}:{mi:02}:{s:02}.{ns:09}{zone}");
                    let chrono = DateTime::parse_from_rfc3339(&text)
                        .ok()
                        .and_then(|dt| UtcNanos::from_datetime(dt.with_timezone(&Utc)).ok());
                    match parse_canonical(&text) {
                        Some(t) => {
                            fast.set(fast.get() + 1);
                            prop_assert_eq!(Some(t), chrono, "{}", text);
                        }
                        None => declined.set(declined.get() + 1),
                    }
                    prop_assert_eq!(UtcNanos::parse_rfc3339(&text).ok(), chrono, "{}", text);
                    Ok(())
                },
            )
            .unwrap();
        // Both paths were exercised, each by a good share of the cases.
        assert!(fast.get() > 1_000, "fast path: {}", fast.get());
        assert!(declined.get() > 1_000, "declined: {}", declined.get());
    }

    #[test]
    fn offsets_are_normalised_to_utc() {
        let t = UtcNanos::parse_rfc3339("2025-11-26T22:54:15.5+01:00").unwrap();
        assert_eq!(t.to_string(), "2025-11-26T21:54:15.500000000Z");
    }
}
