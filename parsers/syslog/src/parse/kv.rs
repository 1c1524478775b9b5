//! `key=value` messages (FortiGate, SonicWall and other firewalls): the pairs become the
//! `kv` entry of the structured data, so `structured_data` holds
//! `{"kv": {"devname": "fw1", "srcip": "10.0.0.1", ...}}`.
//!
//! Syntax read: pairs separated by spaces; a key is `[A-Za-z0-9_.-]+`; a value is
//! `"quoted"` or `'quoted'` (with `\"`/`\'` and `\\` escapes, spaces allowed) or runs to
//! the next space (`""` and an empty value give `""`). A message is read as key=value
//! only when it *starts* with a pair and is either all pairs or at least
//! [`MIN_PAIRS`] pairs before anything else: free text that merely contains an `=`
//! stays plain text. The message itself is never changed. When a key repeats, the
//! first value wins.
//!
//! FortiGate specifics: `devname` is the hostname when the header had none, and
//! `date=YYYY-MM-DD time=hh:mm:ss [tz="+hhmm"]` is the device time when the header had
//! none (UTC when `tz` is missing or malformed).
//!
//! A FortiGate line carries 40 to 80 pairs. They are read as slices of the line (a value
//! is copied only when it had escapes), sorted by key and written straight to the JSON
//! text of the structured data: no map of owned strings, no second serialisation.

use std::borrow::Cow;

use crate::SdWriter;
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime, TimeZone, Utc};

use super::{Dialect, Parsed};

/// The pairs of a line, sorted by key, each key once (its first value).
#[derive(Debug, PartialEq, Eq)]
pub struct Pairs<'a>(Vec<(&'a str, Cow<'a, str>)>);

impl<'a> Pairs<'a> {
    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        let i = self.0.binary_search_by(|(k, _)| (*k).cmp(key)).ok()?;
        Some(&self.0[i].1)
    }

    /// How many distinct keys.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are none (never, for pairs read from a line).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The pairs in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, &str)> {
        self.0.iter().map(|(k, v)| (*k, v.as_ref()))
    }
}

/// The structured-data ID the pairs are stored under.
pub const KV_SD_ID: &str = "kv";

fn is_key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')
}

/// Reads one `key=value` token at `b[i..]` (no leading space): the key, the value and
/// the index after the token, or `None` when the token is not a pair.
fn pair(s: &str, mut i: usize) -> Option<(&str, Cow<'_, str>, usize)> {
    let b = s.as_bytes();
    let k0 = i;
    while i < b.len() && is_key_byte(b[i]) {
        i += 1;
    }
    if i == k0 || b.get(i) != Some(&b'=') {
        return None;
    }
    let key = &s[k0..i];
    i += 1;
    match b.get(i) {
        Some(&q @ (b'"' | b'\'')) => {
            i += 1;
            // Most quoted values have no escape: one copy of the exact size.
            let v0 = i;
            if let Some(n) = memchr::memchr2(q, b'\\', &b[i..])
                && b[i + n] == q
            {
                i += n + 1;
                return (i == b.len() || b[i] == b' ').then_some((
                    key,
                    Cow::Borrowed(&s[v0..i - 1]),
                    i,
                ));
            }
            let mut v = String::new();
            let mut start = i;
            loop {
                match b.get(i) {
                    // An unterminated quote: not a pair.
                    None => return None,
                    Some(&c) if c == q => break,
                    Some(b'\\') if b.get(i + 1).is_some_and(|c| *c == q || *c == b'\\') => {
                        v.push_str(&s[start..i]);
                        start = i + 1;
                        i += 2;
                    }
                    Some(_) => i += 1,
                }
            }
            v.push_str(&s[start..i]);
            i += 1;
            // A closing quote must end the token.
            (i == b.len() || b[i] == b' ').then_some((key, Cow::Owned(v), i))
        }
        _ => {
            let v0 = i;
            while i < b.len() && b[i] != b' ' {
                i += 1;
            }
            Some((key, Cow::Borrowed(&s[v0..i]), i))
        }
    }
}

/// The pairs at the start of `s`: `None` unless `s` is entirely `key=value` pairs (at
/// least one), or starts with at least [`MIN_PAIRS`] of them (the rest, for example
/// binary garbage after a truncated line, is then left out).
pub fn pairs(s: &str) -> Option<Pairs<'_>> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    loop {
        while i < b.len() && b[i] == b' ' {
            i += 1;
        }
        if i == b.len() {
            break;
        }
        let Some((key, value, next)) = pair(s, i) else {
            if out.len() < MIN_PAIRS {
                return None;
            }
            break;
        };
        out.push((key, value));
        i = next;
    }
    // Stable: of a repeated key, the first value stays first and is kept.
    out.sort_by(|a, b| a.0.cmp(b.0));
    out.dedup_by(|later, first| later.0 == first.0);
    (!out.is_empty()).then_some(Pairs(out))
}

/// Pairs needed before a token that is not a pair: `user=bob logged in` is text.
pub const MIN_PAIRS: usize = 3;

/// Whether `s` starts like `key=`: a cheap test before [`pairs`].
fn starts_with_pair(s: &str) -> bool {
    let b = s.trim_start_matches(' ').as_bytes();
    let n = b.iter().take_while(|c| is_key_byte(**c)).count();
    n > 0 && b.get(n) == Some(&b'=')
}

/// The FortiGate `date`, `time` and `tz` fields as an instant.
fn forti_time(kv: &Pairs<'_>) -> Option<DateTime<Utc>> {
    let date = NaiveDate::parse_from_str(kv.get("date")?, "%Y-%m-%d").ok()?;
    let time = NaiveTime::parse_from_str(kv.get("time")?, "%H:%M:%S").ok()?;
    let local = date.and_time(time);
    let offset = kv
        .get("tz")
        .and_then(|tz| {
            let (sign, d) = match tz.as_bytes().first()? {
                b'+' => (1, &tz[1..]),
                b'-' => (-1, &tz[1..]),
                _ => return None,
            };
            let d = d.replace(':', "");
            if d.len() != 4 || !d.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            let (h, m): (i32, i32) = (d[..2].parse().ok()?, d[2..].parse().ok()?);
            FixedOffset::east_opt(sign * (h * 3600 + m * 60))
        })
        .unwrap_or(FixedOffset::east_opt(0)?);
    offset
        .from_local_datetime(&local)
        .single()
        .map(|t| t.with_timezone(&Utc))
}

/// Adds the `kv` structured data (and FortiGate's hostname and time) to `p` when its
/// message is a run of `key=value` pairs and it has no structured data of its own.
/// A relay's or a SonicWall's leading host (`10.0.0.1 id=firewall ...`) is taken as the
/// hostname when the header had none. A line that no syslog dialect read but that is
/// key=value is [`Dialect::KeyValue`].
pub(super) fn enrich(p: &mut Parsed) {
    if !p.structured_data.is_empty() {
        return;
    }
    let msg = p.message.trim_start_matches(' ');
    let (host, body) = if starts_with_pair(msg) {
        (None, msg)
    } else {
        // One leading token without `=`, then pairs. Most messages end here, after a
        // look at their first word.
        let b = msg.as_bytes();
        match b.iter().position(|&c| c == b' ' || c == b'=') {
            Some(sp) if b[sp] == b' ' && starts_with_pair(&msg[sp + 1..]) => {
                (Some(&msg[..sp]), &msg[sp + 1..])
            }
            _ => return,
        }
    };
    let Some(kv) = pairs(body) else {
        return;
    };
    if host.is_some() && kv.len() < MIN_PAIRS {
        return;
    }
    if p.hostname.is_none() {
        p.hostname = host
            .or_else(|| kv.get("devname").filter(|h| !h.is_empty()))
            .map(str::to_string);
    }
    if p.time.is_none() {
        p.time = forti_time(&kv);
    }
    if p.dialect == Dialect::Unparsed {
        p.dialect = Dialect::KeyValue;
    }
    let mut sd = SdWriter::with_capacity(body.len() + 4 * kv.len());
    sd.element(KV_SD_ID);
    for (k, v) in kv.iter() {
        sd.param(k, v);
    }
    p.structured_data = sd.finish();
}

#[cfg(test)]
mod tests;
