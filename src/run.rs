//! `sotp run`: every role in one process on the in-process bus.
//!
//! Start order: storage, sinks subscribed to their topics, the API, then the collectors.
//! Stop order (SIGINT/SIGTERM): collectors stop scheduling and finish the polls in
//! flight, the bus closes, sinks drain their queues and write everything to Parquet,
//! then the API stops. A clean stop loses nothing.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use sotp_ingest::icmp::IcmpPoller;
use sotp_ingest::snmp::SnmpPoller;
use sotp_ingest::syslog::SyslogReceiver;
use sotp_ingest::{SchedulerConfig, run_scheduler};
use sotp_pipeline::{Bus, MemoryBus, MemoryBusConfig};
use sotp_query::api::{ApiState, Control, router};
use sotp_query::{InventoryKind, InventoryTable, QueryEngine};
use sotp_schemas::{Topic, log_schema, metric_schema, rollup_schema};
use sotp_sinks::writer::Layout;
use sotp_sinks::{ColdStore, TableStore, run_logs_sink, run_metrics_sink, run_rollup_sink};
use tokio_util::sync::CancellationToken;

use crate::cli::RunArgs;
use crate::config::{self, Config};
use crate::telemetry;

pub fn main(args: RunArgs) -> ExitCode {
    let mut config = match config::load(args.config.as_deref(), std::env::vars()) {
        Ok(c) => c,
        Err(e) => {
            eprint!("{e}");
            return ExitCode::from(2);
        }
    };
    if let Some(dir) = args.data_dir {
        config.data_dir = dir;
    }
    let roles = crate::roles::Roles::new(&args.roles);
    let kafka = config.bus.kind == "kafka";
    if !kafka && !roles.is_all() {
        eprintln!(
            "error: --role {} needs [bus] kind = \"kafka\": on the in-process bus (kind = \"{}\") every role runs in one process; use --role all",
            roles.describe(),
            config.bus.kind
        );
        return ExitCode::from(2);
    }
    telemetry::init_logging(&config.log);
    if kafka {
        crate::telemetry::block_on(crate::roles::run_kafka(config, roles))
    } else {
        crate::telemetry::block_on(run(config))
    }
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

async fn run(config: Config) -> anyhow::Result<()> {
    let prometheus = config
        .api
        .metrics
        .then(telemetry::init_metrics)
        .transpose()?;
    let store = crate::control::open_store(&config).await?;
    crate::control::bootstrap_admin(&store).await?;
    let imported = store
        .sync_config_devices(&crate::control::config_devices(&config))
        .await
        .context("importing the configuration's devices into the inventory")?;
    tracing::info!(changed = imported, "configuration devices imported");
    let bus = MemoryBus::new(MemoryBusConfig {
        capacity_events: config.bus.capacity_events,
    });
    // The collectors follow the live inventory: API changes arrive through `inventory`.
    let feed = crate::inventory_feed::memory_feed(&config, &store, &bus).await?;
    let devices = feed.borrow().clone();
    let shared_bus: Arc<dyn Bus> = Arc::new(bus.clone());

    let cold = ColdStore::open(&config.storage.url, &config.data_dir)
        .with_context(|| format!("opening storage under {}", config.data_dir.display()))?;
    let metrics_table = open_metrics(&config, &cold).await?;
    let logs_table = open_logs(&config, &cold).await?;
    let rollup_table = open_rollups(&config, &cold).await?;

    // Sinks subscribe before anything publishes.
    let stop_sinks = CancellationToken::new();
    let mut sinks = Vec::new();
    for topic in [Topic::MetricsRaw, Topic::Metrics] {
        let sub = bus.subscribe(topic, "sink")?;
        sinks.push(tokio::spawn(run_metrics_sink(
            sub,
            metrics_table.clone(),
            config.storage.clone(),
            stop_sinks.clone(),
        )));
    }
    sinks.push(tokio::spawn(run_logs_sink(
        bus.subscribe(Topic::Logs, "sink")?,
        logs_table.clone(),
        config.storage.clone(),
        stop_sinks.clone(),
    )));

    // The streaming stage: metrics.raw -> derived samples on `metrics` + metrics_1m rows.
    let stop_stream = CancellationToken::new();
    let (rollup_tx, rollup_rx) = tokio::sync::mpsc::channel(1024);
    let rollup_sink = tokio::spawn(run_rollup_sink(
        rollup_rx,
        rollup_table.clone(),
        config.storage.clone(),
    ));
    let stream = if config.stream.enabled {
        let sub = bus.subscribe(Topic::MetricsRaw, "stream")?;
        Some(tokio::spawn(sotp_pipeline::stream::run_stream(
            sub,
            shared_bus.clone(),
            rollup_tx,
            config.stream.clone(),
            sotp_pipeline::stream::state_path(&config.data_dir),
            stop_stream.clone(),
        )))
    } else {
        drop(rollup_tx);
        None
    };

    let engine = QueryEngine::new(
        config.query.clone(),
        &cold,
        &[
            metrics_table.clone(),
            logs_table.clone(),
            rollup_table.clone(),
        ],
    )?;
    for (name, kind) in [
        ("devices", InventoryKind::Devices),
        ("audit", InventoryKind::Audit),
    ] {
        engine.register(name, Arc::new(InventoryTable::new(store.clone(), kind)))?;
    }
    let ready = Arc::new(AtomicBool::new(false));
    let state = ApiState {
        engine,
        prometheus,
        ready: ready.clone(),
        control: Control::new(store.clone(), config.auth.clone()),
    };
    let listener = tokio::net::TcpListener::bind(&config.api.listen)
        .await
        .with_context(|| format!("cannot listen on {} ([api] listen)", config.api.listen))?;
    let stop_api = CancellationToken::new();
    let api = {
        let stop = stop_api.clone();
        tokio::spawn(async move {
            axum::serve(
                listener,
                router(state).into_make_service_with_connect_info::<std::net::SocketAddr>(),
            )
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await
        })
    };

    let stop_collectors = CancellationToken::new();
    let mut collectors = Vec::new();
    let icmp = match config
        .icmp
        .enabled
        .then(|| IcmpPoller::new(config.icmp.clone()))
    {
        None => None,
        Some(Ok(p)) => Some(p),
        // Nothing to ping yet: run without ICMP rather than refuse to start.
        Some(Err(e)) if devices.is_empty() => {
            tracing::warn!(error = %e, "ICMP collector not started: devices added later are not pinged");
            None
        }
        Some(Err(e)) => return Err(e).context("starting the ICMP collector"),
    };
    if let Some(poller) = icmp {
        collectors.push(tokio::spawn(run_scheduler(
            Arc::new(poller),
            feed.clone(),
            shared_bus.clone(),
            SchedulerConfig {
                concurrency: config.icmp.concurrency,
            },
            stop_collectors.clone(),
        )));
    }
    if config.syslog.enabled {
        let receiver =
            SyslogReceiver::bind(config.syslog.clone(), feed.clone(), shared_bus.clone())
                .await
                .context("starting the syslog receiver")?;
        collectors.push(tokio::spawn(receiver.run(stop_collectors.clone())));
    }
    if config.snmp.enabled {
        let poller = SnmpPoller::new(config.snmp.clone()).context("starting the SNMP collector")?;
        collectors.push(tokio::spawn(run_scheduler(
            Arc::new(poller),
            feed.clone(),
            shared_bus.clone(),
            SchedulerConfig {
                concurrency: config.snmp.concurrency,
            },
            stop_collectors.clone(),
        )));
    }
    ready.store(true, Ordering::Release);
    let url = format!("http://{}", config.api.listen);
    tracing::info!(devices = devices.len(), api = %url, parquet = cold.description(), "SOTP running");
    eprintln!(
        "SOTP is running: {} devices, Parquet in {}.\nLog in (user from `sotp user create` or SOTP_ADMIN_USER) and keep the access token:\n  export SOTP_TOKEN=$(curl -s {url}/api/v1/auth/login -H 'content-type: application/json' \\\n    -d '{{\"username\": \"admin\", \"password\": \"...\"}}' | sed 's/.*\"access_token\":\"\\([^\"]*\\)\".*/\\1/')\nThen send SQL to {url}/api/v1/query, for example:\n  curl -s {url}/api/v1/query -H \"authorization: Bearer $SOTP_TOKEN\" -H 'content-type: application/json' \\\n    -d '{{\"sql\": \"SELECT device, avg(value) AS rtt_ms FROM metrics WHERE metric = '\\''icmp.rtt_ms'\\'' GROUP BY device ORDER BY rtt_ms DESC LIMIT 10\"}}'\nor: sotp query \"SELECT count(*) FROM metrics\" (reads SOTP_TOKEN)\nStop with Ctrl-C (everything in memory is written to Parquet first).",
        devices.len(),
        cold.description()
    );

    wait_for_signal().await;
    tracing::info!("stopping: finishing polls in flight");
    ready.store(false, Ordering::Release);
    stop_collectors.cancel();
    for c in collectors {
        c.await.context("collector task")?;
    }
    if let Some(stream) = stream {
        // The collectors are done, so all they published is queued: the stage drains it,
        // saves its state and stops publishing before the bus closes.
        stop_stream.cancel();
        stream.await.context("stream task")?;
    }
    tracing::info!("stopping: writing memory to parquet");
    bus.close();
    for s in sinks {
        s.await.context("sink task")?;
    }
    rollup_sink.await.context("rollup sink task")?;
    stop_sinks.cancel();
    stop_api.cancel();
    api.await.context("api task")?.context("api server")?;
    store.close().await;
    tracing::info!("stopped cleanly");
    Ok(())
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
