//! The live device set that collectors poll, kept from the `inventory` topic: the one
//! module every collector, the syslog enrichment and the Kafka sharding read devices
//! through.
//!
//! Collectors take a `watch::Receiver<Vec<Device>>` (sorted by id) and apply its
//! changes while they run. On the in-process bus, [`follow_bus`] builds that channel from
//! a subscription to `inventory` (the control plane publishes every device change there);
//! on Kafka, `sotp_kafka::shard::follow_inventory` builds it from the partitions a
//! collector owns and [`open_secrets`] opens the sealed secrets it carries.

use std::collections::BTreeMap;
use std::sync::Arc;

use sotp_schemas::{Device, DeviceRecord, EventBatch, InventoryChange, SecretCodec};
use tokio::sync::watch;

use crate::Subscription;

/// The consumer group of the collectors on `inventory`.
pub const COLLECTORS_GROUP: &str = "collectors";

/// Devices by id; what the collectors see is [`DeviceSet::devices`].
#[derive(Debug, Default, Clone)]
pub struct DeviceSet {
    by_id: BTreeMap<String, Device>,
}

impl DeviceSet {
    /// A set holding `devices` (the last one wins when two share an id).
    pub fn new(devices: impl IntoIterator<Item = Device>) -> Self {
        Self {
            by_id: devices
                .into_iter()
                .map(|d| (d.id.as_str().to_string(), d))
                .collect(),
        }
    }

    /// Applies one change; sealed secrets of a new definition are opened with `codec`.
    /// Returns whether the set changed.
    pub fn apply(&mut self, change: InventoryChange, codec: Option<&dyn SecretCodec>) -> bool {
        match change.device {
            None => self.by_id.remove(&change.id).is_some(),
            Some(record) => {
                let Some(mut d) = accept(record) else {
                    return false;
                };
                open(&mut d, codec);
                if self.by_id.get(&change.id) == Some(&d) {
                    return false;
                }
                self.by_id.insert(change.id, d);
                true
            }
        }
    }

    /// The devices, sorted by id.
    pub fn devices(&self) -> Vec<Device> {
        self.by_id.values().cloned().collect()
    }
}

/// The collector's view of a record read from `inventory`, or none when the record holds
/// a secret that is not sealed: SOTP only ever publishes sealed secrets, so such a record
/// was written by someone else and is refused whole (logged and counted), never polled.
pub fn accept(record: DeviceRecord) -> Option<Device> {
    let unsealed = record.unsealed_secrets();
    if unsealed.is_empty() {
        return Some(record.into());
    }
    metrics::counter!("sotp_inventory_refused_total").increment(1);
    tracing::warn!(device = %record.id, secrets = ?unsealed, "device record refused: the inventory topic carries sealed secrets only");
    None
}

fn open(d: &mut Device, codec: Option<&dyn SecretCodec>) {
    let Some(codec) = codec else { return };
    let failed = d.open_secrets(codec);
    if !failed.is_empty() {
        metrics::counter!("sotp_inventory_secret_errors_total").increment(failed.len() as u64);
        tracing::warn!(device = %d.id, secrets = ?failed, "sealed secrets of this device do not open with this process's master key; its SNMP polls will fail");
    }
}

/// Follows `inventory` on a bus subscription, starting from `initial`. The channel
/// changes once per received batch that changed the set. Ends with the subscription.
pub fn follow_bus(
    mut sub: Box<dyn Subscription>,
    initial: Vec<Device>,
    codec: Option<Arc<dyn SecretCodec>>,
) -> watch::Receiver<Vec<Device>> {
    let mut set = DeviceSet::new(initial);
    let (tx, rx) = watch::channel(set.devices());
    tokio::spawn(async move {
        while let Some(d) = sub.recv().await {
            let EventBatch::Inventory(changes) = d.batch else {
                tracing::warn!("a non-inventory batch on the inventory topic ignored");
                continue;
            };
            let mut changed = false;
            for c in changes {
                tracing::info!(device = %c.id, deleted = c.device.is_none(), "inventory change");
                changed |= set.apply(c, codec.as_deref());
            }
            if changed {
                metrics::counter!("sotp_inventory_changes_total").increment(1);
                if tx.send(set.devices()).is_err() {
                    break;
                }
            }
        }
    });
    rx
}

/// A channel that holds `f` of what `rx` holds and changes when `rx` does (a task
/// does the mapping, so receivers never wait for it). When `rx`'s sender goes, the last
/// value stays until every receiver is gone.
pub fn map_watch<T, U, F>(mut rx: watch::Receiver<T>, mut f: F) -> watch::Receiver<U>
where
    T: Send + Sync + 'static,
    U: Send + Sync + 'static,
    F: FnMut(&T) -> U + Send + 'static,
{
    let (tx, out) = watch::channel(f(&rx.borrow_and_update()));
    tokio::spawn(async move {
        loop {
            tokio::select! {
                r = rx.changed() => if r.is_err() { break },
                () = tx.closed() => break,
            }
            let v = f(&rx.borrow_and_update());
            if tx.send(v).is_err() {
                break;
            }
        }
        tx.closed().await;
    });
    out
}

/// Opens the sealed secrets of every device `rx` carries (the Kafka follower's output),
/// into a new channel that changes when `rx` does.
pub fn open_secrets(
    rx: watch::Receiver<Vec<Device>>,
    codec: Arc<dyn SecretCodec>,
) -> watch::Receiver<Vec<Device>> {
    // The first value is the start, not a change: only changes are logged.
    let mut first = true;
    map_watch(rx, move |v: &Vec<Device>| {
        if !std::mem::take(&mut first) {
            tracing::info!(devices = v.len(), "polling the devices this collector owns");
        }
        v.iter()
            .cloned()
            .map(|mut d| {
                open(&mut d, Some(codec.as_ref()));
                d
            })
            .collect::<Vec<_>>()
    })
}

#[cfg(test)]
mod tests {
    use sotp_schemas::{DeviceId, DeviceRecord, PollSettings};

    use super::*;
    use crate::{Bus, MemoryBus, MemoryBusConfig};
    use sotp_schemas::Topic;

    fn device(id: &str, addr: &str) -> Device {
        Device {
            id: DeviceId::new(id),
            name: Arc::from(id),
            address: addr.parse().unwrap(),
            tags: vec![],
            icmp: PollSettings {
                enabled: true,
                interval: None,
            },
            snmp: None,
            ssh: None,
        }
    }

    fn upsert(d: &Device) -> InventoryChange {
        InventoryChange {
            id: d.id.as_str().into(),
            device: Some(DeviceRecord::from(d)),
        }
    }

    #[tokio::test]
    async fn changes_on_the_bus_reach_the_watch_channel() {
        let bus = MemoryBus::new(MemoryBusConfig::default());
        let sub = bus.subscribe(Topic::Inventory, "collectors").unwrap();
        let mut rx = follow_bus(sub, vec![device("a", "127.0.0.1")], None);
        assert_eq!(rx.borrow_and_update().len(), 1);
        let b = device("b", "127.0.0.2");
        bus.publish(Topic::Inventory, EventBatch::Inventory(vec![upsert(&b)]))
            .await
            .unwrap();
        rx.changed().await.unwrap();
        let ids: Vec<String> = rx
            .borrow_and_update()
            .iter()
            .map(|d| d.id.as_str().into())
            .collect();
        assert_eq!(ids, ["a", "b"]);
        // The same definition again changes nothing; a delete removes.
        let del = InventoryChange {
            id: "a".into(),
            device: None,
        };
        bus.publish(
            Topic::Inventory,
            EventBatch::Inventory(vec![upsert(&b), del]),
        )
        .await
        .unwrap();
        rx.changed().await.unwrap();
        assert_eq!(*rx.borrow_and_update(), vec![b]);
    }

    #[test]
    fn a_record_with_a_secret_that_is_not_sealed_is_refused_and_the_set_kept() {
        let mut set = DeviceSet::new([device("a", "127.0.0.1")]);
        let mut hostile = DeviceRecord::from(&device("a", "192.0.2.66"));
        hostile.snmp = Some(sotp_schemas::SnmpRecord {
            version: sotp_schemas::SnmpVersion::V2c,
            port: 161,
            community: Some("env:SOTP_MASTER_KEY".into()),
            user: None,
            auth_protocol: None,
            auth_key: None,
            priv_protocol: None,
            priv_key: None,
            context: None,
            interval_ms: None,
        });
        let change = |r: &DeviceRecord| InventoryChange {
            id: "a".into(),
            device: Some(r.clone()),
        };
        assert!(!set.apply(change(&hostile), None));
        assert_eq!(set.devices(), [device("a", "127.0.0.1")]);
        // The same record with a sealed community is taken.
        hostile.snmp.as_mut().unwrap().community = Some("enc:v1:abc".into());
        assert!(set.apply(change(&hostile), None));
        assert_eq!(
            set.devices()[0].address,
            "192.0.2.66".parse::<std::net::IpAddr>().unwrap()
        );
    }
}
