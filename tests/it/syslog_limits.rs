//! Receiver limits on the wire: oversized frames cut and kept, idle connections closed,
//! connections beyond `max_connections` waiting, and every corpus line accepted.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::free_port;
use crate::syslog_e2e::{start, wait_for};

#[test]
fn oversize_idle_and_connection_limits() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let server = start(
        dir.path(),
        port,
        "[syslog]\nmax_message_bytes = 480\nidle_timeout = \"1s\"\nmax_connections = 1\n",
    );
    let mut first = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let big = format!("<13>1 - h big - - - {}", "x".repeat(1000));
    write!(first, "{} {big}", big.len()).unwrap();
    writeln!(first, "<13>1 - h after - - - next frame is fine").unwrap();
    // A second connection waits while the first holds the only slot.
    let mut second = TcpStream::connect(("127.0.0.1", port)).unwrap();
    writeln!(second, "<13>1 - h second - - - waited").unwrap();
    assert_eq!(
        wait_for(&server, "SELECT count(*) FROM logs", &Value::from(2)),
        2
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(server.rows("SELECT count(*) FROM logs")[0][0], 2);
    let rows = server.rows("SELECT length(message), app_name FROM logs ORDER BY app_name");
    assert_eq!(
        rows[0],
        vec![Value::from(18), Value::from("after")],
        "{rows:?}"
    );
    // Cut to 480 bytes: the 20-byte header and 460 of the 1000 `x`.
    assert_eq!(
        rows[1],
        vec![Value::from(460), Value::from("big")],
        "{rows:?}"
    );
    // The idle timeout closes the first connection; the second is then served.
    first
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let started = Instant::now();
    let n = first.read(&mut [0u8; 16]).unwrap_or(1);
    assert_eq!(n, 0, "the idle connection was not closed");
    assert!(started.elapsed() < Duration::from_secs(4));
    assert_eq!(
        wait_for(&server, "SELECT count(*) FROM logs", &Value::from(3)),
        3
    );
    let (_, metrics) = server.metrics();
    assert!(
        metrics.contains("sotp_syslog_truncated_total{transport=\"tcp\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("sotp_syslog_idle_closed_total"),
        "{metrics}"
    );
}

fn corpus() -> PathBuf {
    crate::common::corpora().join("syslog")
}

#[test]
fn every_corpus_line_is_accepted_over_tcp() {
    use base64::Engine as _;
    let dir = corpus();
    let mut lines: Vec<Vec<u8>> = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {} ({e}): set SOTP_CORPORA", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    files.sort();
    let mut mnemonics = 0;
    for f in files {
        for l in std::fs::read_to_string(&f).unwrap().lines() {
            let r: Value = serde_json::from_str(l).unwrap();
            if r["transport_hint"] == "octet-counted" {
                continue;
            }
            mnemonics += usize::from(r["expect"]["vendor_mnemonic"].is_string());
            lines.push(match r["line_base64"].as_str() {
                Some(b) => base64::engine::general_purpose::STANDARD.decode(b).unwrap(),
                None => r["line"].as_str().unwrap().as_bytes().to_vec(),
            });
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let server = start(tmp.path(), port, "");
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    for l in &lines {
        // Octet counting carries any byte, line feeds included.
        write!(s, "{} ", l.len()).unwrap();
        s.write_all(l).unwrap();
    }
    drop(s);
    let n = Value::from(lines.len());
    assert_eq!(wait_for(&server, "SELECT count(*) FROM logs", &n), n);
    let rows = server.rows("SELECT count(*) FROM logs WHERE vendor_mnemonic IS NOT NULL");
    assert!(rows[0][0].as_u64().unwrap() >= mnemonics as u64, "{rows:?}");
    // The raw bytes come back exactly.
    let raw = server.rows("SELECT encode(raw, 'base64') FROM logs");
    let mut got: Vec<Vec<u8>> = raw
        .iter()
        .map(|r| {
            // DataFusion writes base64 without padding.
            base64::engine::general_purpose::STANDARD_NO_PAD
                .decode(r[0].as_str().unwrap())
                .unwrap()
        })
        .collect();
    let mut want = lines.clone();
    got.sort();
    want.sort();
    assert_eq!(got, want);
}

/// The value of an unlabelled counter in Prometheus text, 0 when absent.
fn counter(metrics: &str, name: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn udp_flood_every_datagram_is_stored_or_counted_as_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    // A tiny socket buffer so that the kernel drops part of the flood.
    let server = start(dir.path(), port, "[syslog]\nudp_recv_buffer_bytes = 4096\n");
    const SENT: u64 = 30_000;
    let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    for i in 0..SENT {
        let m = format!("<13>1 - h flood - - - datagram {i}");
        s.send_to(m.as_bytes(), ("127.0.0.1", port)).unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    let (mut rows, mut drops);
    loop {
        rows = server.rows("SELECT count(*) FROM logs")[0][0]
            .as_u64()
            .unwrap();
        let (_, metrics) = server.metrics();
        drops = counter(&metrics, "sotp_syslog_udp_drops_total");
        if rows + drops == SENT || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    assert_eq!(rows + drops, SENT, "rows {rows} + drops {drops}");
    assert!(
        drops > 0,
        "the flood was not large enough to overflow the buffer"
    );
}
