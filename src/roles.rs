//! `sotp run --role ...` on the Kafka bus: each role can run as its own process.
//!
//! - `collector`: publishes the configured devices on `inventory` (secrets sealed), joins
//!   the collectors' group there and polls (ICMP, SNMP) the devices of the partitions it
//!   owns, following their changes live;
//! - `pipeline`: the streaming stage (derived metrics, alerts) — this build has none yet,
//!   so the role only joins the bus and waits;
//! - `sink`: consumes `metrics.raw` and `metrics` into the hot tier and Parquet, and
//!   commits offsets only after a flush (see `docs/delivery.md`);
//! - `api`: the HTTP API; publishes the stored devices and every change made through
//!   the API on `inventory`; without the `sink` role in the same process it reads the
//!   Parquet files the sinks write and picks up new ones every second.
//!
//! Stop order: collectors finish their polls, the producer delivers its buffer, the
//! consumers stop, sinks write and commit, the API stops.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use clap::ValueEnum;
use sotp_ingest::icmp::IcmpPoller;
use sotp_ingest::snmp::SnmpPoller;
use sotp_ingest::{SchedulerConfig, run_scheduler};
use sotp_pipeline::bus::kafka::shard::follow_inventory;
use sotp_pipeline::{Bus, KafkaBus};
use sotp_query::QueryEngine;
use sotp_query::api::{ApiState, router};
use sotp_schemas::Topic;
use sotp_sinks::{ColdStore, run_metrics_sink};
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

/// Runs the given roles on the Kafka bus until SIGINT/SIGTERM.
pub async fn run_kafka(config: Config, roles: Roles) -> anyhow::Result<()> {
    let prometheus = (roles.has(Role::Api) && config.api.metrics)
        .then(crate::telemetry::init_metrics)
        .transpose()?;
    let kafka = crate::bus::kafka_config(&config);
    let bus = KafkaBus::connect(kafka.clone())
        .await
        .context("starting the Kafka bus")?;
    let shared_bus: Arc<dyn Bus> = Arc::new(bus.clone());

    let cold = ColdStore::open(&config.storage.url, &config.data_dir)
        .with_context(|| format!("opening storage under {}", config.data_dir.display()))?;
    let table = if roles.has(Role::Sink) || roles.has(Role::Api) {
        Some(crate::run::open_metrics(&config, &cold).await?)
    } else {
        None
    };

    let stop_sinks = CancellationToken::new();
    let mut sinks = Vec::new();
    if let (true, Some(table)) = (roles.has(Role::Sink), &table) {
        for topic in [Topic::MetricsRaw, Topic::Metrics] {
            let sub = bus.subscribe(topic, "sink")?;
            sinks.push(tokio::spawn(run_metrics_sink(
                sub,
                table.clone(),
                config.storage.clone(),
                stop_sinks.clone(),
            )));
        }
    }
    if roles.has(Role::Pipeline) {
        tracing::info!("pipeline role: this build has no streaming stage yet; nothing to derive");
    }

    let ready = Arc::new(AtomicBool::new(false));
    let stop_api = CancellationToken::new();
    let mut api = None;
    if let (true, Some(table)) = (roles.has(Role::Api), &table) {
        let engine = QueryEngine::new(config.query.clone(), &cold, std::slice::from_ref(table))?;
        // The api role checks every request against the control plane's users and tokens.
        let store = crate::control::open_store(&config).await?;
        crate::control::bootstrap_admin(&store).await?;
        // Device changes made here reach the collector processes through `inventory`;
        // the whole inventory is published once at start for collectors that missed some.
        let n = crate::inventory_feed::publish_snapshot(&store, &*shared_bus).await?;
        tracing::info!(devices = n, "inventory published");
        crate::inventory_feed::publish_changes(store.clone(), shared_bus.clone());
        let state = ApiState {
            engine,
            prometheus,
            ready: ready.clone(),
            control: sotp_query::api::Control::new(store, config.auth.clone()),
        };
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
        if !roles.has(Role::Sink) {
            // Read what the sink processes write.
            let table = table.clone();
            let stop = stop_api.clone();
            tokio::spawn(async move {
                while !stop.is_cancelled() {
                    if let Err(e) = table.refresh().await {
                        tracing::warn!(error = %e, "cannot list new parquet files");
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
        // Secrets never go on the topic in plain text: sealed under the master key, which
        // every collector process shares (SOTP_MASTER_KEY or [secrets] key_file).
        let key = Arc::new(crate::control::master_key(&config)?);
        bus.publish_devices(&crate::inventory_feed::sealed_config_devices(
            &config, &*key,
        )?)
        .context("publishing devices on the inventory topic")?;
        let owned = sotp_pipeline::inventory::open_secrets(follow_inventory(&bus, follow_rx)?, key);
        if config.icmp.enabled {
            let poller = Arc::new(
                IcmpPoller::new(config.icmp.clone()).context("starting the ICMP collector")?,
            );
            collectors.push(tokio::spawn(run_scheduler(
                poller,
                owned.clone(),
                shared_bus.clone(),
                SchedulerConfig {
                    concurrency: config.icmp.concurrency,
                },
                stop_collectors.clone(),
            )));
        }
        if config.snmp.enabled {
            let poller = Arc::new(
                SnmpPoller::new(config.snmp.clone()).context("starting the SNMP collector")?,
            );
            collectors.push(tokio::spawn(run_scheduler(
                poller,
                owned,
                shared_bus.clone(),
                SchedulerConfig {
                    concurrency: config.snmp.concurrency,
                },
                stop_collectors.clone(),
            )));
        }
    }

    // `/ready` follows the brokers: not ready while they are unreachable.
    {
        let ready = ready.clone();
        let bus = bus.clone();
        let stop = stop_api.clone();
        tokio::spawn(async move {
            while !stop.is_cancelled() {
                ready.store(bus.is_connected(), Ordering::Release);
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        });
    }
    ready.store(true, Ordering::Release);
    tracing::info!(roles = %roles.describe(), brokers = %kafka.brokers, "SOTP running on Kafka");
    eprintln!(
        "SOTP is running on Kafka ({}) with roles: {}",
        kafka.brokers,
        roles.describe()
    );

    crate::run::wait_for_signal().await;
    tracing::info!("stopping");
    stop_collectors.cancel();
    let _ = stop_follow.send(true);
    for c in collectors {
        c.await.context("collector task")?;
    }
    let left = bus.flush(Duration::from_secs(30)).await;
    if left > 0 {
        tracing::error!(
            events = left,
            "events not delivered to Kafka before exit are lost"
        );
    }
    bus.close();
    for s in sinks {
        s.await.context("sink task")?;
    }
    stop_sinks.cancel();
    stop_api.cancel();
    if let Some(api) = api {
        api.await.context("api task")?.context("api server")?;
    }
    tracing::info!("stopped cleanly");
    Ok(())
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
