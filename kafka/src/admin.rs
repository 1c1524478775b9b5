//! Topic creation on start: every topic of ARCHITECTURE.md, with the configured
//! partitions, created when missing. `inventory` is compacted (latest state per device),
//! like the shared state stores ([`super::state`]), created on first use.

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::RDKafkaErrorCode;
use sotp_schemas::Topic;

use super::probe::{CONNECT_TIMEOUT, probe};
use super::{KafkaConfig, KafkaError};

/// Checks that the brokers answer and accept this client (see [`super::probe`]), then
/// creates missing topics. A topic that exists with another partition count than
/// configured is used as it is, with a warning.
pub async fn ensure_topics(config: &KafkaConfig) -> Result<(), KafkaError> {
    let metadata = probe(config).await?;
    let mut missing = Vec::new();
    for topic in Topic::ALL {
        let name = config.topic(topic);
        match metadata.topics().iter().find(|t| t.name() == name) {
            Some(t) if t.error().is_none() && !t.partitions().is_empty() => {
                let n = t.partitions().len() as i32;
                if n != config.partitions {
                    tracing::warn!(topic = %name, partitions = n, configured = config.partitions,
                        "topic exists with another partition count than [bus] partitions; using it as it is");
                }
            }
            _ => missing.push((topic, name)),
        }
    }
    let missing: Vec<(String, bool)> = missing
        .into_iter()
        .map(|(topic, name)| (name, topic == Topic::Inventory))
        .collect();
    create(config, &missing).await
}

/// Creates the topics `(name, compacted)` that do not exist, with the configured
/// partitions and replication.
pub(crate) async fn create(
    config: &KafkaConfig,
    topics: &[(String, bool)],
) -> Result<(), KafkaError> {
    if topics.is_empty() {
        return Ok(());
    }
    let admin: AdminClient<DefaultClientContext> =
        config.client().create().map_err(KafkaError::Client)?;
    let new: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|(name, compacted)| {
            let t = NewTopic::new(
                name,
                config.partitions,
                TopicReplication::Fixed(config.replication),
            );
            if *compacted {
                t.set("cleanup.policy", "compact")
            } else {
                t
            }
        })
        .collect();
    let opts = AdminOptions::new().operation_timeout(Some(CONNECT_TIMEOUT));
    let results = admin
        .create_topics(new.iter(), &opts)
        .await
        .map_err(|source| KafkaError::Unreachable {
            brokers: config.brokers.clone(),
            source,
        })?;
    for r in results {
        match r {
            Ok(name) => {
                tracing::info!(topic = %name, partitions = config.partitions, "topic created")
            }
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => {
                return Err(KafkaError::Topic {
                    topic: name,
                    reason: format!(
                        "cannot be created with {} partitions and replication {}: {code}",
                        config.partitions, config.replication
                    ),
                });
            }
        }
    }
    Ok(())
}
