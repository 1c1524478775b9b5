//! SNMP peers for the tests: snmpsim (PyPI) serving recordings of real devices, and
//! net-snmp's snmpd (Debian) with SNMPv3 users. Each test starts its own on its own
//! addresses and ports; they stop when dropped.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where the recordings of snmpsim-data live.
pub(crate) fn snmpsim_data() -> PathBuf {
    let p = std::env::var("SOTP_SNMPSIM_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("target/snmpsim-venv/lib/python3.11/site-packages/snmpsim_data/data")
        });
    assert!(
        p.is_dir(),
        "snmpsim-data recordings not found at {}: run scripts/setup-peers.sh (it creates the snmpsim venv and prints SOTP_SNMPSIM and SOTP_SNMPSIM_DATA), or set SOTP_SNMPSIM_DATA",
        p.display()
    );
    p
}

fn snmpsim_bin() -> String {
    let bin = std::env::var("SOTP_SNMPSIM").unwrap_or_else(|_| {
        format!(
            "{}/target/snmpsim-venv/bin/snmpsim-command-responder",
            env!("CARGO_MANIFEST_DIR")
        )
    });
    assert!(
        Path::new(&bin).exists(),
        "snmpsim-command-responder not found at {bin}: run scripts/setup-peers.sh, or set SOTP_SNMPSIM"
    );
    bin
}

/// Reads a recording (`.snmprec` or `.snmprec.bz2`) as text.
pub(crate) fn recording_text(rel: &str) -> String {
    let base = snmpsim_data().join(rel);
    let plain = base.with_extension("snmprec");
    if plain.exists() {
        return std::fs::read_to_string(plain).unwrap();
    }
    let bz = PathBuf::from(format!("{}.snmprec.bz2", base.display()));
    let out = Command::new("bzcat").arg(&bz).output().expect("bzcat");
    assert!(out.status.success(), "bzcat {}", bz.display());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// One value of a recording: its BER type tag and its text (hex already decoded).
#[derive(Clone, Debug)]
pub(crate) struct Recorded {
    pub(crate) tag: u32,
    pub(crate) text: String,
}

/// Parses `.snmprec` lines `oid|tag|value` (tag `4x` = hex-encoded octet string).
pub(crate) fn parse_snmprec(text: &str) -> BTreeMap<String, Recorded> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let mut parts = line.splitn(3, '|');
        let (Some(oid), Some(tag), Some(value)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        let (tag, hex) = match tag.strip_suffix('x') {
            Some(t) => (t, true),
            None => (tag, false),
        };
        let Ok(tag) = tag.parse::<u32>() else {
            continue;
        };
        let text = if hex {
            let bytes: Vec<u8> = (0..value.len() / 2)
                .filter_map(|i| u8::from_str_radix(&value[2 * i..2 * i + 2], 16).ok())
                .collect();
            String::from_utf8_lossy(&bytes).into_owned()
        } else {
            value.to_string()
        };
        out.insert(oid.to_string(), Recorded { tag, text });
    }
    out
}

/// The rows of one column of a parsed recording, by index.
pub(crate) fn column<'a>(
    rec: &'a BTreeMap<String, Recorded>,
    col: &str,
) -> BTreeMap<u64, &'a Recorded> {
    let prefix = format!("{col}.");
    rec.iter()
        .filter_map(|(o, v)| {
            o.strip_prefix(&prefix)
                .and_then(|i| i.parse::<u64>().ok())
                .map(|i| (i, v))
        })
        .collect()
}

/// A running snmpsim.
pub(crate) struct Snmpsim {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Snmpsim {
    /// Serves `recordings` (path under snmpsim-data without extension -> community) and
    /// `generated` (community -> .snmprec text) on every endpoint.
    pub(crate) fn start(
        recordings: &[&str],
        generated: &[(&str, String)],
        endpoints: &[String],
        extra_args: &[&str],
    ) -> Snmpsim {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        for rel in recordings {
            let dst = data.join(format!("{rel}.snmprec"));
            std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
            std::fs::write(&dst, recording_text(rel)).unwrap();
        }
        for (community, text) in generated {
            let dst = data.join(format!("{community}.snmprec"));
            std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
            std::fs::write(&dst, text).unwrap();
        }
        let cache = dir.path().join("cache");
        std::fs::create_dir_all(&cache).unwrap();
        // snmpsim drops root privileges to nobody: it must own its directories.
        Command::new("chown")
            .args(["-R", "nobody:nogroup"])
            .arg(dir.path())
            .status()
            .unwrap();
        let log = std::fs::File::create(dir.path().join("snmpsim.log")).unwrap();
        let mut cmd = Command::new(snmpsim_bin());
        cmd.arg(format!("--data-dir={}", data.display()))
            .arg(format!("--cache-dir={}", cache.display()))
            .args(["--process-user=nobody", "--process-group=nogroup"])
            .args(extra_args);
        for e in endpoints {
            cmd.arg(format!("--agent-udpv4-endpoint={e}"));
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start snmpsim-command-responder");
        let sim = Snmpsim { child, _dir: dir };
        let community = recordings
            .first()
            .map(|s| s.to_string())
            .or_else(|| generated.first().map(|g| g.0.to_string()))
            .unwrap();
        for e in endpoints {
            wait_for_agent(&["-v2c", "-c", &community], e);
        }
        sim
    }
}

impl Drop for Snmpsim {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

/// Waits until `snmpget` gets sysUpTime from `endpoint` (up to 60 s: snmpsim indexes
/// the recordings first).
pub(crate) fn wait_for_agent(auth: &[&str], endpoint: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ok = Command::new("snmpget")
            .args(auth)
            .args([
                "-m",
                "",
                "-t",
                "1",
                "-r",
                "0",
                endpoint,
                "1.3.6.1.2.1.1.3.0",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap_or_else(|e| {
                panic!(
                    "snmpget (Debian package `snmp`) not runnable: {e}; run scripts/setup-peers.sh"
                )
            })
            .success();
        if ok {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "SNMP agent at {endpoint} did not answer within 60 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A running net-snmp snmpd with the SNMPv3 users of TESTINFRA.md.
pub(crate) struct Snmpd {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Snmpd {
    /// Starts snmpd on 127.0.0.1:`port` with users `telemetry` (SHA/AES) and `tele256`
    /// (SHA-256/AES-256), both with auth key `authpass123` and priv key `privpass123`.
    pub(crate) fn start(port: u16) -> Snmpd {
        Self::start_with(
            &format!(
                "agentAddress udp:127.0.0.1:{port}\nrocommunity public 127.0.0.1\ncreateUser telemetry SHA \"authpass123\" AES \"privpass123\"\ncreateUser tele256 SHA-256 \"authpass123\" AES-256 \"privpass123\"\nrouser telemetry priv\nrouser tele256 priv\n"
            ),
            None,
            &format!("127.0.0.1:{port}"),
        )
    }

    /// Starts snmpd with the configuration `conf`, inside the network namespace
    /// `netns` when given, and waits until `endpoint` answers community `public`.
    pub(crate) fn start_with(conf: &str, netns: Option<&str>, endpoint: &str) -> Snmpd {
        let dir = tempfile::tempdir().unwrap();
        let conf_path = dir.path().join("snmpd.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let mut cmd = match netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, "snmpd"]);
                c
            }
            None => Command::new("snmpd"),
        };
        let child = cmd
            .args(["-f", "-Lo", "-C", "-c"])
            .arg(&conf_path)
            .arg("-p")
            .arg(dir.path().join("snmpd.pid"))
            .env("MIBS", "")
            .env("SNMP_PERSISTENT_DIR", dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start snmpd ({e}): apt-get install snmpd snmp (scripts/setup-peers.sh does)")
            });
        let s = Snmpd { child, _dir: dir };
        wait_for_agent(&["-v2c", "-c", "public"], endpoint);
        s
    }
}

impl Drop for Snmpd {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

/// A free UDP port on 127.0.0.1.
pub(crate) fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
