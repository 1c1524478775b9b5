//! The control plane end to end on the real binary: devices with secrets through the API
//! on SQLite and on a real PostgreSQL server (the raw database never holds a secret in
//! plain text), config-managed devices, the `audit` and `devices` SQL tables, and the
//! `sotp user create` and `sotp secrets rotate-key` commands.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::common::{BIN, Server, free_port};

const PG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/pg-cluster.sh");

/// A PostgreSQL cluster of one test (`scripts/pg-cluster.sh`), stopped on drop.
pub(crate) struct Pg {
    dir: PathBuf,
    port: u16,
    pub(crate) url: String,
}

impl Pg {
    pub(crate) fn start(parent: &Path) -> Pg {
        let dir = parent.join("pg");
        let port = free_port();
        let out = Command::new(PG)
            .arg("start")
            .arg(&dir)
            .arg(port.to_string())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "`{PG} start` failed (install PostgreSQL with `apt-get install postgresql` or scripts/setup-peers.sh): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let url = String::from_utf8(out.stdout).unwrap().trim().to_string();
        Pg { dir, port, url }
    }

    fn dump(&self) -> String {
        let out = Command::new(PG)
            .arg("dump")
            .arg(&self.dir)
            .arg(self.port.to_string())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pg_dump: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        let _ = Command::new(PG).arg("stop").arg(&self.dir).status();
    }
}

const SECRETS: [&str; 4] = [
    "Community-Plain-7731",
    "Auth-Key-Plain-9152",
    "Ssh-Key-Plain-3346",
    "Priv-Key-Plain-5519",
];

fn device_with_secrets() -> Value {
    json!({
        "name": "edge-1", "address": "127.9.9.9", "type": "router", "vendor": "cisco", "tags": ["edge"],
        "snmp": {"version": "3", "user": "mon", "auth_protocol": "SHA", "auth_key": SECRETS[1], "priv_protocol": "AES", "priv_key": SECRETS[3]},
        "ssh": {"user": "netops", "key": SECRETS[2]},
        "collectors": {"icmp": {"enabled": false}}
    })
}

/// Creates devices with secrets, checks no response shows one; returns all responses.
fn exercise(server: &Server) -> String {
    let mut seen = String::new();
    let (s, d) = server.api("POST", "/api/v1/devices", Some(&device_with_secrets()));
    assert_eq!(s, 201, "{d}");
    seen += &d.to_string();
    let (s, d2) = server.api("POST", "/api/v1/devices", Some(&json!({"name": "sw-1", "address": "127.9.9.10", "snmp": {"version": "2c", "community": SECRETS[0]}})));
    assert_eq!(s, 201, "{d2}");
    seen += &d2.to_string();
    let id = d["id"].as_str().unwrap();
    let (s, p) = server.api(
        "PATCH",
        &format!("/api/v1/devices/{id}"),
        Some(&json!({"location": "dc-2"})),
    );
    assert_eq!(s, 200, "{p}");
    seen += &p.to_string();
    for path in ["/api/v1/devices", "/api/v1/audit"] {
        let (s, v) = server.api("GET", path, None);
        assert_eq!(s, 200, "{v}");
        seen += &v.to_string();
    }
    let (s, v) = server.sql("SELECT * FROM audit");
    assert_eq!(s, 200, "{v}");
    seen += &v.to_string();
    assert_eq!(p["snmp"]["auth_key_set"], true, "{p}");
    assert_eq!(p["ssh"]["key_set"], true, "{p}");
    for secret in SECRETS {
        assert!(!seen.contains(secret), "an API response shows {secret}");
    }
    // Metrics join the inventory.
    let rows = server.rows(
        "SELECT d.name, d.vendor, d.tags FROM devices d WHERE d.managed_by = 'api' ORDER BY d.name",
    );
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0][0], "edge-1");
    let rows = server
        .rows("SELECT action, actor, outcome FROM audit WHERE action LIKE 'device.%' ORDER BY id");
    assert_eq!(
        rows.iter()
            .map(|r| r[0].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["device.create", "device.create", "device.patch"]
    );
    seen
}

/// Every file under `dir`, as text (lossy): what a secret must never appear in.
pub(crate) fn all_bytes(dir: &Path) -> String {
    let mut out = String::new();
    for e in walk(dir) {
        out += &String::from_utf8_lossy(&std::fs::read(e).unwrap_or_default());
    }
    out
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                v.extend(walk(&p))
            } else {
                v.push(p)
            }
        }
    }
    v
}

#[test]
fn sqlite_control_plane_keeps_no_secret_in_plain_text() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("sotp.toml");
    std::fs::write(
        &config,
        "[[devices]]\nid = \"core\"\nname = \"core\"\naddress = \"127.9.8.1\"\n",
    )
    .unwrap();
    let data = dir.path().join("data");
    let mut server = Server::start(&config, &data, free_port());
    exercise(&server);

    // The configuration's device is there, managed by the file.
    let (s, core) = server.api("GET", "/api/v1/devices/core", None);
    assert_eq!(
        (s, core["managed_by"].as_str()),
        (200, Some("config")),
        "{core}"
    );
    let (s, v) = server.api("DELETE", "/api/v1/devices/core", None);
    assert_eq!(s, 409, "{v}");

    // A second user through the CLI, while the server runs.
    crate::common::stdout_ok(
        Command::new(BIN)
            .args([
                "user",
                "create",
                "--username",
                "viewer",
                "--role",
                "readonly",
                "--config",
            ])
            .arg(&config)
            .arg("--data-dir")
            .arg(&data)
            .env("SOTP_PASSWORD", "viewer-password"),
    );
    let viewer = server.login("viewer", "viewer-password");
    let (s, _) = server.api_as(&viewer, "GET", "/api/v1/devices", None);
    assert_eq!(s, 200);
    let (s, v) = server.api_as(
        &viewer,
        "POST",
        "/api/v1/query",
        Some(&json!({"sql": "SELECT count(*) FROM audit"})),
    );
    assert_eq!(s, 403, "{v}");
    let (s, _) = server.api_as(
        &viewer,
        "POST",
        "/api/v1/devices",
        Some(&json!({"name": "x", "address": "127.9.9.11"})),
    );
    assert_eq!(s, 403);

    // An API token through the CLI, written to a file (mode 0600) for a service such as
    // Grafana; a second run leaves the file alone.
    let token_file = dir.path().join("grafana.token");
    for _ in 0..2 {
        crate::common::stdout_ok(
            Command::new(BIN)
                .args(["token", "create", "--name", "grafana", "--role", "readonly"])
                .arg("--config")
                .arg(&config)
                .arg("--data-dir")
                .arg(&data)
                .arg("--out")
                .arg(&token_file),
        );
    }
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&token_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let token = std::fs::read_to_string(&token_file).unwrap();
    let (s, v) = server.api_as(
        &token,
        "POST",
        "/api/v1/query",
        Some(&json!({"sql": "SELECT count(*) FROM devices"})),
    );
    assert_eq!(s, 200, "{v}");
    let (_, tokens) = server.api("GET", "/api/v1/tokens", None);
    let made = tokens["items"]
        .as_array()
        .map(|a| a.iter().filter(|t| t["name"] == "grafana").count());
    assert_eq!(made, Some(1), "{tokens}");
    assert_eq!(server.stop(), 0);

    let raw = all_bytes(&data);
    assert!(
        raw.contains("127.9.9.10"),
        "the search must see the database at all"
    );
    for secret in SECRETS {
        assert!(
            !raw.contains(secret),
            "{secret} is stored in plain text under {}",
            data.display()
        );
        assert!(
            !server.log_text().contains(secret),
            "{secret} is in the log"
        );
    }

    // Rotate the master key, then the server starts again on the new key.
    let out = Command::new(BIN)
        .args(["secrets", "rotate-key", "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(&data)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("re-sealed 4 secrets"),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let server = Server::start(&config, &data, free_port());
    let (s, v) = server.api("GET", "/api/v1/devices?q=edge", None);
    assert_eq!((s, v["total"].as_i64()), (200, Some(1)), "{v}");
}

#[test]
fn postgres_control_plane_keeps_no_secret_in_plain_text() {
    let dir = tempfile::tempdir().unwrap();
    let pg = Pg::start(dir.path());
    let config = dir.path().join("sotp.toml");
    std::fs::write(&config, format!("[database]\nurl = \"{}\"\n", pg.url)).unwrap();
    let data = dir.path().join("data");
    let mut server = Server::start(&config, &data, free_port());
    exercise(&server);
    assert_eq!(server.stop(), 0);
    let dump = pg.dump();
    assert!(
        dump.contains("127.9.9.10") && dump.contains("edge-1"),
        "the dump must hold the devices"
    );
    for secret in SECRETS {
        assert!(
            !dump.contains(secret),
            "{secret} is in the PostgreSQL dump in plain text"
        );
    }
    // No SQLite database anywhere under the data directory (the alert windows' state
    // names devices and their addresses, as the `devices` table rules read).
    let sqlite: Vec<PathBuf> = walk(&data)
        .into_iter()
        .filter(|p| {
            std::fs::read(p)
                .unwrap_or_default()
                .starts_with(b"SQLite format 3\0")
        })
        .collect();
    assert!(sqlite.is_empty(), "no SQLite file was used: {sqlite:?}");
}

/// schemathesis (PyPI) fuzzes every route of /api/v1/openapi.json on a running server
/// with an admin API token: no 5xx, and every response matches the documented status
/// codes and schemas.
#[test]
fn schemathesis_finds_no_server_error_and_responses_match_the_schema() {
    let py = std::env::var("SOTP_PYTHON").unwrap_or_else(|_| "python3".into());
    let st = Path::new(&py).with_file_name("schemathesis");
    assert!(
        st.is_file(),
        "{} not found: run scripts/test.sh (scripts/setup-peers.sh installs schemathesis into the venv and sets SOTP_PYTHON)",
        st.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("sotp.toml");
    std::fs::write(
        &config,
        "[[devices]]\nid = \"core\"\nname = \"core\"\naddress = \"127.9.7.1\"\n",
    )
    .unwrap();
    let server = Server::start(&config, &dir.path().join("data"), free_port());
    let (s, t) = server.api(
        "POST",
        "/api/v1/tokens",
        Some(&json!({"name": "schemathesis", "role": "admin"})),
    );
    assert_eq!(s, 201, "{t}");
    server.api(
        "POST",
        "/api/v1/devices",
        Some(&json!({"name": "r1", "address": "127.9.7.2"})),
    );
    let out = Command::new(&st)
        .arg("run")
        .arg(format!("{}/api/v1/openapi.json", server.url))
        .arg("-H")
        .arg(format!(
            "Authorization: Bearer {}",
            t["token"].as_str().unwrap()
        ))
        .args([
            "--checks",
            "not_a_server_error,response_schema_conformance,status_code_conformance",
        ])
        .args(["-n", "15", "--seed", "42", "--request-timeout", "30"])
        // A live tail never ends: nothing for a request/response fuzzer to check.
        .args(["--exclude-path", "/api/v1/logs/stream"])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "schemathesis found problems:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("passed"), "{text}");
}
