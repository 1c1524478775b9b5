//! End to end on Kafka with every role in its own process: 100 loopback devices,
//! `kill -9` of the sink and the pipeline at random moments, and at the end exactly the
//! samples the collector produced in Parquet, each once.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::peer::{RoleProc, Tansu, devices_toml, kafka_toml, parquet_counts, producer_totals};
use crate::common::free_port;

/// A small pseudo-random sequence (no extra dependency; the seed is printed).
struct Lcg(u64);

impl Lcg {
    fn next_in(&mut self, lo: u64, hi: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        lo + (self.0 >> 33) % (hi - lo)
    }
}

#[test]
fn separate_roles_survive_kill_9_with_nothing_lost_or_doubled() {
    let dir = tempfile::tempdir().unwrap();
    let tansu = Tansu::start(dir.path());
    let config = dir.path().join("sotp.toml");
    std::fs::write(
        &config,
        kafka_toml(&tansu.brokers, "") + &devices_toml("127.20.0.1", 100, 2),
    )
    .unwrap();
    let sink_data = dir.path().join("sink");
    let api_port = free_port();

    let mut collector =
        RoleProc::start(&config, &dir.path().join("collector"), &["collector"], None);
    let mut pipeline = RoleProc::start(&config, &dir.path().join("pipeline"), &["pipeline"], None);
    let mut sink = RoleProc::start(&config, &sink_data, &["sink"], None);
    let mut api = RoleProc::start(&config, &sink_data, &["api"], Some(api_port));
    collector.wait_log(
        "polling the devices this collector owns",
        Duration::from_secs(60),
    );

    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    eprintln!("kill schedule seed {seed}");
    let mut rng = Lcg(seed);
    let run_for = Duration::from_secs(60);
    let started = Instant::now();
    let mut kills = 0;
    while started.elapsed() < run_for {
        std::thread::sleep(Duration::from_millis(rng.next_in(3_000, 9_000)));
        if rng.next_in(0, 3) == 0 {
            pipeline.kill9_and_restart();
        } else {
            sink.kill9_and_restart();
        }
        kills += 1;
    }
    assert!(kills >= 5);

    assert_eq!(collector.stop(), 0, "{}", collector.log_text());
    let (produced, dropped, undelivered) = producer_totals(&collector.log_text());
    assert_eq!((dropped, undelivered), (0, 0));
    assert!(produced > 5_000, "only {produced} samples produced");

    // The sink catches up after its last restart (its group re-joins first).
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut counts = parquet_counts(&sink_data);
    while counts.1 < produced && Instant::now() < deadline {
        std::thread::sleep(Duration::from_secs(2));
        counts = parquet_counts(&sink_data);
    }
    assert_eq!(sink.stop(), 0, "{}", sink.log_text());
    let (rows, unique) = parquet_counts(&sink_data);
    assert_eq!(
        (rows, unique),
        (produced, produced),
        "Parquet must hold every produced sample exactly once (sink log:\n{})",
        sink.log_text()
    );

    // Idempotence does not rest on the committed offsets: a sink in a new consumer group
    // (no commits at all, the worst case of a lost commit) reads the topic from offset 0
    // into the same storage, and recognises every event as already in Parquet.
    let mut replay = RoleProc::start_env(
        &config,
        &sink_data,
        &["sink"],
        None,
        &[("SOTP__BUS__GROUP_PREFIX", "replay-")],
    );
    let deadline = Instant::now() + Duration::from_secs(90);
    let skipped = |log: &str| -> u64 {
        log.lines()
            .filter(|l| l.contains("replayed events already in the table skipped"))
            .map(|l| super::peer::logged_number(l, "replayed", "events"))
            .sum()
    };
    while skipped(&replay.log_text()) < produced {
        assert!(
            Instant::now() < deadline,
            "the replaying sink skipped only {} of {produced}:\n{}",
            skipped(&replay.log_text()),
            replay.log_text()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(replay.stop(), 0);
    assert_eq!(parquet_counts(&sink_data), (produced, produced));

    // The api process reads the same files.
    std::thread::sleep(Duration::from_secs(2));
    let base = format!("http://127.0.0.1:{api_port}");
    let token = crate::common::admin_token(&base);
    let (status, body) = crate::common::http_auth(
        "POST",
        &format!("{base}/api/v1/query"),
        Some(r#"{"sql": "SELECT count(*) AS n FROM metrics"}"#),
        &token,
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["rows"][0][0].as_u64(), Some(produced), "{v}");
    assert_eq!(api.stop(), 0);
    assert_eq!(pipeline.stop(), 0);
    drop(tansu);
}
