//! The scheduler's plan: which device is due when, kept up to date while the device
//! set changes.
//!
//! Each polled device has a slot with its interval and a *phase* inside that interval.
//! At start (or whenever the plan was empty) the k-th of N devices (sorted by id) gets
//! phase `k * T / N` from that moment, so polls are spread evenly. Later changes never restart the slots of unchanged devices:
//! - an added device is polled once soon (the additions of one change are spread over
//!   [`RAMP`]), then joins its own phase (`k * T / N` in the new order, at least half an
//!   interval after that first poll), so a large addition does not become a burst on
//!   every interval;
//! - a removed or disabled device's slot is dropped (a poll in flight finishes);
//! - a device whose definition changed but whose interval did not keeps its turn and is
//!   polled with the new definition from its next turn;
//! - a device whose interval changed moves to its phase in the new interval.
//!
//! The heap may hold stale entries (of a removed or re-planned slot): each entry carries
//! its slot's generation and is skipped when they differ.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use sotp_schemas::{Device, DeviceId};
use tokio::time::Instant;

/// Additions of one change get their first poll within this window (or their interval,
/// when shorter).
pub(crate) const RAMP: Duration = Duration::from_secs(2);

pub(crate) struct Slot {
    pub(crate) device: Device,
    pub(crate) interval: Duration,
    phase: Duration,
    generation: u64,
    /// The next turn goes back to the slot's phase (after a first poll of an addition).
    realign: bool,
    pub(crate) busy: Arc<AtomicBool>,
}

#[derive(Default)]
pub(crate) struct Plan {
    start: Option<Instant>,
    slots: HashMap<DeviceId, Slot>,
    due: BinaryHeap<Reverse<(Instant, u64, DeviceId)>>,
    generation: u64,
}

/// Counts of what one change did, for the log.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Applied {
    pub(crate) added: usize,
    pub(crate) removed: usize,
    /// The devices removed (or no longer polled by this collector).
    pub(crate) removed_ids: Vec<DeviceId>,
    pub(crate) changed: usize,
}

impl Plan {
    /// Number of polled devices.
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// When the next entry is due.
    pub(crate) fn next_due(&self) -> Option<Instant> {
        self.due.peek().map(|Reverse((at, _, _))| *at)
    }

    fn push(&mut self, at: Instant, id: DeviceId) -> u64 {
        self.generation += 1;
        self.due.push(Reverse((at, self.generation, id)));
        self.generation
    }

    /// The first occurrence of `phase` (modulo `interval`, counted from the start) at
    /// or after `not_before`.
    fn phase_at(&self, interval: Duration, phase: Duration, not_before: Instant) -> Instant {
        let base = self.start.unwrap_or(not_before) + phase;
        if base >= not_before {
            return base;
        }
        let behind = not_before.duration_since(base).as_secs_f64() / interval.as_secs_f64();
        base + interval.mul_f64(behind.ceil())
    }

    /// Replaces the device set with `wanted` (device, interval) at `now`.
    pub(crate) fn apply(&mut self, mut wanted: Vec<(Device, Duration)>, now: Instant) -> Applied {
        wanted.sort_by(|a, b| a.0.id.cmp(&b.0.id));
        // An empty plan (at start, or after every device went) spreads the whole set
        // over the interval from now.
        let first = self.slots.is_empty();
        if first {
            self.start = Some(now);
        }
        let start = self.start.unwrap_or(now);
        let n = wanted.len().max(1);
        let mut applied = Applied::default();
        self.slots.retain(|id, _| {
            let kept = wanted.binary_search_by(|w| w.0.id.cmp(id)).is_ok();
            if !kept {
                applied.removed_ids.push(id.clone());
            }
            kept
        });
        applied.removed_ids.sort();
        applied.removed = applied.removed_ids.len();
        let additions = wanted
            .iter()
            .filter(|(d, _)| !self.slots.contains_key(&d.id))
            .count()
            .max(1);
        let mut j = 0usize;
        for (k, (device, interval)) in wanted.into_iter().enumerate() {
            let phase = interval.mul_f64(k as f64 / n as f64);
            let id = device.id.clone();
            match self.slots.get_mut(&id) {
                Some(slot) if slot.interval == interval => {
                    if slot.device != device {
                        slot.device = device;
                        applied.changed += 1;
                    }
                }
                Some(_) => {
                    let at = self.phase_at(interval, phase, now);
                    let generation = self.push(at, id.clone());
                    let slot = self.slots.get_mut(&id).expect("present");
                    (slot.device, slot.interval, slot.phase) = (device, interval, phase);
                    (slot.generation, slot.realign) = (generation, false);
                    applied.changed += 1;
                }
                None => {
                    let (at, realign) = if first {
                        (start + phase, false)
                    } else {
                        let ramp = RAMP.min(interval);
                        j += 1;
                        (now + ramp.mul_f64((j - 1) as f64 / additions as f64), true)
                    };
                    let generation = self.push(at, id.clone());
                    self.slots.insert(
                        id,
                        Slot {
                            device,
                            interval,
                            phase,
                            generation,
                            realign,
                            busy: Arc::new(AtomicBool::new(false)),
                        },
                    );
                    applied.added += 1;
                }
            }
        }
        applied
    }

    /// Waits for nothing: takes the entry due at or before `now`, plans the slot's next
    /// turn and returns the slot with the time the turn was due. Stale entries are
    /// dropped on the way.
    pub(crate) fn take_due(&mut self, now: Instant) -> Option<(&Slot, Instant)> {
        loop {
            let Reverse((at, generation, _)) = self.due.peek()?;
            if *at > now {
                return None;
            }
            let (at, generation) = (*at, *generation);
            let Reverse((_, _, id)) = self.due.pop().expect("peeked");
            let Some(slot) = self.slots.get(&id) else {
                continue;
            };
            if slot.generation != generation {
                continue;
            }
            let (interval, phase, realign) = (slot.interval, slot.phase, slot.realign);
            let next = if realign {
                self.phase_at(interval, phase, now + interval / 2)
            } else {
                let mut next = at + interval;
                if next <= now {
                    // Far behind (a suspended process, an overloaded machine): skip the
                    // missed turns instead of polling in a burst.
                    let behind = now.duration_since(next).as_secs_f64() / interval.as_secs_f64();
                    next += interval.mul_f64(behind.ceil() + 1.0);
                }
                next
            };
            let generation = self.push(next, id.clone());
            let slot = self.slots.get_mut(&id).expect("present");
            (slot.generation, slot.realign) = (generation, false);
            return Some((slot, at));
        }
    }
}
