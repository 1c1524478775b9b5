//! The publishing side: a bounded buffer in front of an idempotent librdkafka producer.
//!
//! `enqueue` never waits: collectors keep polling whatever the brokers do. A sender
//! thread moves events from the buffer into librdkafka (whose own queue is bounded by
//! `queue.buffering.max.messages`); while librdkafka's queue is full (brokers slow or
//! unreachable) events wait in the buffer. When the buffer holds `buffer_events`, the
//! oldest event is dropped, counted in `sotp_bus_dropped_events_total` and logged.
//! With a disk spool ([`super::spool`]) every event is written to it instead of memory
//! before `publish` returns, and stays there until the brokers acknowledge it: a clean
//! stop or a `kill -9` keeps it for the next start, which sends it first.
//! `message.timeout.ms = 0` makes librdkafka retry forever, so nothing handed to it is
//! lost while the process lives; idempotence keeps the retries from duplicating.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rdkafka::ClientContext;
use rdkafka::error::{KafkaError as RdError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, ProducerContext, ThreadedProducer};
use sotp_schemas::{EventBatch, Topic, WIRE_VERSION};

use super::buffer::{Buffers, Pending, Skip};
use super::spool::Spool;
use super::{KafkaConfig, KafkaError};

/// Counts of the producer since start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProducerTotals {
    /// Events accepted by `publish`.
    pub published: u64,
    /// Events the brokers acknowledged.
    pub delivered: u64,
    /// Events dropped because the buffer was full (oldest first).
    pub dropped: u64,
    /// Events librdkafka gave up on (fatal producer errors only).
    pub failed: u64,
    /// Device records published on `inventory` (not events; delivered counts them too).
    pub records: u64,
}

#[derive(Default)]
struct Counters {
    published: AtomicU64,
    delivered: AtomicU64,
    dropped: AtomicU64,
    failed: AtomicU64,
    refused: AtomicU64,
    handed: AtomicU64,
    /// Acknowledged events that an earlier process had spooled.
    recovered: AtomicU64,
    records: AtomicU64,
}

struct Shared {
    queue: Arc<Mutex<Buffers>>,
    wake: Condvar,
    capacity: usize,
    closed: AtomicBool,
    counters: Arc<Counters>,
    last_drop_log: Mutex<Option<Instant>>,
}

pub(super) struct CountingContext {
    counters: Arc<Counters>,
    queue: Arc<Mutex<Buffers>>,
}

/// The delivery opaque of an event without a sequence number (none: every event pushed
/// gets one).
const NO_SEQ: usize = usize::MAX;

impl ClientContext for CountingContext {}

impl ProducerContext for CountingContext {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, seq: usize) {
        let mut recovered = false;
        if seq != NO_SEQ {
            let mut q = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
            recovered = q.spool.as_ref().is_some_and(|s| s.is_recovered(seq as u64));
            q.done(Some(seq as u64));
        }
        match result {
            Ok(_) if recovered => {
                self.counters.recovered.fetch_add(1, Ordering::Relaxed);
            }
            Ok(_) => {
                self.counters.delivered.fetch_add(1, Ordering::Relaxed);
            }
            Err((e, _)) => {
                self.counters.failed.fetch_add(1, Ordering::Relaxed);
                metrics::counter!("sotp_bus_delivery_failed_total").increment(1);
                tracing::error!(error = %e, "Kafka producer gave up on an event");
            }
        }
    }
}

/// The buffered producer of one bus.
pub(super) struct BufferedProducer {
    shared: Arc<Shared>,
    producer: ThreadedProducer<CountingContext>,
    topics: Vec<(Topic, String)>,
}

impl std::fmt::Debug for BufferedProducer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BufferedProducer")
            .field("capacity", &self.shared.capacity)
            .finish_non_exhaustive()
    }
}

impl BufferedProducer {
    /// Creates the librdkafka producer and starts the sender thread.
    pub(super) fn start(config: &KafkaConfig) -> Result<Self, KafkaError> {
        let counters = Arc::new(Counters::default());
        let spool = match &config.spool_dir {
            Some(dir) if config.spool_max_bytes > 0 => {
                let (spool, recovery) =
                    Spool::open(dir, config.spool_max_bytes).map_err(|e| KafkaError::Topic {
                        topic: String::new(),
                        reason: format!("cannot open the spool {}: {e}", dir.display()),
                    })?;
                tracing::info!(
                    dir = %dir.display(),
                    records = recovery.records,
                    torn = recovery.torn.len(),
                    "Kafka producer spool recovered; its records are sent first"
                );
                Some(spool)
            }
            _ => None,
        };
        let skip = match &spool {
            Some(s) if !s.recovered().is_empty() => Some(already_in_kafka(config, s)?),
            _ => None,
        };
        let queue = Arc::new(Mutex::new(Buffers {
            spool,
            skip,
            ..Buffers::default()
        }));
        let producer: ThreadedProducer<CountingContext> = config
            .client()
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "5")
            .set("compression.type", "lz4")
            .set("message.timeout.ms", "0")
            // librdkafka's own queue is part of the bounded memory: at most as many
            // messages as the buffer, and 100,000.
            .set(
                "queue.buffering.max.messages",
                config.buffer_events.clamp(1, 100_000).to_string(),
            )
            .set("queue.buffering.max.kbytes", "65536")
            .create_with_context(CountingContext {
                counters: counters.clone(),
                queue: queue.clone(),
            })
            .map_err(KafkaError::Client)?;
        let shared = Arc::new(Shared {
            queue,
            wake: Condvar::new(),
            capacity: config.buffer_events,
            closed: AtomicBool::new(false),
            counters,
            last_drop_log: Mutex::new(None),
        });
        let topics: Vec<(Topic, String)> =
            Topic::ALL.iter().map(|t| (*t, config.topic(*t))).collect();
        {
            let shared = shared.clone();
            let producer = producer.clone();
            let names: Vec<String> = topics.iter().map(|(_, n)| n.clone()).collect();
            std::thread::Builder::new()
                .name("sotp-kafka-send".into())
                .spawn(move || send_loop(&shared, &producer, &names))
                .map_err(|e| KafkaError::Topic {
                    topic: String::new(),
                    reason: format!("cannot start the sender thread: {e}"),
                })?;
        }
        Ok(Self {
            shared,
            producer,
            topics,
        })
    }

    /// A handle to the librdkafka client, for health checks.
    pub(super) fn client(&self) -> ThreadedProducer<CountingContext> {
        self.producer.clone()
    }

    /// Adds a batch's events to the buffer, dropping the oldest when it is full. Device
    /// records (`inventory`) are never dropped and are counted apart from events
    /// ([`BufferedProducer::enqueue_raw`]).
    pub(super) fn enqueue(&self, topic: Topic, batch: &EventBatch) -> Result<(), KafkaError> {
        let lines = batch.to_json_lines().map_err(|e| KafkaError::Encode {
            topic,
            reason: e.to_string(),
        })?;
        if topic == Topic::Inventory {
            for (i, payload) in lines.into_iter().enumerate() {
                let key = key_of(batch, i).unwrap_or_else(|| Arc::from(""));
                self.enqueue_raw(topic, &key, payload);
            }
            return Ok(());
        }
        let idx = self
            .topics
            .iter()
            .position(|(t, _)| *t == topic)
            .unwrap_or(0);
        let n = lines.len() as u64;
        let mut dropped = 0u64;
        {
            let mut q = self
                .shared
                .queue
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            for (i, payload) in lines.into_iter().enumerate() {
                let p = Pending {
                    topic: idx,
                    key: key_of(batch, i),
                    payload,
                    seq: None,
                };
                dropped += q.push(p, self.shared.capacity);
            }
        }
        self.shared.wake.notify_one();
        let c = &self.shared.counters;
        let published_total = c.published.fetch_add(n, Ordering::Relaxed) + n;
        // After the spool write: a count that survives a `kill -9` in the log.
        tracing::debug!(
            events = n,
            published_total,
            "Kafka producer events buffered"
        );
        metrics::counter!("sotp_bus_published_events_total", "topic" => topic.name()).increment(n);
        if dropped > 0 {
            let total = c.dropped.fetch_add(dropped, Ordering::Relaxed) + dropped;
            metrics::counter!("sotp_bus_dropped_events_total").increment(dropped);
            let mut last = self
                .shared
                .last_drop_log
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if last.is_none_or(|t| t.elapsed() >= Duration::from_secs(5)) {
                *last = Some(Instant::now());
                tracing::warn!(
                    dropped_total = total,
                    capacity = self.shared.capacity,
                    "Kafka producer buffer (and spool) full: oldest events dropped (sotp_bus_dropped_events_total)"
                );
            }
        }
        Ok(())
    }

    /// Adds one already encoded message (the `inventory` topic).
    pub(super) fn enqueue_raw(&self, topic: Topic, key: &str, payload: Vec<u8>) {
        let idx = self
            .topics
            .iter()
            .position(|(t, _)| *t == topic)
            .unwrap_or(0);
        let dropped = self
            .shared
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(
                Pending {
                    topic: idx,
                    key: Some(Arc::from(key)),
                    payload,
                    seq: None,
                },
                usize::MAX,
            );
        if dropped > 0 {
            tracing::warn!(
                dropped,
                "spool full: oldest events dropped for a device record"
            );
            self.shared
                .counters
                .dropped
                .fetch_add(dropped, Ordering::Relaxed);
        }
        self.shared.counters.records.fetch_add(1, Ordering::Relaxed);
        self.shared.wake.notify_one();
    }

    /// The counts so far.
    pub(super) fn totals(&self) -> ProducerTotals {
        let c = &self.shared.counters;
        ProducerTotals {
            published: c.published.load(Ordering::Relaxed),
            delivered: c.delivered.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed) + c.refused.load(Ordering::Relaxed),
            records: c.records.load(Ordering::Relaxed),
        }
    }

    /// Waits until every event enqueued so far is settled (acknowledged by the brokers,
    /// given up or dropped; the producer keeps running), at most `timeout`; `true` when
    /// it is and none was ever given up or dropped. It waits for those very events (by
    /// sequence number), not for as many acknowledgements: another publisher's later
    /// events acknowledged first do not stand in for them.
    pub(super) async fn wait_delivered(&self, timeout: Duration) -> bool {
        let queue = &self.shared.queue;
        let lock = || queue.lock().unwrap_or_else(PoisonError::into_inner);
        let target = lock().end();
        let deadline = Instant::now() + timeout;
        loop {
            if lock().settled_before() >= target {
                let c = &self.shared.counters;
                return c.failed.load(Ordering::Relaxed) == 0
                    && c.refused.load(Ordering::Relaxed) == 0
                    && c.dropped.load(Ordering::Relaxed) == 0;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Waits until every buffered event is acknowledged, at most `timeout`; then stops
    /// the sender. Returns how many events are lost: undelivered and not in the spool
    /// (which keeps its events for the next start).
    pub(super) async fn drain(&self, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        loop {
            let (queued, spooled, skipped) = {
                let q = self
                    .shared
                    .queue
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                let spooled = q.spool.as_ref().map_or(0, |s| s.len() + s.in_flight());
                (q.len(), spooled, q.skip.as_ref().map_or(0, |s| s.skipped))
            };
            let c = &self.shared.counters;
            // Settled before handed: an acknowledgement can arrive before the sender
            // counts the event as handed, so the difference saturates at 0.
            let settled = c.delivered.load(Ordering::SeqCst)
                + c.recovered.load(Ordering::SeqCst)
                + c.failed.load(Ordering::SeqCst);
            let open = c.handed.load(Ordering::SeqCst).saturating_sub(settled);
            if (queued == 0 && open == 0) || Instant::now() >= deadline {
                self.shared.closed.store(true, Ordering::Release);
                self.shared.wake.notify_all();
                // A spooled event is counted in `queued` (not yet handed over) or in
                // `open` (in flight): it is kept, not lost.
                let left = (queued + open as usize).saturating_sub(spooled);
                let t = self.totals();
                tracing::info!(
                    events_published = t.published,
                    records_published = t.records,
                    delivered = t.delivered,
                    recovered_delivered = c.recovered.load(Ordering::Relaxed),
                    recovered_already_in_kafka = skipped,
                    dropped = t.dropped,
                    failed = t.failed,
                    undelivered = left,
                    spooled,
                    "Kafka producer totals"
                );
                return left;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// What of the recovered records to compare with the newest messages in Kafka: the
/// first ones, as many as librdkafka's queue holds (only those can have been handed over
/// before the previous process ended).
fn already_in_kafka(config: &KafkaConfig, spool: &Spool) -> Result<Skip, KafkaError> {
    let depth = config.buffer_events.clamp(1, 100_000) as u64;
    let range = spool.recovered();
    let names: Vec<String> = Topic::ALL.iter().map(|t| config.topic(*t)).collect();
    let events: Vec<String> = [
        Topic::MetricsRaw,
        Topic::Metrics,
        Topic::Logs,
        Topic::Alerts,
    ]
    .iter()
    .map(|t| config.topic(*t))
    .collect();
    // Other producers write to the same partitions: read further back than our share.
    let lookback = (2 * depth + 1000) as i64;
    let held_by_brokers = super::recover::tail_hashes(config, &events, lookback)?;
    tracing::info!(
        newest_messages = held_by_brokers.len(),
        compared = depth.min(range.end - range.start),
        "spool recovery: recovered records compared with the newest messages in Kafka"
    );
    Ok(Skip {
        held_by_brokers,
        below: range.start + depth,
        names,
        skipped: 0,
    })
}

fn key_of(batch: &EventBatch, i: usize) -> Option<Arc<str>> {
    match batch {
        EventBatch::Metrics(v) => v.get(i).map(|s| s.device_id.as_arc().clone()),
        EventBatch::Rollups(v) => v.get(i).map(|r| r.device_id.as_arc().clone()),
        EventBatch::Logs(v) => v.get(i).map(|l| match &l.device_id {
            Some(d) => d.as_arc().clone(),
            None => Arc::from(l.source_address.as_str()),
        }),
        EventBatch::Alerts(v) => v.get(i).map(|a| {
            Arc::from(format!(
                "{}/{}",
                a.rule_id,
                a.device_id.as_ref().map_or("", |d| d.as_str())
            ))
        }),
        EventBatch::Inventory(v) => v.get(i).map(|c| Arc::from(c.id.as_str())),
        EventBatch::Commands(v) => v.get(i).map(|c| c.device_id.as_arc().clone()),
    }
}

fn send_loop(shared: &Shared, producer: &ThreadedProducer<CountingContext>, names: &[String]) {
    let version = WIRE_VERSION.to_string();
    loop {
        let next = {
            let mut q = shared.queue.lock().unwrap_or_else(PoisonError::into_inner);
            loop {
                if let Some(p) = q.pop() {
                    break Some(p);
                }
                if shared.closed.load(Ordering::Acquire) {
                    break None;
                }
                q = shared
                    .wake
                    .wait_timeout(q, Duration::from_millis(200))
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
        };
        let Some(p) = next else { return };
        let headers = OwnedHeaders::new().insert(Header {
            key: "schema_version",
            value: Some(version.as_str()),
        });
        let opaque = p.seq.map_or(NO_SEQ, |s| s as usize);
        let mut record = BaseRecord::with_opaque_to(&names[p.topic], opaque)
            .payload(&p.payload)
            .headers(headers);
        if let Some(k) = p.key.as_deref() {
            record = record.key(k);
        }
        if p.payload.is_empty() {
            // A deleted device on the compacted `inventory` topic: a tombstone.
            record.payload = None;
        }
        match producer.send(record) {
            Ok(()) => {
                shared.counters.handed.fetch_add(1, Ordering::Relaxed);
            }
            Err((RdError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                // librdkafka is full (brokers slow or away): keep the event first in line.
                shared
                    .queue
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .held = Some(p);
                if shared.closed.load(Ordering::Acquire) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            Err((e, _)) => {
                shared.counters.refused.fetch_add(1, Ordering::Relaxed);
                shared
                    .queue
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .done(p.seq);
                metrics::counter!("sotp_bus_delivery_failed_total").increment(1);
                tracing::error!(topic = %names[p.topic], error = %e, "event refused by the Kafka producer");
            }
        }
    }
}
