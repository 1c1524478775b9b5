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
use sotp_ingest::{SchedulerConfig, run_scheduler};
use sotp_pipeline::{Bus, MemoryBus, MemoryBusConfig};
use sotp_query::QueryEngine;
use sotp_query::api::{ApiState, router};
use sotp_schemas::{Topic, metric_schema};
use sotp_sinks::writer::Layout;
use sotp_sinks::{ColdStore, TableStore, run_metrics_sink};
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
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = if kafka {
        runtime.block_on(crate::roles::run_kafka(config, roles))
    } else {
        runtime.block_on(run(config))
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
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

async fn run(config: Config) -> anyhow::Result<()> {
    let prometheus = config
        .api
        .metrics
        .then(telemetry::init_metrics)
        .transpose()?;
    let devices = config.device_list();
    let bus = MemoryBus::new(MemoryBusConfig {
        capacity_events: config.bus.capacity_events,
    });
    let shared_bus: Arc<dyn Bus> = Arc::new(bus.clone());

    let cold = ColdStore::open(&config.storage.url, &config.data_dir)
        .with_context(|| format!("opening storage under {}", config.data_dir.display()))?;
    let metrics_table = open_metrics(&config, &cold).await?;

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

    let engine = QueryEngine::new(
        config.query.clone(),
        &cold,
        std::slice::from_ref(&metrics_table),
    )?;
    let ready = Arc::new(AtomicBool::new(false));
    let state = ApiState {
        engine,
        prometheus,
        ready: ready.clone(),
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
    if config.icmp.enabled && !devices.is_empty() {
        let poller = IcmpPoller::new(config.icmp.clone()).context("starting the ICMP collector")?;
        collectors.push(tokio::spawn(run_scheduler(
            Arc::new(poller),
            devices.clone(),
            shared_bus.clone(),
            SchedulerConfig {
                concurrency: config.icmp.concurrency,
            },
            stop_collectors.clone(),
        )));
    }
    ready.store(true, Ordering::Release);
    let url = format!("http://{}", config.api.listen);
    tracing::info!(devices = devices.len(), api = %url, parquet = cold.description(), "SOTP running");
    eprintln!(
        "SOTP is running: {} devices, Parquet in {}.\nSend SQL to {url}/api/v1/query, for example:\n  curl -s {url}/api/v1/query -H 'content-type: application/json' \\\n    -d '{{\"sql\": \"SELECT device, avg(value) AS rtt_ms FROM metrics WHERE metric = '\\''icmp.rtt_ms'\\'' GROUP BY device ORDER BY rtt_ms DESC LIMIT 10\"}}'\nor: sotp query \"SELECT count(*) FROM metrics\"\nStop with Ctrl-C (everything in memory is written to Parquet first).",
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
    tracing::info!("stopping: writing memory to parquet");
    bus.close();
    for s in sinks {
        s.await.context("sink task")?;
    }
    stop_sinks.cancel();
    stop_api.cancel();
    api.await.context("api task")?.context("api server")?;
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
