//! Item 2: a password change or reset, a role change and the passing of time end
//! sessions. Before the fix a second session survived a password change and a reset, and
//! a refresh renewed a session's end forever, so a stolen refresh token lived as long as
//! its thief kept using it.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::create_user;
use crate::common::{Server, free_port, http};

/// One logged-in session: its access and latest refresh token.
struct Session {
    access: String,
    refresh: String,
}

fn login(server: &Server, user: &str, password: &str) -> Session {
    let body = json!({ "username": user, "password": password }).to_string();
    let (status, text) = http(
        "POST",
        &format!("{}/api/v1/auth/login", server.url),
        Some(&body),
    )
    .unwrap();
    assert_eq!(status, 200, "login as {user}: {text}");
    session(&text)
}

fn session(text: &str) -> Session {
    let v: Value = serde_json::from_str(text).unwrap();
    Session {
        access: v["access_token"].as_str().unwrap().to_string(),
        refresh: v["refresh_token"].as_str().unwrap().to_string(),
    }
}

/// Exchanges the session's refresh token; returns (status, body) and keeps the new tokens.
fn refresh(server: &Server, s: &mut Session) -> (u16, String) {
    let body = json!({ "refresh_token": s.refresh }).to_string();
    let (status, text) = http(
        "POST",
        &format!("{}/api/v1/auth/refresh", server.url),
        Some(&body),
    )
    .unwrap();
    if status == 200 {
        *s = session(&text);
    }
    (status, text)
}

fn me(server: &Server, s: &Session) -> u16 {
    server.api_as(&s.access, "GET", "/api/v1/auth/me", None).0
}

/// The session is over: its access token and its refresh token are both refused.
fn assert_ended(server: &Server, s: &mut Session, after: &str) {
    assert_eq!(me(server, s), 401, "access token still works after {after}");
    let (status, text) = refresh(server, s);
    assert_eq!(status, 401, "refresh still works after {after}: {text}");
}

#[test]
fn password_change_reset_and_role_change_end_the_other_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("sotp.toml");
    std::fs::write(&cfg, "").unwrap();
    let server = Server::start(&cfg, &dir.path().join("data"), free_port());
    let uid = create_user(&server, "ops", "first-password", "operator");

    // The user's own change: the session that changed it goes on, the other one ends.
    let mine = login(&server, "ops", "first-password");
    let mut stolen = login(&server, "ops", "first-password");
    assert_eq!(me(&server, &stolen), 200);
    let (status, body) = server.api_as(
        &mine.access,
        "POST",
        "/api/v1/auth/password",
        Some(&json!({"current_password": "first-password", "new_password": "second-password"})),
    );
    assert_eq!(status, 204, "{body}");
    assert_ended(&server, &mut stolen, "the user changed the password");
    assert_eq!(me(&server, &mine), 200, "the changing session was ended");

    // An admin's reset ends every session of the user, the one above included.
    let mut mine = mine;
    let (status, body) = server.api(
        "POST",
        &format!("/api/v1/users/{uid}/password"),
        Some(&json!({"password": "reset-password"})),
    );
    assert_eq!(status, 204, "{body}");
    assert_ended(&server, &mut mine, "an admin reset the password");

    // A role change ends every session: none keeps the old role's rights.
    let (status, body) = server.api(
        "PATCH",
        &format!("/api/v1/users/{uid}"),
        Some(&json!({"must_change_password": false})),
    );
    assert_eq!(status, 200, "{body}");
    let mut operator = login(&server, "ops", "reset-password");
    assert_eq!(me(&server, &operator), 200);
    let (status, body) = server.api(
        "PATCH",
        &format!("/api/v1/users/{uid}"),
        Some(&json!({"role": "readonly"})),
    );
    assert_eq!(status, 200, "{body}");
    assert_ended(&server, &mut operator, "the role changed");
    // Changing something else (a forced password change) leaves sessions alone.
    let readonly = login(&server, "ops", "reset-password");
    let (status, _) = server.api(
        "PATCH",
        &format!("/api/v1/users/{uid}"),
        Some(&json!({"role": "readonly"})),
    );
    assert_eq!(status, 200);
    assert_eq!(me(&server, &readonly), 200, "an unchanged role ended it");
}

#[test]
fn refreshing_does_not_keep_a_session_past_its_lifetime() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("sotp.toml");
    std::fs::write(
        &cfg,
        "[auth]\naccess_ttl = \"10s\"\nsession_lifetime = \"12s\"\n",
    )
    .unwrap();
    let server = Server::start(&cfg, &dir.path().join("data"), free_port());
    create_user(&server, "thief", "thief-password", "readonly");
    let started = Instant::now();
    let mut s = login(&server, "thief", "thief-password");
    // Refresh as a thief would, every half second, until refused (or the deadline, far
    // past the lifetime: before the fix every refresh succeeded).
    let deadline = started + Duration::from_secs(60);
    let refused = loop {
        assert!(
            Instant::now() < deadline,
            "refresh still works 60 s into a session of 12 s"
        );
        let (status, text) = refresh(&server, &mut s);
        if status != 200 {
            break (status, text);
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(refused.0, 401, "{}", refused.1);
    assert!(refused.1.contains("maximum lifetime"), "{}", refused.1);
    assert!(
        started.elapsed() >= Duration::from_secs(12),
        "ended before its lifetime"
    );
    // The last access token, though its own 10 s have not all passed, is refused too.
    assert_eq!(me(&server, &s), 401);
}
