//! The SSH runner (`sotp-ssh`) on its own against real OpenSSH servers: many sessions at
//! once within its limits, and an interactive shell with echo, paging and prompts.

use std::time::Duration;

use sotp_ssh::{HostKeyPolicy, Platform, SshAuth, SshLimits, SshRunner, SshTarget};

use super::peer::{FakeDevice, SshPeer};
use super::{corpus, ios_brief, ios_device};

fn target(peer: &SshPeer, platform: &str, device: &str) -> SshTarget {
    SshTarget {
        device: device.into(),
        address: "127.0.0.1".parse().unwrap(),
        port: peer.port,
        user: peer.user.clone(),
        auth: SshAuth::Key {
            pem: peer.client_key_ed25519.clone(),
            passphrase: None,
        },
        host_key: HostKeyPolicy::Pinned(peer.host_fingerprint.clone()),
        platform: Platform::named(platform).unwrap(),
        legacy_algorithms: false,
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn a_hundred_sessions_at_once_each_get_the_whole_output() {
    let peer = SshPeer::start(&ios_device(&[]));
    let runner = SshRunner::new(SshLimits {
        max_sessions: 100,
        max_sessions_per_device: 100,
        connect_timeout: Duration::from_secs(60),
        command_timeout: Duration::from_secs(60),
        queue_timeout: Duration::from_secs(120),
        ..SshLimits::default()
    });
    let ios = Platform::named("cisco_ios").unwrap();
    let command = ios.check("show ip interface brief").unwrap();
    let want = std::fs::read_to_string(ios_brief())
        .unwrap()
        .replace("\r\n", "\n");
    let results = runtime().block_on(async {
        let runs = (0..100).map(|i| {
            let t = target(&peer, "cisco_ios", &format!("d{}", i % 10));
            let runner = &runner;
            let command = &command;
            async move { runner.run(&t, command).await }
        });
        futures::future::join_all(runs).await
    });
    let mut ok = 0;
    for r in &results {
        match r {
            Ok(out) => {
                assert_eq!(out.output, want);
                assert_eq!(out.exit_status, Some(0));
                assert_eq!(out.host_key, peer.host_fingerprint);
                ok += 1;
            }
            Err(e) => panic!("a session failed: {e}\nsshd log:\n{}", peer.log_text()),
        }
    }
    assert_eq!(ok, 100);
    let execs = peer.received_until(Duration::from_secs(10), |r| r.len() >= 100);
    assert_eq!(execs.len(), 100);
    assert!(
        execs
            .iter()
            .all(|(k, b)| k == "exec" && b == b"show ip interface brief")
    );
}

fn vrp_device(paging_off: &[&str]) -> FakeDevice {
    FakeDevice {
        name: "vrp1".into(),
        prompt: "<vrp1>".into(),
        outputs: vec![(
            "display interface brief".into(),
            corpus("huawei_vrp/display_interface_brief/huawei_vrp_display_interface_brief.raw"),
        )],
        hang: Vec::new(),
        paging: true,
        more: "  ---- More ----".into(),
        paging_off: paging_off.iter().map(|s| s.to_string()).collect(),
        legacy_only: false,
    }
}

#[test]
fn a_shell_session_turns_paging_off_or_pages_through_and_returns_only_the_output() {
    let raw = std::fs::read_to_string(corpus(
        "huawei_vrp/display_interface_brief/huawei_vrp_display_interface_brief.raw",
    ))
    .unwrap()
    .replace("\r\n", "\n");
    assert!(raw.lines().count() > 24, "the output must span pages");
    let vrp = Platform::named("huawei_vrp").unwrap();
    assert!(!vrp.exec);
    let command = vrp.check("dis int br").unwrap();
    let full = vrp.check("display interface brief").unwrap();
    let runner = SshRunner::new(SshLimits::default());
    let rt = runtime();
    // A device that knows `screen-length 0 temporary`, and one that does not (and so
    // pages: the runner answers its `---- More ----` prompts).
    for paging_off in [&["screen-length 0 temporary"][..], &[]] {
        let peer = SshPeer::start(&vrp_device(paging_off));
        let t = target(&peer, "huawei_vrp", "vrp1");
        let out = rt
            .block_on(runner.run(&t, &full))
            .unwrap_or_else(|e| panic!("{e}\nsshd log:\n{}", peer.log_text()));
        assert_eq!(
            out.output.trim_end(),
            raw.trim_end(),
            "paging_off: {paging_off:?}"
        );
        assert_eq!(out.exit_status, None);
        // The fake CLI knows only the full command: the abbreviation is sent as typed.
        let out = rt.block_on(runner.run(&t, &command)).unwrap();
        assert!(out.output.contains("Invalid input"), "{}", out.output);
        let typed: Vec<u8> = peer
            .received()
            .into_iter()
            .filter(|(k, _)| k == "shell")
            .flat_map(|(_, b)| b)
            .collect();
        let typed = String::from_utf8_lossy(&typed);
        assert!(typed.contains("screen-length 0 temporary\n"), "{typed:?}");
        assert!(typed.contains("display interface brief\n"), "{typed:?}");
        // Nothing but the setup, the commands and the pager's spaces.
        let rest = typed
            .replace("screen-length 0 temporary\n", "")
            .replace("display interface brief\n", "")
            .replace("dis int br\n", "");
        assert!(rest.chars().all(|c| c == ' '), "{rest:?}");
        assert_eq!(rest.is_empty(), !paging_off.is_empty(), "{rest:?}");
    }
}

#[test]
fn an_old_device_is_reached_only_with_legacy_algorithms_enabled_for_it() {
    let peer = SshPeer::start(&FakeDevice {
        legacy_only: true,
        ..ios_device(&[])
    });
    let runner = SshRunner::new(SshLimits::default());
    let rt = runtime();
    let command = Platform::named("cisco_ios")
        .unwrap()
        .check("show ip interface brief")
        .unwrap();
    let mut t = target(&peer, "cisco_ios", "old");
    let err = rt.block_on(runner.run(&t, &command)).unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("No common") && message.contains("diffie-hellman-group14-sha1"),
        "{message}"
    );
    assert!(peer.received().is_empty());
    t.legacy_algorithms = true;
    let out = rt
        .block_on(runner.run(&t, &command))
        .unwrap_or_else(|e| panic!("{e}\nsshd log:\n{}", peer.log_text()));
    assert_eq!(
        out.output,
        std::fs::read_to_string(ios_brief())
            .unwrap()
            .replace("\r\n", "\n")
    );
}
