//! RFC 3164 (BSD) headers and the Cisco headers that often follow or replace them.
//!
//! BSD: `TIMESTAMP[:] [HOSTNAME[:]] [TAG[pid]:] MSG`. A first token that ends with `:`
//! and carries a `[pid]` (or is not followed by a mnemonic) is a TAG: the sender left
//! the hostname out. After the hostname, a Cisco header may follow (a relay forwarding
//! a Cisco line); otherwise the next token is the TAG and the rest, after one space, the
//! message.
//!
//! Cisco: up to a few items `seq:`, `host:`, `*task:`, uptime `2y10w:`, then the device
//! timestamp with an optional zone name and `:`, then `%FAC-SEV-MNEMONIC: text`.

use chrono::{DateTime, Utc};

use super::time::{self, Stamp};
use super::{Dialect, Parsed, mnemonic};

fn resolve(
    stamp: Stamp,
    offset: Option<chrono::FixedOffset>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    Stamp {
        offset: stamp.offset.or(offset),
        ..stamp
    }
    .resolve(now)
}

/// The next space-separated token and what follows its single space.
fn token(s: &str) -> (&str, &str) {
    // Header tokens are short: a plain loop beats `find`'s memchr set-up.
    match s.bytes().position(|b| b == b' ') {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => (s, ""),
    }
}

/// A TAG `prog[pid]:` / `prog:` / `prog` -> (program, pid).
fn tag(t: &str) -> (Option<String>, Option<String>) {
    let t = t.strip_suffix(':').unwrap_or(t);
    if let Some(open) = t.rfind('[')
        && t.ends_with(']')
        && open > 0
    {
        return (
            Some(t[..open].to_string()),
            Some(t[open + 1..t.len() - 1].to_string()),
        );
    }
    ((!t.is_empty()).then(|| t.to_string()), None)
}

fn is_kv(t: &str) -> bool {
    t.contains('=')
}

/// A BSD header at the start of `s` (after the PRI); `None` when there is no timestamp.
pub(super) fn parse(s: &str, now: DateTime<Utc>) -> Option<Parsed> {
    let (stamp, r) = time::timestamp(s)?;
    let mut p = Parsed::new(Dialect::Rfc3164, String::new());
    p.time = stamp.resolve(now);
    let r = r.strip_prefix(':').unwrap_or(r);
    let r = r.strip_prefix(' ').unwrap_or(r);
    let (first, after_first) = token(r);
    let first_is_tag =
        first.ends_with(':') && (first.contains('[') || !after_first.trim_start().starts_with('%'));
    let mut r = r;
    if !first.is_empty() && !first_is_tag && !is_kv(first) && !first.starts_with('%') {
        p.hostname = Some(first.trim_end_matches(':').to_string());
        r = after_first;
        // ASA: `HOSTNAME : %ASA-...`
        if let Some(x) = r.strip_prefix(": ") {
            r = x;
        }
    }
    if let Some(c) = cisco_items(r, now, p.hostname.is_none())
        && c.found
    {
        p.dialect = Dialect::Cisco;
        p.time = c.time.or(p.time);
        p.vendor_mnemonic = c.mnemonic;
        p.message = c.message;
        return Some(p);
    }
    let (t, msg) = token(r);
    if !t.is_empty() && !is_kv(t) && !t.starts_with(['[', '%']) {
        let (app, pid) = tag(t);
        p.app_name = app;
        p.procid = pid;
        p.message = msg.to_string();
    } else {
        p.message = r.to_string();
    }
    Some(p)
}

/// A Cisco header without a BSD timestamp in front; `None` when nothing Cisco-like is
/// found.
pub(super) fn cisco(s: &str, now: DateTime<Utc>) -> Option<Parsed> {
    let c = cisco_items(s, now, true)?;
    if !c.found {
        return None;
    }
    let mut p = Parsed::new(Dialect::Cisco, c.message);
    p.time = c.time;
    p.hostname = c.host;
    p.vendor_mnemonic = c.mnemonic;
    Some(p)
}

#[derive(Debug, Default)]
struct Items {
    found: bool,
    host: Option<String>,
    time: Option<DateTime<Utc>>,
    mnemonic: Option<String>,
    message: String,
}

fn is_seq(t: &str) -> bool {
    // Cisco sequence numbers (`000123:`), or an empty one (`: `); longer digit runs are
    // more likely a TAG.
    t.strip_suffix(':')
        .is_some_and(|d| d.len() <= 10 && d.bytes().all(|b| b.is_ascii_digit()))
}

/// Cisco uptime stamps such as `2y10w:` or `1d02h:`.
fn is_uptime(t: &str) -> bool {
    let Some(t) = t.strip_suffix(':') else {
        return false;
    };
    !t.is_empty()
        && t.bytes().next().is_some_and(|b| b.is_ascii_digit())
        && t.bytes()
            .all(|b| b.is_ascii_digit() || b"ywdhms".contains(&b))
        && t.bytes().any(|b| b"ywdhms".contains(&b))
}

fn cisco_items(s: &str, now: DateTime<Utc>, allow_host: bool) -> Option<Items> {
    let mut it = Items::default();
    let mut r = s.trim_start_matches(' ');
    let mut seen_seq = false;
    for _ in 0..6 {
        r = r.trim_start_matches(' ');
        if r.starts_with('%') {
            break;
        }
        if let Some((stamp, rest)) = time::timestamp(r) {
            let (offset, rest) = match time::zone(rest) {
                Some((o, rest)) => (Some(o), rest),
                None => (None, rest),
            };
            let rest = rest.trim_start_matches(' ');
            it.time = resolve(stamp, offset, now);
            match rest.strip_prefix(':') {
                Some(rest) => {
                    it.found = true;
                    r = rest.trim_start_matches(' ');
                    break;
                }
                // A relay's BSD timestamp inside a Cisco header: the device's own
                // header follows.
                None if allow_host && seen_seq => {
                    r = rest;
                    continue;
                }
                None => break,
            }
        }
        let (t, rest) = token(r);
        if t.is_empty() || is_kv(t) || t.starts_with('<') {
            break;
        }
        if is_seq(t) {
            seen_seq = true;
            it.found = true;
        } else if is_uptime(t) {
            it.found = true;
            r = rest;
            break;
        } else if t.starts_with('*') && t.ends_with(':') {
            // WLC task name, `*dtlArpTask:`.
        } else if allow_host
            && it.host.is_none()
            && (t.ends_with(':') || seen_seq || next_is_header(rest))
        {
            it.host = Some(t.trim_end_matches(':').to_string());
        } else if allow_host && it.host.is_some() && t.ends_with(':') {
            // A second name (relay then device): the first one stays.
        } else {
            break;
        }
        r = rest;
    }
    match r.strip_prefix('%').and_then(|_| mnemonic(r)) {
        Some((m, text)) => {
            it.found = true;
            it.mnemonic = Some(m.to_string());
            it.message = fman_prefix(text).to_string();
        }
        None if it.found => it.message = r.to_string(),
        None => {}
    }
    if !it.found {
        it.host = None;
    }
    Some(it)
}

/// After a host token without `:`: a sequence number or a timestamp follows.
fn next_is_header(rest: &str) -> bool {
    let (t, _) = token(rest.trim_start_matches(' '));
    is_seq(t) || time::timestamp(rest.trim_start_matches(' ')).is_some()
}

/// IOS-XE data-plane lines repeat a `SLOT: fman_fp_image: ` prefix before the text.
fn fman_prefix(text: &str) -> &str {
    let (slot, rest) = token(text);
    if slot.ends_with(':')
        && let Some(r) = rest.trim_start().strip_prefix("fman_fp_image:")
    {
        return r.trim_start();
    }
    text
}
