//! The poll scheduler shared by every polling collector.
//!
//! Polls are spread evenly over each device's interval: with N devices on interval T,
//! the k-th device (in a stable order) first runs at `k * T / N`, then every T after
//! that, so there is no burst at the start of each interval. A semaphore limits how
//! many polls run at once. A device whose previous poll is still running when its next
//! one is due skips that turn, and the skip is counted (`sotp_poll_skipped_total`).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use sotp_pipeline::Bus;
use sotp_schemas::{Device, EventBatch, MetricName, MetricSample, Topic, UtcNanos};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::names;

/// What one poll of one device produced.
#[derive(Debug, Default)]
pub struct PollResult {
    /// The collector's samples (without `poll.*`, which the scheduler adds).
    pub samples: Vec<MetricSample>,
    /// The poll reached the device and got data.
    pub ok: bool,
    /// Why the poll failed, for the log.
    pub error: Option<String>,
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
}

/// Settings of the scheduler.
#[derive(Clone, Copy, Debug)]
pub struct SchedulerConfig {
    /// Polls that may run at once.
    pub concurrency: usize,
}

struct Slot {
    device: Device,
    interval: Duration,
    busy: Arc<AtomicBool>,
}

/// Runs `poller` over `devices` until `shutdown` is cancelled; then waits for the polls
/// in flight, so that every started poll is published.
pub async fn run_scheduler<P: Poller>(
    poller: Arc<P>,
    devices: Vec<Device>,
    bus: Arc<dyn Bus>,
    config: SchedulerConfig,
    shutdown: CancellationToken,
) {
    let collector = poller.collector();
    let mut slots: Vec<Slot> = devices
        .into_iter()
        .filter_map(|d| {
            poller.interval_for(&d).map(|interval| Slot {
                device: d,
                interval,
                busy: Arc::new(AtomicBool::new(false)),
            })
        })
        .collect();
    // A stable order, so that a restart keeps each device's phase.
    slots.sort_by(|a, b| a.device.id.cmp(&b.device.id));
    let n = slots.len();
    tracing::info!(
        collector,
        devices = n,
        concurrency = config.concurrency,
        "scheduler started"
    );
    if n == 0 {
        shutdown.cancelled().await;
        return;
    }
    let start = Instant::now();
    let mut due: BinaryHeap<Reverse<(Instant, usize)>> = slots
        .iter()
        .enumerate()
        .map(|(k, s)| Reverse((start + s.interval.mul_f64(k as f64 / n as f64), k)))
        .collect();
    let permits = Arc::new(Semaphore::new(config.concurrency.max(1)));
    let mut tasks = JoinSet::new();
    let collector_name: Arc<str> = Arc::from(collector);

    while let Some(Reverse((at, k))) = due.pop() {
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep_until(at) => {}
        }
        // Reap finished polls so the set does not grow.
        while tasks.try_join_next().is_some() {}
        let slot = &slots[k];
        let mut next = at + slot.interval;
        let now = Instant::now();
        if next <= now {
            // Far behind (a suspended process, an overloaded machine): skip the missed
            // turns instead of polling in a burst.
            let behind = now.duration_since(next).as_secs_f64() / slot.interval.as_secs_f64();
            next += slot.interval.mul_f64(behind.ceil() + 1.0);
        }
        due.push(Reverse((next, k)));
        if slot.busy.swap(true, Ordering::AcqRel) {
            metrics::counter!("sotp_poll_skipped_total", "collector" => collector).increment(1);
            tracing::debug!(collector, device = %slot.device.name, "previous poll still running; turn skipped");
            continue;
        }
        let permit = tokio::select! {
            () = shutdown.cancelled() => { slot.busy.store(false, Ordering::Release); break }
            p = permits.clone().acquire_owned() => p.expect("semaphore is never closed"),
        };
        let (poller, bus, busy, device) = (
            poller.clone(),
            bus.clone(),
            slot.busy.clone(),
            slot.device.clone(),
        );
        let collector_name = collector_name.clone();
        tasks.spawn(async move {
            let _permit = permit;
            poll_once(&*poller, &device, &*bus, &collector_name).await;
            busy.store(false, Ordering::Release);
        });
    }
    while tasks.join_next().await.is_some() {}
    tracing::info!(collector, "scheduler stopped");
}

async fn poll_once<P: Poller>(poller: &P, device: &Device, bus: &dyn Bus, collector: &Arc<str>) {
    let time = UtcNanos::now();
    let started = Instant::now();
    let mut result = poller.poll(device, time).await;
    let elapsed = started.elapsed();
    let name = poller.collector();
    metrics::counter!("sotp_polls_total", "collector" => name, "outcome" => if result.ok { "ok" } else { "failed" })
        .increment(1);
    metrics::histogram!("sotp_poll_duration_seconds", "collector" => name)
        .record(elapsed.as_secs_f64());
    if let Some(err) = &result.error {
        tracing::debug!(collector = name, device = %device.name, address = %device.address, error = %err, "poll failed");
    }
    let instance: Arc<str> = collector.clone();
    for (metric, value) in [
        (names::POLL_DURATION_MS, elapsed.as_secs_f64() * 1e3),
        (names::POLL_OK, if result.ok { 1.0 } else { 0.0 }),
    ] {
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

#[cfg(test)]
#[path = "scheduler/tests.rs"]
mod tests;
