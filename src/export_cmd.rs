//! `sotp export`: a query's result streamed into a file, from a running server
//! (`POST /api/v1/export`) or from the Parquet files directly, with a progress line on
//! a terminal. The file takes its name only when complete.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt;
use indicatif::{HumanBytes, ProgressBar, ProgressStyle};
use sotp_query::{Caller, ExportEncoder, ExportFormat};

use crate::cli::{ExportArgs, ExportFormatArg};
use crate::query_cmd::{local_engine, refusal};

pub fn main(args: ExportArgs) -> ExitCode {
    crate::telemetry::block_on(run(args))
}

fn format(f: ExportFormatArg) -> ExportFormat {
    match f {
        ExportFormatArg::Parquet => ExportFormat::Parquet,
        ExportFormatArg::Arrow => ExportFormat::Arrow,
        ExportFormatArg::Csv => ExportFormat::Csv,
        ExportFormatArg::Ndjson => ExportFormat::Ndjson,
    }
}

/// The file being written: `<out>.partial` until [`Partial::keep`] renames it; removed
/// when dropped before.
pub(crate) struct Partial {
    path: PathBuf,
    out: PathBuf,
    file: std::io::BufWriter<std::fs::File>,
    bytes: u64,
    kept: bool,
}

impl Partial {
    pub(crate) fn create(out: &Path, force: bool) -> anyhow::Result<Self> {
        if out.exists() && !force {
            anyhow::bail!("{} exists; pass --force to replace it", out.display());
        }
        let mut path = out.as_os_str().to_owned();
        path.push(".partial");
        let path = PathBuf::from(path);
        let file = std::fs::File::create(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        Ok(Self {
            path,
            out: out.to_path_buf(),
            file: std::io::BufWriter::with_capacity(1 << 20, file),
            bytes: 0,
            kept: false,
        })
    }

    pub(crate) fn write(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        self.bytes += bytes.len() as u64;
        self.file
            .write_all(bytes)
            .with_context(|| format!("cannot write {}", self.path.display()))
    }

    pub(crate) fn keep(mut self) -> anyhow::Result<u64> {
        self.file
            .flush()
            .and_then(|()| self.file.get_ref().sync_all())
            .with_context(|| format!("cannot write {}", self.path.display()))?;
        std::fs::rename(&self.path, &self.out).with_context(|| {
            format!(
                "cannot rename {} to {}",
                self.path.display(),
                self.out.display()
            )
        })?;
        self.kept = true;
        Ok(self.bytes)
    }
}

impl Drop for Partial {
    fn drop(&mut self) {
        if !self.kept {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// A progress line on stderr when it is a terminal (hidden otherwise).
fn progress() -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {elapsed_precise} {bytes} ({bytes_per_sec}) {msg}")
            .expect("a valid template"),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

async fn run(args: ExportArgs) -> anyhow::Result<()> {
    let format = format(args.format);
    let started = Instant::now();
    let mut file = Partial::create(&args.out, args.force)?;
    let bar = progress();
    let rows = match &args.data_dir {
        Some(dir) => Some(local(&args, dir, format, &mut file, &bar).await?),
        None => {
            remote(&args, format, &mut file, &bar).await?;
            None
        }
    };
    bar.finish_and_clear();
    let bytes = file.keep()?;
    let rows = match (rows, format) {
        (Some(n), _) => format!("{n} rows, "),
        (None, ExportFormat::Parquet) => parquet_rows(&args.out)
            .map(|n| format!("{n} rows, "))
            .unwrap_or_default(),
        _ => String::new(),
    };
    eprintln!(
        "exported {rows}{} to {} in {:.1} s",
        HumanBytes(bytes),
        args.out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The row count in a Parquet file's footer.
fn parquet_rows(path: &Path) -> Option<i64> {
    use parquet::file::reader::FileReader;
    let f = std::fs::File::open(path).ok()?;
    let reader = parquet::file::reader::SerializedFileReader::new(f).ok()?;
    Some(reader.metadata().file_metadata().num_rows())
}

async fn local(
    args: &ExportArgs,
    dir: &Path,
    format: ExportFormat,
    file: &mut Partial,
    bar: &ProgressBar,
) -> anyhow::Result<usize> {
    let engine = local_engine(args.config.as_deref(), dir).await?;
    let mut rows = engine.stream_for(Caller::default(), &args.sql).await?;
    let mut encoder = ExportEncoder::new(format, &rows.schema())?;
    while let Some(batch) = rows.next().await {
        file.write(&encoder.write(&batch?)?)?;
        bar.set_position(file.bytes);
        bar.set_message(format!("{} rows", rows.rows()));
    }
    file.write(&encoder.finish()?)?;
    Ok(rows.rows())
}

/// Why a server ends an export early.
const LIMITS: &str = "a limit ([query] export_max_rows or export_timeout) or a failure, \
                      named in the server's log";

async fn remote(
    args: &ExportArgs,
    format: ExportFormat,
    file: &mut Partial,
    bar: &ProgressBar,
) -> anyhow::Result<()> {
    let url = format!("{}/api/v1/export", args.server.trim_end_matches('/'));
    let mut req = reqwest::Client::new().post(&url);
    if let Some(t) = &args.token {
        req = req.bearer_auth(t);
    }
    let resp = req
        .json(&serde_json::json!({ "sql": args.sql, "format": format.as_str() }))
        .send()
        .await
        .map_err(|e| {
            if e.is_connect() {
                anyhow::anyhow!(
                    "cannot reach SOTP at {} (is `sotp run` running? or use --data-dir): {e}",
                    args.server
                )
            } else {
                // The answer's head goes out with the first bytes of the file: a limit
                // reached before those were sent closes the connection without one.
                anyhow::anyhow!("the server ended the export before answering: {LIMITS} ({e})")
            }
        })?;
    let status = resp.status();
    if !status.is_success() {
        return Err(refusal(status, &resp.bytes().await?));
    }
    bar.set_message("received");
    let mut body = resp.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| {
            anyhow::anyhow!(
                "the server ended the export after {}: {LIMITS} ({e})",
                HumanBytes(file.bytes)
            )
        })?;
        file.write(&chunk)?;
        bar.set_position(file.bytes);
    }
    Ok(())
}
