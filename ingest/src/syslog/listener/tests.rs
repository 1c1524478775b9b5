//! One TCP connection: published in the order sent, however many reads are parsed at
//! once, and a full bus stops the reading (the sender is slowed, nothing is lost).

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use sotp_bus::{Bus, MemoryBus, MemoryBusConfig, Subscription};
use sotp_schemas::{EventBatch, Topic};

use super::*;

/// `n` octet-counted BSD lines whose messages are `seq=<i>`.
fn lines(n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..n {
        let line = format!("<13>Oct 11 22:14:15 host app: seq={i}");
        write!(out, "{} {line}", line.len()).unwrap();
    }
    out
}

async fn receiver(bus: &MemoryBus) -> (SocketAddr, CancellationToken, tokio::task::JoinHandle<()>) {
    let config = SyslogConfig {
        udp: String::new(),
        tcp: "127.0.0.1:0".into(),
        ..SyslogConfig::default()
    };
    let shared: Arc<dyn Bus> = Arc::new(bus.clone());
    let rx = SyslogReceiver::bind(config, Vec::<sotp_schemas::Device>::new(), shared)
        .await
        .unwrap();
    let addr = rx.tcp_addr().unwrap();
    let stop = CancellationToken::new();
    (addr, stop.clone(), tokio::spawn(rx.run(stop)))
}

/// The `seq` numbers received, in order, until `n` have arrived. Checks on the way that
/// the receive times of the connection strictly increase (they name a message).
async fn seqs(sub: &mut Box<dyn Subscription>, n: usize) -> Vec<usize> {
    let mut got = Vec::with_capacity(n);
    let mut last = 0;
    while got.len() < n {
        let d = tokio::time::timeout(Duration::from_secs(30), sub.recv())
            .await
            .expect("records within 30 s")
            .expect("bus open");
        let EventBatch::Logs(records) = d.batch else {
            panic!("not logs");
        };
        for r in records {
            assert!(r.received_at.0 > last, "receive times strictly increase");
            last = r.received_at.0;
            let seq = r.message.strip_prefix("seq=").expect("a seq message");
            got.push(seq.parse().unwrap());
        }
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_connection_is_published_in_the_order_it_was_sent() {
    let n = 60_000;
    let bus = MemoryBus::new(MemoryBusConfig::default());
    let mut sub = bus.subscribe(Topic::Logs, "test").unwrap();
    let (addr, stop, run) = receiver(&bus).await;
    let data = lines(n);
    // Writes of uneven sizes, so frames are cut across reads.
    let sender = std::thread::spawn(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        for chunk in data.chunks(7_919) {
            s.write_all(chunk).unwrap();
        }
    });
    let got = seqs(&mut sub, n).await;
    sender.join().unwrap();
    assert_eq!(got, (0..n).collect::<Vec<_>>());
    stop.cancel();
    run.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_bus_stops_reading_and_slows_the_sender_without_loss() {
    let n = 400_000;
    let capacity = 2_000;
    let bus = MemoryBus::new(MemoryBusConfig {
        capacity_events: capacity,
    });
    let mut sub = bus.subscribe(Topic::Logs, "test").unwrap();
    let (addr, stop, run) = receiver(&bus).await;
    let data = lines(n);
    let total = data.len();
    let sent = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let progress = sent.clone();
    let sender = std::thread::spawn(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        for chunk in data.chunks(16 * 1024) {
            s.write_all(chunk).unwrap();
            progress.fetch_add(chunk.len(), std::sync::atomic::Ordering::SeqCst);
        }
    });
    // Nobody reads the bus: the receiver fills it, stops reading, and the sender's
    // writes block once the socket buffers are full.
    let stalled = loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = sent.load(std::sync::atomic::Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(300)).await;
        if sent.load(std::sync::atomic::Ordering::SeqCst) == now {
            break now;
        }
    };
    assert!(
        stalled < total / 2,
        "the sender wrote {stalled} of {total} bytes while the bus was full"
    );
    // Reading again lets everything through, exactly once and in order.
    let got = seqs(&mut sub, n).await;
    sender.join().unwrap();
    assert_eq!(got, (0..n).collect::<Vec<_>>());
    stop.cancel();
    run.await.unwrap();
    assert!(
        bus_is_empty(&mut sub).await,
        "nothing beyond the {n} records"
    );
}

/// True when the subscription has nothing more (the receiver stopped and sent no extra).
async fn bus_is_empty(sub: &mut Box<dyn Subscription>) -> bool {
    tokio::time::timeout(Duration::from_millis(200), sub.recv())
        .await
        .is_err()
}

#[test]
fn receive_times_are_unique_and_increasing_even_when_the_clock_steps_back() {
    let mut c = ReceiveClock::default();
    let t = |ns: i64| DateTime::<Utc>::from_timestamp_nanos(ns);
    assert_eq!(c.reserve(t(1_000), 3), 1_000, "1000..=1002");
    assert_eq!(c.reserve(t(1_001), 2), 1_003, "after the last one given");
    assert_eq!(c.reserve(t(500), 1), 1_005, "the clock stepped back");
    assert_eq!(c.reserve(t(9_000), 1), 9_000, "the clock again");
}
