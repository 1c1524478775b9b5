//! Timeouts and retries over a lossy link: net-snmp's snmpd runs in a network namespace
//! behind a veth pair, and nftables inside the namespace drops every second request
//! (deterministic loss, so retries can be counted) and every request to a second port
//! (an agent that does not answer). A third device on loopback must not be delayed.
//!
//! This kernel has no `sch_netem` (CONFIG_NET_SCH_NETEM is not set), so the loss is made
//! with nftables' `numgen` instead of `tc qdisc netem`.

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::common::{Server, free_port, wait_explained};
use crate::snmp_peers::{Snmpd, free_udp_port};

/// Timeout per attempt and the back-off before the second attempt, as configured and
/// as documented in docs/snmp.md.
const TIMEOUT_MS: f64 = 300.0;
const FIRST_BACKOFF_MS: f64 = 50.0;

fn run(args: &[&str]) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e} (iproute2 and nftables are needed)"));
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A network namespace with a veth pair to it; deleted (with the pair) on drop.
struct Netns {
    name: String,
}

impl Netns {
    /// Creates the namespace; returns it with (our address, its address).
    fn create() -> (Netns, String, String) {
        // Unique per process and per namespace of this process (tests run in parallel).
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let k = NEXT.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        let name = format!("sotp-lossy-{pid}-{k}");
        let (outer, inner) = (format!("sl{pid}{k}a"), format!("sl{pid}{k}b"));
        let net = pid % 250 + 1;
        let (ours, theirs) = (
            format!("10.{}.{net}.1", 213 + k),
            format!("10.{}.{net}.2", 213 + k),
        );
        let _ = Command::new("ip")
            .args(["netns", "del", &name])
            .stderr(std::process::Stdio::null())
            .status();
        run(&["ip", "netns", "add", &name]);
        let ns = Netns { name };
        let n = ns.name.as_str();
        run(&[
            "ip", "link", "add", &outer, "type", "veth", "peer", "name", &inner,
        ]);
        run(&["ip", "link", "set", &inner, "netns", n]);
        run(&["ip", "addr", "add", &format!("{ours}/30"), "dev", &outer]);
        run(&["ip", "link", "set", &outer, "up"]);
        let exec = |args: &[&str]| {
            let mut a = vec!["ip", "netns", "exec", n];
            a.extend_from_slice(args);
            run(&a);
        };
        exec(&["ip", "addr", "add", &format!("{theirs}/30"), "dev", &inner]);
        exec(&["ip", "link", "set", &inner, "up"]);
        exec(&["ip", "link", "set", "lo", "up"]);
        (ns, ours, theirs)
    }

    fn nft(&self, script: &str) -> String {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.name, "nft", "-f", "-"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                use std::io::Write;
                c.stdin.take().unwrap().write_all(script.as_bytes())?;
                c.wait_with_output()
            })
            .expect("nft (Debian `nftables`)");
        assert!(
            out.status.success(),
            "nft: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Packets counted by the named nftables counter.
    fn counter(&self, name: &str) -> u64 {
        let text = self.nft(&format!("list counter inet lossy {name}\n"));
        let rest = text.split("packets ").nth(1).expect("counter output");
        rest.split_whitespace().next().unwrap().parse().unwrap()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

#[test]
fn lossy_link_and_a_silent_agent_retry_as_configured_without_delaying_others() {
    let (ns, _ours, theirs) = Netns::create();
    let lossy = format!("{theirs}:1161");
    let _agent = Snmpd::start_with(
        &format!("agentAddress udp:{lossy}\nrocommunity public default\n"),
        Some(&ns.name),
        &lossy,
    );
    let healthy_port = free_udp_port();
    let _healthy = Snmpd::start(healthy_port);
    // Every second request to the agent is dropped; nothing on port 1162 ever answers.
    ns.nft(
        "table inet lossy {
           counter dropped {}
           counter passed {}
           chain input {
             type filter hook input priority 0;
             udp dport 1161 numgen inc mod 2 == 1 counter name \"dropped\" drop
             udp dport 1161 counter name \"passed\" accept
             udp dport 1162 drop
           }
         }\n",
    );

    let dir = tempfile::tempdir().unwrap();
    let cfg = format!(
        "[icmp]\nenabled = false\n\n[snmp]\ninterval = \"3s\"\ntimeout = \"300ms\"\nretries = 2\n\n[storage]\nbatch_latency = \"200ms\"\n
[[devices]]\nname = \"lossy\"\nid = \"lossy\"\naddress = \"{theirs}\"\nsnmp = {{ version = \"2c\", community = \"public\", port = 1161 }}
[[devices]]\nname = \"silent\"\nid = \"silent\"\naddress = \"{theirs}\"\nsnmp = {{ version = \"2c\", community = \"public\", port = 1162 }}
[[devices]]\nname = \"healthy\"\nid = \"healthy\"\naddress = \"127.0.0.1\"\nsnmp = {{ version = \"2c\", community = \"public\", port = {healthy_port} }}\n"
    );
    let path = dir.path().join("sotp.toml");
    std::fs::write(&path, cfg).unwrap();
    let mut server = Server::start(&path, &dir.path().join("data"), free_port());
    let started = Instant::now();
    let deadline = started + Duration::from_secs(40);
    let polls = |dev: &str| -> Vec<(f64, f64)> {
        server
            .rows(&format!(
                "SELECT d.value, o.value FROM metrics d JOIN metrics o ON d.time = o.time AND d.device = o.device
                 WHERE d.device = '{dev}' AND d.metric = 'poll.duration_ms' AND o.metric = 'poll.ok' ORDER BY d.time"
            ))
            .iter()
            .map(|r| (r[0].as_f64().unwrap(), r[1].as_f64().unwrap()))
            .collect()
    };
    while polls("lossy").len() < 3 || polls("silent").len() < 3 {
        assert!(
            Instant::now() < deadline,
            "too few polls in 40 s\n{}",
            server.log_text()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let dropped_before = ns.counter("dropped");
    let lossy_polls = polls("lossy");
    let dropped_after = ns.counter("dropped");
    let passed = ns.counter("passed");
    eprintln!(
        "lossy polls (ms, ok): {lossy_polls:?}; requests dropped {dropped_after}, passed {passed}"
    );

    // The lossy agent: every poll succeeds thanks to the retries. Every request but the
    // very first lost its first attempt, so each poll waited at least one timeout plus
    // the first back-off; and all polls together waited no more than one (timeout +
    // back-off) per dropped request, plus the round trips.
    assert!(
        dropped_before >= 3 && passed >= dropped_before,
        "{dropped_before} {passed}"
    );
    let log = server.log_text();
    for (ms, ok) in &lossy_polls {
        assert_eq!(*ok, 1.0, "a lossy poll failed: {lossy_polls:?}\n{log}");
        assert!(
            *ms >= TIMEOUT_MS + FIRST_BACKOFF_MS,
            "a lossy poll took {ms} ms: no timeout was waited? {lossy_polls:?}"
        );
    }
    let total: f64 = lossy_polls.iter().map(|p| p.0).sum();
    let bound =
        dropped_after as f64 * (TIMEOUT_MS + FIRST_BACKOFF_MS) + lossy_polls.len() as f64 * 150.0;
    assert!(
        total <= bound,
        "lossy polls took {total} ms in all, more than {bound} ms for {dropped_after} dropped requests: {lossy_polls:?}"
    );

    // The silent agent: 3 attempts of 300 ms with back-offs of 50 and 100 ms, then the
    // poll fails with an error that says so. From the second such poll on it backs off:
    // the next turn is skipped at once (a failed poll without network traffic), so a
    // dead agent does not hold a poll slot for its timeouts every interval.
    let silent = polls("silent");
    let min_ms = 3.0 * TIMEOUT_MS + FIRST_BACKOFF_MS + 2.0 * FIRST_BACKOFF_MS;
    let tried = silent.iter().filter(|(ms, _)| *ms >= TIMEOUT_MS).count();
    let skipped = silent.len() - tried;
    for (ms, ok) in &silent {
        assert_eq!(*ok, 0.0, "{silent:?}");
        assert!(
            (min_ms..min_ms + 400.0).contains(ms) || *ms < 50.0,
            "silent poll took {ms} ms, expected {min_ms} ms plus a little, or a skipped turn: {silent:?}"
        );
    }
    assert!(tried >= 2, "{silent:?}");
    assert_eq!(
        silent.get(2).map(|p| p.0 < 50.0),
        Some(true),
        "the turn after two silent polls is skipped: {silent:?}"
    );
    assert!(skipped >= 1, "{silent:?}");
    assert!(
        log.contains(&format!(
            "no SNMP reply from {theirs}:1162 after 3 attempts of 300 ms each"
        )),
        "{log}"
    );
    // The healthy device kept its schedule (one poll every 3 s) and its polls stayed
    // short while the other two waited on timeouts.
    let healthy = polls("healthy");
    assert!(healthy.len() >= 3, "{healthy:?}");
    assert!(
        healthy.iter().all(|(ms, ok)| *ok == 1.0 && *ms < 250.0),
        "{healthy:?}"
    );
    let gaps = server.rows(
        "SELECT max(d) FROM (SELECT CAST(time AS BIGINT) - lag(CAST(time AS BIGINT)) OVER (ORDER BY time) AS d
           FROM metrics WHERE device = 'healthy' AND metric = 'poll.ok')",
    );
    let max_gap_ms = gaps[0][0].as_f64().unwrap() / 1e6;
    assert!(
        max_gap_ms < 3300.0,
        "healthy polls were delayed: {max_gap_ms} ms"
    );
    assert_eq!(server.stop(), 0);
}

/// (time in ns, value) rows of `sql`, ordered by time.
fn series(server: &Server, sql: &str) -> Vec<(i64, f64)> {
    server
        .rows(sql)
        .iter()
        .map(|r| (r[0].as_i64().unwrap(), r[1].as_f64().unwrap()))
        .collect()
}

#[test]
fn a_link_down_for_some_polls_loses_only_their_samples_and_rates_across_the_gap_stay_exact() {
    let (ns, _ours, theirs) = Netns::create();
    let agent = format!("{theirs}:1161");
    let _agent = Snmpd::start_with(
        &format!("agentAddress udp:{agent}\nrocommunity public default\n"),
        Some(&ns.name),
        &agent,
    );
    ns.nft("table inet lossy {\n chain input {\n type filter hook input priority 0;\n }\n}\n");
    let dir = tempfile::tempdir().unwrap();
    let cfg = format!(
        "[icmp]\nenabled = false\n\n[snmp]\ninterval = \"1s\"\npoll_timeout = \"10s\"\ntimeout = \"200ms\"\nretries = 0\n\n[storage]\nbatch_latency = \"200ms\"\n
[[devices]]\nname = \"cut\"\nid = \"cut\"\naddress = \"{theirs}\"\nsnmp = {{ version = \"2c\", community = \"public\", port = 1161 }}\n"
    );
    let path = dir.path().join("sotp.toml");
    std::fs::write(&path, cfg).unwrap();
    let mut server = Server::start(&path, &dir.path().join("data"), free_port());
    let polls = |server: &Server| {
        series(
            server,
            "SELECT CAST(time AS BIGINT) AS t, value FROM metrics WHERE device = 'cut' AND metric = 'poll.ok' ORDER BY t",
        )
    };
    let count = |server: &Server, ok: f64| polls(server).iter().filter(|p| p.1 == ok).count();
    wait_explained(
        "three complete polls",
        30,
        || (count(&server, 1.0) >= 3).then_some(()),
        || server.log_text(),
    );
    // The link goes down (the agent's requests are dropped) for at least three polls.
    ns.nft("add rule inet lossy input udp dport 1161 drop\n");
    wait_explained(
        "three lost polls",
        30,
        || (count(&server, 0.0) >= 3).then_some(()),
        || server.log_text(),
    );
    ns.nft("flush chain inet lossy input\n");
    let before = count(&server, 1.0);
    wait_explained(
        "three complete polls after the outage",
        60,
        || (count(&server, 1.0) >= before + 3).then_some(()),
        || server.log_text(),
    );
    let log = server.log_text();
    // The interface inside the namespace: its counters move with the polls' own packets,
    // dropped ones included (they reach the interface before nftables).
    let inst = server.rows(
        "SELECT DISTINCT instance FROM metrics WHERE device = 'cut' AND metric = 'if.in_octets' AND instance <> 'lo'",
    );
    assert_eq!(inst.len(), 1, "{inst:?}");
    let inst = inst[0][0].as_str().unwrap().to_string();
    // Rates come from the streaming stage a moment after the raw samples: read both once
    // every raw sample but the first has its rate (the polls go on meanwhile).
    let (polls, raw, rates) = wait_explained(
        "a rate for every raw sample",
        30,
        || {
            let raw = series(
                &server,
                &format!(
                    "SELECT CAST(time AS BIGINT) AS t, CAST(counter AS DOUBLE) FROM metrics WHERE device = 'cut' AND metric = 'if.in_octets' AND instance = '{inst}' ORDER BY t"
                ),
            );
            let rates = series(
                &server,
                &format!(
                    "SELECT CAST(time AS BIGINT) AS t, value FROM metrics WHERE device = 'cut' AND metric = 'if.in_bps' AND instance = '{inst}' ORDER BY t"
                ),
            );
            let last = raw.last().map(|r| r.0);
            // The polls up to the last raw sample (one may have ended since).
            let polls: Vec<(i64, f64)> = polls(&server)
                .into_iter()
                .filter(|p| Some(p.0) <= last)
                .collect();
            (rates.len() + 1 == raw.len() && rates.last().map(|r| r.0) == last)
                .then_some((polls, raw, rates))
        },
        || server.log_text(),
    );
    // Samples were lost only for the lost polls: one per complete poll, none for a lost
    // one.
    let complete: Vec<i64> = polls.iter().filter(|p| p.1 == 1.0).map(|p| p.0).collect();
    let raw_times: Vec<i64> = raw.iter().map(|r| r.0).collect();
    assert_eq!(
        raw_times, complete,
        "if.in_octets samples against complete polls\n{log}"
    );
    // Every rate, the one across the outage included, is the counter delta over the time
    // between the two polls.
    let want: Vec<(i64, f64)> = raw
        .windows(2)
        .map(|w| {
            (
                w[1].0,
                (w[1].1 - w[0].1) * 8.0 / ((w[1].0 - w[0].0) as f64 / 1e9),
            )
        })
        .collect();
    assert_eq!(rates.len(), want.len(), "rates {rates:?}\nwant {want:?}");
    for (got, want) in rates.iter().zip(&want) {
        assert_eq!(got.0, want.0);
        assert!(
            (got.1 - want.1).abs() <= want.1.abs() * 1e-9,
            "rate at {}: {} against {}",
            got.0,
            got.1,
            want.1
        );
    }
    let widest = raw.windows(2).map(|w| w[1].0 - w[0].0).max().unwrap();
    assert!(
        widest > 3_000_000_000,
        "no rate spans the outage (widest gap {widest} ns)"
    );
    assert_eq!(server.stop(), 0);
}
