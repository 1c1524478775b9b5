//! Helpers: start and stop `sotp run`, talk to its API, call the Python checker.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_sotp");

/// A free TCP port on 127.0.0.1, never one handed out before in this test run: the
/// kernel may give a port just released again, and a server started with two such
/// ports (its API and its PostgreSQL wire) would then fail to bind the second.
pub(crate) fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// The first admin every test server creates on first start (from the environment).
pub(crate) const ADMIN_USER: &str = "admin";
/// Its password.
pub(crate) const ADMIN_PASSWORD: &str = "it-admin-password";

/// A running `sotp run`, stopped (SIGTERM) when dropped.
pub(crate) struct Server {
    pub(crate) child: Option<Child>,
    pub(crate) url: String,
    pub(crate) log: PathBuf,
    /// The admin's access token, sent by `sql()`, `rows()` and `api()`.
    pub(crate) token: String,
    /// Port of the PostgreSQL wire (`[pgwire] listen`).
    pub(crate) pg_port: u16,
}

impl Server {
    /// Starts `sotp run --config <config> --data-dir <data>` and waits for `/ready`.
    pub(crate) fn start(config: &Path, data: &Path, port: u16) -> Server {
        Self::start_with(Command::new(BIN), config, data, port)
    }

    pub(crate) fn start_with(mut cmd: Command, config: &Path, data: &Path, port: u16) -> Server {
        // Tests run in parallel: unless a test picks its syslog ports, take free ones.
        for var in ["SOTP__SYSLOG__UDP", "SOTP__SYSLOG__TCP"] {
            if !cmd.get_envs().any(|(k, _)| k == var) {
                cmd.env(var, "127.0.0.1:0");
            }
        }
        // The same for the PostgreSQL wire; `pg_port` says where it listens.
        let pg_port = match cmd
            .get_envs()
            .find(|(k, _)| *k == "SOTP__PGWIRE__LISTEN")
            .and_then(|(_, v)| v)
        {
            Some(v) => v
                .to_string_lossy()
                .rsplit_once(':')
                .and_then(|(_, p)| p.parse().ok())
                .unwrap_or(0),
            None => {
                let p = free_port();
                cmd.env("SOTP__PGWIRE__LISTEN", format!("127.0.0.1:{p}"));
                p
            }
        };
        let log = data.with_extension("log");
        let out = std::fs::File::create(&log).unwrap();
        let child = cmd
            .args(["run", "--config"])
            .arg(config)
            .arg("--data-dir")
            .arg(data)
            .env("SOTP__API__LISTEN", format!("127.0.0.1:{port}"))
            .env("SOTP_ADMIN_USER", ADMIN_USER)
            .env("SOTP_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env(
                "RUST_LOG",
                std::env::var("SOTP_TEST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdout(Stdio::null())
            .stderr(out)
            .spawn()
            .expect("spawn sotp");
        let mut server = Server {
            child: Some(child),
            url: format!("http://127.0.0.1:{port}"),
            log,
            token: String::new(),
            pg_port,
        };
        server.wait_ready();
        server.token = server.login(ADMIN_USER, ADMIN_PASSWORD);
        server
    }

    /// Logs in; returns the access token.
    pub(crate) fn login(&self, user: &str, password: &str) -> String {
        let body = serde_json::json!({ "username": user, "password": password }).to_string();
        let (status, text) = http(
            "POST",
            &format!("{}/api/v1/auth/login", self.url),
            Some(&body),
        )
        .unwrap();
        assert_eq!(status, 200, "login as {user}: {text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        v["access_token"].as_str().unwrap().to_string()
    }

    /// Calls the API as the admin; returns (status, JSON body or Null when empty).
    pub(crate) fn api(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        self.api_as(&self.token, method, path, body)
    }

    /// Calls the API with `token`; returns (status, JSON body or Null when empty).
    pub(crate) fn api_as(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let body = body.map(Value::to_string);
        let auth = format!("Bearer {token}");
        let (status, text) = http_with(
            method,
            &format!("{}{path}", self.url),
            body.as_deref(),
            &[("Authorization", &auth)],
        )
        .unwrap();
        let v = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{method} {path}: {text}: {e}"))
        };
        (status, v)
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(r) = ureq_get(&format!("{}/ready", self.url))
                && r.0 == 200
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "sotp did not become ready; log:\n{}",
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
    }

    /// Sends SIGTERM and waits; returns the exit code.
    pub(crate) fn stop(&mut self) -> i32 {
        let mut child = self.child.take().expect("running");
        let pid = child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status.code().unwrap_or(-1);
            }
            if Instant::now() > deadline {
                child.kill().ok();
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(40).collect();
                panic!(
                    "sotp did not stop within 60 s after SIGTERM; the log's end:\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `GET /metrics` as the admin (it needs a token unless `[auth] public_metrics`).
    pub(crate) fn metrics(&self) -> (u16, String) {
        http_auth("GET", &format!("{}/metrics", self.url), None, &self.token).unwrap()
    }

    pub(crate) fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// POST /api/v1/query; returns (status, JSON body).
    pub(crate) fn sql(&self, sql: &str) -> (u16, Value) {
        self.api(
            "POST",
            "/api/v1/query",
            Some(&serde_json::json!({ "sql": sql })),
        )
    }

    /// Runs SQL that must succeed and returns its rows.
    pub(crate) fn rows(&self, sql: &str) -> Vec<Vec<Value>> {
        let (status, v) = self.sql(sql);
        assert_eq!(status, 200, "{sql}: {v}");
        serde_json::from_value(v["rows"].clone()).unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().ok();
            c.wait().ok();
        }
    }
}

/// A tiny blocking HTTP/1.1 client (tests only), so the test binary needs no runtime.
pub(crate) fn http(method: &str, url: &str, body: Option<&str>) -> std::io::Result<(u16, String)> {
    http_with(method, url, body, &[])
}

/// [`http`] with extra request headers.
pub(crate) fn http_with(
    method: &str,
    url: &str,
    body: Option<&str>,
    headers: &[(&str, &str)],
) -> std::io::Result<(u16, String)> {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").expect("http url");
    let (host, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_string()), |(h, p)| (h, format!("/{p}")));
    let mut s = std::net::TcpStream::connect(host)?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    let body = body.unwrap_or("");
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut resp = String::new();
    s.read_to_string(&mut resp)?;
    let status: u16 = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let (head, payload) = resp.split_once("\r\n\r\n").unwrap_or((&resp, ""));
    let payload = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(payload)
    } else {
        payload.to_string()
    };
    Ok((status, payload))
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        s = &rest[n + 2..];
    }
    out
}

pub(crate) fn ureq_get(url: &str) -> std::io::Result<(u16, String)> {
    http("GET", url, None)
}

/// Runs `cmd` to its end and returns its stdout; fails the test with its stderr when it
/// exits non-zero.
pub(crate) fn stdout_ok(cmd: &mut Command) -> Vec<u8> {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The server's peak resident memory so far (VmHWM), in bytes.
pub(crate) fn peak_rss(server: &Server) -> u64 {
    let pid = server.child.as_ref().unwrap().id();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap();
    kb * 1024
}

/// `sotp health --data-dir <data> --max-age <max_age>`: whether it said healthy, and
/// what it printed.
pub(crate) fn health(data: &Path, max_age: &str) -> (bool, String) {
    let out = Command::new(BIN)
        .args(["health", "--max-age", max_age, "--data-dir"])
        .arg(data)
        .env_remove("SOTP_CONFIG")
        .output()
        .expect("run sotp health");
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.success(), said)
}

/// Polls `sotp health` until its verdict is `healthy` and it says `says`.
pub(crate) fn wait_health(data: &Path, max_age: &str, healthy: bool, says: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (ok, said) = health(data, max_age);
        if ok == healthy && said.contains(says) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "sotp health never said {says:?} (healthy: {healthy}); last: {said}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The shared corpora of real device data (`$SOTP_CORPORA`, by default `../shared/corpora`
/// beside the repository), read in place.
pub(crate) fn corpora() -> PathBuf {
    std::env::var_os("SOTP_CORPORA").map_or_else(
        || PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/corpora")),
        PathBuf::from,
    )
}

/// The Python with DuckDB and pyarrow (set up by scripts/test.sh).
pub(crate) fn python() -> String {
    let py = std::env::var("SOTP_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&py)
        .args(["-c", "import duckdb, pyarrow"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "`{py}` cannot import duckdb and pyarrow: run scripts/test.sh (it creates a venv and sets SOTP_PYTHON), or `pip install duckdb pyarrow`"
    );
    py
}

/// What DuckDB and pyarrow read from the Parquet files under `data`.
pub(crate) fn outside_view(data: &Path) -> Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/check_parquet.py");
    let out = Command::new(python())
        .arg(script)
        .arg(data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "check_parquet.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A packet filter rule (nftables) that silently drops the ICMP echo replies of one
/// loopback address, as a dead link would: requests leave, nothing comes back. Removed
/// when dropped.
pub(crate) struct Blackhole {
    table: String,
}

impl Blackhole {
    pub(crate) fn new(address: &str) -> Blackhole {
        // One table per filter: tests run in parallel in one process, and dropping one
        // filter must not lift another's.
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let table = format!("sotp_it_{}_{n}", std::process::id());
        let nft = |args: &[&str]| {
            let out = Command::new("nft").args(args).output().unwrap_or_else(|e| {
                panic!("cannot run nft ({e}): install it with `apt-get install nftables` (scripts/test.sh does)")
            });
            assert!(
                out.status.success(),
                "nft {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        nft(&["add", "table", "ip", &table]);
        nft(&[
            "add",
            "chain",
            "ip",
            &table,
            "in",
            "{ type filter hook input priority 0; }",
        ]);
        nft(&[
            "add",
            "rule",
            "ip",
            &table,
            "in",
            "ip",
            "saddr",
            address,
            "icmp",
            "type",
            "echo-reply",
            "drop",
        ]);
        Blackhole { table }
    }
}

impl Drop for Blackhole {
    fn drop(&mut self) {
        let _ = Command::new("nft")
            .args(["delete", "table", "ip", &self.table])
            .status();
    }
}

/// Polls `check` until it gives a value, for at most `secs` seconds; panics naming `what`.
pub(crate) fn wait_for<T>(what: &str, secs: u64, check: impl FnMut() -> Option<T>) -> T {
    wait_explained(what, secs, check, String::new)
}

/// Like [`wait_for`], with `explain()` (a log, what was seen) in the panic.
pub(crate) fn wait_explained<T>(
    what: &str,
    secs: u64,
    mut check: impl FnMut() -> Option<T>,
    explain: impl Fn() -> String,
) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}\n{}",
            explain()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Logs in as the integration tests' admin on the API at `base` (`http://host:port`);
/// returns the bearer token. For processes started without [`Server`].
pub(crate) fn admin_token(base: &str) -> String {
    let body =
        serde_json::json!({ "username": ADMIN_USER, "password": ADMIN_PASSWORD }).to_string();
    let (status, text) = http("POST", &format!("{base}/api/v1/auth/login"), Some(&body)).unwrap();
    assert_eq!(status, 200, "login: {text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    v["access_token"].as_str().unwrap().to_string()
}

/// [`http`] with a bearer token.
pub(crate) fn http_auth(
    method: &str,
    url: &str,
    body: Option<&str>,
    token: &str,
) -> std::io::Result<(u16, String)> {
    let auth = format!("Bearer {token}");
    http_with(method, url, body, &[("Authorization", auth.as_str())])
}
