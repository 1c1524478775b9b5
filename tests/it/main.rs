//! Integration tests: the real `sotp` binary against real peers on 127.0.0.1.
//!
//! One test binary with modules (each file under tests/ would link its own 300 MB binary).
//! Peers (nftables, DuckDB/pyarrow) are installed by `scripts/test.sh`; a test that needs
//! one and cannot find it fails and names the command that installs it.

mod alerting;
mod alerting_prometheus;
mod architecture;
mod attacks;
mod backup;
mod bad_input;
mod common;
mod control_plane;
mod dashboards;
mod export;
mod health;
mod icmp_e2e;
mod icmp_permissions;
mod kafka;
mod lab;
mod live_inventory;
mod pgwire;
mod pgwire_extended;
mod reports;
mod s3_storage;
mod snmp_bad_agents;
mod snmp_e2e;
mod snmp_legacy;
mod snmp_lossy_link;
mod snmp_peers;
mod snmp_slow_agent;
mod snmp_v3;
mod ssh;
mod stream_golden_sql;
mod syslog_api;
mod syslog_e2e;
mod syslog_limits;
mod syslog_tls;
