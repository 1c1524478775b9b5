//! Slow agents: snmpsim serves the recordings of a Cisco Nexus 5000 and a Juniper MX960
//! behind a proxy that answers like a slow real agent: one request at a time, in a time
//! that grows with what is asked (5 ms per varbind, a GETBULK counting columns x
//! max-repetitions: 11 columns x 22 rows take 1.2 s; snmpsim took 1.5 to 2 s for those
//! recordings when the issue was found), and never for a request of more than 120
//! varbinds (its reply is lost, as a fragmented reply is behind many firewalls). With
//! `timeout = "3s"` SOTP's first full-size request times out; it must ask for less, poll
//! every interface, and remember per device what works so that the next poll loses
//! nothing to timeouts.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::common::{Server, free_port, wait_explained};
use crate::snmp_e2e::expected_interfaces;
use crate::snmp_peers::{Snmpsim, free_udp_port};

const DEVICES: &[(&str, &str)] = &[
    ("n5k", "network/switch/cisco-n5000"),
    ("mx960", "network/router/juniper-mx960-16-1r6-7-a"),
];
const PER_VARBIND: Duration = Duration::from_millis(5);
/// Requests asking for more varbinds get no reply.
const MAX_ASKED: u32 = 120;
const TIMEOUT: Duration = Duration::from_secs(3);

/// One request the slow agent got: when, for how many varbinds, answered or not.
#[derive(Clone, Copy, Debug)]
struct Served {
    at: Instant,
    asked: u32,
    answered: bool,
}

/// Reads one BER header at `b[*i]`: (tag, content length); moves `i` to the content.
fn ber(b: &[u8], i: &mut usize) -> Option<(u8, usize)> {
    let tag = *b.get(*i)?;
    let first = *b.get(*i + 1)?;
    *i += 2;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        let bytes = b.get(*i..*i + n)?;
        *i += n;
        bytes.iter().fold(0, |acc, x| acc << 8 | usize::from(*x))
    };
    Some((tag, len))
}

/// Varbinds an SNMPv2c request asks for: its varbinds, times max-repetitions for a
/// GETBULK (no non-repeaters are sent by SOTP).
fn varbinds_asked(msg: &[u8]) -> Option<u32> {
    let mut i = 0;
    ber(msg, &mut i)?; // Message
    let (_, n) = ber(msg, &mut i)?; // version
    i += n;
    let (_, n) = ber(msg, &mut i)?; // community
    i += n;
    let (pdu, _) = ber(msg, &mut i)?;
    let mut ints = [0u32; 3];
    for v in &mut ints {
        let (_, n) = ber(msg, &mut i)?;
        *v = msg
            .get(i..i + n)?
            .iter()
            .fold(0, |a, x| a << 8 | u32::from(*x));
        i += n;
    }
    let (_, list) = ber(msg, &mut i)?;
    let end = i + list;
    let mut varbinds = 0;
    while i < end {
        let (_, n) = ber(msg, &mut i)?;
        i += n;
        varbinds += 1;
    }
    Some(if pdu == 0xa5 {
        varbinds * ints[2].max(1)
    } else {
        varbinds
    })
}

/// A UDP front for an agent that holds each reply back for `PER_VARBIND` per varbind
/// asked, serving one request at a time as a single-threaded agent does (a request that
/// came during a slow reply waits), and drops the replies to requests of more than
/// `MAX_ASKED` varbinds. A reply to a client that gave up goes to a closed port.
struct SlowAgent {
    addr: SocketAddr,
    served: Arc<Mutex<Vec<Served>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl SlowAgent {
    fn start(listen: &str, agent: &str) -> SlowAgent {
        let front = UdpSocket::bind(format!("{listen}:0")).unwrap();
        front
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let back = UdpSocket::bind("127.0.0.1:0").unwrap();
        back.connect(agent).unwrap();
        back.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let addr = front.local_addr().unwrap();
        let served = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (served, stop) = (served.clone(), stop.clone());
            std::thread::spawn(move || {
                let (mut req, mut rep) = (vec![0u8; 65_536], vec![0u8; 65_536]);
                while !stop.load(Ordering::Relaxed) {
                    let Ok((n, client)) = front.recv_from(&mut req) else {
                        continue;
                    };
                    let asked = varbinds_asked(&req[..n]).expect("an SNMPv2c request");
                    let answered = asked <= MAX_ASKED;
                    if answered {
                        back.send(&req[..n]).unwrap();
                        let Ok(m) = back.recv(&mut rep) else {
                            continue;
                        };
                        std::thread::sleep(PER_VARBIND * asked);
                        let _ = front.send_to(&rep[..m], client);
                    }
                    served.lock().unwrap().push(Served {
                        at: Instant::now(),
                        asked,
                        answered,
                    });
                }
            })
        };
        SlowAgent {
            addr,
            served,
            stop,
            thread: Some(thread),
        }
    }

    fn served(&self) -> Vec<Served> {
        self.served.lock().unwrap().clone()
    }
}

impl Drop for SlowAgent {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().ok();
        }
    }
}

/// Complete polls (`poll.ok` = 1) per device.
fn complete_polls(server: &Server) -> Vec<(String, u64)> {
    server
        .rows(
            "SELECT device, count(*) FROM metrics WHERE metric = 'poll.ok' AND value = 1 GROUP BY device ORDER BY device",
        )
        .iter()
        .map(|r| (r[0].as_str().unwrap().to_string(), r[1].as_u64().unwrap()))
        .collect()
}

#[test]
fn slow_agents_get_every_interface_polled_at_a_3s_timeout_and_no_timeout_on_the_next_poll() {
    let port = free_udp_port();
    let endpoint = format!("127.0.0.1:{port}");
    let rels: Vec<&str> = DEVICES.iter().map(|d| d.1).collect();
    let _sim = Snmpsim::start(
        &rels,
        &[],
        std::slice::from_ref(&endpoint),
        &["--log-level=error"],
    );
    let slow: Vec<SlowAgent> = (1..=DEVICES.len())
        .map(|k| SlowAgent::start(&format!("127.0.0.{k}"), &endpoint))
        .collect();
    let mut cfg = String::from(
        "[icmp]\nenabled = false\n\n[snmp]\ninterval = \"30s\"\ntimeout = \"3s\"\nretries = 1\n\n[storage]\nbatch_latency = \"200ms\"\n",
    );
    for ((name, rel), agent) in DEVICES.iter().zip(&slow) {
        cfg.push_str(&format!(
            "\n[[devices]]\nname = \"{name}\"\naddress = \"{}\"\nsnmp = {{ version = \"2c\", community = \"{rel}\", port = {} }}\n",
            agent.addr.ip(),
            agent.addr.port()
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sotp.toml");
    std::fs::write(&path, cfg).unwrap();
    let mut server = Server::start(&path, &dir.path().join("data"), free_port());
    let explain = || {
        let served: Vec<Vec<Served>> = slow.iter().map(SlowAgent::served).collect();
        format!(
            "varbinds asked per request (! = not answered): {:?}\n{}",
            served
                .iter()
                .map(|s| {
                    s.iter()
                        .map(|x| format!("{}{}", x.asked, if x.answered { "" } else { "!" }))
                        .collect::<Vec<_>>()
                })
                .collect::<Vec<_>>(),
            server.log_text()
        )
    };

    // A complete first poll of each device (one interval, spread, plus the slow poll).
    wait_explained(
        "a complete poll of each slow agent",
        120,
        || (complete_polls(&server).len() == DEVICES.len()).then_some(()),
        explain,
    );
    let first_polls_done = Instant::now();
    for (name, rel) in DEVICES {
        let want: Vec<String> = expected_interfaces(rel)
            .into_iter()
            .filter(|(_, v)| v.1.is_some())
            .map(|(k, _)| k)
            .collect();
        assert!(want.len() > 50, "{rel}: {} interfaces", want.len());
        let got: Vec<String> = server
            .rows(&format!(
                "SELECT DISTINCT instance FROM metrics WHERE device = '{name}' AND metric = 'if.in_octets' ORDER BY instance"
            ))
            .iter()
            .map(|r| r[0].as_str().unwrap().to_string())
            .collect();
        let mut want = want;
        want.sort();
        assert_eq!(got, want, "{name}: every interface polled\n{}", explain());
    }
    // The first requests really were too big: some were never answered.
    for (agent, (name, _)) in slow.iter().zip(DEVICES) {
        let lost = agent.served().iter().filter(|s| !s.answered).count();
        assert!(
            lost >= 1,
            "{name}: every request was answered\n{}",
            explain()
        );
    }

    // The next poll of each uses the sizes learnt: every request is answered, each
    // within half the timeout.
    wait_explained(
        "a second complete poll of each slow agent",
        90,
        || {
            complete_polls(&server)
                .iter()
                .all(|(_, n)| *n >= 2)
                .then_some(())
        },
        explain,
    );
    for (agent, (name, _)) in slow.iter().zip(DEVICES) {
        let next: Vec<Served> = agent
            .served()
            .into_iter()
            .filter(|s| s.at > first_polls_done)
            .collect();
        assert!(
            !next.is_empty(),
            "{name}: second poll not seen by the agent"
        );
        let largest = next.iter().map(|s| s.asked).max().unwrap();
        assert!(
            next.iter().all(|s| s.answered) && PER_VARBIND * largest < TIMEOUT / 2,
            "{name}: a request of the second poll was lost or slow (largest {largest} varbinds)\n{}",
            explain()
        );
    }
    let failed = server.rows(
        "SELECT count(*) FROM metrics WHERE (metric = 'poll.ok' AND value = 0) OR metric = 'poll.partial'",
    );
    assert_eq!(failed[0][0].as_u64(), Some(0), "{}", explain());
    assert_eq!(server.stop(), 0);
}
