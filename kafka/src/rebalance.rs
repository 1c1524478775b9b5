//! A consumer group member that hands its partitions over cleanly: what lets several sink
//! processes share a topic with nothing written twice.
//!
//! librdkafka runs rebalance callbacks inside `poll`. If the sink task polled itself, a
//! revocation would arrive while the task is inside `recv`, unable to flush the rows it
//! holds. So a dedicated thread polls the consumer and hands events to the task through
//! a bounded channel; a revocation is put in the same channel, after every event polled
//! before it, and the thread waits (at most [`REVOKE_TIMEOUT`]) for the task's
//! [`RevokeAck`]: the task appends, flushes and commits what it received from those
//! partitions first. Only then does librdkafka give the partitions up, so the next owner
//! starts after what this member wrote. An assignment goes through the channel too,
//! before the first event of the new partitions.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance as RdRebalance};
use rdkafka::{ClientContext, TopicPartitionList};
use sotp_schemas::{EventBatch, Topic};
use tokio::sync::{mpsc, watch};

use super::consumer::{Decoder, MAX_BATCH, merge};
use super::fetch::FetchStats;
use super::{KafkaConfig, KafkaError};
use sotp_bus::{
    BusError, CommitOffsets, Delivery, Origin, Rebalance, Received, RevokeAck, Subscription,
};

/// Longest wait for a sink to make revoked partitions durable before they move on.
pub const REVOKE_TIMEOUT: Duration = Duration::from_secs(30);

/// Deliveries in flight between the polling thread and the consumer task.
const CHANNEL: usize = 8;

/// A group member whose rebalances reach the consumer task in order with its events.
pub(super) struct RebalancingSubscription {
    rx: mpsc::Receiver<Received>,
    consumer: Arc<BaseConsumer<OwnerContext>>,
    name: Arc<str>,
    brokers: String,
    closing: watch::Receiver<bool>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for RebalancingSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RebalancingSubscription")
            .field("topic", &self.name)
            .finish_non_exhaustive()
    }
}

/// The polling thread's side: decoded events not yet handed over, and the callbacks.
pub(super) struct OwnerContext {
    decoder: Decoder,
    tx: mpsc::Sender<Received>,
    stop: Arc<AtomicBool>,
    pending: Mutex<(Vec<EventBatch>, Vec<Origin>)>,
    assigned: Mutex<BTreeSet<i32>>,
    /// [`REVOKE_TIMEOUT`] (shorter in tests).
    revoke_timeout: Duration,
    fetch: Arc<FetchStats>,
}

impl ClientContext for OwnerContext {
    fn stats_raw(&self, statistics: &[u8]) {
        self.fetch.record(statistics);
    }
}

impl ConsumerContext for OwnerContext {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &RdRebalance<'_>) {
        match rebalance {
            RdRebalance::Revoke(tpl) => {
                let partitions = self.partitions(tpl);
                if !partitions.is_empty() {
                    // Still owned while the consumer commits them.
                    self.revoke(partitions.clone());
                }
                let mut assigned = self.assigned.lock().unwrap_or_else(|e| e.into_inner());
                for p in &partitions {
                    assigned.remove(p);
                }
            }
            RdRebalance::Assign(_) => {}
            RdRebalance::Error(e) => {
                tracing::warn!(topic = %self.decoder.name, error = %e, "Kafka rebalance error");
            }
        }
    }

    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &RdRebalance<'_>) {
        if let RdRebalance::Assign(tpl) = rebalance {
            let partitions = self.partitions(tpl);
            self.assigned
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend(partitions.iter().copied());
            tracing::info!(topic = %self.decoder.name, ?partitions, "partitions assigned");
            self.send(
                Received::Rebalance(Rebalance::Assigned { partitions }),
                None,
            );
        }
    }
}

impl OwnerContext {
    fn partitions(&self, tpl: &TopicPartitionList) -> Vec<i32> {
        tpl.elements()
            .iter()
            .filter(|e| e.topic() == &*self.decoder.name)
            .map(|e| e.partition())
            .collect()
    }

    /// Hands the revocation over after every event polled before it, and waits for the
    /// consumer's answer. `true` when it came in time.
    fn revoke(&self, partitions: Vec<i32>) -> bool {
        let started = Instant::now();
        let deadline = started + self.revoke_timeout;
        let (ack, answer) = RevokeAck::new();
        tracing::info!(topic = %self.decoder.name, ?partitions, "partitions revoked: waiting for the sink to write and commit them");
        self.hand_over_pending();
        let request = Received::Rebalance(Rebalance::Revoking {
            partitions: partitions.clone(),
            ack,
        });
        let answered = self.send(request, Some(deadline))
            && answer
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .is_ok();
        if answered {
            tracing::info!(
                topic = %self.decoder.name,
                ?partitions,
                took_ms = started.elapsed().as_millis() as u64,
                "revoked partitions written and committed: handed over"
            );
        } else if !self.tx.is_closed() {
            tracing::warn!(
                topic = %self.decoder.name,
                ?partitions,
                timeout_ms = self.revoke_timeout.as_millis() as u64,
                "revoked partitions handed over before the sink wrote them: what it still holds may be written again by the next owner"
            );
        }
        // (A closed channel: the subscription is closing and consumes nothing more.)
        answered
    }

    /// Decodes one message into the events not yet handed over.
    fn take(&self, m: &rdkafka::message::BorrowedMessage<'_>) {
        let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let (batches, origins) = &mut *p;
        self.decoder.take(m, batches, origins);
    }

    /// Sends the events decoded so far as one delivery. `false` when the subscription
    /// is gone.
    fn hand_over_pending(&self) -> bool {
        let (batches, origins) =
            std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()));
        match merge(batches) {
            Some(batch) => self.send(Received::Events(Delivery { batch, origins }), None),
            None => true,
        }
    }

    /// Puts `item` in the channel, waiting while it is full (until `deadline`, or until
    /// the subscription stops). `false` when it could not.
    fn send(&self, mut item: Received, deadline: Option<Instant>) -> bool {
        loop {
            match self.tx.try_send(item) {
                Ok(()) => return true,
                Err(mpsc::error::TrySendError::Closed(_)) => return false,
                Err(mpsc::error::TrySendError::Full(back)) => {
                    if self.stop.load(Ordering::Acquire)
                        || deadline.is_some_and(|d| Instant::now() >= d)
                    {
                        return false;
                    }
                    item = back;
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        }
    }

    fn owns(&self, partition: i32) -> bool {
        self.assigned
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&partition)
    }
}

impl RebalancingSubscription {
    /// Joins `group` on `topic` and starts the polling thread.
    pub(super) fn start(
        config: &KafkaConfig,
        topic: Topic,
        group: &str,
        closing: watch::Receiver<bool>,
        fetch: Arc<FetchStats>,
    ) -> Result<Self, KafkaError> {
        let name: Arc<str> = Arc::from(config.topic(topic));
        let (tx, rx) = mpsc::channel(CHANNEL);
        let stop = Arc::new(AtomicBool::new(false));
        let context = OwnerContext {
            decoder: Decoder {
                topic,
                name: name.clone(),
                dead_letter_dir: config.dead_letter_dir.clone(),
            },
            tx,
            stop: stop.clone(),
            pending: Mutex::new((Vec::new(), Vec::new())),
            assigned: Mutex::new(BTreeSet::new()),
            revoke_timeout: REVOKE_TIMEOUT,
            fetch,
        };
        let consumer: BaseConsumer<OwnerContext> = config
            .consumer(group)
            .create_with_context(context)
            .map_err(KafkaError::Client)?;
        consumer.subscribe(&[&name]).map_err(KafkaError::Client)?;
        let consumer = Arc::new(consumer);
        let thread = {
            let consumer = consumer.clone();
            let stop = stop.clone();
            std::thread::Builder::new()
                .name(format!("sotp-poll-{name}"))
                .spawn(move || poll_loop(&consumer, &stop))
                .expect("spawning a thread")
        };
        Ok(Self {
            rx,
            consumer,
            name,
            brokers: config.brokers.clone(),
            closing,
            stop,
            thread: Some(thread),
        })
    }
}

/// Polls until stopped: events (and rebalances, from inside `poll`) go to the channel.
fn poll_loop(consumer: &BaseConsumer<OwnerContext>, stop: &AtomicBool) {
    let ctx = consumer.context();
    while !stop.load(Ordering::Acquire) {
        match consumer.poll(Duration::from_millis(100)) {
            None => continue,
            Some(Err(e)) => {
                tracing::warn!(topic = %ctx.decoder.name, error = %e, "Kafka consumer error; retrying");
                std::thread::sleep(Duration::from_millis(500));
                continue;
            }
            Some(Ok(m)) => ctx.take(&m),
        }
        for _ in 1..MAX_BATCH {
            match consumer.poll(Duration::ZERO) {
                Some(Ok(m)) => ctx.take(&m),
                _ => break,
            }
        }
        if !ctx.hand_over_pending() {
            break;
        }
    }
}

impl Drop for RebalancingSubscription {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        // Senders see a closed channel: a revocation during the close does not wait. A
        // revocation already queued is dropped with its ack: the polling thread stops
        // waiting for it at once.
        self.rx.close();
        while self.rx.try_recv().is_ok() {}
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[async_trait]
impl Subscription for RebalancingSubscription {
    async fn recv(&mut self) -> Option<Delivery> {
        loop {
            match self.recv_or_rebalance().await? {
                Received::Events(d) => return Some(d),
                // Nothing held here: hand the partitions over at once.
                Received::Rebalance(Rebalance::Revoking { ack, .. }) => ack.done(),
                Received::Rebalance(Rebalance::Assigned { .. }) => {}
            }
        }
    }

    async fn recv_or_rebalance(&mut self) -> Option<Received> {
        if *self.closing.borrow() {
            return None;
        }
        tokio::select! {
            r = self.rx.recv() => r,
            _ = self.closing.wait_for(|c| *c) => None,
        }
    }

    /// Commits only the partitions this member owns: another member's partitions are
    /// its own to commit (a stale commit would move its position back).
    fn commit(&mut self, offsets: &CommitOffsets) -> Result<(), BusError> {
        let ctx = self.consumer.context();
        let owned = offsets.iter().filter(|(p, _)| ctx.owns(*p));
        super::consumer::commit(self.consumer.as_ref(), &self.name, &self.brokers, owned)
    }

    fn topic_name(&self) -> Option<&str> {
        Some(&self.name)
    }
}

#[cfg(test)]
mod tests;
