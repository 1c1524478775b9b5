//! Reports: what managers ask of a monitoring tool, as SQL over SOTP's tables plus its
//! presentation.
//!
//! Each report type is a handful of documented SELECT statements ([`sql`]); users can read
//! them (`sotp report --show-sql`) and run them themselves. [`generate`] runs them through
//! the query engine with the report's period and device filter spliced in as checked
//! literals, and [`render`] turns the answers into CSV, Parquet or HTML.
//!
//! - **availability**: per device the seconds up, down and unknown (a poll that was not
//!   made is unknown, never up), the uptime ratio over the known time, the data
//!   completeness, whether the SLA target was met; per location; every downtime episode.
//! - **performance**: min, mean, p95 and max of round-trip time, loss, jitter, CPU,
//!   memory and interface utilization per device, and the top N.
//! - **alerts**: firing and resolved counts by severity, rule and device, the time to
//!   resolve each alert and its mean (MTTR), the noisiest rules and devices.
//! - **inventory**: every device with when each collector last heard from it.

mod pdf;
mod render;
pub mod schedule;
pub mod sql;

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sotp_query::QueryEngine;

pub use render::{Format, render};

/// The four report types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReportKind {
    /// Uptime, downtime, unknown time, SLA, downtime episodes.
    Availability,
    /// Latency, loss, jitter, CPU, memory and utilization statistics.
    Performance,
    /// Alert counts, time to resolve, noisiest rules and devices.
    Alerts,
    /// Devices and the last time each collector heard from them.
    Inventory,
}

impl ReportKind {
    /// Every report type, in the order of the documentation.
    pub const ALL: [ReportKind; 4] = [
        ReportKind::Availability,
        ReportKind::Performance,
        ReportKind::Alerts,
        ReportKind::Inventory,
    ];

    /// The type's name: `availability`, `performance`, `alerts`, `inventory`.
    pub fn as_str(self) -> &'static str {
        match self {
            ReportKind::Availability => "availability",
            ReportKind::Performance => "performance",
            ReportKind::Alerts => "alerts",
            ReportKind::Inventory => "inventory",
        }
    }

    /// A title for people.
    pub fn title(self) -> &'static str {
        match self {
            ReportKind::Availability => "Availability",
            ReportKind::Performance => "Performance",
            ReportKind::Alerts => "Alerts",
            ReportKind::Inventory => "Inventory",
        }
    }
}

impl fmt::Display for ReportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ReportKind {
    type Err = ReportError;

    fn from_str(s: &str) -> Result<Self, ReportError> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                ReportError::Invalid(format!(
                    "unknown report type `{s}` (availability, performance, alerts or inventory)"
                ))
            })
    }
}

/// What a report covers.
#[derive(Clone, Debug, PartialEq)]
pub struct ReportSpec {
    /// The report type.
    pub kind: ReportKind,
    /// Start of the period, included.
    pub from: DateTime<Utc>,
    /// End of the period, excluded.
    pub to: DateTime<Utc>,
    /// Only these device ids (none: every device).
    pub devices: Vec<String>,
    /// Only devices with at least one of these tags (none: no tag filter).
    pub tags: Vec<String>,
    /// The ICMP poll interval: availability counts one poll per interval.
    pub poll_interval: Duration,
    /// The availability target, a ratio (0.999 is 99.9 %).
    pub sla_target: f64,
    /// Rows of the "top" tables.
    pub top: usize,
}

impl ReportSpec {
    /// A report of `kind` over `[from, to)` with the defaults: every device, 30 s polls,
    /// a 99.9 % target, top 10.
    pub fn new(kind: ReportKind, from: DateTime<Utc>, to: DateTime<Utc>) -> Self {
        Self {
            kind,
            from,
            to,
            devices: Vec::new(),
            tags: Vec::new(),
            poll_interval: Duration::from_secs(30),
            sla_target: 0.999,
            top: 10,
        }
    }

    /// Refuses a report that cannot be made, naming what is wrong.
    pub fn validate(&self) -> Result<(), ReportError> {
        if self.from >= self.to {
            return Err(ReportError::Invalid(format!(
                "`from` ({}) must be before `to` ({})",
                self.from.to_rfc3339(),
                self.to.to_rfc3339()
            )));
        }
        if self.poll_interval < Duration::from_secs(1) {
            return Err(ReportError::Invalid(
                "the poll interval must be at least 1 s".into(),
            ));
        }
        if !(0.0..=1.0).contains(&self.sla_target) {
            return Err(ReportError::Invalid(format!(
                "the SLA target is a ratio from 0 to 1, not {}",
                self.sla_target
            )));
        }
        if self.top == 0 {
            return Err(ReportError::Invalid("`top` must be at least 1".into()));
        }
        for d in &self.devices {
            sql::literal(d).map_err(|e| ReportError::Invalid(format!("device `{d}`: {e}")))?;
        }
        for t in &self.tags {
            sql::literal(t).map_err(|e| ReportError::Invalid(format!("tag `{t}`: {e}")))?;
        }
        Ok(())
    }
}

/// A line chart drawn from two columns of a section (HTML and PDF).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Chart {
    /// The time column (x).
    pub x: &'static str,
    /// The value column (y).
    pub y: &'static str,
}

/// One table of a report.
#[derive(Clone, Debug)]
pub struct Section {
    /// Its name: the first section's is the report's own (`devices`), the others name
    /// what they show (`locations`, `episodes`, ...).
    pub name: &'static str,
    /// A heading for people.
    pub title: &'static str,
    /// The columns.
    pub schema: SchemaRef,
    /// The rows.
    pub batches: Vec<RecordBatch>,
    /// Drawn as a line chart too.
    pub chart: Option<Chart>,
}

impl Section {
    /// Rows of the section.
    pub fn rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }
}

/// A generated report: its sections in order; the first is the one CSV and Parquet hold.
#[derive(Clone, Debug)]
pub struct Report {
    /// What was asked.
    pub spec: ReportSpec,
    /// When it was made.
    pub generated_at: DateTime<Utc>,
    /// The tables.
    pub sections: Vec<Section>,
}

/// Why a report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The request itself is wrong.
    #[error("{0}")]
    Invalid(String),
    /// A query of the report failed.
    #[error("the {section} query failed: {message}")]
    Query {
        /// The section whose query failed.
        section: &'static str,
        /// The engine's or the server's error.
        message: String,
    },
    /// Encoding the result failed.
    #[error("encoding the report: {0}")]
    Encode(String),
}

/// Runs the report's queries on `engine`, section by section; `progress` is told each
/// section's title before it runs.
pub async fn generate(
    engine: &QueryEngine,
    spec: &ReportSpec,
    progress: impl FnMut(&str),
) -> Result<Report, ReportError> {
    generate_with(spec, progress, |sql| async move {
        engine
            .execute(&sql)
            .await
            .map(|out| (out.schema.clone(), out.batches.clone()))
            .map_err(|e| e.to_string())
    })
    .await
}

/// Like [`generate`], with `run` answering each statement (a remote server's export,
/// for example): the result's columns and rows, or why it failed.
pub async fn generate_with<F, Fut>(
    spec: &ReportSpec,
    mut progress: impl FnMut(&str),
    mut run: F,
) -> Result<Report, ReportError>
where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = Result<(SchemaRef, Vec<RecordBatch>), String>>,
{
    spec.validate()?;
    let mut sections = Vec::new();
    for q in sql::queries(spec)? {
        progress(q.title);
        let (schema, batches) = run(q.sql).await.map_err(|message| ReportError::Query {
            section: q.name,
            message,
        })?;
        sections.push(Section {
            name: q.name,
            title: q.title,
            schema,
            batches,
            chart: q.chart,
        });
    }
    Ok(Report {
        spec: spec.clone(),
        generated_at: Utc::now(),
        sections,
    })
}

#[cfg(test)]
mod tests;
