//! Relational control-plane state (devices, users, audit log, alert rules).
//!
//! A placeholder until the control-plane issue; devices come from the configuration file.
