//! Operators of the streaming stage and the one loop that runs each of them.
//!
//! An [`Operator`] reads one or more topics and writes one or more, keeping its own
//! state, checkpointed with the input offsets that state includes. The counter stage
//! (`stream::Derive`: rates, utilization, rollups) is one; alert windows are a sibling
//! reading metrics, logs and the inventory. [`run_operator`] does for every operator what
//! no operator should write again:
//! - micro-batches: a delivery and whatever else is already queued on the same input, up
//!   to [`Operator::micro_batch`] events, so DataFusion's per-query cost is spread;
//! - replays: input events below the restored offsets are skipped
//!   ([`sotp_bus::checkpoint::take_new`]);
//! - checkpoints, every `save_interval` and at a stop: outputs made durable
//!   ([`Bus::sync`]), then the state saved with the offsets ([`Operator::save`]), then
//!   the offsets committed. A crash replays from the last checkpoint and the sinks drop
//!   the outputs produced again (see `docs/delivery.md`);
//! - a clean stop: once the producers of its inputs stopped, it drains what is queued
//!   and saves.

use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use sotp_bus::checkpoint::{self, InputOffsets};
use sotp_bus::{Bus, Delivery, Subscription};
use sotp_schemas::{EventBatch, Topic};
use tokio_util::sync::CancellationToken;

/// What an operator produced from one input batch or one tick, by output topic.
#[derive(Debug, Default)]
pub struct Emit(Vec<(Topic, EventBatch)>);

impl Emit {
    /// Publishes `batch` on `topic` (nothing when it is empty).
    pub fn push(&mut self, topic: Topic, batch: EventBatch) {
        if !batch.is_empty() {
            self.0.push((topic, batch));
        }
    }

    /// What was pushed, in order.
    pub fn into_batches(self) -> Vec<(Topic, EventBatch)> {
        self.0
    }
}

/// One step of the streaming stage.
pub trait Operator: Send + Sync + 'static {
    /// Its name: the consumer group of its inputs (`<name>`) and the name in logs.
    fn name(&self) -> &'static str;

    /// The topics it reads.
    fn inputs(&self) -> Vec<Topic>;

    /// Most events gathered into one micro-batch.
    fn micro_batch(&self) -> usize {
        50_000
    }

    /// Processes one micro-batch read from `input`; its outputs go to `out`.
    fn process(&mut self, input: Topic, batch: EventBatch, out: &mut Emit);

    /// Called every `save_interval` before a checkpoint: closes what event time left
    /// idle (rollup minutes, alert windows).
    fn tick(&mut self, out: &mut Emit);

    /// Saves the state with the input offsets it includes, atomically (a crash leaves
    /// the previous checkpoint or this one).
    fn save(&self, offsets: &InputOffsets) -> Result<(), String>;

    /// True when the last `process` changed something that should be checkpointed at
    /// once rather than at the next `save_interval` (the alert windows after a
    /// transition: on the in-process bus, whose events do not survive a crash, the
    /// transition would otherwise be decided again from other events).
    fn wants_checkpoint(&self) -> bool {
        false
    }
}

impl<T: Operator + ?Sized> Operator for Box<T> {
    fn name(&self) -> &'static str {
        (**self).name()
    }
    fn inputs(&self) -> Vec<Topic> {
        (**self).inputs()
    }
    fn micro_batch(&self) -> usize {
        (**self).micro_batch()
    }
    fn process(&mut self, input: Topic, batch: EventBatch, out: &mut Emit) {
        (**self).process(input, batch, out)
    }
    fn tick(&mut self, out: &mut Emit) {
        (**self).tick(out)
    }
    fn save(&self, offsets: &InputOffsets) -> Result<(), String> {
        (**self).save(offsets)
    }
    fn wants_checkpoint(&self) -> bool {
        (**self).wants_checkpoint()
    }
}

/// How [`run_operator`] paces an operator.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// Time between checkpoints (and ticks).
    pub save_interval: Duration,
    /// How long a checkpoint waits for its outputs to be durable.
    pub sync_timeout: Duration,
}

/// How long the draining operator waits for one more queued batch before it ends.
const DRAIN_QUIET: Duration = Duration::from_millis(200);

/// One input: its topic and subscription.
type Input = (Topic, Box<dyn Subscription>);

/// Runs `op` over its `inputs` (subscriptions, from `restored` offsets) until every bus
/// subscription ends, or until `stop` is cancelled and the queues are drained. Cancel
/// `stop` only after the producers of its inputs stopped: what they published is then
/// queued, and the operator processes all of it before it returns. Returns the operator.
pub async fn run_operator<O: Operator>(
    mut op: O,
    mut inputs: Vec<Input>,
    restored: InputOffsets,
    bus: Arc<dyn Bus>,
    config: RunConfig,
    stop: CancellationToken,
) -> O {
    let mut offsets = restored;
    let mut tick = tokio::time::interval(config.save_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    let mut open: Vec<bool> = vec![true; inputs.len()];
    while open.iter().any(|o| *o) {
        let next = if stop.is_cancelled() {
            // Producers stopped: take what is queued, end when nothing comes.
            match tokio::time::timeout(DRAIN_QUIET, next_delivery(&mut inputs, &open)).await {
                Ok(d) => d,
                Err(_) => break,
            }
        } else {
            tokio::select! {
                d = next_delivery(&mut inputs, &open) => d,
                () = stop.cancelled() => continue,
                _ = tick.tick() => {
                    let mut out = Emit::default();
                    op.tick(&mut out);
                    publish(bus.as_ref(), op.name(), out).await;
                    checkpoint_now(&op, &offsets, &mut inputs, bus.as_ref(), &config).await;
                    continue;
                }
            }
        };
        let (i, delivery) = next;
        let Some(mut d) = delivery else {
            open[i] = false;
            continue;
        };
        skip_replayed(op.name(), &mut d, &mut offsets);
        let topic = inputs[i].0;
        let mut batch = d.batch;
        // A micro-batch: this delivery and whatever else is already queued on this input.
        while batch.len() < op.micro_batch() {
            match inputs[i].1.recv().now_or_never() {
                Some(Some(mut more)) => {
                    skip_replayed(op.name(), &mut more, &mut offsets);
                    if let Err(other) = batch.try_extend(more.batch) {
                        tracing::warn!(operator = op.name(), %topic, events = other.len(), "events of another kind on an input ignored");
                    }
                }
                Some(None) => {
                    open[i] = false;
                    break;
                }
                None => break,
            }
        }
        let mut out = Emit::default();
        op.process(topic, batch, &mut out);
        publish(bus.as_ref(), op.name(), out).await;
        if op.wants_checkpoint() {
            checkpoint_now(&op, &offsets, &mut inputs, bus.as_ref(), &config).await;
        }
    }
    if checkpoint_now(&op, &offsets, &mut inputs, bus.as_ref(), &config).await {
        tracing::info!(operator = op.name(), "{} state saved", op.name());
    }
    op
}

/// The next delivery of any open input, with the input's index (`None`: it ended).
async fn next_delivery(inputs: &mut [Input], open: &[bool]) -> (usize, Option<Delivery>) {
    let waiting: Vec<_> = inputs
        .iter_mut()
        .enumerate()
        .filter(|(i, _)| open[*i])
        .map(|(i, (_, sub))| async move { (i, sub.recv().await) }.boxed())
        .collect();
    if waiting.is_empty() {
        return std::future::pending().await;
    }
    futures::future::select_all(waiting).await.0
}

async fn publish(bus: &dyn Bus, operator: &str, out: Emit) {
    for (topic, batch) in out.into_batches() {
        let n = batch.len();
        if let Err(e) = bus.publish(topic, batch).await {
            tracing::warn!(operator, %topic, error = %e, events = n, "operator outputs not published");
        }
    }
}

/// Drops from `d` the input events the saved state already includes (a replay after a
/// restart), recording the offsets of the others.
fn skip_replayed(operator: &str, d: &mut Delivery, offsets: &mut InputOffsets) {
    let replayed = checkpoint::take_new(d, offsets);
    if replayed > 0 {
        tracing::info!(
            operator,
            events = replayed,
            "replayed input events already in the operator's state skipped"
        );
    }
}

/// One checkpoint: outputs durable, state saved with `offsets`, offsets committed.
/// Returns whether the state was saved.
async fn checkpoint_now<O: Operator>(
    op: &O,
    offsets: &InputOffsets,
    inputs: &mut [Input],
    bus: &dyn Bus,
    config: &RunConfig,
) -> bool {
    if !bus.sync(config.sync_timeout).await {
        tracing::error!(
            operator = op.name(),
            "outputs not durable yet; state kept at the previous checkpoint"
        );
        return false;
    }
    if let Err(e) = op.save(offsets) {
        tracing::error!(operator = op.name(), error = %e, "operator state not saved");
        return false;
    }
    for (_, sub) in inputs.iter_mut() {
        if let Some(topic) = sub.topic_name().map(str::to_string) {
            let commit = checkpoint::for_topic(offsets, &topic);
            if let Err(e) = sub.commit(&commit) {
                tracing::warn!(operator = op.name(), error = %e, "offsets not committed; the saved state's offsets still skip replays");
            }
        }
    }
    true
}

#[cfg(test)]
mod tests;
