//! Owned SNMP values and OIDs, decoupled from the borrowed reply buffer of `snmp2`.
//!
//! A reply's varbinds borrow the session's receive buffer; the walker copies them into
//! [`VarBind`]s before sending the next request. Conversion is pure and tested here.

use std::fmt;
use std::str::FromStr;

/// An object identifier as its arcs.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Oid(pub Vec<u64>);

impl Oid {
    /// True when `self` lies strictly under `prefix`.
    pub fn is_under(&self, prefix: &Oid) -> bool {
        self.0.len() > prefix.0.len() && self.0.starts_with(&prefix.0)
    }

    /// The arcs after `prefix` (the table index), when `self` lies under it.
    pub fn suffix(&self, prefix: &Oid) -> Option<&[u64]> {
        self.is_under(prefix).then(|| &self.0[prefix.0.len()..])
    }

    /// `self` followed by `arcs`.
    pub fn child(&self, arcs: &[u64]) -> Oid {
        let mut v = self.0.clone();
        v.extend_from_slice(arcs);
        Oid(v)
    }

    /// The `snmp2` form of this OID.
    pub fn to_snmp(&self) -> Result<snmp2::Oid<'static>, String> {
        snmp2::Oid::from(&self.0).map_err(|e| format!("invalid OID {self}: {e:?}"))
    }

    /// From the `snmp2` form.
    pub fn from_snmp(o: &snmp2::Oid<'_>) -> Option<Oid> {
        o.iter().map(|it| Oid(it.collect()))
    }
}

impl fmt::Display for Oid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, a) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            write!(f, "{a}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Oid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Oid {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let arcs: Result<Vec<u64>, _> = s
            .trim()
            .trim_start_matches('.')
            .split('.')
            .map(str::parse::<u64>)
            .collect();
        match arcs {
            Ok(a) if a.len() >= 2 => Ok(Oid(a)),
            _ => Err(format!("`{s}` is not a dotted numeric OID")),
        }
    }
}

/// A value from a reply, owned.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// INTEGER.
    Integer(i64),
    /// OCTET STRING.
    Bytes(Vec<u8>),
    /// OBJECT IDENTIFIER.
    ObjectId(Oid),
    /// Counter32 (BER application 1).
    Counter32(u32),
    /// Gauge32 / Unsigned32 (BER application 2).
    Unsigned32(u32),
    /// TimeTicks, hundredths of a second (BER application 3).
    Timeticks(u32),
    /// Counter64 (BER application 6).
    Counter64(u64),
    /// IpAddress.
    IpAddress([u8; 4]),
    /// NULL.
    Null,
    /// noSuchObject exception.
    NoSuchObject,
    /// noSuchInstance exception.
    NoSuchInstance,
    /// endOfMibView exception.
    EndOfMibView,
    /// Anything else (opaque, nested types): kept by name for error messages.
    Other(&'static str),
}

impl Value {
    /// Converts a borrowed `snmp2` value.
    pub fn from_snmp(v: &snmp2::Value<'_>) -> Value {
        use snmp2::Value as V;
        match v {
            V::Integer(i) => Value::Integer(*i),
            V::OctetString(b) => Value::Bytes(b.to_vec()),
            V::ObjectIdentifier(o) => {
                Oid::from_snmp(o).map_or(Value::Other("object identifier"), Value::ObjectId)
            }
            V::Counter32(c) => Value::Counter32(*c),
            V::Unsigned32(c) => Value::Unsigned32(*c),
            V::Timeticks(t) => Value::Timeticks(*t),
            V::Counter64(c) => Value::Counter64(*c),
            V::IpAddress(a) => Value::IpAddress(*a),
            V::Null => Value::Null,
            V::NoSuchObject => Value::NoSuchObject,
            V::NoSuchInstance => Value::NoSuchInstance,
            V::EndOfMibView => Value::EndOfMibView,
            V::Boolean(_) => Value::Other("boolean"),
            V::Opaque(_) => Value::Other("opaque"),
            _ => Value::Other("constructed"),
        }
    }

    /// True for noSuchObject, noSuchInstance and endOfMibView.
    pub fn is_exception(&self) -> bool {
        matches!(
            self,
            Value::NoSuchObject | Value::NoSuchInstance | Value::EndOfMibView
        )
    }

    /// A raw counter and its width in bits, for Counter32 and Counter64 only.
    pub fn counter(&self) -> Option<(u64, u8)> {
        match self {
            Value::Counter32(c) => Some((u64::from(*c), 32)),
            Value::Counter64(c) => Some((*c, 64)),
            _ => None,
        }
    }

    /// A number for gauges: INTEGER, Gauge32, TimeTicks, counters.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Integer(i) => Some(*i as f64),
            Value::Counter32(c) | Value::Unsigned32(c) | Value::Timeticks(c) => Some(f64::from(*c)),
            Value::Counter64(c) => Some(*c as f64),
            // Some agents (UPS, Linux load) report numbers as strings.
            Value::Bytes(b) => std::str::from_utf8(b).ok()?.trim().parse().ok(),
            _ => None,
        }
    }

    /// Text for names and descriptions (lossy UTF-8, trailing NULs removed).
    pub fn as_text(&self) -> Option<String> {
        match self {
            Value::Bytes(b) => Some(
                String::from_utf8_lossy(b)
                    .trim_end_matches('\0')
                    .trim()
                    .to_string(),
            ),
            Value::ObjectId(o) => Some(o.to_string()),
            _ => None,
        }
    }

    /// The BER type name, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Integer(_) => "INTEGER",
            Value::Bytes(_) => "OCTET STRING",
            Value::ObjectId(_) => "OBJECT IDENTIFIER",
            Value::Counter32(_) => "Counter32",
            Value::Unsigned32(_) => "Gauge32",
            Value::Timeticks(_) => "TimeTicks",
            Value::Counter64(_) => "Counter64",
            Value::IpAddress(_) => "IpAddress",
            Value::Null => "NULL",
            Value::NoSuchObject => "noSuchObject",
            Value::NoSuchInstance => "noSuchInstance",
            Value::EndOfMibView => "endOfMibView",
            Value::Other(n) => n,
        }
    }
}

/// One (OID, value) pair of a reply.
#[derive(Clone, Debug, PartialEq)]
pub struct VarBind {
    /// The instance OID.
    pub oid: Oid,
    /// Its value.
    pub value: Value,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oid_parse_display_and_prefix() {
        let col: Oid = "1.3.6.1.2.1.31.1.1.1.6".parse().unwrap();
        let inst: Oid = ".1.3.6.1.2.1.31.1.1.1.6.10101".parse().unwrap();
        assert_eq!(inst.to_string(), "1.3.6.1.2.1.31.1.1.1.6.10101");
        assert_eq!(inst.suffix(&col), Some(&[10101u64][..]));
        assert!(!col.is_under(&col));
        assert!("1.3.x".parse::<Oid>().is_err());
        let round = Oid::from_snmp(&inst.to_snmp().unwrap()).unwrap();
        assert_eq!(round, inst);
    }

    #[test]
    fn counters_keep_width_and_exact_value() {
        assert_eq!(
            Value::from_snmp(&snmp2::Value::Counter64(u64::MAX)).counter(),
            Some((u64::MAX, 64))
        );
        assert_eq!(
            Value::from_snmp(&snmp2::Value::Counter32(u32::MAX)).counter(),
            Some((u64::from(u32::MAX), 32))
        );
        assert_eq!(Value::Unsigned32(5).counter(), None);
        assert_eq!(Value::Bytes(b" 42 ".to_vec()).as_f64(), Some(42.0));
        assert!(Value::EndOfMibView.is_exception());
    }
}
