//! Item 5: failed logins could lock any account (the right password refused while
//! locked), told which names exist, and parallel guesses counted once. Now failures slow
//! down one address for one account, the owner elsewhere logs in, unknown and known
//! names get the same answers, and a password typed as the user name is never stored.

use serde_json::{Value, json};

use super::{create_user, http_from};
use crate::common::{Server, free_port};

fn login_from(base: &str, from: &str, user: &str, password: &str) -> (u16, Value) {
    let (status, body) = http_from(
        from,
        base,
        "POST",
        "/api/v1/auth/login",
        Some(&json!({"username": user, "password": password})),
        None,
    );
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

#[test]
fn guesses_slow_the_guessing_address_only_and_never_tell_names_apart() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("sotp.toml");
    std::fs::write(&cfg, "[auth]\nlogins_per_minute = 1000\n").unwrap();
    let server = Server::start(&cfg, &dir.path().join("data"), free_port());
    create_user(&server, "owner", "owner-password", "operator");

    // Five wrong guesses at once from the attacker's address: every one counts.
    let guesses: Vec<_> = (0..5)
        .map(|_| {
            let url = server.url.clone();
            std::thread::spawn(move || login_from(&url, "127.0.0.3", "owner", "wrong-guess"))
        })
        .collect();
    let known: Vec<(u16, Value)> = guesses.into_iter().map(|g| g.join().unwrap()).collect();
    for (status, body) in &known {
        assert_eq!(*status, 401, "{body}");
    }
    let (status, body) = login_from(&server.url, "127.0.0.3", "owner", "owner-password");
    assert_eq!(status, 429, "the guessing address is slowed down: {body}");
    // The owner, from their own address, is not locked out.
    let (status, body) = login_from(&server.url, "127.0.0.1", "owner", "owner-password");
    assert_eq!(status, 200, "{body}");

    // An unknown name gets exactly the same answers as a known one.
    for i in 0..5 {
        let (status, body) = login_from(&server.url, "127.0.0.4", "nobody-here", "wrong-guess");
        assert_eq!(status, 401, "{body}");
        assert_eq!(body["error"], known[i % known.len()].1["error"]);
    }
    let (status, unknown_body) = login_from(&server.url, "127.0.0.4", "nobody-here", "x");
    assert_eq!(status, 429);
    let (_, known_body) = login_from(&server.url, "127.0.0.3", "owner", "x");
    assert_eq!(unknown_body["error"]["code"], known_body["error"]["code"]);

    // A password typed into the user name field is not kept in the audit log.
    let typed = "Typed-My-Password-In-The-Name-9321";
    let (status, _) = login_from(&server.url, "127.0.0.5", typed, "anything");
    assert_eq!(status, 401);
    let (status, audit) = server.api("GET", "/api/v1/audit?action=auth.login&limit=1000", None);
    assert_eq!(status, 200);
    assert!(!audit.to_string().contains(typed), "the audit log keeps it");
    assert!(audit.to_string().contains("<unknown user>"), "{audit}");
}
