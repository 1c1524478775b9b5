//! A byte-level reader of well-formed RFC 5424 headers: the common case, without the
//! `syslog_rfc5424` crate's per-character scanning and copies (about a quarter of its
//! instructions per message).
//!
//! It gives an answer only for lines the crate reads too, and then the same answer; for
//! anything unusual (an empty SD-ID, a zero-padded or
//! out-of-range PRI, a term over its RFC length, an offset that is not `+hh:mm`, leap
//! seconds, non-ASCII in an SD-ID...) it returns `None` and [`super::rfc5424::parse`]
//! asks the crate as before. The tests check it against the crate on the corpus and on
//! generated lines (`rfc5424_fast_tests.rs`).

use std::borrow::Cow;

use crate::{SdWriter, StructuredData};

use chrono::{DateTime, NaiveDate};

use super::{Dialect, Parsed};

/// The crate's longest HOSTNAME, APP-NAME, PROCID, MSGID and SD-NAME (RFC 5424 6.2, 6.3).
const HOSTNAME_MAX: usize = 255;
const APP_NAME_MAX: usize = 48;
const PROCID_MAX: usize = 128;
const MSGID_MAX: usize = 32;
const SD_NAME_MAX: usize = 128;

/// A cursor over the bytes of a `&str`; every cut is at an ASCII byte, so every slice
/// is valid UTF-8.
struct Cursor<'a> {
    s: &'a str,
    i: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.i).copied()
    }

    fn eat(&mut self, b: u8) -> Option<()> {
        (self.peek()? == b).then(|| self.i += 1)
    }

    /// Exactly `n` ASCII digits as a number.
    fn digits(&mut self, n: usize) -> Option<u32> {
        let d = self.s.as_bytes().get(self.i..self.i + n)?;
        let mut v = 0u32;
        for &c in d {
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + u32::from(c - b'0');
        }
        self.i += n;
        Some(v)
    }

    /// A header term: `-` (none) or 1..=`max` printable ASCII bytes, then one space.
    fn term(&mut self, max: usize) -> Option<Option<&'a str>> {
        let b = self.s.as_bytes();
        let start = self.i;
        let mut j = start;
        while j < b.len() && (33..=126).contains(&b[j]) {
            j += 1;
        }
        if j == start || j - start > max || b.get(j) != Some(&b' ') {
            return None;
        }
        self.i = j + 1;
        let t = &self.s[start..j];
        Some((t != "-").then_some(t))
    }

    /// An SD-ID or SD-NAME: 1..=128 printable ASCII bytes other than `=`, `]`, `"`.
    fn sd_name(&mut self) -> Option<&'a str> {
        let b = self.s.as_bytes();
        let start = self.i;
        let mut j = start;
        while j < b.len() && (33..=126).contains(&b[j]) && !matches!(b[j], b'=' | b']' | b'"') {
            j += 1;
        }
        if j == start || j - start > SD_NAME_MAX {
            return None;
        }
        self.i = j;
        Some(&self.s[start..j])
    }

    /// `"value"`; a backslash keeps the character after it, whatever it is (as the
    /// crate does: `\"`, `\\`, `\]`, but also `\a` gives `a`).
    fn sd_value(&mut self) -> Option<Cow<'a, str>> {
        self.eat(b'"')?;
        let start = self.i;
        let b = &self.s.as_bytes()[self.i..];
        let n = memchr::memchr2(b'"', b'\\', b)?;
        if b[n] == b'"' {
            // No escape (nearly always): the slice itself.
            self.i += n + 1;
            return Some(Cow::Borrowed(&self.s[start..start + n]));
        }
        let mut out = String::new();
        loop {
            let b = &self.s.as_bytes()[self.i..];
            let n = memchr::memchr2(b'"', b'\\', b)?;
            out.push_str(&self.s[self.i..self.i + n]);
            self.i += n + 1;
            if b[n] == b'"' {
                return Some(Cow::Owned(out));
            }
            let c = self.s[self.i..].chars().next()?;
            out.push(c);
            self.i += c.len_utf8();
        }
    }
}

/// `YYYY-MM-DDThh:mm:ss[.f{1,9}](Z|+hh:mm|-hh:mm)`, then a space.
fn timestamp(c: &mut Cursor<'_>) -> Option<DateTime<chrono::Utc>> {
    let year = c.digits(4)?;
    c.eat(b'-')?;
    let month = c.digits(2)?;
    c.eat(b'-')?;
    let day = c.digits(2)?;
    c.eat(b'T')?;
    let hour = c.digits(2)?;
    c.eat(b':')?;
    let minute = c.digits(2)?;
    c.eat(b':')?;
    let second = c.digits(2)?;
    let mut nanos = 0u32;
    if c.eat(b'.').is_some() {
        let start = c.i;
        while c.peek().is_some_and(|b| b.is_ascii_digit()) && c.i - start < 9 {
            nanos = nanos * 10 + u32::from(c.peek()? - b'0');
            c.i += 1;
        }
        let n = c.i - start;
        if n == 0 {
            return None;
        }
        nanos *= 10u32.pow(9 - n as u32);
    }
    let offset = match c.peek()? {
        b'Z' => {
            c.i += 1;
            0
        }
        sign @ (b'+' | b'-') => {
            c.i += 1;
            let h = c.digits(2)?;
            c.eat(b':')?;
            let m = c.digits(2)?;
            if h > 23 || m > 59 {
                return None;
            }
            let secs = i64::from(h * 3600 + m * 60);
            if sign == b'+' { secs } else { -secs }
        }
        _ => return None,
    };
    c.eat(b' ')?;
    // Second 60 (a leap second) is refused, as by the crate's `time` types.
    let local = NaiveDate::from_ymd_opt(year as i32, month, day)?
        .and_hms_nano_opt(hour, minute, second, nanos)?;
    DateTime::from_timestamp(local.and_utc().timestamp() - offset, nanos)
}

/// `-` or `[id name="value" ...]...`; the cursor is left on what follows. Written
/// straight to JSON: the parameters are read as slices (copied only when unescaped),
/// then ordered as the crate's map orders them: by SD-ID (a repeated SD-ID's
/// parameters merged), then name, a repeated name keeping the last value.
fn structured_data(c: &mut Cursor<'_>) -> Option<StructuredData> {
    if c.eat(b'-').is_some() {
        return Some(StructuredData::new());
    }
    // (SD-ID, name or None for the element itself, value).
    let mut items: Vec<(&str, Option<&str>, Cow<'_, str>)> = Vec::new();
    let mut bytes = 0;
    while c.peek().is_some() {
        c.eat(b'[')?;
        let id = c.sd_name()?;
        items.push((id, None, Cow::Borrowed("")));
        while c.eat(b' ').is_some() {
            let name = c.sd_name()?;
            c.eat(b'=')?;
            let value = c.sd_value()?;
            bytes += name.len() + value.len() + 6;
            items.push((id, Some(name), value));
        }
        c.eat(b']')?;
        if c.peek() == Some(b' ') {
            break;
        }
    }
    // Stable, so of a repeated name the last value is last.
    items.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    let mut w = SdWriter::with_capacity(bytes);
    for (i, (id, name, value)) in items.iter().enumerate() {
        let next = items.get(i + 1);
        match name {
            None if i == 0 || items[i - 1].0 != *id => w.element(id),
            None => {}
            Some(n) if next.is_some_and(|x| x.0 == *id && x.1 == Some(n)) => {}
            Some(n) => w.param(n, value),
        }
    }
    Some(w.finish())
}

/// Reads `rest` (what follows a valid, unpadded PRI of at most 191) as the crate would,
/// or `None` when the line is anything but plain RFC 5424.
pub(super) fn read(rest: &str) -> Option<Parsed> {
    let mut c = Cursor { s: rest, i: 0 };
    // VERSION: one or two digits.
    let v = c.s.bytes().take_while(u8::is_ascii_digit).count();
    if !(1..=2).contains(&v) {
        return None;
    }
    c.i = v;
    c.eat(b' ')?;
    let time = if c.s.as_bytes()[c.i..].starts_with(b"- ") {
        c.i += 2;
        None
    } else {
        Some(timestamp(&mut c)?)
    };
    let hostname = c.term(HOSTNAME_MAX)?;
    let app_name = c.term(APP_NAME_MAX)?;
    let procid = c.term(PROCID_MAX)?;
    let msgid = c.term(MSGID_MAX)?;
    let sd = structured_data(&mut c)?;
    let msg = &c.s[c.i..];
    let msg = msg.strip_prefix(' ').unwrap_or(msg);
    let mut p = Parsed::new(Dialect::Rfc5424, msg.to_string());
    p.time = time;
    p.hostname = hostname.map(str::to_string);
    p.app_name = app_name.map(str::to_string);
    // The crate reads a numeric PROCID as a number (`0042` becomes `42`).
    p.procid = procid.map(|s| match s.parse::<i32>() {
        Ok(n) => n.to_string(),
        Err(_) => s.to_string(),
    });
    p.msgid = msgid.map(str::to_string);
    p.structured_data = sd;
    Some(p)
}

#[cfg(test)]
mod tests;
