//! librdkafka's statistics reach `KafkaBus::fetch_totals` from both kinds of consumer
//! (the stage's plain subscription and the sinks' rebalancing one): the figures the Kafka
//! benchmark prints come from a real client's documents, not from field names guessed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sotp_bus::Bus;
use sotp_kafka::{KafkaBus, KafkaConfig};
use sotp_schemas::{DeviceId, EventBatch, MetricName, MetricSample, Topic, UtcNanos};

use super::peer::Tansu;

const EVENTS: usize = 3_000;

#[test]
fn both_consumer_kinds_report_fetch_requests_bytes_and_messages() {
    let dir = tempfile::tempdir().unwrap();
    let tansu = Tansu::start(dir.path());
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let bus = KafkaBus::connect(KafkaConfig {
            brokers: tansu.brokers.clone(),
            topic_prefix: "fetchstats.".into(),
            group_prefix: "fetchstats-".into(),
            session_timeout: Duration::from_secs(6),
            statistics_interval: Some(Duration::from_millis(200)),
            ..KafkaConfig::default()
        })
        .await
        .unwrap();
        let mut plain = bus.subscribe(Topic::MetricsRaw, "plain").unwrap();
        let mut rebalancing = bus
            .subscribe_with_rebalance(Topic::MetricsRaw, "rebalancing")
            .unwrap();
        let device = DeviceId::new("d1");
        let name: Arc<str> = Arc::from("d1");
        let collector: Arc<str> = Arc::from("icmp");
        let metric = MetricName::new("icmp.rtt_ms");
        let samples: Vec<MetricSample> = (0..EVENTS)
            .map(|i| {
                MetricSample::gauge(UtcNanos(i as i64), &device, &name, &collector, &metric, 1.0)
            })
            .collect();
        bus.publish(Topic::MetricsRaw, EventBatch::Metrics(samples))
            .await
            .unwrap();
        assert!(
            bus.sync(Duration::from_secs(60)).await,
            "{:?}",
            bus.totals()
        );
        for sub in [&mut plain, &mut rebalancing] {
            let mut got = 0;
            while got < EVENTS {
                let d = tokio::time::timeout(Duration::from_secs(60), sub.recv())
                    .await
                    .unwrap_or_else(|_| panic!("{got} of {EVENTS} events after 60 s"))
                    .expect("stream ended");
                got += d.batch.len();
            }
            assert_eq!(got, EVENTS);
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        let totals = loop {
            let t = bus.fetch_totals();
            if t.messages >= 2 * EVENTS as u64 {
                break t;
            }
            assert!(
                Instant::now() < deadline,
                "statistics never counted the {} messages fetched: {t:?}",
                2 * EVENTS
            );
            // The plain subscription's statistics are served while it is read, as the
            // stage reads it all the time (nothing more arrives: it times out).
            let more = tokio::time::timeout(Duration::from_millis(100), plain.recv()).await;
            assert!(more.is_err(), "an event beyond the {EVENTS} published");
        };
        eprintln!("fetch totals: {totals:?}");
        assert!(
            totals.requests >= 2,
            "one fetch per consumer at least: {totals:?}"
        );
        assert!(
            totals.bytes > totals.messages,
            "the bytes received cover the messages: {totals:?}"
        );
        bus.close();
    });
}
