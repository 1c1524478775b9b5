//! `sotp run`: loads the configuration and checks the roles; the wiring of the roles,
//! the same on both buses, is in [`crate::roles`].

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use sotp_schemas::{log_schema, metric_schema, rollup_schema};
use sotp_sinks::writer::Layout;
use sotp_sinks::{ColdStore, TableStore};

use crate::cli::RunArgs;
use crate::config::{self, Config};
use crate::telemetry;

pub fn main(args: RunArgs) -> ExitCode {
    let config = match load_config(args.config.as_deref(), args.data_dir) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let roles = crate::roles::Roles::new(&args.roles);
    let kafka = config.bus.kind == config::BusKind::Kafka;
    if !kafka && !roles.is_all() {
        eprintln!(
            "error: --role {} needs [bus] kind = \"kafka\": on the in-process bus (kind = \"memory\") every role runs in one process; use --role all",
            roles.describe(),
        );
        return ExitCode::from(2);
    }
    telemetry::init_logging(&config.log);
    crate::telemetry::block_on(crate::roles::run(config, roles))
}

/// The configuration of `path` with `data_dir` (from `--data-dir`) in force; a problem
/// is printed and becomes exit code 2.
pub(crate) fn load_config(
    path: Option<&std::path::Path>,
    data_dir: Option<std::path::PathBuf>,
) -> Result<Config, ExitCode> {
    let mut config = config::load(path, std::env::vars()).map_err(|e| {
        eprint!("{e}");
        ExitCode::from(2)
    })?;
    if let Some(dir) = data_dir {
        config.data_dir = dir;
    }
    Ok(config)
}

/// Opens the `metrics` table in the cold store.
pub async fn open_metrics(config: &Config, cold: &ColdStore) -> anyhow::Result<Arc<TableStore>> {
    let table = TableStore::open(
        "metrics",
        metric_schema(),
        Layout::metrics(),
        cold.clone(),
        config.storage.row_group_rows,
        config.storage.zstd_level,
    )
    .await
    .with_context(|| format!("opening the metrics table in {}", cold.description()))?;
    Ok(table)
}

/// Opens the `logs` table in the cold store.
pub async fn open_logs(config: &Config, cold: &ColdStore) -> anyhow::Result<Arc<TableStore>> {
    TableStore::open(
        "logs",
        log_schema(),
        Layout::logs(),
        cold.clone(),
        config.storage.row_group_rows,
        config.storage.zstd_level,
    )
    .await
    .with_context(|| format!("opening the logs table in {}", cold.description()))
}

/// Opens the `alerts` table (every alert transition) in the cold store.
pub async fn open_alerts(config: &Config, cold: &ColdStore) -> anyhow::Result<Arc<TableStore>> {
    TableStore::open(
        "alerts",
        sotp_schemas::alert_schema(),
        Layout::alerts(),
        cold.clone(),
        config.storage.row_group_rows,
        config.storage.zstd_level,
    )
    .await
    .with_context(|| format!("opening the alerts table in {}", cold.description()))
}

/// Opens the `command_outputs` table (SSH command runs, configuration versions).
pub async fn open_commands(config: &Config, cold: &ColdStore) -> anyhow::Result<Arc<TableStore>> {
    TableStore::open(
        "command_outputs",
        sotp_schemas::command_schema(),
        Layout::commands(),
        cold.clone(),
        config.storage.row_group_rows,
        config.storage.zstd_level,
    )
    .await
    .with_context(|| {
        format!(
            "opening the command_outputs table in {}",
            cold.description()
        )
    })
}

/// Opens the `metrics_1m` rollup table in the cold store.
pub async fn open_rollups(config: &Config, cold: &ColdStore) -> anyhow::Result<Arc<TableStore>> {
    TableStore::open(
        "metrics_1m",
        rollup_schema(),
        Layout::rollups(),
        cold.clone(),
        config.storage.row_group_rows,
        config.storage.zstd_level,
    )
    .await
    .with_context(|| format!("opening the metrics_1m table in {}", cold.description()))
}

pub(crate) async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received"),
                    _ = term.recv() => tracing::info!("SIGTERM received"),
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch SIGTERM; Ctrl-C still stops SOTP");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
