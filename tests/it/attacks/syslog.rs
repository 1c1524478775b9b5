//! Item 6: a message from an unknown address was attributed to the device its hostname
//! named, so anyone could write logs under a real device's name; TCP and TLS shared
//! their slots with no per-address cap, and the idle timeout (5 min) also bounded the TLS
//! handshake, so a few hundred silent sockets stopped intake.

use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::connect_from;
use crate::syslog_e2e::{start, wait_for};

#[test]
fn a_hostname_from_an_unknown_address_names_no_device_unless_trusted_and_then_is_marked() {
    let dir = tempfile::tempdir().unwrap();
    let port = crate::common::free_port();
    // `lo-dev` is at 127.0.0.1; the forger writes its name from 127.0.0.66.
    let server = start(dir.path(), port, "");
    let forger = UdpSocket::bind("127.0.0.66:0").unwrap();
    forger
        .send_to(
            b"<13>1 2026-01-01T00:00:00Z lo-dev app - - - forged",
            ("127.0.0.1", port),
        )
        .unwrap();
    assert_eq!(
        wait_for(&server, "SELECT count(*) FROM logs", &Value::from(1)),
        1
    );
    assert_eq!(server.rows("SELECT device_id FROM logs")[0][0], Value::Null);
    drop(server);

    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), port, "[syslog]\ntrust_hostname = true\n");
    forger
        .send_to(
            b"<13>1 2026-01-01T00:00:00Z lo-dev app - - - relayed",
            ("127.0.0.1", port),
        )
        .unwrap();
    assert_eq!(
        wait_for(&server, "SELECT count(*) FROM logs", &Value::from(1)),
        1
    );
    let row = &server.rows("SELECT device_id, structured_data FROM logs")[0];
    assert_eq!(row[0], "lo-dev");
    assert!(
        row[1]
            .as_str()
            .unwrap()
            .contains(r#""device_from":"hostname""#),
        "{row:?}"
    );
}

#[test]
fn silent_sockets_are_closed_early_and_one_address_cannot_take_every_slot() {
    let dir = tempfile::tempdir().unwrap();
    let port = crate::common::free_port();
    let server = start(
        dir.path(),
        port,
        "[syslog]\nfirst_byte_timeout = \"1s\"\nmax_connections_per_address = 4\n",
    );
    let to = format!("127.0.0.1:{port}");
    // A silent socket is closed after the first-byte timeout, not the idle one (5 min).
    let mut silent = TcpStream::connect(&to).unwrap();
    silent
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let started = Instant::now();
    let mut b = [0u8; 1];
    assert_eq!(silent.read(&mut b).unwrap_or(0), 0, "still open");
    assert!(started.elapsed() < Duration::from_secs(29));

    // Ten connections from one address: four are served, the rest closed at once.
    let held: Vec<TcpStream> = (0..10).map(|_| connect_from("127.0.0.70", &to)).collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    let refused = loop {
        let (_, m) = server.metrics();
        let n = m
            .lines()
            .find(|l| l.starts_with("sotp_syslog_refused_connections_total"))
            .and_then(|l| l.split_whitespace().last())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        if n >= 6 || Instant::now() > deadline {
            break n;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(refused, 6);
    // Another address still gets through.
    let mut real = TcpStream::connect(&to).unwrap();
    writeln!(real, "<13>1 - h real - - - still received").unwrap();
    drop(real);
    assert_eq!(
        wait_for(
            &server,
            "SELECT count(*) FROM logs WHERE app_name = 'real'",
            &Value::from(1)
        ),
        1
    );
    drop(held);
}

#[test]
fn five_thousand_silent_connections_do_not_stop_a_real_sender() {
    let dir = tempfile::tempdir().unwrap();
    let port = crate::common::free_port();
    let server = start(dir.path(), port, "[syslog]\nfirst_byte_timeout = \"2s\"\n");
    let to = format!("127.0.0.1:{port}");
    // 200 addresses x 25 connections, none of them sending a byte.
    let mut silent = Vec::with_capacity(5000);
    for host in 0..200 {
        for _ in 0..25 {
            silent.push(connect_from(
                &format!("127.0.{}.{}", 1 + host / 250, 1 + host % 250),
                &to,
            ));
        }
    }
    let mut real = TcpStream::connect(&to).unwrap();
    writeln!(real, "<13>1 - h real - - - through the flood").unwrap();
    drop(real);
    let got = wait_for(
        &server,
        "SELECT count(*) FROM logs WHERE app_name = 'real'",
        &Value::from(1),
    );
    assert_eq!(got, 1, "the real sender's message did not arrive");
    eprintln!("5000 silent connections held open; the real sender's message arrived");
    drop(silent);
}
