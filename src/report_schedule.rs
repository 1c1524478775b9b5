//! `[[report_schedules]]`: reports the api role makes on a schedule and sends by email.
//!
//! Each schedule keeps the time of its last run on the object store
//! (`reports/schedules/<name>.json`). A schedule seen for the first time starts with its
//! next run; one that owes runs (SOTP was down at their time) makes them when it comes
//! back, oldest first, at most the [`MAX_OWED`] latest. A run that fails (the SMTP server
//! refuses, a query fails) is retried a minute later; it is counted in
//! `sotp_report_schedule_failures_total` and logged.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStoreExt, PutPayload};
use sotp_inventory::Role;
use sotp_notify::{Channel, ReceiverKind};
use sotp_query::QueryEngine;
use sotp_reports::schedule::{Every, ScheduleConfig, due};
use sotp_reports::{Format, ReportSpec};
use sotp_server::Reports;
use tokio_util::sync::CancellationToken;

use crate::config::Config;

/// Runs a schedule owes at most, the latest ones.
pub const MAX_OWED: usize = 12;

/// Every problem of the configured schedules, as (field, reason).
pub fn problems(config: &Config) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut names = std::collections::BTreeSet::new();
    for (i, s) in config.report_schedules.iter().enumerate() {
        let at = |f: &str| format!("report_schedules[{i}].{f}");
        if s.name.trim().is_empty() {
            out.push((at("name"), "must not be empty".into()));
        } else if !names.insert(s.name.as_str()) {
            out.push((at("name"), format!("`{}` is used twice", s.name)));
        }
        if let Err(e) = Every::parse(&s.every, s.period) {
            out.push((at("every"), e));
        }
        match config.receivers.iter().find(|r| r.name == s.receiver) {
            None => out.push((
                at("receiver"),
                format!("no [[receivers]] named `{}`", s.receiver),
            )),
            Some(r) if r.kind != ReceiverKind::Email => out.push((
                at("receiver"),
                format!("`{}` is not an email receiver", s.receiver),
            )),
            Some(_) => {}
        }
        let mut spec = ReportSpec::new(s.kind, DateTime::UNIX_EPOCH, Utc::now());
        spec.devices = s.devices.clone();
        spec.tags = s.tags.clone();
        spec.sla_target = s.sla.unwrap_or(spec.sla_target);
        if let Err(e) = spec.validate() {
            out.push((format!("report_schedules[{i}]"), e.to_string()));
        }
    }
    out
}

fn state_path(name: &str) -> ObjectPath {
    ObjectPath::from(format!("reports/schedules/{name}.json"))
}

async fn last_run(reports: &Reports, name: &str) -> Option<DateTime<Utc>> {
    let bytes = reports
        .store()
        .get(&state_path(name))
        .await
        .ok()?
        .bytes()
        .await
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    DateTime::parse_from_rfc3339(v["last_run"].as_str()?)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

async fn record(reports: &Reports, name: &str, at: DateTime<Utc>) {
    let body = serde_json::json!({ "last_run": at.to_rfc3339() }).to_string();
    if let Err(e) = reports
        .store()
        .put(&state_path(name), PutPayload::from(body.into_bytes()))
        .await
    {
        tracing::error!(schedule = name, error = %e, "cannot record the scheduled report's run");
    }
}

struct Scheduled {
    config: ScheduleConfig,
    every: Every,
    channel: Channel,
    last: Option<DateTime<Utc>>,
    retry_after: Option<tokio::time::Instant>,
}

/// Starts the schedules of `config` (none: no task).
pub fn start(
    config: &Config,
    reports: Arc<Reports>,
    engine: QueryEngine,
    stop: CancellationToken,
) -> anyhow::Result<Option<tokio::task::JoinHandle<()>>> {
    if config.report_schedules.is_empty() {
        return Ok(None);
    }
    let receivers = config.resolved_receivers().map_err(anyhow::Error::msg)?;
    let mut scheduled = Vec::new();
    for s in &config.report_schedules {
        let every = Every::parse(&s.every, s.period).map_err(anyhow::Error::msg)?;
        let receiver = receivers
            .iter()
            .find(|r| r.name == s.receiver)
            .ok_or_else(|| {
                anyhow::anyhow!("report schedule `{}`: no receiver `{}`", s.name, s.receiver)
            })?;
        scheduled.push(Scheduled {
            config: s.clone(),
            every,
            channel: Channel::new(receiver).map_err(anyhow::Error::msg)?,
            last: None,
            retry_after: None,
        });
    }
    Ok(Some(tokio::spawn(async move {
        for s in &mut scheduled {
            s.last = last_run(&reports, &s.config.name).await;
            if s.last.is_none() {
                // First seen: start from the latest run time, owing nothing.
                let baseline = s.every.latest(Utc::now()).unwrap_or_else(Utc::now);
                record(&reports, &s.config.name, baseline).await;
                s.last = Some(baseline);
            }
            tracing::info!(schedule = %s.config.name, every = %s.config.every, kind = %s.config.kind, "report scheduled");
        }
        loop {
            for s in &mut scheduled {
                if s.retry_after
                    .is_some_and(|t| tokio::time::Instant::now() < t)
                {
                    continue;
                }
                for at in due(&s.every, s.last, Utc::now(), MAX_OWED) {
                    match run(s, &reports, &engine, at).await {
                        Ok(()) => {
                            s.last = Some(at);
                            s.retry_after = None;
                            record(&reports, &s.config.name, at).await;
                        }
                        Err(e) => {
                            metrics::counter!("sotp_report_schedule_failures_total").increment(1);
                            tracing::error!(schedule = %s.config.name, run = %at, error = %e, "scheduled report failed; retrying in a minute");
                            s.retry_after =
                                Some(tokio::time::Instant::now() + Duration::from_secs(60));
                            break;
                        }
                    }
                }
            }
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    })))
}

/// Makes the run at `at` and sends it.
async fn run(
    s: &Scheduled,
    reports: &Arc<Reports>,
    engine: &QueryEngine,
    at: DateTime<Utc>,
) -> Result<(), String> {
    let (from, to) = s
        .every
        .period_before(at)
        .ok_or_else(|| format!("no period before {at}"))?;
    let c = &s.config;
    let mut spec = ReportSpec::new(c.kind, from, to);
    spec.devices = c.devices.clone();
    spec.tags = c.tags.clone();
    spec.poll_interval = reports.poll_interval;
    spec.sla_target = c.sla.unwrap_or(spec.sla_target);
    let actor = format!("schedule:{}", c.name);
    let (job, file) = reports
        .make(engine, &spec, c.format, &actor, Role::Admin.sql_tables())
        .await?;
    let period = format!(
        "{} to {}",
        from.format("%Y-%m-%d %H:%M UTC"),
        to.format("%Y-%m-%d %H:%M UTC")
    );
    let subject = format!("SOTP {} report: {period}", c.kind);
    let text = format!(
        "The {} report of SOTP for {period} (schedule `{}`) is attached as {}.\n\
         It is also stored on the server as report {}.\n",
        c.kind,
        c.name,
        format_name(c.format),
        job.id
    );
    let filename = format!(
        "sotp-{}-{}.{}",
        c.kind,
        from.format("%Y-%m-%d"),
        c.format.as_str()
    );
    s.channel
        .send_file(
            &subject,
            &text,
            &filename,
            content_type(c.format),
            file.to_vec(),
        )
        .await?;
    tracing::info!(schedule = %c.name, report = %job.id, %period, "scheduled report sent");
    Ok(())
}

fn format_name(f: Format) -> &'static str {
    match f {
        Format::Csv => "CSV",
        Format::Parquet => "Parquet",
        Format::Html => "HTML",
        Format::Pdf => "PDF",
    }
}

/// The MIME type of a report file.
pub fn content_type(f: Format) -> &'static str {
    match f {
        Format::Csv => "text/csv",
        Format::Parquet => "application/vnd.apache.parquet",
        Format::Html => "text/html",
        Format::Pdf => "application/pdf",
    }
}
