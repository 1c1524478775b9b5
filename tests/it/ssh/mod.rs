//! The SSH collector's side of SOTP: TextFSM parsing of command outputs (`sotp parse`),
//! and real OpenSSH servers playing network devices (`peer`, `fake_cli.py`).

mod collect;
mod execute;
mod kafka;
mod parse;
mod peer;
mod runner;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{Server, corpora, stdout_ok};
use peer::FakeDevice;

pub(super) fn corpus(path: &str) -> PathBuf {
    corpora().join("ntc").join(path)
}

pub(super) fn ios_brief() -> PathBuf {
    corpus("cisco_ios/show_ip_interface_brief/cisco_ios_show_ip_interface_brief.raw")
}

pub(super) fn ios_device(hang: &[&str]) -> FakeDevice {
    FakeDevice {
        name: "r1".into(),
        prompt: "r1#".into(),
        outputs: vec![
            ("show ip interface brief".into(), ios_brief()),
            (
                "show interfaces".into(),
                corpus("cisco_ios/show_interfaces/cisco_ios_show_interfaces.raw"),
            ),
        ],
        hang: hang.iter().map(|s| s.to_string()).collect(),
        paging: false,
        more: " --More-- ".into(),
        paging_off: Vec::new(),
        legacy_only: false,
    }
}

/// `[[devices]]` r1 on 127.0.0.1, a `cisco_ios` reached on `peer` with the key in `key`
/// and the peer's host key pinned.
pub(super) fn r1_toml(peer: &peer::SshPeer, key: &std::path::Path) -> String {
    format!(
        r#"
[[devices]]
id = "r1"
name = "r1"
address = "127.0.0.1"
ssh = {{ user = {user:?}, key = "file:{key}", platform = "cisco_ios", host_key = {host:?}, port = {port} }}
"#,
        user = peer.user,
        key = key.display(),
        host = peer.host_fingerprint,
        port = peer.port,
    )
}

/// `show running-config` runs the device received so far.
pub(super) fn backups(peer: &peer::SshPeer) -> usize {
    peer.received()
        .iter()
        .filter(|(k, b)| k == "exec" && b == b"show running-config")
        .count()
}

/// Polls `done` until it holds, at most 60 s (then fails with the server's log).
pub(super) fn wait_for(what: &str, server: &Server, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within 60 s; log:\n{}",
            server.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// ntc-templates' folder (`SOTP_NTC_TEMPLATES`, installed by scripts/setup-peers.sh).
pub(super) fn templates() -> String {
    std::env::var("SOTP_NTC_TEMPLATES").expect(
        "SOTP_NTC_TEMPLATES is not set: run scripts/test.sh (scripts/setup-peers.sh installs ntc-templates)",
    )
}

/// What Python's ntc-templates `parse_output` returns for `raw`: the reference rows.
pub(super) fn python_rows(platform: &str, command: &str, raw: &PathBuf) -> Value {
    let py = std::env::var("SOTP_PYTHON").expect("SOTP_PYTHON (scripts/test.sh)");
    let out = stdout_ok(
        std::process::Command::new(py)
            .args([
                "-c",
                "import json,sys\nfrom ntc_templates.parse import parse_output\n\
                 print(json.dumps(parse_output(platform=sys.argv[1], command=sys.argv[2], data=open(sys.argv[3]).read())))",
                platform,
                command,
            ])
            .arg(raw)
            .env("NTC_TEMPLATES_DIR", templates()),
    );
    serde_json::from_slice(&out).unwrap()
}
