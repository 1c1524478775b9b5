//! Parses every ntc corpus fixture N times and prints rows per second, for
//! comparison with `examples/bench_corpus.py` (the same loop with Python
//! textfsm). Two measures:
//!
//! - `parse_text`: templates compiled beforehand, only the state machine runs;
//! - `parse_output`: ntc-templates' `parse_output` end to end (index lookup,
//!   template run, merge, JSON rows), templates cached after their first use.
//!
//! ```text
//! SOTP_NTC_TEMPLATES=.../ntc_templates/templates \
//!   cargo run --release --example bench_corpus -- [N]
//! ```
//! `SOTP_CORPORA` overrides the corpora root (default: the workplace's
//! `shared/corpora`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use sotp_textfsm::{NtcTemplates, Template, parse_output};

struct Fixture {
    platform: String,
    command: String,
    data: String,
    templates: Vec<Arc<Template>>,
}

fn fixtures(corpus: &Path, lib: &NtcTemplates) -> Vec<Fixture> {
    let mut out = Vec::new();
    let mut dirs: Vec<PathBuf> = Vec::new();
    for p in std::fs::read_dir(corpus).into_iter().flatten().flatten() {
        for c in std::fs::read_dir(p.path()).into_iter().flatten().flatten() {
            dirs.push(c.path());
        }
    }
    dirs.sort();
    for dir in dirs {
        let (Some(platform), Some(command)) = (
            dir.parent()
                .and_then(Path::file_name)
                .map(|n| n.to_string_lossy().into_owned()),
            dir.file_name()
                .map(|n| n.to_string_lossy().replace('_', " ")),
        ) else {
            continue;
        };
        let mut raws: Vec<PathBuf> = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .collect();
        raws.sort();
        for raw in raws {
            if raw.extension().is_none_or(|e| e != "raw") || !raw.with_extension("yml").is_file() {
                continue;
            }
            let Ok(data) = std::fs::read_to_string(&raw) else {
                continue;
            };
            let data = data.replace("\r\n", "\n").replace('\r', "\n");
            let Some(names) = lib.index().find(&platform, &command) else {
                continue;
            };
            let Ok(templates) = names
                .iter()
                .map(|n| lib.template(n))
                .collect::<Result<Vec<_>, _>>()
            else {
                continue;
            };
            out.push(Fixture {
                platform: platform.clone(),
                command: command.clone(),
                data,
                templates,
            });
        }
    }
    out
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(5);
    let templates =
        PathBuf::from(std::env::var_os("SOTP_NTC_TEMPLATES").ok_or("set SOTP_NTC_TEMPLATES")?);
    let corpus = std::env::var_os("SOTP_CORPORA")
        .map_or_else(
            || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpora"),
            PathBuf::from,
        )
        .join("ntc");

    let t0 = Instant::now();
    let lib = NtcTemplates::load(&templates)?;
    let all = fixtures(&corpus, &lib);
    let distinct: usize = {
        let mut names: Vec<*const Template> = all
            .iter()
            .flat_map(|f| f.templates.iter().map(Arc::as_ptr))
            .collect();
        names.sort();
        names.dedup();
        names.len()
    };
    println!(
        "loaded {} fixtures, {distinct} templates compiled in {:.2?}",
        all.len(),
        t0.elapsed()
    );

    let t = Instant::now();
    let mut rows = 0usize;
    for _ in 0..n {
        for f in &all {
            for template in &f.templates {
                rows += template.parse_text(&f.data).map_or(0, |r| r.len());
            }
        }
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "parse_text:   {n} x {} fixtures, {rows} rows in {secs:.3}s = {:.0} rows/s",
        all.len(),
        rows as f64 / secs
    );

    let t = Instant::now();
    let mut rows = 0usize;
    for _ in 0..n {
        for f in &all {
            rows += parse_output(&lib, &f.platform, &f.command, &f.data).map_or(0, |r| r.len());
        }
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "parse_output: {n} x {} fixtures, {rows} rows in {secs:.3}s = {:.0} rows/s",
        all.len(),
        rows as f64 / secs
    );
    Ok(())
}
