//! What a poll's samples tell about each other, carried across micro-batches.
//!
//! A counter is read with the sysUpTime and the ifCounterDiscontinuityTime of its own
//! poll (same device, same poll time), and `mem.used_ratio` needs the memory parts of
//! one poll. On Kafka every sample is its own message, so a poll can be split between
//! two micro-batches anywhere: the stage's outputs must not depend on where. The last
//! uptime per device and the last discontinuity time per interface are kept with their
//! poll time, and the memory parts per (device, instance) with whether the poll's ratio
//! was output. The context is saved with the stage's state ([`SavedContext`]), so a poll
//! cut by a restart of the stage reads the same too.

use std::sync::Arc;

use hashbrown::HashMap;
use serde::{Deserialize, Serialize};
use sotp_schemas::{DeviceId, MetricSample};

use super::series::IfRef;
use super::state::IfKey;

/// One poll's memory parts of one (device, instance).
#[derive(Debug, Serialize, Deserialize)]
struct MemPoll {
    time: i64,
    used: Option<f64>,
    total: Option<f64>,
    free: Option<f64>,
    emitted: bool,
    /// A total was ever seen for this (device, instance): its ratio waits for the total.
    reports_total: bool,
    /// The first part of the poll, the template of the ratio's sample.
    template: MetricSample,
}

/// Context carried from batch to batch.
#[derive(Debug, Default)]
pub(super) struct Context {
    /// Per device: (poll time, sysUpTime ticks).
    uptime: HashMap<DeviceId, (i64, u64)>,
    /// Per interface: (poll time, ifCounterDiscontinuityTime ticks).
    disc: HashMap<IfKey, (i64, u64)>,
    mem: HashMap<MemKey, MemPoll>,
}

type MemKey = (DeviceId, Option<Arc<str>>);

/// The context in the stage's state file.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct SavedContext {
    /// (device, poll time, sysUpTime ticks).
    uptime: Vec<(DeviceId, i64, u64)>,
    /// (interface, poll time, ifCounterDiscontinuityTime ticks).
    disc: Vec<(IfKey, i64, u64)>,
    /// The last poll's memory parts per (device, instance).
    mem: Vec<(MemKey, MemPoll)>,
}

impl Context {
    /// The context restored from a state file.
    pub(super) fn from_saved(saved: SavedContext) -> Self {
        Self {
            uptime: saved
                .uptime
                .into_iter()
                .map(|(d, t, v)| (d, (t, v)))
                .collect(),
            disc: saved
                .disc
                .into_iter()
                .map(|(i, t, v)| (i, (t, v)))
                .collect(),
            mem: saved.mem.into_iter().collect(),
        }
    }

    /// The context to save (sorted, so equal contexts give equal files).
    pub(super) fn to_saved(&self) -> SavedContext {
        let mut saved = SavedContext {
            uptime: self
                .uptime
                .iter()
                .map(|(d, (t, v))| (d.clone(), *t, *v))
                .collect(),
            disc: self
                .disc
                .iter()
                .map(|(i, (t, v))| (i.clone(), *t, *v))
                .collect(),
            mem: self
                .mem
                .iter()
                .map(|(k, m)| {
                    let m = MemPoll {
                        template: m.template.clone(),
                        ..*m
                    };
                    (k.clone(), m)
                })
                .collect(),
        };
        saved.uptime.sort_by(|a, b| a.0.cmp(&b.0));
        saved.disc.sort_by(|a, b| a.0.cmp(&b.0));
        saved.mem.sort_by(|a, b| a.0.cmp(&b.0));
        saved
    }

    /// Records a sysUpTime of device `s` at its poll time.
    pub(super) fn uptime_seen(&mut self, s: &MetricSample, ticks: u64) {
        self.uptime.insert(s.device_id.clone(), (s.time.0, ticks));
    }

    /// The sysUpTime of the poll of `s` seen in an earlier batch, if any.
    pub(super) fn uptime(&self, s: &MetricSample) -> Option<u64> {
        let (t, ticks) = self.uptime.get(&s.device_id)?;
        (*t == s.time.0).then_some(*ticks)
    }

    /// Records an ifCounterDiscontinuityTime at its poll time.
    pub(super) fn disc_seen(&mut self, s: &MetricSample, instance: &Arc<str>, ticks: u64) {
        self.disc
            .insert((s.device_id.clone(), instance.clone()), (s.time.0, ticks));
    }

    /// The discontinuity time of the poll of `s` seen in an earlier batch, if any (a
    /// borrowed look-up: this runs for every counter sample).
    pub(super) fn disc(&self, s: &MetricSample) -> Option<u64> {
        let key = IfRef(s.device_id.as_str(), s.instance.as_deref().unwrap_or(""));
        let (t, ticks) = self.disc.get(&key)?;
        (*t == s.time.0).then_some(*ticks)
    }

    /// Adds a memory part (`mem.used_bytes`, `mem.total_bytes`, `mem.free_bytes`) and
    /// returns its key (to be checked at the end of the batch with [`Self::mem_ratio`]);
    /// a part of a newer poll first finishes the previous poll of the same key, whose
    /// ratio is pushed to `done` if it was not output yet.
    pub(super) fn mem_part(
        &mut self,
        s: &MetricSample,
        done: &mut Vec<(MetricSample, f64)>,
    ) -> MemKey {
        let key = (s.device_id.clone(), s.instance.clone());
        let fresh = |reports_total| MemPoll {
            time: s.time.0,
            used: None,
            total: None,
            free: None,
            emitted: false,
            reports_total,
            template: s.clone(),
        };
        let e = self.mem.entry(key.clone()).or_insert_with(|| fresh(false));
        if e.time != s.time.0 {
            done.extend(ratio(e));
            *e = fresh(e.reports_total);
        }
        match s.metric.as_str() {
            "mem.used_bytes" => e.used = Some(s.value),
            "mem.total_bytes" => {
                e.total = Some(s.value);
                e.reports_total = true;
            }
            _ => e.free = Some(s.value),
        }
        key
    }

    /// At the end of a batch: the ratio of the current poll of `key` once it can be
    /// computed, once per poll.
    pub(super) fn mem_ratio(&mut self, key: &MemKey) -> Option<(MetricSample, f64)> {
        ratio(self.mem.get_mut(key)?)
    }
}

/// Used / total; used / (used + free) where the device reports no total (once a total
/// was seen for it, the ratio waits for the total). `None` when already output.
fn ratio(e: &mut MemPoll) -> Option<(MetricSample, f64)> {
    if e.emitted {
        return None;
    }
    let used = e.used?;
    let total = match e.total {
        Some(t) => t,
        None if !e.reports_total => used + e.free?,
        None => return None,
    };
    if total <= 0.0 {
        return None;
    }
    e.emitted = true;
    Some((e.template.clone(), used / total))
}
