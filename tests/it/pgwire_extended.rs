//! The PostgreSQL wire's extended query protocol: prepared statements with `$n`
//! parameters bound into the plan, results in text or binary, through pgx (binary
//! wherever it has a codec) and psycopg (text, then binary); and a
//! cancel request that stops a running query while the connection stays usable.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::common::{ADMIN_PASSWORD, ADMIN_USER, Server, free_port};
use crate::pgwire::{pgxq, start, wait_for_samples};

/// Runs each (query, parameters) through `pgx.Conn.Query`; one answer per query.
fn pgx_extended(port: u16, cancel_after: Option<&str>, queries: &[(&str, Value)]) -> Vec<Value> {
    let url =
        format!("postgres://{ADMIN_USER}:{ADMIN_PASSWORD}@127.0.0.1:{port}/sotp?sslmode=disable");
    let mut cmd = Command::new(pgxq());
    cmd.arg("-extended");
    if let Some(d) = cancel_after {
        cmd.args(["-cancel-after", d]);
    }
    let mut child = cmd
        .arg(url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run pgxq");
    let input: Vec<String> = queries
        .iter()
        .map(|(q, p)| format!("{q}\u{1e}{p}"))
        .collect();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.join("\0").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !stdout.trim().is_empty(),
        "pgxq said nothing: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

#[test]
fn prepared_statements_bind_parameters_and_answer_in_binary_to_pgx() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    wait_for_samples(&server);
    let answers = pgx_extended(
        server.pg_port,
        None,
        &[
            // Every binary codec pgx uses: int8, float8, bool, text, numeric, timestamptz.
            (
                "SELECT CAST($1 AS BIGINT) * 2 AS n, $2 / 4.0 AS f, $3 = 'edge' AS b, \
                 upper($3) AS s, CAST(1.50 AS DECIMAL(10,2)) AS d, \
                 CAST($4 AS TIMESTAMP WITH TIME ZONE) + INTERVAL '1 hour' AS t",
                json!([21, 10.0, "edge", "time:2026-12-01T10:00:00.123456Z"]),
            ),
            // A parameter compared with a column takes the column's type; values never
            // become SQL text: a quote in one is just a character.
            (
                "SELECT name, address FROM devices WHERE name = $1 OR name = $2 ORDER BY name",
                json!(["loopback-2", "x' OR '1'='1"]),
            ),
            (
                "SELECT count(*) AS n FROM metrics WHERE device = $1 AND metric = $2 AND value >= $3",
                json!(["loopback-1", "icmp.up", 1]),
            ),
            ("SELECT nope FROM metrics WHERE device = $1", json!(["x"])),
            ("SELECT 40 + $1 AS answer", json!([2])),
        ],
    );
    assert_eq!(answers.len(), 5, "{answers:?}");
    let typed = &answers[0];
    assert_eq!(typed["error"], Value::Null, "{typed}");
    let oids: Vec<u64> = typed["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["oid"].as_u64().unwrap())
        .collect();
    // int8, float8, bool, text, numeric, timestamptz.
    assert_eq!(oids, [20, 701, 16, 25, 1700, 1184], "{typed}");
    assert_eq!(
        typed["rows"],
        json!([[42, 2.5, true, "EDGE", 1.5, "2026-12-01T11:00:00.123456Z"]])
    );
    assert_eq!(
        answers[1]["rows"],
        json!([["loopback-2", "127.0.0.2"]]),
        "{}",
        answers[1]
    );
    let n = answers[2]["rows"][0][0].as_i64().unwrap();
    assert!(n >= 1, "{}", answers[2]);
    assert_eq!(answers[3]["error"]["code"], "42703", "{}", answers[3]);
    assert_eq!(
        answers[4]["rows"],
        json!([[42]]),
        "the connection goes on after an error"
    );
}

#[test]
fn psycopg_binds_parameters_in_text_and_binary_and_a_cancel_stops_the_query() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("sotp.toml");
    // A query limit far beyond the test: a cancellation can only be the client's.
    std::fs::write(&cfg, "[query]\ntimeout = \"10m\"\n").unwrap();
    let server = Server::start(&cfg, &dir.path().join("data"), free_port());
    let script = r#"
import datetime, json, sys, threading, time, psycopg
port, user, password = sys.argv[1], sys.argv[2], sys.argv[3]
out = {}
with psycopg.connect(host="127.0.0.1", port=port, user=user, password=password,
                     dbname="sotp", sslmode="disable", autocommit=True) as conn:
    sql = "SELECT %s::bigint + 1 AS n, %s AS s, %s::double precision * 2 AS f, %s::timestamptz AS t"
    at = datetime.datetime(2026, 12, 1, 10, 0, 0, 123456, tzinfo=datetime.timezone.utc)
    for binary in (False, True):
        cur = conn.cursor(binary=binary)
        cur.execute(sql, (41, "it's", 1.25, at))
        n, s, f, t = cur.fetchone()
        out["binary" if binary else "text"] = [n, s, f, t.isoformat()]
    # A prepared statement run again with other values.
    cur = conn.cursor()
    out["prepared"] = [cur.execute("SELECT %s::bigint * 3", (v,), prepare=True).fetchone()[0] for v in (1, 2, 3)]
    try:
        cur.execute("SELECT %s::bigint", ("ten",))
    except psycopg.Error as e:
        out["bad_param"] = [e.sqlstate, str(e)]
    # Cancel a query that would run for minutes, from another thread.
    def cancel():
        time.sleep(1)
        conn.cancel()
    threading.Thread(target=cancel).start()
    started = time.monotonic()
    try:
        cur.execute("SELECT count(*) FROM range(1000000000000) WHERE value %% 7 = %s", (3,))
        out["cancel"] = ["not cancelled", cur.fetchone()[0]]
    except psycopg.Error as e:
        out["cancel"] = [e.sqlstate, str(e)]
    out["after_cancel"] = conn.execute("SELECT 1 + 1").fetchone()[0]
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
    let expected = json!([42, "it's", 2.5, "2026-12-01T10:00:00.123456+00:00"]);
    assert_eq!(v["text"], expected, "{v}");
    assert_eq!(v["binary"], expected, "{v}");
    assert_eq!(v["prepared"], json!([3, 6, 9]), "{v}");
    assert_eq!(v["bad_param"][0], "22P02", "{v}");
    assert!(v["bad_param"][1].as_str().unwrap().contains("ten"), "{v}");
    assert_eq!(v["cancel"][0], "57014", "{v}");
    assert_eq!(v["after_cancel"], 2, "{v}");
}
