//! Alerting end to end with real peers: a device that stops answering ping for real (an
//! nftables rule drops its echo replies), the rule firing after `for`, notifications to
//! a webhook and a Slack incoming webhook (HTTP servers in another process) and by email
//! to a real SMTP server (aiosmtpd, STARTTLS and AUTH required); the device answering
//! again and the resolved notifications; retries of a failing receiver; a kill -9
//! between a send and its record; a syslog pattern rule fed by `logger`; and the
//! backtest over stored data agreeing with what the live evaluator did.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::attacks::create_user;
use crate::common::{BIN, Blackhole, Server, free_port, python};

pub(crate) const SMTP_USER: &str = "sotp";
pub(crate) const SMTP_PASSWORD: &str = "mail-secret-42";
const SIGNING_KEY: &str = "hook-key-7";

/// `scripts/alert_receivers.py`: webhook/Slack HTTP server and SMTP server.
pub(crate) struct Receivers {
    child: Child,
    dir: tempfile::TempDir,
    http_port: u16,
    pub(crate) smtp_port: u16,
}

impl Receivers {
    pub(crate) fn start() -> Receivers {
        let dir = tempfile::tempdir().unwrap();
        let (http_port, smtp_port) = (free_port(), free_port());
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/alert_receivers.py");
        let child = Command::new(python())
            .args([script, &dir.path().to_string_lossy(), &http_port.to_string(), &smtp_port.to_string(), SMTP_USER, SMTP_PASSWORD])
            .env("SIGNING_KEY", SIGNING_KEY)
            .stderr(std::fs::File::create(dir.path().join("stderr.txt")).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start scripts/alert_receivers.py ({e}): run scripts/setup-peers.sh (aiosmtpd)"));
        let r = Receivers {
            child,
            dir,
            http_port,
            smtp_port,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !r.dir.path().join("ready").exists() {
            assert!(
                Instant::now() < deadline,
                "alert receivers did not start (is aiosmtpd installed? scripts/setup-peers.sh): {}",
                std::fs::read_to_string(r.dir.path().join("stderr.txt")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        r
    }

    pub(crate) fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    fn lines(&self, file: &str) -> Vec<Value> {
        std::fs::read_to_string(self.dir.path().join(file))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// HTTP requests to `path` answered with 200, bodies parsed.
    fn delivered(&self, path: &str) -> Vec<Value> {
        self.lines("http.jsonl")
            .into_iter()
            .filter(|r| r["path"] == path && r["answered"] == 200)
            .map(|r| {
                let mut body: Value = serde_json::from_str(r["body"].as_str().unwrap()).unwrap();
                body["signature_ok"] = r["signature_ok"].clone();
                body
            })
            .collect()
    }

    pub(crate) fn mails(&self) -> Vec<Value> {
        self.lines("smtp.jsonl")
    }

    fn fault(&self, kind: &str, path: &str, content: &str) -> PathBuf {
        let f = self
            .dir
            .path()
            .join(format!("{kind}{}", path.replace('/', "_")));
        std::fs::write(&f, content).unwrap();
        f
    }

    /// Waits until `done` holds for what arrived (60 s).
    fn wait(&self, what: &str, server: &Server, done: impl Fn(&Receivers) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !done(self) {
            assert!(
                Instant::now() < deadline,
                "{what} did not arrive; http: {:?}\nsmtp: {:?}\nsotp log:\n{}",
                self.lines("http.jsonl"),
                self.mails(),
                server.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Receivers {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

fn statuses(bodies: &[Value]) -> Vec<String> {
    bodies
        .iter()
        .map(|b| b["status"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn config(r: &Receivers, blackholed: &str, good: &str, extra: &str) -> String {
    format!(
        r#"
[icmp]
interval = "1s"
count = 1
timeout = "300ms"

[storage]
batch_latency = "200ms"

[alerting]
allowed_lateness = "2s"

[notify]
backoff_initial = "200ms"
backoff_max = "1s"
poll_interval = "100ms"
external_url = "http://sotp.test"

[[devices]]
id = "bh"
name = "blackhole"
address = "{blackholed}"

[[devices]]
id = "ok"
name = "fine"
address = "{good}"

[[receivers]]
name = "hook"
kind = "webhook"
url = "http://127.0.0.1:{http}/hook"
secret = "env:ALERT_HOOK_KEY"

[[receivers]]
name = "chat"
kind = "slack"
url = "http://127.0.0.1:{http}/slack"

[[receivers]]
name = "mail"
kind = "email"
url = "smtp://127.0.0.1:{smtp}"
from = "sotp@example.net"
to = ["noc@example.net"]
username = "{SMTP_USER}"
password = "env:ALERT_SMTP_PASSWORD"
ca_file = "{ca}"

[[alert_rules]]
name = "device down"
availability = "icmp.up"
every = "2s"
for = "4s"
severity = "critical"
receivers = ["hook", "chat", "mail"]
annotations = {{ summary = "{{{{ $labels.device }}}} does not answer ping" }}
{extra}
"#,
        http = r.http_port,
        smtp = r.smtp_port,
        ca = r.ca().display(),
    )
}

fn start(dir: &Path, toml: &str) -> Server {
    let config = dir.join("sotp.toml");
    std::fs::write(&config, toml).unwrap();
    let mut cmd = Command::new(BIN);
    cmd.env("ALERT_HOOK_KEY", SIGNING_KEY)
        .env("ALERT_SMTP_PASSWORD", SMTP_PASSWORD);
    Server::start_with(cmd, &config, &dir.join("data"), free_port())
}

/// Waits for a condition on the API (60 s).
fn wait_api(server: &Server, what: &str, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, v) = server.api("GET", path, None);
        if status == 200 && done(&v) {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: {status} {v}\n{}",
            server.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_device_down_fires_after_for_and_its_resolve_reaches_webhook_slack_and_email() {
    let r = Receivers::start();
    // The webhook answers 503 twice: delivered once, on the third attempt.
    r.fault("fail", "/hook", "2");
    let dir = tempfile::tempdir().unwrap();
    let filter = Blackhole::new("127.9.4.1");
    let server = start(dir.path(), &config(&r, "127.9.4.1", "127.9.4.2", ""));

    r.wait("the firing notifications", &server, |r| {
        r.delivered("/hook").len() == 1 && r.delivered("/slack").len() == 1 && r.mails().len() == 1
    });
    let hook = &r.delivered("/hook")[0];
    assert_eq!(hook["signature_ok"], true, "{hook}");
    assert_eq!(hook["version"], "4");
    assert_eq!(hook["status"], "firing");
    assert_eq!(hook["receiver"], "hook");
    let alert = &hook["alerts"][0];
    assert_eq!(hook["alerts"].as_array().unwrap().len(), 1, "{hook}");
    assert_eq!(alert["status"], "firing");
    assert_eq!(alert["labels"]["alertname"], "device down");
    assert_eq!(alert["labels"]["device"], "blackhole");
    assert_eq!(alert["labels"]["device_id"], "bh");
    assert_eq!(
        alert["annotations"]["summary"],
        "blackhole does not answer ping"
    );
    assert_eq!(alert["endsAt"], "0001-01-01T00:00:00Z");
    assert!(
        alert["fingerprint"].as_str().unwrap().len() == 16,
        "{alert}"
    );
    let slack = &r.delivered("/slack")[0];
    assert!(
        slack["text"]
            .as_str()
            .unwrap()
            .starts_with("[FIRING:1] device down"),
        "{slack}"
    );
    let mail = &r.mails()[0];
    assert_eq!(mail["tls"], true, "STARTTLS before anything else: {mail}");
    assert_eq!(mail["auth_user"], SMTP_USER);
    assert_eq!(mail["rcpt_tos"], json!(["noc@example.net"]));
    assert!(
        mail["data"]
            .as_str()
            .unwrap()
            .contains("Subject: [FIRING:1] device down"),
        "{mail}"
    );

    // The API: the firing alert, and its notifications with every attempt.
    let page = wait_api(
        &server,
        "firing alert",
        "/api/v1/alerts?state=firing",
        |v| v["total"] == 1,
    );
    let item = &page["items"][0];
    for key in ["id", "rule", "state", "labels", "value", "started_at"] {
        assert!(item.get(key).is_some(), "{key} missing in {item}");
    }
    assert_eq!(item["rule"], "device down");
    assert_eq!(item["state"], "firing");
    assert_eq!(item["value"], 0.0);
    assert_eq!(item["labels"]["device"], "blackhole");
    let id = item["id"].as_str().unwrap().to_string();
    let (status, detail) = server.api("GET", &format!("/api/v1/alerts/{id}"), None);
    assert_eq!(status, 200, "{detail}");
    let hook_n = detail["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["receiver"] == "hook")
        .unwrap();
    let oks: Vec<bool> = hook_n["attempts_log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["ok"].as_bool().unwrap())
        .collect();
    assert_eq!(oks, vec![false, false, true], "{hook_n}");
    assert_eq!(hook_n["state"], "sent");

    // The device answers again: resolved, once, everywhere.
    drop(filter);
    r.wait("the resolved notifications", &server, |r| {
        statuses(&r.delivered("/hook")) == ["firing", "resolved"]
            && r.delivered("/slack").len() == 2
            && r.mails().len() == 2
    });
    let resolved = &r.delivered("/hook")[1];
    assert_eq!(resolved["alerts"][0]["status"], "resolved");
    assert_ne!(resolved["alerts"][0]["endsAt"], "0001-01-01T00:00:00Z");
    assert_eq!(resolved["alerts"][0]["fingerprint"], alert["fingerprint"]);
    assert!(
        r.mails()[1]["data"]
            .as_str()
            .unwrap()
            .contains("Subject: [RESOLVED] device down")
    );
    let page = wait_api(
        &server,
        "resolved alert",
        "/api/v1/alerts?state=resolved",
        |v| v["total"] == 1,
    );
    assert_eq!(page["items"][0]["id"], id.as_str());
    // The good device never fired.
    let (_, all) = server.api("GET", "/api/v1/alerts", None);
    assert_eq!(all["total"], 1, "{all}");

    // The `alerts` table holds both transitions.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let rows = server.rows("SELECT state, count(*) FROM alerts GROUP BY state ORDER BY state");
        if rows
            == vec![
                vec![json!("firing"), json!(1)],
                vec![json!("resolved"), json!(1)],
            ]
        {
            break;
        }
        assert!(Instant::now() < deadline, "{rows:?}");
        std::thread::sleep(Duration::from_millis(200));
    }

    // The backtest over the stored samples finds the same transitions at the same times.
    let live = server.rows("SELECT state, CAST(time AS BIGINT) AS t FROM alerts ORDER BY t");
    let from = chrono::Utc::now() - chrono::Duration::minutes(10);
    let rule = json!({
        "name": "device down", "availability": "icmp.up", "every": "2s", "for": "4s",
    });
    let (tested, live, bt) = backtest_and_live(&server, &rule, from, &live);
    assert_eq!(tested, live, "backtest {bt}");
    // A bad rule is refused with the reason.
    let (status, bad) = server.api(
        "POST",
        "/api/v1/alert-rules/test",
        Some(&json!({ "rule": { "name": "x", "sql": "SELECT nope FROM metrics" }, "from": from.to_rfc3339(), "to": chrono::Utc::now().to_rfc3339() })),
    );
    assert_eq!(status, 422, "{bad}");
    assert!(
        bad["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("nope")
            || bad.to_string().contains("nope"),
        "{bad}"
    );
}

fn notification_states(server: &Server, id: &str) -> Vec<(String, String)> {
    let (_, v) = server.api("GET", &format!("/api/v1/alerts/{id}"), None);
    v["notifications"]
        .as_array()
        .map(|ns| {
            ns.iter()
                .map(|n| {
                    (
                        n["receiver"].as_str().unwrap_or_default().to_string(),
                        n["state"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_kill_between_a_send_and_its_record_loses_nothing_and_repeats_no_delivered_receiver() {
    let r = Receivers::start();
    // The webhook takes the request and does not answer: its send is in flight.
    let hang = r.fault("hang", "/hook", "");
    let dir = tempfile::tempdir().unwrap();
    let filter = Blackhole::new("127.9.5.1");
    let toml = config(&r, "127.9.5.1", "127.9.5.2", "");
    let mut server = start(dir.path(), &toml);
    let page = wait_api(
        &server,
        "firing alert",
        "/api/v1/alerts?state=firing",
        |v| v["total"] == 1,
    );
    let id = page["items"][0]["id"].as_str().unwrap().to_string();
    // Slack and email delivered and recorded, the webhook's request held, unrecorded.
    r.wait("slack, email, and the held webhook request", &server, |r| {
        r.delivered("/slack").len() == 1
            && r.mails().len() == 1
            && r.lines("http.jsonl")
                .iter()
                .any(|l| l["path"] == "/hook" && l["answered"] == "held")
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let states = notification_states(&server, &id);
        let state = |who: &str| {
            states
                .iter()
                .find(|(r, _)| r == who)
                .map(|(_, s)| s.clone())
        };
        if state("chat").as_deref() == Some("sent") && state("mail").as_deref() == Some("sent") {
            assert_eq!(state("hook").as_deref(), Some("pending"), "{states:?}");
            break;
        }
        assert!(Instant::now() < deadline, "{states:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    // kill -9 while the webhook's send is in flight.
    let mut child = server.child.take().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    std::fs::remove_file(&hang).unwrap();

    let server = start(dir.path(), &toml);
    r.wait("the webhook's firing after the restart", &server, |r| {
        r.delivered("/hook").len() == 1
    });
    assert_eq!(
        r.delivered("/hook")[0]["alerts"][0]["labels"]["device"],
        "blackhole"
    );
    // The device answers: every receiver gets the resolve, and nothing twice.
    drop(filter);
    r.wait("the resolved notifications", &server, |r| {
        statuses(&r.delivered("/hook")) == ["firing", "resolved"]
            && r.delivered("/slack").len() == 2
            && r.mails().len() == 2
    });
    assert_eq!(statuses(&r.delivered("/slack")).len(), 2);
    let slack: Vec<String> = r
        .delivered("/slack")
        .iter()
        .map(|b| {
            b["text"]
                .as_str()
                .unwrap()
                .lines()
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(slack, ["[FIRING:1] device down", "[RESOLVED] device down"]);
    let (_, all) = server.api("GET", "/api/v1/alerts", None);
    assert_eq!(all["total"], 1, "one alert across the restart: {all}");
    assert_eq!(all["items"][0]["id"], id.as_str());
}

#[test]
fn a_syslog_pattern_rule_fires_on_lines_sent_with_logger() {
    let r = Receivers::start();
    let dir = tempfile::tempdir().unwrap();
    let syslog_port = free_port();
    let toml = format!(
        r#"
[icmp]
interval = "1s"
count = 1
timeout = "300ms"

[storage]
batch_latency = "200ms"

[alerting]
allowed_lateness = "1s"

[notify]
poll_interval = "100ms"

[[devices]]
id = "edge-1"
name = "edge-1"
address = "127.0.0.1"

[[receivers]]
name = "hook"
kind = "webhook"
url = "http://127.0.0.1:{http}/hook"

[[alert_rules]]
name = "link flaps"
log_pattern = {{ regex = "LINK-3-UPDOWN", count = 2 }}
every = "2s"
receivers = ["hook"]
annotations = {{ summary = "{{{{ $value }}}} link changes on {{{{ $labels.device_id }}}}" }}
"#,
        http = r.http_port
    );
    let config = dir.path().join("sotp.toml");
    std::fs::write(&config, toml).unwrap();
    let mut cmd = Command::new(BIN);
    cmd.env("SOTP__SYSLOG__TCP", format!("127.0.0.1:{syslog_port}"));
    let server = Server::start_with(cmd, &config, &dir.path().join("data"), free_port());
    // Four lines in one burst (a window holds at least two of them); one other line.
    let lines = "%LINK-3-UPDOWN: Interface Gi0/1, changed state to down\n\
                 %LINK-3-UPDOWN: Interface Gi0/1, changed state to up\n\
                 %SYS-5-CONFIG_I: Configured from console\n\
                 %LINK-3-UPDOWN: Interface Gi0/1, changed state to down\n\
                 %LINK-3-UPDOWN: Interface Gi0/1, changed state to up\n";
    let input = dir.path().join("lines.txt");
    std::fs::write(&input, lines).unwrap();
    let out = Command::new("logger")
        .args([
            "-T",
            "-n",
            "127.0.0.1",
            "-P",
            &syslog_port.to_string(),
            "--rfc5424",
            "-t",
            "router",
            "-f",
        ])
        .arg(&input)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run `logger` ({e}): install util-linux (`apt-get install bsdutils`)")
        });
    assert!(
        out.status.success(),
        "logger: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    r.wait("the link flaps alert", &server, |r| {
        r.delivered("/hook").iter().any(|b| b["status"] == "firing")
    });
    let hook = &r.delivered("/hook")[0];
    let alert = &hook["alerts"][0];
    assert_eq!(alert["labels"]["alertname"], "link flaps");
    assert_eq!(alert["labels"]["device_id"], "edge-1", "{hook}");
    let summary = alert["annotations"]["summary"].as_str().unwrap();
    assert!(
        summary == "2 link changes on edge-1"
            || summary == "3 link changes on edge-1"
            || summary == "4 link changes on edge-1",
        "{summary}"
    );
    // The backtest reads the stored log lines and finds the same transitions.
    let deadline = Instant::now() + Duration::from_secs(60);
    let live = loop {
        let rows = server.rows(
            "SELECT state, CAST(time AS BIGINT) AS t FROM alerts WHERE rule = 'link flaps' ORDER BY t",
        );
        if rows.len() == 2 {
            break rows;
        }
        assert!(
            Instant::now() < deadline,
            "the fire and resolve of link flaps: {rows:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    // The backtest reads what is stored: wait until the samples that closed the resolve's
    // window live (its end plus the allowed lateness) are stored too.
    let resolved_at = live[1][1].as_i64().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while server.rows("SELECT CAST(max(time) AS BIGINT) FROM metrics")[0][0]
        .as_i64()
        .unwrap_or(0)
        <= resolved_at + 1_000_000_000
    {
        assert!(Instant::now() < deadline, "samples not stored");
        std::thread::sleep(Duration::from_millis(200));
    }
    let rule = json!({
        "name": "link flaps", "log_pattern": { "regex": "LINK-3-UPDOWN", "count": 2 }, "every": "2s",
    });
    let from = chrono::Utc::now() - chrono::Duration::minutes(10);
    let (tested, live, bt) = backtest_and_live(&server, &rule, from, &live);
    assert_eq!(
        tested,
        live,
        "backtest over the stored log lines: {bt}\n{}",
        server.log_text()
    );
}

/// (state, nanoseconds) of each transition.
type Transitions = Vec<(String, i64)>;

/// The transitions `rule` makes when backtested from `from` to now, and the `live` rows
/// (state, time) of the `alerts` table, both as (state, nanoseconds); and the answer.
fn backtest_and_live(
    server: &Server,
    rule: &Value,
    from: chrono::DateTime<chrono::Utc>,
    live: &[Vec<Value>],
) -> (Transitions, Transitions, Value) {
    let (status, bt) = server.api(
        "POST",
        "/api/v1/alert-rules/test",
        Some(&json!({ "rule": rule, "from": from.to_rfc3339(), "to": chrono::Utc::now().to_rfc3339() })),
    );
    assert_eq!(status, 200, "{bt}");
    let tested = bt["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let time = chrono::DateTime::parse_from_rfc3339(t["time"].as_str().unwrap()).unwrap();
            (
                t["state"].as_str().unwrap().to_string(),
                time.timestamp_nanos_opt().unwrap(),
            )
        })
        .collect();
    let live = live
        .iter()
        .map(|r| (r[0].as_str().unwrap().to_string(), r[1].as_i64().unwrap()))
        .collect();
    (tested, live, bt)
}

/// The alerts of `rule` for `device` in the API (id, notifications).
fn alert_of(server: &Server, rule: &str, device: &str) -> Option<Value> {
    let (_, page) = server.api(
        "GET",
        &format!("/api/v1/alerts?rule={}", rule.replace(' ', "%20")),
        None,
    );
    let item = page["items"]
        .as_array()?
        .iter()
        .find(|a| a["labels"]["device"] == device)?
        .clone();
    let (_, detail) = server.api(
        "GET",
        &format!("/api/v1/alerts/{}", item["id"].as_str()?),
        None,
    );
    Some(detail)
}

fn hook_alerts(r: &Receivers, path: &str) -> Vec<(String, String, String)> {
    r.delivered(path)
        .iter()
        .flat_map(|b| {
            b["alerts"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(|a| {
                    (
                        a["labels"]["alertname"]
                            .as_str()
                            .unwrap_or_default()
                            .to_string(),
                        a["labels"]["device"]
                            .as_str()
                            .unwrap_or_default()
                            .to_string(),
                        a["status"].as_str().unwrap_or_default().to_string(),
                    )
                })
        })
        .collect()
}

#[test]
fn silences_inhibition_escalation_and_acknowledgement_expiry_shape_who_is_told() {
    let r = Receivers::start();
    let dir = tempfile::tempdir().unwrap();
    let (_f1, _f2) = (Blackhole::new("127.9.6.1"), Blackhole::new("127.9.6.3"));
    let toml = format!(
        r#"
[icmp]
interval = "1s"
count = 1
timeout = "300ms"

[alerting]
allowed_lateness = "1s"

[notify]
poll_interval = "100ms"

[[devices]]
id = "bh"
name = "blackhole"
address = "127.9.6.1"

[[devices]]
id = "bh2"
name = "in-maintenance"
address = "127.9.6.3"

[[receivers]]
name = "hook"
kind = "webhook"
url = "http://127.0.0.1:{http}/hook"

[[receivers]]
name = "manager"
kind = "webhook"
url = "http://127.0.0.1:{http}/manager"

[[alert_rules]]
name = "device down"
availability = "icmp.up"
every = "2s"
for = "2s"
receivers = ["hook"]
escalate_after = "4s"
escalate_to = ["manager"]

[[alert_rules]]
name = "packet loss"
threshold = {{ metric = "icmp.loss_ratio", op = ">", value = 0.5 }}
every = "2s"
for = "8s"
receivers = ["hook"]

[[inhibit_rules]]
source = "device down"
targets = ["packet loss"]
"#,
        http = r.http_port
    );
    let config = dir.path().join("sotp.toml");
    std::fs::write(&config, toml).unwrap();
    let server = Server::start(&config, &dir.path().join("data"), free_port());
    // A maintenance window for the second device, set before its alert can fire.
    let ends = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let (status, silence) = server.api(
        "POST",
        "/api/v1/silences",
        Some(&json!({ "matchers": { "device": "in-maintenance" }, "ends_at": ends, "comment": "line card swap" })),
    );
    assert_eq!(status, 201, "{silence}");
    let silence_id = silence["id"].as_str().unwrap().to_string();

    // Escalation: unacknowledged 4 s after it fired, the manager is told.
    r.wait("the escalation to the manager", &server, |r| {
        hook_alerts(r, "/manager").contains(&(
            "device down".into(),
            "blackhole".into(),
            "firing".into(),
        ))
    });
    assert!(hook_alerts(&r, "/hook").contains(&(
        "device down".into(),
        "blackhole".into(),
        "firing".into()
    )));
    // The packet loss of a device that is down: an alert, not a notification.
    let deadline = Instant::now() + Duration::from_secs(60);
    let loss = loop {
        if let Some(a) = alert_of(&server, "packet loss", "blackhole")
            && !a["notifications"].as_array().unwrap().is_empty()
        {
            break a;
        }
        assert!(
            Instant::now() < deadline,
            "no packet loss alert\n{}",
            server.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let n = &loss["notifications"][0];
    assert_eq!(n["state"], "suppressed", "{loss}");
    assert!(
        n["suppressed_by"]
            .as_str()
            .unwrap()
            .starts_with("inhibited:"),
        "{n}"
    );
    // The silenced device: its alert is there, its notification suppressed by the silence.
    let silenced =
        alert_of(&server, "device down", "in-maintenance").expect("the silenced device's alert");
    assert_eq!(
        silenced["notifications"][0]["state"], "suppressed",
        "{silenced}"
    );
    assert_eq!(
        silenced["notifications"][0]["suppressed_by"],
        format!("silence:{silence_id}")
    );

    // Acknowledged for 2 s: after that it fires again and the receiver is told again.
    let down = alert_of(&server, "device down", "blackhole").unwrap();
    let id = down["id"].as_str().unwrap().to_string();
    let until = (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339();
    let (status, acked) = server.api(
        "POST",
        &format!("/api/v1/alerts/{id}/acknowledge"),
        Some(&json!({ "comment": "on it", "until": until })),
    );
    assert_eq!(status, 200, "{acked}");
    assert_eq!(acked["state"], "acknowledged");
    assert_eq!(acked["acked_by"], "admin");
    r.wait(
        "the notification after the acknowledgement expired",
        &server,
        |r| {
            hook_alerts(r, "/hook")
                .iter()
                .filter(|a| {
                    **a == (
                        "device down".to_string(),
                        "blackhole".to_string(),
                        "firing".to_string(),
                    )
                })
                .count()
                == 2
        },
    );
    let detail = alert_of(&server, "device down", "blackhole").unwrap();
    assert_eq!(detail["state"], "firing");
    let timeline: Vec<(String, String)> = detail["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["state"].as_str().unwrap().to_string(),
                t["actor"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        timeline,
        [
            ("firing".into(), "rule".into()),
            ("acknowledged".into(), "admin".into()),
            ("unacknowledged".into(), "system".into())
        ],
        "{detail}"
    );
    // Nobody was told about the silenced or the inhibited alert.
    let told = hook_alerts(&r, "/hook");
    assert!(
        !told
            .iter()
            .any(|(rule, dev, _)| rule == "packet loss" || dev == "in-maintenance"),
        "{told:?}"
    );
    // Acknowledging a resolved alert is a conflict; every change is audited.
    let (status, _) = server.api(
        "POST",
        &format!("/api/v1/alerts/{id}/resolve"),
        Some(&json!({ "comment": "fixed" })),
    );
    assert_eq!(status, 200);
    let (status, again) = server.api(
        "POST",
        &format!("/api/v1/alerts/{id}/acknowledge"),
        Some(&json!({})),
    );
    assert_eq!(status, 409, "{again}");
    let (_, audit) = server.api("GET", "/api/v1/audit?resource=alert/", None);
    let actions: BTreeSet<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains("alert.acknowledge") && actions.contains("alert.resolve"),
        "{audit}"
    );
}

/// A server pinging 127.0.0.1 (device `lo`, "loopback") every second, alerting with 1 s
/// of lateness, notifying quickly (`external_url` http://sotp.test) through the webhook
/// receiver `hook`; `rest` adds rules and receivers.
fn loopback_config(r: &Receivers, rest: &str) -> String {
    format!(
        r#"
[icmp]
interval = "1s"
count = 1
timeout = "300ms"

[alerting]
allowed_lateness = "1s"

[notify]
poll_interval = "100ms"
external_url = "http://sotp.test"

[[devices]]
id = "lo"
name = "loopback"
address = "127.0.0.1"

[[receivers]]
name = "hook"
kind = "webhook"
url = "http://127.0.0.1:{http}/hook"
{rest}"#,
        http = r.http_port
    )
}

/// The webhook's (status, alertname) pairs, in arrival order.
fn hook_statuses(r: &Receivers) -> Vec<(String, String)> {
    r.delivered("/hook")
        .iter()
        .flat_map(|b| b["alerts"].as_array().cloned().unwrap_or_default())
        .map(|a| {
            (
                a["status"].as_str().unwrap_or_default().to_string(),
                a["labels"]["alertname"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect()
}

#[test]
fn rules_managed_through_the_api_are_checked_run_changed_and_deleted_live() {
    let r = Receivers::start();
    let dir = tempfile::tempdir().unwrap();
    let toml = loopback_config(
        &r,
        r#"
[[alert_rules]]
name = "device down"
availability = "icmp.up"
every = "2s"
receivers = ["hook"]
"#,
    );
    let server = start(dir.path(), &toml);
    let answers = |op: &str| {
        json!({
            "name": "answers-ping",
            "threshold": { "metric": "icmp.up", "op": op, "value": 0.5 },
            "every": "2s",
            "for": "2s",
            "severity": "info",
            "receivers": ["hook"],
        })
    };

    // Refused with the reason: bad SQL, a missing receiver, a configured rule's name.
    let (status, body) = server.api(
        "POST",
        "/api/v1/alert-rules",
        Some(&json!({"name": "bad", "sql": "SELECT device_id FROM no_such_table"})),
    );
    assert_eq!(status, 422, "{body}");
    assert!(body.to_string().contains("no_such_table"), "{body}");
    let mut lost = answers(">");
    lost["receivers"] = json!(["pager"]);
    let (status, body) = server.api("POST", "/api/v1/alert-rules", Some(&lost));
    assert_eq!(status, 422, "{body}");
    assert!(body.to_string().contains("pager"), "{body}");
    let mut twin = answers(">");
    twin["name"] = json!("device down");
    let (status, body) = server.api("POST", "/api/v1/alert-rules", Some(&twin));
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (409, json!("config_managed")),
        "{body}"
    );
    // A readonly user reads rules but cannot change them.
    create_user(&server, "reader", "reader-password", "readonly");
    let reader = server.login("reader", "reader-password");
    let (status, _) = server.api_as(&reader, "POST", "/api/v1/alert-rules", Some(&answers(">")));
    assert_eq!(status, 403);

    // Created: shown with its SQL beside the configuration's rule, run by the stage.
    let (status, created) = server.api("POST", "/api/v1/alert-rules", Some(&answers(">")));
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["managed_by"], "api");
    assert!(
        created["compiled_sql"]
            .as_str()
            .unwrap()
            .contains("icmp.up"),
        "{created}"
    );
    let (status, again) = server.api("POST", "/api/v1/alert-rules", Some(&answers(">")));
    assert_eq!(status, 409, "{again}");
    let (status, list) = server.api_as(&reader, "GET", "/api/v1/alert-rules", None);
    assert_eq!(status, 200);
    let managed: BTreeSet<(String, String)> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["name"].as_str().unwrap().into(),
                i["managed_by"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        managed,
        BTreeSet::from([
            ("answers-ping".into(), "api".into()),
            ("device down".into(), "config".into())
        ])
    );
    let fired = |r: &Receivers, n: usize| {
        hook_statuses(r)
            .iter()
            .filter(|(s, rule)| s == "firing" && rule == "answers-ping")
            .count()
            >= n
    };
    let resolved = |r: &Receivers, n: usize| {
        hook_statuses(r)
            .iter()
            .filter(|(s, rule)| s == "resolved" && rule == "answers-ping")
            .count()
            >= n
    };
    r.wait("the API rule's firing", &server, |r| fired(r, 1));

    // Replaced by a condition that no longer holds: its alert resolves.
    let (status, body) = server.api(
        "PUT",
        "/api/v1/alert-rules/answers-ping",
        Some(&answers("<")),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["threshold"]["op"], "<");
    r.wait("the resolve after the rule changed", &server, |r| {
        resolved(r, 1)
    });
    // Back again, then deleted: the new alert fires, and the delete resolves it.
    let (status, body) = server.api(
        "PUT",
        "/api/v1/alert-rules/answers-ping",
        Some(&answers(">")),
    );
    assert_eq!(status, 200, "{body}");
    r.wait("the second firing", &server, |r| fired(r, 2));
    let (status, _) = server.api("DELETE", "/api/v1/alert-rules/answers-ping", None);
    assert_eq!(status, 204);
    r.wait("the resolve of the deleted rule", &server, |r| {
        resolved(r, 2)
    });
    let (status, _) = server.api("GET", "/api/v1/alert-rules/answers-ping", None);
    assert_eq!(status, 404);
    let (status, body) = server.api("DELETE", "/api/v1/alert-rules/device%20down", None);
    assert_eq!(status, 409, "{body}");
    let (status, body) = server.api("GET", "/api/v1/alert-rules/device%20down", None);
    assert_eq!(
        (status, body["managed_by"].clone()),
        (200, json!("config")),
        "{body}"
    );
    assert_eq!(
        hook_statuses(&r)
            .iter()
            .filter(|(_, rule)| rule == "answers-ping")
            .count(),
        4,
        "each transition notified once: {:?}",
        hook_statuses(&r)
    );

    let (_, audit) = server.api("GET", "/api/v1/audit?resource=alert_rule/", None);
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for a in [
        "alert_rule.create",
        "alert_rule.update",
        "alert_rule.delete",
    ] {
        assert!(actions.contains(&a), "{a} not audited: {audit}");
    }
}

#[test]
fn a_firing_alert_is_notified_again_every_repeat_interval() {
    let r = Receivers::start();
    let dir = tempfile::tempdir().unwrap();
    let toml = loopback_config(
        &r,
        &format!(
            r#"
[[receivers]]
name = "chat"
kind = "slack"
url = "http://127.0.0.1:{http}/slack"
text = "{{{{ status }}}}: {{{{ firing }}}} firing{{% for a in alerts %}}, {{{{ a.labels.device }}}} at {{{{ a.url }}}}{{% endfor %}}"

[[alert_rules]]
name = "answers ping"
threshold = {{ metric = "icmp.up", op = ">", value = 0.5 }}
every = "2s"
repeat_interval = "2s"
receivers = ["hook", "chat"]
"#,
            http = r.http_port
        ),
    );
    let server = start(dir.path(), &toml);
    r.wait("the first notification and two repeats", &server, |r| {
        hook_statuses(r)
            .iter()
            .filter(|(s, _)| s == "firing")
            .count()
            >= 3
    });
    let alert = alert_of(&server, "answers ping", "loopback").expect("the alert");
    let mut repeats: Vec<i64> = alert["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| {
            n["transition"]
                .as_str()?
                .strip_prefix("repeat@")?
                .parse()
                .ok()
        })
        .collect();
    repeats.sort();
    repeats.dedup(); // one repeat: a row for each receiver
    assert!(repeats.len() >= 2, "{alert}");
    for pair in repeats.windows(2) {
        assert!(
            pair[1] - pair[0] >= 2000,
            "repeats closer than repeat_interval: {repeats:?}"
        );
    }
    // Every repeat is the same alert (one fingerprint), firing.
    let fingerprints: BTreeSet<String> = r
        .delivered("/hook")
        .iter()
        .flat_map(|b| b["alerts"].as_array().cloned().unwrap_or_default())
        .map(|a| a["fingerprint"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(fingerprints.len(), 1, "{fingerprints:?}");
    // The Slack receiver's own template, rendered over each notification's group.
    let id = alert["id"].as_str().unwrap();
    let text = r.delivered("/slack")[0]["text"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        text,
        format!("firing: 1 firing, loopback at http://sotp.test/api/v1/alerts/{id}")
    );
}

#[test]
fn a_flapping_link_is_notified_once_as_flapping_then_once_settled() {
    let r = Receivers::start();
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        r#"
[icmp]
interval = "1s"
count = 1
timeout = "300ms"

[storage]
batch_latency = "200ms"

[alerting]
allowed_lateness = "1s"
flap_changes = 4
flap_window = "30s"

[notify]
poll_interval = "100ms"

[[devices]]
id = "fl"
name = "flappy"
address = "127.9.8.1"

[[receivers]]
name = "hook"
kind = "webhook"
url = "http://127.0.0.1:{http}/hook"

[[alert_rules]]
name = "device down"
availability = "icmp.up"
every = "2s"
receivers = ["hook"]
"#,
        http = r.http_port
    );
    let server = start(dir.path(), &toml);
    let count = |v: u8| -> i64 {
        let rows = server.rows(&format!(
            "SELECT count(*) FROM metrics WHERE device_id = 'fl' AND metric = 'icmp.up' AND value = {v}"
        ));
        rows[0][0].as_i64().unwrap()
    };
    // Three samples in the new state cover a whole 2 s window: one state change each.
    let settle_in = |v: u8, what: &str| {
        let from = count(v);
        let deadline = Instant::now() + Duration::from_secs(60);
        while count(v) < from + 3 {
            assert!(
                Instant::now() < deadline,
                "{what}: no samples\n{}",
                server.log_text()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    settle_in(1, "up at the start");
    // Six changes: down, up, down, up, down, up.
    for _ in 0..3 {
        let filter = Blackhole::new("127.9.8.1");
        settle_in(0, "down");
        drop(filter);
        settle_in(1, "up");
    }
    // Stable for flap_window after the last change: the settled state is told once.
    r.wait("the settled resolve", &server, |r| {
        hook_statuses(r)
            .iter()
            .filter(|(s, _)| s == "resolved")
            .count()
            >= 2
    });
    let told: Vec<(String, Option<String>)> = r
        .delivered("/hook")
        .iter()
        .flat_map(|b| b["alerts"].as_array().cloned().unwrap_or_default())
        .map(|a| {
            (
                a["status"].as_str().unwrap().to_string(),
                a["labels"]["flapping"].as_str().map(String::from),
            )
        })
        .collect();
    let flapping = Some("true".to_string());
    assert_eq!(
        told,
        vec![
            ("firing".into(), None),
            ("resolved".into(), None),
            ("firing".into(), None),
            ("firing".into(), flapping.clone()),
            // The same alert, settled: it keeps the label it was last notified with.
            ("resolved".into(), flapping),
        ],
        "the 4th change marks it flapping; the 5th and 6th are not notified\n{}",
        server.log_text()
    );
}
