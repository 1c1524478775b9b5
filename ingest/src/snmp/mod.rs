//! SNMP collector (snmp2, async): v1, v2c and v3; GETBULK table walks whose request size
//! adapts to each agent (see `walk::RequestSize`), a deadline per poll, partial polls
//! kept and marked, and back-off for silent agents; IF-MIB interfaces, HOST-RESOURCES processors and storage, and vendor
//! profiles chosen by sysObjectID.
//!
//! Each poll publishes on `metrics.raw`: `sys.uptime_s`; per interface the raw counters
//! (`if.in_octets`, `if.out_octets`, `if.in_ucast_pkts`, `if.out_ucast_pkts`,
//! `if.in_errors`, `if.out_errors`, `if.in_discards`, `if.out_discards`) with the exact
//! u64 in `counter` and `labels.counter_width` = `32` or `64` from the reply's BER type,
//! plus `if.speed_bps`, `if.admin_status`, `if.oper_status` and, where the agent has it,
//! `if.counter_discontinuity_ticks`; `mem.used_bytes`/`mem.total_bytes` from hrStorage
//! RAM; and the profile's metrics (`cpu.load_pct`, `mem.*`, `env.temperature_c`).
//! `instance` is the interface's ifName (else ifDescr), `labels.alias` its ifAlias.
//!
//! Names, speeds and aliases are walked every `metadata_interval` and cached; counters
//! every `interval`.

mod config;
mod interfaces;
mod poller;
mod profiles;
mod session;
mod value;
mod walk;

pub use config::SnmpConfig;
pub use interfaces::{COUNTERS, IfMeta, Interfaces, metadata_columns, oids};
pub use poller::SnmpPoller;
pub use profiles::{Profile, ProfileError, ProfileMetric, Profiles};
pub use session::{Reply, Request, Session, SnmpError, Timing};
pub use value::{Oid, Value, VarBind};
pub use walk::{RequestSize, TableWalk, get, walk};

/// Metric names of this collector.
pub mod names {
    /// sysUpTime in seconds (hundredths kept: ticks / 100).
    pub const SYS_UPTIME_S: &str = "sys.uptime_s";
    /// Interface speed, bits per second (ifHighSpeed x 10^6 when present, else ifSpeed).
    pub const IF_SPEED_BPS: &str = "if.speed_bps";
    /// ifAdminStatus (1 up, 2 down, 3 testing).
    pub const IF_ADMIN_STATUS: &str = "if.admin_status";
    /// ifOperStatus (1 up, 2 down, ...).
    pub const IF_OPER_STATUS: &str = "if.oper_status";
    /// ifCounterDiscontinuityTime, TimeTicks.
    pub const IF_DISCONTINUITY: &str = "if.counter_discontinuity_ticks";
    /// Octets received (ifHCInOctets, else ifInOctets).
    pub const IF_IN_OCTETS: &str = "if.in_octets";
    /// Octets sent.
    pub const IF_OUT_OCTETS: &str = "if.out_octets";
    /// Used memory, bytes (hrStorage RAM, or a profile).
    pub const MEM_USED_BYTES: &str = "mem.used_bytes";
    /// Total memory, bytes.
    pub const MEM_TOTAL_BYTES: &str = "mem.total_bytes";
    /// Processor load, percent.
    pub const CPU_LOAD_PCT: &str = "cpu.load_pct";
}
