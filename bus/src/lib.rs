//! The bus that carries events between SOTP's stages: one trait ([`Bus`]), the
//! in-process implementation ([`MemoryBus`], nothing to install), the offsets and
//! checkpoints a consumer keeps on a partitioned bus ([`checkpoint`]), and the live
//! device set the collectors follow ([`devices`]). The Kafka implementation lives in
//! its own crate (`sotp-kafka`), so that a collector or a parser never builds rdkafka.
//!
//! Publish/subscribe on named topics.
//!
//! Semantics every implementation keeps:
//! - every subscriber *group* of a topic receives every event published after it
//!   subscribed, in publish order per key;
//! - queues are bounded: a slow consumer slows its producers (`publish` waits); nothing is
//!   dropped silently;
//! - [`Bus::close`] lets subscribers drain what is queued and then see the end of stream,
//!   which is how a clean stop flushes everything.
//!
//! On a partitioned bus (Kafka) each delivered event also says where it came from
//! ([`Origin`]: topic, partition, offset), and a consumer calls
//! [`Subscription::commit`] only once what it consumed is durable downstream, so that a
//! crash replays from the last durable point (see `docs/delivery.md`).

pub mod checkpoint;
pub mod devices;
mod memory;

use async_trait::async_trait;
use sotp_schemas::{EventBatch, Topic};

pub use memory::{MemoryBus, MemoryBusConfig};

/// A bus failure.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The bus was closed; nothing more can be published.
    #[error("bus closed: cannot publish to `{0}`")]
    Closed(Topic),
    /// The same group subscribed twice to one topic (the in-process bus has one consumer
    /// per group).
    #[error("group `{group}` already subscribed to `{topic}`")]
    DuplicateGroup {
        /// The topic.
        topic: Topic,
        /// The group.
        group: String,
    },
    /// A bus implementation outside this crate (Kafka) failed.
    #[error("{source}")]
    Backend {
        /// Its error.
        source: Box<dyn std::error::Error + Send + Sync>,
        /// Whether retrying the same call later may succeed.
        retryable: bool,
    },
}

impl BusError {
    /// Whether retrying the same call later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            BusError::Backend {
                retryable: true,
                ..
            }
        )
    }
}

/// Where one delivered event came from on a partitioned bus.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    /// Full topic name, for example `sotp.metrics.raw`.
    pub topic: std::sync::Arc<str>,
    /// Partition.
    pub partition: i32,
    /// Offset of the message in its partition.
    pub offset: i64,
}

/// One batch handed to a subscriber.
#[derive(Debug)]
pub struct Delivery {
    /// The events.
    pub batch: EventBatch,
    /// Where each event came from (same order and length as `batch`) on a partitioned
    /// bus; empty on the in-process bus, which has no offsets.
    pub origins: Vec<Origin>,
}

impl Delivery {
    /// A delivery without origins (the in-process bus).
    pub fn new(batch: EventBatch) -> Self {
        Self {
            batch,
            origins: Vec::new(),
        }
    }
}

/// A change of the partitions a consumer group member owns (a Kafka rebalance), handed
/// over in order with the events: everything received before it came from the old
/// assignment, everything after it from the new one.
#[derive(Debug)]
pub enum Rebalance {
    /// The partitions are about to be taken away. The consumer makes everything it
    /// received from them durable, commits, then calls [`RevokeAck::done`]; the group
    /// waits for that (at most a timeout, logged when it expires) before the next owner
    /// starts reading them.
    Revoking {
        /// The partitions (of the subscription's topic).
        partitions: Vec<i32>,
        /// Answer once their events are durable and committed.
        ack: RevokeAck,
    },
    /// The partitions were just given to this member; their events follow.
    Assigned {
        /// The partitions (of the subscription's topic).
        partitions: Vec<i32>,
    },
}

/// The answer to [`Rebalance::Revoking`].
#[derive(Debug)]
pub struct RevokeAck(std::sync::mpsc::SyncSender<()>);

impl RevokeAck {
    /// An answer and what the waiting side receives.
    pub fn new() -> (Self, std::sync::mpsc::Receiver<()>) {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        (Self(tx), rx)
    }

    /// Everything received from the revoked partitions is durable and committed.
    pub fn done(self) {
        let _ = self.0.send(());
    }
}

/// What a subscription hands over: events, or a change of the partitions it owns.
#[derive(Debug)]
pub enum Received {
    /// Events.
    Events(Delivery),
    /// A rebalance (only from [`Bus::subscribe_with_rebalance`] on Kafka).
    Rebalance(Rebalance),
}

/// Next offset to read per partition of one topic: what a consumer commits.
pub type CommitOffsets = Vec<(i32, i64)>;

/// The receiving side of one subscriber group on one topic.
#[async_trait]
pub trait Subscription: Send + std::fmt::Debug {
    /// The next batch, or `None` once the bus is closed and the queue drained.
    async fn recv(&mut self) -> Option<Delivery>;

    /// Records that everything before `offsets` (partition, next offset to read) is
    /// durable downstream. The in-process bus has nothing to commit.
    fn commit(&mut self, offsets: &CommitOffsets) -> Result<(), BusError> {
        let _ = offsets;
        Ok(())
    }

    /// Full topic name this subscription reads (offset bookkeeping keys on it).
    fn topic_name(&self) -> Option<&str> {
        None
    }

    /// Like [`Subscription::recv`], but also hands over the rebalances of a subscription
    /// made with [`Bus::subscribe_with_rebalance`] (others never have any).
    async fn recv_or_rebalance(&mut self) -> Option<Received> {
        self.recv().await.map(Received::Events)
    }
}

/// Publish/subscribe on named topics.
#[async_trait]
pub trait Bus: Send + Sync + std::fmt::Debug {
    /// Publishes a batch; waits while any subscriber's queue is full (back-pressure).
    async fn publish(&self, topic: Topic, batch: EventBatch) -> Result<(), BusError>;

    /// Subscribes `group` to `topic`: it receives everything published from now on.
    fn subscribe(&self, topic: Topic, group: &str) -> Result<Box<dyn Subscription>, BusError>;

    /// Like [`Bus::subscribe`], for a consumer that writes what it owns and must hand a
    /// partition over cleanly: on Kafka, [`Subscription::recv_or_rebalance`] reports
    /// partitions assigned and partitions about to be revoked (the revocation waits for
    /// the consumer's [`RevokeAck`]), and commits cover only the partitions it owns.
    fn subscribe_with_rebalance(
        &self,
        topic: Topic,
        group: &str,
    ) -> Result<Box<dyn Subscription>, BusError> {
        self.subscribe(topic, group)
    }

    /// Stops accepting events; subscribers drain their queues and then see the end.
    fn close(&self);

    /// Waits until everything published so far is durable where the bus keeps it (a
    /// Kafka producer's messages acknowledged by the brokers), at most `timeout`, and
    /// goes on publishing afterwards; `false` when it is not. An operator of the
    /// streaming stage waits for it before it saves a checkpoint. In-process nothing
    /// outlives the process, so there is nothing to wait for.
    async fn sync(&self, timeout: std::time::Duration) -> bool {
        let _ = timeout;
        true
    }

    /// Waits until what was published is handed over (a Kafka producer's buffer is
    /// delivered to the brokers), at most `timeout`, then stops publishing: the last
    /// call of a clean stop. Returns events still undelivered.
    async fn flush(&self, timeout: std::time::Duration) -> usize {
        let _ = timeout;
        0
    }

    /// Whether the bus can currently deliver (brokers reachable); always true in-process.
    fn is_connected(&self) -> bool {
        true
    }

    /// Whether other processes publish and consume beside this one (Kafka): then a
    /// consumer may be handed an event again after a crash (the sinks drop repeats), and
    /// other processes write the same tables (the API reads their new files).
    fn is_shared(&self) -> bool {
        false
    }

    /// Records `value` for `key` in the shared store `store`: small state that must outlive
    /// the process keeping it and move with a device, such as a collector's last
    /// configuration digest per device. Returns once it is durable. In-process one
    /// collector owns every device and keeps its own state, so nothing is shared and this
    /// does nothing; on Kafka it is a compacted topic `<prefix>state.<store>`.
    async fn put_state(&self, store: &str, key: &str, value: &str) -> Result<(), BusError> {
        let _ = (store, key, value);
        Ok(())
    }

    /// The latest value of every key of the shared store `store` (see
    /// [`Bus::put_state`]); empty in-process.
    async fn load_state(
        &self,
        store: &str,
    ) -> Result<std::collections::HashMap<String, String>, BusError> {
        let _ = store;
        Ok(std::collections::HashMap::new())
    }

    /// The live device set of this process's collectors, following `inventory`: every
    /// device in-process; on a partitioned bus only the devices of the partitions this
    /// process owns, so that another collector process takes its share (and a dead one's
    /// devices move to the others). Secrets stay sealed (open them with
    /// [`devices::open_secrets`]). The following ends when `stop` turns true.
    fn follow_devices(
        &self,
        stop: tokio::sync::watch::Receiver<bool>,
    ) -> Result<tokio::sync::watch::Receiver<Vec<sotp_schemas::Device>>, BusError> {
        let _ = stop;
        let sub = self.subscribe(Topic::Inventory, devices::COLLECTORS_GROUP)?;
        Ok(devices::follow_bus(sub, Vec::new(), None))
    }
}
