//! The SSH collector against a real OpenSSH server playing a Cisco IOS device: scheduled
//! commands land in `command_outputs` with the rows of their template; the running
//! configuration is stored with its secrets masked, once per change (also across a
//! restart), the first logged as `CONFIG_BASELINE` and each change as `CONFIG_CHANGED`, and its versions and their diff are
//! served by the API.

use std::path::Path;

use serde_json::Value;

use super::peer::{FakeDevice, SshPeer};
use super::{backups, ios_brief, ios_device, r1_toml, wait_for};
use crate::attacks::create_user;
use crate::common::{Server, free_port};

const SECRETS: [&str; 3] = [
    "$1$mERr$hx5rVt7rPNoS4wqbXKX7m0",
    "S3cr3tComm",
    "NotInTheTable!",
];

/// A running configuration changed at `at`, with `extra` lines before `end`.
fn running_config(at: &str, extra: &str) -> String {
    format!(
        "Building configuration...\n\nCurrent configuration : 1234 bytes\n!\n\
         ! Last configuration change at {at} UTC\n!\nhostname r1\n!\n\
         enable secret 5 {}\n!\nusername admin privilege 15 password 0 {}\n\
         snmp-server community {} RO\n!\ninterface GigabitEthernet0/1\n ip address 10.0.0.1 255.255.255.0\n{extra}!\nend\n",
        SECRETS[0], SECRETS[2], SECRETS[1]
    )
}

fn config(peer: &SshPeer, key: &Path) -> String {
    format!(
        r#"[icmp]
enabled = false

[ssh]
templates_dir = {templates:?}
backup_interval = "1s"

[[ssh.collect]]
platform = "cisco_ios"
commands = ["show ip interface brief"]
interval = "1s"
"#,
        templates =
            std::env::var("SOTP_NTC_TEMPLATES").expect("SOTP_NTC_TEMPLATES (scripts/test.sh)"),
    ) + &r1_toml(peer, key)
}

fn count(server: &Server, sql: &str) -> i64 {
    server.rows(sql)[0][0].as_i64().unwrap()
}

#[test]
fn scheduled_commands_and_configuration_versions_are_stored_masked_once_per_change() {
    let dir = tempfile::tempdir().unwrap();
    let running = dir.path().join("running-config.txt");
    std::fs::write(&running, running_config("12:00:00", "")).unwrap();
    let peer = SshPeer::start(&FakeDevice {
        outputs: vec![
            ("show ip interface brief".into(), ios_brief()),
            ("show running-config".into(), running.clone()),
        ],
        ..ios_device(&[])
    });
    let key = dir.path().join("r1.key");
    std::fs::write(&key, &peer.client_key_ed25519).unwrap();
    let config_file = dir.path().join("sotp.toml");
    std::fs::write(&config_file, config(&peer, &key)).unwrap();
    let data = dir.path().join("data");
    let mut server = Server::start(&config_file, &data, free_port());

    // Scheduled collection: the output and the template's rows.
    wait_for("two collections", &server, || {
        count(
            &server,
            "SELECT count(*) FROM command_outputs WHERE kind = 'collect' AND ok",
        ) >= 2
    });
    let rows = server.rows(
        "SELECT output, parsed, template, platform, command FROM command_outputs \
         WHERE kind = 'collect' ORDER BY time LIMIT 1",
    );
    let raw = std::fs::read_to_string(ios_brief())
        .unwrap()
        .replace("\r\n", "\n");
    assert_eq!(rows[0][0].as_str().unwrap(), raw);
    let parsed: Value = serde_json::from_str(rows[0][1].as_str().unwrap()).unwrap();
    assert!(parsed.as_array().is_some_and(|r| r.len() > 2), "{parsed}");
    assert_eq!(parsed[0]["interface"], "Ethernet0/0", "{parsed}");
    assert_eq!(rows[0][2], "cisco_ios_show_ip_interface_brief.textfsm");
    assert_eq!(
        (rows[0][3].as_str(), rows[0][4].as_str()),
        (Some("cisco_ios"), Some("show ip interface brief"))
    );

    // The configuration: one version while it does not change, secrets masked.
    let versions = || {
        count(
            &server,
            "SELECT count(*) FROM command_outputs WHERE kind = 'config'",
        )
    };
    wait_for("a first version", &server, || versions() >= 1);
    let seen = backups(&peer);
    wait_for("three more backups", &server, || backups(&peer) >= seen + 3);
    assert_eq!(versions(), 1, "an unchanged configuration is stored once");
    let text = server.rows("SELECT output FROM command_outputs WHERE kind = 'config'")[0][0]
        .as_str()
        .unwrap()
        .to_owned();
    for secret in SECRETS {
        assert!(
            !text.contains(secret),
            "{secret} stored in plain text:\n{text}"
        );
    }
    assert_eq!(text.matches("<removed>").count(), 3, "{text}");
    assert!(text.contains("hostname r1"));

    // A change: a second version, logged, served with its diff.
    std::fs::write(
        &running,
        running_config("13:00:00", "interface Loopback9\n"),
    )
    .unwrap();
    wait_for("a second version", &server, || versions() >= 2);
    let logged = |msgid: &str| {
        count(
            &server,
            &format!("SELECT count(*) FROM logs WHERE msgid = '{msgid}' AND device_id = 'r1'"),
        )
    };
    assert_eq!(
        (logged("CONFIG_BASELINE"), logged("CONFIG_CHANGED")),
        (1, 1),
        "the first version is logged as a baseline, the change as a change"
    );
    let (status, v) = server.api("GET", "/api/v1/devices/r1/configs", None);
    assert_eq!(status, 200, "{v}");
    let list = v["versions"].as_array().unwrap();
    assert_eq!(list.len(), 2, "{v}");
    assert_eq!(list[0]["previous_hash"], list[1]["config_hash"]);
    assert_eq!(list[1]["previous_hash"], Value::Null);
    let (status, d) = server.api("GET", "/api/v1/devices/r1/configs/diff", None);
    assert_eq!(status, 200, "{d}");
    let diff = d["diff"].as_str().unwrap();
    let added: Vec<&str> = diff
        .lines()
        .filter(|l| l.starts_with('+') && !l.starts_with("+++"))
        .collect();
    let removed: Vec<&str> = diff
        .lines()
        .filter(|l| l.starts_with('-') && !l.starts_with("---"))
        .collect();
    // The only lines that differ: the new interface and the change time's comment.
    assert!(added.contains(&"+interface Loopback9"), "{diff}");
    assert_eq!((added.len(), removed.len()), (2, 1), "{diff}");
    let newest = list[0]["config_hash"].as_str().unwrap();
    let (status, one) = server.api("GET", &format!("/api/v1/devices/r1/configs/{newest}"), None);
    assert_eq!(status, 200, "{one}");
    assert!(
        one["config"]
            .as_str()
            .unwrap()
            .contains("interface Loopback9")
    );
    let (status, _) = server.api("GET", "/api/v1/devices/r1/configs/0000", None);
    assert_eq!(status, 404);

    // Readonly users see neither the routes nor the table.
    create_user(&server, "reader", "reader-password-1", "readonly");
    let reader = server.login("reader", "reader-password-1");
    let (status, _) = server.api_as(&reader, "GET", "/api/v1/devices/r1/configs", None);
    assert_eq!(status, 403);
    let (status, v) = server.api_as(
        &reader,
        "POST",
        "/api/v1/query",
        Some(&serde_json::json!({"sql": "SELECT count(*) FROM command_outputs"})),
    );
    assert!((400..500).contains(&status), "{status} {v}");

    // After a restart the last digest is known: no new version of the same text.
    assert_eq!(server.stop(), 0);
    let mut server = Server::start(&config_file, &data, free_port());
    let seen = backups(&peer);
    wait_for("three backups after the restart", &server, || {
        backups(&peer) >= seen + 3
    });
    let versions = count(
        &server,
        "SELECT count(*) FROM command_outputs WHERE kind = 'config'",
    );
    assert_eq!(versions, 2);
    assert_eq!(server.stop(), 0);
}

/// An IOS-XR device answering `show version` with a real one (the shared corpus).
fn xr_device() -> FakeDevice {
    FakeDevice {
        name: "r2".into(),
        prompt: "RP/0/RSP0/CPU0:r2#".into(),
        outputs: vec![("show version".into(), xr_version())],
        hang: Vec::new(),
        paging: false,
        more: " --More-- ".into(),
        paging_off: Vec::new(),
        legacy_only: false,
    }
}

fn xr_version() -> std::path::PathBuf {
    super::corpus("cisco_xr/show_version/cisco_xr_show_version.raw")
}

#[test]
fn typed_tables_give_the_parsed_rows_of_common_commands_as_columns_by_role() {
    let (ios, xr) = (
        SshPeer::start(&ios_device(&[])),
        SshPeer::start(&xr_device()),
    );
    let dir = tempfile::tempdir().unwrap();
    let key = |peer: &SshPeer, name: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, &peer.client_key_ed25519).unwrap();
        path.display().to_string()
    };
    let device = |id: &str, n: u8, platform: &str, peer: &SshPeer, key: String| {
        format!(
            "[[devices]]\nid = \"{id}\"\nname = \"{id}\"\naddress = \"127.0.0.{n}\"\n\
             ssh = {{ user = {:?}, key = \"file:{key}\", platform = \"{platform}\", host_key = {:?}, port = {} }}\n",
            peer.user, peer.host_fingerprint, peer.port
        )
    };
    let config = format!(
        "[icmp]\nenabled = false\n\n[ssh]\ntemplates_dir = {:?}\nbackup_interval = \"0s\"\n\n\
         [[ssh.collect]]\nplatform = \"cisco_ios\"\ncommands = [\"show ip interface brief\"]\ninterval = \"1s\"\n\n\
         [[ssh.collect]]\nplatform = \"cisco_xr\"\ncommands = [\"show version\"]\ninterval = \"1s\"\n\n{}\n{}",
        super::templates(),
        device("r1", 1, "cisco_ios", &ios, key(&ios, "r1.key")),
        device("r2", 2, "cisco_xr", &xr, key(&xr, "r2.key")),
    );
    let file = dir.path().join("sotp.toml");
    std::fs::write(&file, config).unwrap();
    let server = Server::start(&file, &dir.path().join("data"), free_port());
    wait_for("both commands collected", &server, || {
        count(
            &server,
            "SELECT count(DISTINCT device_id) FROM command_outputs WHERE kind = 'collect' AND ok",
        ) == 2
    });

    // `interface_status`: one row per interface of the first collection, equal to the
    // parsed JSON of `command_outputs` and to what Python's ntc-templates parses.
    let first = "(SELECT min(time) FROM command_outputs WHERE device_id = 'r1')";
    let rows = server.rows(&format!(
        "SELECT interface, ip_address, status, protocol FROM interface_status \
         WHERE device_id = 'r1' AND time = {first} ORDER BY interface"
    ));
    let mut want: Vec<Vec<Value>> =
        super::python_rows("cisco_ios", "show ip interface brief", &ios_brief())
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                ["interface", "ip_address", "status", "proto"]
                    .iter()
                    .map(|k| r[*k].clone())
                    .collect()
            })
            .collect();
    want.sort_by(|a, b| a[0].as_str().cmp(&b[0].as_str()));
    assert!(want.len() > 2, "{want:?}");
    assert_eq!(rows, want);

    // `device_versions`: the IOS-XR `show version`, its fields under the common names.
    let rows = server.rows(
        "SELECT device, platform, version, model, uptime FROM device_versions \
         WHERE device_id = 'r2' ORDER BY time LIMIT 1",
    );
    let py = &super::python_rows("cisco_xr", "show version", &xr_version())[0];
    assert_eq!(
        rows,
        vec![vec![
            Value::from("r2"),
            Value::from("cisco_xr"),
            py["version"].clone(),
            py["hardware"].clone(),
            py["uptime"].clone(),
        ]]
    );
    assert!(
        py["version"].as_str().is_some_and(|v| !v.is_empty()),
        "{py}"
    );

    // Like `command_outputs`: for operators, not for readonly users.
    create_user(&server, "viewer", "viewer-password-1", "readonly");
    let viewer = server.login("viewer", "viewer-password-1");
    let (status, v) = server.api_as(
        &viewer,
        "POST",
        "/api/v1/query",
        Some(&serde_json::json!({"sql": "SELECT count(*) FROM interface_status"})),
    );
    assert_eq!(status, 403, "{v}");
    assert!(v.to_string().contains("interface_status"), "{v}");
}
