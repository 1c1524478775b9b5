//! Health of a running `sotp run`, for container health checks and supervisors: the
//! process writes a heartbeat file (`<data_dir>/health.json`) every few seconds while
//! it runs, and `sotp health` reads it. The file says when it was written, which roles
//! run and whether the bus can deliver; it is removed on a clean stop. A process that
//! hangs stops writing it, one that dies leaves it to age.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sotp_bus::Bus;

use crate::cli::HealthArgs;

/// How often the heartbeat is written.
pub const INTERVAL: Duration = Duration::from_secs(5);

/// The heartbeat file of a data directory.
pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join("health.json")
}

/// What the heartbeat file holds.
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct Heartbeat {
    /// Seconds since the Unix epoch when it was written.
    pub written_at: u64,
    /// The process.
    pub pid: u32,
    /// The roles it runs (`all`, `collector`, `sink,api`, ...).
    pub roles: String,
    /// Whether the bus could deliver (always on the in-process bus; brokers reachable
    /// on Kafka).
    pub bus_connected: bool,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Writes the file atomically (a reader never sees half of it).
fn write(path: &Path, beat: &Heartbeat) -> std::io::Result<()> {
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec(beat)?)?;
    std::fs::rename(&tmp, path)
}

/// Writes the heartbeat every [`INTERVAL`] until the returned guard is dropped, which
/// removes the file.
pub fn start(data_dir: &Path, roles: String, bus: Arc<dyn Bus>) -> Beating {
    let file = path(data_dir);
    let task_file = file.clone();
    let task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(INTERVAL);
        let mut failing = false;
        loop {
            tick.tick().await;
            let beat = Heartbeat {
                written_at: now(),
                pid: std::process::id(),
                roles: roles.clone(),
                bus_connected: bus.is_connected(),
            };
            match write(&task_file, &beat) {
                Ok(()) => failing = false,
                Err(e) if !failing => {
                    failing = true;
                    tracing::warn!(file = %task_file.display(), error = %e, "cannot write the heartbeat: `sotp health` will report this process unhealthy");
                }
                Err(_) => {}
            }
        }
    });
    Beating { task, file }
}

/// A running heartbeat; dropping it stops it and removes the file.
#[derive(Debug)]
pub struct Beating {
    task: tokio::task::JoinHandle<()>,
    file: PathBuf,
}

impl Drop for Beating {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.file);
    }
}

/// Why a heartbeat shows an unhealthy process, or none.
pub fn judge(beat: &Heartbeat, now: u64, max_age: Duration) -> Option<String> {
    let age = now.saturating_sub(beat.written_at);
    if age > max_age.as_secs() {
        return Some(format!(
            "the heartbeat of pid {} is {age} s old (more than {} s): the process hangs or has died",
            beat.pid,
            max_age.as_secs()
        ));
    }
    if !beat.bus_connected {
        return Some(format!(
            "pid {} ({}) cannot reach the Kafka brokers",
            beat.pid, beat.roles
        ));
    }
    None
}

/// `sotp health`: exit 0 when the process of the data directory is healthy, 1 (with the
/// reason) when not.
pub fn main(args: HealthArgs) -> ExitCode {
    let config = match crate::run::load_config(args.config.as_deref(), args.data_dir) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let file = path(&config.data_dir);
    let beat = std::fs::read(&file)
        .map_err(|e| {
            format!(
                "no heartbeat at {} ({e}): is `sotp run` running with this data directory?",
                file.display()
            )
        })
        .and_then(|b| {
            serde_json::from_slice::<Heartbeat>(&b)
                .map_err(|e| format!("unreadable heartbeat {}: {e}", file.display()))
        });
    let verdict = beat.and_then(|b| match judge(&b, now(), args.max_age) {
        Some(why) => Err(why),
        None => Ok(b),
    });
    match verdict {
        Ok(b) => {
            println!(
                "healthy: pid {} ({}), heartbeat {} s ago",
                b.pid,
                b.roles,
                now().saturating_sub(b.written_at)
            );
            ExitCode::SUCCESS
        }
        Err(why) => {
            println!("unhealthy: {why}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn beat(written_at: u64, bus_connected: bool) -> Heartbeat {
        Heartbeat {
            written_at,
            pid: 7,
            roles: "collector".into(),
            bus_connected,
        }
    }

    #[test]
    fn a_fresh_connected_heartbeat_is_healthy_an_old_or_disconnected_one_says_why() {
        let max = Duration::from_secs(30);
        assert_eq!(judge(&beat(1000, true), 1030, max), None);
        let old = judge(&beat(1000, true), 1031, max).unwrap();
        assert!(old.contains("31 s old"), "{old}");
        let cut = judge(&beat(1000, false), 1001, max).unwrap();
        assert!(cut.contains("Kafka brokers"), "{cut}");
    }

    #[tokio::test]
    async fn the_heartbeat_file_is_written_at_once_and_removed_on_stop() {
        let dir = tempfile::tempdir().unwrap();
        let bus: Arc<dyn Bus> = Arc::new(sotp_bus::MemoryBus::new(Default::default()));
        let beating = start(dir.path(), "all".into(), bus);
        let file = path(dir.path());
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let read = loop {
            if let Ok(b) = std::fs::read(&file) {
                break serde_json::from_slice::<Heartbeat>(&b).unwrap();
            }
            assert!(std::time::Instant::now() < deadline, "no heartbeat written");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert_eq!(
            (read.pid, read.roles.as_str(), read.bus_connected),
            (std::process::id(), "all", true)
        );
        assert_eq!(judge(&read, now(), Duration::from_secs(30)), None);
        drop(beating);
        assert!(!file.exists(), "a clean stop removes the heartbeat");
    }
}
