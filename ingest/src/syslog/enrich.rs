//! Turns a received message into a [`LogRecord`]: parse, then find the device by
//! source address (the inventory's management addresses). Only with `[syslog]
//! trust_hostname` is a message from an unknown address given the device its hostname
//! names (device name or id, case-insensitive): anyone can write any hostname, so such a
//! record is marked, in its structured data, `sotp@32473` `device_from="hostname"`.
//! Unknown sources keep a null device id and are counted in
//! `sotp_syslog_unknown_source_total`. The device set is live ([`Enricher::follow`]):
//! devices created through the API count at once.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sotp_schemas::{Device, DeviceId, LogRecord, UtcNanos};
use tokio::sync::watch;

use crate::DeviceFeed;
use sotp_syslog::parse;

/// Source address and hostname to device id, for one device set.
#[derive(Debug, Default)]
struct Index {
    by_address: HashMap<IpAddr, DeviceId>,
    by_name: HashMap<String, DeviceId>,
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

impl Index {
    /// The first device wins when two share an address.
    fn new(devices: &[Device]) -> Self {
        let mut e = Self::default();
        for d in devices {
            e.by_address
                .entry(canonical(d.address))
                .or_insert_with(|| d.id.clone());
            e.by_name
                .entry(d.name.to_lowercase())
                .or_insert_with(|| d.id.clone());
            e.by_name
                .entry(d.id.as_str().to_lowercase())
                .or_insert_with(|| d.id.clone());
        }
        e
    }
}

/// Source address and hostname to device id, following the live inventory: a device
/// created, changed or deleted through the API counts from the next message on.
#[derive(Debug, Clone)]
pub struct Enricher {
    index: watch::Receiver<Arc<Index>>,
    /// Give a message from an unknown address the device its hostname names.
    trust_hostname: bool,
    /// Keeps a fixed index's channel open.
    _fixed: Option<Arc<watch::Sender<Arc<Index>>>>,
}

impl Enricher {
    /// An enricher over a fixed device list (the first device wins when two share an
    /// address).
    pub fn new(devices: &[Device]) -> Self {
        let (tx, index) = watch::channel(Arc::new(Index::new(devices)));
        Self {
            index,
            trust_hostname: false,
            _fixed: Some(Arc::new(tx)),
        }
    }

    /// An enricher following `feed`; a live feed is re-indexed by a task on each change
    /// (needs a tokio runtime), so receiving never waits for the index to be built.
    pub fn follow(feed: impl Into<DeviceFeed>) -> Self {
        let (rx, fixed) = feed.into().into_parts();
        if fixed.is_some() {
            return Self::new(&rx.borrow());
        }
        let index = sotp_bus::devices::map_watch(rx, |devices: &Vec<Device>| {
            let next = Index::new(devices);
            tracing::debug!(
                addresses = next.by_address.len(),
                "syslog enrichment follows the inventory"
            );
            Arc::new(next)
        });
        Self {
            index,
            trust_hostname: false,
            _fixed: None,
        }
    }

    /// Also gives a message from an unknown address the device its hostname names
    /// (`[syslog] trust_hostname`); such records are marked.
    pub fn trusting_hostnames(mut self, trust: bool) -> Self {
        self.trust_hostname = trust;
        self
    }

    /// The device that sent a message from `source` naming itself `hostname`, and
    /// whether it was found by its hostname (only with `trust_hostname`).
    pub fn device(&self, source: IpAddr, hostname: Option<&str>) -> Option<(DeviceId, bool)> {
        let index = self.index.borrow();
        if let Some(id) = index.by_address.get(&canonical(source)) {
            return Some((id.clone(), false));
        }
        if !self.trust_hostname {
            return None;
        }
        let hostname = hostname?;
        if index.by_name.is_empty() {
            return None;
        }
        // Most hostnames are lower-case ASCII already: no copy then.
        let h: std::borrow::Cow<'_, str> = if !hostname
            .bytes()
            .all(|b| b.is_ascii() && !b.is_ascii_uppercase())
        {
            hostname.to_lowercase().into()
        } else {
            hostname.into()
        };
        index
            .by_name
            .get(h.as_ref())
            // `router1.example.net` names the device `router1`.
            .or_else(|| index.by_name.get(h.split('.').next()?))
            .map(|id| (id.clone(), true))
    }

    /// Parses `raw` received from `source` at `now` into a record.
    pub fn record(&self, raw: &[u8], source: SocketAddr, now: DateTime<Utc>) -> LogRecord {
        self.record_from(raw, source, &source.to_string(), now)
    }

    /// [`Enricher::record`] with the source already written as text (`ip:port`), so a
    /// TCP connection formats its peer once, not once per message. The counters
    /// (`sotp_syslog_unknown_source_total`, `sotp_syslog_parse_errors_total`) are
    /// incremented by [`count`] per batch.
    pub fn record_from(
        &self,
        raw: &[u8],
        source: SocketAddr,
        source_text: &str,
        now: DateTime<Utc>,
    ) -> LogRecord {
        #[cfg(test)]
        if raw == tests::PANICS {
            panic!("a parser bug, injected by the test");
        }
        let mut p = parse(raw, now);
        let found = self.device(source.ip(), p.hostname.as_deref());
        if found.as_ref().is_some_and(|(_, by_name)| *by_name) {
            p.structured_data = marked(&p.structured_data);
        }
        let device_id = found.map(|(id, _)| id);
        let parse_error = p.parse_error();
        LogRecord {
            received_at: UtcNanos(now.timestamp_nanos_opt().unwrap_or(i64::MAX)),
            time: p.time.and_then(|t| t.timestamp_nanos_opt()).map(UtcNanos),
            source_address: source_text.to_string(),
            device_id,
            hostname: p.hostname,
            facility: p.facility,
            severity: p.severity,
            app_name: p.app_name,
            procid: p.procid,
            msgid: p.msgid,
            structured_data: p.structured_data,
            vendor_mnemonic: p.vendor_mnemonic,
            parse_error,
            message: p.message,
            raw: raw.to_vec(),
        }
    }
}

impl Enricher {
    /// [`Enricher::record`], isolated from a parser panic: the message is then kept raw
    /// with `parse_error` set (counted in `sotp_syslog_parser_panics_total`), and the
    /// receiver goes on.
    pub fn record_or_raw(&self, raw: &[u8], source: SocketAddr, now: DateTime<Utc>) -> LogRecord {
        self.record_from_or_raw(raw, source, &source.to_string(), now)
    }

    /// [`Enricher::record_from`], isolated from a parser panic (see
    /// [`Enricher::record_or_raw`]).
    pub fn record_from_or_raw(
        &self,
        raw: &[u8],
        source: SocketAddr,
        source_text: &str,
        now: DateTime<Utc>,
    ) -> LogRecord {
        let parsed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.record_from(raw, source, source_text, now)
        }));
        parsed.unwrap_or_else(|_| {
            metrics::counter!("sotp_syslog_parser_panics_total").increment(1);
            tracing::error!(
                source = source_text,
                bytes = raw.len(),
                "the syslog parser panicked on a message; kept raw"
            );
            LogRecord {
                received_at: UtcNanos(now.timestamp_nanos_opt().unwrap_or(i64::MAX)),
                time: None,
                source_address: source_text.to_string(),
                device_id: self.device(source.ip(), None).map(|(id, _)| id),
                hostname: None,
                facility: None,
                severity: None,
                app_name: None,
                procid: None,
                msgid: None,
                structured_data: Default::default(),
                vendor_mnemonic: None,
                parse_error: true,
                message: String::from_utf8_lossy(raw).into_owned(),
                raw: raw.to_vec(),
            }
        })
    }
}

/// `sd` with the element saying the device was found by the message's hostname.
fn marked(sd: &sotp_schemas::StructuredData) -> sotp_schemas::StructuredData {
    let mut map = sd.to_map();
    map.entry("sotp@32473".into())
        .or_default()
        .insert("device_from".into(), "hostname".into());
    sotp_schemas::StructuredData::from_map(&map)
}

/// Counts a batch of records in `sotp_syslog_unknown_source_total` and
/// `sotp_syslog_parse_errors_total` (one registry look-up per batch, not per message).
pub(super) fn count(records: &[LogRecord]) {
    let unknown = records.iter().filter(|r| r.device_id.is_none()).count();
    let errors = records.iter().filter(|r| r.parse_error).count();
    if unknown > 0 {
        metrics::counter!("sotp_syslog_unknown_source_total").increment(unknown as u64);
    }
    if errors > 0 {
        metrics::counter!("sotp_syslog_parse_errors_total").increment(errors as u64);
    }
}

#[cfg(test)]
mod tests {
    use sotp_schemas::PollSettings;

    use super::*;

    fn device(id: &str, addr: &str) -> Device {
        Device {
            id: DeviceId::new(id),
            name: Arc::from(id),
            address: addr.parse().unwrap(),
            tags: vec![],
            icmp: PollSettings::default(),
            snmp: None,
            ssh: None,
        }
    }

    fn id(found: Option<(DeviceId, bool)>) -> Option<String> {
        found.map(|(d, _)| d.as_str().to_string())
    }

    /// A message that makes the parser panic: no real line does (the fuzzers and the
    /// corpus keep it so), so the fault is injected for the receivers' isolation test.
    pub(super) const PANICS: &[u8] = b"<13>1 - - - - - - \xff injected parser panic";

    #[test]
    fn a_parser_panic_keeps_the_message_raw_and_the_next_one_is_parsed() {
        let e = Enricher::new(&[device("r1", "10.0.0.1")]);
        let from: SocketAddr = "10.0.0.1:514".parse().unwrap();
        let now = Utc::now();
        let kept = e.record_or_raw(PANICS, from, now);
        assert!(kept.parse_error);
        assert_eq!(kept.raw, PANICS);
        assert_eq!(kept.device_id.as_ref().map(DeviceId::as_str), Some("r1"));
        let next = e.record_or_raw(b"<13>1 - h app - - - fine", from, now);
        assert!(!next.parse_error);
        assert_eq!(next.app_name.as_deref(), Some("app"));
    }

    #[test]
    fn by_address_only_unless_hostnames_are_trusted() {
        let devices = [device("r1", "10.0.0.1"), device("Core-2", "10.0.0.2")];
        let at = |a: &str| a.parse::<IpAddr>().unwrap();
        let e = Enricher::new(&devices);
        assert_eq!(
            id(e.device(at("10.0.0.1"), Some("core-2"))).as_deref(),
            Some("r1")
        );
        assert_eq!(
            id(e.device(at("::ffff:10.0.0.1"), None)).as_deref(),
            Some("r1")
        );
        // Anyone can write any hostname: by default it names nothing.
        assert_eq!(e.device(at("192.0.2.9"), Some("Core-2")), None);
        let trusting = Enricher::new(&devices).trusting_hostnames(true);
        assert_eq!(
            trusting.device(at("192.0.2.9"), Some("CORE-2")),
            Some((DeviceId::new("Core-2"), true))
        );
        assert_eq!(
            id(trusting.device(at("192.0.2.9"), Some("core-2.example.net"))).as_deref(),
            Some("Core-2")
        );
        assert_eq!(trusting.device(at("192.0.2.9"), Some("other")), None);
        assert_eq!(trusting.device(at("192.0.2.9"), None), None);
        assert_eq!(
            trusting.device(at("10.0.0.1"), Some("core-2")),
            Some((DeviceId::new("r1"), false))
        );
    }

    #[test]
    fn a_record_attributed_by_hostname_is_marked() {
        let devices = [device("core-2", "10.0.0.2")];
        let src: SocketAddr = "192.0.2.9:514".parse().unwrap();
        let line = b"<13>1 2026-01-01T00:00:00Z core-2 app - - [x@1 a=\"b\"] hello";
        let plain = Enricher::new(&devices).record(line, src, Utc::now());
        assert_eq!(plain.device_id, None);
        let r = Enricher::new(&devices)
            .trusting_hostnames(true)
            .record(line, src, Utc::now());
        assert_eq!(r.device_id.unwrap().as_str(), "core-2");
        let sd = r.structured_data.to_map();
        assert_eq!(sd["sotp@32473"]["device_from"], "hostname");
        assert_eq!(sd["x@1"]["a"], "b", "the sender's own elements are kept");
    }

    #[tokio::test]
    async fn follows_the_live_device_set() {
        let (tx, rx) = watch::channel(vec![device("r1", "10.0.0.1")]);
        let e = Enricher::follow(rx);
        let at = |a: &str| a.parse::<IpAddr>().unwrap();
        assert_eq!(e.device(at("10.0.0.9"), None), None);
        tx.send_modify(|v| v.push(device("api-made", "10.0.0.9")));
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
        while e.device(at("10.0.0.9"), None).is_none() {
            assert!(tokio::time::Instant::now() < deadline, "change not seen");
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        assert_eq!(
            id(e.device(at("10.0.0.9"), None)).as_deref(),
            Some("api-made")
        );
        tx.send_modify(|v| v.retain(|d| d.id.as_str() != "api-made"));
        while e.device(at("10.0.0.9"), None).is_some() {
            assert!(tokio::time::Instant::now() < deadline, "delete not seen");
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        assert_eq!(id(e.device(at("10.0.0.1"), None)).as_deref(), Some("r1"));
    }

    #[test]
    fn records_keep_raw_bytes_and_flag_parse_errors() {
        let e = Enricher::new(&[device("r1", "127.0.0.1")]);
        let now = Utc::now();
        let src: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let r = e.record(b"\xffjunk", src, now);
        assert!(r.parse_error);
        assert_eq!(r.raw, b"\xffjunk");
        assert_eq!(r.device_id.unwrap().as_str(), "r1");
        assert_eq!(r.source_address, "127.0.0.1:5000");
        let r = e.record(b"<14>1 - h a - - - hi", src, now);
        assert!(!r.parse_error);
        assert_eq!(
            (r.facility, r.severity, r.message.as_str()),
            (Some(1), Some(6), "hi")
        );
    }
}
