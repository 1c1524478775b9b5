//! End to end on Kafka with every role in its own process: 100 loopback devices (ICMP)
//! and a net-snmp agent (SNMP: counters, so derived rates), `kill -9` of the sink and
//! the pipeline at random moments, and at the end exactly the samples the collector
//! produced in Parquet, each once; every derived sample and every closed rollup minute
//! once, none missing.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::peer::{
    RoleProc, Tansu, devices_toml, duck_count, duck_rows, kafka_toml, parquet_counts,
    producer_totals,
};
use crate::common::free_port;
use crate::snmp_peers::{Snmpd, free_udp_port};

/// Rows the streaming stage derives (all others in `metrics` are raw samples).
pub(super) const DERIVED: &str = "(metric LIKE '%.discontinuity' OR metric IN ('if.oper_up', 'cpu.util_ratio', 'mem.used_ratio', \
    'if.in_bps', 'if.out_bps', 'if.in_util_ratio', 'if.out_util_ratio') OR metric LIKE '%_per_s')";

/// A fast SNMP poll of the net-snmp agent on `port` (counters, so the stage derives
/// rates) and a short stage checkpoint interval: the configuration the Kafka end-to-end
/// tests share.
pub(super) fn snmpd_stream_toml(port: u16) -> String {
    format!(
        "\n[snmp]\ninterval = \"2s\"\n\n[stream]\nstate_save_interval = \"2s\"\n\n[[devices]]\nname = \"snmpd\"\naddress = \"127.0.0.1\"\nid = \"snmpd\"\nsnmp = {{ version = \"2c\", community = \"public\", port = {port} }}\n"
    )
}

/// Waits until `count` has not changed for `quiet`, at most `limit`.
pub(super) fn settle(count: impl Fn() -> u64, quiet: Duration, limit: Duration) -> u64 {
    let deadline = Instant::now() + limit;
    let mut last = count();
    let mut since = Instant::now();
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_secs(1));
        let now = count();
        if now != last {
            last = now;
            since = Instant::now();
        } else if since.elapsed() >= quiet {
            break;
        }
    }
    last
}

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
    let snmp_port = free_udp_port();
    let _snmpd = Snmpd::start(snmp_port);
    let config = dir.path().join("sotp.toml");
    std::fs::write(
        &config,
        kafka_toml(&tansu.brokers, "")
            + &devices_toml("127.20.0.1", 100, 2)
            + &snmpd_stream_toml(snmp_port),
    )
    .unwrap();
    let sink_data = dir.path().join("sink");
    let api_port = free_port();
    // The pipeline writes `metrics_1m` into the same storage as the sink.
    let storage = format!("file://{}", sink_data.join("parquet").display());

    let mut collector =
        RoleProc::start(&config, &dir.path().join("collector"), &["collector"], None);
    let mut pipeline = RoleProc::start_env(
        &config,
        &dir.path().join("pipeline"),
        &["pipeline"],
        None,
        &[("SOTP__STORAGE__URL", storage.as_str())],
    );
    let mut sink = RoleProc::start(&config, &sink_data, &["sink"], None);
    let mut api = RoleProc::start(&config, &sink_data, &["api"], Some(api_port));
    collector.wait_log(
        "polling the devices this collector owns",
        Duration::from_secs(60),
    );

    // `SOTP_E2E_SEED` replays the kill schedule of a failed run (its seed is printed).
    let seed = std::env::var("SOTP_E2E_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!("kill schedule seed {seed} (replay it with SOTP_E2E_SEED={seed})");
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

    // The pipeline and the sink catch up after their last restart (groups re-join first),
    // then the pipeline stops cleanly: its last checkpoint closes nothing more, but
    // writes what it closed.
    let raw_sql = format!("SELECT count(*) FROM metrics WHERE NOT {DERIVED}");
    let derived_sql = format!("SELECT count(*) FROM metrics WHERE {DERIVED}");
    let deadline = Instant::now() + Duration::from_secs(90);
    while duck_count(&sink_data, &raw_sql) < produced && Instant::now() < deadline {
        std::thread::sleep(Duration::from_secs(2));
    }
    settle(
        || duck_count(&sink_data, &derived_sql),
        Duration::from_secs(8),
        Duration::from_secs(60),
    );
    assert_eq!(pipeline.stop(), 0, "{}", pipeline.log_text());
    settle(
        || duck_count(&sink_data, &derived_sql),
        Duration::from_secs(5),
        Duration::from_secs(30),
    );
    // A loaded machine may need longer than the quiet period for the sink to read the
    // stage's last outputs (a stopping sink leaves what it has not read in Kafka): wait
    // for them, then check that none is missing for good.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !missing_derived(&sink_data).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_secs(2));
    }
    assert_eq!(sink.stop(), 0, "{}", sink.log_text());
    let (rows, unique) = parquet_counts(&sink_data);
    let raw = duck_count(&sink_data, &raw_sql);
    let derived = duck_count(&sink_data, &derived_sql);
    assert_eq!(
        (raw, rows, unique),
        (produced, produced + derived, produced + derived),
        "Parquet must hold every produced sample exactly once (sink log:\n{})",
        sink.log_text()
    );
    check_derived(&sink_data, derived, &tansu.brokers, &[&pipeline, &sink]);
    let rollups = check_rollups(&sink_data);

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
    assert_eq!(
        parquet_counts(&sink_data),
        (produced + derived, produced + derived)
    );

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
    assert_eq!(v["rows"][0][0].as_u64(), Some(produced + derived), "{v}");
    let (status, body) = crate::common::http_auth(
        "POST",
        &format!("{base}/api/v1/query"),
        Some(r#"{"sql": "SELECT count(*) AS n FROM metrics_1m"}"#),
        &token,
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["rows"][0][0].as_u64(), Some(rollups), "{v}");
    assert_eq!(api.stop(), 0);
    drop(tansu);
}

/// Every octet counter sample after the first of its series has its rate (or a
/// discontinuity) at the same time; the stage's kills neither lost nor doubled one. On
/// failure the message says where the first missing one was lost: its series' raw and
/// derived events in Kafka (partition, offset, time) and what the pipeline and the sink
/// logged about restarts, assignments and dropped events.
fn check_derived(data: &std::path::Path, derived: u64, brokers: &str, procs: &[&RoleProc]) {
    assert!(derived > 100, "only {derived} derived samples");
    let missing = missing_derived(data);
    if missing.is_empty() {
        return;
    }
    let first = &missing[0];
    let (device, metric, instance) = (
        first[0].as_str().unwrap_or_default(),
        first[1].as_str().unwrap_or_default(),
        first[2].as_str().unwrap_or_default(),
    );
    let rate = metric.replace("_octets", "_bps");
    let dump = tempfile::NamedTempFile::new().unwrap();
    super::peer::outside_consumer(
        brokers,
        "sotp.",
        Some("metrics.raw,metrics"),
        Some(dump.path()),
    );
    let mut in_kafka = String::new();
    for line in std::fs::read_to_string(dump.path())
        .unwrap_or_default()
        .lines()
    {
        let v: serde_json::Value = serde_json::from_str(line).unwrap_or_default();
        let e = &v["event"];
        if e["device_id"] == device
            && e["instance"] == instance
            && (e["metric"] == metric || e["metric"] == rate.as_str())
        {
            in_kafka.push_str(&format!(
                "{}/{}@{} {} {}\n",
                v["topic"], v["partition"], v["offset"], e["time"], e["metric"]
            ));
        }
    }
    let noted = [
        "restored",
        "saved",
        "skipped",
        "dropped",
        "assigned",
        "revoked",
        "opened",
        "read back",
        "WARN",
        "ERROR",
    ];
    let logs: String = procs
        .iter()
        .flat_map(|p| {
            p.log_text()
                .lines()
                .filter(|l| !l.contains("DEBUG") && noted.iter().any(|n| l.contains(n)))
                .map(|l| format!("{l}\n"))
                .collect::<Vec<_>>()
        })
        .collect();
    panic!(
        "counter samples without their rate: {missing:?}\n\n\
         {device} {metric} {instance} in Kafka (topic/partition@offset time metric):\n{in_kafka}\n\
         pipeline and sink logs:\n{logs}"
    );
}

/// Counter samples (after the first of their series) without their rate or
/// discontinuity at the same time (at most 20).
fn missing_derived(data: &std::path::Path) -> Vec<Vec<serde_json::Value>> {
    duck_rows(
        data,
        "WITH raw AS (
           SELECT device_id, metric, instance, time,
                  row_number() OVER (PARTITION BY device_id, metric, instance ORDER BY time) AS n
           FROM metrics WHERE metric IN ('if.in_octets', 'if.out_octets'))
         SELECT r.device_id, r.metric, r.instance, r.time FROM raw r
         WHERE r.n > 1 AND NOT EXISTS (
           SELECT 1 FROM metrics d
           WHERE d.device_id = r.device_id AND d.time = r.time
             AND coalesce(d.instance, '') = coalesce(r.instance, '')
             AND d.metric IN (replace(r.metric, '_octets', '_bps'), r.metric || '.discontinuity'))
         LIMIT 20",
    )
}

/// Every rollup row once and equal to its minute's samples, and every minute that
/// closed (a later sample of the series exists) has its row. Returns the row count.
fn check_rollups(data: &std::path::Path) -> u64 {
    let total = duck_count(data, "SELECT count(*) FROM metrics_1m");
    let unique = duck_count(
        data,
        "SELECT count(DISTINCT (device_id, metric, coalesce(instance, ''), time)) FROM metrics_1m",
    );
    assert!(total > 100, "only {total} rollup rows");
    assert_eq!(total, unique, "doubled rollup rows");
    let wrong = duck_rows(
        data,
        "SELECT r.device_id, r.metric, r.instance, r.time, r.count, count(m.value)
         FROM metrics_1m r LEFT JOIN metrics m
           ON m.device_id = r.device_id AND m.metric = r.metric
          AND coalesce(m.instance, '') = coalesce(r.instance, '')
          AND m.time >= r.time AND m.time < r.time + INTERVAL '1 minute'
         GROUP BY ALL HAVING r.count <> count(m.value) LIMIT 20",
    );
    assert!(wrong.is_empty(), "rollups unlike their samples: {wrong:?}");
    let missing = duck_rows(
        data,
        "WITH s AS (
           SELECT device_id, metric, coalesce(instance, '') AS inst,
                  date_trunc('minute', time) AS minute,
                  max(date_trunc('minute', time)) OVER (PARTITION BY device_id, metric, coalesce(instance, '')) AS last
           FROM metrics WHERE value IS NOT NULL AND isfinite(value) AND counter IS NULL)
         SELECT DISTINCT s.device_id, s.metric, s.inst, s.minute FROM s
         WHERE s.minute < s.last AND NOT EXISTS (
           SELECT 1 FROM metrics_1m r WHERE r.device_id = s.device_id AND r.metric = s.metric
             AND coalesce(r.instance, '') = s.inst AND r.time = s.minute)
         LIMIT 20",
    );
    assert!(
        missing.is_empty(),
        "closed minutes without their rollup: {missing:?}"
    );
    total
}
