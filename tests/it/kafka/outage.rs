//! A broker outage of 60 s during collection: collectors keep polling and buffer; with a
//! big enough buffer nothing is lost, with a small one the drop counter is exact; `/ready`
//! reports the broker state.

use std::process::Command;
use std::time::{Duration, Instant};

use super::peer::{RoleProc, Tansu, devices_toml, kafka_toml, outside_consumer, producer_totals};
use crate::common::{free_port, ureq_get, wait_health};

/// Drops every TCP packet to and from one port on loopback (nftables), as an unreachable
/// broker would look; removed when dropped.
pub(crate) struct PortOutage {
    table: String,
}

impl PortOutage {
    pub(crate) fn start(port: u16) -> PortOutage {
        Self::start_with(port, &["drop"])
    }

    /// Like a stopped broker: every packet to or from the port is answered with a TCP
    /// reset (connections refused, open ones reset).
    pub(crate) fn start_refused(port: u16) -> PortOutage {
        Self::start_with(port, &["reject", "with", "tcp", "reset"])
    }

    fn start_with(port: u16, verdict: &[&str]) -> PortOutage {
        let table = format!("sotp_kout_{port}");
        let nft = |args: &[&str]| {
            let out = Command::new("nft").args(args).output().unwrap_or_else(|e| {
                panic!("cannot run nft ({e}): install it with `apt-get install nftables` (scripts/setup-peers.sh does)")
            });
            assert!(
                out.status.success(),
                "nft {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        nft(&["add", "table", "inet", &table]);
        nft(&[
            "add",
            "chain",
            "inet",
            &table,
            "out",
            "{ type filter hook output priority 0; }",
        ]);
        let p = port.to_string();
        for dir in ["dport", "sport"] {
            let mut rule = vec!["add", "rule", "inet", &table, "out", "tcp", dir, &p];
            rule.extend_from_slice(verdict);
            nft(&rule);
        }
        PortOutage { table }
    }
}

impl Drop for PortOutage {
    fn drop(&mut self) {
        let _ = Command::new("nft")
            .args(["delete", "table", "inet", &self.table])
            .status();
    }
}

fn ready(port: u16) -> u16 {
    ureq_get(&format!("http://127.0.0.1:{port}/ready")).map_or(0, |r| r.0)
}

fn wait_ready(port: u16, want: u16, within: Duration) {
    let deadline = Instant::now() + within;
    while ready(port) != want {
        assert!(
            Instant::now() < deadline,
            "/ready did not become {want} within {within:?}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn a_60_second_broker_outage_loses_nothing_or_counts_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let tansu = Tansu::start(dir.path());
    let big = dir.path().join("big.toml");
    std::fs::write(
        &big,
        kafka_toml(
            &tansu.brokers,
            "topic_prefix = \"a.\"\ngroup_prefix = \"a-\"",
        ) + &devices_toml("127.22.0.1", 20, 1),
    )
    .unwrap();
    let small = dir.path().join("small.toml");
    std::fs::write(
        &small,
        kafka_toml(
            &tansu.brokers,
            "topic_prefix = \"b.\"\ngroup_prefix = \"b-\"\nbuffer_events = 300",
        ) + &devices_toml("127.22.1.1", 20, 1),
    )
    .unwrap();
    let spooled = dir.path().join("spooled.toml");
    std::fs::write(
        &spooled,
        kafka_toml(
            &tansu.brokers,
            "topic_prefix = \"c.\"\ngroup_prefix = \"c-\"\nbuffer_events = 300\nspool_max_bytes = 50000000",
        ) + &devices_toml("127.22.2.1", 20, 1),
    )
    .unwrap();
    let api = free_port();
    let mut a = RoleProc::start(
        &big,
        &dir.path().join("a"),
        &["collector", "api"],
        Some(api),
    );
    let mut b = RoleProc::start(&small, &dir.path().join("b"), &["collector"], None);
    let c_data = dir.path().join("c");
    let mut c = RoleProc::start(&spooled, &c_data, &["collector"], None);
    a.wait_log(
        "polling the devices this collector owns",
        Duration::from_secs(60),
    );
    b.wait_log(
        "polling the devices this collector owns",
        Duration::from_secs(60),
    );
    wait_ready(api, 200, Duration::from_secs(10));
    let b_data = dir.path().join("b");
    wait_health(&b_data, "30s", true, "healthy: pid");
    std::thread::sleep(Duration::from_secs(3));

    let outage = PortOutage::start(tansu.port);
    let began = Instant::now();
    wait_ready(api, 503, Duration::from_secs(15));
    // A collector-only process (no HTTP) shows the outage in its health check.
    wait_health(&b_data, "30s", false, "cannot reach the Kafka brokers");
    std::thread::sleep(Duration::from_secs(60).saturating_sub(began.elapsed()));
    let spool_files = std::fs::read_dir(c_data.join("spool")).map_or(0, |d| d.count());
    assert!(
        spool_files > 0,
        "the small buffer with a spool should have spilled to disk"
    );
    drop(outage);
    wait_ready(api, 200, Duration::from_secs(90));
    wait_health(&b_data, "30s", true, "healthy: pid");
    std::thread::sleep(Duration::from_secs(5));

    assert_eq!(a.stop(), 0, "{}", a.log_text());
    assert_eq!(b.stop(), 0, "{}", b.log_text());
    assert_eq!(c.stop(), 0, "{}", c.log_text());
    let (c_pub, c_drop, c_left) = producer_totals(&c.log_text());
    assert_eq!(
        (c_drop, c_left),
        (0, 0),
        "the spool held the outage: {}",
        c.log_text()
    );
    let (a_pub, a_drop, a_left) = producer_totals(&a.log_text());
    let (b_pub, b_drop, b_left) = producer_totals(&b.log_text());
    eprintln!(
        "big buffer: {a_pub} published, {a_drop} dropped; small: {b_pub} published, {b_drop} dropped"
    );
    assert_eq!((a_drop, a_left), (0, 0), "{}", a.log_text());
    assert_eq!(b_left, 0);
    assert!(b_drop > 0, "the small buffer should have overflowed");
    assert!(
        b.log_text().contains("oldest events dropped"),
        "drops must be logged"
    );
    // Collection went on during the outage: 60 s x 20 devices x 7 samples.
    assert!(a_pub > 20 * 7 * 60, "{a_pub}");

    let (sa, ok) = outside_consumer(&tansu.brokers, "a.", Some("metrics.raw"), None);
    assert!(ok, "{sa}");
    let t = &sa["topics"]["a.metrics.raw"];
    assert_eq!(t["valid"].as_u64(), Some(a_pub), "{sa}");
    assert_eq!(t["duplicates"].as_u64(), Some(0));
    let (sb, ok) = outside_consumer(&tansu.brokers, "b.", Some("metrics.raw"), None);
    assert!(ok, "{sb}");
    assert_eq!(
        sb["topics"]["b.metrics.raw"]["valid"].as_u64(),
        Some(b_pub - b_drop),
        "delivered = published - dropped, exactly: {sb}"
    );

    // Through the spool, every event arrives once and each device's events in order.
    let dump = dir.path().join("c.jsonl");
    let (sc, ok) = outside_consumer(&tansu.brokers, "c.", Some("metrics.raw"), Some(&dump));
    assert!(ok, "{sc}");
    assert_eq!(
        sc["topics"]["c.metrics.raw"]["valid"].as_u64(),
        Some(c_pub),
        "{sc}"
    );
    let mut by_partition: std::collections::BTreeMap<(i64, String), Vec<(i64, String)>> =
        Default::default();
    for line in std::fs::read_to_string(&dump).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        by_partition
            .entry((
                v["partition"].as_i64().unwrap(),
                v["key"].as_str().unwrap().to_string(),
            ))
            .or_default()
            .push((
                v["offset"].as_i64().unwrap(),
                v["event"]["time"].as_str().unwrap().to_string(),
            ));
    }
    for ((_, device), mut events) in by_partition {
        events.sort();
        assert!(
            events.windows(2).all(|w| w[0].1 <= w[1].1),
            "{device}: events out of order after the spool"
        );
    }
    drop(tansu);
}
