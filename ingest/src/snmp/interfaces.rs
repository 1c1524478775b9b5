//! IF-MIB: interface metadata (names, alias, speeds) and the counter samples of a poll.
//!
//! Metadata comes from a slow walk and is cached; counters from the fast one. Turning
//! walked rows into samples is pure and tested here.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use sotp_schemas::{Device, MetricName, MetricSample, UtcNanos};

use super::names;
use super::value::{Oid, Value, VarBind};

/// OIDs of the IF-MIB columns used.
pub mod oids {
    /// ifDescr.
    pub const IF_DESCR: &str = "1.3.6.1.2.1.2.2.1.2";
    /// ifType.
    pub const IF_TYPE: &str = "1.3.6.1.2.1.2.2.1.3";
    /// ifSpeed.
    pub const IF_SPEED: &str = "1.3.6.1.2.1.2.2.1.5";
    /// ifName.
    pub const IF_NAME: &str = "1.3.6.1.2.1.31.1.1.1.1";
    /// ifHighSpeed.
    pub const IF_HIGH_SPEED: &str = "1.3.6.1.2.1.31.1.1.1.15";
    /// ifAlias.
    pub const IF_ALIAS: &str = "1.3.6.1.2.1.31.1.1.1.18";
    /// ifHCInOctets (also tells whether 64-bit counters exist).
    pub const IF_HC_IN_OCTETS: &str = "1.3.6.1.2.1.31.1.1.1.6";
    /// ifAdminStatus.
    pub const IF_ADMIN: &str = "1.3.6.1.2.1.2.2.1.7";
    /// ifOperStatus.
    pub const IF_OPER: &str = "1.3.6.1.2.1.2.2.1.8";
    /// ifCounterDiscontinuityTime.
    pub const IF_DISCONTINUITY: &str = "1.3.6.1.2.1.31.1.1.1.19";
}

/// (metric, 64-bit column, 32-bit column). Errors and discards exist only as Counter32.
pub const COUNTERS: &[(&str, Option<&str>, &str)] = &[
    (
        "if.in_octets",
        Some("1.3.6.1.2.1.31.1.1.1.6"),
        "1.3.6.1.2.1.2.2.1.10",
    ),
    (
        "if.out_octets",
        Some("1.3.6.1.2.1.31.1.1.1.10"),
        "1.3.6.1.2.1.2.2.1.16",
    ),
    (
        "if.in_ucast_pkts",
        Some("1.3.6.1.2.1.31.1.1.1.7"),
        "1.3.6.1.2.1.2.2.1.11",
    ),
    (
        "if.out_ucast_pkts",
        Some("1.3.6.1.2.1.31.1.1.1.11"),
        "1.3.6.1.2.1.2.2.1.17",
    ),
    ("if.in_discards", None, "1.3.6.1.2.1.2.2.1.13"),
    ("if.in_errors", None, "1.3.6.1.2.1.2.2.1.14"),
    ("if.out_discards", None, "1.3.6.1.2.1.2.2.1.19"),
    ("if.out_errors", None, "1.3.6.1.2.1.2.2.1.20"),
];

pub(crate) fn oid(s: &str) -> Oid {
    s.parse().expect("constant OIDs are valid")
}

/// One interface's metadata.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct IfMeta {
    /// `instance` of its samples: ifName, else ifDescr, else the index (made unique).
    pub instance: Arc<str>,
    /// ifAlias, when set.
    pub alias: Option<String>,
    /// ifType.
    pub if_type: Option<i64>,
    /// Speed in bits per second, when known and non-zero.
    pub speed_bps: Option<u64>,
    /// The agent has ifHCInOctets for this interface.
    pub hc: bool,
}

/// The interfaces of one device, by ifIndex.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Interfaces {
    /// Metadata by ifIndex.
    pub by_index: BTreeMap<u64, IfMeta>,
}

fn by_index(rows: &[VarBind], column: &Oid) -> BTreeMap<u64, Value> {
    rows.iter()
        .filter_map(|vb| match vb.oid.suffix(column) {
            Some([i]) => Some((*i, vb.value.clone())),
            _ => None,
        })
        .collect()
}

/// The columns of the metadata walk, in the order [`Interfaces::from_walk`] expects.
pub fn metadata_columns() -> Vec<Oid> {
    [
        oids::IF_DESCR,
        oids::IF_TYPE,
        oids::IF_SPEED,
        oids::IF_NAME,
        oids::IF_HIGH_SPEED,
        oids::IF_ALIAS,
        oids::IF_HC_IN_OCTETS,
    ]
    .iter()
    .map(|s| oid(s))
    .collect()
}

impl Interfaces {
    /// Builds the metadata from the rows of [`metadata_columns`].
    pub fn from_walk(rows: &[Vec<VarBind>]) -> Interfaces {
        let cols = metadata_columns();
        let col = |k: usize| by_index(&rows[k], &cols[k]);
        let (descr, typ, speed, name, high, alias, hc) =
            (col(0), col(1), col(2), col(3), col(4), col(5), col(6));
        let mut indices: Vec<u64> = descr.keys().chain(name.keys()).copied().collect();
        indices.sort_unstable();
        indices.dedup();
        let mut seen = HashSet::new();
        let mut out = BTreeMap::new();
        for i in indices {
            let text = |m: &BTreeMap<u64, Value>| {
                m.get(&i).and_then(Value::as_text).filter(|s| !s.is_empty())
            };
            let mut instance = text(&name)
                .or_else(|| text(&descr))
                .unwrap_or_else(|| i.to_string());
            if !seen.insert(instance.clone()) {
                // Two interfaces with one name: keep both series apart.
                instance = format!("{instance}#{i}");
                seen.insert(instance.clone());
            }
            let high_bps = high
                .get(&i)
                .and_then(Value::as_f64)
                .filter(|v| *v > 0.0)
                .map(|v| v as u64 * 1_000_000);
            let low_bps = speed
                .get(&i)
                .and_then(Value::as_f64)
                .filter(|v| *v > 0.0)
                .map(|v| v as u64);
            // ifSpeed saturates at 2^32-1 for fast interfaces: prefer ifHighSpeed.
            let speed_bps = high_bps.or(low_bps);
            out.insert(
                i,
                IfMeta {
                    instance: Arc::from(instance.as_str()),
                    alias: text(&alias),
                    if_type: typ.get(&i).and_then(|v| match v {
                        Value::Integer(t) => Some(*t),
                        _ => None,
                    }),
                    speed_bps,
                    hc: hc.get(&i).is_some_and(|v| matches!(v, Value::Counter64(_))),
                },
            );
        }
        Interfaces { by_index: out }
    }

    /// The counter-poll columns: status, discontinuity time, then each counter's 64-bit
    /// column (when any interface has one) and its 32-bit column (when any lacks one).
    pub fn counter_columns(&self, v1: bool) -> Vec<(Option<&'static str>, Oid)> {
        let any_hc = !v1 && self.by_index.values().any(|m| m.hc);
        let any_32 = v1 || self.by_index.values().any(|m| !m.hc);
        let mut cols = vec![(None, oid(oids::IF_ADMIN)), (None, oid(oids::IF_OPER))];
        if !v1 {
            cols.push((None, oid(oids::IF_DISCONTINUITY)));
        }
        for (metric, hc, c32) in COUNTERS {
            if let Some(hc) = hc
                && any_hc
            {
                cols.push((Some(*metric), oid(hc)));
            }
            if hc.is_none() || any_32 {
                cols.push((Some(*metric), oid(c32)));
            }
        }
        cols
    }

    /// Samples of one counter poll. `columns` are those of [`Interfaces::counter_columns`]
    /// with their walked rows. Values of the wrong type are skipped and reported in the
    /// returned list of problems.
    pub fn samples(
        &self,
        device: &Device,
        time: UtcNanos,
        collector: &Arc<str>,
        columns: &[(Option<&'static str>, Oid)],
        rows: &[Vec<VarBind>],
    ) -> (Vec<MetricSample>, Vec<String>) {
        let mut out = Vec::new();
        let mut problems = Vec::new();
        let base = |meta: &IfMeta, idx: u64, metric: &str, value: f64| {
            let mut s = MetricSample::gauge(
                time,
                &device.id,
                &device.name,
                collector,
                &MetricName::new(metric),
                value,
            );
            s.instance = Some(meta.instance.clone());
            s.labels.insert("if_index".into(), idx.to_string());
            if let Some(a) = &meta.alias {
                s.labels.insert("alias".into(), a.clone());
            }
            s
        };
        for (idx, meta) in &self.by_index {
            if let Some(speed) = meta.speed_bps {
                out.push(base(meta, *idx, names::IF_SPEED_BPS, speed as f64));
            }
        }
        // metric -> index -> chosen (value, width); 64-bit wins over 32-bit.
        let mut counters: BTreeMap<(&str, u64), (u64, u8)> = BTreeMap::new();
        for ((metric, column), rows) in columns.iter().zip(rows) {
            for (idx, value) in by_index(rows, column) {
                let Some(meta) = self.by_index.get(&idx) else {
                    continue;
                };
                match metric {
                    None => {
                        let name = if *column == oid(oids::IF_ADMIN) {
                            names::IF_ADMIN_STATUS
                        } else if *column == oid(oids::IF_OPER) {
                            names::IF_OPER_STATUS
                        } else {
                            names::IF_DISCONTINUITY
                        };
                        match (&value, name) {
                            (Value::Integer(v), n) if n != names::IF_DISCONTINUITY => {
                                out.push(base(meta, idx, n, *v as f64))
                            }
                            (Value::Timeticks(t), names::IF_DISCONTINUITY) => {
                                out.push(base(meta, idx, name, f64::from(*t)))
                            }
                            (v, _) => problems.push(format!(
                                "{column}.{idx}: expected {} for {name}, got {}",
                                if name == names::IF_DISCONTINUITY {
                                    "TimeTicks"
                                } else {
                                    "INTEGER"
                                },
                                v.type_name()
                            )),
                        }
                    }
                    Some(m) => match value.counter() {
                        Some((v, width)) => {
                            let e = counters.entry((m, idx)).or_insert((v, width));
                            if width > e.1 {
                                *e = (v, width);
                            }
                        }
                        None => problems.push(format!(
                            "{column}.{idx}: expected a counter for {m}, got {}",
                            value.type_name()
                        )),
                    },
                }
            }
        }
        for ((metric, idx), (v, width)) in counters {
            let meta = &self.by_index[&idx];
            let mut s = base(meta, idx, metric, v as f64);
            s.counter = Some(v);
            s.labels.insert("counter_width".into(), width.to_string());
            out.push(s);
        }
        (out, problems)
    }
}

#[cfg(test)]
mod tests;
