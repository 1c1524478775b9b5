//! Several `--role sink` processes in one consumer group on one storage: the partitions
//! are shared, a sink killed with `kill -9` and one stopped cleanly hand theirs over to
//! the others, a sink joining later takes a share, and at the end Parquet holds every
//! sample the collector produced exactly once, written by more than one sink.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use super::e2e::{DERIVED, settle, snmpd_stream_toml};
use super::peer::{
    RoleProc, Tansu, devices_toml, duck_count, kafka_toml, parquet_counts, producer_totals,
};
use crate::snmp_peers::{Snmpd, free_udp_port};

/// Rows a sink process wrote to the `metrics` table (its `flushed to parquet` lines).
fn metrics_rows_flushed(p: &RoleProc) -> u64 {
    p.log_text()
        .lines()
        .filter(|l| l.contains("flushed to parquet") && l.contains("table=metrics "))
        .map(|l| super::peer::logged_number(l, "flushed to parquet", "rows"))
        .sum()
}

/// The writer ids in the names of the `metrics` files under `root`.
fn writers(root: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut dirs = vec![root.join("parquet/metrics")];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else if let Some(name) = p.file_name().and_then(|n| n.to_str())
                && let Some(rest) = name.strip_prefix("part-")
                && rest.len() == 16 + 1 + 20 + 1 + 20 + ".parquet".len()
            {
                out.insert(rest[..16].to_string());
            }
        }
    }
    out
}

#[test]
fn sinks_share_partitions_and_hand_them_over_with_nothing_lost_or_doubled() {
    let dir = tempfile::tempdir().unwrap();
    let tansu = Tansu::start(dir.path());
    // A net-snmp agent: counters, so the stage derives rates onto `metrics` too.
    let snmp_port = free_udp_port();
    let _snmpd = Snmpd::start(snmp_port);
    let config = dir.path().join("sotp.toml");
    std::fs::write(
        &config,
        kafka_toml(&tansu.brokers, "partitions = 6")
            + &devices_toml("127.22.0.1", 60, 1)
            + &snmpd_stream_toml(snmp_port),
    )
    .unwrap();
    let shared = dir.path().join("shared");
    let storage = format!("file://{}", shared.join("parquet").display());
    let env = [("SOTP__STORAGE__URL", storage.as_str())];
    // `age`: how long a sink holds rows before a flush. B holds them far longer than a
    // rebalance takes, so a partition it handed over without the revoke flush would be
    // written by both owners.
    let sink = |name: &str, age: &str| {
        RoleProc::start_env(
            &config,
            &dir.path().join(name),
            &["sink"],
            None,
            &[
                ("SOTP__STORAGE__URL", storage.as_str()),
                ("SOTP__STORAGE__MAX_FILE_AGE", age),
            ],
        )
    };
    let mut collector =
        RoleProc::start(&config, &dir.path().join("collector"), &["collector"], None);
    let mut pipeline = RoleProc::start_env(
        &config,
        &dir.path().join("pipeline"),
        &["pipeline"],
        None,
        &env,
    );
    let mut a = sink("sink-a", "2s");
    let mut b = sink("sink-b", "90s");
    collector.wait_log(
        "polling the devices this collector owns",
        Duration::from_secs(60),
    );
    // Both sinks own partitions; A writes.
    let deadline = Instant::now() + Duration::from_secs(60);
    while metrics_rows_flushed(&a) == 0 || !b.log_text().contains("partitions assigned") {
        assert!(
            Instant::now() < deadline,
            "both sinks should own partitions and A write:\n{}\n{}",
            a.log_text(),
            b.log_text()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    std::thread::sleep(Duration::from_secs(3));
    // A dies without handing anything over: B takes its partitions after the session
    // timeout and skips what A wrote by A's offset maps.
    let a_rows = metrics_rows_flushed(&a);
    a.kill9();
    std::thread::sleep(Duration::from_secs(10));
    // C joins: B's partitions are revoked (B flushes and commits first: the only way its
    // rows reach Parquet before it stops) and shared.
    let mut c = sink("sink-c", "2s");
    c.wait_log("partitions assigned", Duration::from_secs(60));
    std::thread::sleep(Duration::from_secs(8));
    // B stops cleanly: C takes everything (its own partitions revoked and re-assigned).
    assert_eq!(b.stop(), 0, "{}", b.log_text());
    std::thread::sleep(Duration::from_secs(6));

    assert_eq!(collector.stop(), 0, "{}", collector.log_text());
    let (produced, dropped, undelivered) = producer_totals(&collector.log_text());
    assert_eq!((dropped, undelivered), (0, 0));
    assert!(produced > 1_000, "only {produced} samples produced");

    let raw_sql = format!("SELECT count(*) FROM metrics WHERE NOT {DERIVED}");
    let derived_sql = format!("SELECT count(*) FROM metrics WHERE {DERIVED}");
    // Distinct rows: a doubled row must not end the wait before every sample is there.
    let unique_raw_sql = format!(
        "SELECT count(DISTINCT (device_id, metric, coalesce(instance, ''), time)) FROM metrics WHERE NOT {DERIVED}"
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while duck_count(&shared, &unique_raw_sql) < produced && Instant::now() < deadline {
        std::thread::sleep(Duration::from_secs(1));
    }
    assert_eq!(pipeline.stop(), 0, "{}", pipeline.log_text());
    settle(
        || duck_count(&shared, &derived_sql),
        Duration::from_secs(4),
        Duration::from_secs(30),
    );
    assert_eq!(c.stop(), 0, "{}", c.log_text());

    let (rows, unique) = parquet_counts(&shared);
    let raw = duck_count(&shared, &raw_sql);
    let derived = duck_count(&shared, &derived_sql);
    let logs = [&a, &b, &c].map(|p| p.log_text()).join("\n----\n");
    assert_eq!(
        (raw, rows, unique),
        (produced, produced + derived, produced + derived),
        "Parquet must hold every produced sample exactly once (sink logs:\n{logs})"
    );
    assert!(derived > 0, "the stage's outputs reached the sinks");

    // The load was shared: every sink wrote rows, under its own writer id.
    let (b_rows, c_rows) = (metrics_rows_flushed(&b), metrics_rows_flushed(&c));
    eprintln!("rows written: a {a_rows}, b {b_rows}, c {c_rows} of {rows}");
    assert!(a_rows > 0 && b_rows > 0 && c_rows > 0);
    assert!(writers(&shared).len() >= 3, "{:?}", writers(&shared));
    // Rebalances went through the hand-shake, never its timeout.
    assert!(
        logs.contains("revoked partitions written and committed: handed over"),
        "{logs}"
    );
    assert!(
        !logs.contains("revoked partitions handed over before the sink wrote them"),
        "{logs}"
    );

    // Every writer's newest offset map together covers everything: a sink in a new group
    // (no commits) reads all partitions from offset 0 and skips every event.
    let mut replay = RoleProc::start_env(
        &config,
        &dir.path().join("sink-replay"),
        &["sink"],
        None,
        &[
            ("SOTP__STORAGE__URL", storage.as_str()),
            ("SOTP__BUS__GROUP_PREFIX", "replay-"),
        ],
    );
    let skipped = |log: &str| -> u64 {
        log.lines()
            .filter(|l| l.contains("replayed events already in the table skipped"))
            .filter(|l| l.contains("table=\"metrics\""))
            .map(|l| super::peer::logged_number(l, "replayed", "events"))
            .sum()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while skipped(&replay.log_text()) < rows {
        assert!(
            Instant::now() < deadline,
            "the replaying sink skipped only {} of {rows}:\n{}",
            skipped(&replay.log_text()),
            replay.log_text()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(replay.stop(), 0);
    assert_eq!(parquet_counts(&shared), (rows, rows));
    drop(tansu);
}
