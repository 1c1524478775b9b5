//! RFC 5424 structured data (SD-ID to parameters), kept as the JSON object text that the
//! `logs` table stores, so the sink appends it as it is.
//!
//! Parsers build it once: from a map ([`StructuredData::from_map`]), or written directly
//! ([`SdWriter`], used for the dozens of `key=value` pairs of a firewall line, which
//! used to go through a map of owned strings and then be serialised again by the sink).
//! On the wire (the JSON of the `logs` topic) it is the same object as before: SD-ID to
//! an object of string parameters, keys sorted.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// SD-ID → parameter → value, as compact JSON text (empty when there is none).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StructuredData(String);

/// The parsed form (tests, readers).
pub type SdMap = BTreeMap<String, BTreeMap<String, String>>;

impl StructuredData {
    /// No structured data.
    pub fn new() -> Self {
        Self::default()
    }

    /// From a map (an empty map gives no structured data).
    pub fn from_map(map: &SdMap) -> Self {
        if map.is_empty() {
            return Self::default();
        }
        // A map of strings always serialises.
        Self(serde_json::to_string(map).unwrap_or_default())
    }

    /// True when there is none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The JSON object text, if any.
    pub fn as_json(&self) -> Option<&str> {
        (!self.0.is_empty()).then_some(self.0.as_str())
    }

    /// From JSON object text read back (a table column); `None` when it is not an object
    /// of objects of strings.
    pub fn from_json(text: &str) -> Option<Self> {
        serde_json::from_str::<SdMap>(text)
            .ok()
            .map(|m| Self::from_map(&m))
    }

    /// The parsed map.
    pub fn to_map(&self) -> SdMap {
        self.as_json()
            .and_then(|t| serde_json::from_str(t).ok())
            .unwrap_or_default()
    }
}

impl Serialize for StructuredData {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // Borrowed: the wire form costs one parse of the text, no copies.
        let map: BTreeMap<&str, BTreeMap<std::borrow::Cow<'_, str>, std::borrow::Cow<'_, str>>> =
            match self.as_json() {
                Some(t) => serde_json::from_str(t).map_err(serde::ser::Error::custom)?,
                None => BTreeMap::new(),
            };
        map.serialize(s)
    }
}

impl<'de> Deserialize<'de> for StructuredData {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Self::from_map(&SdMap::deserialize(d)?))
    }
}

/// Writes structured data straight to JSON text: elements in SD-ID order, each with its
/// parameters in name order, none repeated (the order and uniqueness of a map; the text
/// is then exactly what [`StructuredData::from_map`] gives).
#[derive(Debug)]
pub struct SdWriter {
    text: String,
    /// An element is open.
    open: bool,
    /// The open element has a parameter.
    params: bool,
}

impl SdWriter {
    /// An empty writer, with room for about `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Self {
        let mut text = String::with_capacity(capacity + 8);
        text.push('{');
        Self {
            text,
            open: false,
            params: false,
        }
    }

    /// Starts the element `sd_id` (ending the one before).
    pub fn element(&mut self, sd_id: &str) {
        if self.open {
            self.text.push_str("},");
        }
        escaped(&mut self.text, sd_id);
        self.text.push_str(":{");
        self.open = true;
        self.params = false;
    }

    /// Adds one parameter to the element started last.
    pub fn param(&mut self, name: &str, value: &str) {
        debug_assert!(self.open, "a parameter outside an element");
        if self.params {
            self.text.push(',');
        }
        self.params = true;
        escaped(&mut self.text, name);
        self.text.push(':');
        escaped(&mut self.text, value);
    }

    /// The structured data (none when no element was started).
    pub fn finish(mut self) -> StructuredData {
        if !self.open {
            return StructuredData::new();
        }
        self.text.push_str("}}");
        StructuredData(self.text)
    }
}

/// `s` as a JSON string, escaped as serde_json does.
fn escaped(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = s.as_bytes();
    out.push('"');
    let mut start = 0;
    loop {
        // Every byte that needs an escape is ASCII, so `start..i` are char boundaries.
        let i = start + plain_prefix(&bytes[start..]);
        out.push_str(&s[start..i]);
        let Some(&b) = bytes.get(i) else {
            break;
        };
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x08 => out.push_str("\\b"),
            0x0c => out.push_str("\\f"),
            _ => {
                out.push_str("\\u00");
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 0xf)]));
            }
        }
        start = i + 1;
    }
    out.push('"');
}

/// A byte JSON escapes: a control character, `"` or `\\`.
fn special(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

/// How many bytes at the start of `b` need no escape. Eight bytes at a time: values
/// are long (a firewall line carries a kilobyte of them) and rarely need one.
fn plain_prefix(b: &[u8]) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // The high bit of a byte of `zero(x)` is set for a zero byte of `x` (and maybe for
    // bytes after it, never before it): enough to say whether a word has one.
    let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    let mut i = 0;
    for w in b.chunks_exact(8) {
        let x = u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
        // Bytes below 0x20 (every byte here is below 0x80 or has its high bit masked
        // by `!x`), then `"` and `\\` as zero bytes of `x ^ c`.
        let control = x.wrapping_sub(ONES * 0x20) & !x & HIGH;
        if control | zero(x ^ (ONES * u64::from(b'"'))) | zero(x ^ (ONES * u64::from(b'\\'))) != 0 {
            break;
        }
        i += 8;
    }
    i + b[i..].iter().take_while(|&&c| !special(c)).count()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn the_wire_form_is_the_map_and_comes_back_equal() {
        let map = SdMap::from([(
            "x@1".to_string(),
            BTreeMap::from([("a".to_string(), "q\"\\\n".to_string())]),
        )]);
        let sd = StructuredData::from_map(&map);
        assert_eq!(sd.as_json(), Some(r#"{"x@1":{"a":"q\"\\\n"}}"#));
        let wire = serde_json::to_string(&sd).unwrap();
        assert_eq!(wire, serde_json::to_string(&map).unwrap());
        let back: StructuredData = serde_json::from_str(&wire).unwrap();
        assert_eq!(back, sd);
        assert_eq!(back.to_map(), map);
        assert!(StructuredData::from_map(&SdMap::new()).is_empty());
        assert_eq!(serde_json::to_string(&StructuredData::new()).unwrap(), "{}");
        assert!(serde_json::from_str::<StructuredData>(r#"{"x":{"a":1}}"#).is_err());
    }

    proptest! {
        /// The word-at-a-time scan stops exactly where a byte-by-byte one does.
        #[test]
        fn plain_prefix_stops_at_the_first_byte_to_escape(
            b in proptest::collection::vec(
                prop_oneof![0x20u8..=0xff, Just(b'"'), Just(b'\\'), 0u8..0x20],
                0..80,
            ),
        ) {
            let naive = b.iter().position(|&c| special(c)).unwrap_or(b.len());
            prop_assert_eq!(plain_prefix(&b), naive);
        }

        /// The writer gives the text serde_json gives for the same map, whatever the
        /// characters (controls, quotes, backslashes, non-ASCII).
        #[test]
        fn the_writer_writes_what_serde_json_writes(
            map in proptest::collection::btree_map(
                "[a-z@0-9]{1,8}|\\PC{0,4}",
                proptest::collection::btree_map(
                    "\\PC{0,6}|[\\x00-\\x1f\"\\\\]{0,3}",
                    "\\PC{0,12}|[\\x00-\\x1f\"\\\\a]{0,6}",
                    0..6,
                ),
                0..4,
            ),
        ) {
            let mut w = SdWriter::with_capacity(64);
            for (id, params) in &map {
                w.element(id);
                for (k, v) in params {
                    w.param(k, v);
                }
            }
            let got = w.finish();
            prop_assert_eq!(&got, &StructuredData::from_map(&map));
            prop_assert_eq!(got.to_map(), map);
        }
    }
}
