//! Devices: what the API accepts, what it returns (never a secret), and their storage.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::secrets::SecretRef;
use crate::{InventoryError, Store, now_ms, random_token};

fn yes() -> bool {
    true
}

/// SNMP settings as sent by a client. Secrets may be plain (sealed on write) or
/// `env:NAME` / `file:/path` references.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnmpInput {
    /// `1`, `2c` or `3`.
    pub version: String,
    /// UDP port (default 161).
    #[serde(default)]
    pub port: Option<i64>,
    /// v1/v2c community (secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub community: Option<String>,
    /// v3 user name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// v3 authentication protocol: MD5, SHA, SHA-224, SHA-256, SHA-384, SHA-512.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_protocol: Option<String>,
    /// v3 authentication key (secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_key: Option<String>,
    /// v3 privacy protocol: DES, AES, AES-192, AES-256.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priv_protocol: Option<String>,
    /// v3 privacy key (secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priv_key: Option<String>,
}

/// SSH settings as sent by a client.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SshInput {
    /// TCP port (default 22).
    #[serde(default)]
    pub port: Option<i64>,
    /// Login user.
    pub user: String,
    /// Private key in OpenSSH format (secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Password (secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

/// Whether and how often one collector polls the device.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectorSettings {
    /// Poll with this collector.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Overrides the collector's interval, e.g. `30s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
}

/// A device as created or replaced through the API.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceInput {
    /// Display name.
    pub name: String,
    /// IPv4 or IPv6 management address, unique among live devices.
    pub address: String,
    /// Kind of device: router, switch, firewall...
    #[serde(default, rename = "type")]
    pub device_type: String,
    /// Vendor.
    #[serde(default)]
    pub vendor: String,
    /// Model.
    #[serde(default)]
    pub model: String,
    /// Site, rack...
    #[serde(default)]
    pub location: String,
    /// Free-form tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// SNMP settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snmp: Option<SnmpInput>,
    /// SSH settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh: Option<SshInput>,
    /// Per-collector settings keyed by collector (`icmp`, `snmp`, `ssh`).
    #[serde(default)]
    pub collectors: BTreeMap<String, CollectorSettings>,
    /// Monitored at all.
    #[serde(default = "yes")]
    pub active: bool,
}

/// SNMP settings as returned: secrets only say whether they are set.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SnmpView {
    /// `1`, `2c` or `3`.
    pub version: String,
    /// UDP port.
    pub port: i64,
    /// v3 user.
    pub user: Option<String>,
    /// v3 authentication protocol.
    pub auth_protocol: Option<String>,
    /// v3 privacy protocol.
    pub priv_protocol: Option<String>,
    /// A community is stored.
    pub community_set: bool,
    /// An authentication key is stored.
    pub auth_key_set: bool,
    /// A privacy key is stored.
    pub priv_key_set: bool,
}

/// SSH settings as returned.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SshView {
    /// TCP port.
    pub port: i64,
    /// Login user.
    pub user: String,
    /// A private key is stored.
    pub key_set: bool,
    /// A password is stored.
    pub password_set: bool,
}

/// Who owns a device's definition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ManagedBy {
    /// Created through the API; the API may change it.
    Api,
    /// Imported from the configuration file; change it there.
    Config,
}

/// A device as stored and returned.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeviceRecord {
    /// Stable id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Canonical address.
    pub address: String,
    /// Kind of device.
    #[serde(rename = "type")]
    pub device_type: String,
    /// Vendor.
    pub vendor: String,
    /// Model.
    pub model: String,
    /// Location.
    pub location: String,
    /// Tags.
    pub tags: Vec<String>,
    /// SNMP settings without secrets.
    pub snmp: Option<SnmpView>,
    /// SSH settings without secrets.
    pub ssh: Option<SshView>,
    /// Per-collector settings.
    pub collectors: BTreeMap<String, CollectorSettings>,
    /// Monitored at all.
    pub active: bool,
    /// `api` or `config`.
    pub managed_by: ManagedBy,
    /// User who created it (`config` for imported devices).
    pub created_by: String,
    /// Creation time, RFC 3339.
    pub created_at: String,
    /// Last change, RFC 3339.
    pub updated_at: String,
    /// Deletion time (soft delete), RFC 3339.
    pub deleted_at: Option<String>,
}

pub(crate) fn rfc3339(ms: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_millis(t).to_string()
}

pub(crate) const DEVICE_COLUMNS: &str = "id, name, address, device_type, vendor, model, location, tags, snmp, ssh, collectors, active, managed_by, created_by, created_at, updated_at, deleted_at";

pub(crate) fn record_from_row(row: &AnyRow) -> Result<DeviceRecord, InventoryError> {
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
    Ok(DeviceRecord {
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

/// The secrets of one input, as (name, plain or reference) pairs.
fn input_secrets(input: &DeviceInput) -> Vec<(&'static str, &str)> {
    let mut out = Vec::new();
    if let Some(s) = &input.snmp {
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
    if let Some(s) = &input.ssh {
        for (n, v) in [("ssh.key", &s.key), ("ssh.password", &s.password)] {
            if let Some(v) = v {
                out.push((n, v.as_str()));
            }
        }
    }
    out
}

impl Store {
    /// Creates a device after validating every field.
    pub async fn create_device(
        &self,
        input: &DeviceInput,
        created_by: &str,
        managed_by: ManagedBy,
        id: Option<&str>,
    ) -> Result<DeviceRecord, InventoryError> {
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
        self.device(&id).await
    }

    /// A live (not deleted) device.
    pub async fn device(&self, id: &str) -> Result<DeviceRecord, InventoryError> {
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
    ) -> Result<(DeviceRecord, DeviceRecord), InventoryError> {
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
        Ok((before, self.device(id).await?))
    }

    /// Applies a JSON merge patch (RFC 7396) to a device.
    pub async fn patch_device(
        &self,
        id: &str,
        patch: &serde_json::Value,
    ) -> Result<(DeviceRecord, DeviceRecord), InventoryError> {
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
    ) -> Result<DeviceRecord, InventoryError> {
        let before = self.device(id).await?;
        if before.managed_by == ManagedBy::Config && !allow_config {
            return Err(config_managed(id));
        }
        sqlx::query("UPDATE devices SET deleted_at = $1, updated_at = $1 WHERE id = $2 AND deleted_at IS NULL")
            .bind(now_ms())
            .bind(id)
            .execute(&self.pool)
            .await?;
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
                self.create_device(input, "config", ManagedBy::Config, Some(id))
                    .await?;
                changed += 1;
            }
        }
        Ok(changed)
    }

    /// A stored secret of a device, resolved to its plain value (for collectors only).
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
        v.map(|(v,)| SecretRef::from_stored(&v).resolve(&self.key, id, name))
            .transpose()
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
        for (name, value) in input_secrets(input) {
            let stored = SecretRef::from_input(&self.key, id, name, value)?.stored();
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

impl DeviceRecord {
    /// The record as an input (without secrets), the base of a merge patch.
    pub fn as_input(&self) -> DeviceInput {
        DeviceInput {
            name: self.name.clone(),
            address: self.address.clone(),
            device_type: self.device_type.clone(),
            vendor: self.vendor.clone(),
            model: self.model.clone(),
            location: self.location.clone(),
            tags: self.tags.clone(),
            snmp: self.snmp.as_ref().map(|s| SnmpInput {
                version: s.version.clone(),
                port: Some(s.port),
                user: s.user.clone(),
                auth_protocol: s.auth_protocol.clone(),
                priv_protocol: s.priv_protocol.clone(),
                ..SnmpInput::default()
            }),
            ssh: self.ssh.as_ref().map(|s| SshInput {
                port: Some(s.port),
                user: s.user.clone(),
                key: None,
                password: None,
            }),
            collectors: self.collectors.clone(),
            active: self.active,
        }
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
        community_set: has("snmp.community"),
        auth_key_set: has("snmp.auth_key"),
        priv_key_set: has("snmp.priv_key"),
    });
    let ssh = input.ssh.as_ref().map(|s| SshView {
        port: s.port.unwrap_or(22),
        user: s.user.clone(),
        key_set: has("ssh.key"),
        password_set: has("ssh.password"),
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
    match r {
        Err(sqlx::Error::Database(e)) if e.kind() == sqlx::error::ErrorKind::UniqueViolation => {
            Err(InventoryError::Conflict(format!(
                "address {address} is already used by another device"
            )))
        }
        other => Ok(other?),
    }
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
