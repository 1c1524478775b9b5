//! `sotp backup` and `sotp restore`: everything a data directory needs to come back,
//! except the master key, which travels apart.
//!
//! A backup is one folder `sotp-backup-<UTC time>` at the destination (a local path or an
//! object store URL such as `s3://bucket/backups`):
//!
//! - `db/inventory.db`: a consistent snapshot of the SQLite control database (devices
//!   with their sealed secrets, users, tokens, audit, alerts, rules, silences), taken
//!   with `VACUUM INTO` while the server keeps running;
//! - `state/...`: the streaming stage's and the alert windows' checkpoints, the SSH
//!   collector's configuration digests;
//! - `config/sotp.toml`: the configuration file, when one was given;
//! - `parquet/...`: the Parquet files when they are on the local disk (or with
//!   `--copy-parquet`); on object storage they are only listed (they already are where a
//!   restore reads them);
//! - `manifest.json`, written last (a folder without it is an unfinished backup): every
//!   file with its size and SHA-256, the listed Parquet files, the control tables' row
//!   counts, and a check value of the master key (derived one way from it, so that a
//!   restore can tell a wrong key before it writes anything).
//!
//! The master key is never inside: `--key-to FILE` writes it elsewhere (refused inside
//! the backup's own folder), and `sotp restore --key-from FILE` brings it back.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use futures::TryStreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sotp_inventory::MasterKey;
use sotp_sinks::ColdStore;

use crate::cli::{BackupArgs, RestoreArgs};
use crate::config::Config;
use crate::control::{finish, load, master_key, runtime};

/// The manifest's name in a backup folder.
pub const MANIFEST: &str = "manifest.json";
/// The prefix of backup folders.
pub const PREFIX: &str = "sotp-backup-";
/// The manifest's format version.
const FORMAT: u32 = 1;
/// What the key check value is derived for.
const KEY_CHECK: &str = "sotp-backup-key-check";

/// State files of a data directory a restore needs, relative to it.
const STATE_FILES: &[&str] = &["stream/state.json", "alerts/state.json", "ssh/backups.json"];

/// `manifest.json`.
#[derive(Debug, Serialize, Deserialize)]
pub struct Manifest {
    /// [`FORMAT`].
    pub format: u32,
    /// The `sotp` version that wrote it.
    pub sotp_version: String,
    /// When the backup began (RFC 3339, UTC).
    pub created_at: String,
    /// `sqlite` (in `db/inventory.db`), `postgres` (not included: `pg_dump`), or `none`
    /// (a data directory without the api role: no control database, no key).
    pub database: String,
    /// Hex of a value derived one way from the master key.
    pub key_check: String,
    /// Row counts of the control tables in the snapshot.
    pub counts: BTreeMap<String, i64>,
    /// Files in the backup folder.
    pub files: Vec<FileEntry>,
    /// Where the Parquet files were (`[storage] url`, empty: `<data_dir>/parquet`).
    pub parquet_url: String,
    /// Parquet files left on object storage, listed only.
    pub parquet_listed: Vec<FileEntry>,
}

/// One file: its path (in the backup folder, or in the Parquet store for a listed one),
/// its size and SHA-256 (empty for a listed one).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileEntry {
    /// Relative path.
    pub path: String,
    /// Size in bytes.
    pub bytes: u64,
    /// SHA-256, hex.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sha256: String,
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn key_check(key: &MasterKey) -> String {
    hex::encode(key.derive(KEY_CHECK))
}

/// A backup location: a local path (created when missing, for a backup) or a URL.
fn location(url: &str, create: bool) -> anyhow::Result<ColdStore> {
    if url.contains("://") {
        return Ok(ColdStore::open(url, Path::new("."))?);
    }
    let dir = std::path::absolute(url).with_context(|| format!("the path {url}"))?;
    if !create && !dir.is_dir() {
        bail!("{}: no such directory", dir.display());
    }
    Ok(ColdStore::local(&dir)?)
}

/// Every object under `prefix` (all of the store when `None`), with its size.
async fn list(
    store: &dyn ObjectStore,
    prefix: Option<&ObjectPath>,
) -> anyhow::Result<Vec<(ObjectPath, u64)>> {
    let objects: Vec<_> = store.list(prefix).try_collect().await?;
    let mut out: Vec<(ObjectPath, u64)> =
        objects.into_iter().map(|m| (m.location, m.size)).collect();
    out.sort();
    Ok(out)
}

/// `[backup]`: backups taken on a schedule by the `api` role (the process holding the
/// control database), as `sotp backup` takes them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackupConfig {
    /// Where the backups go (a folder, or an object store URL); empty: none scheduled.
    pub to: String,
    /// How often a backup is taken (the first one interval after the start).
    #[serde(with = "humantime_serde")]
    pub interval: std::time::Duration,
    /// How many complete backups are kept at `to` (the oldest are deleted).
    pub keep: usize,
    /// Copy the Parquet files even when they are on object storage.
    pub copy_parquet: bool,
}

impl Default for BackupConfig {
    fn default() -> Self {
        Self {
            to: String::new(),
            interval: std::time::Duration::from_secs(86_400),
            keep: 30,
            copy_parquet: false,
        }
    }
}

impl BackupConfig {
    /// Problems with these settings, as (field, reason).
    pub fn validate(&self) -> Vec<(&'static str, String)> {
        let mut e = Vec::new();
        if !self.to.is_empty() {
            if self.interval.is_zero() {
                e.push((
                    "backup.interval",
                    "must be more than 0s when backup.to is set".into(),
                ));
            }
            if self.keep == 0 {
                e.push(("backup.keep", "must be at least 1".into()));
            }
        }
        e
    }
}

/// What one backup is asked to do.
struct Options<'a> {
    to: &'a str,
    key_to: Option<&'a Path>,
    copy_parquet: bool,
    keep: Option<usize>,
    /// The configuration file, saved in the backup.
    config_file: Option<&'a Path>,
}

/// `sotp backup`.
pub fn backup_main(args: BackupArgs) -> ExitCode {
    finish((|| {
        let config = load(args.common.config.as_deref(), args.common.data_dir.clone())?;
        let options = Options {
            to: &args.to,
            key_to: args.key_to.as_deref(),
            copy_parquet: args.copy_parquet,
            keep: args.keep,
            config_file: args.common.config.as_deref(),
        };
        let say = |line: String| eprintln!("{line}");
        let done = runtime()?.block_on(backup(&config, &options, &say))?;
        println!("{done}");
        Ok(())
    })())
}

/// Takes `[backup]`'s backups (with the configuration file) every `interval` until
/// `stop`, each on a thread of its own
/// (it reads files and the database); a failure is logged and counted
/// (`sotp_backup_failures_total`), and the next one is tried at its time.
pub fn schedule(
    config: Config,
    stop: tokio_util::sync::CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let every = config.backup.interval;
        tracing::info!(to = %config.backup.to, every = %humantime::format_duration(every), keep = config.backup.keep, "backups scheduled");
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep(every) => {}
            }
            let c = config.clone();
            let done = tokio::task::spawn_blocking(move || -> anyhow::Result<String> {
                let options = Options {
                    to: &c.backup.to,
                    key_to: None,
                    copy_parquet: c.backup.copy_parquet,
                    keep: Some(c.backup.keep),
                    config_file: c.file.as_deref(),
                };
                let say = |line: String| tracing::info!("backup: {}", line.trim());
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?
                    .block_on(backup(&c, &options, &say))
            })
            .await;
            match done {
                Ok(Ok(written)) => tracing::info!(backup = %written, "scheduled backup written"),
                Ok(Err(e)) => {
                    metrics::counter!("sotp_backup_failures_total").increment(1);
                    tracing::error!(error = format!("{e:#}"), "scheduled backup failed");
                }
                Err(e) => {
                    metrics::counter!("sotp_backup_failures_total").increment(1);
                    tracing::error!(error = %e, "scheduled backup stopped");
                }
            }
        }
    })
}

/// `sotp restore`.
pub fn restore_main(args: RestoreArgs) -> ExitCode {
    finish((|| {
        let config = load(args.config.as_deref(), Some(args.data_dir.clone()))?;
        runtime()?.block_on(restore(&config, &args))
    })())
}

/// Writes one backup; returns where, with its file count and size.
async fn backup(
    config: &Config,
    args: &Options<'_>,
    say: &dyn Fn(String),
) -> anyhow::Result<String> {
    let data = &config.data_dir;
    if !data.is_dir() {
        bail!("the data directory {} does not exist", data.display());
    }
    let now = chrono::Utc::now();
    let name = format!("{PREFIX}{}", now.format("%Y%m%dT%H%M%SZ"));
    let dest = location(args.to, true)?;
    let folder = ObjectPath::from(name.as_str());
    if let Some(key_to) = args.key_to
        && !args.to.contains("://")
    {
        let dest_dir = std::path::absolute(args.to)?;
        let key_path = std::path::absolute(key_to)?;
        if key_path.starts_with(&dest_dir) {
            bail!(
                "--key-to {} is inside the backup destination {}: keep the key apart from the data it opens",
                key_path.display(),
                dest_dir.display()
            );
        }
    }
    say(format!(
        "backing up {} to {}/{name}",
        data.display(),
        dest.description()
    ));
    // A process without the api role (on Kafka) may have neither a control database nor
    // a key file here: nothing is created for them, they are left out.
    let has_database = sqlite_file(config).is_none_or(|f| f.exists());
    let key = if key_source(config).is_some() || data.join("master.key").exists() {
        Some(master_key(config)?)
    } else if has_database {
        bail!(
            "no master key for {}: set SOTP_MASTER_KEY or [secrets] key_file as the server does",
            data.display()
        );
    } else {
        None
    };
    let mut files = Vec::new();
    let put = |rel: String, bytes: Vec<u8>| {
        let dest = dest.clone();
        let path = ObjectPath::from(format!("{name}/{rel}"));
        async move {
            let entry = FileEntry {
                path: rel,
                bytes: bytes.len() as u64,
                sha256: sha256_hex(&bytes),
            };
            dest.store()
                .put(&path, bytes.into())
                .await
                .with_context(|| format!("writing {}", dest.display_path(&path)))?;
            anyhow::Ok(entry)
        }
    };

    // The control database: a snapshot, never the live file.
    let store = match &key {
        Some(key) if has_database => Some(
            sotp_inventory::Store::open(&config.database.resolved_url(data), key.clone()).await?,
        ),
        _ => None,
    };
    let database = match store.as_ref().map(sotp_inventory::Store::backend) {
        None => {
            say("  control database: none in this data directory (no api role here)".into());
            "none"
        }
        Some(sotp_inventory::Backend::Sqlite) => {
            let store = store.as_ref().expect("matched");
            let tmp = tempfile::Builder::new()
                .prefix(".sotp-backup-")
                .tempdir_in(data)
                .context("a temporary folder in the data directory")?;
            let snapshot = tmp.path().join("inventory.db");
            store
                .snapshot_to(&snapshot)
                .await
                .context("snapshot of the control database")?;
            let bytes = std::fs::read(&snapshot)?;
            say(format!("  control database: {} bytes", bytes.len()));
            files.push(put("db/inventory.db".into(), bytes).await?);
            "sqlite"
        }
        Some(sotp_inventory::Backend::Postgres) => {
            say(
                "  control database: PostgreSQL, not included: save it with pg_dump (docs/operations.md)"
                    .into(),
            );
            "postgres"
        }
    };
    let mut counts = BTreeMap::new();
    if let Some(store) = store {
        counts = store.table_counts().await?.into_iter().collect();
        store.close().await;
    }

    for rel in STATE_FILES {
        let path = data.join(rel);
        match std::fs::read(&path) {
            Ok(bytes) => files.push(put(format!("state/{rel}"), bytes).await?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }
    if let Some(file) = args.config_file {
        let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
        files.push(put("config/sotp.toml".into(), bytes).await?);
    }

    // Parquet: copied from the local disk, listed on object storage.
    let cold = ColdStore::open(&config.storage.url, data)?;
    let local = config.storage.url.is_empty() || config.storage.url.starts_with("file:");
    let objects = list(cold.store().as_ref(), None).await?;
    let mut listed = Vec::new();
    let total: u64 = objects.iter().map(|(_, n)| n).sum();
    if local || args.copy_parquet {
        let mut done = 0u64;
        for (i, (path, _)) in objects.iter().enumerate() {
            let bytes = cold.store().get(path).await?.bytes().await?.to_vec();
            done += bytes.len() as u64;
            files.push(put(format!("parquet/{path}"), bytes).await?);
            if (i + 1) % 100 == 0 || i + 1 == objects.len() {
                say(format!(
                    "  parquet: {}/{} files, {done}/{total} bytes",
                    i + 1,
                    objects.len()
                ));
            }
        }
    } else {
        listed = objects
            .iter()
            .map(|(path, bytes)| FileEntry {
                path: path.to_string(),
                bytes: *bytes,
                sha256: String::new(),
            })
            .collect();
        say(format!(
            "  parquet: {} files ({total} bytes) on {} listed, not copied (--copy-parquet copies them)",
            listed.len(),
            cold.description()
        ));
    }

    let manifest = Manifest {
        format: FORMAT,
        sotp_version: env!("CARGO_PKG_VERSION").into(),
        created_at: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        database: database.into(),
        key_check: key.as_ref().map(key_check).unwrap_or_default(),
        counts,
        files,
        parquet_url: config.storage.url.clone(),
        parquet_listed: listed,
    };
    dest.store()
        .put(
            &folder.clone().join(MANIFEST),
            serde_json::to_vec_pretty(&manifest)?.into(),
        )
        .await?;
    if let (Some(key_to), Some(key)) = (args.key_to, &key) {
        match std::fs::read_to_string(key_to) {
            Ok(text) if MasterKey::from_hex(&text).is_ok_and(|k| k.to_hex() == key.to_hex()) => {
                say(format!(
                    "  master key already in {} (not in the backup)",
                    key_to.display()
                ));
            }
            Ok(_) => bail!(
                "--key-to {} holds another key: not overwritten (the backup is written; choose another file)",
                key_to.display()
            ),
            Err(_) => {
                sotp_inventory::write_private(key_to, &key.to_hex())
                    .with_context(|| format!("writing the master key to {}", key_to.display()))?;
                say(format!(
                    "  master key written to {} (not in the backup)",
                    key_to.display()
                ));
            }
        }
    } else if key.is_some() {
        say(format!(
            "  master key: not in the backup; a restore needs the key this server uses (SOTP_MASTER_KEY, [secrets] key_file or {}), or take a copy with --key-to",
            data.join("master.key").display()
        ));
    }
    let copied: u64 = manifest.files.iter().map(|f| f.bytes).sum();
    tracing::info!(backup = %name, files = manifest.files.len(), bytes = copied, "backup written");
    if let Some(keep) = args.keep {
        prune(&dest, keep, say).await?;
    }
    Ok(format!(
        "{}/{name}: {} files, {copied} bytes",
        dest.description().trim_end_matches('/'),
        manifest.files.len()
    ))
}

/// The complete backups at `dest` (those with a manifest), oldest first.
async fn backups(dest: &ColdStore) -> anyhow::Result<Vec<String>> {
    let top = dest.store().list_with_delimiter(None).await?;
    let mut out = Vec::new();
    for p in top.common_prefixes {
        let name = p.to_string();
        if name.starts_with(PREFIX) && dest.store().head(&p.clone().join(MANIFEST)).await.is_ok() {
            out.push(name);
        }
    }
    out.sort();
    Ok(out)
}

/// Deletes the oldest complete backups beyond `keep`.
async fn prune(dest: &ColdStore, keep: usize, say: &dyn Fn(String)) -> anyhow::Result<()> {
    let all = backups(dest).await?;
    let old = all.len().saturating_sub(keep.max(1));
    for name in &all[..old] {
        let folder = ObjectPath::from(name.as_str());
        // The manifest first: a folder cut short is never taken for a backup.
        dest.store().delete(&folder.clone().join(MANIFEST)).await?;
        for (path, _) in list(dest.store().as_ref(), Some(&folder)).await? {
            dest.store().delete(&path).await?;
        }
        say(format!("  older backup {name} deleted (keep {keep})"));
    }
    Ok(())
}

async fn restore(config: &Config, args: &RestoreArgs) -> anyhow::Result<()> {
    let data = &config.data_dir;
    if data.exists() && std::fs::read_dir(data)?.next().is_some() {
        bail!(
            "{} is not empty: restore into a new or empty data directory",
            data.display()
        );
    }
    let src = location(&args.from, false)?;
    // The URL is one backup, or a destination holding several (the newest is taken).
    let folder = if src.store().head(&ObjectPath::from(MANIFEST)).await.is_ok() {
        None
    } else {
        let all = backups(&src).await?;
        let newest = all.last().with_context(|| {
            format!(
                "no complete backup (a {PREFIX}* folder with {MANIFEST}) at {}",
                src.description()
            )
        })?;
        Some(ObjectPath::from(newest.as_str()))
    };
    let at = |rel: &str| match &folder {
        Some(f) => ObjectPath::from(format!("{f}/{rel}")),
        None => ObjectPath::from(rel),
    };
    let manifest: Manifest =
        serde_json::from_slice(&src.store().get(&at(MANIFEST)).await?.bytes().await?)
            .context("reading the backup's manifest")?;
    if manifest.format != FORMAT {
        bail!(
            "backup format {} is not supported (this sotp reads {FORMAT})",
            manifest.format
        );
    }
    eprintln!(
        "restoring {}{} (taken {} by sotp {}) into {}",
        src.description().trim_end_matches('/'),
        folder.as_ref().map(|f| format!("/{f}")).unwrap_or_default(),
        manifest.created_at,
        manifest.sotp_version,
        data.display()
    );

    // The key first: nothing is written with the wrong one. A backup without a control
    // database or key (a process without the api role) needs none.
    let needs_key = !manifest.key_check.is_empty();
    let key = match &args.key_from {
        _ if !needs_key => MasterKey::generate(),
        Some(file) => {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("reading the master key {}", file.display()))?;
            MasterKey::from_hex(&text)?
        }
        None => master_key_of(config)?,
    };
    if needs_key && key_check(&key) != manifest.key_check {
        bail!(
            "the master key does not match the one the backup's secrets are sealed under: pass the key of the backed-up server with --key-from"
        );
    }

    // Every file read and checked before the data directory is touched.
    let mut checked = Vec::with_capacity(manifest.files.len());
    for f in &manifest.files {
        let bytes = src
            .store()
            .get(&at(&f.path))
            .await
            .with_context(|| format!("{} is in the manifest but not in the backup", f.path))?
            .bytes()
            .await?;
        if bytes.len() as u64 != f.bytes || sha256_hex(&bytes) != f.sha256 {
            bail!(
                "{} is damaged: its size or SHA-256 differs from the manifest",
                f.path
            );
        }
        checked.push((f, bytes));
    }
    let existed = data.exists();
    std::fs::create_dir_all(data)?;
    let cold = ColdStore::open(&config.storage.url, data)?;
    let mut written = Written::default();
    let result =
        write_and_verify(config, args, &manifest, checked, &key, &cold, &mut written).await;
    if let Err(e) = result {
        // The data directory was empty: leave it so, and nothing of this restore
        // elsewhere, so that the same command can run again once the cause is fixed.
        let undone = undo(data, existed, &cold, &written).await;
        return Err(match undone {
            Ok(()) => e.context(format!(
                "restore failed and was undone ({} left as it was)",
                data.display()
            )),
            Err(u) => e.context(format!(
                "restore failed, and undoing it failed too ({u:#}): empty {} by hand before trying again",
                data.display()
            )),
        });
    }
    Ok(())
}

/// What a restore wrote, to undo it when a later step fails.
#[derive(Default)]
struct Written {
    /// Files outside the Parquet store (the data directory's, and a SQLite database
    /// the configuration places elsewhere).
    files: Vec<PathBuf>,
    /// Parquet objects put into the configured store.
    objects: Vec<ObjectPath>,
}

/// Removes what a failed restore wrote: its objects, its files (and a SQLite
/// database's journal files), and everything in the data directory (empty before).
async fn undo(data: &Path, existed: bool, cold: &ColdStore, w: &Written) -> anyhow::Result<()> {
    for o in &w.objects {
        match cold.store().delete(o).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(e).with_context(|| format!("deleting {o}")),
        }
    }
    for f in &w.files {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let path = PathBuf::from(format!("{}{suffix}", f.display()));
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e).with_context(|| format!("removing {}", path.display())),
            }
        }
    }
    if existed {
        for entry in std::fs::read_dir(data)? {
            let path = entry?.path();
            if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            }
            .with_context(|| format!("removing {}", path.display()))?;
        }
    } else {
        std::fs::remove_dir_all(data).with_context(|| format!("removing {}", data.display()))?;
    }
    Ok(())
}

/// Writes the checked files, then verifies what was restored.
async fn write_and_verify(
    config: &Config,
    args: &RestoreArgs,
    manifest: &Manifest,
    checked: Vec<(&FileEntry, bytes::Bytes)>,
    key: &MasterKey,
    cold: &ColdStore,
    written: &mut Written,
) -> anyhow::Result<()> {
    let data = &config.data_dir;
    let needs_key = !manifest.key_check.is_empty();
    let mut parquet = 0usize;
    for (f, bytes) in checked {
        if let Some(rel) = f.path.strip_prefix("parquet/") {
            let object = ObjectPath::from(rel);
            written.objects.push(object.clone());
            cold.store().put(&object, bytes.into()).await?;
            parquet += 1;
            continue;
        }
        let target = match f.path.as_str() {
            "db/inventory.db" => sqlite_path(config)?,
            "config/sotp.toml" => data.join("sotp.toml"),
            other => match other.strip_prefix("state/") {
                Some(rel) => data.join(rel),
                None => bail!("unknown file {other} in the manifest"),
            },
        };
        if let Some(dir) = target.parent() {
            std::fs::create_dir_all(dir)?;
        }
        written.files.push(target.clone());
        std::fs::write(&target, &bytes).with_context(|| format!("writing {}", target.display()))?;
    }
    if needs_key && args.key_from.is_some() && key_source(config).is_none() {
        let file = data.join("master.key");
        written.files.push(file.clone());
        sotp_inventory::write_private(&file, &key.to_hex())?;
        eprintln!("  master key written to {}", file.display());
    }

    // Parquet left on object storage must still be there.
    let mut missing = 0usize;
    for f in &manifest.parquet_listed {
        if cold
            .store()
            .head(&ObjectPath::from(f.path.as_str()))
            .await
            .is_err()
        {
            missing += 1;
        }
    }

    // Verification: the database opens, is whole, its secrets open with the key, and
    // it holds what the backup counted.
    if manifest.database == "sqlite" {
        let store =
            sotp_inventory::Store::open(&config.database.resolved_url(data), key.clone()).await?;
        store.integrity_check().await?;
        let secrets = store.check_key(key).await?;
        let counts: BTreeMap<String, i64> = store.table_counts().await?.into_iter().collect();
        store.close().await;
        for (table, n) in &manifest.counts {
            if counts.get(table) != Some(n) {
                bail!(
                    "the restored {table} table has {} rows, the backup counted {n}",
                    counts.get(table).copied().unwrap_or(0)
                );
            }
        }
        eprintln!(
            "  control database: integrity ok, {secrets} sealed secrets open, {} devices, {} users, {} alerts",
            counts.get("devices").unwrap_or(&0),
            counts.get("users").unwrap_or(&0),
            counts.get("alerts").unwrap_or(&0)
        );
    } else if manifest.database == "postgres" {
        eprintln!(
            "  control database: PostgreSQL, restore it with pg_restore (docs/operations.md)"
        );
    }
    if missing > 0 {
        bail!(
            "{missing} of the {} Parquet files the backup listed are no longer on {}",
            manifest.parquet_listed.len(),
            cold.description()
        );
    }
    println!(
        "restored into {}: {} files checked, {parquet} Parquet files copied, {} listed and present; start it with: sotp run --data-dir {}{}",
        data.display(),
        manifest.files.len(),
        manifest.parquet_listed.len(),
        data.display(),
        if manifest.files.iter().any(|f| f.path == "config/sotp.toml") {
            format!(" --config {}", data.join("sotp.toml").display())
        } else {
            String::new()
        }
    );
    Ok(())
}

/// Where the configuration keeps the master key, when not in the data directory.
fn key_source(config: &Config) -> Option<String> {
    if std::env::var("SOTP_MASTER_KEY").is_ok_and(|v| !v.trim().is_empty()) {
        return Some("SOTP_MASTER_KEY".into());
    }
    config.secrets.key_file().map(|p| p.display().to_string())
}

/// The key the configuration names (never a new one: a restore must not invent a key).
fn master_key_of(config: &Config) -> anyhow::Result<MasterKey> {
    if key_source(config).is_none() {
        bail!(
            "the backup's secrets need their master key: pass it with --key-from FILE (the file --key-to wrote), or set SOTP_MASTER_KEY or [secrets] key_file"
        );
    }
    master_key(config)
}

/// The SQLite file of the configuration's control database; none for PostgreSQL.
fn sqlite_file(config: &Config) -> Option<PathBuf> {
    let url = config.database.resolved_url(&config.data_dir);
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    Some(PathBuf::from(path.split('?').next().unwrap_or(path)))
}

/// The SQLite file of the configuration's control database, for a restore.
fn sqlite_path(config: &Config) -> anyhow::Result<PathBuf> {
    let url = config.database.resolved_url(&config.data_dir);
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .with_context(|| "the backup holds a SQLite database but [database] url is not sqlite: restore it into SQLite, or load PostgreSQL with pg_restore".to_string())?;
    let path = PathBuf::from(path.split('?').next().unwrap_or(path));
    if path.exists() {
        bail!(
            "{} exists: a restore does not overwrite a database",
            path.display()
        );
    }
    Ok(path)
}
