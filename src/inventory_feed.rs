//! Wiring of the live inventory: device changes made through the control plane go on
//! the `inventory` topic, and the collectors' device set follows that topic.
//!
//! - [`publish_changes`] turns each change the store announces into an
//!   [`InventoryChange`](sotp_schemas::InventoryChange) on the bus (memory or Kafka),
//!   secrets sealed as stored; on Kafka a deleted or inactive device is a tombstone.
//! - [`sealed_config_devices`]: the configuration's devices, which the collector role
//!   publishes on `inventory` too.
//! - The collectors follow `inventory` through the bus (`Bus::follow_devices`: every
//!   device in-process, the partitions this process owns on Kafka) and open the sealed
//!   secrets with the master key ([`sotp_bus::devices::open_secrets`]).

use std::sync::Arc;

use anyhow::Context;
use sotp_bus::{Bus, BusError};
use sotp_inventory::Store;
use sotp_schemas::{Device, EventBatch, InventoryChange, SecretCodec, Topic};
use tokio::sync::broadcast::error::RecvError;

use crate::config::Config;

async fn publish(bus: &dyn Bus, changes: Vec<InventoryChange>) -> Result<(), BusError> {
    if changes.is_empty() {
        return Ok(());
    }
    let n = changes.len();
    bus.publish(Topic::Inventory, EventBatch::Inventory(changes))
        .await?;
    metrics::counter!("sotp_inventory_published_total").increment(n as u64);
    Ok(())
}

/// Publishes the definition (or deletion) of every API-managed device now: what a
/// collector that starts later, or one that missed changes, needs.
pub async fn publish_snapshot(store: &Store, bus: &dyn Bus) -> anyhow::Result<usize> {
    let all = store
        .inventory_snapshot()
        .await
        .context("reading the inventory")?;
    let n = all.len();
    publish(bus, all)
        .await
        .context("publishing the inventory")?;
    Ok(n)
}

/// Publishes every change the store announces until the bus closes. A burst too large
/// to follow (the announcement channel lagged) is answered with a full snapshot.
pub fn publish_changes(store: Store, bus: Arc<dyn Bus>) -> tokio::task::JoinHandle<()> {
    let mut changes = store.subscribe_changes();
    tokio::spawn(async move {
        loop {
            let result = match changes.recv().await {
                Ok(id) => match store.inventory_change(&id).await {
                    Ok(c) => {
                        tracing::info!(device = %id, deleted = c.device.is_none(), "device change published on inventory");
                        publish(bus.as_ref(), vec![c]).await.map_err(Into::into)
                    }
                    Err(e) => {
                        tracing::error!(device = %id, error = %e, "cannot read a changed device; not published");
                        continue;
                    }
                },
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(
                        missed,
                        "device changes came faster than published: publishing the whole inventory"
                    );
                    publish_snapshot(&store, bus.as_ref()).await.map(|_| ())
                }
                Err(RecvError::Closed) => break,
            };
            if let Err(e) = result {
                if matches!(e.downcast_ref::<BusError>(), Some(BusError::Closed(_))) {
                    break;
                }
                tracing::error!(error = %format!("{e:#}"), "device change not published");
            }
        }
    })
}

/// The configuration's devices with their literal secrets sealed under `codec`, ready
/// for the `inventory` topic (which never carries a plain secret).
pub fn sealed_config_devices(
    config: &Config,
    codec: &dyn SecretCodec,
) -> anyhow::Result<Vec<Device>> {
    let mut devices = config.device_list();
    for d in &mut devices {
        d.seal_secrets(codec)
            .map_err(|e| anyhow::anyhow!("sealing the secrets of device {}: {e}", d.id))?;
    }
    Ok(devices)
}
