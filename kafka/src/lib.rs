//! The Kafka bus: the same topics as the in-process bus on a real cluster (rdkafka).
//!
//! - Publishing encodes each event as one JSON message (`schemas/json/`), keyed by device
//!   id, with a `schema_version` header. Events first go to a bounded buffer
//!   ([`producer`]) that a background task hands to an idempotent librdkafka producer,
//!   so collectors keep polling while the brokers are unreachable; when the buffer is full
//!   the oldest events are dropped and counted.
//! - Subscribing joins a consumer group ([`consumer`]); offsets are committed only when the
//!   consumer says its data is durable ([`sotp_bus::Subscription::commit`]). Sinks subscribe
//!   with rebalances ([`rebalance`]): a revoked partition is handed over only once they
//!   wrote and committed what they received from it.
//! - Topics are created on start when missing ([`admin`]).
//! - Collectors share devices through the `inventory` topic ([`shard`]), and what they
//!   remember per device through compacted state topics ([`state`]).

pub mod admin;
mod buffer;
mod config;
mod consumer;
mod fetch;
mod probe;
mod producer;
pub mod rebalance;
mod recover;
pub mod shard;
mod spool;
mod state;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use rdkafka::producer::Producer;
use sotp_schemas::{EventBatch, Topic};

pub use config::{KafkaConfig, Security, SecurityProtocol};
pub use fetch::FetchTotals;
pub use producer::ProducerTotals;

use sotp_bus::{Bus, BusError, Subscription};

/// A Kafka bus failure.
#[derive(Debug, thiserror::Error)]
pub enum KafkaError {
    /// librdkafka refused the client configuration.
    #[error("invalid Kafka client setting: {0}")]
    Client(#[source] rdkafka::error::KafkaError),
    /// The brokers did not answer.
    #[error("cannot reach the Kafka brokers `{brokers}` ([bus] brokers): {source}")]
    Unreachable {
        /// The configured brokers.
        brokers: String,
        /// What librdkafka said.
        #[source]
        source: rdkafka::error::KafkaError,
    },
    /// The brokers answered but refused this client: SASL authentication or the TLS
    /// handshake failed. Retrying does not help until the settings change.
    #[error("the Kafka brokers `{brokers}` refused this client ({security}): {reason}; {hint}")]
    Refused {
        /// The configured brokers.
        brokers: String,
        /// The security settings in use (never the password).
        security: String,
        /// librdkafka's account of the refusal.
        reason: String,
        /// Which settings to check.
        hint: &'static str,
    },
    /// A topic could not be created or has the wrong shape.
    #[error("topic `{topic}`: {reason}")]
    Topic {
        /// Full topic name.
        topic: String,
        /// What is wrong.
        reason: String,
    },
    /// Encoding an event failed.
    #[error("cannot encode an event for `{topic}`: {reason}")]
    Encode {
        /// The topic.
        topic: Topic,
        /// Why.
        reason: String,
    },
}

impl KafkaError {
    /// Whether retrying later may help (the brokers may come back).
    pub fn is_retryable(&self) -> bool {
        matches!(self, KafkaError::Unreachable { .. })
    }
}

impl From<KafkaError> for BusError {
    fn from(e: KafkaError) -> Self {
        BusError::Backend {
            retryable: e.is_retryable(),
            source: Box::new(e),
        }
    }
}

/// The Kafka bus: a buffered idempotent producer plus consumer groups per subscription.
#[derive(Clone, Debug)]
pub struct KafkaBus {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: KafkaConfig,
    producer: producer::BufferedProducer,
    closed: AtomicBool,
    connected: Arc<AtomicBool>,
    /// Stops the health check thread.
    stop: Arc<AtomicBool>,
    /// Becomes true on `close`: subscriptions end their streams.
    closing: tokio::sync::watch::Sender<bool>,
    /// The shared state stores (`state.<store>` topics).
    stores: state::Stores,
    /// What the consumers fetched (with `statistics_interval` set).
    fetch: Arc<fetch::FetchStats>,
}

impl KafkaBus {
    /// Connects: checks that the brokers answer (a clear error at start-up if they do
    /// not), creates missing topics, and starts the producer. Must run inside a tokio
    /// runtime.
    pub async fn connect(config: KafkaConfig) -> Result<Self, KafkaError> {
        admin::ensure_topics(&config).await?;
        let producer = producer::BufferedProducer::start(&config)?;
        let connected = Arc::new(AtomicBool::new(true));
        let stop = Arc::new(AtomicBool::new(false));
        let bus = Self {
            inner: Arc::new(Inner {
                config: config.clone(),
                producer,
                closed: AtomicBool::new(false),
                connected: connected.clone(),
                stop,
                closing: tokio::sync::watch::Sender::new(false),
                stores: state::Stores::new(config.clone()),
                fetch: Arc::default(),
            }),
        };
        bus.spawn_health_check();
        Ok(bus)
    }

    /// The configuration this bus runs with.
    pub fn config(&self) -> &KafkaConfig {
        &self.inner.config
    }

    /// Totals of the producer: published, delivered, dropped.
    pub fn totals(&self) -> ProducerTotals {
        self.inner.producer.totals()
    }

    /// What this bus's consumers fetched, as of their last statistics (all zero unless
    /// [`KafkaConfig::statistics_interval`] is set).
    pub fn fetch_totals(&self) -> FetchTotals {
        self.inner.fetch.totals()
    }

    /// Asks the brokers for metadata every second; `is_connected` reports the last answer.
    fn spawn_health_check(&self) {
        let client = self.inner.producer.client();
        let connected = self.inner.connected.clone();
        let stop = self.inner.stop.clone();
        let brokers = self.inner.config.brokers.clone();
        std::thread::Builder::new()
            .name("sotp-kafka-health".into())
            .spawn(move || {
                while !stop.load(Ordering::Acquire) {
                    let ok = client
                        .client()
                        .fetch_metadata(None, Duration::from_secs(2))
                        .is_ok();
                    let was = connected.swap(ok, Ordering::AcqRel);
                    if was != ok {
                        if ok {
                            tracing::info!(%brokers, "Kafka brokers reachable again");
                        } else {
                            tracing::warn!(%brokers, "Kafka brokers unreachable; events are buffered");
                        }
                    }
                    metrics::gauge!("sotp_kafka_connected").set(if ok { 1.0 } else { 0.0 });
                    std::thread::sleep(Duration::from_secs(1));
                }
            })
            .expect("spawning a thread");
    }
}

#[async_trait]
impl Bus for KafkaBus {
    async fn publish(&self, topic: Topic, batch: EventBatch) -> Result<(), BusError> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(BusError::Closed(topic));
        }
        self.inner.producer.enqueue(topic, &batch)?;
        Ok(())
    }

    fn subscribe(&self, topic: Topic, group: &str) -> Result<Box<dyn Subscription>, BusError> {
        let sub = consumer::KafkaSubscription::start(
            &self.inner.config,
            topic,
            group,
            self.inner.closing.subscribe(),
            self.inner.fetch.clone(),
        )?;
        Ok(Box::new(sub))
    }

    fn subscribe_with_rebalance(
        &self,
        topic: Topic,
        group: &str,
    ) -> Result<Box<dyn Subscription>, BusError> {
        let sub = rebalance::RebalancingSubscription::start(
            &self.inner.config,
            topic,
            group,
            self.inner.closing.subscribe(),
            self.inner.fetch.clone(),
        )?;
        Ok(Box::new(sub))
    }

    fn close(&self) {
        self.inner.closed.store(true, Ordering::Release);
        self.inner.closing.send_replace(true);
    }

    /// Every event published so far acknowledged by the brokers, without stopping the
    /// producer; `false` when some are not, or when any was ever dropped or failed.
    async fn sync(&self, timeout: Duration) -> bool {
        self.inner.producer.wait_delivered(timeout).await
    }

    async fn flush(&self, timeout: Duration) -> usize {
        let left = self.inner.producer.drain(timeout).await;
        self.inner.stop.store(true, Ordering::Release);
        left
    }

    fn is_connected(&self) -> bool {
        self.inner.connected.load(Ordering::Acquire)
    }

    fn is_shared(&self) -> bool {
        true
    }

    async fn put_state(&self, store: &str, key: &str, value: &str) -> Result<(), BusError> {
        Ok(self.inner.stores.put(store, key, value).await?)
    }

    async fn load_state(
        &self,
        store: &str,
    ) -> Result<std::collections::HashMap<String, String>, BusError> {
        Ok(self.inner.stores.load(store).await?)
    }

    fn follow_devices(
        &self,
        stop: tokio::sync::watch::Receiver<bool>,
    ) -> Result<tokio::sync::watch::Receiver<Vec<sotp_schemas::Device>>, BusError> {
        Ok(shard::follow_inventory(self, stop)?)
    }
}
