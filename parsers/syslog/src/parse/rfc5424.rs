//! RFC 5424: a fast reader of plain lines ([`super::rfc5424_fast`]), the
//! `syslog_rfc5424` crate for the others, a lenient header reader when it refuses.
//!
//! The lenient reader takes the space-separated header fields as they are (`-` is
//! NILVALUE), structured data when it is well-formed, and the rest as the message, so
//! that almost-RFC 5424 senders (Meraki's epoch timestamps, over-long fields, bad SD)
//! keep their hostname and app name.

use std::collections::BTreeMap;

use crate::StructuredData;

use chrono::DateTime;
use syslog_rfc5424::message::ProcId;

use super::{Dialect, Parsed};

/// `VERSION SP` right after the PRI (VERSION = NONZERO-DIGIT 0*2DIGIT).
pub(super) fn looks_like(rest: &str) -> bool {
    let n = rest.bytes().take_while(u8::is_ascii_digit).count();
    (1..=3).contains(&n) && !rest.starts_with('0') && rest.as_bytes().get(n) == Some(&b' ')
}

/// Whether the `syslog_rfc5424` crate can be given this header without panicking: its
/// UTC-offset reader slices 5 bytes after the sign (`+hh:mm`), which panics on a short
/// offset at the end of the line or on a multi-byte character there (found by fuzzing).
/// Such timestamps are not RFC 3339 anyway; the lenient reader takes those lines.
fn crate_safe(rest: &str) -> bool {
    let after_version = rest.split_once(' ').map_or("", |(_, r)| r);
    let ts = after_version.split(' ').next().unwrap_or("");
    if !ts.is_ascii() {
        return false;
    }
    match ts.get(10..).and_then(|t| t.rfind(['+', '-'])) {
        Some(i) => {
            let off = &ts.as_bytes()[10 + i + 1..];
            off.len() == 5 && off[2] == b':'
        }
        None => true,
    }
}

/// Parses `line` (PRI included); `rest` is what follows the PRI, `valid_pri` whether
/// that PRI is unpadded and at most 191. Plain lines are read by [`super::rfc5424_fast`],
/// the others by the crate as before.
pub(super) fn parse(line: &str, rest: &str, valid_pri: bool) -> Parsed {
    if valid_pri && let Some(p) = super::rfc5424_fast::read(rest) {
        return p;
    }
    crate_parse(line, rest)
}

/// [`parse`] with the `syslog_rfc5424` crate only (the fast reader's oracle in tests).
pub(super) fn crate_parse(line: &str, rest: &str) -> Parsed {
    if !crate_safe(rest) {
        return lenient(rest);
    }
    match syslog_rfc5424::parse_message(line) {
        Ok(m) => {
            let mut p = Parsed::new(Dialect::Rfc5424, m.msg);
            p.time = m
                .timestamp
                .and_then(|s| DateTime::from_timestamp(s, m.timestamp_nanos.unwrap_or(0)));
            p.hostname = m.hostname;
            p.app_name = m.appname;
            p.procid = m.procid.map(|p| match p {
                ProcId::PID(n) => n.to_string(),
                ProcId::Name(s) => s,
            });
            p.msgid = m.msgid;
            let sd: Sd = m.sd.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            p.structured_data = StructuredData::from_map(&sd);
            p
        }
        Err(_) => lenient(rest),
    }
}

fn field(s: &str) -> (Option<String>, &str) {
    // Header fields are short: a plain loop beats `find`'s memchr set-up.
    let end = s.bytes().position(|b| b == b' ').unwrap_or(s.len());
    let v = &s[..end];
    let rest = s[end..].strip_prefix(' ').unwrap_or(&s[end..]);
    ((v != "-" && !v.is_empty()).then(|| v.to_string()), rest)
}

fn lenient(rest: &str) -> Parsed {
    // Skip VERSION SP.
    let (_, r) = field(rest);
    let (ts, r) = field(r);
    let (hostname, r) = field(r);
    let (app_name, r) = field(r);
    let (procid, r) = field(r);
    let (msgid, r) = field(r);
    let (sd, msg) = if let Some(after) = r.strip_prefix('-') {
        (Some(BTreeMap::new()), after)
    } else if r.starts_with('[') {
        match structured_data(r) {
            Some((sd, after)) => (Some(sd), after),
            None => (None, r),
        }
    } else {
        (None, r)
    };
    let msg = if sd.is_some() {
        msg.strip_prefix(' ').unwrap_or(msg)
    } else {
        msg
    };
    let mut p = Parsed::new(Dialect::Rfc5424Lenient, msg.to_string());
    p.time = ts
        .as_deref()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.to_utc());
    p.hostname = hostname;
    p.app_name = app_name;
    p.procid = procid;
    p.msgid = msgid;
    p.structured_data = StructuredData::from_map(&sd.unwrap_or_default());
    p
}

type Sd = BTreeMap<String, BTreeMap<String, String>>;

/// `[id k="v" ...][id2 ...]` with `\"`, `\\`, `\]` unescaped; `None` when malformed.
fn structured_data(mut s: &str) -> Option<(Sd, &str)> {
    let mut sd = Sd::new();
    while let Some(r) = s.strip_prefix('[') {
        let id_end = r.find([' ', ']'])?;
        let id = &r[..id_end];
        if id.is_empty() || id.contains(['=', '"']) {
            return None;
        }
        let params = sd.entry(id.to_string()).or_default();
        let mut r = &r[id_end..];
        loop {
            if let Some(after) = r.strip_prefix(']') {
                s = after;
                break;
            }
            r = r.strip_prefix(' ')?;
            let eq = r.find('=')?;
            let name = &r[..eq];
            if name.is_empty() || name.contains([' ', ']', '"']) {
                return None;
            }
            r = r[eq + 1..].strip_prefix('"')?;
            let mut value = String::new();
            let mut chars = r.char_indices();
            let end = loop {
                let (i, c) = chars.next()?;
                match c {
                    '\\' => {
                        let (_, n) = chars.next()?;
                        if !matches!(n, '"' | '\\' | ']') {
                            value.push('\\');
                        }
                        value.push(n);
                    }
                    '"' => break i,
                    c => value.push(c),
                }
            };
            params.insert(name.to_string(), value);
            r = &r[end + 1..];
        }
    }
    Some((sd, s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_keeps_the_header_of_almost_rfc5424_lines() {
        let p = lenient("1 1647479055.795119971 MR_device_2 events type=dfs_event radio='2'");
        assert_eq!(p.hostname.as_deref(), Some("MR_device_2"));
        assert_eq!(p.app_name.as_deref(), Some("events"));
        assert_eq!(p.time, None);
    }

    #[test]
    fn structured_data_unescapes() {
        let (sd, rest) = structured_data(r#"[a x="1\"2\]" y="\\"][b@1 z=""] msg"#).unwrap();
        assert_eq!(sd["a"]["x"], "1\"2]");
        assert_eq!(sd["a"]["y"], "\\");
        assert_eq!(sd["b@1"]["z"], "");
        assert_eq!(rest, " msg");
        assert!(structured_data("[a x=1]").is_none());
        assert!(structured_data("[a x=\"1").is_none());
    }
}
