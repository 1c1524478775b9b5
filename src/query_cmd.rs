//! `sotp query`: SQL against a running server or directly on the Parquet files.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use sotp_query::{QueryEngine, QueryOutput, to_csv, to_json};
use sotp_sinks::ColdStore;

use crate::cli::{OutputFormat, QueryArgs};
use crate::config;

pub fn main(args: QueryArgs) -> ExitCode {
    crate::telemetry::block_on(run(args))
}

async fn run(args: QueryArgs) -> anyhow::Result<()> {
    let out = match &args.data_dir {
        Some(dir) => local(&args, dir).await?,
        None => return remote(&args).await,
    };
    let mut stdout = std::io::stdout().lock();
    match args.format {
        OutputFormat::Csv => stdout.write_all(&to_csv(&out)?)?,
        OutputFormat::Json => writeln!(stdout, "{}", to_json(&out)?)?,
        OutputFormat::Table => writeln!(
            stdout,
            "{}",
            arrow::util::pretty::pretty_format_batches(&out.batches)?
        )?,
    }
    Ok(())
}

async fn local(args: &QueryArgs, dir: &std::path::Path) -> anyhow::Result<QueryOutput> {
    let engine = local_engine(args.config.as_deref(), dir).await?;
    Ok(engine.execute(&args.sql).await?)
}

/// An engine over the Parquet files under `dir` (`sotp query --data-dir`, `sotp export
/// --data-dir`), with the [storage] and [query] settings of `config`.
pub(crate) async fn local_engine(
    config: Option<&std::path::Path>,
    dir: &std::path::Path,
) -> anyhow::Result<QueryEngine> {
    let mut cfg = config::load(config, std::env::vars())?;
    cfg.data_dir = dir.to_path_buf();
    if cfg.storage.url.is_empty() && !dir.join("parquet").is_dir() {
        anyhow::bail!(
            "no Parquet data under {} (expected {}/parquet)",
            dir.display(),
            dir.display()
        );
    }
    let cold = ColdStore::open(&cfg.storage.url, &cfg.data_dir)?;
    let metrics = crate::run::open_metrics(&cfg, &cold).await?;
    Ok(QueryEngine::new(cfg.query.clone(), &cold, &[metrics])?)
}

/// The error of a refused request, as `STATUS: message` (with a hint for a 401).
pub(crate) fn refusal(status: reqwest::StatusCode, body: &[u8]) -> anyhow::Error {
    let msg = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    if status == reqwest::StatusCode::UNAUTHORIZED {
        return anyhow::anyhow!(
            "{status}: {msg}\n(pass a token with --token or SOTP_TOKEN; see docs/control-plane.md)"
        );
    }
    anyhow::anyhow!("{status}: {msg}")
}

async fn remote(args: &QueryArgs) -> anyhow::Result<()> {
    let format = match args.format {
        OutputFormat::Csv => "csv",
        OutputFormat::Json | OutputFormat::Table => "json",
    };
    let url = format!(
        "{}/api/v1/query?format={format}",
        args.server.trim_end_matches('/')
    );
    let mut req = reqwest::Client::new().post(&url);
    if let Some(t) = &args.token {
        req = req.bearer_auth(t);
    }
    let resp = req
        .json(&serde_json::json!({ "sql": args.sql }))
        .send()
        .await
        .with_context(|| {
            format!(
                "cannot reach SOTP at {} (is `sotp run` running? or use --data-dir)",
                args.server
            )
        })?;
    let status = resp.status();
    let body = resp.bytes().await?;
    if !status.is_success() {
        return Err(refusal(status, &body));
    }
    let mut stdout = std::io::stdout().lock();
    match args.format {
        OutputFormat::Csv => stdout.write_all(&body)?,
        OutputFormat::Json => {
            stdout.write_all(&body)?;
            writeln!(stdout)?;
        }
        OutputFormat::Table => {
            let v: serde_json::Value = serde_json::from_slice(&body)?;
            write_table(&mut stdout, &v)?;
        }
    }
    Ok(())
}

/// Prints a JSON answer as an aligned text table.
fn write_table(out: &mut impl Write, v: &serde_json::Value) -> std::io::Result<()> {
    let names: Vec<String> = v["columns"]
        .as_array()
        .map(|c| {
            c.iter()
                .map(|c| c["name"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default();
    let rows: Vec<Vec<String>> = v["rows"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .map(|r| {
                    r.as_array()
                        .map(|cells| {
                            cells
                                .iter()
                                .map(|c| match c {
                                    serde_json::Value::String(s) => s.clone(),
                                    serde_json::Value::Null => String::new(),
                                    other => other.to_string(),
                                })
                                .collect()
                        })
                        .unwrap_or_default()
                })
                .collect()
        })
        .unwrap_or_default();
    let mut widths: Vec<usize> = names.iter().map(String::len).collect();
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: &[String]| -> String {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join(" | ")
    };
    writeln!(out, "{}", line(&names))?;
    writeln!(
        out,
        "{}",
        widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .join("-+-")
    )?;
    for r in &rows {
        writeln!(out, "{}", line(r))?;
    }
    writeln!(out, "({} rows)", rows.len())
}
