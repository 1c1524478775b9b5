//! Read-only SSH commands on network devices.
//!
//! - [`Platform`]: what SOTP knows of a device family (prompt, paging, exec or shell, the
//!   commands it may run), read from the data files in `ssh/platforms/`.
//! - [`Platform::check`] is the only way to make an [`AllowedCommand`], and
//!   [`SshRunner::run`] takes nothing else: a command outside the platform's allowlist,
//!   or with a newline, a control character, a separator or a pipe, is refused before any
//!   connection is opened.
//! - [`SshRunner`]: the client (russh) with the host key pinned, key or password
//!   authentication, connection, command and idle timeouts, and limits on sessions in
//!   total and per device.

mod backup;
mod client;
mod command;
mod platform;
mod runner;

pub use backup::{SECRET_MASK, config_hash, mask_secrets, unified_diff};
pub use client::{HostKeyPolicy, SshAuth, SshError, SshTarget};
pub use command::{AllowedCommand, MAX_COMMAND_LEN, Refusal};
pub use platform::{Platform, platforms};
pub use runner::{
    CollectConfig, CommandOutput, HostKeyAlarm, HostKeyChange, HostKeyRules, SshConfig, SshLimits,
    SshRunner,
};
