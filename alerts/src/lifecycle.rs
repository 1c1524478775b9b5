//! The life of one alert instance, decided window by window: PENDING while its condition
//! holds for less than `for`, FIRING after, RESOLVED when the condition stops holding
//! (after `keep_firing_for`); and flap detection, which turns an instance that changes
//! state too often into one "flapping" notification until it settles.
//!
//! The timing follows Prometheus's alerting rules, so the same series give the same
//! firing and resolved times as `promtool test rules` (see `tests/it/alerting.rs`): an
//! instance becomes active at the first window end where its condition holds, fires at
//! the first window end at least `for` later where it still holds, and resolves at the
//! first window end where it no longer holds.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sotp_schemas::AlertState;

/// Flap detection settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlapConfig {
    /// State changes within `window_ns` that make an instance flapping.
    pub changes: usize,
    /// The window, in nanoseconds; also how long a flapping instance must stay stable
    /// to settle.
    pub window_ns: i64,
}

/// What one evaluation decided for one instance, to publish.
#[derive(Clone, Debug, PartialEq)]
pub struct Transition {
    /// Firing or resolved.
    pub state: AlertState,
    /// When (the window end).
    pub time: i64,
    /// The firing's id (the same on its resolved event).
    pub alert_id: String,
    /// When the firing started.
    pub starts_at: i64,
    /// The instance is flapping (published once, then quiet until it settles).
    pub flapping: bool,
}

/// One alert instance of one rule.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Instance {
    /// Its labels (without the rule's).
    pub labels: BTreeMap<String, String>,
    /// The last observed value.
    pub value: Option<f64>,
    /// The window end where its condition started holding, while it holds.
    pub active_at: Option<i64>,
    /// The last window end where its condition held.
    pub last_true: Option<i64>,
    /// Whether the lifecycle is firing (what the rule decided).
    pub firing: bool,
    /// The firing consumers were told about: (alert id, start); none when resolved.
    pub published: Option<(String, i64)>,
    /// Times of the lifecycle's recent state changes (flap detection).
    pub changes: Vec<i64>,
    /// Flapping: changes are not published until it settles.
    pub flapping: bool,
}

impl Instance {
    /// True when nothing is left to remember (not active, not published, no recent
    /// changes): the instance can be forgotten.
    pub fn is_idle(&self) -> bool {
        self.active_at.is_none()
            && !self.firing
            && self.published.is_none()
            && self.changes.is_empty()
    }

    /// One evaluation at window end `end`: `holds` says whether the condition held.
    /// Returns what to publish, if anything.
    pub fn step(
        &mut self,
        fingerprint: &str,
        end: i64,
        holds: bool,
        for_ns: i64,
        keep_firing_ns: i64,
        flap: FlapConfig,
    ) -> Option<Transition> {
        let was_firing = self.firing;
        if holds {
            self.last_true = Some(end);
            let since = *self.active_at.get_or_insert(end);
            if !self.firing && end - since >= for_ns {
                self.firing = true;
            }
        } else {
            self.active_at = None;
            let kept = self
                .last_true
                .is_some_and(|t| self.firing && end - t < keep_firing_ns);
            if self.firing && !kept {
                self.firing = false;
            }
        }
        self.changes.retain(|t| end - *t < flap.window_ns);
        if self.firing != was_firing {
            self.changes.push(end);
        }
        if self.flapping {
            if !self.changes.is_empty() {
                return None;
            }
            // Settled: tell the state it settled in, if it differs from what was told.
            self.flapping = false;
            return match (self.firing, self.published.take()) {
                (false, Some((id, start))) => Some(Transition {
                    state: AlertState::Resolved,
                    time: end,
                    alert_id: id,
                    starts_at: start,
                    flapping: false,
                }),
                (true, published) => {
                    self.published = published;
                    None
                }
                (false, None) => None,
            };
        }
        if self.firing != was_firing && flap.changes > 0 && self.changes.len() >= flap.changes {
            self.flapping = true;
            let (id, start) = self
                .published
                .get_or_insert_with(|| (alert_id(fingerprint, end), end))
                .clone();
            return Some(Transition {
                state: AlertState::Firing,
                time: end,
                alert_id: id,
                starts_at: start,
                flapping: true,
            });
        }
        match (self.firing, was_firing) {
            (true, false) => {
                let id = alert_id(fingerprint, end);
                self.published = Some((id.clone(), end));
                Some(Transition {
                    state: AlertState::Firing,
                    time: end,
                    alert_id: id,
                    starts_at: end,
                    flapping: false,
                })
            }
            (false, true) => self.published.take().map(|(id, start)| Transition {
                state: AlertState::Resolved,
                time: end,
                alert_id: id,
                starts_at: start,
                flapping: false,
            }),
            _ => None,
        }
    }
}

/// The id of the firing of instance `fingerprint` that started at `start`.
pub fn alert_id(fingerprint: &str, start: i64) -> String {
    format!("{fingerprint}-{:x}", start / 1_000_000)
}

/// A stable identity of a rule's instance: FNV-1a over the rule name and the sorted
/// labels (stable across processes and versions, unlike `std`'s hasher).
pub fn fingerprint(rule: &str, labels: &BTreeMap<String, String>) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x0100_0000_01b3);
    };
    eat(rule.as_bytes());
    for (k, v) in labels {
        eat(k.as_bytes());
        eat(v.as_bytes());
    }
    format!("{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;
    const NO_FLAP: FlapConfig = FlapConfig {
        changes: 0,
        window_ns: 600 * S,
    };

    /// Steps an instance through `holds` at 30 s window ends; returns (time s, state).
    fn run(
        holds: &[bool],
        for_s: i64,
        keep_s: i64,
        flap: FlapConfig,
    ) -> Vec<(i64, AlertState, bool)> {
        let mut i = Instance::default();
        holds
            .iter()
            .enumerate()
            .filter_map(|(n, h)| {
                let end = (n as i64 + 1) * 30 * S;
                i.step("fp", end, *h, for_s * S, keep_s * S, flap)
                    .map(|t| (t.time / S, t.state, t.flapping))
            })
            .collect()
    }

    #[test]
    fn fires_after_for_and_resolves_at_the_first_false_window() {
        use AlertState::*;
        // Holds from 30 s; `for` 60 s: fires at 90 s (90 - 30 >= 60), resolves at 150 s.
        assert_eq!(
            run(&[true, true, true, true, false, false], 60, 0, NO_FLAP),
            vec![(90, Firing, false), (150, Resolved, false)]
        );
        // Interrupted before `for`: never fires.
        assert_eq!(
            run(&[true, true, false, true, true, false], 60, 0, NO_FLAP),
            vec![]
        );
        // `for` 0: fires at once.
        assert_eq!(
            run(&[true, false], 0, 0, NO_FLAP),
            vec![(30, Firing, false), (60, Resolved, false)]
        );
    }

    #[test]
    fn keep_firing_for_holds_a_firing_alert_through_short_gaps() {
        use AlertState::*;
        assert_eq!(
            run(&[true, false, true, false, false, false], 0, 60, NO_FLAP),
            vec![(30, Firing, false), (150, Resolved, false)]
        );
    }

    #[test]
    fn a_flapping_instance_is_published_once_then_settles() {
        use AlertState::*;
        let flap = FlapConfig {
            changes: 4,
            window_ns: 120 * S,
        };
        let mut holds = vec![true, false, true, false, true, false];
        holds.extend([false; 6]);
        let got = run(&holds, 0, 0, flap);
        // Changes at 30, 60, 90 and 120 s: the fourth marks it flapping (one event);
        // then quiet; resolved once no change happened for 120 s (last change at 180 s).
        assert_eq!(
            got,
            vec![
                (30, Firing, false),
                (60, Resolved, false),
                (90, Firing, false),
                (120, Firing, true),
                (300, Resolved, false)
            ]
        );
    }

    #[test]
    fn fingerprints_depend_on_rule_and_every_label() {
        let a = BTreeMap::from([("device".to_string(), "r1".to_string())]);
        let b = BTreeMap::from([("device".to_string(), "r2".to_string())]);
        assert_ne!(fingerprint("x", &a), fingerprint("x", &b));
        assert_ne!(fingerprint("x", &a), fingerprint("y", &a));
        assert_eq!(fingerprint("x", &a), fingerprint("x", &a.clone()));
        assert_eq!(fingerprint("x", &a).len(), 16);
    }
}
