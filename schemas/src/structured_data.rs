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
    text: Vec<u8>,
    /// An element is open.
    open: bool,
    /// The open element has a parameter.
    params: bool,
}

impl SdWriter {
    /// An empty writer, with room for about `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Self {
        let mut text = Vec::with_capacity(capacity + 8);
        text.push(b'{');
        Self {
            text,
            open: false,
            params: false,
        }
    }

    /// Starts the element `sd_id` (ending the one before).
    pub fn element(&mut self, sd_id: &str) {
        if self.open {
            self.text.extend_from_slice(b"},");
        }
        escaped(&mut self.text, sd_id);
        self.text.extend_from_slice(b":{");
        self.open = true;
        self.params = false;
    }

    /// Adds one parameter to the element started last.
    pub fn param(&mut self, name: &str, value: &str) {
        debug_assert!(self.open, "a parameter outside an element");
        if self.params {
            self.text.push(b',');
        }
        self.params = true;
        escaped(&mut self.text, name);
        self.text.push(b':');
        escaped(&mut self.text, value);
    }

    /// The structured data (none when no element was started).
    pub fn finish(mut self) -> StructuredData {
        if !self.open {
            return StructuredData::new();
        }
        self.text.extend_from_slice(b"}}");
        // Only whole `&str`s and ASCII escapes were written: always UTF-8.
        StructuredData(String::from_utf8(self.text).unwrap_or_default())
    }
}

/// `s` as a JSON string, escaped as serde_json does.
fn escaped(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = s.as_bytes();
    out.push(b'"');
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if b >= 0x20 && b != b'"' && b != b'\\' {
            continue;
        }
        out.extend_from_slice(&bytes[start..i]);
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            _ => out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 0xf)],
            ]),
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
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
