//! Attacks from the security review (issue 13), each tried on a running `sotp run` the way
//! an operator or readonly login would try it. Every test here failed on the code before
//! its fix.

mod http;
mod logins;
mod resources;
mod secret_references;
mod sessions;
mod streams;
mod syslog;

use serde_json::{Value, json};

use crate::common::Server;

/// Creates a user with `role` (no forced password change) and returns its id.
pub(crate) fn create_user(server: &Server, name: &str, password: &str, role: &str) -> i64 {
    let (status, v) = server.api(
        "POST",
        "/api/v1/users",
        Some(
            &json!({"username": name, "password": password, "role": role,
                     "must_change_password": false}),
        ),
    );
    assert_eq!(status, 201, "create user {name}: {v}");
    v["id"].as_i64().unwrap()
}

/// The field names of a 422 validation answer.
pub(crate) fn invalid_fields(body: &Value) -> Vec<String> {
    body["error"]["fields"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|f| f["field"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// A TCP connection to `to` from the local address `from` (a loopback address of its
/// own: `127.0.0.0/8` all reach the server), to play another client host.
pub(crate) fn connect_from(from: &str, to: &str) -> std::net::TcpStream {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let local: std::net::SocketAddr = format!("{from}:0").parse().unwrap();
    socket.bind(&local.into()).unwrap();
    let remote: std::net::SocketAddr = to.parse().unwrap();
    socket.connect(&remote.into()).unwrap();
    socket.into()
}

/// One HTTP/1.1 request from the local address `from`; returns (status, body).
pub(crate) fn http_from(
    from: &str,
    base: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
    token: Option<&str>,
) -> (u16, String) {
    use std::io::{Read, Write};
    let host = base.trim_start_matches("http://");
    let mut s = connect_from(from, host);
    s.set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .unwrap();
    let body = body.map(Value::to_string).unwrap_or_default();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n{auth}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let status = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let payload = resp
        .split_once("\r\n\r\n")
        .map_or("", |(_, p)| p)
        .to_string();
    (status, payload)
}
