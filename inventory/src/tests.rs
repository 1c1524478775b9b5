//! Store tests, each run against SQLite and a real PostgreSQL server started for the test
//! (`scripts/pg-cluster.sh`, needs Debian's `postgresql`).

use std::path::PathBuf;
use std::process::Command;

use crate::*;

/// The caches seen from outside, by a second store on the same database.
mod caches;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/pg-cluster.sh");

/// A PostgreSQL cluster of one test, stopped on drop.
struct Pg {
    dir: PathBuf,
    port: u16,
    url: String,
    _tmp: tempfile::TempDir,
}

impl Pg {
    fn start() -> Pg {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("pg");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let out = Command::new(SCRIPT)
            .arg("start")
            .arg(&dir)
            .arg(port.to_string())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "cannot start PostgreSQL with `{SCRIPT} start`: {} (install it with `apt-get install postgresql`)",
            String::from_utf8_lossy(&out.stderr)
        );
        let url = String::from_utf8(out.stdout).unwrap().trim().to_string();
        Pg {
            dir,
            port,
            url,
            _tmp: tmp,
        }
    }

    fn dump(&self) -> String {
        let out = Command::new(SCRIPT)
            .arg("dump")
            .arg(&self.dir)
            .arg(self.port.to_string())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        let _ = Command::new(SCRIPT).arg("stop").arg(&self.dir).status();
    }
}

/// A store on each backend: (SQLite store and its dir, PostgreSQL store and cluster).
async fn stores() -> Vec<(Store, Backing)> {
    let tmp = tempfile::tempdir().unwrap();
    let key = MasterKey::generate();
    let sqlite = Store::open(
        &format!("sqlite://{}/inv.db", tmp.path().display()),
        key.clone(),
    )
    .await
    .unwrap();
    let pg = Pg::start();
    let postgres = Store::open(&pg.url, key).await.unwrap();
    vec![(sqlite, Backing::Sqlite(tmp)), (postgres, Backing::Pg(pg))]
}

/// A SQLite store alone, for rules the SQL of both backends shares.
async fn sqlite_store() -> (Store, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/inv.db", tmp.path().display());
    (Store::open(&url, MasterKey::generate()).await.unwrap(), tmp)
}

enum Backing {
    Sqlite(tempfile::TempDir),
    Pg(Pg),
}

impl Backing {
    /// Every byte the database holds, as text.
    fn raw(&self) -> String {
        match self {
            Backing::Sqlite(dir) => std::fs::read_dir(dir.path())
                .unwrap()
                .map(|e| {
                    String::from_utf8_lossy(&std::fs::read(e.unwrap().path()).unwrap()).into_owned()
                })
                .collect(),
            Backing::Pg(pg) => pg.dump(),
        }
    }
}

fn dev(name: &str, address: &str) -> DeviceInput {
    serde_json::from_value(serde_json::json!({"name": name, "address": address})).unwrap()
}

#[tokio::test]
async fn device_validation_lists_every_field_error() {
    let cases: &[(serde_json::Value, &[&str])] = &[
        (
            serde_json::json!({"name": "", "address": "10.0.0.300"}),
            &["name", "address"],
        ),
        (
            serde_json::json!({"name": "a", "address": "::1", "snmp": {"version": "4", "port": 0}}),
            &["snmp.version", "snmp.port"],
        ),
        (
            serde_json::json!({"name": "a", "address": "1.2.3.4", "snmp": {"version": "2c"}}),
            &["snmp.community"],
        ),
        (
            serde_json::json!({"name": "a", "address": "1.2.3.4", "snmp": {"version": "3", "priv_protocol": "ROT13"}}),
            &["snmp.user", "snmp.priv_protocol", "snmp.priv_protocol"],
        ),
        (
            serde_json::json!({"name": "a", "address": "1.2.3.4", "ssh": {"user": " ", "port": 70000}}),
            &["ssh.user", "ssh.port"],
        ),
        (
            serde_json::json!({"name": "a", "address": "1.2.3.4", "tags": [""], "collectors": {"telnet": {}, "icmp": {"interval": "0s"}}}),
            &["tags[0]", "collectors.icmp.interval", "collectors.telnet"],
        ),
    ];
    for (body, fields) in cases {
        let input: DeviceInput = serde_json::from_value(body.clone()).unwrap();
        match input.validate() {
            Err(InventoryError::Validation(errs)) => {
                let got: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
                assert_eq!(&got, fields, "{body}: {errs:?}");
            }
            other => panic!("{body}: expected validation errors, got {other:?}"),
        }
    }
    assert_eq!(
        dev("a", " 2001:DB8::0001 ").validate().unwrap(),
        "2001:db8::1"
    );
}

#[tokio::test]
async fn devices_crud_duplicates_soft_delete_pagination_and_sort_on_both_backends() {
    for (s, _b) in stores().await {
        let be = s.backend();
        let a = s
            .create_device(&dev("alpha", "10.0.0.1"), "alice", ManagedBy::Api, None)
            .await
            .unwrap();
        assert_eq!(a.created_by, "alice");
        let dup = s
            .create_device(&dev("other", "10.0.0.1"), "alice", ManagedBy::Api, None)
            .await;
        assert!(
            matches!(dup, Err(InventoryError::Conflict(ref m)) if m.contains("alpha")),
            "{be:?} {dup:?}"
        );
        s.delete_device(&a.id, false).await.unwrap();
        assert!(matches!(
            s.device(&a.id).await,
            Err(InventoryError::NotFound(_))
        ));
        let again = s
            .create_device(&dev("alpha2", "10.0.0.1"), "bob", ManagedBy::Api, None)
            .await
            .unwrap();
        assert_ne!(again.id, a.id);

        for i in 0..25 {
            let mut d = dev(&format!("n{i:02}"), &format!("10.1.0.{i}"));
            d.vendor = if i % 2 == 0 {
                "cisco".into()
            } else {
                "juniper".into()
            };
            d.tags = vec![format!("rack{}", i % 3)];
            d.active = i % 5 != 0;
            s.create_device(&d, "alice", ManagedBy::Api, None)
                .await
                .unwrap();
        }
        let f = |j: serde_json::Value| serde_json::from_value::<DeviceFilter>(j).unwrap();
        let p = s
            .list_devices(&f(
                serde_json::json!({"limit": 10, "offset": 20, "sort": "name"}),
            ))
            .await
            .unwrap();
        assert_eq!(p.total, 26, "{be:?}");
        let names: Vec<_> = p.items.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["n19", "n20", "n21", "n22", "n23", "n24"], "{be:?}");
        let p = s
            .list_devices(&f(serde_json::json!({"limit": 3, "sort": "-name"})))
            .await
            .unwrap();
        assert_eq!(
            p.items.iter().map(|d| d.name.as_str()).collect::<Vec<_>>(),
            ["n24", "n23", "n22"]
        );
        let p = s
            .list_devices(&f(serde_json::json!({"vendor": "cisco", "active": true})))
            .await
            .unwrap();
        assert_eq!(p.total, 10, "{be:?}"); // 13 even, minus 0, 10, 20
        let p = s
            .list_devices(&f(serde_json::json!({"tag": "rack1"})))
            .await
            .unwrap();
        assert_eq!(p.total, 8, "{be:?}");
        let p = s
            .list_devices(&f(serde_json::json!({"q": "10.1.0.2"})))
            .await
            .unwrap();
        assert_eq!(p.total, 6, "{be:?}"); // .2 and .20-.24
        let p = s
            .list_devices(&f(serde_json::json!({"q": "ALPHA"})))
            .await
            .unwrap();
        assert_eq!(p.total, 1);
        assert!(matches!(
            s.list_devices(&f(serde_json::json!({"sort": "password"})))
                .await,
            Err(InventoryError::Validation(_))
        ));

        let (_, after) = s
            .patch_device(
                &again.id,
                &serde_json::json!({"location": "lab", "tags": ["x"]}),
            )
            .await
            .unwrap();
        assert_eq!(
            (after.location.as_str(), after.tags.clone()),
            ("lab", vec!["x".to_string()])
        );
    }
}

#[tokio::test]
async fn config_devices_are_imported_and_refused_to_the_api() {
    for (s, _b) in stores().await {
        let cfg = vec![
            ("core1".to_string(), dev("core1", "192.0.2.1")),
            ("core2".to_string(), dev("core2", "192.0.2.2")),
        ];
        assert_eq!(s.sync_config_devices(&cfg).await.unwrap(), 2);
        let d = s.device("core1").await.unwrap();
        assert_eq!(d.managed_by, ManagedBy::Config);
        let e = s
            .replace_device("core1", &dev("x", "192.0.2.9"), false)
            .await
            .unwrap_err();
        assert!(
            matches!(e, InventoryError::Refused(ref m) if m.contains("configuration file")),
            "{e}"
        );
        assert!(matches!(
            s.delete_device("core1", false).await,
            Err(InventoryError::Refused(_))
        ));
        assert!(matches!(
            s.patch_device("core1", &serde_json::json!({"name": "y"}))
                .await,
            Err(InventoryError::Refused(_))
        ));
        // Removed from the file: soft-deleted; re-added: back.
        s.sync_config_devices(&cfg[..1]).await.unwrap();
        assert!(s.device("core2").await.is_err());
        s.sync_config_devices(&cfg).await.unwrap();
        assert_eq!(s.device("core2").await.unwrap().address, "192.0.2.2");
    }
}

#[tokio::test]
async fn secrets_never_stored_in_plain_text_and_survive_key_rotation() {
    for (s, backing) in stores().await {
        let body = serde_json::json!({
            "name": "r1", "address": "10.9.9.9",
            "snmp": {"version": "3", "user": "mon", "auth_protocol": "SHA", "auth_key": "Plain-Auth-Key-4711", "priv_protocol": "AES", "priv_key": "Plain-Priv-Key-0815"},
            "ssh": {"user": "netops", "password": "Plain-Ssh-Pass-2342", "key": "Plain-Ssh-Key-1357"}
        });
        let input: DeviceInput = serde_json::from_value(body).unwrap();
        let d = s
            .create_device(&input, "a", ManagedBy::Api, None)
            .await
            .unwrap();
        let shown = serde_json::to_string(&d).unwrap();
        assert!(
            shown.contains("\"auth_key_set\":true") && shown.contains("\"key_set\":true"),
            "{shown}"
        );
        s.audit(NewAudit {
            actor: "a".into(),
            action: "device.create".into(),
            after: Some(serde_json::to_value(&input).unwrap()),
            outcome: "success".into(),
            ..Default::default()
        })
        .await
        .unwrap();
        s.pool.close().await;
        let s = Store::open(
            &match &backing {
                Backing::Sqlite(t) => format!("sqlite://{}/inv.db", t.path().display()),
                Backing::Pg(p) => p.url.clone(),
            },
            s.key.clone(),
        )
        .await
        .unwrap();
        let raw = backing.raw();
        assert!(
            raw.contains("10.9.9.9"),
            "the search must see the data at all"
        );
        for plain in [
            "Plain-Auth-Key-4711",
            "Plain-Priv-Key-0815",
            "Plain-Ssh-Pass-2342",
            "Plain-Ssh-Key-1357",
        ] {
            assert!(
                !raw.contains(plain),
                "{:?}: {plain} found in the database",
                s.backend()
            );
            assert!(!shown.contains(plain));
        }
        assert_eq!(
            s.device_secret(&d.id, "snmp.auth_key")
                .await
                .unwrap()
                .as_deref(),
            Some("Plain-Auth-Key-4711")
        );
        let new_key = MasterKey::generate();
        assert_eq!(s.rotate_key(&new_key).await.unwrap(), 4);
        let s2 = Store::open(
            &match &backing {
                Backing::Sqlite(t) => format!("sqlite://{}/inv.db", t.path().display()),
                Backing::Pg(p) => p.url.clone(),
            },
            new_key,
        )
        .await
        .unwrap();
        assert_eq!(
            s2.device_secret(&d.id, "ssh.password")
                .await
                .unwrap()
                .as_deref(),
            Some("Plain-Ssh-Pass-2342")
        );
        assert!(
            s.device_secret(&d.id, "ssh.password").await.is_err(),
            "the old key no longer opens it"
        );
    }
}

#[tokio::test]
async fn the_api_path_refuses_secret_references_in_every_secret_field() {
    let (s, _dir) = sqlite_store().await;
    for (section, field) in [
        ("snmp", "community"),
        ("snmp", "auth_key"),
        ("snmp", "priv_key"),
        ("ssh", "key"),
        ("ssh", "password"),
    ] {
        for reference in ["env:SOTP_MASTER_KEY", "file:/etc/shadow", " vault:secret/x"] {
            let mut body = serde_json::json!({
                "name": "r", "address": "10.9.9.8",
                "snmp": {"version": "3", "user": "u", "auth_protocol": "SHA", "auth_key": "k1", "priv_protocol": "AES", "priv_key": "k2", "community": "c"},
                "ssh": {"user": "netops", "password": "p"}
            });
            body[section][field] = reference.into();
            let input: DeviceInput = serde_json::from_value(body).unwrap();
            match s.create_device(&input, "a", ManagedBy::Api, None).await {
                Err(InventoryError::Validation(f)) => {
                    assert_eq!(f.len(), 1, "{f:?}");
                    assert_eq!(f[0].field, format!("{section}.{field}"));
                    assert!(f[0].reason.contains("configuration file"), "{f:?}");
                }
                other => panic!("{section}.{field} = {reference}: {other:?}"),
            }
        }
    }
    assert!(s.all_devices().await.unwrap().is_empty());
}

#[tokio::test]
async fn sessions_rotate_and_reuse_revokes_the_family_and_failed_logins_slow_one_address() {
    for (s, _b) in stores().await {
        s.create_user("alice", "correct horse", Role::Operator, false)
            .await
            .unwrap();
        assert!(matches!(
            s.create_user("alice", "whatever12", Role::Admin, false)
                .await,
            Err(InventoryError::Conflict(_))
        ));
        assert!(matches!(
            s.create_user("bob", "short", Role::Admin, false).await,
            Err(InventoryError::Validation(_))
        ));
        let l = s
            .login("alice", "correct horse", "192.0.2.1")
            .await
            .unwrap();
        assert_eq!(l.user.role, Role::Operator);
        let r1 = s.refresh(&l.session.refresh_token).await.unwrap();
        assert_eq!(r1.session.id, l.session.id);
        assert!(s.session_user(&l.session.id).await.unwrap().is_some());
        // The first token again: stolen. The whole family dies, including r1's token.
        let e = s.refresh(&l.session.refresh_token).await.unwrap_err();
        assert!(e.to_string().contains("reused"), "{e}");
        assert!(s.refresh(&r1.session.refresh_token).await.is_err());
        assert!(s.session_user(&l.session.id).await.unwrap().is_none());

        // Five wrong guesses in parallel all count: the sixth attempt from that address
        // waits, even with the right password...
        let guesses = (0..5).map(|_| s.login("alice", "wrong", "198.51.100.7"));
        for r in futures::future::join_all(guesses).await {
            assert!(
                matches!(r, Err(InventoryError::Unauthenticated(_))),
                "{r:?}"
            );
        }
        assert!(matches!(
            s.login("alice", "correct horse", "198.51.100.7").await,
            Err(InventoryError::Throttled(n)) if n > 0
        ));
        // ...but the owner, from another address, is not locked out.
        assert!(s.login("alice", "correct horse", "192.0.2.1").await.is_ok());
        // An unknown name gets the same answers as a known one.
        for _ in 0..5 {
            assert!(matches!(
                s.login("nobody", "x", "198.51.100.7").await,
                Err(InventoryError::Unauthenticated(_))
            ));
        }
        assert!(matches!(
            s.login("nobody", "x", "198.51.100.7").await,
            Err(InventoryError::Throttled(n)) if n > 0
        ));

        let t = s
            .create_api_token("grafana", Role::Readonly, None, "alice")
            .await
            .unwrap();
        assert!(s.check_api_token(&t.token).await.unwrap().is_some());
        s.revoke_api_token(t.meta.id).await.unwrap();
        assert!(s.check_api_token(&t.token).await.unwrap().is_none());
        let t = s
            .create_api_token("short", Role::Readonly, Some(1), "alice")
            .await
            .unwrap();
        // Verified once, so the expiry is also checked on a cached token.
        assert!(s.check_api_token(&t.token).await.unwrap().is_some());
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        assert!(
            s.check_api_token(&t.token).await.unwrap().is_none(),
            "expired"
        );
    }
}

#[tokio::test]
async fn audit_is_append_only_and_redacts_secrets() {
    for (s, _b) in stores().await {
        s.audit(NewAudit {
            actor: "alice".into(),
            source: "127.0.0.1".into(),
            action: "user.create".into(),
            resource: "user/bob".into(),
            after: Some(serde_json::json!({"username": "bob", "password": "hunter2hunter2"})),
            outcome: "success".into(),
            ..Default::default()
        })
        .await
        .unwrap();
        let (rows, total) = s.audit_entries(&AuditFilter::default()).await.unwrap();
        assert_eq!(total, 1);
        assert_eq!(rows[0].after.as_ref().unwrap()["password"], "<redacted>");
        for sql in ["UPDATE audit SET actor = 'mallory'", "DELETE FROM audit"] {
            let e = sqlx::query(sql).execute(&s.pool).await.unwrap_err();
            assert!(
                e.to_string().contains("append-only"),
                "{:?} {sql}: {e}",
                s.backend()
            );
        }
        let (rows, _) = s
            .audit_entries(
                &serde_json::from_value(serde_json::json!({"resource": "user/"})).unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(rows.len(), 1);
    }
}

#[tokio::test]
async fn a_password_change_keeps_only_the_changing_session_and_sessions_have_an_end() {
    let (s, _dir) = sqlite_store().await;
    let u = s
        .create_user("bob", "first-password", Role::Operator, false)
        .await
        .unwrap();
    let a = s
        .login("bob", "first-password", "192.0.2.1")
        .await
        .unwrap()
        .session;
    let b = s
        .login("bob", "first-password", "192.0.2.1")
        .await
        .unwrap()
        .session;
    s.change_password(u.id, "first-password", "second-password", Some(&a.id))
        .await
        .unwrap();
    assert!(s.session_user(&a.id).await.unwrap().is_some());
    assert!(s.session_user(&b.id).await.unwrap().is_none());
    assert!(s.refresh(&b.refresh_token).await.is_err());
    let a2 = s.refresh(&a.refresh_token).await.unwrap().session;
    s.set_password(u.id, "third-password", false).await.unwrap();
    assert!(s.session_user(&a2.id).await.unwrap().is_none());

    // A session of no lifetime at all is over at once, refreshed or not.
    let short = s.clone().with_session_lifetime(std::time::Duration::ZERO);
    let c = short
        .login("bob", "third-password", "192.0.2.1")
        .await
        .unwrap()
        .session;
    assert!(short.session_user(&c.id).await.unwrap().is_none());
    let refused = short.refresh(&c.refresh_token).await.unwrap_err();
    assert!(
        refused.to_string().contains("maximum lifetime"),
        "{refused}"
    );
}

fn firing_event(
    fp: &str,
    t_ms: i64,
    repeat_s: u64,
    escalate: Option<u64>,
) -> sotp_schemas::AlertEvent {
    let t = sotp_schemas::UtcNanos(t_ms * 1_000_000);
    sotp_schemas::AlertEvent {
        time: t,
        rule_id: "hot".into(),
        rule_name: "hot".into(),
        device_id: None,
        state: sotp_schemas::AlertState::Firing,
        severity: "warning".into(),
        value: Some(1.0),
        message: "hot".into(),
        labels: std::collections::BTreeMap::from([("device".into(), fp.into())]),
        fingerprint: fp.into(),
        alert_id: format!("{fp}-1"),
        starts_at: Some(t),
        annotations: Default::default(),
        receivers: vec!["hook".into()],
        group_key: "hot".into(),
        group_wait_s: 0,
        group_interval_s: 0,
        repeat_interval_s: repeat_s,
        escalate_after_s: escalate,
        escalate_to: vec!["manager".into()],
    }
}

#[tokio::test]
async fn api_rules_repeats_and_escalations_follow_each_alerts_own_policy_on_both_backends() {
    for (store, _backing) in stores().await {
        // Alert rules managed through the API.
        let body = serde_json::json!({"name": "hot", "availability": "icmp.up"});
        store
            .create_alert_rule("hot", &body, "alice")
            .await
            .unwrap();
        let again = store
            .create_alert_rule("hot", &body, "bob")
            .await
            .unwrap_err();
        assert!(matches!(again, InventoryError::Conflict(_)), "{again}");
        let changed = serde_json::json!({"name": "hot", "availability": "poll.ok"});
        let r = store
            .update_alert_rule("hot", &changed, "bob")
            .await
            .unwrap();
        assert_eq!(
            (r.body, r.created_by, r.updated_by),
            (changed, "alice".into(), "bob".into())
        );
        assert_eq!(store.alert_rules().await.unwrap().len(), 1);
        store.delete_alert_rule("hot").await.unwrap();
        assert!(matches!(
            store.alert_rule("hot").await,
            Err(InventoryError::NotFound(_))
        ));
        assert!(matches!(
            store.update_alert_rule("hot", &body, "x").await,
            Err(InventoryError::NotFound(_))
        ));

        // Repeats: every 60 s after the start, once per due time, never when acknowledged.
        let t0 = 1_000_000;
        store
            .record_alert_event(&firing_event("a", t0, 60, Some(300)))
            .await
            .unwrap();
        store
            .record_alert_event(&firing_event("b", t0, 0, None))
            .await
            .unwrap();
        assert!(store.take_repeats(t0 + 59_999).await.unwrap().is_empty());
        let due: Vec<String> = store
            .take_repeats(t0 + 60_000)
            .await
            .unwrap()
            .into_iter()
            .map(|a| a.id)
            .collect();
        assert_eq!(due, vec!["a-1".to_string()]);
        assert!(
            store.take_repeats(t0 + 60_000).await.unwrap().is_empty(),
            "taken once"
        );
        assert!(store.take_repeats(t0 + 119_999).await.unwrap().is_empty());
        assert_eq!(store.take_repeats(t0 + 120_000).await.unwrap().len(), 1);
        // Escalation after 300 s, to the alert's own escalation receivers, once.
        assert!(
            store
                .take_escalations(t0 + 299_999)
                .await
                .unwrap()
                .is_empty()
        );
        let esc = store.take_escalations(t0 + 300_000).await.unwrap();
        assert_eq!(esc.len(), 1);
        assert_eq!(
            (esc[0].0.id.as_str(), esc[0].1.clone()),
            ("a-1", vec!["manager".to_string()])
        );
        assert!(
            store
                .take_escalations(t0 + 400_000)
                .await
                .unwrap()
                .is_empty()
        );
        store
            .acknowledge_alert("a-1", "carol", "on it", None)
            .await
            .unwrap();
        assert!(
            store.take_repeats(t0 + 1_000_000).await.unwrap().is_empty(),
            "acknowledged"
        );

        // The last delivery of a group to a receiver (group_interval's start).
        assert_eq!(store.last_group_send("hook", "hot").await.unwrap(), None);
        let n = NewNotification {
            alert_id: "b-1".into(),
            transition: "firing".into(),
            payload_status: "firing".into(),
            receiver: "hook".into(),
            group_key: "hot".into(),
            not_before: 0,
            suppressed_by: None,
        };
        store.queue_notifications(&[n]).await.unwrap();
        let due = store.due_notifications(now_ms(), 10).await.unwrap();
        let ids: Vec<i64> = due.iter().map(|n| n.id).collect();
        let before = now_ms();
        store.record_attempt(&ids, None, 3, None).await.unwrap();
        let sent = store.last_group_send("hook", "hot").await.unwrap().unwrap();
        assert!(sent >= before, "{sent} {before}");
        assert_eq!(store.last_group_send("hook", "other").await.unwrap(), None);
    }
}
