use std::sync::Arc;
use std::time::Duration;

use sotp_schemas::{DeviceId, EventBatch, MetricName, MetricSample, Topic, UtcNanos};

use super::*;

fn batch(n: usize, start: i64) -> EventBatch {
    let dev = DeviceId::new("d");
    let name: Arc<str> = Arc::from("d");
    let col: Arc<str> = Arc::from("test");
    let m = MetricName::new("t.x");
    EventBatch::Metrics(
        (0..n)
            .map(|i| MetricSample::gauge(UtcNanos(start + i as i64), &dev, &name, &col, &m, 0.0))
            .collect(),
    )
}

fn times(d: &Delivery) -> Vec<i64> {
    match &d.batch {
        EventBatch::Metrics(v) => v.iter().map(|s| s.time.0).collect(),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn full_queue_blocks_the_publisher_until_the_subscriber_reads() {
    let bus = MemoryBus::new(MemoryBusConfig {
        capacity_events: 10,
    });
    let mut sub = bus.subscribe(Topic::MetricsRaw, "sink").unwrap();
    bus.publish(Topic::MetricsRaw, batch(10, 0)).await.unwrap();
    assert_eq!(bus.depth(Topic::MetricsRaw, "sink"), 10);

    // The queue is full: the next publish must wait, not grow memory and not drop.
    let blocked = tokio::time::timeout(
        Duration::from_millis(100),
        bus.publish(Topic::MetricsRaw, batch(1, 10)),
    )
    .await;
    assert!(
        blocked.is_err(),
        "publish should wait while the queue is full"
    );

    let bus2 = bus.clone();
    let pending = tokio::spawn(async move { bus2.publish(Topic::MetricsRaw, batch(1, 10)).await });
    assert_eq!(
        times(&sub.recv().await.unwrap()),
        (0..10).collect::<Vec<_>>()
    );
    pending.await.unwrap().unwrap();
    assert_eq!(times(&sub.recv().await.unwrap()), vec![10]);
    assert_eq!(bus.depth(Topic::MetricsRaw, "sink"), 0);
}

#[tokio::test]
async fn a_batch_larger_than_the_capacity_still_passes() {
    let bus = MemoryBus::new(MemoryBusConfig { capacity_events: 4 });
    let mut sub = bus.subscribe(Topic::Metrics, "g").unwrap();
    bus.publish(Topic::Metrics, batch(9, 0)).await.unwrap();
    assert_eq!(times(&sub.recv().await.unwrap()).len(), 9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_producers_lose_nothing_and_each_group_gets_everything() {
    let bus = MemoryBus::new(MemoryBusConfig {
        capacity_events: 64,
    });
    let a = bus.subscribe(Topic::MetricsRaw, "a").unwrap();
    let b = bus.subscribe(Topic::MetricsRaw, "b").unwrap();
    let mut producers = Vec::new();
    for p in 0..8i64 {
        let bus = bus.clone();
        producers.push(tokio::spawn(async move {
            for i in 0..200i64 {
                bus.publish(Topic::MetricsRaw, batch(3, p * 1_000_000 + i * 3))
                    .await
                    .unwrap();
            }
        }));
    }
    let count = |mut s: Box<dyn Subscription>| {
        tokio::spawn(async move {
            let mut seen = Vec::new();
            while let Some(d) = s.recv().await {
                seen.extend(times(&d));
            }
            seen
        })
    };
    let (ca, cb) = (count(a), count(b));
    for p in producers {
        p.await.unwrap();
    }
    bus.close();
    for seen in [ca.await.unwrap(), cb.await.unwrap()] {
        assert_eq!(seen.len(), 8 * 200 * 3);
        // Per producer, order is kept.
        for p in 0..8i64 {
            let mine: Vec<i64> = seen
                .iter()
                .copied()
                .filter(|t| t / 1_000_000 == p)
                .collect();
            assert!(
                mine.windows(2).all(|w| w[0] < w[1]),
                "producer {p} out of order"
            );
            assert_eq!(mine.len(), 600);
        }
    }
}

#[tokio::test]
async fn close_drains_then_ends_and_refuses_new_events() {
    let bus = MemoryBus::new(MemoryBusConfig::default());
    let mut sub = bus.subscribe(Topic::Logs, "sink").unwrap();
    bus.publish(Topic::Logs, EventBatch::Logs(Vec::new()))
        .await
        .unwrap();
    bus.publish(Topic::Logs, batch(2, 0)).await.unwrap();
    bus.close();
    assert!(matches!(
        bus.publish(Topic::Logs, batch(1, 0)).await,
        Err(BusError::Closed(Topic::Logs))
    ));
    assert_eq!(times(&sub.recv().await.unwrap()), vec![0, 1]);
    assert!(sub.recv().await.is_none());
}

#[tokio::test]
async fn one_consumer_per_group() {
    let bus = MemoryBus::new(MemoryBusConfig::default());
    let _s = bus.subscribe(Topic::Metrics, "sink").unwrap();
    let err = bus.subscribe(Topic::Metrics, "sink").unwrap_err();
    assert!(err.to_string().contains("sink"), "{err}");
}
