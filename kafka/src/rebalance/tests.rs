//! The revoke hand-shake without a broker: order of events and revocation in the
//! channel, the wait for the acknowledgement, its timeout, and a closed subscription.

use std::sync::Arc;

use sotp_schemas::{DeviceId, MetricName, MetricSample, UtcNanos};

use super::*;

fn context(timeout: Duration) -> (Arc<OwnerContext>, mpsc::Receiver<Received>) {
    let (tx, rx) = mpsc::channel(CHANNEL);
    let ctx = OwnerContext {
        decoder: Decoder {
            topic: Topic::MetricsRaw,
            name: Arc::from("sotp.metrics.raw"),
            dead_letter_dir: None,
        },
        tx,
        stop: Arc::new(AtomicBool::new(false)),
        pending: Mutex::new((Vec::new(), Vec::new())),
        assigned: Mutex::new(BTreeSet::from([1, 4])),
        revoke_timeout: timeout,
        fetch: Arc::default(),
    };
    (Arc::new(ctx), rx)
}

/// One polled-but-not-yet-handed-over event of partition 4 at `offset`.
fn polled(ctx: &OwnerContext, offset: i64) {
    let s = MetricSample::gauge(
        UtcNanos(offset),
        &DeviceId::new("d"),
        &Arc::from("d"),
        &Arc::from("c"),
        &MetricName::new("t.x"),
        1.0,
    );
    let mut p = ctx.pending.lock().unwrap();
    p.0.push(EventBatch::Metrics(vec![s]));
    p.1.push(Origin {
        topic: Arc::from("sotp.metrics.raw"),
        partition: 4,
        offset,
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_comes_after_every_polled_event_and_waits_for_the_ack() {
    let (ctx, mut rx) = context(Duration::from_secs(10));
    polled(&ctx, 7);
    polled(&ctx, 8);
    let waiting = {
        let ctx = ctx.clone();
        std::thread::spawn(move || {
            let started = Instant::now();
            (ctx.revoke(vec![4]), started.elapsed())
        })
    };
    // First the events polled before the revocation, in one delivery...
    let Some(Received::Events(d)) = rx.recv().await else {
        panic!("events first")
    };
    let offsets: Vec<i64> = d.origins.iter().map(|o| o.offset).collect();
    assert_eq!(offsets, vec![7, 8]);
    // ...then the revocation, which waits while the consumer writes.
    let Some(Received::Rebalance(Rebalance::Revoking { partitions, ack })) = rx.recv().await else {
        panic!("then the revocation")
    };
    assert_eq!(partitions, vec![4]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "the group waits for the ack");
    // Still owned while the consumer commits.
    assert!(ctx.owns(4));
    ack.done();
    let (answered, took) = waiting.join().unwrap();
    assert!(answered);
    assert!(took >= Duration::from_millis(300) && took < Duration::from_secs(10));
}

#[tokio::test]
async fn an_unanswered_revocation_times_out() {
    let (ctx, mut rx) = context(Duration::from_millis(200));
    let started = Instant::now();
    assert!(!ctx.revoke(vec![1]), "nobody acknowledged");
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(200) && waited < Duration::from_secs(5));
    // The request was made; an ack arriving after the timeout goes nowhere.
    let Some(Received::Rebalance(Rebalance::Revoking { ack, .. })) = rx.recv().await else {
        panic!("a revocation")
    };
    ack.done();
}

#[tokio::test]
async fn a_closed_subscription_does_not_hold_the_group() {
    let (ctx, rx) = context(Duration::from_secs(30));
    polled(&ctx, 1);
    drop(rx);
    let started = Instant::now();
    assert!(!ctx.revoke(vec![1]));
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn a_full_channel_is_waited_for_until_the_deadline() {
    let (ctx, mut rx) = context(Duration::from_millis(300));
    for i in 0..CHANNEL as i64 {
        polled(&ctx, i);
        assert!(ctx.hand_over_pending());
    }
    // The consumer is stuck (never reads): the revocation gives up at its deadline.
    let started = Instant::now();
    assert!(!ctx.revoke(vec![4]));
    assert!(started.elapsed() >= Duration::from_millis(300));
    // Nothing was lost from the channel: the deliveries are all there, in order.
    for i in 0..CHANNEL as i64 {
        let Some(Received::Events(d)) = rx.recv().await else {
            panic!("events")
        };
        assert_eq!(d.origins[0].offset, i);
    }
}
