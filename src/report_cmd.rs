//! `sotp report`: a report made from a running server (each statement through its
//! streaming export, as the caller's role allows) or directly from a data directory, with
//! a progress line per section, written to a file that appears only when complete.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use indicatif::{ProgressBar, ProgressStyle};
use sotp_query::{InventoryKind, InventoryTable, QueryEngine};
use sotp_reports::{Format, ReportKind, ReportSpec};
use sotp_sinks::ColdStore;

use crate::cli::{ReportArgs, ReportFormatArg, ReportTypeArg};
use crate::export_cmd::Partial;
use crate::query_cmd::refusal;
use crate::{config, run};

pub fn main(args: ReportArgs) -> ExitCode {
    crate::telemetry::block_on(report(args))
}

fn kind(k: ReportTypeArg) -> ReportKind {
    match k {
        ReportTypeArg::Availability => ReportKind::Availability,
        ReportTypeArg::Performance => ReportKind::Performance,
        ReportTypeArg::Alerts => ReportKind::Alerts,
        ReportTypeArg::Inventory => ReportKind::Inventory,
    }
}

fn format(f: ReportFormatArg) -> Format {
    match f {
        ReportFormatArg::Csv => Format::Csv,
        ReportFormatArg::Parquet => Format::Parquet,
        ReportFormatArg::Html => Format::Html,
        ReportFormatArg::Pdf => Format::Pdf,
    }
}

async fn report(args: ReportArgs) -> anyhow::Result<()> {
    let cfg = config::load(args.config.as_deref(), std::env::vars())?;
    let mut spec = ReportSpec::new(kind(args.kind), args.from, args.to);
    spec.devices = args.devices.clone();
    spec.tags = args.tags.clone();
    spec.sla_target = args.sla;
    spec.top = args.top;
    spec.poll_interval = args.interval.unwrap_or(cfg.icmp.interval);
    spec.validate()?;
    if args.show_sql {
        for q in sotp_reports::sql::queries(&spec)? {
            println!("-- {}\n{};\n", q.title, q.sql);
        }
        return Ok(());
    }
    let out = args
        .out
        .as_deref()
        .context("--out is required to write a report")?;
    let mut file = Partial::create(out, args.force)?;
    let started = Instant::now();
    let sections = sotp_reports::sql::queries(&spec)?.len() as u64;
    let bar = ProgressBar::new(sections);
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{pos}/{len}] {msg}")
            .expect("a valid template"),
    );
    let progress = |title: &str| {
        bar.inc(1);
        bar.set_message(title.to_string());
    };
    let report = match &args.data_dir {
        Some(dir) => {
            let mut cfg = cfg;
            cfg.data_dir = dir.clone();
            let (engine, _scratch) = local_engine(&cfg).await?;
            sotp_reports::generate(&engine, &spec, progress).await?
        }
        None => {
            let client = reqwest::Client::new();
            let (server, token) = (args.server.as_str(), args.token.as_deref());
            sotp_reports::generate_with(&spec, progress, |sql| {
                let client = client.clone();
                async move {
                    remote(&client, server, token, &sql)
                        .await
                        .map_err(|e| format!("{e:#}"))
                }
            })
            .await?
        }
    };
    bar.finish_and_clear();
    file.write(&sotp_reports::render(&report, format(args.format))?)?;
    let bytes = file.keep()?;
    let rows = report.sections.first().map_or(0, |s| s.rows());
    eprintln!(
        "{} report, {} rows in its main table, {bytes} bytes of {} written to {} in {:.1} s",
        spec.kind,
        rows,
        format(args.format).as_str(),
        out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// An engine over a data directory's tables and its inventory's devices. Reading devices
/// needs no secret, so the master key is not loaded; without an inventory database the
/// devices table is empty (kept in a scratch directory held by the caller).
async fn local_engine(
    cfg: &config::Config,
) -> anyhow::Result<(QueryEngine, Option<tempfile::TempDir>)> {
    let dir = &cfg.data_dir;
    if cfg.storage.url.is_empty() && !dir.join("parquet").is_dir() {
        anyhow::bail!(
            "no Parquet data under {} (expected {}/parquet)",
            dir.display(),
            dir.display()
        );
    }
    let cold = ColdStore::open(&cfg.storage.url, dir)?;
    let tables = vec![
        run::open_metrics(cfg, &cold).await?,
        run::open_logs(cfg, &cold).await?,
        run::open_alerts(cfg, &cold).await?,
    ];
    let engine = QueryEngine::new(cfg.query.clone(), &cold, &tables)?;
    let url = cfg.database.resolved_url(dir);
    let sqlite_file = url.strip_prefix("sqlite://").map(Path::new);
    let (url, scratch) = match sqlite_file {
        Some(f) if !f.exists() => {
            let scratch = tempfile::tempdir()?;
            let url = format!("sqlite://{}", scratch.path().join("empty.db").display());
            (url, Some(scratch))
        }
        _ => (url, None),
    };
    let store = sotp_inventory::Store::open(&url, sotp_inventory::MasterKey::generate())
        .await
        .context("opening the inventory database for its devices")?;
    engine.register(
        "devices",
        Arc::new(InventoryTable::new(store, InventoryKind::Devices)),
    )?;
    Ok((engine, scratch))
}

/// One statement through the server's export, as an Arrow IPC file.
async fn remote(
    client: &reqwest::Client,
    server: &str,
    token: Option<&str>,
    sql: &str,
) -> anyhow::Result<(SchemaRef, Vec<RecordBatch>)> {
    let url = format!("{}/api/v1/export", server.trim_end_matches('/'));
    let mut req = client.post(&url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req
        .json(&serde_json::json!({ "sql": sql, "format": "arrow" }))
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot reach SOTP at {server} (is `sotp run` running? or use --data-dir): {e}"
            )
        })?;
    let status = resp.status();
    let body = resp.bytes().await?;
    if !status.is_success() {
        return Err(refusal(status, &body));
    }
    let reader = arrow::ipc::reader::FileReader::try_new(std::io::Cursor::new(body), None)
        .context("the server's answer is not an Arrow file")?;
    let schema = reader.schema();
    let batches = reader.collect::<Result<Vec<_>, _>>()?;
    Ok((schema, batches))
}
