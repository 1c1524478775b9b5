//! `sotp run`: each role as a small start function returning what it runs, stopped in
//! order. The same wiring runs on the in-process bus (every role in one process) and on
//! Kafka (any set of roles per process, `--role`); what differs between the two buses is
//! behind the bus trait (`sotp_bus::Bus`: durability, sharding, sharing), and what runs
//! is listed by the registry ([`crate::components`]).
//!
//! - `collector`: every collector of the registry over the live device set (on Kafka the
//!   devices of the inventory partitions this process owns), publishing on `metrics.raw`
//!   and `logs`; the configuration's devices are published on `inventory`, sealed;
//! - `pipeline`: the operators of the streaming stage (counters, rates, utilization and
//!   rollups: `metrics.raw` in, `metrics` and `metrics.1m` out);
//! - `sink`: the sinks of the registry (`metrics.raw` and `metrics` into `metrics`,
//!   `metrics.1m` into `metrics_1m`, `logs` into `logs`), committing offsets only after a
//!   flush;
//! - `api`: the HTTP API over the tables, `devices` and `audit`; publishes every device
//!   change made through it on `inventory`; on a shared bus it picks up the Parquet
//!   files other processes write.
//!
//! Start order: storage, the device feed and the sinks subscribed, the stage, the API,
//! the collectors. Stop order (SIGINT/SIGTERM): collectors finish their polls (10 s at most; a longer poll is cut
//! and publishes nothing), the stage
//! drains and saves its state, the producer delivers its buffer, the bus closes, sinks
//! write and commit, the API stops. A clean stop loses nothing.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use clap::ValueEnum;
use sotp_bus::{Bus, MemoryBus, MemoryBusConfig};
use sotp_inventory::Store;
use sotp_kafka::KafkaBus;
use sotp_pipeline::operator::{RunConfig, run_operator};
use sotp_query::{InventoryKind, InventoryTable, QueryEngine};
use sotp_schemas::{Device, EventBatch, Topic};
use sotp_server::{ApiState, Control, router};
use sotp_sinks::ColdStore;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::components::{self, Tables};
use crate::config::{BusKind, Config};

/// One job a `sotp run` process can do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum Role {
    /// Poll devices and receive syslog; publish samples and records.
    Collector,
    /// The streaming stage: derived metrics and rollups.
    Pipeline,
    /// Write samples, rollups and logs to the hot tier and Parquet.
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

/// Tasks of one role and the token that stops them.
struct Running {
    role: &'static str,
    stop: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl Running {
    fn new(role: &'static str) -> Self {
        Self {
            role,
            stop: CancellationToken::new(),
            tasks: Vec::new(),
        }
    }

    /// Cancels the role and waits for its tasks.
    async fn stop(self) -> anyhow::Result<()> {
        self.stop.cancel();
        for t in self.tasks {
            t.await
                .with_context(|| format!("a task of the {} role", self.role))?;
        }
        Ok(())
    }
}

/// Opens the configured bus.
async fn open_bus(config: &Config) -> anyhow::Result<Arc<dyn Bus>> {
    Ok(match config.bus.kind {
        BusKind::Kafka => Arc::new(
            KafkaBus::connect(crate::bus::kafka_config(config))
                .await
                .context("starting the Kafka bus")?,
        ),
        BusKind::Memory => Arc::new(MemoryBus::new(MemoryBusConfig {
            capacity_events: config.bus.capacity_events,
        })),
    })
}

/// The collectors' device set: subscribed before anything publishes on `inventory`
/// (the API's snapshot, the configuration's devices), secrets opened with the master
/// key every collector process shares.
fn device_feed(
    config: &Config,
    bus: &dyn Bus,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<watch::Receiver<Vec<Device>>> {
    let key = Arc::new(crate::control::master_key(config)?);
    let followed = bus
        .follow_devices(stop)
        .context("following the inventory")?;
    Ok(sotp_bus::devices::open_secrets(followed, key))
}

/// The sink role: every sink of the registry, subscribed before anything publishes.
async fn start_sinks(config: &Config, tables: &Tables, bus: &dyn Bus) -> anyhow::Result<Running> {
    let mut running = Running::new("sink");
    for sink in components::sinks(config, tables, bus).await? {
        let sub = bus
            .subscribe_with_rebalance(sink.topic(), &sink.name())
            .with_context(|| format!("subscribing {}", sink.name()))?;
        running
            .tasks
            .push(tokio::spawn(sink.run(sub, running.stop.clone())));
    }
    Ok(running)
}

/// The pipeline role: every operator of the streaming stage; the alert windows follow
/// the rules managed through the API in the control database.
async fn start_pipeline(
    config: &Config,
    store: Option<&Store>,
    bus: &Arc<dyn Bus>,
) -> anyhow::Result<Running> {
    let mut running = Running::new("pipeline");
    let rule_feed = match store {
        Some(store) => Some(crate::alerting::rule_feed(store.clone(), running.stop.clone()).await?),
        None => None,
    };
    let pace = RunConfig {
        save_interval: config.stream.state_save_interval,
        sync_timeout: Duration::from_secs(30),
    };
    // Operators stop in the registry's order: each one only after the one before it
    // ended, since a later operator reads the earlier ones' outputs (the alert windows
    // read the counter stage's `metrics` and `metrics.1m`). Stopping them together let
    // the alert windows end while the stage still drained into them, and the stage then
    // waited for room in a queue nobody read.
    let mut stop = running.stop.clone();
    for (op, offsets) in components::operators(config, rule_feed)? {
        let mut inputs = Vec::new();
        for topic in op.inputs() {
            inputs.push((topic, bus.subscribe(topic, op.name())?));
        }
        let task = run_operator(op, inputs, offsets, bus.clone(), pace.clone(), stop);
        let ended = CancellationToken::new();
        stop = ended.clone();
        running.tasks.push(tokio::spawn(async move {
            task.await;
            ended.cancel();
        }));
    }
    Ok(running)
}

/// The API role: the HTTP server over the tables and the inventory.
async fn start_api(
    config: &Config,
    store: &Store,
    cold: &ColdStore,
    tables: &Tables,
    bus: &Arc<dyn Bus>,
    ready: Arc<AtomicBool>,
    prometheus: Option<metrics_exporter_prometheus::PrometheusHandle>,
) -> anyhow::Result<Running> {
    let mut running = Running::new("api");
    let engine = QueryEngine::new(config.query.clone(), cold, &tables.all())?;
    for (name, kind) in [
        ("devices", InventoryKind::Devices),
        ("audit", InventoryKind::Audit),
    ] {
        engine.register(name, Arc::new(InventoryTable::new(store.clone(), kind)))?;
    }
    // Device changes made here reach the collectors through `inventory`; the whole
    // inventory is published once at start for collectors that missed some.
    let n = crate::inventory_feed::publish_snapshot(store, bus.as_ref()).await?;
    tracing::info!(devices = n, "inventory published");
    crate::inventory_feed::publish_changes(store.clone(), bus.clone());
    // Alert notifications: the book reads `alerts` into the control database, the
    // dispatcher drains its outbox.
    let notifier = sotp_notify::start(
        bus.subscribe(Topic::Alerts, "notify")
            .context("subscribing the notifier to alerts")?,
        store.clone(),
        &config.resolved_receivers().map_err(anyhow::Error::msg)?,
        config.inhibit_rules.clone(),
        config.notify.clone(),
        running.stop.clone(),
    )
    .map_err(anyhow::Error::msg)?;
    running.tasks.extend(notifier);
    let control = Control::new(store.clone(), config.auth.clone());
    // The PostgreSQL wire: the same engine, the same logins.
    let pgwire = sotp_pgwire::PgwireServer::bind(&config.pgwire, engine.clone(), control.clone())
        .await
        .context("the PostgreSQL wire front door")?;
    if let Some(pg) = pgwire {
        running
            .tasks
            .push(tokio::spawn(pg.run(running.stop.clone())));
    }
    let ssh = sotp_server::SshService::new(
        &config.ssh,
        Some(sotp_ingest::ssh::host_key_alarm(bus.clone())),
    )
    .map_err(anyhow::Error::msg)?;
    let reports = Arc::new(sotp_server::Reports::new(
        cold.store().clone(),
        config.reports.retention,
        config.icmp.interval,
    ));
    if let Some(task) = crate::report_schedule::start(
        config,
        reports.clone(),
        engine.clone(),
        running.stop.clone(),
    )? {
        running.tasks.push(task);
    }
    let state = ApiState::new(engine, prometheus, ready.clone(), control)
        .with_alerting(crate::alerting::ConfigAlerting::new(config))
        .with_ssh(ssh)
        .with_reports(reports.clone());
    let listener = tokio::net::TcpListener::bind(&config.api.listen)
        .await
        .with_context(|| format!("cannot listen on {} ([api] listen)", config.api.listen))?;
    let serving = sotp_server::ServeConfig {
        max_connections: config.api.max_connections,
        header_read_timeout: config.api.header_read_timeout,
        tls: config.api.tls()?,
        drain: Duration::from_secs(5),
    };
    running.tasks.push(tokio::spawn(sotp_server::serve(
        listener,
        router(state),
        serving,
        running.stop.clone(),
    )));
    if !config.backup.to.is_empty() {
        running.tasks.push(crate::backup::schedule(
            config.clone(),
            running.stop.clone(),
        ));
    }
    // `/ready` follows the bus (on Kafka: not ready while the brokers are unreachable).
    let (stop, watched) = (running.stop.clone(), bus.clone());
    running.tasks.push(tokio::spawn(async move {
        while !stop.is_cancelled() {
            ready.store(watched.is_connected(), Ordering::Release);
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep(Duration::from_millis(250)) => {}
            }
        }
    }));
    if bus.is_shared() {
        // Read what other processes write (other sinks of the group too).
        let (stop, foreign) = (running.stop.clone(), tables.all());
        running.tasks.push(tokio::spawn(async move {
            while !stop.is_cancelled() {
                for table in &foreign {
                    if let Err(e) = table.refresh().await {
                        tracing::warn!(table = table.name(), error = %e, "cannot list new parquet files");
                    }
                }
                tokio::select! {
                    () = stop.cancelled() => break,
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }));
    }
    Ok(running)
}

/// The collector role: the configuration's devices published on `inventory` (sealed),
/// then every collector of the registry over the live device set.
async fn start_collectors(
    config: &Config,
    feed: watch::Receiver<Vec<Device>>,
    bus: &Arc<dyn Bus>,
) -> anyhow::Result<Running> {
    let mut running = Running::new("collector");
    let key = crate::control::master_key(config)?;
    let own = crate::inventory_feed::sealed_config_devices(config, &key)?;
    let changes = own
        .iter()
        .map(|d| sotp_schemas::InventoryChange {
            id: d.id.as_str().to_string(),
            device: Some(d.into()),
        })
        .collect();
    bus.publish(Topic::Inventory, EventBatch::Inventory(changes))
        .await
        .context("publishing the configuration's devices on the inventory topic")?;
    let ctx = sotp_ingest::Context {
        devices: feed,
        bus: bus.clone(),
    };
    for collector in components::collectors(config) {
        let name = collector.name();
        match collector.start(ctx.clone(), running.stop.clone()).await {
            Ok(task) => running.tasks.push(task),
            // No device to ping in the configuration: run without ICMP (on a machine
            // without ICMP rights) rather than refuse to start.
            Err(e) if name == "icmp" && own.is_empty() => {
                tracing::warn!(error = %e, "ICMP collector not started: devices added later are not pinged");
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(running)
}

/// Runs `roles` on the configured bus until SIGINT/SIGTERM.
pub async fn run(config: Config, roles: Roles) -> anyhow::Result<()> {
    // The recorder first: a metric touched before it is installed is never exported.
    let prometheus = (roles.has(Role::Api) && config.api.metrics)
        .then(crate::telemetry::init_metrics)
        .transpose()?;
    let bus = open_bus(&config).await?;
    // The control plane: devices for the collectors, users and tokens for the API.
    let store =
        match roles.has(Role::Collector) || roles.has(Role::Api) || roles.has(Role::Pipeline) {
            true => Some(crate::control::open_store(&config).await?),
            false => None,
        };
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
        }
    }
    let cold = ColdStore::open(&config.storage.url, &config.data_dir)
        .with_context(|| format!("opening storage under {}", config.data_dir.display()))?;
    let tables = match roles.has(Role::Sink) || roles.has(Role::Api) {
        true => Some(Tables {
            metrics: crate::run::open_metrics(&config, &cold).await?,
            rollups: crate::run::open_rollups(&config, &cold).await?,
            logs: crate::run::open_logs(&config, &cold).await?,
            alerts: crate::run::open_alerts(&config, &cold).await?,
            commands: crate::run::open_commands(&config, &cold).await?,
        }),
        false => None,
    };

    // Everything that consumes subscribes before anything publishes.
    let (stop_follow, follow_rx) = watch::channel(false);
    let feed = match roles.has(Role::Collector) {
        true => Some(device_feed(&config, bus.as_ref(), follow_rx)?),
        false => None,
    };
    let sinks = match (&tables, roles.has(Role::Sink)) {
        (Some(tables), true) => Some(start_sinks(&config, tables, bus.as_ref()).await?),
        _ => None,
    };
    let pipeline = match roles.has(Role::Pipeline) {
        true => Some(start_pipeline(&config, store.as_ref(), &bus).await?),
        false => None,
    };
    let ready = Arc::new(AtomicBool::new(false));
    let api = match (&store, &tables, roles.has(Role::Api)) {
        (Some(store), Some(tables), true) => Some(
            start_api(
                &config,
                store,
                &cold,
                tables,
                &bus,
                ready.clone(),
                prometheus,
            )
            .await?,
        ),
        _ => None,
    };
    let collectors = match feed {
        Some(feed) => Some(start_collectors(&config, feed, &bus).await?),
        None => None,
    };
    ready.store(bus.is_connected(), Ordering::Release);
    // The data directory exists once storage is open (also with object storage).
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating {}", config.data_dir.display()))?;
    let heartbeat = crate::health::start(&config.data_dir, roles.describe(), bus.clone());
    announce(&config, &roles, &cold);

    crate::run::wait_for_signal().await;
    tracing::info!("stopping: finishing polls in flight");
    ready.store(false, Ordering::Release);
    drop(heartbeat);
    if let Some(c) = collectors {
        c.stop().await?;
    }
    let _ = stop_follow.send(true);
    if let Some(p) = pipeline {
        // The collectors are done: the stage drains what is queued, makes its outputs
        // durable, saves its state and stops publishing before the bus closes.
        p.stop().await?;
    }
    let left = bus.flush(Duration::from_secs(30)).await;
    if left > 0 {
        tracing::error!(
            events = left,
            "events not delivered to the bus before exit are lost"
        );
    }
    tracing::info!("stopping: writing memory to parquet");
    bus.close();
    if let Some(s) = sinks {
        // The bus is closed: each sink drains its queue, writes and commits, then ends.
        for t in s.tasks {
            t.await.context("sink task")?;
        }
        s.stop.cancel();
    }
    if let Some(a) = api {
        a.stop().await?;
    }
    if let Some(store) = store {
        store.close().await;
    }
    tracing::info!("stopped cleanly");
    Ok(())
}

/// Says how to use the running process.
fn announce(config: &Config, roles: &Roles, cold: &ColdStore) {
    if config.bus.kind == BusKind::Kafka {
        tracing::info!(roles = %roles.describe(), brokers = %config.bus.brokers, "SOTP running on Kafka");
        eprintln!(
            "SOTP is running on Kafka ({}) with roles: {}",
            config.bus.brokers,
            roles.describe()
        );
        return;
    }
    let devices = config.device_list().len();
    let url = format!("http://{}", config.api.listen);
    let (pg_host, pg_port) = config
        .pgwire
        .listen
        .rsplit_once(':')
        .unwrap_or(("127.0.0.1", "5432"));
    tracing::info!(devices, api = %url, pgwire = %config.pgwire.listen, parquet = cold.description(), "SOTP running");
    eprintln!(
        "SOTP is running: {} devices from the configuration, Parquet in {}.\nLog in (user from `sotp user create` or SOTP_ADMIN_USER) and keep the access token:\n  export SOTP_TOKEN=$(curl -s {url}/api/v1/auth/login -H 'content-type: application/json' \\\n    -d '{{\"username\": \"admin\", \"password\": \"...\"}}' | sed 's/.*\"access_token\":\"\\([^\"]*\\)\".*/\\1/')\nThen send SQL to {url}/api/v1/query, for example:\n  curl -s {url}/api/v1/query -H \"authorization: Bearer $SOTP_TOKEN\" -H 'content-type: application/json' \\\n    -d '{{\"sql\": \"SELECT device, avg(value) AS rtt_ms FROM metrics WHERE metric = '\\''icmp.rtt_ms'\\'' GROUP BY device ORDER BY rtt_ms DESC LIMIT 10\"}}'\nor: sotp query \"SELECT count(*) FROM metrics\" (reads SOTP_TOKEN)\nor with psql (and Grafana's PostgreSQL data source): psql \"host={pg_host} port={pg_port} user=admin dbname=sotp\"\nStop with Ctrl-C (everything in memory is written to Parquet first).",
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
