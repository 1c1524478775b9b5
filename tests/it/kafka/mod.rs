//! The Kafka bus against a real Kafka-API broker (tansu) and an outside Python consumer.

mod bad_input;
mod compose;
mod e2e;
mod fetch_stats;
mod live_inventory;
mod log_repeats;
mod multi_sink;
mod outage;
mod outside;
pub(crate) mod peer;
mod secure;
mod secure_peer;
mod shard;
mod spool;
