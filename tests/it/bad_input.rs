//! Bad configuration gets a clear message naming every problem, never a crash.

use std::process::Command;

use crate::common::BIN;

#[test]
fn config_check_reports_every_problem_and_run_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "colour = 1\n[icmp]\ncount = -1\n[[devices]]\nname = \"x\"\naddress = \"not-an-ip\"\n",
    )
    .unwrap();
    for args in [vec!["config", "check"], vec!["run", "--config"]] {
        let out = Command::new(BIN).args(&args).arg(&bad).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("3 problems"), "{err}");
        assert!(err.contains("colour: unknown field"), "{err}");
        assert!(err.contains("icmp.count: invalid value"), "{err}");
        assert!(
            err.contains("devices[0].address: `not-an-ip` is not an IPv4 or IPv6 address"),
            "{err}"
        );
    }

    let broken = dir.path().join("broken.toml");
    std::fs::write(&broken, "[icmp\ncount = 3\n").unwrap();
    let out = Command::new(BIN)
        .args(["config", "check"])
        .arg(&broken)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("(syntax, line 1)"));

    let out = Command::new(BIN)
        .args(["config", "check", "/nonexistent/sotp.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read"));
}

#[test]
fn printed_example_is_a_valid_config() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["config", "example"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let file = dir.path().join("example.toml");
    std::fs::write(&file, &out.stdout).unwrap();
    let stdout = crate::common::stdout_ok(Command::new(BIN).args(["config", "check"]).arg(&file));
    assert!(String::from_utf8_lossy(&stdout).contains("ok (0 devices"));
}

#[test]
fn query_without_a_server_says_how_to_fix_it() {
    let out = Command::new(BIN)
        .args(["query", "--server", "http://127.0.0.1:9", "SELECT 1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot reach SOTP") && err.contains("--data-dir"),
        "{err}"
    );
}
