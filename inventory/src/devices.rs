//! Devices in the database: create, read, replace, patch, soft-delete, import from the
//! configuration, with their secrets sealed in the `secrets` table.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{
    DeviceInput, InventoryError, ManagedBy, SnmpView, SshView, Store, StoredDevice, now_ms,
    random_token,
};

pub(crate) fn rfc3339(ms: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_millis(t).to_string()
}

pub(crate) const DEVICE_COLUMNS: &str = "id, name, address, device_type, vendor, model, location, tags, snmp, ssh, collectors, active, managed_by, created_by, created_at, updated_at, deleted_at";

pub(crate) fn record_from_row(row: &AnyRow) -> Result<StoredDevice, InventoryError> {
    fn col<T: serde::de::DeserializeOwned + Default>(
        row: &AnyRow,
        name: &str,
    ) -> Result<T, InventoryError> {
        let text: Option<String> = row.try_get(name)?;
        match text {
            None => Ok(T::default()),
            Some(t) => serde_json::from_str(&t).map_err(|e| {
                InventoryError::Database(sqlx::Error::Decode(format!("{name}: {e}").into()))
            }),
        }
    }
    let managed: String = row.try_get("managed_by")?;
    Ok(StoredDevice {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        address: row.try_get("address")?,
        device_type: row.try_get("device_type")?,
        vendor: row.try_get("vendor")?,
        model: row.try_get("model")?,
        location: row.try_get("location")?,
        tags: col(row, "tags")?,
        snmp: col(row, "snmp")?,
        ssh: col(row, "ssh")?,
        collectors: col(row, "collectors")?,
        active: row.try_get::<i64, _>("active")? != 0,
        managed_by: if managed == "config" {
            ManagedBy::Config
        } else {
            ManagedBy::Api
        },
        created_by: row.try_get("created_by")?,
        created_at: rfc3339(row.try_get("created_at")?),
        updated_at: rfc3339(row.try_get("updated_at")?),
        deleted_at: row.try_get::<Option<i64>, _>("deleted_at")?.map(rfc3339),
    })
}

impl DeviceInput {
    /// The secrets of this input as (field, value) pairs, e.g. (`snmp.community`, ...).
    pub(crate) fn secret_fields(&self) -> Vec<(&'static str, &str)> {
        let mut out = Vec::new();
        if let Some(s) = &self.snmp {
            for (n, v) in [
                ("snmp.community", &s.community),
                ("snmp.auth_key", &s.auth_key),
                ("snmp.priv_key", &s.priv_key),
            ] {
                if let Some(v) = v {
                    out.push((n, v.as_str()));
                }
            }
        }
        if let Some(s) = &self.ssh {
            for (n, v) in [("ssh.key", &s.key), ("ssh.password", &s.password)] {
                if let Some(v) = v {
                    out.push((n, v.as_str()));
                }
            }
        }
        out
    }
}

impl Store {
    /// Creates a device after validating every field.
    pub async fn create_device(
        &self,
        input: &DeviceInput,
        created_by: &str,
        managed_by: ManagedBy,
        id: Option<&str>,
    ) -> Result<StoredDevice, InventoryError> {
        let address = input.validate()?;
        self.check_address_free(&address, None).await?;
        let id = id.map_or_else(|| format!("d-{}", random_token(9)), str::to_string);
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        let held = self.write_secrets(&mut tx, &id, input).await?;
        let (snmp, ssh) = views(input, &held);
        let r = sqlx::query(
            "INSERT INTO devices (id, name, address, device_type, vendor, model, location, tags, snmp, ssh, collectors, active, managed_by, created_by, created_at, updated_at, deleted_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, NULL)",
        )
        .bind(&id)
        .bind(input.name.trim())
        .bind(&address)
        .bind(&input.device_type)
        .bind(&input.vendor)
        .bind(&input.model)
        .bind(&input.location)
        .bind(serde_json::to_string(&input.tags).unwrap_or_default())
        .bind(snmp)
        .bind(ssh)
        .bind(serde_json::to_string(&input.collectors).unwrap_or_default())
        .bind(i64::from(input.active))
        .bind(if managed_by == ManagedBy::Config { "config" } else { "api" })
        .bind(created_by)
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await;
        map_unique(r, &address)?;
        tx.commit().await?;
        self.changed(&id);
        self.device(&id).await
    }

    /// A live (not deleted) device.
    pub async fn device(&self, id: &str) -> Result<StoredDevice, InventoryError> {
        let sql =
            format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE id = $1 AND deleted_at IS NULL");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| InventoryError::NotFound(format!("device `{id}`")))?;
        record_from_row(&row)
    }

    /// Replaces a device's fields. Secrets absent from `input` keep their stored value.
    /// Returns (before, after).
    pub async fn replace_device(
        &self,
        id: &str,
        input: &DeviceInput,
        allow_config: bool,
    ) -> Result<(StoredDevice, StoredDevice), InventoryError> {
        let before = self.device(id).await?;
        if before.managed_by == ManagedBy::Config && !allow_config {
            return Err(config_managed(id));
        }
        let stored: Vec<(String,)> = sqlx::query_as("SELECT name FROM secrets WHERE owner = $1")
            .bind(id)
            .fetch_all(&self.pool)
            .await?;
        let stored: Vec<String> = stored.into_iter().map(|(n,)| n).collect();
        let address = input.validate_with(&stored)?;
        self.check_address_free(&address, Some(id)).await?;
        let mut tx = self.pool.begin().await?;
        let held = self.write_secrets(&mut tx, id, input).await?;
        let (snmp, ssh) = views(input, &held);
        let r = sqlx::query(
            "UPDATE devices SET name = $1, address = $2, device_type = $3, vendor = $4, model = $5, location = $6, tags = $7, snmp = $8, ssh = $9, collectors = $10, active = $11, updated_at = $12 \
             WHERE id = $13 AND deleted_at IS NULL",
        )
        .bind(input.name.trim())
        .bind(&address)
        .bind(&input.device_type)
        .bind(&input.vendor)
        .bind(&input.model)
        .bind(&input.location)
        .bind(serde_json::to_string(&input.tags).unwrap_or_default())
        .bind(snmp)
        .bind(ssh)
        .bind(serde_json::to_string(&input.collectors).unwrap_or_default())
        .bind(i64::from(input.active))
        .bind(now_ms())
        .bind(id)
        .execute(&mut *tx)
        .await;
        map_unique(r, &address)?;
        tx.commit().await?;
        self.changed(id);
        Ok((before, self.device(id).await?))
    }

    /// Pins the host key a device presented on its first SSH connection (trust on first
    /// use): sets its `ssh.host_key` when none is pinned. Returns false, changing nothing,
    /// when a key is already pinned (also by a concurrent first use) or the device has no
    /// SSH settings.
    pub async fn pin_ssh_host_key(
        &self,
        id: &str,
        fingerprint: &str,
    ) -> Result<bool, InventoryError> {
        let row: Option<(Option<String>,)> =
            sqlx::query_as("SELECT ssh FROM devices WHERE id = $1 AND deleted_at IS NULL")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        let Some((Some(old),)) = row else {
            return Ok(false);
        };
        let mut view: SshView =
            serde_json::from_str(&old).map_err(|e| InventoryError::field("ssh", e.to_string()))?;
        if view.host_key.is_some() {
            return Ok(false);
        }
        view.host_key = Some(fingerprint.to_owned());
        let new = serde_json::to_string(&view).unwrap_or_default();
        // Compare-and-set on the stored settings: a concurrent change wins.
        let r = sqlx::query(
            "UPDATE devices SET ssh = $1, updated_at = $2 WHERE id = $3 AND deleted_at IS NULL AND ssh = $4",
        )
        .bind(new)
        .bind(now_ms())
        .bind(id)
        .bind(old)
        .execute(&self.pool)
        .await?;
        let pinned = r.rows_affected() == 1;
        if pinned {
            self.changed(id);
        }
        Ok(pinned)
    }

    /// Applies a JSON merge patch (RFC 7396) to a device.
    pub async fn patch_device(
        &self,
        id: &str,
        patch: &serde_json::Value,
    ) -> Result<(StoredDevice, StoredDevice), InventoryError> {
        let current = self.device(id).await?;
        if current.managed_by == ManagedBy::Config {
            return Err(config_managed(id));
        }
        let mut doc = serde_json::to_value(current.as_input())
            .map_err(|e| InventoryError::field("body", e.to_string()))?;
        merge_patch(&mut doc, patch);
        let input: DeviceInput = serde_json::from_value(doc)
            .map_err(|e| InventoryError::field("body", e.to_string()))?;
        self.replace_device(id, &input, false).await
    }

    /// Soft-deletes a device: it disappears from lists and its address is free again.
    pub async fn delete_device(
        &self,
        id: &str,
        allow_config: bool,
    ) -> Result<StoredDevice, InventoryError> {
        let before = self.device(id).await?;
        if before.managed_by == ManagedBy::Config && !allow_config {
            return Err(config_managed(id));
        }
        sqlx::query("UPDATE devices SET deleted_at = $1, updated_at = $1 WHERE id = $2 AND deleted_at IS NULL")
            .bind(now_ms())
            .bind(id)
            .execute(&self.pool)
            .await?;
        self.changed(id);
        Ok(before)
    }

    /// Makes the config-managed devices match `devices` (id, definition): creates,
    /// updates, and soft-deletes those no longer in the file. Returns how many changed.
    pub async fn sync_config_devices(
        &self,
        devices: &[(String, DeviceInput)],
    ) -> Result<usize, InventoryError> {
        let mut changed = 0;
        let existing: Vec<(String, Option<i64>)> =
            sqlx::query_as("SELECT id, deleted_at FROM devices WHERE managed_by = 'config'")
                .fetch_all(&self.pool)
                .await?;
        let live: std::collections::HashSet<&str> = existing
            .iter()
            .filter(|(_, d)| d.is_none())
            .map(|(id, _)| id.as_str())
            .collect();
        let wanted: std::collections::HashSet<&str> =
            devices.iter().map(|(id, _)| id.as_str()).collect();
        for id in live.difference(&wanted) {
            self.delete_device(id, true).await?;
            changed += 1;
        }
        for (id, input) in devices {
            if live.contains(id.as_str()) {
                let cur = self.device(id).await?;
                if cur.as_input() != *input {
                    self.replace_device(id, input, true).await?;
                    changed += 1;
                }
            } else {
                // A soft-deleted row with this id blocks the primary key: give it a new id.
                sqlx::query("UPDATE devices SET id = $1 WHERE id = $2 AND deleted_at IS NOT NULL")
                    .bind(format!("{id}~{}", random_token(6)))
                    .bind(id)
                    .execute(&self.pool)
                    .await?;
                match self
                    .create_device(input, "config", ManagedBy::Config, Some(id))
                    .await
                {
                    Ok(_) => changed += 1,
                    // Two configuration devices on one address (agents on different
                    // ports of one host, a lab): the collectors still poll both from
                    // the configuration; only the inventory row of the second is missing.
                    Err(InventoryError::Conflict(why)) => {
                        tracing::warn!(device = %id, reason = %why, "configuration device not imported into the inventory");
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(changed)
    }

    /// A stored secret of a device, opened to its plain value (for collectors only).
    pub async fn device_secret(
        &self,
        id: &str,
        name: &str,
    ) -> Result<Option<String>, InventoryError> {
        let v: Option<(String,)> =
            sqlx::query_as("SELECT value FROM secrets WHERE owner = $1 AND name = $2")
                .bind(id)
                .bind(name)
                .fetch_optional(&self.pool)
                .await?;
        v.map(|(v,)| self.key.open(id, name, &v)).transpose()
    }

    async fn check_address_free(
        &self,
        address: &str,
        except: Option<&str>,
    ) -> Result<(), InventoryError> {
        let other: Option<(String, String)> = sqlx::query_as(
            "SELECT id, name FROM devices WHERE address = $1 AND deleted_at IS NULL",
        )
        .bind(address)
        .fetch_optional(&self.pool)
        .await?;
        match other {
            Some((oid, name)) if Some(oid.as_str()) != except => Err(InventoryError::Conflict(
                format!("address {address} is already used by device `{name}` ({oid})"),
            )),
            _ => Ok(()),
        }
    }

    /// Seals the input's secrets; removes those of a section that is gone. Returns the
    /// names of the secrets now held.
    async fn write_secrets(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        id: &str,
        input: &DeviceInput,
    ) -> Result<Vec<String>, InventoryError> {
        for (prefix, present) in [
            ("snmp.%", input.snmp.is_some()),
            ("ssh.%", input.ssh.is_some()),
        ] {
            if !present {
                sqlx::query("DELETE FROM secrets WHERE owner = $1 AND name LIKE $2")
                    .bind(id)
                    .bind(prefix)
                    .execute(&mut **tx)
                    .await?;
            }
        }
        for (name, value) in input.secret_fields() {
            let stored = self.key.seal(id, name, value)?;
            sqlx::query("DELETE FROM secrets WHERE owner = $1 AND name = $2")
                .bind(id)
                .bind(name)
                .execute(&mut **tx)
                .await?;
            sqlx::query("INSERT INTO secrets (owner, name, value) VALUES ($1, $2, $3)")
                .bind(id)
                .bind(name)
                .bind(stored)
                .execute(&mut **tx)
                .await?;
        }
        let held: Vec<(String,)> = sqlx::query_as("SELECT name FROM secrets WHERE owner = $1")
            .bind(id)
            .fetch_all(&mut **tx)
            .await?;
        Ok(held.into_iter().map(|(n,)| n).collect())
    }
}

fn views(input: &DeviceInput, held: &[String]) -> (Option<String>, Option<String>) {
    let has = |n: &str| held.iter().any(|h| h == n);
    let snmp = input.snmp.as_ref().map(|s| SnmpView {
        version: s.version.clone(),
        port: s.port.unwrap_or(161),
        user: s.user.clone(),
        auth_protocol: s.auth_protocol.clone(),
        priv_protocol: s.priv_protocol.clone(),
        context: s.context.clone(),
        interval: s.interval.clone(),
        community_set: has("snmp.community"),
        auth_key_set: has("snmp.auth_key"),
        priv_key_set: has("snmp.priv_key"),
    });
    let ssh = input.ssh.as_ref().map(|s| SshView {
        port: s.port.unwrap_or(22),
        user: s.user.clone(),
        key_set: has("ssh.key"),
        password_set: has("ssh.password"),
        platform: s.platform.clone(),
        host_key: s.host_key.as_ref().map(|k| k.trim().to_owned()),
        legacy_algorithms: s.legacy_algorithms,
    });
    (
        snmp.map(|v| serde_json::to_string(&v).unwrap_or_default()),
        ssh.map(|v| serde_json::to_string(&v).unwrap_or_default()),
    )
}

fn config_managed(id: &str) -> InventoryError {
    InventoryError::Refused(format!(
        "device `{id}` is managed by the configuration file: change it there and restart"
    ))
}

fn map_unique<T>(r: Result<T, sqlx::Error>, address: &str) -> Result<T, InventoryError> {
    InventoryError::conflict_on_unique(r, || {
        format!("address {address} is already used by another device")
    })
}

/// RFC 7396 JSON merge patch.
fn merge_patch(target: &mut serde_json::Value, patch: &serde_json::Value) {
    use serde_json::Value;
    if let Value::Object(p) = patch {
        if !target.is_object() {
            *target = Value::Object(Default::default());
        }
        if let Value::Object(t) = target {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
    } else {
        *target = patch.clone();
    }
}
