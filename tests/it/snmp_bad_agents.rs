//! Bad input from agents: an agent whose walks loop, one that sends truncated PDUs
//! (both played by a small UDP responder here, the only way to produce those faults),
//! and a real snmpsim agent serving a generated 20,000-interface table with one value
//! of the wrong type. Each problem is reported for its device; nothing else is lost.

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use crate::common::{Server, free_port};
use crate::snmp_peers::{Snmpsim, free_udp_port};

/// BER: tag, length, content.
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = content.len();
    if n < 128 {
        out.push(n as u8);
    } else if n < 256 {
        out.extend([0x81, n as u8]);
    } else {
        out.extend([0x82, (n >> 8) as u8, n as u8]);
    }
    out.extend_from_slice(content);
    out
}

fn int(v: i64) -> Vec<u8> {
    let bytes = v.to_be_bytes();
    let mut start = 0;
    while start < 7
        && ((bytes[start] == 0 && bytes[start + 1] & 0x80 == 0)
            || (bytes[start] == 0xff && bytes[start + 1] & 0x80 != 0))
    {
        start += 1;
    }
    tlv(0x02, &bytes[start..])
}

fn oid(arcs: &[u64]) -> Vec<u8> {
    let mut c = vec![(arcs[0] * 40 + arcs[1]) as u8];
    for &a in &arcs[2..] {
        let mut stack = vec![(a & 0x7f) as u8];
        let mut v = a >> 7;
        while v > 0 {
            stack.push((v & 0x7f) as u8 | 0x80);
            v >>= 7;
        }
        c.extend(stack.iter().rev());
    }
    tlv(0x06, &c)
}

fn response(community: &[u8], req_id: i32, binds: &[(Vec<u64>, Vec<u8>)]) -> Vec<u8> {
    let mut vbs = Vec::new();
    for (o, v) in binds {
        vbs.extend(tlv(0x30, &[oid(o), v.clone()].concat()));
    }
    let pdu = [int(i64::from(req_id)), int(0), int(0), tlv(0x30, &vbs)].concat();
    tlv(
        0x30,
        &[int(1), tlv(0x04, community), tlv(0xa2, &pdu)].concat(),
    )
}

/// Answers sysUpTime/sysObjectID GETs correctly; every walk of community `loop` gets
/// the same OID back (a loop); every reply to `truncated` is cut in half.
fn spawn_bad_agent() -> u16 {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = sock.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut buf = [0u8; 65536];
        while let Ok((n, peer)) = sock.recv_from(&mut buf) {
            let Ok(pdu) = snmp2::Pdu::from_bytes(&buf[..n]) else {
                continue;
            };
            let community = pdu.community.to_vec();
            let asked: Vec<Vec<u64>> = pdu
                .varbinds
                .clone()
                .filter_map(|(o, _)| o.iter().map(|i| i.collect()))
                .collect();
            let binds: Vec<(Vec<u64>, Vec<u8>)> = asked
                .iter()
                .map(|o| {
                    if o.as_slice() == [1, 3, 6, 1, 2, 1, 1, 3, 0] {
                        (o.clone(), tlv(0x43, &[0x01, 0x00, 0x00]))
                    } else if o.as_slice() == [1, 3, 6, 1, 2, 1, 1, 2, 0] {
                        (o.clone(), oid(&[1, 3, 6, 1, 4, 1, 99999]))
                    } else {
                        // Always the first row of the column, whatever was asked.
                        let mut first = o[..10.min(o.len())].to_vec();
                        first.truncate(10);
                        first.push(1);
                        (first, tlv(0x04, b"eth0"))
                    }
                })
                .collect();
            let mut reply = response(&community, pdu.req_id, &binds);
            if community == b"truncated" {
                reply.truncate(reply.len() / 2);
            }
            let _ = sock.send_to(&reply, peer);
        }
    });
    port
}

/// A .snmprec of a device with `n` interfaces (names, speeds, 64-bit counters), where
/// ifHCInOctets of interface 7 has the wrong type (OCTET STRING).
fn big_table(n: u64) -> String {
    let mut s = String::from(
        "1.3.6.1.2.1.1.1.0|4|big switch\n1.3.6.1.2.1.1.2.0|6|1.3.6.1.4.1.8072.3.2.10\n1.3.6.1.2.1.1.3.0|67|123456\n",
    );
    let col = |s: &mut String, c: &str, f: &dyn Fn(u64) -> String| {
        for i in 1..=n {
            s.push_str(&format!("{c}.{i}|{}\n", f(i)));
        }
    };
    col(&mut s, "1.3.6.1.2.1.2.2.1.2", &|i| format!("4|port{i}"));
    col(&mut s, "1.3.6.1.2.1.2.2.1.5", &|_| "66|1000000000".into());
    col(&mut s, "1.3.6.1.2.1.31.1.1.1.1", &|i| format!("4|p{i}"));
    col(&mut s, "1.3.6.1.2.1.31.1.1.1.6", &|i| {
        if i == 7 {
            "4|not-a-counter".into()
        } else {
            format!("70|{}", u64::MAX - i)
        }
    });
    col(&mut s, "1.3.6.1.2.1.31.1.1.1.10", &|i| format!("70|{i}"));
    col(&mut s, "1.3.6.1.2.1.31.1.1.1.15", &|_| "66|1000".into());
    s
}

#[test]
fn oid_loops_truncated_pdus_wrong_types_and_a_20000_row_table() {
    const ROWS: u64 = 20_000;
    let bad_port = spawn_bad_agent();
    let sim_port = free_udp_port();
    let endpoint = format!("127.0.0.1:{sim_port}");
    let _sim = Snmpsim::start(
        &[],
        &[("big", big_table(ROWS))],
        std::slice::from_ref(&endpoint),
        &["--log-level=error"],
    );
    let dir = tempfile::tempdir().unwrap();
    // The 20,000-row walk may take longer than the interval on a busy machine: its poll
    // gets 90 s before its deadline would cut it (and mark it partial).
    let cfg = format!(
        "[icmp]\nenabled = false\n\n[snmp]\ninterval = \"20s\"\npoll_timeout = \"90s\"\ntimeout = \"2s\"\nretries = 1\nmax_varbinds = 500\n\n[storage]\nbatch_latency = \"200ms\"\n
[[devices]]\nname = \"looping\"\naddress = \"127.0.0.1\"\nsnmp = {{ version = \"2c\", community = \"loop\", port = {bad_port} }}
[[devices]]\nname = \"truncating\"\naddress = \"127.0.0.1\"\nsnmp = {{ version = \"2c\", community = \"truncated\", port = {bad_port} }}
[[devices]]\nname = \"big\"\naddress = \"127.0.0.1\"\nsnmp = {{ version = \"2c\", community = \"big\", port = {sim_port} }}\n"
    );
    let path = dir.path().join("sotp.toml");
    std::fs::write(&path, cfg).unwrap();
    let mut server = Server::start(&path, &dir.path().join("data"), free_port());

    // The big table: wait for its first poll to finish.
    let deadline = Instant::now() + Duration::from_secs(120);
    let started = Instant::now();
    loop {
        let done =
            server.rows("SELECT count(*) FROM metrics WHERE device = 'big' AND metric = 'poll.ok'");
        if done[0][0].as_u64().unwrap() > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "20,000-row poll did not finish in 120 s\n{}",
            server.log_text()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    eprintln!("20,000-interface poll done after {:?}", started.elapsed());
    let r = server.rows(
        "SELECT count(DISTINCT instance), min(counter), max(counter) FROM metrics WHERE device = 'big' AND metric = 'if.in_octets'",
    );
    assert_eq!(r[0][0].as_u64().unwrap(), ROWS - 1, "{}", server.log_text());
    assert_eq!(r[0][1].as_u64().unwrap(), u64::MAX - ROWS);
    assert_eq!(r[0][2].as_u64().unwrap(), u64::MAX - 1);
    let out = server.rows("SELECT count(DISTINCT instance) FROM metrics WHERE device = 'big' AND metric = 'if.out_octets'");
    assert_eq!(out[0][0].as_u64().unwrap(), ROWS);
    let ok =
        server.rows("SELECT max(value) FROM metrics WHERE device = 'big' AND metric = 'poll.ok'");
    assert_eq!(ok[0][0].as_f64(), Some(1.0));

    // The other agents' polls may still be in their timeouts and retries: wait for each
    // failure to be logged rather than reading the log once.
    let wait_log = |what: &str, pred: &dyn Fn(&str) -> bool| {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let log = server.log_text();
            if log.lines().any(pred) {
                return;
            }
            assert!(Instant::now() < deadline, "no log line for {what}:\n{log}");
            std::thread::sleep(Duration::from_millis(250));
        }
    };
    wait_log("the wrong type", &|l| {
        l.contains("big")
            && l.contains(
                "1.3.6.1.2.1.31.1.1.1.6.7: expected a counter for if.in_octets, got OCTET STRING",
            )
    });
    wait_log("the OID loop", &|l| {
        l.contains("looping") && l.contains("non-increasing OID") && l.contains("OID loop")
    });
    wait_log("the truncated PDU", &|l| {
        l.contains("truncating") && l.contains("malformed SNMP reply")
    });
    // The looping agent still gave its sysUpTime; its polls count as failed.
    let up = server
        .rows("SELECT count(*) FROM metrics WHERE device = 'looping' AND metric = 'sys.uptime_s'");
    assert!(up[0][0].as_u64().unwrap() >= 1);
    // The samples of those polls reach the table within a batch latency.
    let deadline = Instant::now() + Duration::from_secs(30);
    let failed = loop {
        let rows = server.rows(
            "SELECT device, max(value) FROM metrics WHERE metric = 'poll.ok' AND device IN ('looping', 'truncating') GROUP BY device ORDER BY device",
        );
        if rows.len() == 2 || Instant::now() > deadline {
            break rows;
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    assert_eq!(
        failed,
        vec![
            vec![serde_json::json!("looping"), serde_json::json!(0.0)],
            vec![serde_json::json!("truncating"), serde_json::json!(0.0)],
        ]
    );
    let stopping = Instant::now();
    assert_eq!(server.stop(), 0);
    println!("stopped after {:?}", stopping.elapsed());
}
