//! The registry: every collector, operator and sink SOTP runs, listed in one place.
//! Adding a component means adding it here (and its settings to the configuration);
//! the roles ([`crate::roles`]) start and stop whatever these functions return, the
//! same way on either bus.

use std::sync::Arc;

use sotp_alerts::{AlertWindows, RuleConfig};
use sotp_bus::Bus;
use sotp_bus::checkpoint::InputOffsets;
use sotp_ingest::{Collector, Icmp, Snmp, Syslog};
use sotp_pipeline::operator::Operator;
use sotp_pipeline::stream::{Derive, state_path};
use sotp_schemas::Topic;
use sotp_sinks::{
    RecentAlerts, RecentLogs, Repeats, Rows, SeriesWatermark, Sink, TableSink, TableStore,
    load_with_watermark,
};

use tokio::sync::watch;

use crate::config::Config;

/// The collectors the configuration turns on.
pub fn collectors(config: &Config) -> Vec<Box<dyn Collector>> {
    let mut all: Vec<Box<dyn Collector>> = Vec::new();
    if config.icmp.enabled {
        all.push(Box::new(Icmp(config.icmp.clone())));
    }
    if config.snmp.enabled {
        all.push(Box::new(Snmp(config.snmp.clone())));
    }
    if config.syslog.enabled {
        all.push(Box::new(Syslog(config.syslog.clone())));
    }
    if !config.ssh.backup_interval.is_zero() || !config.ssh.collect.is_empty() {
        all.push(Box::new(sotp_ingest::ssh::Ssh {
            config: config.ssh.clone(),
            state_dir: Some(config.data_dir.join("ssh")),
        }));
    }
    all
}

/// The operators of the streaming stage, each restored from its saved state with the
/// input offsets that state includes. The alert windows run when the configuration has
/// rules or `rule_feed` brings the rules managed through the API.
pub fn operators(
    config: &Config,
    rule_feed: Option<watch::Receiver<Vec<RuleConfig>>>,
) -> anyhow::Result<Vec<(Box<dyn Operator>, InputOffsets)>> {
    let mut all: Vec<(Box<dyn Operator>, InputOffsets)> = Vec::new();
    if config.stream.enabled {
        let (derive, offsets) = Derive::load(state_path(&config.data_dir), &config.stream);
        all.push((Box::new(derive), offsets));
    }
    if !config.alert_rules.is_empty() || rule_feed.is_some() {
        let (mut windows, offsets) = AlertWindows::load(
            &config.alert_rules,
            config.alerting.clone(),
            sotp_alerts::state_path(&config.data_dir),
        )?;
        if let Some(feed) = rule_feed {
            windows = windows.with_rule_feed(feed);
        }
        all.push((Box::new(windows), offsets));
    }
    Ok(all)
}

/// The tables a process's roles write or read.
#[derive(Debug)]
pub struct Tables {
    /// `metrics`: raw and derived samples.
    pub metrics: Arc<TableStore>,
    /// `metrics_1m`: closed 1-minute rollups.
    pub rollups: Arc<TableStore>,
    /// `logs`: syslog records.
    pub logs: Arc<TableStore>,
    /// `alerts`: every alert transition.
    pub alerts: Arc<TableStore>,
    /// `command_outputs`: SSH command runs and configuration versions.
    pub commands: Arc<TableStore>,
}

impl Tables {
    /// Every table.
    pub fn all(&self) -> Vec<Arc<TableStore>> {
        vec![
            self.metrics.clone(),
            self.rollups.clone(),
            self.logs.clone(),
            self.alerts.clone(),
            self.commands.clone(),
        ]
    }
}

/// The sinks of a process running the sink role. On a shared bus (Kafka) each drops
/// the events it may be handed twice: raw samples delivered twice by a producer, stage
/// outputs produced again after the stage's restart, log records delivered twice.
pub async fn sinks(
    config: &Config,
    tables: &Tables,
    bus: &dyn Bus,
) -> anyhow::Result<Vec<Box<dyn Sink>>> {
    let shared = bus.is_shared();
    let (raw, derived) = match shared {
        true => {
            let (recent, watermark) = load_with_watermark(&tables.metrics).await?;
            (
                Some(Repeats::Exact(recent)),
                Some(Repeats::Watermark(watermark)),
            )
        }
        false => (None, None),
    };
    let rollups = match shared {
        true => Some(Repeats::Watermark(
            SeriesWatermark::load(&tables.rollups).await?,
        )),
        false => None,
    };
    let logs = match shared {
        true => Some(Repeats::Logs(RecentLogs::load(&tables.logs).await?)),
        false => None,
    };
    let alerts = match shared {
        true => Some(Repeats::Alerts(RecentAlerts::load(&tables.alerts).await?)),
        false => None,
    };
    let storage = &config.storage;
    let sink = |topic, rows, table: &Arc<TableStore>, repeats| -> Box<dyn Sink> {
        Box::new(TableSink::new(
            topic,
            rows,
            table.clone(),
            storage.clone(),
            repeats,
        ))
    };
    Ok(vec![
        sink(Topic::MetricsRaw, Rows::Metrics, &tables.metrics, raw),
        sink(Topic::Metrics, Rows::Metrics, &tables.metrics, derived),
        sink(Topic::Rollups, Rows::Rollups, &tables.rollups, rollups),
        sink(Topic::Logs, Rows::Logs, &tables.logs, logs),
        sink(Topic::Alerts, Rows::Alerts, &tables.alerts, alerts),
        sink(Topic::Commands, Rows::Commands, &tables.commands, None),
    ])
}
