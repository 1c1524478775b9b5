//! `sotp run`: the one wiring of every role, over either bus.
//!
//! The same program runs on the in-process bus (every role in one process) and on Kafka
//! (any set of roles per process, `--role`):
//! - `collector`: ICMP and SNMP polling of the devices this process owns (on Kafka the
//!   partitions of `inventory` it owns, see `kafka/src/shard.rs`; in-process
//!   every device), following device changes live, and the syslog receiver; publishes on
//!   `metrics.raw` and `logs`;
//! - `pipeline`: the streaming stage: `metrics.raw` in, derived samples on `metrics`,
//!   closed 1-minute rollups into `metrics_1m` (on Kafka written by this role itself,
//!   in step with the stage's checkpoints: `docs/delivery.md`);
//! - `sink`: `metrics.raw` and `metrics` into `metrics`, `logs` into `logs`, committing
//!   offsets only after a flush;
//! - `api`: the HTTP API over `metrics`, `logs`, `metrics_1m`, `devices` and `audit`;
//!   publishes every device change made through it on `inventory` (secrets sealed);
//!   without the writing roles in the same process it picks up their new Parquet files
//!   every second.
//!
//! Start order: storage, sinks subscribed, the stage, the API, the collectors. Stop
//! order (SIGINT/SIGTERM): collectors finish their polls, the stage drains and saves its
//! state, the producer delivers its buffer, the bus closes, sinks write and commit, the
//! API stops. A clean stop loses nothing.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use clap::ValueEnum;
use sotp_bus::checkpoint::{Checkpoint, InProcess};
use sotp_bus::{Bus, MemoryBus, MemoryBusConfig};
use sotp_ingest::icmp::IcmpPoller;
use sotp_ingest::snmp::SnmpPoller;
use sotp_ingest::syslog::SyslogReceiver;
use sotp_ingest::{SchedulerConfig, run_scheduler};
use sotp_kafka::KafkaBus;
use sotp_kafka::shard::follow_inventory;
use sotp_query::{InventoryKind, InventoryTable, QueryEngine};
use sotp_schemas::Topic;
use sotp_server::{ApiState, Control, router};
use sotp_sinks::{
    ColdStore, RecentLogs, Repeats, RollupSync, SeriesWatermark, TableStore, load_with_watermark,
    run_logs_sink_with, run_metrics_sink_with, run_rollup_sink, run_rollup_writer,
};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::config::Config;

/// One job a `sotp run` process can do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum Role {
    /// Poll devices and publish samples.
    Collector,
    /// The streaming stage (derived metrics and alerts).
    Pipeline,
    /// Write samples to the hot tier and Parquet.
    Sink,
    /// The HTTP API.
    Api,
    /// Every role.
    All,
}

/// The roles of one process, with `all` expanded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Roles(BTreeSet<Role>);

impl Roles {
    /// The set named on the command line (`all` when empty).
    pub fn new(roles: &[Role]) -> Self {
        let all = [Role::Collector, Role::Pipeline, Role::Sink, Role::Api];
        let mut set = BTreeSet::new();
        if roles.is_empty() || roles.contains(&Role::All) {
            set.extend(all);
        } else {
            set.extend(roles.iter().copied());
        }
        Self(set)
    }

    /// Whether every role runs here.
    pub fn is_all(&self) -> bool {
        self.0.len() == 4
    }

    /// Whether `role` runs here.
    pub fn has(&self, role: Role) -> bool {
        self.0.contains(&role)
    }

    /// For logs: `collector,sink`.
    pub fn describe(&self) -> String {
        self.0
            .iter()
            .filter_map(|r| r.to_possible_value().map(|v| v.get_name().to_string()))
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// The tables this process opens: those its roles write or read.
struct Tables {
    metrics: Option<Arc<TableStore>>,
    logs: Option<Arc<TableStore>>,
    rollups: Option<Arc<TableStore>>,
}

impl Tables {
    async fn open(config: &Config, cold: &ColdStore, roles: &Roles) -> anyhow::Result<Self> {
        let sink_or_api = roles.has(Role::Sink) || roles.has(Role::Api);
        let rollups_here =
            roles.has(Role::Api) || (roles.has(Role::Pipeline) && config.stream.enabled);
        Ok(Self {
            metrics: match sink_or_api {
                true => Some(crate::run::open_metrics(config, cold).await?),
                false => None,
            },
            logs: match sink_or_api {
                true => Some(crate::run::open_logs(config, cold).await?),
                false => None,
            },
            rollups: match rollups_here {
                true => Some(crate::run::open_rollups(config, cold).await?),
                false => None,
            },
        })
    }

    fn all(&self) -> Vec<Arc<TableStore>> {
        [&self.metrics, &self.logs, &self.rollups]
            .into_iter()
            .flatten()
            .cloned()
            .collect()
    }
}

/// The stage's checkpoint on Kafka: derived samples acknowledged by the brokers and
/// closed rollups in Parquet before the state is saved.
#[derive(Debug)]
struct KafkaCheckpoint {
    bus: KafkaBus,
    rollups: RollupSync,
}

#[async_trait::async_trait]
impl Checkpoint for KafkaCheckpoint {
    async fn outputs_durable(&self) -> bool {
        self.bus.sync(Duration::from_secs(30)).await && self.rollups.sync().await
    }
}

/// Runs `roles` on the configured bus until SIGINT/SIGTERM.
pub async fn run(config: Config, roles: Roles) -> anyhow::Result<()> {
    let prometheus = (roles.has(Role::Api) && config.api.metrics)
        .then(crate::telemetry::init_metrics)
        .transpose()?;
    let kafka = match config.bus.kind.as_str() {
        "kafka" => {
            let settings = crate::bus::kafka_config(&config);
            Some(
                KafkaBus::connect(settings)
                    .await
                    .context("starting the Kafka bus")?,
            )
        }
        _ => None,
    };
    let bus: Arc<dyn Bus> = match &kafka {
        Some(k) => Arc::new(k.clone()),
        None => Arc::new(MemoryBus::new(MemoryBusConfig {
            capacity_events: config.bus.capacity_events,
        })),
    };

    // The control plane: devices for the collectors, users and tokens for the API.
    let store = match roles.has(Role::Collector) || roles.has(Role::Api) {
        true => Some(crate::control::open_store(&config).await?),
        false => None,
    };
    let mut devices = Vec::new();
    let mut memory_feed = None;
    if let Some(store) = &store {
        if roles.has(Role::Api) {
            crate::control::bootstrap_admin(store).await?;
        }
        if roles.has(Role::Collector) {
            let imported = store
                .sync_config_devices(&crate::control::config_devices(&config))
                .await
                .context("importing the configuration's devices into the inventory")?;
            tracing::info!(changed = imported, "configuration devices imported");
            if kafka.is_none() {
                // The collectors follow the live inventory: API changes arrive on `inventory`.
                let feed = crate::inventory_feed::memory_feed(&config, store, bus.clone()).await?;
                devices = feed.borrow().clone();
                memory_feed = Some(feed);
            }
        }
    }

    let cold = ColdStore::open(&config.storage.url, &config.data_dir)
        .with_context(|| format!("opening storage under {}", config.data_dir.display()))?;
    let tables = Tables::open(&config, &cold, &roles).await?;

    // Sinks subscribe before anything publishes.
    let stop_sinks = CancellationToken::new();
    let mut sinks = Vec::new();
    if roles.has(Role::Sink)
        && let (Some(metrics), Some(logs)) = (&tables.metrics, &tables.logs)
    {
        // On Kafka a collector's producer may have delivered an event twice (a process
        // killed with acknowledgements in flight), and the stage may output again what
        // it output after its last checkpoint: the sinks drop those repeats.
        let (raw_repeats, stage_repeats, log_repeats) = match kafka.is_some() {
            true => {
                let (recent, watermark) = load_with_watermark(metrics).await?;
                (
                    Some(Repeats::Exact(recent)),
                    Some(Repeats::Watermark(watermark)),
                    Some(RecentLogs::load(logs).await?),
                )
            }
            false => (None, None, None),
        };
        sinks.push(tokio::spawn(run_metrics_sink_with(
            bus.subscribe_with_rebalance(Topic::MetricsRaw, "sink.metrics.raw")?,
            metrics.clone(),
            config.storage.clone(),
            stop_sinks.clone(),
            raw_repeats,
        )));
        sinks.push(tokio::spawn(run_metrics_sink_with(
            bus.subscribe_with_rebalance(Topic::Metrics, "sink.metrics")?,
            metrics.clone(),
            config.storage.clone(),
            stop_sinks.clone(),
            stage_repeats,
        )));
        sinks.push(tokio::spawn(run_logs_sink_with(
            bus.subscribe_with_rebalance(Topic::Logs, "sink.logs")?,
            logs.clone(),
            config.storage.clone(),
            stop_sinks.clone(),
            log_repeats,
        )));
    }

    // The streaming stage: metrics.raw -> derived samples on `metrics` + metrics_1m rows.
    let stop_stream = CancellationToken::new();
    let mut stream = None;
    let mut rollup_writer = None;
    if roles.has(Role::Pipeline)
        && config.stream.enabled
        && let Some(rollups) = &tables.rollups
    {
        let (rollup_tx, rollup_rx) = tokio::sync::mpsc::channel(1024);
        let checkpoint: Arc<dyn Checkpoint> = match &kafka {
            Some(k) => {
                let (sync, requests) = RollupSync::new();
                let watermark = SeriesWatermark::load(rollups).await?;
                rollup_writer = Some(tokio::spawn(run_rollup_writer(
                    rollup_rx,
                    requests,
                    rollups.clone(),
                    config.storage.clone(),
                    watermark,
                )));
                Arc::new(KafkaCheckpoint {
                    bus: k.clone(),
                    rollups: sync,
                })
            }
            None => {
                rollup_writer = Some(tokio::spawn(run_rollup_sink(
                    rollup_rx,
                    rollups.clone(),
                    config.storage.clone(),
                )));
                Arc::new(InProcess)
            }
        };
        stream = Some(tokio::spawn(sotp_pipeline::stream::run_stream(
            bus.subscribe(Topic::MetricsRaw, "stream")?,
            bus.clone(),
            rollup_tx,
            config.stream.clone(),
            sotp_pipeline::stream::state_path(&config.data_dir),
            stop_stream.clone(),
            checkpoint,
        )));
    }

    let ready = Arc::new(AtomicBool::new(false));
    let stop_api = CancellationToken::new();
    let mut api = None;
    if roles.has(Role::Api)
        && let Some(store) = &store
    {
        let engine = QueryEngine::new(config.query.clone(), &cold, &tables.all())?;
        for (name, kind) in [
            ("devices", InventoryKind::Devices),
            ("audit", InventoryKind::Audit),
        ] {
            engine.register(name, Arc::new(InventoryTable::new(store.clone(), kind)))?;
        }
        if kafka.is_some() {
            // Device changes made here reach the collector processes through `inventory`;
            // the whole inventory is published once at start for collectors that missed
            // some. (In-process, the collectors' feed publishes them: `memory_feed`.)
            let n = crate::inventory_feed::publish_snapshot(store, bus.as_ref()).await?;
            tracing::info!(devices = n, "inventory published");
            crate::inventory_feed::publish_changes(store.clone(), bus.clone());
        }
        let state = ApiState::new(
            engine,
            prometheus,
            ready.clone(),
            Control::new(store.clone(), config.auth.clone()),
        );
        let listener = tokio::net::TcpListener::bind(&config.api.listen)
            .await
            .with_context(|| format!("cannot listen on {} ([api] listen)", config.api.listen))?;
        let stop = stop_api.clone();
        api = Some(tokio::spawn(async move {
            axum::serve(
                listener,
                router(state).into_make_service_with_connect_info::<std::net::SocketAddr>(),
            )
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await
        }));
        // On Kafka, read what other processes write (other sinks of the group too).
        let foreign: Vec<Arc<TableStore>> = match kafka.is_some() {
            true => tables.all(),
            false => Vec::new(),
        };
        if !foreign.is_empty() {
            let stop = stop_api.clone();
            tokio::spawn(async move {
                while !stop.is_cancelled() {
                    for table in &foreign {
                        if let Err(e) = table.refresh().await {
                            tracing::warn!(table = table.name(), error = %e, "cannot list new parquet files");
                        }
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            });
        }
    }

    let stop_collectors = CancellationToken::new();
    let (stop_follow, follow_rx) = watch::channel(false);
    let mut collectors = Vec::new();
    if roles.has(Role::Collector) {
        // Each collector follows its live device set: on Kafka the devices of the
        // inventory partitions this process owns, their secrets sealed on the topic and
        // opened with the master key every collector process shares; in-process every
        // device, following the changes made through the API.
        let feed = match (&kafka, &memory_feed) {
            (Some(k), _) => {
                let key = Arc::new(crate::control::master_key(&config)?);
                k.publish_devices(&crate::inventory_feed::sealed_config_devices(
                    &config, &*key,
                )?)
                .context("publishing devices on the inventory topic")?;
                sotp_bus::devices::open_secrets(follow_inventory(k, follow_rx)?, key)
            }
            (None, Some(feed)) => feed.clone(),
            (None, None) => unreachable!("the in-process collector role opens the store"),
        };
        let icmp = match config
            .icmp
            .enabled
            .then(|| IcmpPoller::new(config.icmp.clone()))
        {
            None => None,
            Some(Ok(p)) => Some(p),
            // Nothing to ping yet: run without ICMP rather than refuse to start.
            Some(Err(e)) if kafka.is_none() && devices.is_empty() => {
                tracing::warn!(error = %e, "ICMP collector not started: devices added later are not pinged");
                None
            }
            Some(Err(e)) => return Err(e).context("starting the ICMP collector"),
        };
        if let Some(poller) = icmp {
            collectors.push(tokio::spawn(run_scheduler(
                Arc::new(poller),
                feed.clone(),
                bus.clone(),
                SchedulerConfig {
                    concurrency: config.icmp.concurrency,
                },
                stop_collectors.clone(),
            )));
        }
        if config.snmp.enabled {
            let poller =
                SnmpPoller::new(config.snmp.clone()).context("starting the SNMP collector")?;
            collectors.push(tokio::spawn(run_scheduler(
                Arc::new(poller),
                feed.clone(),
                bus.clone(),
                SchedulerConfig {
                    concurrency: config.snmp.concurrency,
                },
                stop_collectors.clone(),
            )));
        }
        if config.syslog.enabled {
            // Any device may send to any receiver: enrichment follows every device.
            let receiver = SyslogReceiver::bind(config.syslog.clone(), feed.clone(), bus.clone())
                .await
                .context("starting the syslog receiver")?;
            collectors.push(tokio::spawn(receiver.run(stop_collectors.clone())));
        }
    }

    ready.store(true, Ordering::Release);
    if let Some(k) = &kafka {
        // `/ready` follows the brokers: not ready while they are unreachable.
        let ready = ready.clone();
        let k = k.clone();
        let stop = stop_api.clone();
        tokio::spawn(async move {
            while !stop.is_cancelled() {
                ready.store(k.is_connected(), Ordering::Release);
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        });
    }
    announce(&config, &roles, kafka.is_some(), devices.len(), &cold);

    crate::run::wait_for_signal().await;
    tracing::info!("stopping: finishing polls in flight");
    ready.store(false, Ordering::Release);
    stop_collectors.cancel();
    let _ = stop_follow.send(true);
    for c in collectors {
        c.await.context("collector task")?;
    }
    if let Some(stream) = stream {
        // The collectors are done: the stage drains what is queued, makes its outputs
        // durable, saves its state and stops publishing before the bus closes.
        stop_stream.cancel();
        stream.await.context("stream task")?;
    }
    if let Some(w) = rollup_writer {
        w.await.context("rollup sink task")?;
    }
    if let Some(k) = &kafka {
        let left = k.flush(Duration::from_secs(30)).await;
        if left > 0 {
            tracing::error!(
                events = left,
                "events not delivered to Kafka before exit are lost"
            );
        }
    }
    tracing::info!("stopping: writing memory to parquet");
    bus.close();
    for s in sinks {
        s.await.context("sink task")?;
    }
    stop_sinks.cancel();
    stop_api.cancel();
    if let Some(api) = api {
        api.await.context("api task")?.context("api server")?;
    }
    if let Some(store) = store {
        store.close().await;
    }
    tracing::info!("stopped cleanly");
    Ok(())
}

/// Says how to use the running process.
fn announce(config: &Config, roles: &Roles, kafka: bool, devices: usize, cold: &ColdStore) {
    if kafka {
        tracing::info!(roles = %roles.describe(), brokers = %config.bus.brokers, "SOTP running on Kafka");
        eprintln!(
            "SOTP is running on Kafka ({}) with roles: {}",
            config.bus.brokers,
            roles.describe()
        );
        return;
    }
    let url = format!("http://{}", config.api.listen);
    tracing::info!(devices, api = %url, parquet = cold.description(), "SOTP running");
    eprintln!(
        "SOTP is running: {} devices, Parquet in {}.\nLog in (user from `sotp user create` or SOTP_ADMIN_USER) and keep the access token:\n  export SOTP_TOKEN=$(curl -s {url}/api/v1/auth/login -H 'content-type: application/json' \\\n    -d '{{\"username\": \"admin\", \"password\": \"...\"}}' | sed 's/.*\"access_token\":\"\\([^\"]*\\)\".*/\\1/')\nThen send SQL to {url}/api/v1/query, for example:\n  curl -s {url}/api/v1/query -H \"authorization: Bearer $SOTP_TOKEN\" -H 'content-type: application/json' \\\n    -d '{{\"sql\": \"SELECT device, avg(value) AS rtt_ms FROM metrics WHERE metric = '\\''icmp.rtt_ms'\\'' GROUP BY device ORDER BY rtt_ms DESC LIMIT 10\"}}'\nor: sotp query \"SELECT count(*) FROM metrics\" (reads SOTP_TOKEN)\nStop with Ctrl-C (everything in memory is written to Parquet first).",
        devices,
        cold.description()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_expands_and_named_roles_stay_alone() {
        assert!(Roles::new(&[]).is_all());
        assert!(Roles::new(&[Role::All]).is_all());
        assert!(Roles::new(&[Role::Sink, Role::All]).is_all());
        let r = Roles::new(&[Role::Sink, Role::Api]);
        assert!(!r.is_all() && r.has(Role::Sink) && r.has(Role::Api) && !r.has(Role::Collector));
        assert_eq!(r.describe(), "sink,api");
    }
}
