//! `sotp run` polling snmpsim recordings of real devices (Cisco c3560, Juniper mx960,
//! Arista 7150S, Huawei S5720, a Linux host): what lands in `metrics` is checked against
//! the recording files themselves, then the streaming stage's rates and the exactly-once
//! 1-minute rollups in `metrics_1m`.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::common::{Server, free_port};
use crate::snmp_peers::{Snmpsim, column, free_udp_port, parse_snmprec, recording_text};

const RECORDINGS: &[(&str, &str)] = &[
    ("c3560", "network/switch/cisco-c3560"),
    ("mx960", "network/router/juniper-mx960-12-3r6-6"),
    ("arista", "cloud/arista-dcs-7150s-52-cl"),
    ("huawei", "network/router/huawei-s5720"),
    ("linux", "os/linux/unknown-003"),
];

/// What the recording says the interfaces are: instance -> (ifIndex, in_octets, width,
/// speed).
/// (ifIndex, (in_octets, width), speed in bits/s).
pub(crate) type Expected = (u64, Option<(u64, u8)>, Option<u64>);

pub(crate) fn expected_interfaces(rel: &str) -> BTreeMap<String, Expected> {
    let rec = parse_snmprec(&recording_text(rel));
    let descr = column(&rec, "1.3.6.1.2.1.2.2.1.2");
    let name = column(&rec, "1.3.6.1.2.1.31.1.1.1.1");
    let speed = column(&rec, "1.3.6.1.2.1.2.2.1.5");
    let high = column(&rec, "1.3.6.1.2.1.31.1.1.1.15");
    let hc_in = column(&rec, "1.3.6.1.2.1.31.1.1.1.6");
    let in32 = column(&rec, "1.3.6.1.2.1.2.2.1.10");
    let mut indices: Vec<u64> = descr.keys().chain(name.keys()).copied().collect();
    indices.sort_unstable();
    indices.dedup();
    let mut out = BTreeMap::new();
    for i in indices {
        let text = |m: &BTreeMap<u64, &crate::snmp_peers::Recorded>| {
            m.get(&i)
                .map(|r| r.text.trim_end_matches('\0').trim().to_string())
                .filter(|s| !s.is_empty())
        };
        let mut inst = text(&name)
            .or_else(|| text(&descr))
            .unwrap_or_else(|| i.to_string());
        if out.contains_key(&inst) {
            inst = format!("{inst}#{i}");
        }
        let counter = match (hc_in.get(&i), in32.get(&i)) {
            (Some(r), _) if r.tag == 70 => Some((r.text.parse().unwrap(), 64)),
            (_, Some(r)) if r.tag == 65 => Some((r.text.parse().unwrap(), 32)),
            _ => None,
        };
        let num = |m: &BTreeMap<u64, &crate::snmp_peers::Recorded>| {
            m.get(&i)
                .and_then(|r| r.text.parse::<u64>().ok())
                .filter(|v| *v > 0)
        };
        let speed = num(&high).map(|h| h * 1_000_000).or_else(|| num(&speed));
        out.insert(inst, (i, counter, speed));
    }
    out
}

fn config(port: u16) -> String {
    let mut c = String::from(
        "[icmp]\nenabled = false\n\n[snmp]\ninterval = \"1s\"\nmetadata_interval = \"5s\"\ntimeout = \"1s\"\nretries = 1\n\n[storage]\nbatch_latency = \"200ms\"\n",
    );
    for (k, (name, rel)) in RECORDINGS.iter().enumerate() {
        c.push_str(&format!(
            "\n[[devices]]\nname = \"{name}\"\naddress = \"127.4.0.{}\"\nsnmp = {{ version = \"2c\", community = \"{rel}\", port = {port} }}\n",
            k + 1
        ));
    }
    c
}

/// Waits up to `secs` for `ok`, checking twice a second.
fn wait_until(server: &Server, secs: u64, ok: impl Fn(&Server) -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    while !ok(server) {
        assert!(
            std::time::Instant::now() < deadline,
            "condition not met within {secs} s\n{}",
            server.log_text()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn s(v: &Value) -> String {
    v.as_str()
        .map(str::to_string)
        .unwrap_or_else(|| v.to_string())
}

#[test]
fn recordings_of_real_devices_from_snmp_to_rates_and_rollups() {
    let port = free_udp_port();
    let endpoints: Vec<String> = (1..=RECORDINGS.len())
        .map(|k| format!("127.4.0.{k}:{port}"))
        .collect();
    let rels: Vec<&str> = RECORDINGS.iter().map(|r| r.1).collect();
    let _sim = Snmpsim::start(&rels, &[], &endpoints, &["--log-level=error"]);

    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("sotp.toml");
    std::fs::write(&cfg, config(port)).unwrap();
    let mut server = Server::start(&cfg, &dir.path().join("data"), free_port());
    // Every device polled successfully at least three times (a busy machine may need
    // longer than three intervals).
    wait_until(&server, 60, |s| {
        let r = s.rows(
            "SELECT count(DISTINCT device), min(n) FROM (SELECT device, count(*) AS n FROM metrics
             WHERE metric = 'poll.ok' AND value = 1 GROUP BY device)",
        );
        r[0][0].as_u64() == Some(RECORDINGS.len() as u64) && r[0][1].as_u64() >= Some(3)
    });

    for (name, rel) in RECORDINGS {
        let want = expected_interfaces(rel);
        assert!(!want.is_empty(), "{rel} has interfaces");
        // Counters: exact u64 and the width of the recorded BER type.
        let rows = server.rows(&format!(
            "SELECT DISTINCT instance, counter, labels FROM metrics WHERE device = '{name}' AND metric = 'if.in_octets'"
        ));
        let mut got = BTreeMap::new();
        for r in &rows {
            let labels: BTreeMap<String, String> = serde_json::from_str(&s(&r[2])).unwrap();
            let width: u8 = labels["counter_width"].parse().unwrap();
            got.insert(s(&r[0]), (r[1].as_u64().unwrap(), width));
        }
        let want_counters: BTreeMap<String, (u64, u8)> = want
            .iter()
            .filter_map(|(k, v)| v.1.map(|c| (k.clone(), c)))
            .collect();
        assert_eq!(
            got,
            want_counters,
            "{name}: if.in_octets against {rel}\n{}",
            server.log_text()
        );
        // Speeds: ifHighSpeed x 10^6, else ifSpeed.
        let rows = server.rows(&format!(
            "SELECT DISTINCT instance, value FROM metrics WHERE device = '{name}' AND metric = 'if.speed_bps'"
        ));
        let got: BTreeMap<String, u64> = rows
            .iter()
            .map(|r| (s(&r[0]), r[1].as_f64().unwrap() as u64))
            .collect();
        let want_speeds: BTreeMap<String, u64> = want
            .iter()
            .filter_map(|(k, v)| v.2.map(|sp| (k.clone(), sp)))
            .collect();
        assert_eq!(got, want_speeds, "{name}: if.speed_bps against {rel}");
        // sysUpTime as recorded.
        let rec = parse_snmprec(&recording_text(rel));
        let ticks: f64 = rec["1.3.6.1.2.1.1.3.0"].text.parse().unwrap();
        let up = server.rows(&format!(
            "SELECT DISTINCT value FROM metrics WHERE device = '{name}' AND metric = 'sys.uptime_s'"
        ));
        assert_eq!(up, vec![vec![serde_json::json!(ticks / 100.0)]], "{name}");
        // The recordings are static: after two polls every counter's rate is 0.
        let rates = server.rows(&format!(
            "SELECT count(DISTINCT instance), max(value), min(value) FROM metrics WHERE device = '{name}' AND metric = 'if.in_bps'"
        ));
        assert_eq!(
            rates[0][0].as_u64().unwrap() as usize,
            want_counters.len(),
            "{name}: if.in_bps"
        );
        assert_eq!(rates[0][1].as_f64(), Some(0.0), "{name}");
    }

    // Vendor profiles chosen by sysObjectID, checked against the recordings.
    let jnx_rec = parse_snmprec(&recording_text("network/router/juniper-mx960-12-3r6-6"));
    // jnxOperatingTable has multi-arc indices (container.l1.l2.l3).
    let jnx = jnx_rec
        .keys()
        .filter(|o| o.starts_with("1.3.6.1.4.1.2636.3.1.13.1.8."))
        .collect::<Vec<_>>();
    let got = server.rows(
        "SELECT count(DISTINCT instance), max(labels) FROM metrics WHERE device = 'mx960' AND metric = 'cpu.load_pct'",
    );
    assert_eq!(
        got[0][0].as_u64().unwrap() as usize,
        jnx.len(),
        "jnxOperatingCPU rows"
    );
    assert!(s(&got[0][1]).contains("\"profile\":\"juniper\""), "{got:?}");
    let arista_rec = parse_snmprec(&recording_text("cloud/arista-dcs-7150s-52-cl"));
    let hr = column(&arista_rec, "1.3.6.1.2.1.25.3.3.1.2");
    let got = server.rows(
        "SELECT count(DISTINCT instance) FROM metrics WHERE device = 'arista' AND metric = 'cpu.util_ratio'",
    );
    assert_eq!(
        got[0][0].as_u64().unwrap() as usize,
        hr.len(),
        "hrProcessorLoad rows"
    );
    let mem = server.rows(
        "SELECT min(value), max(value) FROM metrics WHERE device = 'linux' AND metric = 'mem.used_ratio'",
    );
    let ratio = mem[0][0].as_f64().unwrap();
    assert!(ratio > 0.0 && ratio <= 1.0, "{mem:?}");

    // Wait until a minute boundary has passed (so some rollup minutes closed), then
    // every metrics_1m row must count exactly the samples of its minute in `metrics`.
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let to_next_minute = 60 - now.as_secs() % 60;
    std::thread::sleep(Duration::from_secs(to_next_minute + 3));
    let check = server.rows(
        "SELECT r.device, r.metric, r.instance, r.count, count(m.value), r.min, min(m.value), r.max, max(m.value)
         FROM metrics_1m r LEFT JOIN metrics m
           ON m.device_id = r.device_id AND m.metric = r.metric
          AND coalesce(m.instance, '') = coalesce(r.instance, '')
          AND m.time >= r.time AND m.time < r.time + INTERVAL '1 minute'
         GROUP BY r.device, r.metric, r.instance, r.time, r.count, r.min, r.max
         ORDER BY r.device, r.metric, r.instance, r.time",
    );
    assert!(check.len() > 100, "rollups: {}", check.len());
    for row in &check {
        assert_eq!(
            row[3], row[4],
            "rollup count vs samples: {row:?}\n{check:?}"
        );
        assert_eq!(row[5], row[6], "rollup min: {row:?}");
        assert_eq!(row[7], row[8], "rollup max: {row:?}");
    }
    // (The LEFT JOIN checks every rollup row of the snapshot: a row without samples would
    // show a count of 0. A later count(*) may be larger: each series closes its minute
    // when its own next sample arrives.)
    assert_eq!(server.stop(), 0, "{}", server.log_text());

    // Restart on the same data: the saved per-series state makes the very first poll
    // after the restart yield rates.
    let before = server.log_text();
    drop(server);
    let restart_ns = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let server = Server::start(&cfg, &dir.path().join("data"), free_port());
    assert!(before.contains("stream state saved"), "{before}");
    wait_until(&server, 30, |s| {
        let r = s.rows(&format!(
            "SELECT count(*) FROM metrics WHERE device = 'c3560' AND metric = 'poll.ok'
               AND CAST(time AS BIGINT) > {restart_ns}"
        ));
        r[0][0].as_u64() >= Some(1)
    });
    std::thread::sleep(Duration::from_millis(500));
    let first = server.rows(&format!(
        "SELECT min(time) FROM metrics WHERE device = 'c3560' AND metric = 'sys.uptime_s'
           AND CAST(time AS BIGINT) > {restart_ns}"
    ));
    assert!(!first[0][0].is_null());
    let at_first = server.rows(&format!(
        "SELECT count(*) FROM metrics WHERE device = 'c3560' AND metric = 'if.in_bps' AND time = '{}'",
        s(&first[0][0])
    ));
    assert!(
        at_first[0][0].as_u64().unwrap() > 0,
        "{}",
        server.log_text()
    );
}
