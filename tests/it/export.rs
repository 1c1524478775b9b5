//! Exports (`POST /api/v1/export`, `sotp export`): every format read back by DuckDB and
//! pyarrow with the rows SQL returns, limits that cut an export short leave no file, and
//! a 50-million-row Parquet export streams with the server's peak memory measured.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use crate::attacks::create_user;
use crate::common::{BIN, Server, free_port, peak_rss, python};
use crate::pgwire::{start, wait_for_samples};

/// `sotp export` against `server` as `token`; its output, whatever the exit status.
fn export(server: &Server, token: &str, format: &str, out: &Path, sql: &str) -> Output {
    Command::new(BIN)
        .args([
            "export",
            "--server",
            &server.url,
            "--format",
            format,
            "--out",
        ])
        .arg(out)
        .arg(sql)
        .env("SOTP_TOKEN", token)
        .output()
        .expect("run sotp export")
}

fn assert_ok(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "sotp export failed: {stderr}");
    stderr
}

/// What DuckDB and pyarrow read from one exported file (scripts/check_export.py).
fn outside(file: &Path, format: &str, time: &str, value: &str) -> Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/check_export.py");
    let out = Command::new(python())
        .arg(script)
        .arg(file)
        .args([format, time, value])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "check_export.py {format}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn every_export_format_holds_the_rows_sql_returns_as_duckdb_and_pyarrow_read_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start(dir.path());
    wait_for_samples(&server);
    // Stopped and started again without devices: the data no longer changes.
    server.stop();
    let cfg = dir.path().join("still.toml");
    std::fs::write(&cfg, "[query]\nexport_max_rows = 100000\n").unwrap();
    let server = Server::start(&cfg, &dir.path().join("data"), free_port());
    let sql = "SELECT time, device_id, device, metric, instance, value, counter \
               FROM metrics WHERE metric LIKE 'icmp.%' AND value IS NOT NULL";
    let expected = server.rows(&format!(
        "SELECT count(*), sum(value), count(DISTINCT device) FROM ({sql})"
    ));
    let (rows, sum) = (
        expected[0][0].as_u64().unwrap(),
        expected[0][1].as_f64().unwrap(),
    );
    assert!(rows >= 4, "{expected:?}");
    assert_eq!(expected[0][2], 2);
    for format in ["parquet", "arrow", "csv", "ndjson"] {
        let file = dir.path().join(format!("out.{format}"));
        let said = assert_ok(&export(&server, &server.token, format, &file, sql));
        assert!(said.contains("exported"), "{said}");
        let seen = outside(&file, format, "time", "value");
        for reader in ["duckdb", "pyarrow"] {
            let r = &seen[reader];
            assert_eq!(r["rows"].as_u64(), Some(rows), "{format} {reader}: {seen}");
            let got = r["sum"].as_f64().unwrap();
            assert!(
                (got - sum).abs() <= sum.abs() * 1e-9,
                "{format} {reader}: {got} vs {sum}"
            );
            assert_eq!(r["devices"], 2, "{format} {reader}: {seen}");
            let t = r["time_type"].as_str().unwrap().to_ascii_lowercase();
            assert!(t.contains("timestamp"), "{format} {reader}: time is {t}");
        }
    }
    // The Parquet file keeps the UTC time zone for both readers.
    let seen = outside(&dir.path().join("out.parquet"), "parquet", "time", "value");
    let duck = seen["duckdb"]["time_type"].as_str().unwrap();
    assert!(
        ["TIMESTAMPTZ_NS", "TIMESTAMP WITH TIME ZONE"].contains(&duck),
        "{duck}"
    );
    assert_eq!(seen["pyarrow"]["time_type"], "timestamp[ns, tz=UTC]");

    // Without a server: the same rows from the Parquet files.
    let local = dir.path().join("local.parquet");
    let out = Command::new(BIN)
        .args(["export", "--format", "parquet", "--out"])
        .arg(&local)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg(sql)
        .output()
        .unwrap();
    let said = assert_ok(&out);
    assert!(said.contains(&format!("exported {rows} rows")), "{said}");
    assert_eq!(
        outside(&local, "parquet", "time", "value")["duckdb"]["rows"].as_u64(),
        Some(rows)
    );

    // A readonly user cannot export the audit log; nothing is left behind.
    create_user(&server, "reader", "reader-password", "readonly");
    let reader = server.login("reader", "reader-password");
    let denied = dir.path().join("audit.csv");
    let out = export(&server, &reader, "csv", &denied, "SELECT * FROM audit");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("403") && stderr.contains("audit"),
        "{stderr}"
    );
    assert!(!denied.exists() && !dir.path().join("audit.csv.partial").exists());

    // Past [query] export_max_rows after the first batch: the transfer is cut short, the
    // command says so, and neither the file nor its partial remains.
    let cut = dir.path().join("cut.parquet");
    let out = export(
        &server,
        &server.token,
        "parquet",
        &cut,
        "SELECT value FROM range(1000000)",
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("ended the export"),
        "{stderr}"
    );
    assert!(!cut.exists() && !dir.path().join("cut.parquet.partial").exists());
    let log = server.log_text();
    assert!(
        log.contains("export ended early") && log.contains("100000 rows"),
        "the server names the limit"
    );
    // An existing file is not replaced without --force.
    let out = export(
        &server,
        &server.token,
        "csv",
        &dir.path().join("out.csv"),
        "SELECT 1",
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("--force"));
}

#[test]
fn fifty_million_row_parquet_export_streams_with_the_servers_peak_memory_measured() {
    const ROWS: u64 = 50_000_000;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("sotp.toml");
    std::fs::write(&cfg, "").unwrap();
    let server = Server::start(&cfg, &dir.path().join("data"), free_port());
    let before = peak_rss(&server);
    let file = dir.path().join("big.parquet");
    // 24 bytes a row in memory: 1.1 GiB if the result were held whole.
    let sql = format!(
        "SELECT to_timestamp_seconds(1796083200 + value) AS time, value AS n, \
         CAST(value AS DOUBLE) * 0.5 AS value FROM range({ROWS})"
    );
    let said = assert_ok(&export(&server, &server.token, "parquet", &file, &sql));
    let grown = peak_rss(&server).saturating_sub(before);
    let size = std::fs::metadata(&file).unwrap().len();
    eprintln!(
        "50 M-row Parquet export: file {} MiB, server peak memory +{} MiB; {said}",
        size >> 20,
        grown >> 20
    );
    assert!(said.contains(&format!("exported {ROWS} rows")), "{said}");
    assert!(
        grown < 256 << 20,
        "the server's peak memory grew by {} MiB exporting {ROWS} rows",
        grown >> 20
    );
    let seen = outside(&file, "parquet", "time", "n");
    let sum = (ROWS * (ROWS - 1) / 2) as f64;
    for reader in ["duckdb", "pyarrow"] {
        assert_eq!(
            seen[reader]["rows"].as_u64(),
            Some(ROWS),
            "{reader}: {seen}"
        );
        assert_eq!(seen[reader]["sum"].as_f64(), Some(sum), "{reader}: {seen}");
    }
}
