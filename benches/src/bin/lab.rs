//! The device lab: `--devices` devices polled by SNMP and ICMP at once while syslog
//! arrives, for `--duration`, against a `sotp run` of its own; prints what a user of a
//! monitoring tool would check (poll success per collector, poll lateness, CPU, memory
//! over time, Parquet written, syslog kept, API latency under a mixed load).
//!
//! Started by one command (root: it binds loopback addresses and loads nftables rules):
//!   cargo run --profile bench -p sotp-benches --bin lab -- --devices 1000 --duration 1h
//!
//! The devices are loopback addresses 127.3.X.Y. Their agents are net-snmp's snmpd
//! (Debian `snmpd`), one process per hundred devices, each answering for its hundred
//! addresses with the host's real interfaces (counters that advance). Every
//! `--slow-every`th device is slow: a proxy holds each reply back 1 to 2 s (per device)
//! as an overloaded agent does, one request at a time. Every `--lossy-every`th device is
//! lossy: nftables drops 10 % of its SNMP requests and of its ICMP echo requests (this
//! kernel has no netem, so no jitter). Syslog: RFC 5424 lines over UDP at
//! `--syslog-rate` messages per second, from the devices' addresses. The API load: a
//! device list, a dashboard query and a log search in turn, `--api-rate` per second,
//! with one login (the lab's `sotp` gives access tokens 24 h, not 15 min).
//!
//! The last line of stdout is the result as JSON; a table goes to stderr, and the
//! samples over time to `--out`/lab-series.csv.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;

#[derive(Parser, Debug)]
#[command(
    about = "The device lab: many SNMP/ICMP devices, slow and lossy ones, syslog and API load against one sotp"
)]
struct Args {
    /// Devices (SNMP and ICMP each).
    #[arg(long, default_value_t = 1000)]
    devices: usize,
    /// How long the run lasts, for example "1h" or "2m".
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    duration: Duration,
    /// Polling interval of both collectors.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    interval: Duration,
    /// Every Nth device is slow (1-2 s per reply); 0 for none.
    #[arg(long, default_value_t = 20)]
    slow_every: usize,
    /// Every Nth device (from the middle of the slow ones) loses 10 % of its packets; 0 for none.
    #[arg(long, default_value_t = 20)]
    lossy_every: usize,
    /// Syslog messages per second.
    #[arg(long, default_value_t = 10_000)]
    syslog_rate: u64,
    /// API requests per second (device list, dashboard query, log search in turn).
    #[arg(long, default_value_t = 4.0)]
    api_rate: f64,
    /// The sotp binary.
    #[arg(long, default_value = "target/release/sotp")]
    sotp: PathBuf,
    /// Where the data directory, the logs and lab-series.csv go (kept).
    #[arg(long, default_value = "target/lab")]
    out: PathBuf,
    /// Run on Kafka (`[bus] kind = "kafka"`) with a Kafka-API broker of its own,
    /// `--tansu`, on a free port; otherwise the in-process bus.
    #[arg(long)]
    kafka: bool,
    /// The broker for `--kafka` (scripts/setup-peers.sh installs tansu and prints its path).
    #[arg(long, env = "SOTP_TANSU", default_value = "tansu")]
    tansu: PathBuf,
    /// Seconds between two samples of the process and its /metrics.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    sample_every: Duration,
    /// Alert rules in the configuration, a fifth of each form: thresholds on interface
    /// utilization and on error rates, rate of change of the uptime, utilization, plain
    /// SQL. Their bounds are not crossed (the usual case: every rule evaluated on every
    /// window, nothing fires).
    #[arg(long, default_value_t = 0)]
    rules: usize,
}

const ADMIN: (&str, &str) = ("admin", "lab-admin-password-1");
const AGENT_PORT: u16 = 1161;

/// Device `i`'s address; its snmpd's own address when the device sits behind a proxy.
fn address(i: usize) -> String {
    format!("127.3.{}.{}", i / 250, i % 250 + 1)
}

fn hidden_address(i: usize) -> String {
    format!("127.4.{}.{}", i / 250, i % 250 + 1)
}

struct Lab {
    children: Vec<Child>,
    stop: Arc<AtomicBool>,
    nft_table: bool,
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for c in &mut self.children {
            c.kill().ok();
            c.wait().ok();
        }
        if self.nft_table {
            let _ = Command::new("nft")
                .args(["delete", "table", "inet", "sotp_lab"])
                .status();
        }
    }
}

fn is_slow(a: &Args, i: usize) -> bool {
    a.slow_every > 0 && i % a.slow_every == a.slow_every - 1
}

fn is_lossy(a: &Args, i: usize) -> bool {
    a.lossy_every > 0 && i % a.lossy_every == a.lossy_every / 2
}

/// A slow agent in front of `agent`: each reply held back `delay`, one at a time.
fn slow_proxy(
    listen: &str,
    agent: &str,
    delay: Duration,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<()> {
    let front =
        UdpSocket::bind((listen, AGENT_PORT)).with_context(|| format!("binding {listen}"))?;
    front.set_read_timeout(Some(Duration::from_millis(200)))?;
    let back = UdpSocket::bind("127.0.0.1:0")?;
    back.connect((agent, AGENT_PORT))?;
    back.set_read_timeout(Some(Duration::from_secs(5)))?;
    std::thread::spawn(move || {
        let (mut req, mut rep) = (vec![0u8; 65_536], vec![0u8; 65_536]);
        while !stop.load(Ordering::Relaxed) {
            let Ok((n, client)) = front.recv_from(&mut req) else {
                continue;
            };
            if back.send(&req[..n]).is_err() {
                continue;
            }
            let Ok(m) = back.recv(&mut rep) else {
                continue;
            };
            std::thread::sleep(delay);
            let _ = front.send_to(&rep[..m], client);
        }
    });
    Ok(())
}

fn start_agents(a: &Args, lab: &mut Lab, dir: &Path) -> anyhow::Result<()> {
    let addrs: Vec<String> = (0..a.devices)
        .map(|i| {
            if is_slow(a, i) {
                hidden_address(i)
            } else {
                address(i)
            }
        })
        .collect();
    for (k, chunk) in addrs.chunks(100).enumerate() {
        let conf = dir.join(format!("snmpd-{k}.conf"));
        let listen: Vec<String> = chunk
            .iter()
            .map(|h| format!("udp:{h}:{AGENT_PORT}"))
            .collect();
        std::fs::write(
            &conf,
            format!(
                "agentAddress {}\nrocommunity public default\n",
                listen.join(",")
            ),
        )?;
        let state = dir.join(format!("snmpd-{k}"));
        std::fs::create_dir_all(&state)?;
        let child = Command::new("snmpd")
            .args(["-f", "-Lo", "-C", "-c"])
            .arg(&conf)
            .env("MIBS", "")
            .env("SNMP_PERSISTENT_DIR", &state)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting snmpd (Debian `snmpd`; scripts/setup-peers.sh installs it)")?;
        lab.children.push(child);
    }
    for i in (0..a.devices).filter(|&i| is_slow(a, i)) {
        let delay = Duration::from_millis(1_000 + (i as u64 * 97) % 1_000);
        slow_proxy(&address(i), &hidden_address(i), delay, lab.stop.clone())?;
    }
    let lossy: Vec<String> = (0..a.devices)
        .filter(|&i| is_lossy(a, i))
        .map(address)
        .collect();
    if !lossy.is_empty() {
        let rules = format!(
            "table inet sotp_lab {{\n set lossy {{ type ipv4_addr; elements = {{ {} }} }}\n chain input {{\n  type filter hook input priority 0;\n  ip daddr @lossy udp dport {AGENT_PORT} numgen random mod 100 < 10 drop\n  ip daddr @lossy icmp type echo-request numgen random mod 100 < 10 drop\n }}\n}}\n",
            lossy.join(", ")
        );
        let mut nft = Command::new("nft")
            .args(["-f", "-"])
            .stdin(Stdio::piped())
            .spawn()
            .context("nft (Debian `nftables`)")?;
        nft.stdin
            .take()
            .context("stdin")?
            .write_all(rules.as_bytes())?;
        if !nft.wait()?.success() {
            bail!("nft refused the lossy rules");
        }
        lab.nft_table = true;
    }
    Ok(())
}

fn config(a: &Args, port: u16, syslog: SocketAddr, kafka: Option<u16>) -> String {
    let mut c = match kafka {
        Some(p) => format!("[bus]\nkind = \"kafka\"\nbrokers = \"127.0.0.1:{p}\"\n\n"),
        None => String::new(),
    };
    c += &format!(
        "[icmp]\ninterval = \"{i}\"\n\n[snmp]\ninterval = \"{i}\"\n\n[syslog]\nudp = \"{syslog}\"\ntcp = \"\"\n\n[api]\nlisten = \"127.0.0.1:{port}\"\n\n[pgwire]\nlisten = \"\"\n\n[auth]\naccess_ttl = \"24h\"\n",
        i = humantime::format_duration(a.interval)
    );
    for i in 0..a.devices {
        c.push_str(&format!(
            "\n[[devices]]\nname = \"lab-{i:04}\"\naddress = \"{}\"\nsnmp = {{ version = \"2c\", community = \"public\", port = {AGENT_PORT} }}\n",
            address(i)
        ));
    }
    c.push_str(&alert_rules(a.rules));
    c
}

/// `n` `[[alert_rules]]` of the five forms (see `Args::rules`).
fn alert_rules(n: usize) -> String {
    let mut c = String::new();
    for i in 0..n {
        let bound = 1e9 + i as f64;
        let form = match i % 5 {
            0 => format!("threshold = {{ metric = \"if.in_util_ratio\", op = \">\", value = {bound} }}"),
            1 => format!("threshold = {{ metric = \"if.in_errors_per_s\", op = \">\", value = {bound} }}"),
            // Uptime grows by 1/s; over 2 minutes (several polls) less than half of that
            // would be a restart or a stall.
            2 => "rate_of_change = { metric = \"sys.uptime_s\", op = \"<\", value = 0.5 }\nrange = \"2m\"".to_string(),
            3 => format!("utilization = {{ above = {bound} }}"),
            _ => format!("sql = \"SELECT device_id, instance, max(value) AS value FROM metrics WHERE metric = 'if.in_errors_per_s' GROUP BY device_id, instance HAVING max(value) > {bound}\""),
        };
        c.push_str(&format!(
            "\n[[alert_rules]]\nname = \"lab-rule-{i:03}\"\nevery = \"30s\"\nfor = \"1m\"\n{form}\n"
        ));
    }
    c
}

fn http() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

fn login(agent: &ureq::Agent, base: &str) -> anyhow::Result<String> {
    let body = serde_json::json!({"username": ADMIN.0, "password": ADMIN.1}).to_string();
    let mut r = agent
        .post(format!("{base}/api/v1/auth/login"))
        .header("content-type", "application/json")
        .send(&body)?;
    let v: serde_json::Value = serde_json::from_str(&r.body_mut().read_to_string()?)?;
    v["access_token"]
        .as_str()
        .map(str::to_string)
        .context("no access_token in the login reply")
}

/// Sends RFC 5424 lines at `rate` per second from the devices' addresses until `stop`.
fn syslog_sender(
    a: &Args,
    to: SocketAddr,
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
) -> anyhow::Result<()> {
    let senders: Vec<(String, UdpSocket)> = (0..a.devices.min(20))
        .map(|i| Ok((address(i), UdpSocket::bind((address(i).as_str(), 0))?)))
        .collect::<anyhow::Result<_>>()?;
    let rate = a.syslog_rate;
    std::thread::spawn(move || {
        let start = Instant::now();
        let mut n: u64 = 0;
        while !stop.load(Ordering::Relaxed) {
            // Paced in 10 ms steps: the messages due by now are sent.
            let due = (start.elapsed().as_secs_f64() * rate as f64) as u64;
            while n < due {
                let (host, sock) = &senders[(n % senders.len() as u64) as usize];
                let line = format!(
                    "<189>1 - {host} ifmgr 42 LINK - %LINK-3-UPDOWN: Interface GigabitEthernet0/{} changed state to {}",
                    n % 48,
                    if n.is_multiple_of(2) { "down" } else { "up" }
                );
                if sock.send_to(line.as_bytes(), to).is_ok() {
                    sent.fetch_add(1, Ordering::Relaxed);
                }
                n += 1;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    });
    Ok(())
}

/// Latencies of the API load, ms, per kind of request; failed requests counted apart.
#[derive(Default)]
struct ApiLoad {
    ms: BTreeMap<&'static str, Vec<f64>>,
    errors: BTreeMap<&'static str, u64>,
}

fn api_load(
    base: String,
    token: String,
    rate: f64,
    stop: Arc<AtomicBool>,
    out: Arc<Mutex<ApiLoad>>,
) {
    std::thread::spawn(move || {
        let agent = http();
        let bearer = format!("Bearer {token}");
        let requests: [(&'static str, &str, Option<&str>); 3] = [
            ("device list", "/api/v1/devices?limit=100", None),
            (
                "dashboard query",
                "/api/v1/query",
                Some(
                    r#"{"sql": "SELECT device, avg(value) AS rtt_ms FROM metrics WHERE metric = 'icmp.rtt_ms' AND time > now() - INTERVAL '5 minutes' GROUP BY device ORDER BY rtt_ms DESC LIMIT 10"}"#,
                ),
            ),
            (
                "log search",
                "/api/v1/query",
                Some(
                    r#"{"sql": "SELECT received_at, hostname, message FROM logs WHERE message LIKE '%GigabitEthernet0/7 %' AND received_at > now() - INTERVAL '5 minutes' ORDER BY received_at DESC LIMIT 50"}"#,
                ),
            ),
        ];
        let gap = Duration::from_secs_f64(1.0 / rate.max(0.01));
        let mut k = 0usize;
        let mut next = Instant::now();
        while !stop.load(Ordering::Relaxed) {
            let (kind, path, body) = requests[k % requests.len()];
            k += 1;
            let url = format!("{base}{path}");
            let t = Instant::now();
            let r = match body {
                None => agent.get(&url).header("authorization", &bearer).call(),
                Some(b) => agent
                    .post(&url)
                    .header("authorization", &bearer)
                    .header("content-type", "application/json")
                    .send(b),
            };
            let ok = r.map(|mut r| {
                let _ = r.body_mut().read_to_vec();
                r.status().is_success()
            });
            let ms = t.elapsed().as_secs_f64() * 1e3;
            let mut o = out.lock().expect("not poisoned");
            if matches!(ok, Ok(true)) {
                o.ms.entry(kind).or_default().push(ms);
            } else {
                *o.errors.entry(kind).or_default() += 1;
            }
            drop(o);
            next += gap;
            if let Some(wait) = next.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
    });
}

/// `name{labels} value` lines of a Prometheus text page whose name and labels contain
/// every one of `parts`, summed.
fn prom_sum(page: &str, name: &str, parts: &[&str]) -> f64 {
    page.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.split(['{', ' ']).next() == Some(name))
        .filter(|l| parts.iter().all(|p| l.contains(p)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .fold(0.0, |a, b| a + b)
}

/// Polls of collector `c` with outcome `o` so far, from a `/metrics` page.
fn polls(page: &str, c: &str, o: &str) -> f64 {
    prom_sum(
        page,
        "sotp_polls_total",
        &[&format!("collector=\"{c}\""), &format!("outcome=\"{o}\"")],
    )
}

/// Quantile `q` of collector `c`'s poll lateness (recent window), from a `/metrics` page.
fn lateness(page: &str, c: &str, q: &str) -> f64 {
    prom_sum(
        page,
        "sotp_poll_lateness_seconds",
        &[&format!("collector=\"{c}\""), &format!("quantile=\"{q}\"")],
    )
}

/// CPU seconds (user + system) and resident bytes of process `pid`.
fn cpu_and_rss(pid: u32) -> (f64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, r)| r.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // Fields after the command: state is 0, utime 11, stime 12 (clock ticks of 1/100 s).
    let cpu = (ticks(11) + ticks(12)) / 100.0;
    let rss = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().ok())
        .unwrap_or(0)
        * 1024;
    (cpu, rss)
}

/// Parquet files and bytes under `dir`.
fn parquet(dir: &Path) -> (u64, u64) {
    let mut out = (0, 0);
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "parquet") {
                out.0 += 1;
                out.1 += e.metadata().map(|m| m.len()).unwrap_or(0);
            }
        }
    }
    out
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    if !a.sotp.exists() {
        bail!(
            "{} not found: build it (cargo build --release) or pass --sotp",
            a.sotp.display()
        );
    }
    std::fs::create_dir_all(&a.out)?;
    let data = a.out.join("data");
    let _ = std::fs::remove_dir_all(&data);
    let mut lab = Lab {
        children: Vec::new(),
        stop: Arc::new(AtomicBool::new(false)),
        nft_table: false,
    };
    eprintln!(
        "lab: {} devices ({} slow, {} lossy), interval {}, syslog {}/s, {} long, {} bus",
        a.devices,
        (0..a.devices).filter(|&i| is_slow(&a, i)).count(),
        (0..a.devices).filter(|&i| is_lossy(&a, i)).count(),
        humantime::format_duration(a.interval),
        a.syslog_rate,
        humantime::format_duration(a.duration),
        if a.kafka {
            "Kafka (tansu)"
        } else {
            "in-process"
        }
    );
    start_agents(&a, &mut lab, &a.out)?;
    let port = free_port()?;
    let syslog: SocketAddr = format!("127.0.0.1:{}", free_port()?).parse()?;
    let kafka = match a.kafka {
        true => {
            let tansu = &a.tansu;
            let p = free_port()?;
            let log = std::fs::File::create(a.out.join("tansu.log"))?;
            let url = format!("tcp://127.0.0.1:{p}");
            let child = Command::new(tansu)
                .args([
                    "broker",
                    "--listener-url",
                    &url,
                    "--advertised-listener-url",
                    &url,
                ])
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .with_context(|| format!("starting {}", tansu.display()))?;
            lab.children.push(child);
            let up = Instant::now();
            while std::net::TcpStream::connect(("127.0.0.1", p)).is_err() {
                if up.elapsed() > Duration::from_secs(20) {
                    bail!("the broker did not listen on {p}; see tansu.log");
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            Some(p)
        }
        false => None,
    };
    let cfg = a.out.join("sotp.toml");
    std::fs::write(&cfg, config(&a, port, syslog, kafka))?;
    let log = std::fs::File::create(a.out.join("sotp.log"))?;
    let sotp = Command::new(&a.sotp)
        .args(["run", "--config"])
        .arg(&cfg)
        .arg("--data-dir")
        .arg(&data)
        .env("SOTP_ADMIN_USER", ADMIN.0)
        .env("SOTP_ADMIN_PASSWORD", ADMIN.1)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .with_context(|| format!("starting {}", a.sotp.display()))?;
    let pid = sotp.id();
    lab.children.insert(0, sotp);
    let base = format!("http://127.0.0.1:{port}");
    let agent = http();
    let ready = Instant::now();
    let token = loop {
        if let Ok(t) = login(&agent, &base) {
            break t;
        }
        if ready.elapsed() > Duration::from_secs(60) {
            bail!(
                "sotp did not answer its API within 60 s; see {}",
                a.out.join("sotp.log").display()
            );
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    let sent = Arc::new(AtomicU64::new(0));
    // The load stops before sotp; the agents (and their slow proxies) only after it, so
    // that no poll fails for the lab's own shutdown.
    let load_stop = Arc::new(AtomicBool::new(false));
    syslog_sender(&a, syslog, load_stop.clone(), sent.clone())?;
    let load = Arc::new(Mutex::new(ApiLoad::default()));
    api_load(
        base.clone(),
        token.clone(),
        a.api_rate,
        load_stop.clone(),
        load.clone(),
    );

    let mut csv = std::fs::File::create(a.out.join("lab-series.csv"))?;
    writeln!(
        csv,
        "seconds,cpu_percent,rss_mb,snmp_ok,snmp_partial,snmp_failed,icmp_ok,icmp_failed,snmp_lateness_p99_s,icmp_lateness_p99_s,bus_queue_depth,hot_mb,parquet_files,parquet_mb,syslog_sent"
    )?;
    let start = Instant::now();
    let (mut last_cpu, mut last_t) = (cpu_and_rss(pid).0, start);
    let mut rss_series = Vec::new();
    let mut max_queued = 0.0f64;
    let mut max_hot = 0.0f64;
    let mut page = String::new();
    let bearer = format!("Bearer {token}");
    loop {
        std::thread::sleep(
            a.sample_every
                .min(a.duration.saturating_sub(start.elapsed()))
                .max(Duration::from_millis(100)),
        );
        let (cpu, rss) = cpu_and_rss(pid);
        let now = Instant::now();
        let cpu_pct = (cpu - last_cpu) / now.duration_since(last_t).as_secs_f64() * 100.0;
        (last_cpu, last_t) = (cpu, now);
        match agent
            .get(format!("{base}/metrics"))
            .header("authorization", &bearer)
            .call()
        {
            Ok(mut r) if r.status().is_success() => {
                page = r.body_mut().read_to_string().unwrap_or_default();
            }
            // The last page read stays; a sample that could not be read is said.
            Ok(r) => eprintln!("lab: /metrics answered {}", r.status()),
            Err(e) => eprintln!("lab: /metrics: {e}"),
        }
        let (files, bytes) = parquet(&data);
        // Bus lag: events published and not yet consumed, all topics and groups.
        let queued = prom_sum(&page, "sotp_bus_queue_depth", &[]);
        max_queued = max_queued.max(queued);
        // The hot tier's Arrow memory, all tables.
        let hot_mb = prom_sum(&page, "sotp_hot_bytes", &[]) / 1e6;
        max_hot = max_hot.max(hot_mb);
        rss_series.push(rss);
        writeln!(
            csv,
            "{:.0},{cpu_pct:.1},{:.1},{},{},{},{},{},{:.3},{:.3},{queued},{hot_mb:.1},{files},{:.1},{}",
            start.elapsed().as_secs_f64(),
            rss as f64 / 1e6,
            polls(&page, "snmp", "ok"),
            polls(&page, "snmp", "partial"),
            polls(&page, "snmp", "failed"),
            polls(&page, "icmp", "ok"),
            polls(&page, "icmp", "failed"),
            lateness(&page, "snmp", "0.99"),
            lateness(&page, "icmp", "0.99"),
            bytes as f64 / 1e6,
            sent.load(Ordering::Relaxed)
        )?;
        if start.elapsed() >= a.duration {
            break;
        }
    }
    load_stop.store(true, Ordering::Relaxed);
    let elapsed = start.elapsed().as_secs_f64();
    let total_cpu = cpu_and_rss(pid).0;
    let success = |c: &str| {
        let ok = polls(&page, c, "ok");
        ok / (ok + polls(&page, c, "partial") + polls(&page, c, "failed")).max(1.0)
    };
    // One number from SQL.
    let count = |sql: &str| -> Option<u64> {
        let body = serde_json::json!({ "sql": sql }).to_string();
        let mut r = agent
            .post(format!("{base}/api/v1/query"))
            .header("authorization", &bearer)
            .header("content-type", "application/json")
            .send(&body)
            .ok()?;
        let v: serde_json::Value =
            serde_json::from_str(&r.body_mut().read_to_string().ok()?).ok()?;
        v["rows"][0][0].as_u64()
    };
    // Syslog kept: rows in the logs table once the last lines have gone through.
    let mut kept = count("SELECT count(*) FROM logs");
    let settle = Instant::now() + Duration::from_secs(20);
    while Instant::now() < settle {
        std::thread::sleep(Duration::from_secs(1));
        let now = count("SELECT count(*) FROM logs");
        if now == kept {
            break;
        }
        kept = now;
    }
    let answered = |c: &str| {
        count(&format!(
            "SELECT count(DISTINCT device) FROM metrics WHERE metric = 'poll.ok' AND value = 1 AND instance = '{c}'"
        ))
    };
    let mut api = serde_json::Map::new();
    {
        let mut l = load.lock().expect("not poisoned");
        let kinds: Vec<&'static str> = l.ms.keys().chain(l.errors.keys()).copied().collect();
        for kind in kinds {
            let errors = l.errors.get(kind).copied().unwrap_or(0);
            let ms = l.ms.entry(kind).or_default();
            api.insert(
                kind.to_string(),
                serde_json::json!({
                    "requests": ms.len() as u64 + errors,
                    "errors": errors,
                    "p50_ms": percentile(ms, 0.50),
                    "p95_ms": percentile(ms, 0.95),
                    "p99_ms": percentile(ms, 0.99),
                }),
            );
        }
    }
    let (files, bytes) = parquet(&data);
    let result = serde_json::json!({
        "bench": "lab",
        "bus": if kafka.is_some() { "kafka" } else { "memory" },
        "devices": a.devices,
        "seconds": elapsed,
        "interval_s": a.interval.as_secs_f64(),
        "snmp": {
            "polls_ok": polls(&page, "snmp", "ok"),
            "polls_partial": polls(&page, "snmp", "partial"),
            "polls_failed": polls(&page, "snmp", "failed"),
            "success": success("snmp"),
            "devices_answered": answered("snmp"),
            "lateness_p50_s": lateness(&page, "snmp", "0.5"),
            "lateness_p99_s": lateness(&page, "snmp", "0.99"),
        },
        "icmp": {
            "polls_ok": polls(&page, "icmp", "ok"),
            "polls_failed": polls(&page, "icmp", "failed"),
            "success": success("icmp"),
            "devices_answered": answered("icmp"),
            "lateness_p50_s": lateness(&page, "icmp", "0.5"),
            "lateness_p99_s": lateness(&page, "icmp", "0.99"),
        },
        "syslog": { "sent": sent.load(Ordering::Relaxed), "rows": kept },
        "cpu_cores": total_cpu / elapsed,
        "rss_mb_first": rss_series.first().map(|r| *r as f64 / 1e6),
        "rss_mb_last": rss_series.last().map(|r| *r as f64 / 1e6),
        "rss_mb_max": rss_series.iter().max().map(|r| *r as f64 / 1e6),
        "bus_queue_depth_max": max_queued,
        "hot_mb_max": max_hot,
        "alert_rules": a.rules,
        "alert_evaluations": prom_sum(&page, "sotp_alert_evaluations_total", &[]),
        "alert_windows": prom_sum(&page, "sotp_alert_window_seconds_count", &[]),
        "alert_window_ms_mean": 1e3 * prom_sum(&page, "sotp_alert_window_seconds_sum", &[])
            / prom_sum(&page, "sotp_alert_window_seconds_count", &[]).max(1.0),
        "alert_window_ms_p99": 1e3 * prom_sum(&page, "sotp_alert_window_seconds", &["quantile=\"0.99\""]),
        "parquet_files": files,
        "parquet_mb": bytes as f64 / 1e6,
        "api": api,
    });
    // Stop sotp cleanly: SIGTERM, then wait.
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status();
    if let Some(child) = lab.children.first_mut() {
        let deadline = Instant::now() + Duration::from_secs(120);
        while child.try_wait()?.is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    eprintln!("{}", serde_json::to_string_pretty(&result)?);
    println!("{result}");
    Ok(())
}
