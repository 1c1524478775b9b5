//! `GET /api/v1/logs` (filters, pagination, CSV) and `GET /api/v1/logs/stream` (SSE)
//! over logs received from a real TCP sender.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{Server, free_port, http_auth};
use crate::syslog_e2e::{start, wait_for};

fn send(port: u16, lines: &[String]) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    for l in lines {
        writeln!(s, "{l}").unwrap();
    }
}

fn get(server: &Server, url: &str) -> (u16, Value) {
    let (status, body) = http_auth("GET", url, None, &server.token).unwrap();
    (
        status,
        serde_json::from_str(&body).unwrap_or(Value::String(body)),
    )
}

#[test]
fn search_filters_pages_and_exports_csv() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let server = start(dir.path(), port, "");
    let mut lines = Vec::new();
    for i in 0..10 {
        // Severities 3 (err) and 6 (info), alternating.
        let pri = if i % 2 == 0 { 11 } else { 14 };
        lines.push(format!("<{pri}>1 - h app - - - event number {i} it's here"));
    }
    lines.push("<11>1 - h app - - - ERROR disk full on /var".into());
    send(port, &lines);
    assert_eq!(
        wait_for(&server, "SELECT count(*) FROM logs", &Value::from(11)),
        11
    );

    let base = format!("{}/api/v1/logs", server.url);
    let (s, v) = get(
        &server,
        &format!("{base}?severity=err&device=lo-dev&limit=4"),
    );
    assert_eq!(s, 200, "{v}");
    let logs = v["logs"].as_array().unwrap();
    assert_eq!(logs.len(), 4);
    assert!(
        logs.iter()
            .all(|l| l["severity"] == 3 && l["device_id"] == "lo-dev")
    );
    assert_eq!(v["next_offset"], 4);
    let (_, v2) = get(&server, &format!("{base}?severity=err&limit=4&offset=4"));
    assert_eq!(v2["logs"].as_array().unwrap().len(), 2);
    assert_eq!(v2["next_offset"], Value::Null);
    // Pages do not overlap.
    let msgs = |v: &Value| -> Vec<String> {
        v["logs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["message"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(msgs(&v).iter().all(|m| !msgs(&v2).contains(m)));

    let (_, v) = get(&server, &format!("{base}?contains=DISK%20FULL"));
    assert_eq!(msgs(&v), ["ERROR disk full on /var"]);
    let (_, v) = get(&server, &format!("{base}?regex=number%20%5B2-4%5D%20"));
    assert_eq!(v["logs"].as_array().unwrap().len(), 3, "{v}");
    let (_, v) = get(
        &server,
        &format!("{base}?contains=it%27s&since=2000-01-01T00:00:00Z&until=2200-01-01T00:00:00Z"),
    );
    assert_eq!(v["logs"].as_array().unwrap().len(), 10, "{v}");
    let (_, v) = get(&server, &format!("{base}?since=2200-01-01T00:00:00Z"));
    assert_eq!(v["logs"].as_array().unwrap().len(), 0);

    let (s, csv) = http_auth(
        "GET",
        &format!("{base}?format=csv&limit=100"),
        None,
        &server.token,
    )
    .unwrap();
    assert_eq!(s, 200);
    let mut rows = csv.lines();
    assert!(
        rows.next()
            .unwrap()
            .starts_with("received_at,time,source_address,device_id")
    );
    assert_eq!(rows.count(), 11);

    for bad in [
        "severity=loud",
        "since=yesterday",
        "until=2999-01-01T00:00:00Z",
        "regex=(",
        "limit=0",
        "colour=red",
        "format=xml",
    ] {
        let (s, v) = get(&server, &format!("{base}?{bad}"));
        assert_eq!(s, 400, "{bad}: {v}");
        assert_eq!(v["error"]["code"], "invalid_parameters", "{bad}");
    }
}

#[test]
fn stream_tails_new_matching_logs() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let server = start(dir.path(), port, "");
    let host = server.url.strip_prefix("http://").unwrap().to_string();
    let mut s = TcpStream::connect(&host).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    write!(
        s,
        "GET /api/v1/logs/stream?contains=tail-me HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {}\r\n\r\n",
        server.token
    )
    .unwrap();
    send(
        port,
        &[
            "<13>1 - h app - - - tail-me one".into(),
            "<13>1 - h app - - - not this".into(),
            "<13>1 - h app - - - tail-me two".into(),
        ],
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut text = String::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline && !text.contains("tail-me two") {
        if let Ok(n) = s.read(&mut buf) {
            text.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    }
    assert!(text.contains("text/event-stream"), "{text}");
    let events: Vec<&str> = text.lines().filter(|l| l.starts_with("data: ")).collect();
    assert_eq!(events.len(), 2, "{text}");
    assert!(events[0].contains("tail-me one") && events[1].contains("tail-me two"));
    assert!(!text.contains("not this"));
}
