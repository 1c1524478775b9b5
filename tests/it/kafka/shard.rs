//! Two collectors share 100 devices through the `inventory` topic's consumer group: in
//! steady state no device is polled twice in one interval, and after one stops the
//! survivor polls every device within the session timeout plus an interval.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

use super::peer::{RoleProc, Tansu, devices_toml, kafka_toml, logged_number, outside_consumer};

const INTERVAL: Duration = Duration::from_secs(3);
const SESSION: Duration = Duration::from_secs(6);

fn owned(p: &RoleProc) -> u64 {
    let log = p.log_text();
    if log.contains("devices owned by this collector changed") {
        logged_number(&log, "devices owned by this collector changed", "devices")
    } else {
        0
    }
}

#[test]
fn two_collectors_share_devices_and_the_survivor_takes_them_all() {
    let dir = tempfile::tempdir().unwrap();
    let tansu = Tansu::start(dir.path());
    let config = dir.path().join("sotp.toml");
    std::fs::write(
        &config,
        kafka_toml(&tansu.brokers, "") + &devices_toml("127.21.0.1", 100, 3),
    )
    .unwrap();
    let mut a = RoleProc::start(&config, &dir.path().join("a"), &["collector"], None);
    a.wait_log(
        "polling the devices this collector owns",
        Duration::from_secs(60),
    );
    let mut b = RoleProc::start(&config, &dir.path().join("b"), &["collector"], None);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !(owned(&a) > 0 && owned(&b) > 0 && owned(&a) + owned(&b) == 100) {
        assert!(
            Instant::now() < deadline,
            "the devices were not split: a owns {}, b owns {}\n{}\n{}",
            owned(&a),
            owned(&b),
            a.log_text(),
            b.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!("a owns {}, b owns {}", owned(&a), owned(&b));
    // Let the schedulers restarted by the rebalance reach their steady rhythm.
    std::thread::sleep(INTERVAL + Duration::from_secs(1));
    let steady_from = SystemTime::now();
    std::thread::sleep(Duration::from_secs(12));
    let stopped_at = SystemTime::now();
    assert_eq!(b.stop(), 0, "{}", b.log_text());
    let bound = SESSION + INTERVAL * 2;
    std::thread::sleep(bound + Duration::from_secs(2));
    assert_eq!(a.stop(), 0, "{}", a.log_text());
    assert!(
        a.log_text().contains("devices=100"),
        "the survivor never took all devices:\n{}",
        a.log_text()
    );

    let dump = dir.path().join("dump.jsonl");
    let (summary, ok) = outside_consumer(&tansu.brokers, "sotp.", Some("metrics.raw"), Some(&dump));
    assert!(ok, "{summary}");
    let mut polls: BTreeMap<String, Vec<SystemTime>> = BTreeMap::new();
    for line in std::fs::read_to_string(&dump).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let e = &v["event"];
        if e["metric"] == "poll.ok" {
            let t = humantime::parse_rfc3339(e["time"].as_str().unwrap()).unwrap();
            polls
                .entry(e["device_id"].as_str().unwrap().to_string())
                .or_default()
                .push(t);
        }
    }
    assert_eq!(polls.len(), 100, "every device was polled");
    for (device, times) in &mut polls {
        times.sort();
        let steady: Vec<&SystemTime> = times
            .iter()
            .filter(|t| **t >= steady_from && **t < stopped_at)
            .collect();
        assert!(
            steady.len() >= 3,
            "{device}: {} polls while both ran",
            steady.len()
        );
        for w in steady.windows(2) {
            let gap = w[1].duration_since(*w[0]).unwrap();
            assert!(
                gap >= INTERVAL / 2,
                "{device} polled twice within {gap:?} while both collectors ran"
            );
        }
        let after = times
            .iter()
            .find(|t| **t > stopped_at)
            .unwrap_or_else(|| panic!("{device} never polled after the stop"));
        let waited = after.duration_since(stopped_at).unwrap();
        assert!(
            waited <= bound,
            "{device} polled again only {waited:?} after the other collector stopped"
        );
    }
    drop(tansu);
}
