//! The topics are a public interface: an outside consumer in Python (confluent-kafka +
//! jsonschema, `examples/consumer.py`) validates every message of every topic.

use std::time::Duration;

use super::peer::{RoleProc, Tansu, devices_toml, kafka_toml, outside_consumer, producer_totals};

#[test]
fn the_python_consumer_validates_every_message_of_every_topic() {
    let dir = tempfile::tempdir().unwrap();
    let tansu = Tansu::start(dir.path());
    let config = dir.path().join("sotp.toml");
    std::fs::write(
        &config,
        kafka_toml(&tansu.brokers, "") + &devices_toml("127.23.0.1", 10, 1),
    )
    .unwrap();
    let mut p = RoleProc::start(&config, &dir.path().join("data"), &["all"], None);
    p.wait_log(
        "polling the devices this collector owns",
        Duration::from_secs(60),
    );
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(p.stop(), 0, "{}", p.log_text());
    let (published, _, _) = producer_totals(&p.log_text());

    let (summary, ok) = outside_consumer(&tansu.brokers, "sotp.", None, None);
    assert!(ok, "invalid messages: {summary}");
    let topics = &summary["topics"];
    assert_eq!(
        topics["sotp.metrics.raw"]["valid"].as_u64(),
        Some(published)
    );
    assert_eq!(topics["sotp.inventory"]["valid"].as_u64(), Some(10));
    for t in [
        "sotp.metrics.raw",
        "sotp.metrics",
        "sotp.logs",
        "sotp.alerts",
        "sotp.inventory",
    ] {
        assert_eq!(topics[t]["invalid"].as_u64(), Some(0), "{t}: {summary}");
    }
    drop(tansu);
}
