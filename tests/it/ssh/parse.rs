//! `sotp parse` against Python's `ntc_templates.parse.parse_output` on real device outputs
//! of the shared corpus (`$SOTP_CORPORA/ntc`): one fixture of each of the first
//! `PER_PLATFORM` command folders of every platform (the whole corpus is compared through
//! the library in `parsers/textfsm/tests/ntc_corpus.rs`), the same templates folder (`$SOTP_NTC_TEMPLATES`, installed by
//! scripts/setup-peers.sh), and the printed JSON compared byte for byte with
//! `json.dumps(rows, indent=2, ensure_ascii=False)`: same rows, same values, same key order.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::common::{BIN, corpora};

fn templates() -> PathBuf {
    let dir = std::env::var_os("SOTP_NTC_TEMPLATES").map(PathBuf::from).expect(
        "SOTP_NTC_TEMPLATES is not set: run scripts/test.sh (scripts/setup-peers.sh installs ntc-templates and prints it)",
    );
    assert!(
        dir.join("index").is_file(),
        "{} has no index",
        dir.display()
    );
    dir
}

fn python() -> String {
    std::env::var("SOTP_PYTHON").expect(
        "SOTP_PYTHON is not set: run scripts/test.sh (a venv with textfsm and ntc-templates)",
    )
}

/// Command folders taken per platform: a process per fixture costs about 0.2 s.
const PER_PLATFORM: usize = 3;

/// One `.raw` fixture per command folder, `PER_PLATFORM` folders per platform:
/// (platform, command, file).
fn fixtures() -> Vec<(String, String, PathBuf)> {
    let root = corpora().join("ntc");
    let mut out = Vec::new();
    for platform in sorted(&root) {
        if !platform.is_dir() {
            continue;
        }
        for command in sorted(&platform).into_iter().take(PER_PLATFORM) {
            let Some(raw) = sorted(&command)
                .into_iter()
                .find(|p| p.extension().is_some_and(|e| e == "raw"))
            else {
                continue;
            };
            out.push((name(&platform), name(&command).replace('_', " "), raw));
        }
    }
    out
}

fn sorted(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {} ({e}): set SOTP_CORPORA", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

fn name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

/// Python's answer for every fixture, in one process: the JSON text, or null when
/// ntc-templates raised.
fn python_outputs(cases: &[(String, String, PathBuf)]) -> Vec<Option<String>> {
    let script = r#"
import json, sys
from ntc_templates.parse import parse_output
out = []
for platform, command, path in json.load(sys.stdin):
    try:
        data = open(path, encoding="utf-8", errors="replace").read()
        rows = parse_output(platform=platform, command=command, data=data)
        out.append(json.dumps(rows, indent=2, ensure_ascii=False))
    except Exception:
        out.append(None)
json.dump(out, sys.stdout)
"#;
    let input: Vec<(&str, &str, &Path)> = cases
        .iter()
        .map(|(p, c, f)| (p.as_str(), c.as_str(), f.as_path()))
        .collect();
    let mut child = Command::new(python())
        .args(["-c", script])
        .env("NTC_TEMPLATES_DIR", templates())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python runs");
    serde_json::to_writer(child.stdin.take().unwrap(), &input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "the Python reference failed");
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn sotp_parse_prints_what_ntc_templates_parse_output_returns_on_corpus_outputs_of_every_platform() {
    let cases = fixtures();
    assert!(
        cases.len() > 100,
        "only {} command folders under {}/ntc",
        cases.len(),
        corpora().display()
    );
    let python = python_outputs(&cases);
    let templates = templates();
    let (mut same, mut python_failed, mut with_rows) = (0, 0, 0);
    let mut differ = Vec::new();
    for ((platform, command, raw), want) in cases.iter().zip(&python) {
        let out = Command::new(BIN)
            .args([
                "parse",
                "--platform",
                platform,
                "--command",
                command,
                "--templates",
            ])
            .arg(&templates)
            .arg(raw)
            .output()
            .unwrap();
        let Some(want) = want else {
            python_failed += 1;
            continue;
        };
        let got = String::from_utf8_lossy(&out.stdout);
        if out.status.success() && got.trim_end() == want {
            same += 1;
            let rows: Value = serde_json::from_str(want).unwrap();
            with_rows += usize::from(rows.as_array().is_some_and(|r| !r.is_empty()));
        } else {
            differ.push(format!(
                "{platform} / {command} ({}): exit {:?}, stderr {}",
                raw.display(),
                out.status.code(),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
    }
    println!(
        "sotp parse: {same} of {} identical to Python (with rows: {with_rows}); Python raised on {python_failed}",
        cases.len()
    );
    assert!(
        differ.is_empty(),
        "{} outputs differ from Python's:\n{}",
        differ.len(),
        differ.join("\n")
    );
    assert!(with_rows > 100, "only {with_rows} comparisons had rows");
}

#[test]
fn sotp_parse_finds_abbreviated_commands_and_fails_clearly_without_a_template() {
    let templates = templates();
    let raw = corpora()
        .join("ntc/cisco_ios/show_ip_interface_brief/cisco_ios_show_ip_interface_brief.raw");
    let full = Command::new(BIN)
        .args([
            "parse",
            "-p",
            "cisco_ios",
            "-C",
            "show ip interface brief",
            "-t",
        ])
        .arg(&templates)
        .arg(&raw)
        .output()
        .unwrap();
    assert!(full.status.success());
    let short = Command::new(BIN)
        .args(["parse", "-p", "cisco_ios", "-C", "sh ip int br", "-t"])
        .arg(&templates)
        .arg(&raw)
        .output()
        .unwrap();
    assert!(short.status.success());
    assert_eq!(full.stdout, short.stdout);
    let rows: Vec<Value> = serde_json::from_slice(&short.stdout).unwrap();
    assert!(
        rows.len() > 1 && rows[0].get("interface").is_some(),
        "{rows:?}"
    );

    let none = Command::new(BIN)
        .args([
            "parse",
            "-p",
            "cisco_ios",
            "-C",
            "show nothing at all",
            "-t",
        ])
        .arg(&templates)
        .arg(&raw)
        .output()
        .unwrap();
    assert_eq!(none.status.code(), Some(1));
    let err = String::from_utf8_lossy(&none.stderr);
    assert!(
        err.contains("no template for platform cisco_ios command show nothing at all"),
        "{err}"
    );
    assert!(none.stdout.is_empty());

    let no_dir = Command::new(BIN)
        .args(["parse", "-p", "cisco_ios", "-C", "sh ver"])
        .arg(&raw)
        .env_remove("NTC_TEMPLATES_DIR")
        .output()
        .unwrap();
    assert_eq!(no_dir.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&no_dir.stderr).contains("--templates"));
}
