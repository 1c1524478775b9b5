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
use crate::common::{BIN, Server, free_port, http};
use crate::s3_storage::{aws_env, s3_objects, start_moto};

const COMMUNITY: &str = "backup-community-4711";
const S3_BACKUPS: &str = "s3://backups/sotp";

fn sotp(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(BIN)
        .args(args)
        .envs(env.iter().copied())
        .env_remove("SOTP_MASTER_KEY")
        .output()
        .unwrap()
}

fn ok(args: &[&str]) -> String {
    ok_with(args, &[])
}

fn ok_with(args: &[&str], env: &[(&str, &str)]) -> String {
    let out = sotp(args, env);
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
    refused_with(args, &[], says);
}

fn refused_with(args: &[&str], env: &[(&str, &str)], says: &str) {
    let out = sotp(args, env);
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

/// `sotp restore --config C --from FROM --key-from KEY --data-dir TARGET`.
fn restore_args<'a>(
    config: &'a Path,
    from: &'a Path,
    key: &'a Path,
    target: &'a Path,
) -> Vec<&'a str> {
    vec![
        "restore",
        "--config",
        p(config),
        "--from",
        p(from),
        "--key-from",
        p(key),
        "--data-dir",
        p(target),
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
    let said = ok(&restore_args(&config, &dest, &key_file, &restored));
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
    ok(&restore_args(&config, &hot, &key_file, &from_hot));
    let server = Server::start(&config, &from_hot, free_port());
    assert_eq!(device_view(&server), devices);
    server.login("ops", "ops-password-123");
    drop(server);

    // --keep 1 leaves the newest only.
    std::thread::sleep(Duration::from_millis(1100));
    backup(&["--keep", "1"]);
    assert_eq!(backup_folders(&dest).len(), 1);
}

#[test]
fn on_s3_the_parquet_files_are_listed_not_copied_and_a_restore_checks_they_are_still_there() {
    let port = free_port();
    let _moto = start_moto(port);
    let endpoint = format!("http://127.0.0.1:{port}");
    for bucket in ["telemetry", "backups"] {
        let (status, body) = http("PUT", &format!("{endpoint}/{bucket}"), Some("")).unwrap();
        assert_eq!(status, 200, "create bucket {bucket}: {body}");
    }
    let aws = aws_env(&endpoint);
    let env: Vec<(&str, &str)> = aws.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("sotp.toml");
    std::fs::write(
        &config,
        "[icmp]\ninterval = \"1s\"\ntimeout = \"200ms\"\n[storage]\nurl = \"s3://telemetry/sotp\"\nmax_file_age = \"1s\"\n\
         [[device_ranges]]\nname_prefix = \"s3b-\"\nfirst_address = \"127.31.2.1\"\ncount = 3\n",
    )
    .unwrap();
    let data = dir.path().join("data");
    let key_file = dir.path().join("keys").join("master.key");
    let mut cmd = Command::new(BIN);
    cmd.envs(env.iter().copied());
    let mut server = Server::start_with(cmd, &config, &data, free_port());
    let deadline = Instant::now() + Duration::from_secs(60);
    while s3_objects(&endpoint, "telemetry").len() < 2 {
        assert!(
            Instant::now() < deadline,
            "no Parquet files on S3 within 60 s\n{}",
            server.log_text()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    assert_eq!(server.stop(), 0, "{}", server.log_text());
    let parquet = s3_objects(&endpoint, "telemetry");

    // Listed only: the backup bucket holds the database, the state and the manifest.
    let said = ok_with(
        &backup_args(&config, &data, Path::new(S3_BACKUPS), &key_file),
        &env,
    );
    assert!(said.contains("listed, not copied"), "{said}");
    let in_backup = s3_objects(&endpoint, "backups");
    assert!(
        in_backup.iter().any(|k| k.ends_with("/manifest.json"))
            && in_backup.iter().any(|k| k.ends_with("/db/inventory.db")),
        "{in_backup:?}"
    );
    assert!(
        !in_backup.iter().any(|k| k.contains("/parquet/")),
        "Parquet copied: {in_backup:?}"
    );
    let restored = dir.path().join("restored");
    let said = ok_with(
        &restore_args(&config, Path::new(S3_BACKUPS), &key_file, &restored),
        &env,
    );
    assert!(
        said.contains(&format!("{} listed and present", parquet.len())),
        "{said}"
    );

    // A listed file gone from the store: the restore says so.
    // (boto3, which moto installs: moto refuses an unsigned DELETE.)
    let deleted = Command::new(crate::common::python())
        .args([
            "-c",
            "import boto3, sys; boto3.client('s3', endpoint_url=sys.argv[1], \
             aws_access_key_id='test', aws_secret_access_key='test', region_name='us-east-1')\
             .delete_object(Bucket='telemetry', Key=sys.argv[2])",
            &endpoint,
            &parquet[0],
        ])
        .status()
        .unwrap();
    assert!(deleted.success());
    assert_eq!(s3_objects(&endpoint, "telemetry").len(), parquet.len() - 1);
    // It fails after writing the database and the key: what it wrote is undone, so the
    // same command runs again (and says the same, not "not empty").
    let incomplete = dir.path().join("incomplete");
    for _ in 0..2 {
        refused_with(
            &restore_args(&config, Path::new(S3_BACKUPS), &key_file, &incomplete),
            &env,
            "are no longer on",
        );
        assert!(
            !incomplete.exists(),
            "a failed restore left {:?}",
            std::fs::read_dir(&incomplete)
                .map(|d| d.flatten().map(|e| e.file_name()).collect::<Vec<_>>())
        );
    }

    // --copy-parquet copies them.
    std::thread::sleep(Duration::from_millis(1100));
    ok_with(
        &[
            backup_args(&config, &data, Path::new(S3_BACKUPS), &key_file),
            vec!["--copy-parquet"],
        ]
        .concat(),
        &env,
    );
    let copied = s3_objects(&endpoint, "backups")
        .iter()
        .filter(|k| k.contains("/parquet/"))
        .count();
    assert_eq!(copied, parquet.len() - 1);
}

#[test]
fn scheduled_backups_run_at_their_interval_keep_the_newest_and_restore() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("scheduled");
    let config = dir.path().join("sotp.toml");
    std::fs::write(
        &config,
        format!(
            "[icmp]\ninterval = \"1s\"\ncount = 1\ntimeout = \"500ms\"\n\
             [[device_ranges]]\nname_prefix = \"sch-\"\nfirst_address = \"127.31.3.1\"\ncount = 2\n\
             [backup]\nto = {:?}\ninterval = \"2s\"\nkeep = 2\n",
            p(&dest)
        ),
    )
    .unwrap();
    let data = dir.path().join("data");
    let mut server = Server::start(&config, &data, free_port());
    let written = |s: &Server| s.log_text().matches("scheduled backup written").count();
    let deadline = Instant::now() + Duration::from_secs(90);
    while written(&server) < 3 {
        assert!(
            Instant::now() < deadline,
            "not three scheduled backups within 90 s\n{}",
            server.log_text()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    // A clean stop waits for a backup in progress, so the count is settled.
    assert_eq!(server.stop(), 0, "{}", server.log_text());
    assert!(!server.log_text().contains("scheduled backup failed"));
    assert_eq!(backup_folders(&dest).len(), 2, "keep = 2");

    let restored = dir.path().join("restored");
    let said = ok(&restore_args(
        &config,
        &dest,
        &data.join("master.key"),
        &restored,
    ));
    assert!(said.contains("integrity ok"), "{said}");
    assert_eq!(
        std::fs::read_to_string(restored.join("sotp.toml")).unwrap(),
        std::fs::read_to_string(&config).unwrap(),
        "the configuration file is saved with a scheduled backup"
    );
}

#[test]
fn a_data_directory_without_control_database_or_key_is_backed_up_without_creating_them() {
    // What a pipeline process on Kafka leaves: its stage's state and nothing else.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("pipeline");
    std::fs::create_dir_all(data.join("stream")).unwrap();
    std::fs::write(data.join("stream/state.json"), br#"{"series":[]}"#).unwrap();
    let dest = dir.path().join("backups");
    let said = ok(&["backup", "--data-dir", p(&data), "--to", p(&dest)]);
    assert!(said.contains("none in this data directory"), "{said}");
    for made in ["inventory.db", "master.key"] {
        assert!(!data.join(made).exists(), "backup created {made}");
    }
    let restored = dir.path().join("restored");
    ok(&["restore", "--from", p(&dest), "--data-dir", p(&restored)]);
    assert_eq!(
        std::fs::read(restored.join("stream/state.json")).unwrap(),
        br#"{"series":[]}"#
    );
    assert!(!restored.join("inventory.db").exists());
}
