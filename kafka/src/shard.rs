//! Collector sharding: collector processes join one consumer group on the `inventory`
//! topic and each polls only the devices of the partitions it owns.
//!
//! The group is used for partition assignment only: offsets are never committed, so
//! whoever gets a partition reads its whole (compacted) history and knows every device
//! on it. When a process dies, the group's session timeout moves its partitions (and so
//! its devices) to the others. While the brokers are unreachable the last assignment is
//! kept, so collectors keep polling through an outage.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use sotp_schemas::{Device, DeviceRecord, Topic};
use tokio::sync::watch;

use super::{KafkaBus, KafkaError};
use sotp_bus::Bus;

/// Consumer group of collector processes (after the configured group prefix).
pub const COLLECTOR_GROUP: &str = sotp_bus::devices::COLLECTORS_GROUP;

/// Starts following the inventory: the returned channel holds the devices this process
/// owns now (sorted by id) and changes when the assignment or the inventory changes.
/// Stops when `stop` turns true.
pub fn follow_inventory(
    bus: &KafkaBus,
    mut stop: watch::Receiver<bool>,
) -> Result<watch::Receiver<Vec<Device>>, KafkaError> {
    let config = bus.config();
    let consumer: StreamConsumer = config
        .consumer(COLLECTOR_GROUP)
        .create()
        .map_err(KafkaError::Client)?;
    let topic = config.topic(Topic::Inventory);
    consumer
        .subscribe(&[topic.as_str()])
        .map_err(KafkaError::Client)?;
    let (tx, rx) = watch::channel(Vec::new());
    let bus = bus.clone();
    tokio::spawn(async move {
        let mut by_partition: HashMap<i32, BTreeMap<String, Device>> = HashMap::new();
        let mut owned: BTreeSet<i32> = BTreeSet::new();
        let mut dirty = false;
        let mut quiet = true;
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        loop {
            tokio::select! {
                _ = stop.wait_for(|s| *s) => break,
                m = consumer.recv() => match m {
                    Ok(m) => {
                        let devices = by_partition.entry(m.partition()).or_default();
                        let key = m.key().map(|k| String::from_utf8_lossy(k).into_owned());
                        match (m.payload(), key) {
                            (None, Some(k)) => { devices.remove(&k); }
                            (Some([]), Some(k)) => { devices.remove(&k); }
                            (Some(p), _) => match DeviceRecord::from_json(p) {
                                Ok(r) => {
                                    let id = r.id.clone();
                                    if let Some(d) = sotp_bus::devices::accept(r) {
                                        devices.insert(id, d);
                                    }
                                }
                                Err(e) => {
                                    metrics::counter!("sotp_bus_invalid_messages_total", "topic" => Topic::Inventory.name()).increment(1);
                                    tracing::warn!(topic = %topic, partition = m.partition(), offset = m.offset(), error = %e, "invalid device record skipped");
                                }
                            },
                            (None, None) => {}
                        }
                        dirty = true;
                        quiet = false;
                    }
                    Err(e) => tracing::debug!(error = %e, "inventory consumer error"),
                },
                _ = tick.tick() => {
                    if !bus.is_connected() {
                        continue; // keep polling what we had through an outage
                    }
                    let now: BTreeSet<i32> = match consumer.assignment() {
                        Ok(a) => a.elements().iter().map(|e| e.partition()).collect(),
                        Err(_) => continue,
                    };
                    let moved = now != owned;
                    if moved {
                        tracing::info!(partitions = ?now, "inventory partitions assigned to this collector");
                        owned = now;
                        dirty = true;
                    }
                    // Wait for a quiet tick so a burst of records becomes one change.
                    if dirty && (quiet || moved) {
                        let devices: Vec<Device> = owned
                            .iter()
                            .filter_map(|p| by_partition.get(p))
                            .flat_map(|m| m.values().cloned())
                            .collect();
                        tx.send_if_modified(|cur| {
                            if *cur == devices {
                                false
                            } else {
                                tracing::info!(devices = devices.len(), "devices owned by this collector changed");
                                *cur = devices;
                                true
                            }
                        });
                        dirty = false;
                    }
                    quiet = true;
                }
            }
        }
    });
    Ok(rx)
}
