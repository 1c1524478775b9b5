//! Pure syslog parsers: bytes in, fields out, no I/O.
//!
//! [`parse`] tries, in order:
//! 1. `<PRI>VERSION SP ...`: RFC 5424, plain lines with a reader of our own
//!    ([`rfc5424_fast`], checked against the crate), others with the `syslog_rfc5424`
//!    crate; when the crate refuses the line, a lenient reading of the same header
//!    ([`rfc5424`]);
//! 2. a BSD header (RFC 3164: timestamp, hostname, TAG), including relays that put
//!    a BSD header in front of a Cisco one ([`bsd`]);
//! 3. a Cisco IOS / NX-OS / ASA / WLC header (`seq: host: *timestamp zone: %FAC-SEV-MNEMONIC: text`);
//! 4. whatever follows a valid PRI, as the message (key=value and CSV vendors).
//!
//! A message made of `key=value` pairs (FortiGate, SonicWall) also gets its pairs as the
//! `kv` structured data ([`kv`]).
//!
//! The first Cisco-style `%FACILITY[-SUB]-SEVERITY-MNEMONIC` anywhere in the line is
//! the vendor mnemonic. A line that matches nothing keeps its text as the message with
//! `parse_error` set. Invalid UTF-8 is decoded lossily (the raw bytes stay in the record).

mod bsd;
pub mod kv;
mod rfc5424;
mod rfc5424_fast;
pub(crate) mod time;

use crate::StructuredData;
use chrono::{DateTime, Utc};

/// Which reading of the line won.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// RFC 5424, valid for the `syslog_rfc5424` crate.
    Rfc5424,
    /// `<PRI>VERSION` followed by a header that is not quite RFC 5424.
    Rfc5424Lenient,
    /// RFC 3164 (BSD) header.
    Rfc3164,
    /// Cisco IOS / NX-OS / ASA header.
    Cisco,
    /// A PRI followed by free text (key=value, CSV).
    PriOnly,
    /// No syslog header, but `key=value` pairs (a bare FortiGate or SonicWall line).
    KeyValue,
    /// Nothing recognised: `parse_error`.
    Unparsed,
}

/// Everything a parser got out of one message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parsed {
    /// The reading that won.
    pub dialect: Dialect,
    /// The device's timestamp (UTC), year and zone inferred when missing.
    pub time: Option<DateTime<Utc>>,
    /// Facility (0..23) from a valid PRI.
    pub facility: Option<u8>,
    /// Severity (0..7) from a valid PRI.
    pub severity: Option<u8>,
    /// HOSTNAME.
    pub hostname: Option<String>,
    /// APP-NAME or the TAG's program.
    pub app_name: Option<String>,
    /// PROCID or the TAG's `[pid]`.
    pub procid: Option<String>,
    /// MSGID.
    pub msgid: Option<String>,
    /// RFC 5424 structured data.
    pub structured_data: StructuredData,
    /// Cisco-style mnemonic without `%`, for example `LINK-3-UPDOWN`.
    pub vendor_mnemonic: Option<String>,
    /// The message text. For Cisco headers, the text after the mnemonic.
    pub message: String,
}

impl Parsed {
    /// True when no dialect recognised the line.
    pub fn parse_error(&self) -> bool {
        self.dialect == Dialect::Unparsed
    }

    fn new(dialect: Dialect, message: String) -> Self {
        Self {
            dialect,
            time: None,
            facility: None,
            severity: None,
            hostname: None,
            app_name: None,
            procid: None,
            msgid: None,
            structured_data: StructuredData::new(),
            vendor_mnemonic: None,
            message,
        }
    }
}

/// The regular expression [`mnemonic`] implements by hand (kept as the tests' oracle):
/// `%([A-Za-z0-9_]+(?:-[A-Za-z0-9_]+)*?-(?:[0-7]|[A-Z])-[A-Za-z0-9_]+)`.
#[cfg(test)]
pub(crate) const MNEMONIC_REGEX: &str =
    r"%([A-Za-z0-9_]+(?:-[A-Za-z0-9_]+)*?-(?:[0-7]|[A-Z])-[A-Za-z0-9_]+)";

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The length of a mnemonic at the start of `b` (just after a `%`): word tokens joined
/// by single `-`, the first one-character `[0-7A-Z]` token after the first being the
/// severity, and the token after it the end (the regex's lazy `*?`).
fn mnemonic_len(b: &[u8]) -> Option<usize> {
    let mut i = 0;
    let mut tokens = 0;
    loop {
        let start = i;
        while i < b.len() && is_word(b[i]) {
            i += 1;
        }
        if i == start {
            return None;
        }
        tokens += 1;
        let one = i - start == 1 && matches!(b[start], b'0'..=b'7' | b'A'..=b'Z');
        if b.get(i) != Some(&b'-') {
            return None;
        }
        if tokens >= 2 && one && b.get(i + 1).is_some_and(|c| is_word(*c)) {
            let mut j = i + 1;
            while j < b.len() && is_word(b[j]) {
                j += 1;
            }
            return Some(j);
        }
        i += 1;
    }
}

/// The first Cisco-style mnemonic in `s`, and the text after it (and its `: `).
pub(crate) fn mnemonic(s: &str) -> Option<(&str, &str)> {
    let b = s.as_bytes();
    let (start, len) =
        memchr::memchr_iter(b'%', b).find_map(|p| mnemonic_len(&b[p + 1..]).map(|n| (p + 1, n)))?;
    let m = &s[start..start + len];
    let after = &s[start + len..];
    // The mnemonic must end a word: `%ASA-6-302016 Teardown` or `%X-1-Y: text`.
    if after.starts_with(|c: char| c.is_alphanumeric()) {
        return None;
    }
    let text = after.strip_prefix(':').unwrap_or(after);
    Some((m, text.trim_start()))
}

/// Splits a leading `<PRI>`: (Some((facility, severity)) when valid, rest). A PRI that is
/// out of range or zero-padded is skipped but gives no facility.
fn pri(s: &str) -> Option<(Option<(u8, u8)>, &str)> {
    let r = s.strip_prefix('<')?;
    let n = r.bytes().take_while(u8::is_ascii_digit).count();
    if n == 0 || n > 3 || r.as_bytes().get(n) != Some(&b'>') {
        return None;
    }
    let v: u16 = r[..n].parse().ok()?;
    let padded = n > 1 && r.starts_with('0');
    let fs = (!padded && v <= 191).then_some(((v / 8) as u8, (v % 8) as u8));
    Some((fs, &r[n + 1..]))
}

/// Parses one message received at `now` (used to infer missing years).
pub fn parse(raw: &[u8], now: DateTime<Utc>) -> Parsed {
    // A validation alone is much faster than `from_utf8_lossy` on valid text, the usual
    // case; `simdutf8`'s (SIMD) beats the standard library's on lines of this length.
    let text = match simdutf8::basic::from_utf8(raw) {
        Ok(s) => std::borrow::Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(raw),
    };
    let line = text.trim_end_matches(['\n', '\r', '\0']);
    let (fs, rest) = match pri(line) {
        Some((fs, rest)) => (fs, rest),
        None => (None, line),
    };
    let had_pri = rest.len() != line.len();
    let mut p = if had_pri && rfc5424::looks_like(rest) {
        rfc5424::parse(line, rest, fs.is_some())
    } else {
        bsd::parse(rest, now)
            .or_else(|| bsd::cisco(rest, now))
            .unwrap_or_else(|| {
                let dialect = if fs.is_some() {
                    Dialect::PriOnly
                } else {
                    Dialect::Unparsed
                };
                Parsed::new(dialect, rest.to_string())
            })
    };
    if p.vendor_mnemonic.is_none()
        && let Some((m, _)) = mnemonic(line)
    {
        p.vendor_mnemonic = Some(m.to_string());
    }
    if let Some((f, s)) = fs {
        p.facility = Some(f);
        p.severity = Some(s);
    }
    kv::enrich(&mut p);
    p
}

#[cfg(test)]
mod corpus_tests;
#[cfg(test)]
mod tests;
