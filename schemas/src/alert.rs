//! Alert state transitions. Alert rules come in a later issue; the event shape is fixed
//! here so the `alerts` topic is documented from the start.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{DeviceId, UtcNanos};

/// The state an alert moved into.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    /// The condition held long enough: the alert fires.
    Firing,
    /// The condition stopped holding.
    Resolved,
}

/// One alert state transition for one rule and device.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertEvent {
    /// When the transition happened.
    pub time: UtcNanos,
    /// The rule's id.
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
    /// A human-readable explanation.
    pub message: String,
    /// Extra labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}
