//! Device changes as published on `inventory`: every change is announced, secrets travel
//! sealed and open with the master key, per-collector settings and
//! the active flag decide what is polled. SQLite (the SQL is the same on PostgreSQL,
//! which `tests.rs` covers for the rest of the store).

use sotp_schemas::{Device, DeviceRecord, SnmpVersion};

use crate::*;

async fn store() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("inv.db").display());
    (Store::open(&url, MasterKey::generate()).await.unwrap(), dir)
}

fn input(v: serde_json::Value) -> DeviceInput {
    serde_json::from_value(v).unwrap()
}

#[tokio::test]
async fn every_change_is_announced_with_sealed_secrets_and_the_collectors_settings() {
    let (s, _dir) = store().await;
    let mut changes = s.subscribe_changes();
    let d = s
        .create_device(
            &input(serde_json::json!({
                "name": "edge", "address": "127.0.0.5",
                "snmp": {"version": "3", "user": "mon", "auth_protocol": "sha256",
                         "auth_key": "Plain-Auth-4711", "priv_protocol": "AES-256",
                         "priv_key": "Plain-Priv-0815"},
                "collectors": {"icmp": {"interval": "2s"}, "snmp": {"interval": "5s"}}
            })),
            "tester",
            ManagedBy::Api,
            None,
        )
        .await
        .unwrap();
    assert_eq!(changes.recv().await.unwrap(), d.id);

    let change = s.inventory_change(&d.id).await.unwrap();
    let record = change.device.clone().unwrap();
    let json = String::from_utf8(record.to_json().unwrap()).unwrap();
    assert!(!json.contains("Plain-Auth-4711"), "{json}");
    assert!(json.contains("\"auth_key\":\"enc:v1:"), "{json}");
    assert!(!json.contains("Plain-Priv-0815"), "{json}");
    assert!(json.contains("\"priv_key\":\"enc:v1:"), "{json}");
    assert!(record.unsealed_secrets().is_empty());
    assert!(json.contains("\"interval_ms\":5000"), "{json}");
    let mut dev: Device = DeviceRecord::from_json(json.as_bytes()).unwrap().into();
    assert!(dev.open_secrets(s.master_key()).is_empty());
    assert_eq!(dev.icmp.interval, Some(std::time::Duration::from_secs(2)));
    let snmp = dev.snmp.as_ref().unwrap();
    assert_eq!(snmp.version, SnmpVersion::V3);
    let usm = snmp.usm.as_ref().unwrap();
    assert_eq!(
        usm.auth.as_ref().unwrap().1.expose().unwrap(),
        "Plain-Auth-4711"
    );
    assert_eq!(
        usm.privacy.as_ref().unwrap().1.expose().unwrap(),
        "Plain-Priv-0815"
    );
    // Another key does not open it: the secret stays sealed.
    let mut other: Device = record.clone().into();
    assert_eq!(
        other.open_secrets(&MasterKey::generate()),
        ["snmp.auth_key", "snmp.priv_key"]
    );

    // Disabling SNMP keeps the device for ICMP only; a patch keeps stored secrets.
    s.patch_device(
        &d.id,
        &serde_json::json!({"collectors": {"snmp": {"enabled": false}}}),
    )
    .await
    .unwrap();
    assert_eq!(changes.recv().await.unwrap(), d.id);
    let c = s.inventory_change(&d.id).await.unwrap().device.unwrap();
    assert!(c.snmp.is_none() && c.icmp.enabled);
    s.patch_device(
        &d.id,
        &serde_json::json!({"collectors": {"snmp": {"enabled": true}}}),
    )
    .await
    .unwrap();
    let c = s.inventory_change(&d.id).await.unwrap().device.unwrap();
    assert_eq!(c.snmp.unwrap().auth_key, record.snmp.unwrap().auth_key);

    // Inactive, then deleted: published as deletions.
    s.patch_device(&d.id, &serde_json::json!({"active": false}))
        .await
        .unwrap();
    assert!(s.inventory_change(&d.id).await.unwrap().device.is_none());
    s.patch_device(&d.id, &serde_json::json!({"active": true}))
        .await
        .unwrap();
    assert_eq!(
        s.collector_devices(Some(ManagedBy::Api))
            .await
            .unwrap()
            .len(),
        1
    );
    s.delete_device(&d.id, false).await.unwrap();
    let mut seen = Vec::new();
    while let Ok(id) = changes.try_recv() {
        seen.push(id);
    }
    assert_eq!(seen.len(), 4, "{seen:?}");
    assert!(s.inventory_change(&d.id).await.unwrap().device.is_none());
    assert!(s.collector_devices(None).await.unwrap().is_empty());
    let snap = s.inventory_snapshot().await.unwrap();
    assert_eq!(snap.len(), 1);
    assert!(snap[0].device.is_none());
}
