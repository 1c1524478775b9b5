//! Turns a received message into a [`LogRecord`]: parse, then find the device by
//! source address (the inventory's management addresses), else by the hostname the
//! message carries (device name or id, case-insensitive). Unknown sources keep a null
//! device id and are counted in `sotp_syslog_unknown_source_total`. The device set is
//! live ([`Enricher::follow`]): devices created through the API count at once.

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
            _fixed: None,
        }
    }

    /// The device that sent a message from `source` naming itself `hostname`.
    pub fn device(&self, source: IpAddr, hostname: Option<&str>) -> Option<DeviceId> {
        let index = self.index.borrow();
        if let Some(id) = index.by_address.get(&canonical(source)) {
            return Some(id.clone());
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
            .cloned()
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
        let p = parse(raw, now);
        let device_id = self.device(source.ip(), p.hostname.as_deref());
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
        }
    }

    #[test]
    fn address_first_then_hostname_else_none() {
        let e = Enricher::new(&[device("r1", "10.0.0.1"), device("Core-2", "10.0.0.2")]);
        let at = |a: &str| a.parse::<IpAddr>().unwrap();
        assert_eq!(
            e.device(at("10.0.0.1"), Some("core-2")).unwrap().as_str(),
            "r1"
        );
        assert_eq!(
            e.device(at("::ffff:10.0.0.1"), None).unwrap().as_str(),
            "r1"
        );
        assert_eq!(
            e.device(at("192.0.2.9"), Some("CORE-2")).unwrap().as_str(),
            "Core-2"
        );
        assert_eq!(
            e.device(at("192.0.2.9"), Some("core-2.example.net"))
                .unwrap()
                .as_str(),
            "Core-2"
        );
        assert_eq!(e.device(at("192.0.2.9"), Some("other")), None);
        assert_eq!(e.device(at("192.0.2.9"), None), None);
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
        assert_eq!(e.device(at("10.0.0.9"), None).unwrap().as_str(), "api-made");
        tx.send_modify(|v| v.retain(|d| d.id.as_str() != "api-made"));
        while e.device(at("10.0.0.9"), None).is_some() {
            assert!(tokio::time::Instant::now() < deadline, "delete not seen");
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        assert_eq!(e.device(at("10.0.0.1"), None).unwrap().as_str(), "r1");
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
