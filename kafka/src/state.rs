//! Shared state stores ([`sotp_bus::Bus::put_state`], [`sotp_bus::Bus::load_state`]): one
//! compacted topic per store, `<prefix>state.<store>`, keyed like the data (device id),
//! so what one collector remembers about a device is known to the collector its
//! `inventory` partition moves to. Stores are small (one value per device): a load reads
//! the whole topic up to the end offsets it found when it started.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};

use super::{KafkaConfig, KafkaError};

/// How long a put waits for the brokers' acknowledgement, and a load for the end of the
/// topic.
const TIMEOUT: Duration = Duration::from_secs(30);

/// The stores of one bus: the topics already made sure of, and a producer made on the
/// first put.
pub(crate) struct Stores {
    config: KafkaConfig,
    ensured: Mutex<HashSet<String>>,
    producer: OnceLock<FutureProducer>,
}

impl std::fmt::Debug for Stores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stores")
            .field("ensured", &self.ensured)
            .finish_non_exhaustive()
    }
}

impl Stores {
    pub(crate) fn new(config: KafkaConfig) -> Self {
        Self {
            config,
            ensured: Mutex::new(HashSet::new()),
            producer: OnceLock::new(),
        }
    }

    /// The topic of `store`, created (compacted) when it does not exist yet.
    async fn topic(&self, store: &str) -> Result<String, KafkaError> {
        let name = format!("{}state.{store}", self.config.topic_prefix);
        let known = self
            .ensured
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&name);
        if !known {
            super::admin::create(&self.config, &[(name.clone(), true)]).await?;
            self.ensured
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(name.clone());
        }
        Ok(name)
    }

    /// Writes `key = value` and waits for the brokers' acknowledgement.
    pub(crate) async fn put(&self, store: &str, key: &str, value: &str) -> Result<(), KafkaError> {
        let topic = self.topic(store).await?;
        let producer = match self.producer.get() {
            Some(p) => p,
            None => {
                let p: FutureProducer = self
                    .config
                    .client()
                    .set("enable.idempotence", "true")
                    .set("message.timeout.ms", TIMEOUT.as_millis().to_string())
                    .create()
                    .map_err(KafkaError::Client)?;
                self.producer.get_or_init(|| p)
            }
        };
        producer
            .send(
                FutureRecord::to(&topic).key(key).payload(value),
                rdkafka::util::Timeout::After(TIMEOUT),
            )
            .await
            .map_err(|(source, _)| KafkaError::Unreachable {
                brokers: self.config.brokers.clone(),
                source,
            })?;
        Ok(())
    }

    /// Every key's latest value: the topic read from its start to the end offsets it had
    /// when the load began (a tombstone removes its key).
    pub(crate) async fn load(&self, store: &str) -> Result<HashMap<String, String>, KafkaError> {
        let topic = self.topic(store).await?;
        let config = self.config.clone();
        tokio::task::spawn_blocking(move || read_to_end(&config, &topic))
            .await
            .map_err(|e| KafkaError::Topic {
                topic: store.to_owned(),
                reason: format!("the reader stopped: {e}"),
            })?
    }
}

fn read_to_end(config: &KafkaConfig, topic: &str) -> Result<HashMap<String, String>, KafkaError> {
    let unreachable = |source| KafkaError::Unreachable {
        brokers: config.brokers.clone(),
        source,
    };
    // A group id is required by librdkafka; nothing is ever committed under it.
    let consumer: BaseConsumer = config
        .client()
        .set("group.id", config.group("state-reader"))
        .set("enable.auto.commit", "false")
        .create()
        .map_err(KafkaError::Client)?;
    let metadata = consumer
        .fetch_metadata(Some(topic), TIMEOUT)
        .map_err(unreachable)?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic)
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    let mut ends: HashMap<i32, i64> = HashMap::new();
    let mut assignment = TopicPartitionList::new();
    for p in partitions {
        let (low, high) = consumer
            .fetch_watermarks(topic, p, TIMEOUT)
            .map_err(unreachable)?;
        if high > low {
            assignment
                .add_partition_offset(topic, p, Offset::Offset(low))
                .map_err(KafkaError::Client)?;
            ends.insert(p, high);
        }
    }
    let mut state = HashMap::new();
    if ends.is_empty() {
        return Ok(state);
    }
    consumer.assign(&assignment).map_err(KafkaError::Client)?;
    let deadline = Instant::now() + TIMEOUT;
    while !ends.is_empty() {
        if Instant::now() > deadline {
            return Err(KafkaError::Topic {
                topic: topic.to_owned(),
                reason: format!(
                    "not read to its end within {TIMEOUT:?} (partitions left: {:?})",
                    ends.keys().collect::<Vec<_>>()
                ),
            });
        }
        let Some(m) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let m = m.map_err(unreachable)?;
        if let Some(key) = m.key() {
            let key = String::from_utf8_lossy(key).into_owned();
            match m.payload() {
                Some(v) if !v.is_empty() => {
                    state.insert(key, String::from_utf8_lossy(v).into_owned());
                }
                _ => {
                    state.remove(&key);
                }
            }
        }
        if ends
            .get(&m.partition())
            .is_some_and(|end| m.offset() + 1 >= *end)
        {
            ends.remove(&m.partition());
        }
    }
    Ok(state)
}
