//! Alerting: rules as SQL over the streaming stage's event-time windows ([`rule`],
//! [`eval`]), the life of an alert instance ([`lifecycle`]) and the operator that runs
//! them on the stream ([`windows::AlertWindows`]), publishing every transition on the
//! `alerts` topic. Notifications are delivered from those transitions by the notifier
//! (`sotp-notify`), through an outbox in the control database.

pub mod eval;
pub mod lifecycle;
pub mod rule;
mod window_table;
pub mod windows;

pub use eval::Evaluator;
pub use rule::{RuleConfig, RuleError, Severity, Shared, SharedTest};
pub use windows::{AlertWindows, AlertingConfig, NO_DATA, RULE_HEALTH, state_path};
