//! The `Collector` trait: every way SOTP gets data from devices (ICMP, SNMP, syslog;
//! SSH next) is one, started the same way by the binary's registry.
//!
//! A collector is made from its validated settings (plain data, no I/O); [`Collector::start`]
//! opens what it needs (sockets, listeners), fails with an error naming what could not be
//! opened, and spawns its task, which follows the live device set and publishes on the
//! bus until `stop` is cancelled. The pollers (ICMP, SNMP) share the scheduler
//! ([`crate::run_scheduler`]) through [`Polling`].

use std::sync::Arc;

use async_trait::async_trait;
use sotp_bus::Bus;
use sotp_schemas::Device;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::icmp::{IcmpConfig, IcmpPoller};
use crate::snmp::{SnmpConfig, SnmpPoller};
use crate::syslog::{SyslogConfig, SyslogReceiver};
use crate::{Poller, SchedulerConfig, run_scheduler};

/// What every collector works with.
#[derive(Clone, Debug)]
pub struct Context {
    /// The devices to poll or to attribute messages to, kept live from the inventory.
    pub devices: watch::Receiver<Vec<Device>>,
    /// Where samples and records go.
    pub bus: Arc<dyn Bus>,
}

/// A collector could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot start the {collector} collector: {source}")]
pub struct StartError {
    /// Which collector.
    pub collector: &'static str,
    /// What went wrong (a socket that could not be opened, a bad profile file).
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

/// One kind of collector.
#[async_trait]
pub trait Collector: Send + std::fmt::Debug {
    /// `icmp`, `snmp`, `syslog`, ...
    fn name(&self) -> &'static str;

    /// Opens what the collector needs and spawns its task, which runs until `stop`
    /// is cancelled (finishing polls in flight).
    async fn start(
        self: Box<Self>,
        ctx: Context,
        stop: CancellationToken,
    ) -> Result<JoinHandle<()>, StartError>;
}

/// A poller run by the scheduler.
#[derive(Debug)]
pub struct Polling<P> {
    poller: P,
    concurrency: usize,
}

impl<P: Poller> Polling<P> {
    /// `poller`, with at most `concurrency` polls at once.
    pub fn new(poller: P, concurrency: usize) -> Self {
        Self {
            poller,
            concurrency,
        }
    }
}

#[async_trait]
impl<P: Poller + std::fmt::Debug> Collector for Polling<P> {
    fn name(&self) -> &'static str {
        self.poller.collector()
    }

    async fn start(
        self: Box<Self>,
        ctx: Context,
        stop: CancellationToken,
    ) -> Result<JoinHandle<()>, StartError> {
        let config = SchedulerConfig {
            concurrency: self.concurrency,
            stop_grace: SchedulerConfig::STOP_GRACE,
        };
        Ok(tokio::spawn(run_scheduler(
            Arc::new(self.poller),
            ctx.devices,
            ctx.bus,
            config,
            stop,
        )))
    }
}

/// The ICMP collector: its socket opens at start.
#[derive(Debug)]
pub struct Icmp(pub IcmpConfig);

#[async_trait]
impl Collector for Icmp {
    fn name(&self) -> &'static str {
        "icmp"
    }

    async fn start(
        self: Box<Self>,
        ctx: Context,
        stop: CancellationToken,
    ) -> Result<JoinHandle<()>, StartError> {
        let concurrency = self.0.concurrency;
        let poller = IcmpPoller::new(self.0).map_err(|e| StartError {
            collector: "icmp",
            source: Box::new(e),
        })?;
        Box::new(Polling::new(poller, concurrency))
            .start(ctx, stop)
            .await
    }
}

/// The SNMP collector: its vendor profiles load at start.
#[derive(Debug)]
pub struct Snmp(pub SnmpConfig);

#[async_trait]
impl Collector for Snmp {
    fn name(&self) -> &'static str {
        "snmp"
    }

    async fn start(
        self: Box<Self>,
        ctx: Context,
        stop: CancellationToken,
    ) -> Result<JoinHandle<()>, StartError> {
        let concurrency = self.0.concurrency;
        let poller = SnmpPoller::new(self.0).map_err(|e| StartError {
            collector: "snmp",
            source: Box::new(e),
        })?;
        Box::new(Polling::new(poller, concurrency))
            .start(ctx, stop)
            .await
    }
}

/// The syslog receiver: its listeners bind at start.
#[derive(Debug)]
pub struct Syslog(pub SyslogConfig);

#[async_trait]
impl Collector for Syslog {
    fn name(&self) -> &'static str {
        "syslog"
    }

    async fn start(
        self: Box<Self>,
        ctx: Context,
        stop: CancellationToken,
    ) -> Result<JoinHandle<()>, StartError> {
        let receiver = SyslogReceiver::bind(self.0, ctx.devices, ctx.bus)
            .await
            .map_err(|e| StartError {
                collector: "syslog",
                source: Box::new(e),
            })?;
        Ok(tokio::spawn(receiver.run(stop)))
    }
}
