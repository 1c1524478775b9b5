//! Publish/subscribe on named topics.
//!
//! Semantics every implementation keeps:
//! - every subscriber *group* of a topic receives every event published after it
//!   subscribed, in publish order per key;
//! - queues are bounded: a slow consumer slows its producers (`publish` waits); nothing is
//!   dropped silently;
//! - [`Bus::close`] lets subscribers drain what is queued and then see the end of stream,
//!   which is how a clean stop flushes everything.

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
}

impl BusError {
    /// Whether retrying the same call later may succeed.
    pub fn is_retryable(&self) -> bool {
        false
    }
}

/// One batch handed to a subscriber.
#[derive(Debug)]
pub struct Delivery {
    /// The events.
    pub batch: EventBatch,
}

/// The receiving side of one subscriber group on one topic.
#[async_trait]
pub trait Subscription: Send + std::fmt::Debug {
    /// The next batch, or `None` once the bus is closed and the queue drained.
    async fn recv(&mut self) -> Option<Delivery>;
}

/// Publish/subscribe on named topics.
#[async_trait]
pub trait Bus: Send + Sync + std::fmt::Debug {
    /// Publishes a batch; waits while any subscriber's queue is full (back-pressure).
    async fn publish(&self, topic: Topic, batch: EventBatch) -> Result<(), BusError>;

    /// Subscribes `group` to `topic`: it receives everything published from now on.
    fn subscribe(&self, topic: Topic, group: &str) -> Result<Box<dyn Subscription>, BusError>;

    /// Stops accepting events; subscribers drain their queues and then see the end.
    fn close(&self);
}
