//! `sotp report` against a running server and against its data directory, on a scenario
//! whose answers the test made: a device firewalled away (nftables) for a measured time,
//! then the whole server stopped for a while (a collector gap for every device). The PDF
//! is read back with `pdftotext` and its first page drawn with `pdftoppm`, kept as an
//! artifact under the target directory.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::common::{BIN, Blackhole, Server, free_port, wait_explained, wait_for};

/// The ICMP interval of the scenario, seconds.
const INTERVAL: i64 = 2;

const CONFIG: &str = r#"
[icmp]
interval = "2s"
count = 1
timeout = "300ms"

[storage]
max_file_age = "2s"
batch_latency = "200ms"

[[devices]]
id = "rep-1"
name = "report-one"
address = "127.9.3.1"
tags = ["lab"]

[[devices]]
id = "rep-2"
name = "report-two"
address = "127.9.3.2"
tags = ["lab"]

[[devices]]
id = "rep-3"
name = "report-three"
address = "127.9.3.3"
"#;

const DEVICES: [&str; 3] = ["rep-1", "rep-2", "rep-3"];

/// Every `icmp.up` sample of `device`: (nanoseconds, up).
fn polls(server: &Server, device: &str) -> Vec<(i64, bool)> {
    server
        .rows(&format!(
            "SELECT CAST(time AS BIGINT) AS t, value FROM metrics \
             WHERE metric = 'icmp.up' AND device_id = '{device}' ORDER BY t"
        ))
        .iter()
        .map(|r| (r[0].as_i64().unwrap(), r[1].as_f64().unwrap() > 0.0))
        .collect()
}

fn rfc3339(ns: i64) -> String {
    DateTime::<Utc>::from_timestamp_nanos(ns).to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// Runs `sotp report`; panics with its output when it fails.
fn report(args: &[&str], out: &Path) {
    let res = Command::new(BIN)
        .arg("report")
        .args(args)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    assert!(
        res.status.success(),
        "sotp report {args:?}: {}",
        String::from_utf8_lossy(&res.stderr)
    );
}

/// The availability CSV as (device_id -> the named column's text).
fn csv_column(csv: &str, column: &str) -> Vec<(String, String)> {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let (id, col) = (
        header.iter().position(|h| *h == "device_id").unwrap(),
        header
            .iter()
            .position(|h| *h == column)
            .unwrap_or_else(|| panic!("no column {column} in {header:?}")),
    );
    lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[id].to_string(), f[col].to_string())
        })
        .collect()
}

fn seconds(csv: &str, column: &str, device: &str) -> i64 {
    csv_column(csv, column)
        .into_iter()
        .find(|(d, _)| d == device)
        .unwrap_or_else(|| panic!("no row for {device}:\n{csv}"))
        .1
        .parse()
        .unwrap()
}

#[test]
fn availability_report_counts_firewalled_time_and_a_collector_gap() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("sotp.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let data = dir.path().join("data");
    let mut server = Server::start(&config, &data, free_port());
    wait_for("a first answered poll of every device", 30, || {
        DEVICES
            .iter()
            .all(|d| polls(&server, d).iter().any(|p| p.1))
            .then_some(())
    });

    // The firewalled time, as done: from before the rule is in until after it is gone.
    let blocked_from = Utc::now();
    let filter = Blackhole::new("127.9.3.2");
    wait_for("four unanswered polls of rep-2", 30, || {
        let since = blocked_from.timestamp_nanos_opt().unwrap();
        (polls(&server, "rep-2")
            .iter()
            .filter(|p| p.0 > since && !p.1)
            .count()
            >= 4)
            .then_some(())
    });
    drop(filter);
    let blocked = (Utc::now() - blocked_from).num_milliseconds() as f64 / 1000.0;
    let unblocked = Utc::now().timestamp_nanos_opt().unwrap();
    wait_for("rep-2 answering again", 30, || {
        polls(&server, "rep-2")
            .iter()
            .any(|p| p.0 > unblocked && p.1)
            .then_some(())
    });

    // A collector gap: the server stopped for a while, then started again.
    let before_stop: Vec<i64> = DEVICES
        .iter()
        .map(|d| polls(&server, d).last().unwrap().0)
        .collect();
    assert_eq!(server.stop(), 0);
    let stopped = Instant::now();
    while stopped.elapsed() < Duration::from_secs(7) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut server = Server::start(&config, &data, free_port());
    let after_start: Vec<i64> = wait_for("polls after the restart", 30, || {
        DEVICES
            .iter()
            .zip(&before_stop)
            .map(|(d, last)| {
                let p = polls(&server, d);
                // Two polls after the gap, so the period can end after the first.
                let after: Vec<i64> = p.iter().filter(|p| p.0 > *last).map(|p| p.0).collect();
                (after.len() >= 2).then(|| after[0])
            })
            .collect::<Option<Vec<i64>>>()
    });

    // The period: slots centred on rep-2's polls (the scheduler spreads devices over the
    // interval), from its first poll to just after the last device's first poll after
    // the gap.
    let interval_ns = INTERVAL * 1_000_000_000;
    let first = polls(&server, "rep-2")[0].0;
    let from = first - interval_ns / 2;
    let end = *after_start.iter().max().unwrap();
    let to = from + ((end - from) / interval_ns + 1) * interval_ns;
    let (from, to) = (rfc3339(from), rfc3339(to));
    let common = [
        "--type",
        "availability",
        "--from",
        &from,
        "--to",
        &to,
        "--interval",
        "2s",
    ];

    let out = dir.path().join("server.csv");
    let token = server.token.clone();
    let mut args = common.to_vec();
    args.extend([
        "--format",
        "csv",
        "--server",
        &server.url,
        "--token",
        &token,
    ]);
    report(&args, &out);
    let csv = std::fs::read_to_string(&out).unwrap();
    eprintln!("firewalled {blocked:.1} s; the report:\n{csv}");
    let header = csv.lines().next().unwrap();
    for col in [
        "device",
        "uptime_ratio",
        "downtime_seconds",
        "unknown_seconds",
        "sla_met",
    ] {
        assert!(header.split(',').any(|h| h == col), "{col} in {header}");
    }

    // rep-2's downtime is the firewalled time, within one poll interval.
    let down = seconds(&csv, "downtime_seconds", "rep-2");
    assert!(
        (down as f64 - blocked).abs() <= INTERVAL as f64,
        "rep-2 down {down} s in the report, firewalled {blocked:.1} s:\n{csv}"
    );
    for d in ["rep-1", "rep-3"] {
        assert_eq!(seconds(&csv, "downtime_seconds", d), 0, "{d}:\n{csv}");
    }
    let sla: Vec<_> = csv_column(&csv, "sla_met");
    assert!(sla.contains(&("rep-2".into(), "false".into())), "{csv}");
    // Every device's unknown time is the collector gap (from its last poll before the
    // stop to its first after, less the one interval a poll covers): within one interval
    // for rep-2, whose polls sit mid-slot; the others' polls sit a third of an interval
    // from the slot edges (the scheduler spreads devices), so a late poll may land in the
    // next slot and leave one more unknown: within two.
    for (i, d) in DEVICES.iter().enumerate() {
        let gap = (after_start[i] - before_stop[i]) as f64 / 1e9 - INTERVAL as f64;
        let unknown = seconds(&csv, "unknown_seconds", d);
        let tolerance = if *d == "rep-2" {
            INTERVAL
        } else {
            2 * INTERVAL
        };
        assert!(
            (unknown as f64 - gap).abs() <= tolerance as f64,
            "{d}: unknown {unknown} s in the report, gap {gap:.1} s:\n{csv}"
        );
        assert!(gap >= 5.0, "the stop made a gap: {gap:.1} s");
    }

    // The same report made by the server in the background (`/api/v1/reports`), by a
    // readonly user: the same CSV; the generation and the download are audited.
    let (status, _) = server.api(
        "POST",
        "/api/v1/users",
        Some(&serde_json::json!({"username": "viewer", "password": "viewer-password-1", "role": "readonly", "must_change_password": false})),
    );
    assert_eq!(status, 201);
    let viewer = server.login("viewer", "viewer-password-1");
    let request = serde_json::json!({
        "type": "availability", "from": from, "to": to, "format": "csv", "interval_seconds": INTERVAL
    });
    let (status, started) =
        server.api_as(&viewer, "POST", "/api/v1/reports/generate", Some(&request));
    assert_eq!(status, 202, "{started}");
    let id = started["id"].as_str().unwrap().to_string();
    let done = wait_for("the server's report", 30, || {
        let (status, job) = server.api_as(&viewer, "GET", &format!("/api/v1/reports/{id}"), None);
        assert_eq!(status, 200, "{job}");
        assert_ne!(job["status"], "failed", "{job}");
        (job["status"] == "done").then_some(job)
    });
    assert_eq!(done["sections_done"], done["sections_total"], "{done}");
    let (status, body) = crate::common::http_auth(
        "GET",
        &format!("{}/api/v1/reports/{id}/download", server.url),
        None,
        &viewer,
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body, csv,
        "the server's report and `sotp report --server` differ"
    );
    let (_, list) = server.api_as(&viewer, "GET", "/api/v1/reports", None);
    assert_eq!(list[0]["id"], id.as_str(), "{list}");
    let audit = server.rows("SELECT action FROM audit WHERE action LIKE 'report.%' ORDER BY id");
    assert_eq!(
        audit,
        vec![
            vec![serde_json::json!("report.generate")],
            vec![serde_json::json!("report.download")]
        ]
    );
    let (status, _) =
        crate::common::http("GET", &format!("{}/api/v1/reports", server.url), None).unwrap();
    assert_eq!(status, 401, "reports need a token");

    // The same report from the data directory once the server has stopped (everything
    // flushed to Parquet) gives the same answers.
    assert_eq!(server.stop(), 0);
    let local = dir.path().join("local.csv");
    let data_arg = data.to_string_lossy().to_string();
    let mut args = common.to_vec();
    args.extend(["--format", "csv", "--data-dir", &data_arg]);
    report(&args, &local);
    assert_eq!(std::fs::read_to_string(&local).unwrap(), csv);

    // The PDF holds every device and the numbers of the table.
    let pdf = dir.path().join("availability.pdf");
    let mut args = common.to_vec();
    args.extend(["--format", "pdf", "--data-dir", &data_arg]);
    report(&args, &pdf);
    let text = Command::new("pdftotext")
        .args(["-layout"])
        .arg(&pdf)
        .arg("-")
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run pdftotext ({e}): scripts/setup-peers.sh installs poppler-utils")
        });
    assert!(text.status.success());
    let text = String::from_utf8_lossy(&text.stdout);
    for name in ["report-one", "report-two", "report-three"] {
        assert!(text.contains(name), "{name} missing from the PDF:\n{text}");
    }
    for d in DEVICES {
        for col in ["downtime_seconds", "unknown_seconds"] {
            let n = seconds(&csv, col, d).to_string();
            let line = text.lines().find(|l| l.contains(d)).unwrap();
            assert!(
                line.split_whitespace().any(|w| w == n),
                "{d} {col} {n} not on its line: {line}"
            );
        }
    }
    let artifacts = Path::new(env!("CARGO_TARGET_TMPDIR")).join("reports");
    std::fs::create_dir_all(&artifacts).unwrap();
    let prefix = artifacts.join("availability");
    let drawn = Command::new("pdftoppm")
        .args(["-png", "-r", "80", "-f", "1", "-l", "1"])
        .arg(&pdf)
        .arg(&prefix)
        .status()
        .unwrap();
    assert!(drawn.success());
    let png = artifacts.join("availability-1.png");
    assert!(
        std::fs::metadata(&png).unwrap().len() > 1000,
        "{}",
        png.display()
    );
    eprintln!("first page drawn: {}", png.display());
}

/// The PDF attached to `mail` (its raw `data`), taken apart by Python's `email` package.
fn attached_pdf(mail: &serde_json::Value, dir: &Path) -> Vec<u8> {
    let (raw, pdf) = (dir.join("mail.eml"), dir.join("attached.pdf"));
    std::fs::write(&raw, mail["data"].as_str().unwrap()).unwrap();
    let script = "import email, sys\n\
        m = email.message_from_string(open(sys.argv[1]).read())\n\
        parts = [p for p in m.walk() if p.get_content_type() == 'application/pdf']\n\
        assert len(parts) == 1, [p.get_content_type() for p in m.walk()]\n\
        open(sys.argv[2], 'wb').write(parts[0].get_payload(decode=True))\n";
    let ok = Command::new(crate::common::python())
        .args(["-c", script])
        .arg(&raw)
        .arg(&pdf)
        .status()
        .unwrap();
    assert!(
        ok.success(),
        "no single PDF attachment in:\n{}",
        mail["data"]
    );
    std::fs::read(&pdf).unwrap()
}

#[test]
fn a_scheduled_report_arrives_by_email_and_a_run_missed_while_down_is_made_after() {
    use crate::alerting::{Receivers, SMTP_PASSWORD, SMTP_USER};
    let receivers = Receivers::start();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("sotp.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[icmp]
interval = "1s"
count = 1
timeout = "300ms"

[[devices]]
id = "sched-1"
name = "scheduled-one"
address = "127.9.3.9"

[[receivers]]
name = "mail"
kind = "email"
url = "smtp://127.0.0.1:{smtp}"
from = "sotp@example.net"
to = ["managers@example.net"]
username = "{SMTP_USER}"
password = "env:REPORT_SMTP_PASSWORD"
ca_file = "{ca}"

[[report_schedules]]
name = "every-5s"
type = "availability"
every = "*/5 * * * * *"
period = "1h"
format = "pdf"
receiver = "mail"
"#,
            smtp = receivers.smtp_port,
            ca = receivers.ca().display(),
        ),
    )
    .unwrap();
    let data = dir.path().join("data");
    let start = || {
        let mut cmd = Command::new(BIN);
        cmd.env("REPORT_SMTP_PASSWORD", SMTP_PASSWORD);
        Server::start_with(cmd, &config, &data, free_port())
    };
    let mut server = start();
    let mail = wait_explained(
        "a scheduled report by email",
        60,
        || receivers.mails().into_iter().next(),
        || server.log_text(),
    );
    assert_eq!(
        mail["rcpt_tos"],
        serde_json::json!(["managers@example.net"])
    );
    assert_eq!(mail["tls"], true, "sent over STARTTLS");
    assert!(
        mail["data"]
            .as_str()
            .unwrap()
            .contains("SOTP availability report"),
        "{mail}"
    );
    let pdf = attached_pdf(&mail, dir.path());
    assert!(pdf.starts_with(b"%PDF-"));
    let pdf_file = dir.path().join("scheduled.pdf");
    std::fs::write(&pdf_file, &pdf).unwrap();
    let text = Command::new("pdftotext")
        .arg(&pdf_file)
        .arg("-")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("scheduled-one"),
        "the device is in the report:\n{text}"
    );
    let (_, list) = server.api("GET", "/api/v1/reports", None);
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|r| r["created_by"] == "schedule:every-5s" && r["status"] == "done"),
        "{list}"
    );

    // Down across several run times: the runs owed are made when it comes back.
    assert_eq!(server.stop(), 0);
    let stopped = Utc::now();
    let down = Instant::now();
    while down.elapsed() < Duration::from_secs(11) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let restarted = Utc::now();
    let server = start();
    wait_for("the runs owed while down", 60, || {
        let (_, list) = server.api("GET", "/api/v1/reports", None);
        let owed = list
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| {
                let to = DateTime::parse_from_rfc3339(r["to"].as_str().unwrap()).unwrap();
                r["status"] == "done" && to > stopped && to < restarted
            })
            .count();
        (owed >= 2).then_some(())
    });
}
