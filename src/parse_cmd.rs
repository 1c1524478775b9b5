//! `sotp parse`: a saved command output parsed with TextFSM templates found through an
//! ntc-templates `index`, printed as the JSON that ntc-templates' `parse_output` returns.

use std::io::{Read, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use sotp_textfsm::{NtcTemplates, parse_output_table};

use crate::cli::ParseArgs;

pub fn main(args: ParseArgs) -> ExitCode {
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sotp parse: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &ParseArgs) -> anyhow::Result<()> {
    let dir = args.templates.as_deref().context(
        "no templates folder: pass --templates DIR (a folder with an ntc-templates `index`) \
         or set NTC_TEMPLATES_DIR",
    )?;
    let lib = NtcTemplates::load(dir)
        .with_context(|| format!("cannot load the templates index of {}", dir.display()))?;
    let data = read_input(&args.file)?;
    let table = parse_output_table(&lib, &args.platform, &args.command, &data)?;
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, &table.ordered_json())?;
    writeln!(out)?;
    Ok(())
}

/// The command output: a file, or standard input for `-`. Device output is not always
/// valid UTF-8 (a banner in Latin-1): invalid bytes become U+FFFD rather than failing.
fn read_input(path: &Path) -> anyhow::Result<String> {
    let mut bytes = Vec::new();
    if path == Path::new("-") {
        std::io::stdin()
            .read_to_end(&mut bytes)
            .context("cannot read standard input")?;
    } else {
        bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    }
    Ok(String::from_utf8(bytes)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
}
