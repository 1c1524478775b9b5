//! Devices as the collectors see them ([`sotp_schemas::Device`]) and as they travel on
//! the `inventory` topic ([`InventoryChange`]).
//!
//! Secrets stay as stored: sealed under the master key (bound to the device id and the
//! field name). Nothing here opens them: a collector does, with the same master key,
//! right before use (`Device::open_secrets`). A stored value that is not sealed (an
//! `env:`/`file:` reference stored by a version before the API refused them) is left
//! out, so it can never be read as a reference nor sent as a community.

use std::collections::HashMap;
use std::sync::Arc;

use sotp_schemas::{Device, DeviceId, InventoryChange, PollSettings, Secret, SshAccess};

use crate::devices::{DEVICE_COLUMNS, record_from_row};
use crate::{InventoryError, ManagedBy, Store, StoredDevice};
use sotp_schemas::SnmpSettings;

/// Stored sealed secret values by (owner, name).
type Stored = HashMap<(String, String), String>;

/// The collector's view of a stored device, or none when it is not polled (deleted,
/// inactive, no usable address).
fn to_device(r: &StoredDevice, stored: &Stored) -> Option<Device> {
    if r.deleted_at.is_some() || !r.active {
        return None;
    }
    let address = r.address.parse().ok()?;
    let settings = |name: &str| r.collectors.get(name);
    let icmp = settings("icmp");
    let interval = |c: Option<&crate::CollectorSettings>| {
        c.and_then(|c| c.interval.as_deref())
            .and_then(|i| humantime::parse_duration(i).ok())
    };
    let snmp_on = settings("snmp").is_none_or(|c| c.enabled);
    let snmp = r.snmp.as_ref().filter(|_| snmp_on).map(|v| {
        let secret = |n: &str| stored.get(&(r.id.clone(), format!("snmp.{n}"))).cloned();
        let input = SnmpSettings {
            version: v.version.clone(),
            port: Some(v.port),
            community: secret("community"),
            user: v.user.clone(),
            auth_protocol: v.auth_protocol.clone(),
            auth_key: secret("auth_key"),
            priv_protocol: v.priv_protocol.clone(),
            priv_key: secret("priv_key"),
            context: v.context.clone(),
            interval: v.interval.clone(),
        };
        let mut target = input.target();
        // The per-collector interval wins over the one inside `snmp`.
        if let Some(i) = interval(settings("snmp")) {
            target.interval = Some(i);
        }
        target
    });
    // SSH access when the device has settings with a platform (and its `ssh` collector
    // is not turned off): scheduled commands and configuration backups use it.
    let ssh_on = settings("ssh").is_none_or(|c| c.enabled);
    let ssh = r.ssh.as_ref().filter(|_| ssh_on).and_then(|v| {
        let secret = |n: &str| {
            stored
                .get(&(r.id.clone(), format!("ssh.{n}")))
                .cloned()
                .map(Secret::new)
        };
        Some(SshAccess {
            port: u16::try_from(v.port).ok()?,
            user: v.user.clone(),
            key: secret("key"),
            password: secret("password"),
            platform: v.platform.clone()?,
            host_key: v.host_key.clone(),
            legacy_algorithms: v.legacy_algorithms,
        })
    });
    Some(Device {
        id: DeviceId::new(&r.id),
        name: Arc::from(r.name.as_str()),
        address,
        tags: r.tags.clone(),
        icmp: PollSettings {
            enabled: icmp.is_none_or(|c| c.enabled),
            interval: interval(icmp),
        },
        snmp,
        ssh,
    })
}

impl Store {
    async fn stored_secrets(&self, owner: Option<&str>) -> Result<Stored, InventoryError> {
        let rows: Vec<(String, String, String)> = match owner {
            Some(o) => {
                sqlx::query_as("SELECT owner, name, value FROM secrets WHERE owner = $1")
                    .bind(o)
                    .fetch_all(&self.pool)
                    .await?
            }
            None => {
                sqlx::query_as("SELECT owner, name, value FROM secrets")
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        Ok(rows
            .into_iter()
            .filter(|(owner, name, v)| {
                let sealed = sotp_schemas::Secret::new(v.as_str()).is_sealed();
                if !sealed {
                    tracing::warn!(device = %owner, secret = %name, "a stored secret is not sealed (a reference from an earlier version): left out; set it again through the API");
                }
                sealed
            })
            .map(|(o, n, v)| ((o, n), v))
            .collect())
    }

    /// What to publish on `inventory` for device `id` now: its definition, or a deletion
    /// when it is deleted, inactive or unknown.
    pub async fn inventory_change(&self, id: &str) -> Result<InventoryChange, InventoryError> {
        let sql = format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE id = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        let device = match row {
            Some(row) => {
                let r = record_from_row(&row)?;
                to_device(&r, &self.stored_secrets(Some(id)).await?)
            }
            None => None,
        };
        Ok(InventoryChange {
            id: id.to_string(),
            device: device.as_ref().map(sotp_schemas::DeviceRecord::from),
        })
    }

    /// The devices the collectors poll (live and active), with their secrets as stored;
    /// only those managed by `managed_by` when given.
    pub async fn collector_devices(
        &self,
        managed_by: Option<ManagedBy>,
    ) -> Result<Vec<Device>, InventoryError> {
        let stored = self.stored_secrets(None).await?;
        Ok(self
            .all_devices()
            .await?
            .iter()
            .filter(|r| managed_by.is_none_or(|m| m == r.managed_by))
            .filter_map(|r| to_device(r, &stored))
            .collect())
    }

    /// Every device ever created through the API as a change: definitions of the polled
    /// ones, deletions of the others (published at start so that a compacted topic
    /// forgets devices deleted while no process ran). Configuration devices are
    /// published by the collectors from their own configuration.
    pub async fn inventory_snapshot(&self) -> Result<Vec<InventoryChange>, InventoryError> {
        let stored = self.stored_secrets(None).await?;
        let sql =
            format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE managed_by = 'api' ORDER BY id");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let r = record_from_row(row)?;
            let device = to_device(&r, &stored);
            out.push(InventoryChange {
                id: r.id.clone(),
                device: device.as_ref().map(sotp_schemas::DeviceRecord::from),
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
