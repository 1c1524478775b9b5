//! Item 3: a live log stream checked its token once, so it outlived a logout, a disabled
//! user or a role change. Now it rechecks and ends with an `end` event; and one user may
//! hold only `[auth] streams_per_user` streams.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::json;

use super::create_user;
use crate::common::{Server, free_port};

/// An open live tail: the lines it has sent so far.
struct Tail(BufReader<TcpStream>);

impl Tail {
    fn open(server: &Server, token: &str) -> Result<Tail, u16> {
        let host = server.url.trim_start_matches("http://");
        let mut s = TcpStream::connect(host).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
        write!(
            s,
            "GET /api/v1/logs/stream HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\r\n"
        )
        .unwrap();
        let mut r = BufReader::new(s);
        let mut status = String::new();
        r.read_line(&mut status).unwrap();
        let code: u16 = status.split_whitespace().nth(1).unwrap().parse().unwrap();
        if code == 200 { Ok(Tail(r)) } else { Err(code) }
    }

    /// Reads until a line holding `needle` (true), the connection's end (false), or the
    /// deadline (panics).
    fn wait_for(&mut self, needle: &str, secs: u64) -> bool {
        let deadline = Instant::now() + Duration::from_secs(secs);
        let mut line = String::new();
        loop {
            assert!(Instant::now() < deadline, "`{needle}` not within {secs} s");
            line.clear();
            match self.0.read_line(&mut line) {
                Ok(0) => return false,
                Ok(_) if line.contains(needle) => return true,
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => panic!("{e}"),
            }
        }
    }
}

#[test]
fn a_live_tail_ends_on_logout_disable_and_role_change_and_is_capped_per_user() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("sotp.toml");
    std::fs::write(
        &cfg,
        "[auth]\nstream_recheck = \"500ms\"\nstreams_per_user = 2\n",
    )
    .unwrap();
    let server = Server::start(&cfg, &dir.path().join("data"), free_port());
    let uid = create_user(&server, "watcher", "watcher-password", "operator");

    // Logout ends the stream of that session.
    let token = server.login("watcher", "watcher-password");
    let mut tail = Tail::open(&server, &token).unwrap();
    let (status, _) = server.api_as(&token, "POST", "/api/v1/auth/logout", None);
    assert_eq!(status, 204);
    assert!(
        tail.wait_for("event: end", 30),
        "the stream ended without `end`"
    );

    // A role change ends it too.
    let token = server.login("watcher", "watcher-password");
    let mut tail = Tail::open(&server, &token).unwrap();
    let (status, _) = server.api(
        "PATCH",
        &format!("/api/v1/users/{uid}"),
        Some(&json!({"role": "readonly"})),
    );
    assert_eq!(status, 200);
    assert!(tail.wait_for("event: end", 30));

    // So does disabling the user.
    let token = server.login("watcher", "watcher-password");
    let mut tail = Tail::open(&server, &token).unwrap();
    let (status, _) = server.api(
        "PATCH",
        &format!("/api/v1/users/{uid}"),
        Some(&json!({"disabled": true})),
    );
    assert_eq!(status, 200);
    assert!(tail.wait_for("event: end", 30));
    drop(tail);

    // At most two streams per user: the third is refused until one closes.
    let a = Tail::open(&server, &server.token).unwrap();
    let _b = Tail::open(&server, &server.token).unwrap();
    assert_eq!(Tail::open(&server, &server.token).err(), Some(429));
    drop(a);
    let deadline = Instant::now() + Duration::from_secs(30);
    while Tail::open(&server, &server.token).is_err() {
        assert!(
            Instant::now() < deadline,
            "a closed stream's place is not given back"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
