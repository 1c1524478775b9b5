//! The scheduler over a live device set: additions, removals and changes apply while
//! it runs, and unchanged devices keep their turns.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Mutex;

use sotp_bus::{MemoryBus, MemoryBusConfig};
use sotp_schemas::{DeviceId, PollSettings};

use super::*;

/// Records (device name, address, time) of each poll.
struct Recorder {
    start: Instant,
    polls: Mutex<Vec<(String, IpAddr, u64)>>,
    /// Devices the scheduler told the poller to forget.
    forgotten: Mutex<Vec<String>>,
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
    fn forget(&self, d: &DeviceId) {
        self.forgotten.lock().unwrap().push(d.as_str().to_string());
    }
    async fn poll(&self, d: &Device, _t: UtcNanos) -> PollResult {
        self.polls.lock().unwrap().push((
            d.name.to_string(),
            d.address,
            self.start.elapsed().as_millis() as u64,
        ));
        PollResult {
            ok: true,
            ..PollResult::default()
        }
    }
}

fn device(i: u8) -> Device {
    Device {
        id: DeviceId::new(format!("d{i:03}")),
        name: Arc::from(format!("d{i:03}")),
        address: IpAddr::V4(Ipv4Addr::new(127, 1, 0, i)),
        tags: Vec::new(),
        icmp: PollSettings {
            enabled: true,
            interval: None,
        },
        snmp: None,
        ssh: None,
    }
}

struct Harness {
    rec: Arc<Recorder>,
    tx: watch::Sender<Vec<Device>>,
    token: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

fn start(devices: Vec<Device>) -> Harness {
    let rec = Arc::new(Recorder {
        start: Instant::now(),
        polls: Mutex::new(Vec::new()),
        forgotten: Mutex::new(Vec::new()),
    });
    let (tx, rx) = watch::channel(devices);
    let token = CancellationToken::new();
    let bus = MemoryBus::new(MemoryBusConfig::default());
    let task = tokio::spawn(run_scheduler(
        rec.clone(),
        rx,
        Arc::new(bus),
        SchedulerConfig {
            concurrency: 100,
            stop_grace: SchedulerConfig::STOP_GRACE,
        },
        token.clone(),
    ));
    Harness {
        rec,
        tx,
        token,
        task,
    }
}

impl Harness {
    /// Poll times (ms) of `name`.
    fn times(&self, name: &str) -> Vec<u64> {
        self.rec
            .polls
            .lock()
            .unwrap()
            .iter()
            .filter(|p| p.0 == name)
            .map(|p| p.2)
            .collect()
    }
}

async fn at(ms: u64, h: &Harness) {
    let target = h.rec.start + Duration::from_millis(ms);
    tokio::time::sleep_until(target).await;
}

#[tokio::test(start_paused = true)]
async fn an_added_device_is_polled_soon_then_on_its_own_phase_and_others_keep_their_turns() {
    let h = start(vec![device(1), device(2)]);
    at(25_100, &h).await;
    h.tx.send_modify(|v| v.push(device(3)));
    at(61_000, &h).await;
    h.token.cancel();
    // d001 and d002 were never restarted: same turns as without the change.
    assert_eq!(
        h.times("d001"),
        [0, 10_000, 20_000, 30_000, 40_000, 50_000, 60_000]
    );
    assert_eq!(
        h.times("d002"),
        [5_000, 15_000, 25_000, 35_000, 45_000, 55_000]
    );
    // d003 (third of three: phase 2/3 of 10 s, timers round up to the ms) is polled at
    // once, then on its phase, at
    // least half an interval later.
    let d3 = h.times("d003");
    assert_eq!(d3[0], 25_100, "{d3:?}");
    assert_eq!(&d3[1..], [36_667, 46_667, 56_667], "{d3:?}");
}

#[tokio::test(start_paused = true)]
async fn removed_and_disabled_devices_stop_and_changes_apply_at_the_next_turn() {
    let h = start(vec![device(1), device(2), device(3)]);
    at(12_000, &h).await;
    h.tx.send_modify(|v| {
        v.retain(|d| d.name.as_ref() != "d002"); // removed
        v[1].icmp.enabled = false; // d003 disabled
        v[0].address = "127.9.9.9".parse().unwrap(); // d001 moved
    });
    at(41_000, &h).await;
    h.token.cancel();
    assert_eq!(h.times("d002"), [3_334]);
    assert_eq!(h.times("d003"), [6_667]);
    // The poller drops what it kept for the devices it no longer polls, and only those.
    assert_eq!(*h.rec.forgotten.lock().unwrap(), ["d002", "d003"]);
    // d001 keeps its turns; from the change on it is polled at its new address.
    let polls = h.rec.polls.lock().unwrap().clone();
    let d1: Vec<(String, u64)> = polls
        .iter()
        .filter(|p| p.0 == "d001")
        .map(|p| (p.1.to_string(), p.2))
        .collect();
    let want: Vec<(String, u64)> = [
        ("127.1.0.1", 0),
        ("127.1.0.1", 10_000),
        ("127.9.9.9", 20_000),
        ("127.9.9.9", 30_000),
        ("127.9.9.9", 40_000),
    ]
    .iter()
    .map(|(a, t)| (a.to_string(), *t))
    .collect();
    assert_eq!(d1, want);
}

#[tokio::test(start_paused = true)]
async fn an_interval_change_moves_only_that_device_and_a_re_enabled_device_comes_back() {
    let h = start(vec![device(1), device(2)]);
    at(12_000, &h).await;
    h.tx.send_modify(|v| {
        v[1].icmp.interval = Some(Duration::from_secs(2));
        v[0].icmp.enabled = false;
    });
    at(20_500, &h).await;
    h.tx.send_modify(|v| v[0].icmp.enabled = true);
    at(31_000, &h).await;
    h.token.cancel();
    // d002: 10 s turns until the change at 12 s, then every 2 s (alone: phase 0 of 2 s).
    let want: Vec<u64> = std::iter::once(5_000)
        .chain((12_000..=30_000).step_by(2_000))
        .collect();
    assert_eq!(h.times("d002"), want);
    // d001: polled at 0 and 10 s, disabled at 12 s, back at 20.5 s (at once), then on
    // its phase.
    let d1 = h.times("d001");
    assert_eq!(&d1[..3], [0, 10_000, 20_500], "{d1:?}");
    assert_eq!(&d1[3..], [30_000], "{d1:?}");
}

#[tokio::test(start_paused = true)]
async fn a_fixed_list_still_works_and_a_closed_feed_keeps_the_last_set() {
    let h = start(vec![device(1)]);
    at(1_000, &h).await;
    let Harness {
        rec,
        tx,
        token,
        task,
    } = h;
    drop(tx);
    tokio::time::sleep(Duration::from_secs(20)).await;
    token.cancel();
    task.await.unwrap();
    let n = rec.polls.lock().unwrap().len();
    assert_eq!(n, 3, "polled at 0, 10 and 20 s");
}
