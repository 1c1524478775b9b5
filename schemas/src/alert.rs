//! Alert state transitions, published on the `alerts` topic by the alert windows of the
//! streaming stage (`sotp-alerts`), written to the `alerts` table and delivered by the
//! notifier. One event per transition of one alert instance.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{DeviceId, UtcNanos};

/// The state an alert moved into.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    /// The condition held long enough: the alert fires.
    Firing,
    /// The condition stopped holding.
    Resolved,
}

impl AlertState {
    /// `firing` or `resolved` (Alertmanager's words).
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Firing => "firing",
            AlertState::Resolved => "resolved",
        }
    }
}

/// One alert state transition for one rule and one instance (device, interface, ...).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertEvent {
    /// When the transition happened (the end of the window that decided it).
    pub time: UtcNanos,
    /// The rule's id (its name).
    pub rule_id: String,
    /// The rule's name.
    pub rule_name: String,
    /// The device the alert is about, if any.
    #[serde(default)]
    pub device_id: Option<DeviceId>,
    /// The new state.
    pub state: AlertState,
    /// `critical`, `warning` or `info`.
    pub severity: String,
    /// The value that triggered the transition, when numeric.
    #[serde(default)]
    pub value: Option<f64>,
    /// A human-readable explanation (the rendered summary).
    pub message: String,
    /// The instance's labels: `alertname` (the rule), the rule's labels and the row's
    /// non-value columns (`device`, `instance`, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// The instance's identity: a hash of its labels, stable across restarts.
    #[serde(default)]
    pub fingerprint: String,
    /// One firing of one instance, from firing to resolved: the same for both events.
    #[serde(default)]
    pub alert_id: String,
    /// When the instance started firing.
    #[serde(default)]
    pub starts_at: Option<UtcNanos>,
    /// Rendered annotations (`summary`, `description`, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// The receivers to notify (names of `[[receivers]]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub receivers: Vec<String>,
    /// Notifications of events with the same group key to the same receiver go together.
    #[serde(default)]
    pub group_key: String,
    /// Seconds the first notification of a group waits for more of the group.
    #[serde(default)]
    pub group_wait_s: u64,
    /// Seconds between two notifications of one group to one receiver (changes that
    /// come sooner wait and go together); 0: no wait.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub group_interval_s: u64,
    /// Seconds after which a still firing, unacknowledged alert is notified again;
    /// 0: never.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub repeat_interval_s: u64,
    /// Seconds after its start at which a still firing, unacknowledged alert is
    /// notified to `escalate_to` too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalate_after_s: Option<u64>,
    /// The receivers of the escalation.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub escalate_to: Vec<String>,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}
