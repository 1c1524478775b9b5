//! After a restart, which recovered spool records the brokers already hold.
//!
//! The spool's acknowledged position only moves when librdkafka reports a delivery, so a
//! record the brokers stored whose acknowledgement never arrived (lost in an outage, or
//! the process killed first) is in the spool again at the next start. Such records are
//! among the first ones recovered (at most librdkafka's queue: `queue.buffering.max.messages`)
//! and among the newest messages of their partition. Before sending, the producer reads
//! the last `depth` messages of every partition of the event topics and skips recovered
//! records that are byte-identical to one of them (topic, key and payload).

use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Message, Offset, TopicPartitionList};

use super::{KafkaConfig, KafkaError};

/// A 64-bit hash of one message (topic name, key, payload).
pub(super) fn message_hash(topic: &str, key: Option<&[u8]>, payload: &[u8]) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    topic.hash(&mut h);
    key.hash(&mut h);
    payload.hash(&mut h);
    h.finish()
}

/// Hashes of the last `depth` messages of each partition of `topics`.
pub(super) fn tail_hashes(
    config: &KafkaConfig,
    topics: &[String],
    depth: i64,
) -> Result<HashSet<u64>, KafkaError> {
    let consumer: BaseConsumer = config
        .client()
        .set("group.id", "sotp-spool-recovery")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .create()
        .map_err(KafkaError::Client)?;
    let timeout = Duration::from_secs(10);
    let unreachable = |source| KafkaError::Unreachable {
        brokers: config.brokers.clone(),
        source,
    };
    let mut list = TopicPartitionList::new();
    let mut open = 0usize;
    for topic in topics {
        let meta = consumer
            .fetch_metadata(Some(topic), timeout)
            .map_err(unreachable)?;
        for p in meta.topics().iter().flat_map(|t| t.partitions()) {
            let (low, high) = consumer
                .fetch_watermarks(topic, p.id(), timeout)
                .map_err(unreachable)?;
            tracing::debug!(
                topic,
                partition = p.id(),
                low,
                high,
                "spool recovery: partition"
            );
            if high > low {
                list.add_partition_offset(topic, p.id(), Offset::Offset((high - depth).max(low)))
                    .map_err(KafkaError::Client)?;
                open += 1;
            }
        }
    }
    let mut seen = HashSet::new();
    if open == 0 {
        return Ok(seen);
    }
    consumer.assign(&list).map_err(KafkaError::Client)?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while open > 0 {
        if Instant::now() >= deadline {
            tracing::warn!(
                partitions = open,
                "spool recovery: partitions not read to their end in 30 s; duplicates possible"
            );
            break;
        }
        match consumer.poll(Duration::from_millis(500)) {
            Some(Ok(m)) => {
                seen.insert(message_hash(
                    m.topic(),
                    m.key(),
                    m.payload().unwrap_or_default(),
                ));
            }
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => open = open.saturating_sub(1),
            Some(Err(e)) => tracing::warn!(error = %e, "spool recovery: reading a partition"),
            None => {}
        }
    }
    Ok(seen)
}
