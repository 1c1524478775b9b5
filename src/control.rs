//! Wiring of the control plane: open the inventory with its master key, create the first
//! admin from the environment, import the configuration's devices; and the `sotp user`
//! and `sotp secrets` commands.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use sotp_inventory::{DeviceInput, MasterKey, Role, Store};

use crate::cli::{SecretsCommand, TokenCommand, UserCommand};
use crate::config::{self, Config};

/// Environment variables that create the first admin on first start.
pub const ADMIN_USER_ENV: &str = "SOTP_ADMIN_USER";
/// See [`ADMIN_USER_ENV`].
pub const ADMIN_PASSWORD_ENV: &str = "SOTP_ADMIN_PASSWORD";

fn key_files(config: &Config) -> (Option<std::path::PathBuf>, std::path::PathBuf) {
    (
        config.secrets.key_file(),
        config.data_dir.join("master.key"),
    )
}

/// The master key: `SOTP_MASTER_KEY`, else `[secrets] key_file`, else
/// `<data_dir>/master.key` (created on first use).
pub fn master_key(config: &Config) -> anyhow::Result<MasterKey> {
    let env = std::env::var("SOTP_MASTER_KEY").ok();
    let (file, default) = key_files(config);
    MasterKey::load(env.as_deref(), file.as_deref(), &default).context("loading the master key")
}

/// Opens the inventory database and applies its migrations.
pub async fn open_store(config: &Config) -> anyhow::Result<Store> {
    let key = master_key(config)?;
    let url = config.database.resolved_url(&config.data_dir);
    Store::open(&url, key)
        .await
        .with_context(|| format!("opening the inventory database ({})", redact_url(&url)))
}

fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://***{}", &url[..s], &url[at..]),
        _ => url.to_string(),
    }
}

/// Creates the first admin from `SOTP_ADMIN_USER`/`SOTP_ADMIN_PASSWORD` when there is no
/// user yet; otherwise says how to create one.
pub async fn bootstrap_admin(store: &Store) -> anyhow::Result<()> {
    if store.user_count().await? > 0 {
        return Ok(());
    }
    match (
        std::env::var(ADMIN_USER_ENV).ok(),
        std::env::var(ADMIN_PASSWORD_ENV).ok(),
    ) {
        (Some(u), Some(p)) if !u.is_empty() => {
            store
                .create_user(&u, &p, Role::Admin, false)
                .await
                .with_context(|| format!("creating the first admin from {ADMIN_USER_ENV}"))?;
            tracing::info!(user = %u, "created the first admin from the environment");
        }
        _ => {
            eprintln!(
                "No user exists yet. Create the first admin with\n  sotp user create --username admin --role admin\nor start with {ADMIN_USER_ENV} and {ADMIN_PASSWORD_ENV} set."
            );
        }
    }
    Ok(())
}

/// The configuration's devices as inventory input, keyed by id.
pub fn config_devices(config: &Config) -> Vec<(String, DeviceInput)> {
    // SNMP settings as written (the same type the API takes) with their references
    // resolved (the inventory stores secrets sealed, never a reference), by device id.
    let snmp: std::collections::HashMap<&str, Option<sotp_schemas::SnmpSettings>> = config
        .devices
        .iter()
        .map(|c| (c.id.as_deref().unwrap_or(&c.name), config.device_snmp(c)))
        .collect();
    let ssh: std::collections::HashMap<&str, Option<sotp_inventory::SshInput>> = config
        .devices
        .iter()
        .map(|c| (c.id.as_deref().unwrap_or(&c.name), config.device_ssh(c)))
        .collect();
    config
        .device_list()
        .into_iter()
        .map(|d| {
            let mut collectors = std::collections::BTreeMap::new();
            collectors.insert(
                "icmp".to_string(),
                sotp_inventory::CollectorSettings {
                    enabled: d.icmp.enabled,
                    interval: d
                        .icmp
                        .interval
                        .map(|i| humantime::format_duration(i).to_string()),
                },
            );
            let input = DeviceInput {
                name: d.name.to_string(),
                address: d.address.to_string(),
                device_type: String::new(),
                vendor: String::new(),
                model: String::new(),
                location: String::new(),
                tags: d.tags.clone(),
                snmp: snmp.get(d.id.as_str()).cloned().flatten(),
                ssh: ssh.get(d.id.as_str()).cloned().flatten(),
                collectors,
                active: true,
            };
            (d.id.as_str().to_string(), input)
        })
        .collect()
}

pub(crate) fn load(
    config_path: Option<&std::path::Path>,
    data_dir: Option<std::path::PathBuf>,
) -> anyhow::Result<Config> {
    let mut c = config::load(config_path, std::env::vars()).map_err(|e| anyhow::anyhow!("{e}"))?;
    if let Some(d) = data_dir {
        c.data_dir = d;
    }
    Ok(c)
}

pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// `sotp user ...`.
pub fn user_main(cmd: UserCommand) -> ExitCode {
    let r = (|| -> anyhow::Result<()> {
        match cmd {
            UserCommand::Create {
                common,
                username,
                role,
            } => {
                let role: Role = role.parse().map_err(|e: String| anyhow::anyhow!(e))?;
                let password = match std::env::var("SOTP_PASSWORD") {
                    Ok(p) if !p.is_empty() => p,
                    _ => prompt_password()?,
                };
                let config = load(common.config.as_deref(), common.data_dir)?;
                runtime()?.block_on(async {
                    let store = open_store(&config).await?;
                    let u = store.create_user(&username, &password, role, false).await?;
                    store
                        .audit(sotp_inventory::NewAudit {
                            actor: "cli".into(),
                            source: "local".into(),
                            action: "user.create".into(),
                            resource: format!("user/{}", u.username),
                            after: serde_json::to_value(&u).ok(),
                            outcome: "success".into(),
                            ..Default::default()
                        })
                        .await?;
                    println!("created user {} with role {}", u.username, u.role);
                    store.close().await;
                    Ok(())
                })
            }
        }
    })();
    finish(r)
}

/// `sotp token ...`.
pub fn token_main(cmd: TokenCommand) -> ExitCode {
    let r = (|| -> anyhow::Result<()> {
        match cmd {
            TokenCommand::Create {
                common,
                name,
                role,
                expires_in,
                out,
            } => {
                let role: Role = role.parse().map_err(|e: String| anyhow::anyhow!(e))?;
                if let Some(path) = &out
                    && path.exists()
                {
                    eprintln!("{} exists: no token created", path.display());
                    return Ok(());
                }
                let config = load(common.config.as_deref(), common.data_dir)?;
                runtime()?.block_on(async {
                    let store = open_store(&config).await?;
                    let t = store
                        .create_api_token(&name, role, expires_in, "cli")
                        .await?;
                    store
                        .audit(sotp_inventory::NewAudit {
                            actor: "cli".into(),
                            source: "local".into(),
                            action: "token.create".into(),
                            resource: format!("token/{}", t.meta.id),
                            after: serde_json::to_value(&t.meta).ok(),
                            outcome: "success".into(),
                            ..Default::default()
                        })
                        .await?;
                    store.close().await;
                    match &out {
                        Some(path) => {
                            use std::os::unix::fs::OpenOptionsExt;
                            let mut f = std::fs::OpenOptions::new()
                                .write(true)
                                .create_new(true)
                                .mode(0o600)
                                .open(path)
                                .with_context(|| format!("cannot write {}", path.display()))?;
                            f.write_all(t.token.as_bytes())?;
                            eprintln!(
                                "created token {} ({}) in {}",
                                t.meta.name,
                                t.meta.role,
                                path.display()
                            );
                        }
                        None => println!("{}", t.token),
                    }
                    Ok(())
                })
            }
        }
    })();
    finish(r)
}

fn prompt_password() -> anyhow::Result<String> {
    eprint!("Password for the new user (input is shown; set SOTP_PASSWORD to avoid the prompt): ");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    let p = line.trim_end_matches(['\r', '\n']).to_string();
    anyhow::ensure!(!p.is_empty(), "no password given");
    Ok(p)
}

/// `sotp secrets ...`.
pub fn secrets_main(cmd: SecretsCommand) -> ExitCode {
    let r = (|| -> anyhow::Result<()> {
        match cmd {
            SecretsCommand::RotateKey { common } => {
                let config = load(common.config.as_deref(), common.data_dir)?;
                runtime()?.block_on(async {
                    let store = open_store(&config).await?;
                    let new_key = match std::env::var("SOTP_NEW_MASTER_KEY") {
                        Ok(k) if !k.is_empty() => MasterKey::from_hex(&k)?,
                        _ => MasterKey::generate(),
                    };
                    let n = store.rotate_key(&new_key).await?;
                    store.close().await;
                    let from_env = std::env::var("SOTP_MASTER_KEY").is_ok_and(|v| !v.is_empty());
                    let (file, default) = key_files(&config);
                    if from_env {
                        println!(
                            "re-sealed {n} secrets. Set SOTP_MASTER_KEY to the new key now:\n{}",
                            new_key.to_hex()
                        );
                    } else {
                        let path = file.unwrap_or(default);
                        let old = path.with_extension("key.old");
                        std::fs::rename(&path, &old)
                            .with_context(|| format!("keeping the old key as {}", old.display()))?;
                        write_key(&path, &new_key)?;
                        println!(
                            "re-sealed {n} secrets; new key in {} (old key kept in {})",
                            path.display(),
                            old.display()
                        );
                    }
                    Ok(())
                })
            }
        }
    })();
    finish(r)
}

fn write_key(path: &std::path::Path, key: &MasterKey) -> anyhow::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.write_all(key.to_hex().as_bytes())?;
    Ok(())
}

pub(crate) fn finish(r: anyhow::Result<()>) -> ExitCode {
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
