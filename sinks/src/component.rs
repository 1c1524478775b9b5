//! The `Sink` trait: one topic into one table. Every sink of SOTP (raw and derived
//! metrics into `metrics`, rollups into `metrics_1m`, logs into `logs`) is a
//! [`TableSink`] over the one sink loop ([`crate::sink`]), differing only in the kind of
//! rows and in how it tells a repeated event on Kafka ([`Repeats`]).

use std::sync::Arc;

use async_trait::async_trait;
use sotp_bus::Subscription;
use sotp_schemas::{
    AlertBatchBuilder, CommandBatchBuilder, LogBatchBuilder, MetricBatchBuilder,
    RollupBatchBuilder, Topic,
};
use tokio_util::sync::CancellationToken;

use crate::sink::{Repeats, SinkRows, run_sink};
use crate::{StorageConfig, TableStore};

/// A consumer of one topic that writes what it reads, durably and exactly once.
#[async_trait]
pub trait Sink: Send + std::fmt::Debug {
    /// For logs and the consumer group: `sink.<topic>`.
    fn name(&self) -> String;
    /// The topic it reads.
    fn topic(&self) -> Topic;
    /// Reads `sub` until the bus closes (or `shutdown` once the bus stopped delivering),
    /// then makes everything durable.
    async fn run(self: Box<Self>, sub: Box<dyn Subscription>, shutdown: CancellationToken);
}

/// Which rows a [`TableSink`] writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rows {
    /// Metric samples (`metrics.raw`, `metrics`).
    Metrics,
    /// 1-minute rollups (`metrics.1m`).
    Rollups,
    /// Log records (`logs`).
    Logs,
    /// Alert transitions (`alerts`).
    Alerts,
    /// SSH command runs (`commands`).
    Commands,
}

/// One topic into one table.
#[derive(Debug)]
pub struct TableSink {
    topic: Topic,
    rows: Rows,
    table: Arc<TableStore>,
    config: StorageConfig,
    repeats: Option<Repeats>,
}

impl TableSink {
    /// Writes `topic`'s `rows` into `table`; on Kafka, `repeats` drops events delivered
    /// or produced twice.
    pub fn new(
        topic: Topic,
        rows: Rows,
        table: Arc<TableStore>,
        config: StorageConfig,
        repeats: Option<Repeats>,
    ) -> Self {
        Self {
            topic,
            rows,
            table,
            config,
            repeats,
        }
    }
}

#[async_trait]
impl Sink for TableSink {
    fn name(&self) -> String {
        format!("sink.{}", self.topic.name())
    }

    fn topic(&self) -> Topic {
        self.topic
    }

    async fn run(self: Box<Self>, sub: Box<dyn Subscription>, shutdown: CancellationToken) {
        let s = *self;
        match s.rows {
            Rows::Metrics => go::<MetricBatchBuilder>(s, sub, shutdown).await,
            Rows::Rollups => go::<RollupBatchBuilder>(s, sub, shutdown).await,
            Rows::Logs => go::<LogBatchBuilder>(s, sub, shutdown).await,
            Rows::Alerts => go::<AlertBatchBuilder>(s, sub, shutdown).await,
            Rows::Commands => go::<CommandBatchBuilder>(s, sub, shutdown).await,
        }
    }
}

async fn go<B: SinkRows>(s: TableSink, sub: Box<dyn Subscription>, shutdown: CancellationToken) {
    run_sink::<B>(sub, s.table, s.config, shutdown, s.repeats).await;
}
