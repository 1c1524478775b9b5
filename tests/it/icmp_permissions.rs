//! ICMP without root: the datagram socket when `ping_group_range` allows it, and a clear
//! error naming both fixes when neither socket kind is allowed.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{BIN, Server, free_port};

const RANGE: &str = "/proc/sys/net/ipv4/ping_group_range";

/// Sets `net.ipv4.ping_group_range` and restores the old value when dropped.
struct PingGroupRange(String);

impl PingGroupRange {
    fn set(value: &str) -> Self {
        let old = std::fs::read_to_string(RANGE).expect("read ping_group_range");
        std::fs::write(RANGE, value)
            .unwrap_or_else(|e| panic!("this test must run as root to set {RANGE}: {e}"));
        Self(old)
    }
}

impl Drop for PingGroupRange {
    fn drop(&mut self) {
        let _ = std::fs::write(RANGE, self.0.trim());
    }
}

fn as_nobody() -> Command {
    let mut c = Command::new("setpriv");
    c.args([
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "--",
        BIN,
    ]);
    c
}

#[test]
fn unprivileged_icmp_works_when_allowed_and_explains_itself_when_not() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    let config = dir.path().join("sotp.toml");
    std::fs::write(
        &config,
        "[icmp]\ninterval = \"1s\"\ntimeout = \"200ms\"\n[[device_ranges]]\nname_prefix = \"u-\"\nfirst_address = \"127.9.2.1\"\ncount = 5\n",
    )
    .unwrap();

    // Neither raw sockets (no CAP_NET_RAW) nor datagram sockets (group not in range).
    {
        let _range = PingGroupRange::set("1 0");
        let data = dir.path().join("denied");
        let mut child = as_nobody()
            .args(["run", "--config"])
            .arg(&config)
            .arg("--data-dir")
            .arg(&data)
            .env("SOTP__API__LISTEN", format!("127.0.0.1:{}", free_port()))
            .env("SOTP__PGWIRE__LISTEN", "127.0.0.1:0")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while child.try_wait().unwrap().is_none() {
            assert!(
                Instant::now() < deadline,
                "sotp kept running without ICMP rights"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains("net.ipv4.ping_group_range"), "{err}");
        assert!(err.contains("setcap cap_net_raw"), "{err}");
    }

    // Datagram ICMP allowed for every group: works unprivileged.
    let _range = PingGroupRange::set("0 2147483647");
    let mut server = Server::start_with(
        as_nobody(),
        &config,
        &dir.path().join("allowed"),
        free_port(),
    );
    std::thread::sleep(Duration::from_secs(3));
    let up = server.rows(
        "SELECT count(DISTINCT device_id) FROM metrics WHERE metric = 'icmp.up' AND value = 1",
    );
    assert_eq!(up[0][0], 5, "{}", server.log_text());
    assert!(
        server.log_text().contains("socket=Type(DGRAM)") || server.log_text().contains("DGRAM"),
        "{}",
        server.log_text()
    );
    assert_eq!(server.stop(), 0);
}
