//! The poll scheduler shared by every polling collector.
//!
//! Polls are spread evenly over each device's interval: with N devices on interval T,
//! the k-th device (in a stable order) first runs at `k * T / N`, then every T after
//! that, so there is no burst at the start of each interval. A semaphore limits how
//! many polls run at once. A device whose previous poll is still running when its next
//! one is due skips that turn, and the skip is counted (`sotp_poll_skipped_total`).
//!
//! The device set is live: [`run_scheduler`] takes a [`DeviceFeed`] (a
//! `watch::Receiver<Vec<Device>>` from the inventory, or a fixed list) and applies
//! additions, removals and changes while it runs, without restarting the turns of
//! unchanged devices (see `scheduler/plan.rs`).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use async_trait::async_trait;
use sotp_bus::Bus;
use sotp_schemas::{Device, DeviceId, EventBatch, MetricName, MetricSample, Topic, UtcNanos};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::names;
use plan::Plan;

/// What one poll of one device produced.
#[derive(Debug, Default)]
pub struct PollResult {
    /// The collector's samples (without `poll.*`, which the scheduler adds).
    pub samples: Vec<MetricSample>,
    /// The poll reached the device and got data.
    pub ok: bool,
    /// Why the poll failed, for the log.
    pub error: Option<String>,
    /// The poll failed part way and `samples` hold what it read before: published, and
    /// marked with `poll.partial` = 1 so that it never passes for a complete poll.
    pub partial: bool,
}

/// A collector that polls one device at a time.
#[async_trait]
pub trait Poller: Send + Sync + 'static {
    /// The collector's name: `icmp`, `snmp`, ...
    fn collector(&self) -> &'static str;

    /// How often to poll `device`, or `None` when this collector skips it.
    fn interval_for(&self, device: &Device) -> Option<Duration>;

    /// Polls one device. `time` is the sample time to use (the poll's start).
    async fn poll(&self, device: &Device, time: UtcNanos) -> PollResult;

    /// The device is no longer polled (removed, disabled, or owned by another
    /// collector): drop what is kept for it (sessions, cached metadata). A poll in
    /// flight may still finish.
    fn forget(&self, _device: &DeviceId) {}
}

/// Settings of the scheduler.
#[derive(Clone, Copy, Debug)]
pub struct SchedulerConfig {
    /// Polls that may run at once.
    pub concurrency: usize,
    /// At shutdown, how long polls in flight may take to finish (and be published).
    /// A poll still running after it is cut: none of its samples are published (a
    /// poll is published whole or not at all), and it is counted as
    /// `sotp_polls_total{outcome="cut"}`. A 20,000-row walk of a slow agent must not
    /// hold the process's stop for minutes.
    pub stop_grace: Duration,
}

impl SchedulerConfig {
    /// The stop grace of [`SchedulerConfig::stop_grace`] by default: long enough for an
    /// ordinary poll with a retry, well within a service manager's stop timeout.
    pub const STOP_GRACE: Duration = Duration::from_secs(10);
}

/// Where a scheduler (or the syslog enrichment) gets its devices: a live channel that
/// the inventory keeps up to date, or a fixed list.
#[derive(Debug)]
pub struct DeviceFeed {
    rx: watch::Receiver<Vec<Device>>,
    /// Keeps a fixed list's channel open.
    fixed: Option<watch::Sender<Vec<Device>>>,
}

impl DeviceFeed {
    /// The channel, and for a fixed list the sender that keeps it open (hold it as long
    /// as the receiver is used).
    pub fn into_parts(
        self,
    ) -> (
        watch::Receiver<Vec<Device>>,
        Option<watch::Sender<Vec<Device>>>,
    ) {
        (self.rx, self.fixed)
    }
}

impl From<watch::Receiver<Vec<Device>>> for DeviceFeed {
    fn from(rx: watch::Receiver<Vec<Device>>) -> Self {
        Self { rx, fixed: None }
    }
}

impl From<Vec<Device>> for DeviceFeed {
    fn from(devices: Vec<Device>) -> Self {
        let (tx, rx) = watch::channel(devices);
        Self {
            rx,
            fixed: Some(tx),
        }
    }
}

impl From<&[Device]> for DeviceFeed {
    fn from(devices: &[Device]) -> Self {
        devices.to_vec().into()
    }
}

impl From<&Vec<Device>> for DeviceFeed {
    fn from(devices: &Vec<Device>) -> Self {
        devices.clone().into()
    }
}

fn wanted<P: Poller>(poller: &P, devices: &[Device]) -> Vec<(Device, Duration)> {
    devices
        .iter()
        .filter_map(|d| poller.interval_for(d).map(|i| (d.clone(), i)))
        .collect()
}

/// Runs `poller` over `devices` until `shutdown` is cancelled; then waits for the polls
/// in flight, so that every started poll is published, up to `config.stop_grace`;
/// polls still running then are cut and publish nothing. A live feed's changes apply
/// within the scheduler (see `plan`): unchanged devices keep their turns.
pub async fn run_scheduler<P: Poller>(
    poller: Arc<P>,
    devices: impl Into<DeviceFeed>,
    bus: Arc<dyn Bus>,
    config: SchedulerConfig,
    shutdown: CancellationToken,
) {
    let collector = poller.collector();
    let (mut rx, _fixed) = devices.into().into_parts();
    let mut plan = Plan::default();
    let initial = wanted(poller.as_ref(), &rx.borrow_and_update());
    plan.apply(initial, Instant::now());
    tracing::info!(
        collector,
        devices = plan.len(),
        concurrency = config.concurrency,
        "scheduler started"
    );
    let permits = Arc::new(Semaphore::new(config.concurrency.max(1)));
    let mut tasks = JoinSet::new();
    let collector_name: Arc<str> = Arc::from(collector);
    let mut live = true;
    // Cancelled when the stop grace is over: polls still running give up.
    let cut = CancellationToken::new();

    loop {
        let next = plan.next_due();
        tokio::select! {
            () = shutdown.cancelled() => break,
            r = rx.changed(), if live => {
                if r.is_err() {
                    // The inventory went away: keep polling the last set.
                    live = false;
                    continue;
                }
                let set = wanted(poller.as_ref(), &rx.borrow_and_update());
                let a = plan.apply(set, Instant::now());
                for id in &a.removed_ids {
                    poller.forget(id);
                }
                tracing::info!(collector, added = a.added, removed = a.removed, changed = a.changed, devices = plan.len(), "device set changed");
                continue;
            }
            () = sleep_until(next) => {}
        }
        // Reap finished polls so the set does not grow.
        while tasks.try_join_next().is_some() {}
        let Some((slot, due)) = plan.take_due(Instant::now()) else {
            continue;
        };
        if slot.busy.swap(true, Ordering::AcqRel) {
            metrics::counter!("sotp_poll_skipped_total", "collector" => collector).increment(1);
            tracing::debug!(collector, device = %slot.device.name, "previous poll still running; turn skipped");
            continue;
        }
        let (busy, device) = (slot.busy.clone(), slot.device.clone());
        let permit = tokio::select! {
            () = shutdown.cancelled() => { busy.store(false, Ordering::Release); break }
            p = permits.clone().acquire_owned() => p.expect("semaphore is never closed"),
        };
        let (poller, bus) = (poller.clone(), bus.clone());
        let collector_name = collector_name.clone();
        let cut = cut.clone();
        tasks.spawn(async move {
            let _permit = permit;
            // How late the poll starts against its turn (a full machine, a short permit).
            metrics::histogram!("sotp_poll_lateness_seconds", "collector" => collector)
                .record(Instant::now().saturating_duration_since(due).as_secs_f64());
            poll_once(&*poller, &device, &*bus, &collector_name, &cut).await;
            busy.store(false, Ordering::Release);
        });
    }
    let in_flight = tasks.len();
    let drained = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(config.stop_grace, drained)
        .await
        .is_err()
    {
        tracing::warn!(
            collector,
            in_flight,
            still_running = tasks.len(),
            grace_s = config.stop_grace.as_secs_f64(),
            "stopping: polls still running after the stop grace are cut, their samples not published"
        );
        cut.cancel();
        while tasks.join_next().await.is_some() {}
    }
    tracing::info!(collector, "scheduler stopped");
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

async fn poll_once<P: Poller>(
    poller: &P,
    device: &Device,
    bus: &dyn Bus,
    collector: &Arc<str>,
    cut: &CancellationToken,
) {
    let time = UtcNanos::now();
    let started = Instant::now();
    let name = poller.collector();
    let mut result = tokio::select! {
        r = poller.poll(device, time) => r,
        () = cut.cancelled() => {
            metrics::counter!("sotp_polls_total", "collector" => name, "outcome" => "cut").increment(1);
            tracing::info!(collector = name, device = %device.name, running_s = started.elapsed().as_secs_f64(), "poll cut at shutdown: nothing of it published");
            return;
        }
    };
    let elapsed = started.elapsed();
    let outcome = match (result.ok, result.partial) {
        (true, _) => "ok",
        (false, true) => "partial",
        (false, false) => "failed",
    };
    metrics::counter!("sotp_polls_total", "collector" => name, "outcome" => outcome).increment(1);
    metrics::histogram!("sotp_poll_duration_seconds", "collector" => name)
        .record(elapsed.as_secs_f64());
    if let Some(err) = &result.error {
        tracing::debug!(collector = name, device = %device.name, address = %device.address, error = %err, "poll failed");
    }
    let instance: Arc<str> = collector.clone();
    let partial = result.partial.then_some((names::POLL_PARTIAL, 1.0));
    for (metric, value) in [
        (names::POLL_DURATION_MS, elapsed.as_secs_f64() * 1e3),
        (names::POLL_OK, if result.ok { 1.0 } else { 0.0 }),
    ]
    .into_iter()
    .chain(partial)
    {
        let mut s = MetricSample::gauge(
            time,
            &device.id,
            &device.name,
            collector,
            &MetricName::new(metric),
            value,
        );
        s.instance = Some(instance.clone());
        result.samples.push(s);
    }
    let n = result.samples.len();
    if let Err(e) = bus
        .publish(Topic::MetricsRaw, EventBatch::Metrics(result.samples))
        .await
    {
        // Only happens while shutting down after the bus closed.
        tracing::warn!(collector = name, device = %device.name, samples = n, error = %e, "samples not published");
        metrics::counter!("sotp_samples_unpublished_total", "collector" => name)
            .increment(n as u64);
    }
}

mod plan;

#[cfg(test)]
mod tests;

#[cfg(test)]
mod live_tests;
