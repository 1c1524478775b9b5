//! The operator loop on its own: inputs read and micro-batched, outputs published,
//! replays below the restored offsets skipped, checkpoints saved and committed.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use sotp_bus::checkpoint::{InputOffsets, offset_key};
use sotp_bus::{BusError, CommitOffsets, Delivery, MemoryBus, MemoryBusConfig, Origin};
use sotp_schemas::{DeviceId, MetricName, MetricSample, UtcNanos};

use super::*;

/// Counts what it reads per input, echoes metrics to `metrics`, saves into a shared log.
#[derive(Debug, Default)]
struct Counting {
    per_input: Vec<(Topic, usize)>,
    batches: usize,
    ticks: usize,
    saves: Arc<Mutex<Vec<InputOffsets>>>,
}

impl Operator for Counting {
    fn name(&self) -> &'static str {
        "counting"
    }
    fn inputs(&self) -> Vec<Topic> {
        vec![Topic::MetricsRaw, Topic::Rollups]
    }
    fn process(&mut self, input: Topic, batch: EventBatch, out: &mut Emit) {
        self.batches += 1;
        match self.per_input.iter_mut().find(|(t, _)| *t == input) {
            Some((_, n)) => *n += batch.len(),
            None => self.per_input.push((input, batch.len())),
        }
        if let EventBatch::Metrics(m) = batch {
            out.push(Topic::Metrics, EventBatch::Metrics(m));
        }
    }
    fn tick(&mut self, _out: &mut Emit) {
        self.ticks += 1;
    }
    fn save(&self, offsets: &InputOffsets) -> Result<(), String> {
        self.saves.lock().unwrap().push(offsets.clone());
        Ok(())
    }
}

fn samples(n: usize) -> Vec<MetricSample> {
    (0..n)
        .map(|i| {
            MetricSample::gauge(
                UtcNanos(i as i64),
                &DeviceId::new("d"),
                &Arc::from("d"),
                &Arc::from("t"),
                &MetricName::new("t.x"),
                i as f64,
            )
        })
        .collect()
}

fn config() -> RunConfig {
    RunConfig {
        save_interval: Duration::from_secs(3600),
        sync_timeout: Duration::from_secs(1),
    }
}

#[tokio::test]
async fn every_input_is_read_queued_batches_merge_and_outputs_are_published() {
    let bus = Arc::new(MemoryBus::new(MemoryBusConfig::default()));
    let op = Counting::default();
    let inputs = op
        .inputs()
        .into_iter()
        .map(|t| (t, bus.subscribe(t, "counting").unwrap()))
        .collect();
    let mut derived = bus.subscribe(Topic::Metrics, "test").unwrap();
    // Queued before the operator runs: the three metric batches become one micro-batch.
    for n in [3, 4, 5] {
        bus.publish(Topic::MetricsRaw, EventBatch::Metrics(samples(n)))
            .await
            .unwrap();
    }
    let row = sotp_schemas::RollupRow {
        time: UtcNanos(0),
        device_id: DeviceId::new("d"),
        device: Arc::from("d"),
        metric: MetricName::new("t.x"),
        instance: None,
        min: 1.0,
        avg: 1.0,
        max: 1.0,
        count: 1,
    };
    bus.publish(Topic::Rollups, EventBatch::Rollups(vec![row.clone(), row]))
        .await
        .unwrap();
    // The producers have stopped: the operator drains what is queued and returns.
    let stop = CancellationToken::new();
    stop.cancel();
    let saves = op.saves.clone();
    let bus_dyn: Arc<dyn Bus> = bus.clone();
    let op = run_operator(op, inputs, InputOffsets::new(), bus_dyn, config(), stop).await;
    bus.close();
    let mut per_input = op.per_input.clone();
    per_input.sort();
    assert_eq!(per_input, [(Topic::MetricsRaw, 12), (Topic::Rollups, 2)]);
    assert_eq!(
        op.batches, 2,
        "the queued metric batches are one micro-batch"
    );
    let mut out = 0;
    while let Some(d) = derived.recv().await {
        out += d.batch.len();
    }
    assert_eq!(out, 12);
    assert_eq!(saves.lock().unwrap().len(), 1, "saved once, at the end");
}

/// A partitioned input: deliveries with origins, and the commits it receives.
#[derive(Debug)]
struct Partitioned {
    queue: Vec<Delivery>,
    commits: Arc<Mutex<Vec<CommitOffsets>>>,
}

#[async_trait]
impl Subscription for Partitioned {
    async fn recv(&mut self) -> Option<Delivery> {
        if self.queue.is_empty() {
            None
        } else {
            Some(self.queue.remove(0))
        }
    }
    fn commit(&mut self, offsets: &CommitOffsets) -> Result<(), BusError> {
        self.commits.lock().unwrap().push(offsets.clone());
        Ok(())
    }
    fn topic_name(&self) -> Option<&str> {
        Some("sotp.metrics.raw")
    }
}

fn delivery(first_offset: i64, n: usize) -> Delivery {
    Delivery {
        batch: EventBatch::Metrics(samples(n)),
        origins: (0..n as i64)
            .map(|k| Origin {
                topic: Arc::from("sotp.metrics.raw"),
                partition: 0,
                offset: first_offset + k,
            })
            .collect(),
    }
}

#[tokio::test]
async fn replays_below_the_restored_offsets_are_skipped_and_the_checkpoint_commits() {
    let commits = Arc::new(Mutex::new(Vec::new()));
    let sub = Partitioned {
        // Offsets 0..10 are replays of what the restored state includes; 10..15 are new.
        queue: vec![delivery(0, 5), delivery(5, 5), delivery(10, 5)],
        commits: commits.clone(),
    };
    let restored = InputOffsets::from([(offset_key("sotp.metrics.raw", 0), 10)]);
    let op = Counting::default();
    let saves = op.saves.clone();
    let bus: Arc<dyn Bus> = Arc::new(MemoryBus::new(MemoryBusConfig::default()));
    let op = run_operator(
        op,
        vec![(Topic::MetricsRaw, Box::new(sub))],
        restored,
        bus,
        config(),
        CancellationToken::new(),
    )
    .await;
    assert_eq!(
        op.per_input,
        [(Topic::MetricsRaw, 5)],
        "only the new events"
    );
    let saved = saves.lock().unwrap().clone();
    assert_eq!(saved.len(), 1);
    assert_eq!(saved[0][&offset_key("sotp.metrics.raw", 0)], 15);
    assert_eq!(*commits.lock().unwrap(), [vec![(0, 15)]]);
}

/// A bus whose outputs never become durable: no checkpoint may be saved or committed.
#[derive(Debug)]
struct NeverDurable(MemoryBus);

#[async_trait]
impl Bus for NeverDurable {
    async fn publish(&self, topic: Topic, batch: EventBatch) -> Result<(), BusError> {
        self.0.publish(topic, batch).await
    }
    fn subscribe(&self, topic: Topic, group: &str) -> Result<Box<dyn Subscription>, BusError> {
        self.0.subscribe(topic, group)
    }
    fn close(&self) {
        self.0.close()
    }
    async fn sync(&self, _timeout: Duration) -> bool {
        false
    }
}

#[tokio::test]
async fn no_checkpoint_is_saved_while_the_outputs_are_not_durable() {
    let commits = Arc::new(Mutex::new(Vec::new()));
    let sub = Partitioned {
        queue: vec![delivery(0, 3)],
        commits: commits.clone(),
    };
    let op = Counting::default();
    let saves = op.saves.clone();
    let bus: Arc<dyn Bus> = Arc::new(NeverDurable(MemoryBus::new(MemoryBusConfig::default())));
    let op = run_operator(
        op,
        vec![(Topic::MetricsRaw, Box::new(sub))],
        InputOffsets::new(),
        bus,
        config(),
        CancellationToken::new(),
    )
    .await;
    assert_eq!(op.per_input, [(Topic::MetricsRaw, 3)]);
    assert!(saves.lock().unwrap().is_empty());
    assert!(commits.lock().unwrap().is_empty());
}

/// Wants a checkpoint after every batch of more than 4 events.
#[derive(Debug, Default)]
struct Eager {
    last: usize,
    saves: Arc<Mutex<Vec<InputOffsets>>>,
}

impl Operator for Eager {
    fn name(&self) -> &'static str {
        "eager"
    }
    fn inputs(&self) -> Vec<Topic> {
        vec![Topic::MetricsRaw]
    }
    fn process(&mut self, _input: Topic, batch: EventBatch, _out: &mut Emit) {
        self.last = batch.len();
    }
    fn tick(&mut self, _out: &mut Emit) {}
    fn save(&self, offsets: &InputOffsets) -> Result<(), String> {
        self.saves.lock().unwrap().push(offsets.clone());
        Ok(())
    }
    fn wants_checkpoint(&self) -> bool {
        self.last > 4
    }
}

#[tokio::test]
async fn an_operator_that_wants_a_checkpoint_is_saved_after_that_batch_not_at_the_interval() {
    let bus = Arc::new(MemoryBus::new(MemoryBusConfig::default()));
    let op = Eager::default();
    let saves = op.saves.clone();
    let inputs = vec![(
        Topic::MetricsRaw,
        bus.subscribe(Topic::MetricsRaw, "eager").unwrap(),
    )];
    let stop = CancellationToken::new();
    let bus_dyn: Arc<dyn Bus> = bus.clone();
    // The interval is an hour: only `wants_checkpoint` can save before the stop.
    let task = tokio::spawn(run_operator(
        op,
        inputs,
        InputOffsets::new(),
        bus_dyn,
        config(),
        stop.clone(),
    ));
    bus.publish(Topic::MetricsRaw, EventBatch::Metrics(samples(2)))
        .await
        .unwrap();
    bus.publish(Topic::MetricsRaw, EventBatch::Metrics(samples(6)))
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while saves.lock().unwrap().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no checkpoint after the batch of 6"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.cancel();
    task.await.unwrap();
    // One after the batch that wanted it, one at the stop.
    assert_eq!(saves.lock().unwrap().len(), 2);
}
