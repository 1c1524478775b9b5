//! `sotp run` with 200 loopback devices and one unreachable device, end to end: ICMP on
//! the wire, the bus, the hot tier, Parquet, SQL over HTTP, a clean stop, DuckDB and
//! pyarrow reading the files, and a restart that reads them back exactly once.

use std::process::Command;

use crate::common::{BIN, Blackhole, Server, free_port, outside_view, wait_for};

const CONFIG: &str = r#"
[icmp]
interval = "2s"
count = 3
timeout = "300ms"

[storage]
# Roll files and evict from memory quickly so queries cross the hot/cold boundary.
max_file_age = "3s"
hot_window = "2s"
batch_latency = "200ms"

[query]
timeout = "1s"

[[device_ranges]]
name_prefix = "lo-"
first_address = "127.9.0.1"
count = 200

[[devices]]
id = "blackhole"
name = "unreachable"
address = "127.9.1.1"

[[devices]]
id = "v6"
name = "ipv6-loopback"
address = "::1"
"#;

fn scalar(server: &Server, sql: &str) -> serde_json::Value {
    server.rows(sql)[0][0].clone()
}

#[test]
fn two_hundred_loopback_devices_from_icmp_to_parquet() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("sotp.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let data = dir.path().join("data");
    let _filter = Blackhole::new("127.9.1.1");

    let mut server = Server::start(&config, &data, free_port());
    // Until every device was polled three times (the filtered one included) and the
    // first files were written.
    wait_for("three polls of every device and a flush", 60, || {
        let polls = server.rows(
            "SELECT count(DISTINCT device_id), min(n) FROM (SELECT device_id, count(*) AS n
             FROM metrics WHERE metric = 'icmp.up' GROUP BY device_id)",
        );
        let flushed = server.metrics().1.contains("sotp_flushes_total");
        (polls[0][0] == 202 && polls[0][1].as_u64() >= Some(3) && flushed).then_some(())
    });

    let up = scalar(
        &server,
        "SELECT count(DISTINCT device_id) FROM metrics
         WHERE metric = 'icmp.up' AND value = 1 AND device_id LIKE 'lo-%'",
    );
    assert_eq!(up, 200, "{}", server.log_text());
    // IPv6 works too.
    let v6 = server.rows(
        "SELECT min(value), count(*) FROM metrics WHERE device_id = 'v6' AND metric = 'icmp.up'",
    );
    assert_eq!(v6[0][0], 1.0, "{v6:?}");
    assert!(v6[0][1].as_u64().unwrap() >= 3);
    // Every reachable device was polled several times, with no loss on loopback.
    let polls = server.rows(
        "SELECT min(n), max(max_loss) FROM (SELECT device_id, count(*) AS n, max(value) AS max_loss
         FROM metrics WHERE metric = 'icmp.loss_ratio' AND device_id <> 'blackhole' GROUP BY device_id)",
    );
    assert!(polls[0][0].as_u64().unwrap() >= 3, "{polls:?}");
    assert_eq!(polls[0][1], 0.0);
    // The filtered device: total loss, down, poll not ok, and no RTT at all.
    let bh = server.rows(
        "SELECT metric, min(value), max(value), count(*) FROM metrics WHERE device_id = 'blackhole'
         GROUP BY metric ORDER BY metric",
    );
    let metrics: Vec<&str> = bh.iter().map(|r| r[0].as_str().unwrap()).collect();
    assert_eq!(
        metrics,
        vec!["icmp.loss_ratio", "icmp.up", "poll.duration_ms", "poll.ok"],
        "{bh:?}"
    );
    assert_eq!(
        (bh[0][1].as_f64(), bh[0][2].as_f64()),
        (Some(1.0), Some(1.0))
    );
    assert_eq!(bh[1][2].as_f64(), Some(0.0));
    assert_eq!(bh[3][2].as_f64(), Some(0.0));
    // A poll of an unreachable device lasts count x timeout.
    assert!(bh[2][1].as_f64().unwrap() >= 850.0, "{bh:?}");
    // RTT statistics are consistent: min <= mean <= max for every poll.
    let bad = scalar(
        &server,
        "SELECT count(*) FROM (SELECT device_id, time,
            max(CASE WHEN metric = 'icmp.rtt_min_ms' THEN value END) AS lo,
            max(CASE WHEN metric = 'icmp.rtt_ms' THEN value END) AS mean,
            max(CASE WHEN metric = 'icmp.rtt_max_ms' THEN value END) AS hi
          FROM metrics WHERE metric LIKE 'icmp.rtt%' GROUP BY device_id, time)
         WHERE NOT (lo <= mean AND mean <= hi)",
    );
    assert_eq!(bad, 0);

    // Bad input while running: a clear 4xx, and the process stays up.
    let (status, v) = server.sql("DELETE FROM metrics");
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (403, Some("statement_refused")),
        "{v}"
    );
    let (status, v) =
        server.sql("SELECT count(*) FROM generate_series(1, 100000000000) t WHERE t.value % 3 = 1");
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (422, Some("time_limit_exceeded")),
        "{v}"
    );
    assert_eq!(
        crate::common::ureq_get(&format!("{}/health", server.url))
            .unwrap()
            .0,
        200
    );
    // /metrics needs a token by default.
    let (status, _) = crate::common::ureq_get(&format!("{}/metrics", server.url)).unwrap();
    assert_eq!(status, 401);
    let (status, prom) = server.metrics();
    assert_eq!(status, 200);
    for name in [
        "sotp_polls_total",
        "sotp_bus_queue_depth",
        "sotp_rows_written_total",
        "sotp_flushes_total",
        "sotp_queries_total",
        "sotp_query_duration_seconds",
    ] {
        assert!(prom.contains(name), "/metrics lacks {name}:\n{prom}");
    }

    assert_eq!(server.stop(), 0, "{}", server.log_text());
    assert!(server.log_text().contains("stopped cleanly"));

    // Outside engines read the files: complete, no duplicates, the same story.
    let seen = outside_view(&data);
    assert_eq!(seen["rows"], seen["pyarrow_rows"], "{seen}");
    assert_eq!(seen["duplicate_rows"], 0, "{seen}");
    assert_eq!(seen["devices"], 202, "{seen}");
    assert_eq!(seen["max_up"]["v6"], 1.0);
    assert_eq!(seen["max_up"]["blackhole"], 0.0);
    assert_eq!(seen["min_loss"]["blackhole"], 1.0);
    assert_eq!(seen["max_up"]["lo-127.9.0.200"], 1.0);
    assert_eq!(seen["time_type"], "timestamp[ns, tz=UTC]");
    let rows = seen["rows"].as_u64().unwrap();

    // `sotp query --data-dir` on the files gives the same count.
    let stdout = crate::common::stdout_ok(
        Command::new(BIN)
            .args(["query", "--format", "csv", "--data-dir"])
            .arg(&data)
            .arg("SELECT count(*) AS n FROM metrics"),
    );
    assert_eq!(String::from_utf8_lossy(&stdout), format!("n\n{rows}\n"));

    // A restart on the same data (no devices now) serves exactly the same rows.
    let idle = dir.path().join("idle.toml");
    std::fs::write(&idle, "").unwrap();
    let mut again = Server::start(&idle, &data, free_port());
    assert_eq!(scalar(&again, "SELECT count(*) FROM metrics"), rows);
    assert_eq!(again.stop(), 0);
}
