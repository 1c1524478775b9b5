//! `POST /api/v1/devices/{id}/execute` against real OpenSSH servers playing device CLIs
//! (`peer.rs`, `fake_cli.py`): outputs of real devices (the shared corpus) come back
//! with the rows ntc-templates' template finds; nothing outside the allowlist ever
//! reaches a device; a changed host key, a hanging device and the per-user rate are
//! refused with clear errors; every command is audited before and after.

use std::time::Duration;

use serde_json::{Value, json};

use super::peer::SshPeer;
use super::{ios_brief, ios_device, python_rows, templates, wait_for};
use crate::attacks::create_user;
use crate::common::{Server, free_port, stdout_ok};

/// `sotp run` with `[ssh]` holding `ssh` (and the templates; no configuration backups:
/// every byte a device receives here comes from the API), then `rest`.
fn start(dir: &tempfile::TempDir, ssh: &str, rest: &str) -> Server {
    let config = dir.path().join("sotp.toml");
    std::fs::write(
        &config,
        format!(
            "[icmp]\nenabled = false\n\n[ssh]\ntemplates_dir = {:?}\nbackup_interval = \"0s\"\n{ssh}\n{rest}",
            templates()
        ),
    )
    .unwrap();
    Server::start(&config, &dir.path().join("data"), free_port())
}

/// Adds a device for `peer` at 127.0.0.`n` (inventory addresses are unique; the peer
/// listens on several); returns its id.
fn add_device(server: &Server, name: &str, n: u8, peer: &SshPeer, ssh: Value) -> String {
    let mut settings = json!({
        "port": peer.port,
        "user": peer.user,
        "key": peer.client_key_ed25519,
        "platform": "cisco_ios",
        "host_key": peer.host_fingerprint,
    });
    for (k, v) in ssh.as_object().unwrap() {
        if v.is_null() {
            settings.as_object_mut().unwrap().remove(k);
        } else {
            settings[k] = v.clone();
        }
    }
    assert!(n <= super::peer::LOOPBACK_ADDRESSES);
    let (status, v) = server.api(
        "POST",
        "/api/v1/devices",
        Some(&json!({"name": name, "address": format!("127.0.0.{n}"), "ssh": settings})),
    );
    assert_eq!(status, 201, "{v}");
    v["id"].as_str().unwrap().to_string()
}

fn execute(server: &Server, token: &str, id: &str, command: &str) -> (u16, Value) {
    server.api_as(
        token,
        "POST",
        &format!("/api/v1/devices/{id}/execute"),
        Some(&json!({ "command": command })),
    )
}

/// Runs `command` and expects it refused with `status` and error `code`; returns the
/// error's message.
fn refused(
    server: &Server,
    token: &str,
    id: &str,
    command: &str,
    status: u16,
    code: &str,
) -> String {
    let (got, v) = execute(server, token, id, command);
    assert_eq!(
        (got, v["error"]["code"].as_str()),
        (status, Some(code)),
        "{v}"
    );
    v["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn audit(server: &Server) -> Vec<Value> {
    let (status, v) = server.api(
        "GET",
        "/api/v1/audit?action=device.execute&limit=1000",
        None,
    );
    assert_eq!(status, 200, "{v}");
    v["items"].as_array().unwrap().clone()
}

#[test]
fn execute_returns_parsed_output_refuses_injections_and_audits_every_command() {
    let peer = SshPeer::start(&ios_device(&["show clock"]));
    let dir = tempfile::tempdir().unwrap();
    let server = start(
        &dir,
        "commands_per_minute = 1000\ncommand_timeout = \"3s\"",
        "",
    );
    let id = add_device(&server, "r1", 2, &peer, json!({}));
    let admin = server.token.clone();

    // An allowed command: the device's output, exactly, and ntc-templates' rows for it.
    let (status, v) = execute(&server, &admin, &id, "show  ip interface brief ");
    assert_eq!(status, 200, "{v}");
    let raw = std::fs::read_to_string(ios_brief()).unwrap();
    assert_eq!(v["output"].as_str().unwrap(), raw.replace("\r\n", "\n"));
    assert_eq!(v["command"], "show ip interface brief");
    assert_eq!(v["exit_status"], 0);
    assert_eq!(v["template"], "cisco_ios_show_ip_interface_brief.textfsm");
    let rows = python_rows("cisco_ios", "show ip interface brief", &ios_brief());
    assert!(rows.as_array().is_some_and(|r| r.len() > 2), "{rows}");
    assert_eq!(v["parsed"], rows);
    assert!(v["duration_ms"].as_u64().is_some());

    // Injection attempts: all refused before a connection, each with its reason.
    let attempts = [
        "show version; reload",
        "show version\nreload",
        "show version\r\nconfigure terminal",
        "show ip interface brief | redirect flash:x",
        "show ip interface brief && reload",
        "show `reload`",
        "show $(reload)",
        "configure terminal",
        "reload",
        "write memory",
        "copy running-config tftp://10.0.0.1/x",
        "show ip interface brief\u{0}reload",
        "show ip interface brief\u{1b}reload",
        "",
        "debug all",
    ];
    for cmd in attempts {
        let (status, v) = execute(&server, &admin, &id, cmd);
        assert_eq!(status, 422, "{cmd:?}: {v}");
        assert_eq!(v["error"]["code"], "command_refused", "{cmd:?}");
        assert!(!v["error"]["message"].as_str().unwrap().is_empty());
    }
    // An allowed command the device does not know: its answer, not an error.
    let (status, v) = execute(&server, &admin, &id, "show version");
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["exit_status"], 1);
    assert!(v["output"].as_str().unwrap().contains("Invalid input"));
    // The show version template finds no row in an error message.
    assert_eq!(v["template"], "cisco_ios_show_version.textfsm");
    assert_eq!(v["parsed"], json!([]));

    // Every byte the device ever received is one of the allowed commands sent above.
    let received = peer.received_until(Duration::from_secs(10), |r| r.len() >= 2);
    let sent: Vec<String> = received
        .iter()
        .map(|(kind, bytes)| {
            assert_eq!(kind, "exec");
            String::from_utf8(bytes.clone()).unwrap()
        })
        .collect();
    assert_eq!(sent, ["show ip interface brief", "show version"]);

    // Roles: a readonly user may not run commands; an operator may.
    create_user(&server, "reader", "reader-password-1", "readonly");
    create_user(&server, "op", "operator-password-1", "operator");
    let reader = server.login("reader", "reader-password-1");
    let (status, v) = execute(&server, &reader, &id, "show ip interface brief");
    assert_eq!(status, 403, "{v}");
    let op = server.login("op", "operator-password-1");
    let (status, v) = execute(&server, &op, &id, "show interfaces");
    assert_eq!(status, 200, "{v}");
    assert!(v["parsed"].as_array().is_some_and(|r| !r.is_empty()), "{v}");

    // A device that never answers: 504 after the command timeout, and the API goes on.
    refused(&server, &admin, &id, "show clock", 504, "device_timeout");
    let (status, _) = execute(&server, &admin, &id, "show ip interface brief");
    assert_eq!(status, 200);

    // A changed host key: refused before logging in, nothing sent.
    let before = peer.received().len();
    let wrong = add_device(
        &server,
        "r1-wrong-key",
        3,
        &peer,
        json!({"host_key": peer.other_host_fingerprint}),
    );
    let message = refused(
        &server,
        &admin,
        &wrong,
        "show ip interface brief",
        502,
        "host_key_changed",
    );
    assert!(message.contains(&peer.host_fingerprint), "{message}");
    // ... and reported on `logs` for alert rules to watch (a critical `HOST_KEY_CHANGED`).
    let changed = format!(
        "SELECT severity, vendor_mnemonic, message FROM logs \
         WHERE msgid = 'HOST_KEY_CHANGED' AND device_id = '{wrong}'"
    );
    wait_for("the changed host key on logs", &server, || {
        !server.rows(&changed).is_empty()
    });
    let row = &server.rows(&changed)[0];
    assert_eq!(row[0], 2, "{row:?}");
    assert_eq!(row[1], "SOTP-2-HOST_KEY_CHANGED", "{row:?}");
    assert!(
        row[2].as_str().unwrap().contains(&peer.host_fingerprint)
            && row[2]
                .as_str()
                .unwrap()
                .contains(&peer.other_host_fingerprint),
        "{row:?}"
    );
    // No host key pinned and no trust on first use: refused before connecting.
    let unpinned = add_device(&server, "r1-unpinned", 4, &peer, json!({"host_key": null}));
    refused(
        &server,
        &admin,
        &unpinned,
        "show ip interface brief",
        409,
        "no_host_key",
    );
    assert_eq!(peer.received().len(), before);

    // The audit log: every attempt, refused ones too; runs before and after, the output's
    // first 500 characters.
    let entries = audit(&server);
    let outcomes = |o: &str| entries.iter().filter(|e| e["outcome"] == o).count();
    assert_eq!(outcomes("refused"), attempts.len());
    assert_eq!(outcomes("started"), 6, "{entries:#?}");
    assert_eq!(outcomes("success"), 4);
    assert_eq!(outcomes("device_timeout"), 1);
    assert_eq!(outcomes("host_key_changed"), 1);
    let done = entries
        .iter()
        .find(|e| e["outcome"] == "success" && e["after"]["command"] == "show interfaces")
        .expect("the operator's command is audited");
    assert_eq!(done["actor"], "op");
    let head = done["after"]["output_head"].as_str().unwrap();
    assert_eq!(head.chars().count(), 500);
    assert!(done["after"]["duration_ms"].as_u64().is_some());
    // Secrets never reach the audit log or the server's log.
    let everything = format!("{entries:?}{}", server.log_text());
    assert!(!everything.contains("PRIVATE KEY"));
}

#[test]
fn keys_of_every_kind_log_in_first_use_pins_the_host_key_config_devices_run_and_the_rate_is_per_user()
 {
    let peer = SshPeer::start(&ios_device(&[]));
    let dir = tempfile::tempdir().unwrap();
    // A device of the configuration file, its key read from a file.
    let key = dir.path().join("cfg.key");
    std::fs::write(&key, &peer.client_key_ed25519).unwrap();
    let server = start(
        &dir,
        "commands_per_minute = 3\ntrust_on_first_use = true",
        &format!(
            "[[devices]]\nid = \"cfg-r1\"\nname = \"cfg-r1\"\naddress = \"127.0.0.9\"\n\
             ssh = {{ user = {:?}, key = \"file:{}\", platform = \"cisco_ios\", host_key = {:?}, port = {} }}\n",
            peer.user,
            key.display(),
            peer.host_fingerprint,
            peer.port
        ),
    );
    let admin = server.token.clone();

    // Trust on first use: the key presented is accepted and pinned.
    let tofu = add_device(
        &server,
        "tofu",
        2,
        &peer,
        json!({"host_key": null, "key": peer.client_key_rsa}),
    );
    let (status, v) = execute(&server, &admin, &tofu, "show ip interface brief");
    assert_eq!(status, 200, "{v}");
    let (_, d) = server.api("GET", &format!("/api/v1/devices/{tofu}"), None);
    assert_eq!(d["ssh"]["host_key"], peer.host_fingerprint.as_str(), "{d}");
    assert!(
        audit(&server)
            .iter()
            .any(|e| e["outcome"] == "host_key_pinned"),
        "the pinning is audited"
    );
    // An ECDSA key.
    let ecdsa = add_device(
        &server,
        "ecdsa",
        3,
        &peer,
        json!({"key": peer.client_key_ecdsa}),
    );
    let (status, v) = execute(&server, &admin, &ecdsa, "sh ip int br");
    // The fake CLI knows only the full command: the abbreviation reaches it as typed.
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["exit_status"], 1);
    // The third command of the minute, then 429 with Retry-After.
    let (status, _) = execute(&server, &admin, &tofu, "show interfaces");
    assert_eq!(status, 200);
    let (status, v) = execute(&server, &admin, &tofu, "show interfaces");
    assert_eq!(status, 429, "{v}");
    assert_eq!(v["error"]["code"], "rate_limited");
    // Another user has a rate of their own.
    create_user(&server, "op", "operator-password-1", "operator");
    let op = server.login("op", "operator-password-1");
    let (status, v) = execute(&server, &op, &tofu, "show ip interface brief");
    assert_eq!(status, 200, "{v}");
    let (status, v) = execute(&server, &op, "cfg-r1", "show ip interface brief");
    assert_eq!(status, 200, "{v}");
    assert!(v["parsed"].as_array().is_some_and(|r| !r.is_empty()), "{v}");
    let execs = peer.received().iter().filter(|(k, _)| k == "exec").count();
    assert_eq!(execs, 5);
}

#[test]
fn a_password_login_runs_commands_keeps_the_password_sealed_and_a_wrong_one_is_named() {
    let peer = SshPeer::start_with_password(&ios_device(&[]));
    let password = peer.password.clone().expect("a password peer");
    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir, "commands_per_minute = 1000", "");
    let admin = server.token.clone();

    // The device's password, given once through the API, logs in.
    let id = add_device(
        &server,
        "pw",
        2,
        &peer,
        json!({"key": null, "password": password}),
    );
    let (status, v) = execute(&server, &admin, &id, "show ip interface brief");
    assert_eq!(status, 200, "{v}\nsshd log:\n{}", peer.log_text());
    let raw = std::fs::read_to_string(ios_brief()).unwrap();
    assert_eq!(v["output"].as_str().unwrap(), raw.replace("\r\n", "\n"));
    assert!(
        peer.log_text().contains("Accepted password for"),
        "sshd did not log a password login:\n{}",
        peer.log_text()
    );

    // It is never shown again, nor stored or logged in plain text.
    let (status, d) = server.api("GET", &format!("/api/v1/devices/{id}"), None);
    assert_eq!(status, 200, "{d}");
    assert_eq!(d["ssh"]["password_set"], true, "{d}");
    assert_eq!(d["ssh"]["key_set"], false, "{d}");
    assert!(!d.to_string().contains(&password), "{d}");
    assert!(
        !crate::control_plane::all_bytes(&dir.path().join("data")).contains(&password),
        "the password is stored in plain text under the data directory"
    );
    assert!(
        !server.log_text().contains(&password),
        "the password is logged"
    );
    assert!(
        !format!("{:?}", audit(&server)).contains(&password),
        "the password is in the audit log"
    );

    // A wrong password: refused by the device, named as such, nothing run.
    let wrong = add_device(
        &server,
        "wrong",
        3,
        &peer,
        json!({"key": null, "password": format!("{password}-not")}),
    );
    let before = peer.received().len();
    let message = refused(
        &server,
        &admin,
        &wrong,
        "show ip interface brief",
        502,
        "ssh_auth_failed",
    );
    assert!(
        message.contains(&format!("authentication as {} failed", peer.user)),
        "{message}"
    );
    assert_eq!(
        peer.received().len(),
        before,
        "a command reached the device"
    );
}

#[test]
fn a_known_hosts_file_stands_for_a_pinned_key_and_refuses_a_changed_or_unlisted_one() {
    let peer = SshPeer::start(&ios_device(&[]));
    let dir = tempfile::tempdir().unwrap();
    // Device 2's key as the server has it, device 3's as another key; device 4 unlisted.
    // Hashed by ssh-keygen -H, as OpenSSH writes them by default on Debian.
    let known_hosts = dir.path().join("known_hosts");
    std::fs::write(
        &known_hosts,
        format!(
            "[127.0.0.2]:{port} {}\n[127.0.0.3]:{port} {}\n",
            peer.host_public_key,
            peer.other_host_public_key,
            port = peer.port
        ),
    )
    .unwrap();
    stdout_ok(
        std::process::Command::new("ssh-keygen")
            .arg("-H")
            .arg("-f")
            .arg(&known_hosts),
    );
    let hashed = std::fs::read_to_string(&known_hosts).unwrap();
    assert!(!hashed.contains("127.0.0"), "{hashed}");
    let server = start(
        &dir,
        &format!("commands_per_minute = 1000\nknown_hosts = {known_hosts:?}"),
        "",
    );
    let admin = server.token.clone();
    let unpinned =
        |name: &str, n: u8| add_device(&server, name, n, &peer, json!({"host_key": null}));
    let (listed, changed, unlisted) = (
        unpinned("listed", 2),
        unpinned("changed", 3),
        unpinned("unlisted", 4),
    );

    let (status, v) = execute(&server, &admin, &listed, "show ip interface brief");
    assert_eq!(status, 200, "{v}");
    // Listed, not trusted on first use: nothing pinned in the inventory.
    let (_, d) = server.api("GET", &format!("/api/v1/devices/{listed}"), None);
    assert_eq!(d["ssh"]["host_key"], Value::Null, "{d}");

    let before = peer.received().len();
    let message = refused(
        &server,
        &admin,
        &changed,
        "show ip interface brief",
        502,
        "host_key_changed",
    );
    assert!(
        message.contains("line 2 of") && message.contains(&peer.host_fingerprint),
        "{message}"
    );
    let message = refused(
        &server,
        &admin,
        &unlisted,
        "show ip interface brief",
        409,
        "host_key_unknown",
    );
    assert!(
        message.contains(&format!("[127.0.0.4]:{} is not in", peer.port)),
        "{message}"
    );
    assert_eq!(
        peer.received().len(),
        before,
        "a refused device received something"
    );
}
