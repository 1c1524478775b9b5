//! The consuming side: one consumer group member per subscription, manual commits.
//!
//! `recv` returns what is available (up to [`MAX_BATCH`] messages) as one delivery with
//! each event's origin. A message that is not valid JSON for its topic is counted in
//! `sotp_bus_invalid_messages_total`, logged with its partition and offset, set aside in
//! the dead-letter folder when one is configured, and skipped: the consumer goes on.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::FutureExt;
use rdkafka::consumer::{CommitMode, Consumer, ConsumerContext, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use sotp_schemas::{EventBatch, Topic};
use tokio::sync::watch;

use super::fetch::FetchStats;
use super::{KafkaConfig, KafkaError};
use sotp_bus::{BusError, CommitOffsets, Delivery, Origin, Subscription};

/// Most messages gathered into one delivery.
pub(super) const MAX_BATCH: usize = 2_000;

/// One member of a consumer group on one topic.
pub(super) struct KafkaSubscription {
    consumer: StreamConsumer<StatsContext>,
    decoder: Decoder,
    name: Arc<str>,
    brokers: String,
    closing: watch::Receiver<bool>,
}

/// Turns the messages of one topic into events with their origins.
#[derive(Debug)]
pub(super) struct Decoder {
    pub(super) topic: Topic,
    pub(super) name: Arc<str>,
    pub(super) dead_letter_dir: Option<PathBuf>,
}

/// Hands librdkafka's statistics (when enabled) to the bus's [`FetchStats`].
pub(super) struct StatsContext {
    pub(super) fetch: Arc<FetchStats>,
}

impl ClientContext for StatsContext {
    fn stats_raw(&self, statistics: &[u8]) {
        self.fetch.record(statistics);
    }
}

impl ConsumerContext for StatsContext {}

impl std::fmt::Debug for KafkaSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaSubscription")
            .field("topic", &self.name)
            .finish_non_exhaustive()
    }
}

impl KafkaSubscription {
    /// Joins `group` on `topic`.
    pub(super) fn start(
        config: &KafkaConfig,
        topic: Topic,
        group: &str,
        closing: watch::Receiver<bool>,
        fetch: Arc<FetchStats>,
    ) -> Result<Self, KafkaError> {
        let consumer: StreamConsumer<StatsContext> = config
            .consumer(group)
            .create_with_context(StatsContext { fetch })
            .map_err(KafkaError::Client)?;
        let name = config.topic(topic);
        consumer
            .subscribe(&[name.as_str()])
            .map_err(KafkaError::Client)?;
        let name: Arc<str> = Arc::from(name);
        Ok(Self {
            consumer,
            decoder: Decoder {
                topic,
                name: name.clone(),
                dead_letter_dir: config.dead_letter_dir.clone(),
            },
            name,
            brokers: config.brokers.clone(),
            closing,
        })
    }
}

impl Decoder {
    /// Decodes one message into `out`; bad ones are counted, logged and set aside.
    pub(super) fn take(
        &self,
        m: &BorrowedMessage<'_>,
        out: &mut Vec<EventBatch>,
        origins: &mut Vec<Origin>,
    ) {
        let Some(payload) = m.payload() else {
            return; // a tombstone: nothing to consume
        };
        match EventBatch::from_json(self.topic, payload) {
            Ok(b) => {
                for _ in 0..b.len() {
                    origins.push(Origin {
                        topic: self.name.clone(),
                        partition: m.partition(),
                        offset: m.offset(),
                    });
                }
                out.push(b);
            }
            Err(e) => {
                metrics::counter!("sotp_bus_invalid_messages_total", "topic" => self.topic.name())
                    .increment(1);
                let aside = self.dead_letter_dir.as_ref().map(|d| {
                    d.join(format!(
                        "{}-{}-{}.msg",
                        self.name,
                        m.partition(),
                        m.offset()
                    ))
                });
                if let Some(path) = &aside {
                    let written = path
                        .parent()
                        .map_or(Ok(()), std::fs::create_dir_all)
                        .and_then(|()| std::fs::write(path, payload));
                    if let Err(we) = written {
                        tracing::error!(path = %path.display(), error = %we, "cannot set aside an invalid message");
                    }
                }
                tracing::warn!(
                    topic = %self.name,
                    partition = m.partition(),
                    offset = m.offset(),
                    error = %e,
                    set_aside = ?aside,
                    "invalid message skipped (sotp_bus_invalid_messages_total)"
                );
            }
        }
    }
}

/// Commits the next offsets of partitions of `topic` (asynchronously); nothing to do
/// for none.
pub(super) fn commit<'a, C: ConsumerContext>(
    consumer: &impl Consumer<C>,
    topic: &str,
    brokers: &str,
    offsets: impl IntoIterator<Item = &'a (i32, i64)>,
) -> Result<(), BusError> {
    let mut tpl = TopicPartitionList::new();
    for (p, next) in offsets {
        tpl.add_partition_offset(topic, *p, Offset::Offset(*next))
            .map_err(KafkaError::Client)?;
    }
    if tpl.count() == 0 {
        return Ok(());
    }
    consumer.commit(&tpl, CommitMode::Async).map_err(|source| {
        BusError::from(KafkaError::Unreachable {
            brokers: brokers.to_string(),
            source,
        })
    })
}

/// One batch of the events of several messages (of one topic, so of one kind).
pub(super) fn merge(batches: Vec<EventBatch>) -> Option<EventBatch> {
    let mut it = batches.into_iter();
    let mut first = it.next()?;
    for b in it {
        if let Err(other) = first.try_extend(b) {
            tracing::error!(
                events = other.len(),
                "mixed event kinds on one topic dropped"
            );
        }
    }
    Some(first)
}

#[async_trait]
impl Subscription for KafkaSubscription {
    async fn recv(&mut self) -> Option<Delivery> {
        loop {
            if *self.closing.borrow() {
                return None;
            }
            let mut batches = Vec::new();
            let mut origins = Vec::new();
            let first = tokio::select! {
                m = self.consumer.recv() => m,
                _ = self.closing.wait_for(|c| *c) => return None,
            };
            match first {
                Ok(m) => self.decoder.take(&m, &mut batches, &mut origins),
                Err(e) => {
                    tracing::warn!(topic = %self.name, error = %e, "Kafka consumer error; retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            }
            for _ in 1..MAX_BATCH {
                match self.consumer.recv().now_or_never() {
                    Some(Ok(m)) => self.decoder.take(&m, &mut batches, &mut origins),
                    _ => break,
                }
            }
            if let Some(batch) = merge(batches) {
                return Some(Delivery { batch, origins });
            }
        }
    }

    fn commit(&mut self, offsets: &CommitOffsets) -> Result<(), BusError> {
        commit(&self.consumer, &self.name, &self.brokers, offsets)
    }

    fn topic_name(&self) -> Option<&str> {
        Some(&self.name)
    }
}
