//! The metric sample's JSON wire form, decoded in one pass.
//!
//! Every message on the metrics topics is one sample that SOTP encoded itself: the fields
//! in declaration order, no whitespace, strings without escapes. A Kafka consumer decodes
//! hundreds of thousands of them a second, and serde's derived decoder spent about a
//! microsecond on each (field names matched as strings, each string checked for UTF-8 and
//! escapes on its own, the time copied into a `String`). [`decode`] reads exactly that
//! canonical form; anything else (another field order, whitespace, an escape, an unknown
//! or repeated field, an integer `value`) returns `None`, and the caller decodes with
//! serde. What is accepted and what it decodes to are therefore serde's: the tests
//! compare the two on generated documents and on mutated ones.

use std::collections::BTreeMap;

use super::MetricSample;
use crate::intern::intern;
use crate::{DeviceId, MetricName, UtcNanos};

/// The sample in `bytes` when they are in the canonical form, else none.
pub(super) fn decode(bytes: &[u8]) -> Option<MetricSample> {
    let mut c = Cursor {
        s: std::str::from_utf8(bytes).ok()?,
        at: 0,
    };
    c.lit("{\"time\":\"")?;
    let time = UtcNanos::parse_rfc3339(c.string()?).ok()?;
    c.lit(",\"device_id\":\"")?;
    let device_id = DeviceId::interned(c.string()?);
    c.lit(",\"device\":\"")?;
    let device = intern(c.string()?);
    c.lit(",\"metric\":\"")?;
    let metric = MetricName::interned(c.string()?);
    c.lit(",\"instance\":")?;
    let instance = c.null_or_string()?.map(intern);
    c.lit(",\"value\":")?;
    let value = c.float()?;
    c.lit(",\"counter\":")?;
    let counter = match c.null_or_string()? {
        // The same parse as the serde path's, so `+5` means 5 on both.
        Some(text) => Some(text.parse::<u64>().ok()?),
        None => None,
    };
    let mut labels = BTreeMap::new();
    if c.lit(",\"labels\":{").is_some() && c.lit("}").is_none() {
        loop {
            c.lit("\"")?;
            let key = c.string()?;
            c.lit(":\"")?;
            // A repeated key keeps its last value, as serde's map does.
            labels.insert(key.to_string(), c.string()?.to_string());
            if c.lit(",").is_none() {
                c.lit("}")?;
                break;
            }
        }
    }
    c.lit(",\"collector\":\"")?;
    let collector = intern(c.string()?);
    c.lit("}")?;
    (c.at == c.s.len()).then_some(MetricSample {
        time,
        device_id,
        device,
        metric,
        instance,
        value,
        counter,
        labels,
        collector,
    })
}

/// Writes `s` in the canonical form, byte for byte what `serde_json` writes for it, and
/// returns true; returns false (having written nothing) when a string needs an escape or
/// the time has no canonical form, which `serde_json` then writes. A producer encodes
/// every sample it sends: `serde_json`'s generic serializer scanned every string for
/// escapes through its formatter and wrote the timestamp through a second buffer.
pub(super) fn encode(s: &MetricSample, out: &mut Vec<u8>) -> bool {
    let plain = |t: &str| !t.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20);
    let strings_plain = [
        s.device_id.as_str(),
        &s.device,
        s.metric.as_str(),
        &s.collector,
    ]
    .into_iter()
    .chain(s.instance.as_deref())
    .chain(s.labels.iter().flat_map(|(k, v)| [k.as_str(), v.as_str()]))
    .all(plain);
    let Some(time) = s.time.canonical_bytes() else {
        return false;
    };
    if !strings_plain {
        return false;
    }
    let string = |out: &mut Vec<u8>, t: &str| {
        out.push(b'"');
        out.extend_from_slice(t.as_bytes());
        out.push(b'"');
    };
    out.extend_from_slice(b"{\"time\":\"");
    out.extend_from_slice(&time);
    out.extend_from_slice(b"\",\"device_id\":");
    string(out, s.device_id.as_str());
    out.extend_from_slice(b",\"device\":");
    string(out, &s.device);
    out.extend_from_slice(b",\"metric\":");
    string(out, s.metric.as_str());
    out.extend_from_slice(b",\"instance\":");
    match &s.instance {
        Some(i) => string(out, i),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"value\":");
    if s.value.is_finite() {
        out.extend_from_slice(zmij::Buffer::new().format_finite(s.value).as_bytes());
    } else {
        out.extend_from_slice(b"null");
    }
    out.extend_from_slice(b",\"counter\":");
    match s.counter {
        Some(c) => string(out, itoa::Buffer::new().format(c)),
        None => out.extend_from_slice(b"null"),
    }
    if !s.labels.is_empty() {
        out.extend_from_slice(b",\"labels\":{");
        for (i, (k, v)) in s.labels.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            string(out, k);
            out.push(b':');
            string(out, v);
        }
        out.push(b'}');
    }
    out.extend_from_slice(b",\"collector\":");
    string(out, &s.collector);
    out.push(b'}');
    true
}

/// A position in a document; it only ever stops on ASCII bytes, so slicing is safe.
struct Cursor<'a> {
    s: &'a str,
    at: usize,
}

impl<'a> Cursor<'a> {
    /// Steps over `text` when it comes next.
    fn lit(&mut self, text: &str) -> Option<()> {
        self.s[self.at..].starts_with(text).then(|| {
            self.at += text.len();
        })
    }

    /// The rest of a string whose opening quote was read, up to its closing quote; none
    /// when it holds an escape or a control character (serde decodes or refuses those).
    fn string(&mut self) -> Option<&'a str> {
        let rest = &self.s.as_bytes()[self.at..];
        let end = rest
            .iter()
            .position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
        if rest[end] != b'"' {
            return None;
        }
        let text = &self.s[self.at..self.at + end];
        self.at += end + 1;
        Some(text)
    }

    fn null_or_string(&mut self) -> Option<Option<&'a str>> {
        if self.lit("null").is_some() {
            return Some(None);
        }
        self.lit("\"")?;
        self.string().map(Some)
    }

    /// A JSON number with a fraction or an exponent, as SOTP writes every `f64`. Integers
    /// are left to serde, which reads them as integers first (`-0` is `0.0` there).
    fn float(&mut self) -> Option<f64> {
        let b = self.s.as_bytes();
        let digits = |mut i: usize| {
            let from = i;
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            (i > from).then_some(i)
        };
        let mut i = self.at;
        if b.get(i) == Some(&b'-') {
            i += 1;
        }
        i = match b.get(i) {
            Some(b'0') => i + 1,
            Some(b'1'..=b'9') => digits(i)?,
            _ => return None,
        };
        let mut float = false;
        if b.get(i) == Some(&b'.') {
            i = digits(i + 1)?;
            float = true;
        }
        if matches!(b.get(i), Some(b'e' | b'E')) {
            i += 1;
            if matches!(b.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            i = digits(i)?;
            float = true;
        }
        if !float {
            return None;
        }
        // Both round correctly; serde refuses what overflows, so that is left to it.
        let v: f64 = self.s[self.at..i].parse().ok()?;
        self.at = i;
        v.is_finite().then_some(v)
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::sync::Arc;

    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    use super::*;

    /// Serde's answer and the one-pass decoder's agree: the same sample (the value to the
    /// bit, so `-0.0` is not `0.0`), or the decoder stepped aside. Returns whether it
    /// decoded.
    fn agree(bytes: &[u8]) -> Result<bool, TestCaseError> {
        let by_serde = serde_json::from_slice::<MetricSample>(bytes);
        let Some(fast) = decode(bytes) else {
            return Ok(false);
        };
        let slow = match by_serde {
            Ok(s) => s,
            Err(e) => {
                return Err(TestCaseError::fail(format!(
                    "decoded what serde refuses ({e}): {}",
                    String::from_utf8_lossy(bytes)
                )));
            }
        };
        prop_assert_eq!(fast.value.to_bits(), slow.value.to_bits());
        prop_assert_eq!(&fast, &slow, "{}", String::from_utf8_lossy(bytes));
        Ok(true)
    }

    fn sample_strategy() -> impl Strategy<Value = MetricSample> {
        // Plain identifiers most of the time; quotes, backslashes, control characters and
        // non-ASCII letters sometimes, which serde escapes and the decoder leaves to it.
        let text = prop_oneof![
            4 => "[a-zA-Z0-9_./:-]{0,16}",
            1 => "[a-z\"\\\\\u{1}\u{1f}é€😀]{0,6}",
        ];
        let value = prop_oneof![
            any::<f64>(),
            (-1e6f64..1e6),
            Just(0.0),
            Just(-0.0),
            Just(f64::NAN),
            Just(f64::MIN_POSITIVE / 4.0),
        ];
        (
            any::<i64>(),
            (text.clone(), text.clone(), text.clone()),
            proptest::option::of(text.clone()),
            value,
            proptest::option::of(any::<u64>()),
            proptest::collection::btree_map(text.clone(), text.clone(), 0..3),
            text,
        )
            .prop_map(
                |(t, (id, device, metric), instance, value, counter, labels, collector)| {
                    MetricSample {
                        time: UtcNanos(t),
                        device_id: DeviceId::new(id),
                        device: Arc::from(device),
                        metric: MetricName::new(metric),
                        instance: instance.map(Arc::from),
                        value,
                        counter,
                        labels,
                        collector: Arc::from(collector),
                    }
                },
            )
    }

    #[test]
    fn decodes_every_encoded_sample_as_serde_does_and_leaves_escapes_to_serde() {
        let (fast, slow) = (Cell::new(0u32), Cell::new(0u32));
        TestRunner::new(Config::with_cases(4_000))
            .run(&sample_strategy(), |s| {
                let bytes = serde_json::to_vec(&s).expect("a sample encodes");
                let plain = [
                    s.device_id.as_str(),
                    &s.device,
                    s.metric.as_str(),
                    &s.collector,
                ]
                .into_iter()
                .chain(s.instance.as_deref())
                .chain(s.labels.iter().flat_map(|(k, v)| [k.as_str(), v.as_str()]))
                .all(|t| !t.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20));
                let decoded = agree(&bytes)?;
                // What SOTP writes without escapes and with a finite value is always read
                // in one pass; the rest falls back.
                prop_assert_eq!(decoded, plain && s.value.is_finite());
                let counter = if decoded { &fast } else { &slow };
                counter.set(counter.get() + 1);
                Ok(())
            })
            .unwrap();
        assert!(fast.get() > 1_000, "one-pass decodes: {}", fast.get());
        assert!(slow.get() > 200, "serde decodes: {}", slow.get());
    }

    #[test]
    fn encodes_byte_for_byte_as_serde_json_and_leaves_escapes_to_it() {
        let (fast, slow) = (Cell::new(0u32), Cell::new(0u32));
        TestRunner::new(Config::with_cases(4_000))
            .run(&sample_strategy(), |s| {
                let mut out = Vec::new();
                let encoded = encode(&s, &mut out);
                let plain = [
                    s.device_id.as_str(),
                    &s.device,
                    s.metric.as_str(),
                    &s.collector,
                ]
                .into_iter()
                .chain(s.instance.as_deref())
                .chain(s.labels.iter().flat_map(|(k, v)| [k.as_str(), v.as_str()]))
                .all(|t| !t.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20));
                prop_assert_eq!(encoded, plain);
                if encoded {
                    let by_serde = serde_json::to_vec(&s).expect("a sample encodes");
                    prop_assert_eq!(
                        String::from_utf8_lossy(&out),
                        String::from_utf8_lossy(&by_serde)
                    );
                    fast.set(fast.get() + 1);
                } else {
                    prop_assert!(out.is_empty(), "wrote before stepping aside");
                    slow.set(slow.get() + 1);
                }
                Ok(())
            })
            .unwrap();
        assert!(fast.get() > 1_000, "encoded in one pass: {}", fast.get());
        assert!(slow.get() > 200, "left to serde_json: {}", slow.get());
    }

    #[test]
    fn mutated_documents_decode_as_serde_decodes_them_or_fall_back() {
        let edits = proptest::collection::vec(
            (
                any::<prop::sample::Index>(),
                0..3u8,
                prop::sample::select(b" \"\\{},:0-5.eE+nul\x01\xc3a".to_vec()),
            ),
            1..3,
        );
        let (accepted, refused) = (Cell::new(0u32), Cell::new(0u32));
        TestRunner::new(Config::with_cases(20_000))
            .run(&(sample_strategy(), edits), |(s, edits)| {
                let mut bytes = serde_json::to_vec(&s).expect("a sample encodes");
                for (at, op, byte) in edits {
                    let i = at.index(bytes.len() + 1);
                    match op {
                        0 if i < bytes.len() => bytes[i] = byte,
                        1 if i < bytes.len() => {
                            bytes.remove(i);
                        }
                        _ => bytes.insert(i, byte),
                    }
                }
                let counter = if agree(&bytes)? { &accepted } else { &refused };
                counter.set(counter.get() + 1);
                Ok(())
            })
            .unwrap();
        // Edits inside strings and digits keep a document canonical; the rest do not.
        assert!(accepted.get() > 500, "mutants decoded: {}", accepted.get());
        assert!(
            refused.get() > 2_000,
            "mutants left to serde: {}",
            refused.get()
        );
    }

    #[test]
    fn every_json_number_decodes_to_serdes_float() {
        let number = "-?(0|[1-9][0-9]{0,24})(\\.[0-9]{1,24})?([eE][+-]?[0-9]{1,3})?";
        let floats = Cell::new(0u32);
        TestRunner::new(Config::with_cases(20_000))
            .run(&number, |n| {
                let doc = format!(
                    "{{\"time\":\"2026-12-07T15:00:00.000000000Z\",\"device_id\":\"d\",\
                     \"device\":\"d\",\"metric\":\"m\",\"instance\":null,\"value\":{n},\
                     \"counter\":null,\"collector\":\"c\"}}"
                );
                if agree(doc.as_bytes())? {
                    floats.set(floats.get() + 1);
                }
                Ok(())
            })
            .unwrap();
        // Integers (about a quarter) and what overflows are left to serde.
        assert!(floats.get() > 10_000, "numbers decoded: {}", floats.get());
    }
}
