//! Input offsets of a consumer on a partitioned bus, and the replays they skip: what
//! makes the streaming stage's checkpoints and the sinks' files exactly-once.
//!
//! An operator of the stage saves its state with the input offsets it includes, after
//! [`crate::Bus::sync`] made its outputs durable, then commits them. After a crash it
//! restarts from the saved state and skips every input event below its offsets
//! ([`take_new`]); outputs produced after the last save are produced again, identical,
//! and the sinks drop them by series and time (`sinks/src/watermark.rs`). The sinks keep
//! the same map in their Parquet files (`sinks/src/offsets.rs`). See `docs/delivery.md`.

use std::collections::BTreeMap;

use crate::Delivery;

/// "topic/partition" → next input offset the state includes. The same form is what the
/// sinks keep in their Parquet files (`sotp_sinks::offsets`, which uses these helpers).
pub type InputOffsets = BTreeMap<String, i64>;

/// The offsets key of one partition.
pub fn offset_key(topic: &str, partition: i32) -> String {
    format!("{topic}/{partition}")
}

/// Drops from `d` the events below `offsets` (already in the state) and records the
/// others in `offsets`. Returns how many were dropped.
pub fn take_new(d: &mut Delivery, offsets: &mut InputOffsets) -> usize {
    if d.origins.is_empty() {
        return 0;
    }
    let mut keep = Vec::with_capacity(d.origins.len());
    for o in &d.origins {
        let key = offset_key(&o.topic, o.partition);
        let fresh = offsets.get(&key).is_none_or(|next| o.offset >= *next);
        if fresh {
            offsets.insert(key, o.offset + 1);
        }
        keep.push(fresh);
    }
    let before = d.batch.len();
    d.batch.retain_flagged(&keep);
    d.origins.clear();
    before - d.batch.len()
}

/// The (partition, next offset) pairs of `topic` in `offsets`, for a commit.
pub fn for_topic(offsets: &InputOffsets, topic: &str) -> Vec<(i32, i64)> {
    offsets
        .iter()
        .filter_map(|(k, v)| {
            let (t, p) = k.rsplit_once('/')?;
            (t == topic).then_some((p.parse().ok()?, *v))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use sotp_schemas::{DeviceId, EventBatch, MetricName, MetricSample, UtcNanos};

    use super::*;
    use crate::Origin;

    fn delivery(offsets: &[i64]) -> Delivery {
        let dev = DeviceId::new("d");
        let name: Arc<str> = Arc::from("d");
        let col: Arc<str> = Arc::from("c");
        let m = MetricName::new("t.x");
        let topic: Arc<str> = Arc::from("sotp.metrics.raw");
        Delivery {
            batch: EventBatch::Metrics(
                offsets
                    .iter()
                    .map(|o| MetricSample::gauge(UtcNanos(*o), &dev, &name, &col, &m, 0.0))
                    .collect(),
            ),
            origins: offsets
                .iter()
                .map(|o| Origin {
                    topic: topic.clone(),
                    partition: 2,
                    offset: *o,
                })
                .collect(),
        }
    }

    #[test]
    fn events_below_the_saved_offsets_are_dropped_and_the_rest_recorded() {
        let mut offsets = InputOffsets::from([(offset_key("sotp.metrics.raw", 2), 5)]);
        let mut d = delivery(&[3, 4, 5, 6]);
        assert_eq!(take_new(&mut d, &mut offsets), 2);
        assert_eq!(d.batch.len(), 2);
        assert_eq!(offsets[&offset_key("sotp.metrics.raw", 2)], 7);
        assert_eq!(for_topic(&offsets, "sotp.metrics.raw"), vec![(2, 7)]);
        assert!(for_topic(&offsets, "other").is_empty());
    }
}
