//! Checkpoints of the streaming stage on a partitioned bus: the saved per-series state,
//! the input offsets it includes and the durability of what the stage output, kept in
//! step so that a `kill -9` neither loses nor doubles a derived sample or a rollup.
//!
//! Each save of the state goes:
//! 1. [`Checkpoint::outputs_durable`]: everything the stage output so far is made durable
//!    (derived samples acknowledged by the brokers, closed rollups written to Parquet);
//!    when that fails the state is not saved this time;
//! 2. the state is written atomically with the input offsets it includes
//!    ([`super::state::Saved::offsets`]);
//! 3. those offsets are committed to the consumer group.
//!
//! After a crash the stage restarts from the saved state and skips every input event
//! below its offsets (a commit lost between 2 and 3 replays nothing twice into the
//! state). Outputs produced after the last save are produced again, identical, when the
//! inputs replay: the sinks drop them by series and time (`sinks/src/watermark.rs`), so
//! each reaches storage once. See `docs/delivery.md`.

use std::collections::BTreeMap;

use async_trait::async_trait;
use sotp_schemas::EventBatch;

use crate::Delivery;

/// Makes the stage's outputs durable before its state is saved.
#[async_trait]
pub trait Checkpoint: Send + Sync + std::fmt::Debug {
    /// Waits until everything the stage output so far is durable; `false` when it
    /// could not be (the state is then not saved this time).
    async fn outputs_durable(&self) -> bool;
}

/// The in-process bus: nothing survives the process anyway, so nothing to wait for.
#[derive(Debug, Default)]
pub struct InProcess;

#[async_trait]
impl Checkpoint for InProcess {
    async fn outputs_durable(&self) -> bool {
        true
    }
}

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
    let EventBatch::Metrics(samples) = &mut d.batch else {
        return 0;
    };
    let mut keep = Vec::with_capacity(samples.len());
    for o in &d.origins {
        let key = offset_key(&o.topic, o.partition);
        let fresh = offsets.get(&key).is_none_or(|next| o.offset >= *next);
        if fresh {
            offsets.insert(key, o.offset + 1);
        }
        keep.push(fresh);
    }
    let before = samples.len();
    let mut it = keep.iter();
    samples.retain(|_| *it.next().unwrap_or(&true));
    d.origins.clear();
    before - samples.len()
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

    use sotp_schemas::{DeviceId, MetricName, MetricSample, UtcNanos};

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
