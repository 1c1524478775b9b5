use std::net::{IpAddr, Ipv4Addr};
use std::sync::Mutex;

use sotp_bus::{MemoryBus, MemoryBusConfig};
use sotp_schemas::{DeviceId, PollSettings};

use super::*;

/// Records when each device was polled; the scheduler is what is under test here.
struct Recorder {
    start: Instant,
    polls: Mutex<Vec<(String, Duration)>>,
    hold: Duration,
}

#[async_trait]
impl Poller for Recorder {
    fn collector(&self) -> &'static str {
        "test"
    }
    fn interval_for(&self, d: &Device) -> Option<Duration> {
        d.icmp
            .enabled
            .then(|| d.icmp.interval.unwrap_or(Duration::from_secs(10)))
    }
    async fn poll(&self, d: &Device, _t: UtcNanos) -> PollResult {
        self.polls
            .lock()
            .unwrap()
            .push((d.name.to_string(), self.start.elapsed()));
        tokio::time::sleep(self.hold).await;
        PollResult {
            samples: Vec::new(),
            ok: true,
            error: None,
            partial: false,
        }
    }
}

fn devices(n: usize) -> Vec<Device> {
    (0..n)
        .map(|i| Device {
            id: DeviceId::new(format!("d{i:03}")),
            name: Arc::from(format!("d{i:03}")),
            address: IpAddr::V4(Ipv4Addr::new(127, 1, 0, i as u8)),
            tags: Vec::new(),
            icmp: PollSettings {
                enabled: i != 0,
                interval: None,
            },
            snmp: None,
            ssh: None,
        })
        .collect()
}

async fn run_for(
    recorder: Arc<Recorder>,
    devs: Vec<Device>,
    secs: u64,
    concurrency: usize,
) -> MemoryBus {
    let bus = MemoryBus::new(MemoryBusConfig::default());
    let token = CancellationToken::new();
    let task = tokio::spawn(run_scheduler(
        recorder,
        devs,
        Arc::new(bus.clone()),
        SchedulerConfig {
            concurrency,
            stop_grace: SchedulerConfig::STOP_GRACE,
        },
        token.clone(),
    ));
    tokio::time::sleep(Duration::from_secs(secs)).await;
    token.cancel();
    task.await.unwrap();
    bus
}

#[tokio::test(start_paused = true)]
async fn polls_are_spread_evenly_over_the_interval() {
    let rec = Arc::new(Recorder {
        start: Instant::now(),
        polls: Mutex::new(Vec::new()),
        hold: Duration::ZERO,
    });
    run_for(rec.clone(), devices(11), 25, 100).await;
    let polls = rec.polls.lock().unwrap().clone();
    // d000 is disabled; 10 devices at 10 s: first polls 1 s apart, then every 10 s.
    assert!(polls.iter().all(|(n, _)| n != "d000"));
    let first: Vec<u64> = polls
        .iter()
        .take(10)
        .map(|(_, t)| t.as_millis() as u64)
        .collect();
    assert_eq!(first, (0..10).map(|k| k * 1000).collect::<Vec<_>>());
    let d001: Vec<u64> = polls
        .iter()
        .filter(|(n, _)| n == "d001")
        .map(|(_, t)| t.as_secs())
        .collect();
    assert_eq!(d001, vec![0, 10, 20]);
}

#[tokio::test(start_paused = true)]
async fn a_slow_poll_skips_its_next_turn_and_concurrency_is_capped() {
    let rec = Arc::new(Recorder {
        start: Instant::now(),
        polls: Mutex::new(Vec::new()),
        hold: Duration::from_secs(15),
    });
    run_for(rec.clone(), devices(2), 31, 1).await;
    let polls = rec.polls.lock().unwrap().clone();
    // One device, polls take 15 s on a 10 s interval: t=0 runs, t=10 is skipped, t=20
    // runs, t=30 is skipped again.
    let times: Vec<u64> = polls.iter().map(|(_, t)| t.as_secs()).collect();
    assert_eq!(times, vec![0, 20]);
}

#[tokio::test(start_paused = true)]
async fn every_poll_publishes_duration_and_ok() {
    let rec = Arc::new(Recorder {
        start: Instant::now(),
        polls: Mutex::new(Vec::new()),
        hold: Duration::from_millis(5),
    });
    let bus = MemoryBus::new(MemoryBusConfig::default());
    let mut sub = bus.subscribe(Topic::MetricsRaw, "t").unwrap();
    let token = CancellationToken::new();
    let task = tokio::spawn(run_scheduler(
        rec,
        devices(2),
        Arc::new(bus.clone()),
        SchedulerConfig {
            concurrency: 4,
            stop_grace: SchedulerConfig::STOP_GRACE,
        },
        token.clone(),
    ));
    let d = sub.recv().await.unwrap();
    token.cancel();
    task.await.unwrap();
    let EventBatch::Metrics(samples) = d.batch else {
        panic!("not metrics")
    };
    let names: Vec<&str> = samples.iter().map(|s| s.metric.as_str()).collect();
    assert_eq!(names, vec!["poll.duration_ms", "poll.ok"]);
    assert_eq!(samples[1].value, 1.0);
    assert_eq!(samples[1].instance.as_deref(), Some("test"));
    assert!((samples[0].value - 5.0).abs() < 1.0, "{}", samples[0].value);
}

#[tokio::test(start_paused = true)]
async fn a_poll_still_running_after_the_stop_grace_is_cut_and_publishes_nothing() {
    // Two devices, 10 s interval: d001 starts at 0 s, d002 at 5 s; each poll takes 60 s.
    let rec = Arc::new(Recorder {
        start: Instant::now(),
        polls: Mutex::new(Vec::new()),
        hold: Duration::from_secs(60),
    });
    let bus = MemoryBus::new(MemoryBusConfig::default());
    let mut sub = bus.subscribe(Topic::MetricsRaw, "t").unwrap();
    let token = CancellationToken::new();
    let grace = Duration::from_secs(3);
    let task = tokio::spawn(run_scheduler(
        rec.clone(),
        devices(3),
        Arc::new(bus.clone()),
        SchedulerConfig {
            concurrency: 4,
            stop_grace: grace,
        },
        token.clone(),
    ));
    tokio::time::sleep(Duration::from_secs(7)).await;
    assert_eq!(rec.polls.lock().unwrap().len(), 2, "both polls started");
    let stopping = Instant::now();
    token.cancel();
    task.await.unwrap();
    // The scheduler returned at the end of the grace, not after the polls' 60 s.
    assert_eq!(stopping.elapsed(), grace);
    // Nothing arrives in an hour (of paused time): the cut polls published nothing.
    let late = tokio::time::timeout(Duration::from_secs(3600), sub.recv()).await;
    assert!(late.is_err(), "a cut poll published samples");
}
