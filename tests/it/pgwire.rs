//! The PostgreSQL wire protocol against the clients that use it: Grafana's PostgreSQL data
//! source (its exact queries, sent by `tests/pgx` through jackc's pgconn with the simple
//! query protocol, every value parsed by pgtype's text decoders as Grafana does), psql,
//! and psycopg. Then the front door's security: roles, wrong passwords, revoked tokens,
//! limits with SQLSTATEs, TLS.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::attacks::create_user;
use crate::common::{ADMIN_PASSWORD, ADMIN_USER, Server, free_port};

const CONFIG: &str = r#"
[icmp]
interval = "1s"
count = 1
timeout = "300ms"

[storage]
batch_latency = "200ms"

[[devices]]
id = "lo-1"
name = "loopback-1"
address = "127.0.0.1"

[[devices]]
id = "lo-2"
name = "loopback-2"
address = "127.0.0.2"
"#;

/// The queries Grafana's PostgreSQL data source sends, verbatim from Grafana's source
/// (`public/app/plugins/datasource/grafana-postgresql-datasource/postgresMetaQuery.ts`,
/// `pkg/tsdb/grafana-postgresql-datasource/macros.go` and jackc/pgx `pgconn.Ping`).
pub(crate) mod grafana {
    /// pgx v5 `Ping` (Grafana 12.4+ health check, "Save & test").
    pub(super) const PING: &str = "-- ping";
    /// lib/pq `Ping` (Grafana up to 12.3).
    pub(super) const PING_LIBPQ: &str = ";";
    /// `getVersion()`.
    pub(super) const VERSION: &str =
        "SELECT current_setting('server_version_num')::int/100 as version";
    /// `getTimescaleDBVersion()`.
    pub(super) const TIMESCALEDB: &str =
        "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'";
    /// `buildSchemaConstraint()`, interpolated into the two queries below.
    const SCHEMA_CONSTRAINT: &str = r#"
          quote_ident(table_schema) IN (
          SELECT
            CASE WHEN trim(s[i]) = '"$user"' THEN user ELSE trim(s[i]) END
          FROM
            generate_series(
              array_lower(string_to_array(current_setting('search_path'),','),1),
              array_upper(string_to_array(current_setting('search_path'),','),1)
            ) as i,
            string_to_array(current_setting('search_path'),',') s
          )"#;

    /// `showTables()`.
    pub(super) fn tables() -> String {
        format!(
            r#"SELECT
    CASE WHEN {c}
      THEN quote_ident(table_name)
      ELSE quote_ident(table_schema) || '.' || quote_ident(table_name)
    END AS "table"
    FROM information_schema.tables
    WHERE quote_ident(table_schema) NOT IN ('information_schema',
                             'pg_catalog',
                             '_timescaledb_cache',
                             '_timescaledb_catalog',
                             '_timescaledb_internal',
                             '_timescaledb_config',
                             'timescaledb_information',
                             'timescaledb_experimental')
    ORDER BY CASE WHEN {c} THEN 0 ELSE 1 END, 1"#,
            c = SCHEMA_CONSTRAINT
        )
    }

    /// `getSchema(table)`.
    pub(super) fn columns(table: &str) -> String {
        let t = table.replace('\'', "''");
        format!(
            r#"SELECT quote_ident(column_name) AS "column", data_type AS "type"
    FROM information_schema.columns
    WHERE
      CASE WHEN array_length(parse_ident('{t}'),1) = 2
        THEN quote_ident(table_schema) = (parse_ident('{t}'))[1]
          AND quote_ident(table_name) = (parse_ident('{t}'))[2]
        ELSE quote_ident(table_name) = '{t}'
          AND {SCHEMA_CONSTRAINT}
      END"#
        )
    }

    /// `$__timeFilter(col)`: `col BETWEEN 'from' AND 'to'` in RFC 3339 (Go's
    /// `time.RFC3339Nano` of the UTC range: `Z`, trailing zeros of the fraction cut).
    pub(crate) fn time_filter(col: &str, from: &str, to: &str) -> String {
        format!("{col} BETWEEN '{from}' AND '{to}'")
    }

    /// `$__timeGroupAlias(col,'1m')`.
    pub(crate) fn time_group_alias(col: &str, seconds: u64) -> String {
        format!("floor(extract(epoch from {col})/{seconds})*{seconds} AS \"time\"")
    }

    /// `$__time(col)`.
    pub(crate) fn time(col: &str) -> String {
        format!("{col} AS \"time\"")
    }

    /// `$__unixEpochFilter(col)`.
    pub(super) fn unix_epoch_filter(col: &str, from: i64, to: i64) -> String {
        format!("{col} >= {from} AND {col} <= {to}")
    }
}

/// Go's `time.RFC3339Nano` in UTC, as Grafana writes the range into `$__timeFilter`.
pub(crate) fn rfc3339_nano(t: chrono::DateTime<chrono::Utc>) -> String {
    let s = t.format("%Y-%m-%dT%H:%M:%S%.9f").to_string();
    let s = s.trim_end_matches('0').trim_end_matches('.');
    format!("{s}Z")
}

pub(crate) fn pgxq() -> String {
    std::env::var("SOTP_PGXQ").unwrap_or_else(|_| {
        panic!("SOTP_PGXQ is not set: run scripts/setup-peers.sh (it builds tests/pgx)")
    })
}

/// Runs `queries` through pgconn as Grafana does; one answer per query.
pub(crate) fn pgx(port: u16, user: &str, password: &str, queries: &[&str]) -> Vec<Value> {
    let url = format!("postgres://{user}:{password}@127.0.0.1:{port}/sotp?sslmode=disable");
    let mut child = Command::new(pgxq())
        .arg(url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run pgxq");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(queries.join("\0").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

fn psql(port: u16, user: &str, password: &str, args: &[&str]) -> std::process::Output {
    Command::new("psql")
        .arg(format!(
            "host=127.0.0.1 port={port} user={user} dbname=sotp sslmode=disable"
        ))
        .args(["-X", "-v", "ON_ERROR_STOP=1"])
        .args(args)
        .env("PGPASSWORD", password)
        .env("PGCONNECT_TIMEOUT", "10")
        .output()
        .expect("psql (scripts/setup-peers.sh installs postgresql)")
}

pub(crate) fn start(dir: &std::path::Path) -> Server {
    let cfg = dir.join("sotp.toml");
    std::fs::write(&cfg, CONFIG).unwrap();
    Server::start(&cfg, &dir.join("data"), free_port())
}

/// Waits until both devices have RTT samples.
pub(crate) fn wait_for_samples(server: &Server) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let rows = server
            .rows("SELECT count(DISTINCT device_id) FROM metrics WHERE metric = 'icmp.rtt_ms'");
        if rows[0][0] == 2 {
            return;
        }
        assert!(Instant::now() < deadline, "no ICMP samples: {rows:?}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Every value pgtype parsed (none failed), and each timestamp text in PostgreSQL's
/// form that lib/pq's positional parser also reads.
fn assert_parsed(answer: &Value) {
    let ts = regex::Regex::new(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{1,6})?\+00$").unwrap();
    for r in answer["results"].as_array().unwrap() {
        for (row, parsed) in r["rows"]
            .as_array()
            .unwrap()
            .iter()
            .zip(r["parsed"].as_array().unwrap())
        {
            for (i, p) in parsed.as_array().unwrap().iter().enumerate() {
                assert!(
                    !p.as_str().is_some_and(|s| s.starts_with("PARSE ERROR")),
                    "{p} in {answer}"
                );
                if r["fields"][i]["oid"] == 1184
                    && let Some(text) = row[i].as_str()
                {
                    assert!(ts.is_match(text), "timestamp text {text:?}");
                }
            }
        }
    }
}

#[test]
fn grafanas_queries_over_pgx_get_the_answers_grafana_reads() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    wait_for_samples(&server);
    let now = chrono::Utc::now();
    let (from, to) = (
        now - chrono::Duration::hours(1),
        now + chrono::Duration::seconds(5),
    );
    let filter = grafana::time_filter("time", &rfc3339_nano(from), &rfc3339_nano(to));
    let time_series = format!(
        "SELECT {}, device AS metric, avg(value) AS value FROM metrics WHERE {filter} AND metric = 'icmp.rtt_ms' GROUP BY 1, 2 ORDER BY 1",
        grafana::time_group_alias("time", 60)
    );
    let raw = format!(
        "SELECT {}, value FROM metrics WHERE {filter} AND metric = 'icmp.up' AND device_id = 'lo-1' ORDER BY 1 LIMIT 5",
        grafana::time("time")
    );
    let epoch = format!(
        "SELECT count(*) AS n FROM metrics WHERE {}",
        grafana::unix_epoch_filter("extract(epoch from time)", from.timestamp(), to.timestamp())
    );
    let tables = grafana::tables();
    let columns = grafana::columns("metrics");
    let queries = [
        grafana::PING,
        grafana::PING_LIBPQ,
        grafana::VERSION,
        grafana::TIMESCALEDB,
        tables.as_str(),
        columns.as_str(),
        time_series.as_str(),
        raw.as_str(),
        epoch.as_str(),
    ];
    let answers = pgx(server.pg_port, ADMIN_USER, ADMIN_PASSWORD, &queries);
    assert_eq!(answers.len(), queries.len(), "{answers:#?}");
    for (q, a) in queries.iter().zip(&answers) {
        assert_eq!(a["error"], Value::Null, "{q}: {a}");
        assert_parsed(a);
    }
    // The health checks: an empty query, no error.
    for a in &answers[..2] {
        let results = a["results"].as_array().unwrap();
        assert!(results.iter().all(|r| r["fields"] == json!([])), "{a}");
    }
    // Version: one integer column `version`, 1600 (PostgreSQL 16, TimescaleDB checks on).
    let v = &answers[2]["results"][0];
    assert_eq!(v["fields"][0]["name"], "version");
    assert!(
        matches!(v["fields"][0]["oid"].as_u64(), Some(20 | 23)),
        "{v}"
    );
    assert_eq!(v["rows"], json!([["1600"]]));
    assert!(v["tag"].as_str().unwrap().starts_with("SELECT"), "{v}");
    // No TimescaleDB: zero rows of a text column.
    let t = &answers[3]["results"][0];
    assert_eq!(t["fields"], json!([{"name": "extversion", "oid": 25}]));
    assert_eq!(t["rows"], json!([]));
    // The query builder's table list and the columns of `metrics` with PostgreSQL types.
    let names: Vec<&str> = answers[4]["results"][0]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[0].as_str().unwrap())
        .collect();
    for t in ["metrics", "metrics_1m", "logs", "devices"] {
        assert!(names.contains(&t), "{names:?}");
    }
    let cols = &answers[5]["results"][0];
    assert_eq!(cols["fields"][0]["name"], "column");
    assert_eq!(cols["fields"][1]["name"], "type");
    let rows = cols["rows"].as_array().unwrap();
    assert!(
        rows.contains(&json!(["\"time\"", "timestamp with time zone"])),
        "{rows:?}"
    );
    assert!(
        rows.contains(&json!(["value", "double precision"])),
        "{rows:?}"
    );
    // A time series: numeric `time` (epoch seconds, Grafana turns it into ms), a text
    // `metric`, a float8 `value`; both devices present.
    let ts = &answers[6]["results"][0];
    assert_eq!(
        ts["fields"],
        json!([{"name": "time", "oid": 701}, {"name": "metric", "oid": 25}, {"name": "value", "oid": 701}])
    );
    let devices: std::collections::BTreeSet<&str> = ts["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[1].as_str().unwrap())
        .collect();
    assert_eq!(devices.len(), 2, "{ts}");
    // Raw samples: a timestamptz `time` that pgtype parses to the same instant.
    let raw = &answers[7]["results"][0];
    assert_eq!(raw["fields"][0], json!({"name": "time", "oid": 1184}));
    let first = &raw["rows"][0];
    let parsed = raw["parsed"][0][0].as_str().unwrap();
    let text = first[0].as_str().unwrap();
    let back = chrono::DateTime::parse_from_rfc3339(parsed).unwrap();
    assert_eq!(
        back.format("%Y-%m-%d %H:%M:%S").to_string(),
        text[..19],
        "{text} parsed as {parsed}"
    );
    assert_eq!(raw["rows"][0][1], "1", "icmp.up of a loopback device");
    let n: i64 = answers[8]["results"][0]["rows"][0][0]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(n > 0, "{}", answers[8]);
}

#[test]
fn psql_lists_describes_and_queries() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    wait_for_samples(&server);
    let ok = |out: std::process::Output| {
        assert!(
            out.status.success(),
            "psql failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let port = server.pg_port;
    let list = ok(psql(port, ADMIN_USER, ADMIN_PASSWORD, &["-c", "\\dt"]));
    assert!(list.contains("metrics") && list.contains("logs"), "{list}");
    let describe = ok(psql(
        port,
        ADMIN_USER,
        ADMIN_PASSWORD,
        &["-c", "\\d metrics"],
    ));
    assert!(
        describe.contains("timestamp with time zone") && describe.contains("device_id"),
        "{describe}"
    );
    let rows = ok(psql(
        port,
        ADMIN_USER,
        ADMIN_PASSWORD,
        &[
            "-A",
            "-t",
            "-c",
            "SELECT device_id, metric, value FROM metrics WHERE metric = 'icmp.up' AND device_id = 'lo-1' LIMIT 1",
        ],
    ));
    assert_eq!(rows.trim(), "lo-1|icmp.up|1");
    let settings = ok(psql(
        port,
        ADMIN_USER,
        ADMIN_PASSWORD,
        &[
            "-A",
            "-t",
            "-c",
            "SHOW server_version",
            "-c",
            "SHOW TimeZone",
        ],
    ));
    assert_eq!(settings.lines().collect::<Vec<_>>(), ["16.6", "UTC"]);
}

#[test]
fn psycopg_reads_typed_values_in_a_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    wait_for_samples(&server);
    let script = r#"
import datetime, json, sys, psycopg
port, user, password = sys.argv[1], sys.argv[2], sys.argv[3]
with psycopg.connect(host="127.0.0.1", port=port, user=user, password=password, dbname="sotp", sslmode="disable") as conn:
    out = {"server_version": conn.info.server_version}
    # Autocommit off: psycopg sends BEGIN first, and COMMIT at the end.
    cur = conn.execute("SELECT time, device_id, value FROM metrics WHERE metric = 'icmp.up' ORDER BY time DESC LIMIT 1")
    t, device, value = cur.fetchone()
    out["tz"] = str(t.tzinfo)
    out["age_s"] = (datetime.datetime.now(datetime.timezone.utc) - t).total_seconds()
    out["device"] = device
    out["value"] = value
    out["status_in_tx"] = conn.info.transaction_status.name
    conn.commit()
    out["status_after"] = conn.info.transaction_status.name
    # A failing statement is an error with its SQLSTATE, and the connection goes on.
    try:
        conn.execute("SELECT nope FROM metrics")
    except psycopg.Error as e:
        out["error"] = e.sqlstate
    conn.rollback()
    out["after_error"] = conn.execute("SELECT 1 + 1").fetchone()[0]
print(json.dumps(out))
"#;
    let out = Command::new(crate::common::python())
        .args(["-c", script])
        .arg(server.pg_port.to_string())
        .args([ADMIN_USER, ADMIN_PASSWORD])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["server_version"], 160006);
    assert_eq!(v["tz"], "UTC");
    let age = v["age_s"].as_f64().unwrap();
    assert!((-5.0..120.0).contains(&age), "{v}");
    assert_eq!(v["value"], 1.0);
    assert_eq!(v["status_in_tx"], "INTRANS");
    assert_eq!(v["status_after"], "IDLE");
    assert_eq!(v["error"], "42703");
    assert_eq!(v["after_error"], 2);
}

#[test]
fn the_wire_keeps_roles_passwords_tokens_and_limits() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("sotp.toml");
    std::fs::write(&cfg, "[icmp]\nenabled = false\n").unwrap();
    let server = Server::start(&cfg, &dir.path().join("data"), free_port());
    let port = server.pg_port;
    create_user(&server, "reader", "reader-password", "readonly");

    // A readonly login cannot read the audit log, over the wire as over HTTP.
    let a = pgx(
        port,
        "reader",
        "reader-password",
        &["SELECT * FROM audit", "SELECT 1"],
    );
    assert_eq!(a[0]["error"]["code"], "42501", "{a:?}");
    assert_eq!(a[1]["results"][0]["rows"], json!([["1"]]));
    // A wrong password, and an unknown user, get the same refusal.
    for (user, password) in [("reader", "wrong"), ("nobody", "wrong")] {
        let a = pgx(port, user, password, &["SELECT 1"]);
        assert_eq!(a[0]["error"]["code"], "28P01", "{user}: {a:?}");
    }
    // An API token as the password (how Grafana logs in); refused once revoked.
    let (status, t) = server.api(
        "POST",
        "/api/v1/tokens",
        Some(&json!({"name": "grafana", "role": "readonly"})),
    );
    assert_eq!(status, 201, "{t}");
    let token = t["token"].as_str().unwrap();
    let a = pgx(port, "grafana", token, &["SELECT 40 + 2"]);
    assert_eq!(a[0]["results"][0]["rows"], json!([["42"]]), "{a:?}");
    let (status, _) = server.api("DELETE", &format!("/api/v1/tokens/{}", t["id"]), None);
    assert_eq!(status, 200);
    let a = pgx(port, "grafana", token, &["SELECT 40 + 2"]);
    assert_eq!(a[0]["error"]["code"], "28P01", "{a:?}");
    // Over the limits: cancelled with a SQLSTATE that says so, and the same connection
    // (and the server) keeps serving.
    let a = pgx(
        port,
        "reader",
        "reader-password",
        &[
            "SELECT repeat('x', 1000000) AS s FROM range(400)",
            "SELECT 2",
        ],
    );
    assert_eq!(a[0]["error"]["code"], "53200", "{a:?}");
    assert_eq!(a[1]["results"][0]["rows"], json!([["2"]]), "{a:?}");
    // Every login attempt is in the audit log.
    let rows =
        server.rows("SELECT actor, outcome FROM audit WHERE action = 'pgwire.login' ORDER BY id");
    assert!(
        rows.contains(&vec![json!("reader"), json!("success")]),
        "{rows:?}"
    );
    assert!(
        rows.contains(&vec![json!("reader"), json!("failure")]),
        "{rows:?}"
    );
    assert!(
        rows.contains(&vec![json!("<unknown user>"), json!("failure")]),
        "{rows:?}"
    );
    assert!(
        rows.contains(&vec![json!("token:grafana"), json!("success")]),
        "{rows:?}"
    );
}

#[test]
fn psql_logs_in_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    crate::syslog_tls::make_pki(dir.path());
    let cfg = dir.path().join("sotp.toml");
    std::fs::write(
        &cfg,
        format!(
            "[icmp]\nenabled = false\n[pgwire]\ntls_cert = \"{0}/server.pem\"\ntls_key = \"{0}/server.key\"\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let server = Server::start(&cfg, &dir.path().join("data"), free_port());
    let out = Command::new("psql")
        .arg(format!(
            "host=127.0.0.1 port={} user={ADMIN_USER} dbname=sotp sslmode=require",
            server.pg_port
        ))
        .args(["-X", "-c", "\\conninfo", "-c", "SELECT 1 AS one"])
        .env("PGPASSWORD", ADMIN_PASSWORD)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("SSL connection"), "{text}");
    assert!(text.contains("one"), "{text}");
}
