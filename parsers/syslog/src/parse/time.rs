//! Timestamps found in syslog headers, and how zone-less and year-less ones are read.
//!
//! Accepted forms (a leading `*` or `.`, Cisco's "clock not synchronised" marks, is
//! skipped):
//! - RFC 3339: `2024-10-11T10:15:31.208321-05:00`, `2010-08-30T23:00:05Z`;
//! - BSD: `Mmm dd hh:mm:ss[.frac]`, with the year after the time (`Mmm dd hh:mm:ss yyyy`)
//!   or before it (`Mmm dd yyyy hh:mm:ss`), or first (NX-OS `yyyy Mmm dd hh:mm:ss`).
//!   Month names are case-insensitive; the day may be padded with a space.
//!
//! A timestamp without a year takes the year that puts it closest to the receive time
//! (so a December message received on January 1st is last year's). A timestamp without a
//! zone is read as UTC; a zone name from [`zone_offset`] (or `UTC+07:30`) shifts it.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, NaiveDateTime, TimeZone, Utc};

/// A timestamp cut from the front of a header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Stamp {
    /// The date and time as written.
    pub(crate) local: NaiveDateTime,
    /// The offset the timestamp carried, if any.
    pub(crate) offset: Option<FixedOffset>,
    /// The timestamp carried a year.
    pub(crate) has_year: bool,
}

impl Stamp {
    /// The instant, inferring a missing year from `now` and a missing zone as UTC.
    pub(crate) fn resolve(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = if self.has_year {
            self.local
        } else {
            // The year closest to `now` (a few years back for `Feb 29`).
            // Any date but Feb 29 exists in every year, and the closest is then one of
            // the three around `now`: look further back only when needed. Within 150
            // days of `now` in its own year (nearly every message) that year is the
            // closest: the others are at least 215 days away.
            let now = now.naive_utc();
            let leap_day = self.local.month() == 2 && self.local.day() == 29;
            if !leap_day
                && let Some(c) = self.local.with_year(now.year())
                && (c - now).num_days().abs() < 150
            {
                c
            } else {
                let mut best: Option<(NaiveDateTime, i64)> = None;
                let years = if leap_day {
                    now.year() - 4..=now.year() + 1
                } else {
                    now.year() - 1..=now.year() + 1
                };
                for y in years {
                    let Some(c) = self.local.with_year(y) else {
                        continue;
                    };
                    let d = (c - now).num_seconds().abs();
                    if best.is_none_or(|(_, b)| d < b) {
                        best = Some((c, d));
                    }
                }
                best?.0
            }
        };
        let offset = self
            .offset
            .unwrap_or_else(|| FixedOffset::east_opt(0).expect("zero offset"));
        offset
            .from_local_datetime(&local)
            .single()
            .map(|t| t.with_timezone(&Utc))
    }
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

fn month(s: &str) -> Option<u32> {
    let m = s.as_bytes().get(..3)?;
    // `| 0x20` lower-cases ASCII letters and maps nothing else onto a letter.
    let m = [m[0] | 0x20, m[1] | 0x20, m[2] | 0x20];
    MONTHS
        .iter()
        .position(|x| x.as_bytes() == m)
        .map(|i| i as u32 + 1)
}

fn digits(s: &str, min: usize, max: usize) -> Option<(u32, &str)> {
    let n = s.bytes().take_while(u8::is_ascii_digit).count();
    if n < min || n > max {
        return None;
    }
    // At most a few digits (callers ask for 4 at most): no overflow.
    let v = s.as_bytes()[..n]
        .iter()
        .fold(0u32, |v, d| v * 10 + u32::from(d - b'0'));
    Some((v, &s[n..]))
}

/// `hh:mm:ss[.frac]` -> (h, m, s, nanos, rest).
fn clock(s: &str) -> Option<(u32, u32, u32, u32, &str)> {
    let (h, s) = digits(s, 1, 2)?;
    let s = s.strip_prefix(':')?;
    let (m, s) = digits(s, 2, 2)?;
    let s = s.strip_prefix(':')?;
    let (sec, mut s) = digits(s, 2, 2)?;
    let mut nanos = 0;
    if let Some(f) = s.strip_prefix('.').or_else(|| s.strip_prefix(',')) {
        let n = f.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 || n > 9 {
            return None;
        }
        let v: u32 = f[..n].parse().ok()?;
        nanos = v * 10u32.pow(9 - n as u32);
        s = &f[n..];
    }
    Some((h, m, sec, nanos, s))
}

fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32, ns: u32) -> Option<NaiveDateTime> {
    NaiveDate::from_ymd_opt(y, mo, d)?.and_hms_nano_opt(h, mi, s.min(59), ns)
}

/// Year used while the real one is unknown (a leap year, so `Feb 29` parses).
const PLACEHOLDER_YEAR: i32 = 2000;

/// Parses a BSD or RFC 3339 timestamp at the start of `s`.
pub(crate) fn timestamp(s: &str) -> Option<(Stamp, &str)> {
    let s = s
        .strip_prefix('*')
        .or_else(|| s.strip_prefix('.'))
        .unwrap_or(s);
    // Every form starts with a digit (RFC 3339, year first) or a month name.
    match s.as_bytes().first()? {
        b'0'..=b'9' => rfc3339(s).or_else(|| year_first(s)),
        b if b.is_ascii_alphabetic() => bsd(s),
        _ => None,
    }
}

fn rfc3339(s: &str) -> Option<(Stamp, &str)> {
    let end = s.find([' ', '\t']).unwrap_or(s.len());
    let token = &s[..end];
    if token.len() < 20 || token.as_bytes().get(4) != Some(&b'-') {
        return None;
    }
    let t = DateTime::parse_from_rfc3339(token).ok()?;
    Some((
        Stamp {
            local: t.naive_local(),
            offset: Some(*t.offset()),
            has_year: true,
        },
        &s[end..],
    ))
}

fn bsd(s: &str) -> Option<(Stamp, &str)> {
    let mo = month(s)?;
    let r = s.get(3..)?.strip_prefix(' ')?;
    let r = r.strip_prefix(' ').unwrap_or(r);
    let (d, r) = digits(r, 1, 2)?;
    let r = r.strip_prefix(' ')?;
    // `Mmm dd yyyy hh:mm:ss`
    if let Some((y, r2)) = digits(r, 4, 4).and_then(|(y, r2)| Some((y, r2.strip_prefix(' ')?)))
        && let Some((h, mi, sec, ns, rest)) = clock(r2)
    {
        return Some((
            Stamp {
                local: at(y as i32, mo, d, h, mi, sec, ns)?,
                offset: None,
                has_year: true,
            },
            rest,
        ));
    }
    let (h, mi, sec, ns, rest) = clock(r)?;
    // `Mmm dd hh:mm:ss yyyy`
    if let Some(r2) = rest.strip_prefix(' ')
        && let Some((y, r3)) = digits(r2, 4, 4)
        && (r3.is_empty() || r3.starts_with([' ', ':']))
    {
        return Some((
            Stamp {
                local: at(y as i32, mo, d, h, mi, sec, ns)?,
                offset: None,
                has_year: true,
            },
            r3,
        ));
    }
    Some((
        Stamp {
            local: at(PLACEHOLDER_YEAR, mo, d, h, mi, sec, ns)?,
            offset: None,
            has_year: false,
        },
        rest,
    ))
}

fn year_first(s: &str) -> Option<(Stamp, &str)> {
    let (y, r) = digits(s, 4, 4)?;
    let r = r.strip_prefix(' ')?;
    let mo = month(r)?;
    let r = r.get(3..)?.strip_prefix(' ')?;
    let r = r.strip_prefix(' ').unwrap_or(r);
    let (d, r) = digits(r, 1, 2)?;
    let r = r.strip_prefix(' ')?;
    let (h, mi, sec, ns, rest) = clock(r)?;
    Some((
        Stamp {
            local: at(y as i32, mo, d, h, mi, sec, ns)?,
            offset: None,
            has_year: true,
        },
        rest,
    ))
}

/// The offset of a zone name as devices print it (case-insensitive), or of `UTC+hh:mm`.
/// Unknown names give `None` (the time is then read as UTC).
pub(crate) fn zone_offset(name: &str) -> Option<FixedOffset> {
    // Upper-cased on the stack: this runs for the word after most timestamps. No zone
    // name (`UTC+07:30` at most) is longer than the buffer.
    let mut buf = [0u8; 12];
    let upper = buf.get_mut(..name.len())?;
    upper.copy_from_slice(name.as_bytes());
    upper.make_ascii_uppercase();
    let upper = std::str::from_utf8(upper).ok()?;
    for prefix in ["UTC", "GMT"] {
        if let Some(off) = upper.strip_prefix(prefix)
            && !off.is_empty()
        {
            let sign = match off.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let (h, m) = off[1..].split_once(':').unwrap_or((&off[1..], "0"));
            // Zone offsets are below a day; anything larger is not a zone (and would
            // overflow the arithmetic below).
            let (h, m) = (h.parse::<i32>().ok()?, m.parse::<i32>().ok()?);
            if !(0..24).contains(&h) || !(0..60).contains(&m) {
                return None;
            }
            return FixedOffset::east_opt(sign * (h * 3600 + m * 60));
        }
    }
    let hours = match upper {
        "UTC" | "GMT" | "Z" | "UT" | "WET" => 0.0,
        "BST" | "CET" | "WEST" | "MET" => 1.0,
        "CEST" | "EET" | "MEST" | "SAST" => 2.0,
        "EEST" | "MSK" => 3.0,
        "IST" => 5.5,
        "SGT" | "HKT" | "AWST" => 8.0,
        "JST" | "KST" => 9.0,
        "ACST" => 9.5,
        "AEST" => 10.0,
        "ACDT" => 10.5,
        "AEDT" => 11.0,
        "NZST" => 12.0,
        "NZDT" => 13.0,
        "AST" | "EDT" => -4.0,
        "EST" | "CDT" => -5.0,
        "CST" | "MDT" => -6.0,
        "MST" | "PDT" => -7.0,
        "PST" | "AKDT" => -8.0,
        "AKST" => -9.0,
        "HST" => -10.0,
        _ => return None,
    };
    FixedOffset::east_opt((hours * 3600.0) as i32)
}

/// Skips a zone name after a timestamp (`" UTC"`, `" CEST"`, `" UTC+07:30"`) and returns
/// its offset with the rest.
pub(crate) fn zone(s: &str) -> Option<(FixedOffset, &str)> {
    let t = s.strip_prefix(' ')?;
    let token = &t[..t.bytes().position(|b| b == b' ').unwrap_or(t.len())];
    let name = token.trim_end_matches(':');
    let off = zone_offset(name)?;
    Some((off, &t[name.len()..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-01-01T00:10:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn resolve(s: &str) -> (String, String) {
        let (st, rest) = timestamp(s).unwrap_or_else(|| panic!("{s}"));
        (st.resolve(now()).unwrap().to_rfc3339(), rest.to_string())
    }

    #[test]
    fn forms() {
        for (input, want, rest) in [
            (
                "Jan  6 2022 20:55:50.671: x",
                "2022-01-06T20:55:50.671+00:00",
                ": x",
            ),
            (
                "May 6 16:13:09.123 UTC",
                "2026-05-06T16:13:09.123+00:00",
                " UTC",
            ),
            ("Dec 31 23:59:00 host", "2025-12-31T23:59:00+00:00", " host"),
            (
                "2023 May  2 12:55:19 UTC:",
                "2023-05-02T12:55:19+00:00",
                " UTC:",
            ),
            (
                "AUG 10 22:18:24 2009  x",
                "2009-08-10T22:18:24+00:00",
                "  x",
            ),
            (
                "*Oct 16 2024 07:39:09.425 UTC",
                "2024-10-16T07:39:09.425+00:00",
                " UTC",
            ),
            ("2010-08-30T23:00:05Z X", "2010-08-30T23:00:05+00:00", " X"),
            (
                "2024-10-11T10:15:31.208321-05:00 T",
                "2024-10-11T15:15:31.208321+00:00",
                " T",
            ),
            ("Feb 29 01:00:00", "2024-02-29T01:00:00+00:00", ""),
        ] {
            assert_eq!(
                resolve(input),
                (want.to_string(), rest.to_string()),
                "{input}"
            );
        }
    }

    #[test]
    fn not_timestamps() {
        for s in [
            "",
            "2023host Aug 27",
            "Foo 1 00:00:00",
            "Jan 32 00:00:00",
            "Jan",
            "1,2021/10/26",
        ] {
            assert!(timestamp(s).is_none(), "{s}");
        }
    }

    #[test]
    fn zones() {
        assert_eq!(zone(" CEST: x").unwrap().0.local_minus_utc(), 7200);
        assert_eq!(
            zone(" UTC+07:30: x").unwrap(),
            (FixedOffset::east_opt(27000).unwrap(), ": x")
        );
        assert_eq!(zone(" mdt: x").unwrap().0.local_minus_utc(), -6 * 3600);
        assert!(zone(" host: x").is_none());
        // Found by the fuzzer: an hour count that overflowed the seconds arithmetic.
        assert!(zone(" UTC+9999999999: x").is_none());
        assert!(zone(" GMT-800000:00: x").is_none());
        assert!(zone(" UTC+24: x").is_none());
        assert!(zone(" UTC+05:60: x").is_none());
        assert_eq!(zone(" UTC-14: x").unwrap().0.local_minus_utc(), -14 * 3600);
    }

    proptest::proptest! {
        /// The shortcut for dates near `now` picks the year a search of every candidate
        /// year picks.
        #[test]
        fn the_inferred_year_is_the_closest(
            month in 1u32..=12, day in 1u32..=31, secs in 0u32..86_400,
            now_s in 946_684_800i64..4_102_444_800,
        ) {
            let now = DateTime::from_timestamp(now_s, 0).unwrap();
            let Some(date) = chrono::NaiveDate::from_ymd_opt(2024, month, day) else {
                return Ok(());
            };
            let local = date.and_time(chrono::NaiveTime::from_num_seconds_from_midnight_opt(secs, 0).unwrap());
            let stamp = Stamp { local, offset: None, has_year: false };
            let span = if month == 2 && day == 29 { 4 } else { 1 };
            let best = (now.year() - span..=now.year() + 1)
                .filter_map(|y| local.with_year(y))
                .min_by_key(|c| (*c - now.naive_utc()).num_seconds().abs())
                .map(|c| c.and_utc());
            proptest::prop_assert_eq!(stamp.resolve(now), best);
        }
    }
}
