//! From the `[bus]` section to the Kafka bus's settings.

use std::path::PathBuf;

use sotp_kafka::{KafkaConfig, Security};
use sotp_schemas::Secret;

use crate::config::{Config, secrets};

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

/// The Kafka settings of `config` (messages that cannot be decoded are set aside under
/// `<data_dir>/dead-letter/`).
pub fn kafka_config(config: &Config) -> KafkaConfig {
    let b = &config.bus;
    KafkaConfig {
        brokers: b.brokers.clone(),
        topic_prefix: b.topic_prefix.clone(),
        partitions: b.partitions,
        replication: b.replication,
        buffer_events: b.buffer_events,
        spool_dir: Some(config.data_dir.join("spool")),
        spool_max_bytes: b.spool_max_bytes,
        session_timeout: b.session_timeout,
        group_prefix: b.group_prefix.clone(),
        dead_letter_dir: Some(config.data_dir.join("dead-letter")),
        security: Security {
            protocol: b.security_protocol,
            sasl_mechanism: non_empty(&b.sasl_mechanism),
            sasl_username: non_empty(&b.sasl_username),
            // A reference that does not resolve is reported by `Config::validate`.
            sasl_password: non_empty(&b.sasl_password.0)
                .map(|raw| Secret::new(secrets::resolve(&raw).unwrap_or_default())),
            ssl_ca_location: non_empty(&b.ssl_ca_location).map(PathBuf::from),
        },
        statistics_interval: None,
    }
}
