//! Item 7: the HTTP server had no header-read timeout, no connection cap and no TLS
//! option, `/metrics` was public by default, and API tokens outlived the admin who made
//! them.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::json;

use super::create_user;
use crate::common::{BIN, Server, free_port, http};

/// Reads until the server closes the connection; panics after `secs`.
fn closed_within(s: &mut TcpStream, secs: u64) {
    s.set_read_timeout(Some(Duration::from_secs(secs))).unwrap();
    let mut b = [0u8; 256];
    loop {
        match s.read(&mut b) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return,
            Err(e) => panic!("not closed within {secs} s: {e}"),
        }
    }
}

#[test]
fn slow_headers_are_cut_extra_connections_refused_and_metrics_need_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("sotp.toml");
    std::fs::write(
        &cfg,
        "[api]\nheader_read_timeout = \"1s\"\nmax_connections = 8\n",
    )
    .unwrap();
    let server = Server::start(&cfg, &dir.path().join("data"), free_port());
    let host = server.url.trim_start_matches("http://").to_string();

    // A client that never finishes its headers is cut off.
    let mut slow = TcpStream::connect(&host).unwrap();
    write!(slow, "GET /health HTTP/1.1\r\nHost: x\r\n").unwrap();
    let started = Instant::now();
    closed_within(&mut slow, 30);
    assert!(started.elapsed() < Duration::from_secs(29));

    // Eight slow clients hold every slot: a ninth is closed at once...
    let held: Vec<TcpStream> = (0..8)
        .map(|_| {
            let mut s = TcpStream::connect(&host).unwrap();
            write!(s, "GET /health HTTP/1.1\r\n").unwrap();
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let mut extra = TcpStream::connect(&host).unwrap();
    let _ = write!(extra, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
    closed_within(&mut extra, 30);
    // ...and once they are cut off, the API answers again.
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(30);
    while http("GET", &format!("{}/health", server.url), None).map_or(0, |r| r.0) != 200 {
        assert!(Instant::now() < deadline, "the API did not recover");
        std::thread::sleep(Duration::from_millis(200));
    }

    // /metrics is not public by default.
    let (status, _) = http("GET", &format!("{}/metrics", server.url), None).unwrap();
    assert_eq!(status, 401);
    assert_eq!(server.metrics().0, 200);
}

#[test]
fn the_api_serves_https_with_the_configured_certificate() {
    let dir = tempfile::tempdir().unwrap();
    crate::syslog_tls::make_pki(dir.path());
    let cfg = dir.path().join("sotp.toml");
    std::fs::write(
        &cfg,
        format!(
            "[api]\ntls_cert = \"{0}/server.pem\"\ntls_key = \"{0}/server.key\"\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let port = free_port();
    let mut cmd = std::process::Command::new(BIN);
    cmd.args(["run", "--config"])
        .arg(&cfg)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .env("SOTP__API__LISTEN", format!("127.0.0.1:{port}"))
        .env("SOTP__SYSLOG__UDP", "127.0.0.1:0")
        .env("SOTP__PGWIRE__LISTEN", "127.0.0.1:0")
        .env("SOTP__SYSLOG__TCP", "127.0.0.1:0")
        .stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let py = crate::common::python();
    let script = r#"
import ssl, sys, time, urllib.request
ctx = ssl.create_default_context(cafile=sys.argv[2])
deadline = time.time() + 30
while True:
    try:
        with urllib.request.urlopen(f"https://127.0.0.1:{sys.argv[1]}/health", context=ctx) as r:
            print(r.status, r.read().decode())
            break
    except Exception as e:
        if time.time() > deadline:
            raise
        time.sleep(0.2)
"#;
    let out = std::process::Command::new(py)
        .args(["-c", script, &port.to_string()])
        .arg(dir.path().join("ca.pem"))
        .output()
        .unwrap();
    // Plain HTTP gets no answer on that port: it speaks TLS only.
    let plain = http("GET", &format!("http://127.0.0.1:{port}/health"), None).map_or(0, |r| r.0);
    let _ = child.kill();
    let _ = child.wait();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("200") && text.contains("ok"),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_ne!(plain, 200);
}

#[test]
fn an_api_token_dies_with_its_makers_admin_rights() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("sotp.toml");
    std::fs::write(&cfg, "").unwrap();
    let server = Server::start(&cfg, &dir.path().join("data"), free_port());
    let uid = create_user(&server, "admin2", "admin2-password", "admin");
    let admin2 = server.login("admin2", "admin2-password");
    let (status, t) = server.api_as(
        &admin2,
        "POST",
        "/api/v1/tokens",
        Some(&json!({"name": "left-behind", "role": "admin"})),
    );
    assert_eq!(status, 201, "{t}");
    let token = t["token"].as_str().unwrap().to_string();
    assert_eq!(server.api_as(&token, "GET", "/api/v1/users", None).0, 200);
    // admin2 leaves: demoted to readonly. Their token no longer works.
    let (status, _) = server.api(
        "PATCH",
        &format!("/api/v1/users/{uid}"),
        Some(&json!({"role": "readonly"})),
    );
    assert_eq!(status, 200);
    assert_eq!(server.api_as(&token, "GET", "/api/v1/users", None).0, 401);
    assert_eq!(server.api_as(&token, "GET", "/api/v1/devices", None).0, 401);
}
