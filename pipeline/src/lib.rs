//! The bus that carries events between SOTP's stages, and (in later issues) the streaming
//! stage and alert evaluation.
//!
//! One trait, [`Bus`], with an in-process implementation ([`MemoryBus`]) that needs
//! nothing installed. A Kafka implementation plugs in behind the same trait.

pub mod bus;
pub mod inventory;
pub mod stream;

pub use bus::{
    Bus, BusError, CommitOffsets, Delivery, KafkaBus, KafkaConfig, KafkaError, MemoryBus,
    MemoryBusConfig, Origin, Rebalance, Received, RevokeAck, Subscription,
};
