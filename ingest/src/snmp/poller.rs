//! The SNMP poller: one session and one metadata cache per device.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use sotp_schemas::{Device, DeviceId, MetricName, MetricSample, SnmpTarget, UtcNanos};
use tokio::time::Instant;

use super::interfaces::{Interfaces, metadata_columns, oid};
use super::profiles::{Profile, ProfileError, Profiles};
use super::session::{Session, SnmpError, Timing};
use super::value::{Oid, Value};
use super::walk::{RequestSize, TableWalk, get, walk};
use super::{SnmpConfig, names};
use crate::{PollResult, Poller};

const SYS_UPTIME: &str = "1.3.6.1.2.1.1.3.0";
const SYS_OBJECT_ID: &str = "1.3.6.1.2.1.1.2.0";
/// hrStorageType, hrStorageDescr, hrStorageAllocationUnits, hrStorageSize, hrStorageUsed.
const HR_STORAGE: [&str; 5] = [
    "1.3.6.1.2.1.25.2.3.1.2",
    "1.3.6.1.2.1.25.2.3.1.3",
    "1.3.6.1.2.1.25.2.3.1.4",
    "1.3.6.1.2.1.25.2.3.1.5",
    "1.3.6.1.2.1.25.2.3.1.6",
];
const HR_STORAGE_RAM: &str = "1.3.6.1.2.1.25.2.1.2";
/// Most polls skipped in a row for an agent that answers nothing (a power of two).
const MAX_SKIPPED_TURNS: u32 = 8;

struct Metadata {
    fetched: Instant,
    interfaces: Interfaces,
    profile: Arc<Profile>,
}

struct DeviceState {
    session: Option<Session>,
    /// What the session was opened for: a device whose address or SNMP settings changed
    /// in the inventory gets a new session (and fresh metadata).
    opened_for: Option<(SnmpTarget, SocketAddr)>,
    size: RequestSize,
    meta: Option<Metadata>,
    last_error: Option<String>,
    /// Polls in a row in which the agent answered nothing.
    silent_polls: u32,
    /// While the agent is silent, polls before this instant are skipped.
    next_try: Option<Instant>,
}

/// What one poll read before it ended.
#[derive(Default)]
struct Progress {
    samples: Vec<MetricSample>,
    /// Values of unexpected type, skipped.
    problems: Vec<String>,
    /// The agent answered at least one request.
    answered: bool,
}

/// Polls devices over SNMP.
pub struct SnmpPoller {
    config: SnmpConfig,
    profiles: Profiles,
    collector: Arc<str>,
    devices: Mutex<HashMap<DeviceId, Arc<tokio::sync::Mutex<DeviceState>>>>,
}

impl std::fmt::Debug for SnmpPoller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnmpPoller")
            .field("config", &self.config)
            .field("profiles", &self.profiles.names())
            .finish_non_exhaustive()
    }
}

impl SnmpPoller {
    /// A poller with the built-in profiles and those of `config.profiles_dir`.
    pub fn new(config: SnmpConfig) -> Result<Self, ProfileError> {
        let dir = (!config.profiles_dir.as_os_str().is_empty()).then_some(&*config.profiles_dir);
        let profiles = Profiles::load(dir)?;
        tracing::info!(profiles = ?profiles.names(), "SNMP profiles loaded");
        Ok(Self {
            config,
            profiles,
            collector: Arc::from("snmp"),
            devices: Mutex::new(HashMap::new()),
        })
    }

    fn state(&self, id: &DeviceId) -> Arc<tokio::sync::Mutex<DeviceState>> {
        let mut map = self.devices.lock().expect("not poisoned");
        map.entry(id.clone())
            .or_insert_with(|| {
                Arc::new(tokio::sync::Mutex::new(DeviceState {
                    session: None,
                    opened_for: None,
                    size: RequestSize::new(self.config.max_repetitions, self.config.max_varbinds),
                    meta: None,
                    last_error: None,
                    silent_polls: 0,
                    next_try: None,
                }))
            })
            .clone()
    }

    /// One poll, ending by `deadline`; what it read before an error is kept in `got`.
    async fn poll_inner(
        &self,
        device: &Device,
        time: UtcNanos,
        st: &mut DeviceState,
        got: &mut Progress,
        deadline: Instant,
    ) -> Result<(), SnmpError> {
        let target = device.snmp.clone().expect("interval_for checked it");
        let timeout = self.config.timeout;
        let deadline = Some(deadline);
        let max_rows = self.config.max_rows;
        let out = &mut got.samples;
        let problems = &mut got.problems;
        let addr = SocketAddr::new(device.address, target.port);
        if st.opened_for.as_ref() != Some(&(target.clone(), addr)) {
            st.session = None;
            st.meta = None;
            st.opened_for = Some((target.clone(), addr));
        }
        if st.session.is_none() {
            st.session = Some(Session::new(
                target.clone(),
                addr,
                Timing {
                    timeout,
                    retries: self.config.retries,
                },
            ));
        }
        let session = st.session.as_mut().expect("set above");
        let gauge = |metric: &str, value: f64| {
            MetricSample::gauge(
                time,
                &device.id,
                &device.name,
                &self.collector,
                &MetricName::new(metric),
                value,
            )
        };
        let refresh = st
            .meta
            .as_ref()
            .is_none_or(|m| m.fetched.elapsed() >= self.config.metadata_interval);
        let (scalars, took) =
            get(session, &[oid(SYS_UPTIME), oid(SYS_OBJECT_ID)], deadline).await?;
        got.answered = true;
        st.size.latency(took);
        match &scalars[0] {
            Some(Value::Timeticks(t)) => {
                let mut s = gauge(names::SYS_UPTIME_S, f64::from(*t) / 100.0);
                s.labels.insert("ticks".into(), t.to_string());
                out.push(s);
            }
            Some(v) => problems.push(format!(
                "sysUpTime.0: expected TimeTicks, got {}",
                v.type_name()
            )),
            None => problems.push("sysUpTime.0: not answered".into()),
        }
        if refresh {
            let sys_object_id = match &scalars[1] {
                Some(Value::ObjectId(o)) => Some(o.clone()),
                _ => None,
            };
            let mut w = TableWalk::new(&metadata_columns(), max_rows);
            walk(session, &mut w, &mut st.size, deadline).await?;
            let rows = w.rows;
            let profile = self.profiles.select(sys_object_id.as_ref());
            tracing::debug!(device = %device.name, profile = %profile.name, interfaces = rows[0].len(), "SNMP metadata refreshed");
            st.meta = Some(Metadata {
                fetched: Instant::now(),
                interfaces: Interfaces::from_walk(&rows),
                profile,
            });
        }
        let meta = st.meta.as_ref().expect("fetched above");
        let session = st.session.as_mut().expect("set above");
        let columns = meta.interfaces.counter_columns(session.is_v1());
        let oids: Vec<Oid> = columns.iter().map(|(_, o)| o.clone()).collect();
        if !meta.interfaces.by_index.is_empty() {
            // The rows read before a failure are published (the poll is then partial).
            let mut w = TableWalk::new(&oids, max_rows);
            let walked = walk(session, &mut w, &mut st.size, deadline).await;
            let (samples, bad) =
                meta.interfaces
                    .samples(device, time, &self.collector, &columns, &w.rows);
            out.extend(samples);
            problems.extend(bad);
            walked?;
        }
        // HOST-RESOURCES storage: RAM used and total.
        let hr: Vec<Oid> = HR_STORAGE.iter().map(|s| oid(s)).collect();
        let mut w = TableWalk::new(&hr, max_rows);
        walk(session, &mut w, &mut st.size, deadline).await?;
        let rows = w.rows;
        let ram = oid(HR_STORAGE_RAM);
        let col = |k: usize, idx: u64| {
            rows[k]
                .iter()
                .find(|vb| vb.oid.suffix(&hr[k]) == Some(&[idx][..]))
                .map(|vb| &vb.value)
        };
        for vb in &rows[0] {
            let (Some([idx]), Value::ObjectId(t)) = (vb.oid.suffix(&hr[0]), &vb.value) else {
                continue;
            };
            if *t != ram {
                continue;
            }
            let units = col(2, *idx).and_then(Value::as_f64).unwrap_or(1.0);
            let descr = col(1, *idx).and_then(Value::as_text);
            for (k, metric) in [(3, names::MEM_TOTAL_BYTES), (4, names::MEM_USED_BYTES)] {
                if let Some(v) = col(k, *idx).and_then(Value::as_f64) {
                    let mut s = gauge(metric, v * units);
                    s.instance = descr.as_deref().map(Arc::from);
                    out.push(s);
                }
            }
        }
        // The profile's columns, all in one walk.
        let profile = meta.profile.clone();
        if !profile.metrics.is_empty() {
            let mut cols: Vec<Oid> = Vec::new();
            for m in &profile.metrics {
                for c in std::iter::once(&m.column).chain(m.name_column.as_ref()) {
                    if !cols.contains(c) {
                        cols.push(c.clone());
                    }
                }
            }
            let mut w = TableWalk::new(&cols, max_rows);
            let walked = walk(session, &mut w, &mut st.size, deadline).await;
            let rows = w.rows;
            let rows_of = |c: &Oid| &rows[cols.iter().position(|x| x == c).expect("added")];
            for m in &profile.metrics {
                for vb in rows_of(&m.column) {
                    let Some(idx) = vb.oid.suffix(&m.column) else {
                        continue;
                    };
                    let Some(v) = vb.value.as_f64() else {
                        problems.push(format!(
                            "{}: expected a number for {}, got {}",
                            vb.oid,
                            m.metric,
                            vb.value.type_name()
                        ));
                        continue;
                    };
                    let index = Oid(idx.to_vec()).to_string();
                    let name = m.name_column.as_ref().and_then(|nc| {
                        rows_of(nc)
                            .iter()
                            .find(|n| n.oid.suffix(nc) == Some(idx))
                            .and_then(|n| n.value.as_text())
                            .filter(|s| !s.is_empty())
                    });
                    let mut s = gauge(&m.metric, v * m.scale);
                    s.instance = Some(Arc::from(name.unwrap_or(index.clone()).as_str()));
                    s.labels.insert("index".into(), index);
                    s.labels.insert("profile".into(), profile.name.clone());
                    out.push(s);
                }
            }
            walked?;
        }
        Ok(())
    }
}

#[async_trait]
impl Poller for SnmpPoller {
    fn collector(&self) -> &'static str {
        "snmp"
    }

    fn interval_for(&self, device: &Device) -> Option<Duration> {
        let t = device.snmp.as_ref()?;
        self.config
            .enabled
            .then(|| t.interval.unwrap_or(self.config.interval))
    }

    fn forget(&self, device: &DeviceId) {
        self.devices.lock().expect("not poisoned").remove(device);
    }

    async fn poll(&self, device: &Device, time: UtcNanos) -> PollResult {
        let state = self.state(&device.id);
        let mut st = state.lock().await;
        let started = Instant::now();
        if let Some(at) = st.next_try
            && started < at
        {
            metrics::counter!("sotp_snmp_backoff_skips_total").increment(1);
            return PollResult {
                ok: false,
                samples: Vec::new(),
                error: Some(format!(
                    "not polled: the agent answered nothing in the last {} polls; asked again at most every {} intervals",
                    st.silent_polls,
                    MAX_SKIPPED_TURNS + 1
                )),
                partial: false,
            };
        }
        let interval = self.interval_for(device).unwrap_or(self.config.interval);
        // Never shorter than one request with all its attempts and back-offs, and one
        // timeout more for the rest of the poll.
        let one_request = self.config.timeout * (self.config.retries + 2)
            + Duration::from_millis(50) * ((1 << self.config.retries.min(6)) - 1);
        let deadline = started
            + self
                .config
                .poll_timeout
                .unwrap_or(interval)
                .max(one_request);
        let mut got = Progress::default();
        let result = self
            .poll_inner(device, time, &mut st, &mut got, deadline)
            .await;
        let Progress {
            samples,
            problems,
            answered,
        } = got;
        if !problems.is_empty() {
            metrics::counter!("sotp_snmp_bad_values_total").increment(problems.len() as u64);
            tracing::warn!(device = %device.name, address = %device.address, count = problems.len(), first = %problems[0], "SNMP values of unexpected type skipped");
        }
        let partial = result.is_err() && !samples.is_empty();
        let error = match result {
            Ok(()) => None,
            Err(e) => {
                metrics::counter!("sotp_snmp_errors_total", "kind" => e.kind()).increment(1);
                if matches!(
                    e,
                    SnmpError::Auth { .. } | SnmpError::Timeout { .. } | SnmpError::Deadline { .. }
                ) {
                    // Start over next time: engine ids and time windows may have changed.
                    st.session = None;
                }
                Some(if partial {
                    format!("partial poll, {} samples kept: {e}", samples.len())
                } else {
                    e.to_string()
                })
            }
        };
        if answered {
            st.silent_polls = 0;
            st.next_try = None;
        } else if error.is_some() {
            st.silent_polls += 1;
            if st.silent_polls >= 2 {
                // A silent agent is asked again after 1, 2, 4, then every 8 skipped turns,
                // so that it does not hold a poll slot for its timeouts every interval.
                let turns = 1u32 << (st.silent_polls - 2).min(MAX_SKIPPED_TURNS.ilog2());
                st.next_try = Some(started + interval * turns + interval / 2);
            }
        }
        if error != st.last_error {
            match &error {
                Some(e) => {
                    tracing::warn!(device = %device.name, address = %device.address, error = %e, "SNMP poll failed")
                }
                None if st.last_error.is_some() => {
                    tracing::info!(device = %device.name, "SNMP poll succeeds again")
                }
                None => {}
            }
            st.last_error = error.clone();
        }
        PollResult {
            ok: error.is_none(),
            samples,
            error,
            partial,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forgotten_device_leaves_no_state() {
        let p = SnmpPoller::new(SnmpConfig::default()).unwrap();
        let (a, b) = (DeviceId::new("a"), DeviceId::new("b"));
        let _ = (p.state(&a), p.state(&b));
        assert_eq!(p.devices.lock().unwrap().len(), 2);
        p.forget(&a);
        let left: Vec<DeviceId> = p.devices.lock().unwrap().keys().cloned().collect();
        assert_eq!(left, [b]);
    }
}
