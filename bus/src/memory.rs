//! The in-process bus: one bounded queue per (topic, group).
//!
//! Queues are bounded in *events*, not batches, by a semaphore: `publish` takes one
//! permit per event (a batch larger than the whole capacity takes all of them) and the
//! permits return when the subscriber receives the batch. Memory is therefore bounded by
//! `capacity_events` per group, and a slow subscriber slows every publisher.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use sotp_schemas::{EventBatch, Topic};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

use super::{Bus, BusError, Delivery, Subscription};

/// Settings of the in-process bus.
#[derive(Clone, Copy, Debug)]
pub struct MemoryBusConfig {
    /// Events that may wait in one group's queue before publishers wait.
    pub capacity_events: usize,
}

impl Default for MemoryBusConfig {
    fn default() -> Self {
        Self {
            capacity_events: 200_000,
        }
    }
}

#[derive(Debug)]
struct GroupQueue {
    group: String,
    tx: mpsc::UnboundedSender<(EventBatch, OwnedSemaphorePermit)>,
    permits: Arc<Semaphore>,
    depth: Arc<AtomicUsize>,
}

/// The default bus: bounded in-memory queues inside one process.
#[derive(Debug, Clone)]
pub struct MemoryBus {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: MemoryBusConfig,
    topics: Mutex<HashMap<Topic, Vec<Arc<GroupQueue>>>>,
    closed: AtomicBool,
    unrouted_warned: Mutex<Vec<Topic>>,
}

impl MemoryBus {
    /// A bus with the given capacity.
    pub fn new(config: MemoryBusConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                config: MemoryBusConfig {
                    capacity_events: config.capacity_events.max(1),
                },
                topics: Mutex::new(HashMap::new()),
                closed: AtomicBool::new(false),
                unrouted_warned: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Events currently queued for `group` on `topic` (for tests and `/metrics`).
    pub fn depth(&self, topic: Topic, group: &str) -> usize {
        self.groups(topic)
            .iter()
            .find(|g| g.group == group)
            .map_or(0, |g| g.depth.load(Ordering::Relaxed))
    }

    fn groups(&self, topic: Topic) -> Vec<Arc<GroupQueue>> {
        self.inner
            .topics
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&topic)
            .cloned()
            .unwrap_or_default()
    }
}

#[async_trait]
impl Bus for MemoryBus {
    async fn publish(&self, topic: Topic, batch: EventBatch) -> Result<(), BusError> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(BusError::Closed(topic));
        }
        let n = batch.len();
        if n == 0 {
            return Ok(());
        }
        let groups = self.groups(topic);
        metrics::counter!("sotp_bus_published_events_total", "topic" => topic.name())
            .increment(n as u64);
        if groups.is_empty() {
            // Nobody consumes this topic in this process: say so, once, and count.
            metrics::counter!("sotp_bus_unrouted_events_total", "topic" => topic.name())
                .increment(n as u64);
            let mut warned = self
                .inner
                .unrouted_warned
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if !warned.contains(&topic) {
                warned.push(topic);
                tracing::warn!(%topic, "events published with no subscriber are discarded and counted in sotp_bus_unrouted_events_total");
            }
            return Ok(());
        }
        let want = u32::try_from(n.min(self.inner.config.capacity_events)).unwrap_or(u32::MAX);
        let last = groups.len() - 1;
        let mut batch = Some(batch);
        for (i, g) in groups.iter().enumerate() {
            let permit = g
                .permits
                .clone()
                .acquire_many_owned(want)
                .await
                .map_err(|_| BusError::Closed(topic))?;
            let b = if i == last {
                batch
                    .take()
                    .unwrap_or_else(|| EventBatch::Metrics(Vec::new()))
            } else {
                batch
                    .clone()
                    .unwrap_or_else(|| EventBatch::Metrics(Vec::new()))
            };
            let depth = g.depth.fetch_add(n, Ordering::Relaxed) + n;
            metrics::gauge!("sotp_bus_queue_depth", "topic" => topic.name(), "group" => g.group.clone())
                .set(depth as f64);
            if g.tx.send((b, permit)).is_err() {
                // The subscriber went away; its queue no longer exists.
                g.depth.fetch_sub(n, Ordering::Relaxed);
                metrics::counter!("sotp_bus_unrouted_events_total", "topic" => topic.name())
                    .increment(n as u64);
                tracing::warn!(%topic, group = %g.group, events = n, "subscriber gone; events discarded and counted");
            }
        }
        Ok(())
    }

    fn subscribe(&self, topic: Topic, group: &str) -> Result<Box<dyn Subscription>, BusError> {
        let mut topics = self
            .inner
            .topics
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let groups = topics.entry(topic).or_default();
        if groups.iter().any(|g| g.group == group) {
            return Err(BusError::DuplicateGroup {
                topic,
                group: group.to_string(),
            });
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let depth = Arc::new(AtomicUsize::new(0));
        groups.push(Arc::new(GroupQueue {
            group: group.to_string(),
            tx,
            permits: Arc::new(Semaphore::new(self.inner.config.capacity_events)),
            depth: depth.clone(),
        }));
        Ok(Box::new(MemorySubscription {
            topic,
            group: group.to_string(),
            rx,
            depth,
        }))
    }

    fn close(&self) {
        self.inner.closed.store(true, Ordering::Release);
        // Dropping the senders ends each stream once its queue is drained.
        self.inner
            .topics
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

#[derive(Debug)]
struct MemorySubscription {
    topic: Topic,
    group: String,
    rx: mpsc::UnboundedReceiver<(EventBatch, OwnedSemaphorePermit)>,
    depth: Arc<AtomicUsize>,
}

#[async_trait]
impl Subscription for MemorySubscription {
    async fn recv(&mut self) -> Option<Delivery> {
        let (batch, permit) = self.rx.recv().await?;
        drop(permit);
        let depth = self.depth.fetch_sub(batch.len(), Ordering::Relaxed) - batch.len();
        metrics::gauge!("sotp_bus_queue_depth", "topic" => self.topic.name(), "group" => self.group.clone())
            .set(depth as f64);
        Some(Delivery::new(batch))
    }
}

#[cfg(test)]
mod tests;
