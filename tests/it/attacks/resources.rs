//! Item 4: every query had its own memory pool, nothing bounded how many ran at once, and
//! results were encoded outside any accounting: `SELECT repeat('x', 1000000) FROM
//! range(500)` grew the process by gigabytes. Now one budget covers every query and its
//! held result, each user waits for a turn, results stream out, and with default
//! settings six such queries at once by a readonly user grow the process by less than
//! 1.2 GiB while the server keeps serving.

use std::time::{Duration, Instant};

use serde_json::json;

use super::create_user;
use crate::common::{Server, free_port, http};

/// The server's peak resident memory so far (VmHWM), in bytes.
fn peak_rss(server: &Server) -> u64 {
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
        .map(|_| {
            let (url, body, token) = (server.url.clone(), hostile.clone(), reader.clone());
            std::thread::spawn(move || {
                crate::common::http_auth(
                    "POST",
                    &format!("{url}/api/v1/query"),
                    Some(&body),
                    &token,
                )
                .unwrap()
            })
        })
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
