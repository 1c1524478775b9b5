//! Item 4: every query had its own memory pool, nothing bounded how many ran at once, and
//! results were encoded outside any accounting: `SELECT repeat('x', 1000000) FROM
//! range(500)` grew the process by gigabytes. Now one budget covers every query and its
//! held result, each user waits for a turn, results stream out, and with default
//! settings six such queries at once by a readonly user grow the process by less than
//! 1.2 GiB while the server keeps serving.

use std::time::{Duration, Instant};

use serde_json::json;

use super::create_user;
use crate::common::{Server, free_port, http, peak_rss};

/// Sends `POST /api/v1/query` with `body` as `token` on a thread of its own.
fn spawn_query(server: &Server, body: &str, token: &str) -> std::thread::JoinHandle<(u16, String)> {
    let (url, body, token) = (server.url.clone(), body.to_string(), token.to_string());
    std::thread::spawn(move || {
        crate::common::http_auth("POST", &format!("{url}/api/v1/query"), Some(&body), &token)
            .unwrap()
    })
}

#[test]
fn six_huge_results_at_once_stay_within_the_budget_and_the_server_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("sotp.toml");
    // Default [query] limits: a 1 GiB budget, 512 MiB per query, 256 MiB per result.
    std::fs::write(&cfg, "").unwrap();
    let server = Server::start(&cfg, &dir.path().join("data"), free_port());
    create_user(&server, "reader", "reader-password", "readonly");
    let reader = server.login("reader", "reader-password");
    let before = peak_rss(&server);
    let hostile = json!({"sql": "SELECT repeat('x', 1000000) AS s FROM range(400)"}).to_string();
    let attacks: Vec<_> = (0..6)
        .map(|_| spawn_query(&server, &hostile, &reader))
        .collect();
    // While they run, an admin query still answers.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, v) = server.sql("SELECT 40 + 2 AS answer");
        if status == 200 {
            assert_eq!(v["rows"][0][0], 42);
            break;
        }
        assert!(Instant::now() < deadline, "the admin could not query: {v}");
        std::thread::sleep(Duration::from_millis(200));
    }
    for a in attacks {
        let (status, body) = a.join().unwrap();
        // Each is refused (result too large, or its turn did not come): never a 5xx
        // crash and never a 400 MB answer.
        assert!(
            matches!(status, 422 | 503),
            "{status}: {}",
            &body[..body.len().min(300)]
        );
        assert!(body.len() < 10_000, "a huge result was sent");
    }
    let grown = peak_rss(&server).saturating_sub(before);
    assert!(
        grown < 1_200 << 20,
        "the process grew by {} MiB",
        grown >> 20
    );
    let (status, _) = http("GET", &format!("{}/health", server.url), None).unwrap();
    assert_eq!(status, 200);
    let (status, v) = server.sql("SELECT count(*) FROM range(10)");
    assert_eq!((status, v["rows"][0][0].as_u64()), (200, Some(10)), "{v}");
}

#[test]
fn a_readonly_user_sees_only_its_tables_even_through_describe_and_information_schema() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("sotp.toml");
    std::fs::write(&cfg, "").unwrap();
    let server = Server::start(&cfg, &dir.path().join("data"), free_port());
    create_user(&server, "viewer", "viewer-password", "readonly");
    let viewer = server.login("viewer", "viewer-password");
    let sql = |q: &str| server.api_as(&viewer, "POST", "/api/v1/query", Some(&json!({ "sql": q })));
    for q in [
        "DESCRIBE audit",
        "SHOW COLUMNS FROM audit",
        "SELECT * FROM audit",
    ] {
        let (status, v) = sql(q);
        assert_eq!(status, 403, "{q}: {v}");
    }
    let (status, v) =
        sql("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'");
    assert_eq!(status, 200, "{v}");
    let names = v["rows"].to_string();
    assert!(
        names.contains("metrics") && !names.contains("audit"),
        "{names}"
    );
    let (status, v) =
        sql("SELECT count(*) FROM information_schema.columns WHERE table_name = 'audit'");
    assert_eq!((status, v["rows"][0][0].as_u64()), (200, Some(0)), "{v}");
    // The admin still sees it.
    let (status, _) = server.sql("DESCRIBE audit");
    assert_eq!(status, 200);
}

/// The limit to show: 50 hostile queries at once by readonly users (huge results,
/// cross joins that burn every core, sorts past the memory limit) while syslog ingest
/// runs. Ingest loses no line, the process stays within its memory budget, and an admin
/// query still answers while the attack is on.
#[test]
fn fifty_hostile_queries_during_syslog_ingest_lose_no_line_and_stay_in_budget() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    // Default limits, except a shorter time limit so the burners end sooner.
    let server = crate::syslog_e2e::start(dir.path(), port, "[query]\ntimeout = \"5s\"\n");
    let readers: Vec<String> = (0..5)
        .map(|i| {
            let name = format!("reader{i}");
            create_user(&server, &name, "reader-password", "readonly");
            server.login(&name, "reader-password")
        })
        .collect();
    let before = peak_rss(&server);
    let hostile = [
        "SELECT repeat('x', 1000000) AS s FROM range(400)",
        "SELECT sum(a.value * b.value) FROM range(100000) a, range(100000) b",
        "SELECT value FROM range(200000000) ORDER BY random() LIMIT 1",
    ];
    let attacks: Vec<_> = (0..50)
        .map(|i| {
            let body = json!({"sql": hostile[i % hostile.len()]}).to_string();
            spawn_query(&server, &body, &readers[i % readers.len()])
        })
        .collect();
    const LINES: usize = 20_000;
    let sender = std::thread::spawn(move || {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        for i in 0..LINES {
            writeln!(s, "<13>1 - h ingest - - - line {i} during the attack").unwrap();
        }
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (status, v) = server.sql("SELECT 40 + 2 AS answer");
        if status == 200 {
            assert_eq!(v["rows"][0][0], 42);
            break;
        }
        assert!(Instant::now() < deadline, "the admin could not query: {v}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let running = attacks.iter().filter(|a| !a.is_finished()).count();
    eprintln!("the admin's query answered with {running} of 50 hostile queries unfinished");
    sender.join().unwrap();
    let mut refused = std::collections::BTreeMap::new();
    for a in attacks {
        let (status, body) = a.join().unwrap();
        assert!(
            matches!(status, 422 | 503),
            "{status}: {}",
            &body[..body.len().min(300)]
        );
        assert!(body.len() < 10_000, "a huge result was sent");
        let code: serde_json::Value = serde_json::from_str(&body).unwrap();
        *refused
            .entry(code["error"]["code"].as_str().unwrap_or("?").to_string())
            .or_insert(0) += 1;
    }
    eprintln!("hostile queries refused by code: {refused:?}");
    let mut stored = serde_json::Value::Null;
    while Instant::now() < deadline {
        stored = server.rows("SELECT count(*) FROM logs WHERE app_name = 'ingest'")[0][0].clone();
        if stored == LINES {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(stored, LINES, "ingest lost lines during the attack");
    let grown = peak_rss(&server).saturating_sub(before);
    eprintln!("peak memory grew by {} MiB", grown >> 20);
    assert!(
        grown < 1_200 << 20,
        "the process grew by {} MiB, past the 1 GiB budget and its slack",
        grown >> 20
    );
}
