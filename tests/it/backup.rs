//! `sotp backup` and `sotp restore` on a real server's data directory: a backup taken
//! while it runs and one taken after it stopped restore onto fresh directories that
//! answer the same SQL, hold the same devices (their sealed secrets open), users and
//! alerts. The master key is never in a backup; a wrong key, a damaged file or a
//! non-empty target is refused before anything is written.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::attacks::create_user;
use crate::common::{BIN, Server, free_port};

const COMMUNITY: &str = "backup-community-4711";

fn sotp(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("SOTP_MASTER_KEY")
        .output()
        .unwrap()
}

fn ok(args: &[&str]) -> String {
    let out = sotp(args);
    assert!(
        out.status.success(),
        "sotp {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Fails with a message containing `says`.
fn refused(args: &[&str], says: &str) {
    let out = sotp(args);
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "sotp {args:?} succeeded");
    assert!(
        text.contains(says),
        "sotp {args:?}: expected `{says}` in:\n{text}"
    );
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// The answers a restore must give again, read offline from the Parquet files.
fn answers(data: &Path) -> String {
    ok(&[
        "query",
        "--data-dir",
        p(data),
        // Integer sums: a float sum's last digit depends on the order files are read.
        "SELECT metric, device_id, count(*) AS n, min(time), max(time), min(value), \
         max(value), sum(CAST(round(value * 1000000) AS BIGINT)) AS micro_total \
         FROM metrics GROUP BY metric, device_id ORDER BY metric, device_id",
    ])
}

/// `sotp backup --config C --data-dir D --to DEST --key-to KEY`.
fn backup_args<'a>(
    config: &'a Path,
    data: &'a Path,
    dest: &'a Path,
    key_to: &'a Path,
) -> Vec<&'a str> {
    vec![
        "backup",
        "--config",
        p(config),
        "--data-dir",
        p(data),
        "--to",
        p(dest),
        "--key-to",
        p(key_to),
    ]
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

fn backup_folders(dest: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dest)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("manifest.json").exists())
        .collect();
    v.sort();
    v
}

fn device_view(server: &Server) -> Vec<Value> {
    let (status, v) = server.api("GET", "/api/v1/devices?limit=100", None);
    assert_eq!(status, 200, "{v}");
    let mut items: Vec<Value> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| json!([d["id"], d["name"], d["address"], d["snmp"]]))
        .collect();
    items.sort_by_key(|v| v.to_string());
    items
}

fn alert_ids(server: &Server) -> Vec<Value> {
    let (status, v) = server.api("GET", "/api/v1/alerts?limit=100", None);
    assert_eq!(status, 200, "{v}");
    let mut ids: Vec<Value> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].clone())
        .collect();
    ids.sort_by_key(|v| v.to_string());
    ids
}

#[test]
fn restored_backups_answer_like_the_original_and_a_wrong_key_or_damaged_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("sotp.toml");
    std::fs::write(
        &config,
        r#"
[icmp]
interval = "1s"
count = 1
timeout = "500ms"

[storage]
max_file_age = "1s"

[[device_ranges]]
name_prefix = "lo-"
first_address = "127.31.0.1"
count = 3
"#,
    )
    .unwrap();
    let data = dir.path().join("data");
    let dest = dir.path().join("backups");
    let keys = dir.path().join("keys");
    let key_file = keys.join("master.key");
    let backup = |extra: &[&str]| {
        ok(&[
            backup_args(&config, &data, &dest, &key_file),
            extra.to_vec(),
        ]
        .concat())
    };
    let mut server = Server::start(&config, &data, free_port());

    // A device with a sealed secret, a user, a rule that fires, and samples in Parquet.
    let (status, v) = server.api(
        "POST",
        "/api/v1/devices",
        Some(&json!({"name": "sw-backup", "address": "127.31.1.1",
                     "snmp": {"version": "2c", "community": COMMUNITY}})),
    );
    assert_eq!(status, 201, "{v}");
    create_user(&server, "ops", "ops-password-123", "operator");
    let (status, v) = server.api(
        "POST",
        "/api/v1/alert-rules",
        Some(&json!({"name": "answers-ping",
                     "threshold": {"metric": "icmp.up", "op": ">", "value": 0.5},
                     "every": "2s", "for": "2s", "severity": "info"})),
    );
    assert_eq!(status, 201, "{v}");
    let deadline = Instant::now() + Duration::from_secs(90);
    while alert_ids(&server).is_empty()
        || server.rows("SELECT count(*) FROM metrics")[0][0]
            .as_i64()
            .unwrap_or(0)
            < 10
    {
        assert!(
            Instant::now() < deadline,
            "no alert or samples within 90 s\n{}",
            server.log_text()
        );
        std::thread::sleep(Duration::from_millis(250));
    }

    // The key is kept apart from the backup, never inside it.
    refused(
        &backup_args(&config, &data, &dest, &dest.join("master.key")),
        "inside the backup destination",
    );
    // A backup while the server runs.
    backup(&[]);
    let devices = device_view(&server);
    let alerts = alert_ids(&server);
    assert_eq!(server.stop(), 0, "{}", server.log_text());
    let hot = backup_folders(&dest).pop().expect("a backup folder");
    // A second after the stop: the folders are named by the second.
    std::thread::sleep(Duration::from_millis(1100));
    backup(&[]);
    assert_eq!(backup_folders(&dest).len(), 2);
    let key = std::fs::read_to_string(&key_file).unwrap();
    assert_eq!(key.trim().len(), 64);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the key file is private");
    }
    for file in files_under(&dest) {
        let bytes = std::fs::read(&file).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains(key.trim()),
            "the master key is in {}",
            file.display()
        );
        assert!(
            !text.contains(COMMUNITY),
            "the community is plain in {}",
            file.display()
        );
    }

    // Refusals: nothing written with a wrong or missing key, a damaged file, a used dir.
    let target = dir.path().join("refused");
    let wrong = dir.path().join("wrong.key");
    std::fs::write(&wrong, "11".repeat(32)).unwrap();
    refused(
        &[
            "restore",
            "--from",
            p(&dest),
            "--key-from",
            p(&wrong),
            "--data-dir",
            p(&target),
        ],
        "does not match",
    );
    refused(
        &["restore", "--from", p(&dest), "--data-dir", p(&target)],
        "--key-from",
    );
    let damaged = dir.path().join("damaged");
    std::fs::create_dir_all(damaged.join("db")).unwrap();
    for f in ["manifest.json", "db/inventory.db"] {
        std::fs::copy(hot.join(f), damaged.join(f)).unwrap();
    }
    let mut db = std::fs::read(damaged.join("db/inventory.db")).unwrap();
    db[100] ^= 0xff;
    std::fs::write(damaged.join("db/inventory.db"), db).unwrap();
    refused(
        &[
            "restore",
            "--from",
            p(&damaged),
            "--key-from",
            p(&key_file),
            "--data-dir",
            p(&target),
        ],
        "db/inventory.db is damaged",
    );
    assert!(
        !target.exists(),
        "a refused restore wrote into {}",
        target.display()
    );
    refused(
        &[
            "restore",
            "--from",
            p(&dest),
            "--key-from",
            p(&key_file),
            "--data-dir",
            p(&data),
        ],
        "not empty",
    );

    // The newest (after the stop) restores to the same answers, offline and served.
    let restored = dir.path().join("restored");
    let said = ok(&[
        "restore",
        "--config",
        p(&config),
        "--from",
        p(&dest),
        "--key-from",
        p(&key_file),
        "--data-dir",
        p(&restored),
    ]);
    assert!(said.contains("integrity ok"), "{said}");
    assert_eq!(answers(&restored), answers(&data));
    let server = Server::start(&config, &restored, free_port());
    assert_eq!(device_view(&server), devices);
    for id in &alerts {
        assert!(alert_ids(&server).contains(id), "alert {id} restored");
    }
    server.login("ops", "ops-password-123");
    drop(server);

    // The one taken while the server ran restores too, with its devices and users.
    let from_hot = dir.path().join("from-hot");
    ok(&[
        "restore",
        "--config",
        p(&config),
        "--from",
        p(&hot),
        "--key-from",
        p(&key_file),
        "--data-dir",
        p(&from_hot),
    ]);
    let server = Server::start(&config, &from_hot, free_port());
    assert_eq!(device_view(&server), devices);
    server.login("ops", "ops-password-123");
    drop(server);

    // --keep 1 leaves the newest only.
    std::thread::sleep(Duration::from_millis(1100));
    backup(&["--keep", "1"]);
    assert_eq!(backup_folders(&dest).len(), 1);
}
