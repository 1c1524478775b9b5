//! `sotp health`, the container health check: healthy while `sotp run` runs, stale
//! after the process is killed, absent after a clean stop (the Kafka case, a bus that
//! cannot deliver, is in `kafka::outage`).

use crate::common::{Server, free_port, health, wait_health};

#[test]
fn health_is_fresh_while_running_stale_after_a_kill_and_gone_after_a_clean_stop() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("sotp.toml");
    std::fs::write(&cfg, "").unwrap();
    let data = dir.path().join("data");
    let mut server = Server::start(&cfg, &data, free_port());
    wait_health(&data, "30s", true, "healthy: pid");
    let (_, said) = health(&data, "30s");
    assert!(said.contains("(collector,pipeline,sink,api)"), "{said}");
    server.stop();
    let (ok, said) = health(&data, "30s");
    assert!(!ok && said.contains("no heartbeat"), "{said}");

    // Killed: the file stays and ages past --max-age.
    let mut server = Server::start(&cfg, &data, free_port());
    wait_health(&data, "30s", true, "healthy: pid");
    let mut child = server.child.take().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    wait_health(&data, "1s", false, "the process hangs or has died");
}
