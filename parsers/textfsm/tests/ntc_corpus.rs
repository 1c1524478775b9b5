//! Differential test against the ntc-templates corpus: every
//! `PLATFORM/COMMAND/NAME.raw` + `NAME.yml` fixture under `$SOTP_CORPORA/ntc`
//! (default: the workplace's `shared/corpora`) is parsed with the templates
//! folder `$SOTP_NTC_TEMPLATES` (the PyPI package's `ntc_templates/templates`)
//! and compared with the yml's `parsed_sample`. The test fails if a fixture that
//! Python textfsm parses right (per `tests/data/python_reference.json`, or a
//! live run of `scripts/python_reference.py` with `$SOTP_PYTHON`) is not parsed
//! right here too.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value as Json;
use serde_norway::Value as Yaml;
use sotp_textfsm::{NtcTemplates, parse_output};

const INSTALL: &str = "scripts/setup-peers.sh installs textfsm and ntc-templates==9.3.0 into \
target/py-venv and prints `export SOTP_NTC_TEMPLATES=...` and `export SOTP_PYTHON=...`; \
scripts/test.sh exports both";

struct Fixture {
    key: String,
    platform: String,
    command: String,
    raw: PathBuf,
    yml: PathBuf,
}

fn corpus_dir() -> PathBuf {
    let root = std::env::var_os("SOTP_CORPORA").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpora"),
        PathBuf::from,
    );
    root.join("ntc")
}

fn templates_dir() -> PathBuf {
    let Some(dir) = std::env::var_os("SOTP_NTC_TEMPLATES") else {
        panic!(
            "SOTP_NTC_TEMPLATES is not set: point it at the ntc_templates/templates folder of the PyPI package ({INSTALL})"
        );
    };
    let dir = PathBuf::from(dir);
    assert!(
        dir.join("index").is_file(),
        "SOTP_NTC_TEMPLATES={} has no `index` file: it must be the ntc_templates/templates folder ({INSTALL})",
        dir.display()
    );
    dir
}

fn sorted_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    out.sort();
    out
}

fn fixtures(corpus: &Path) -> Vec<Fixture> {
    let mut out = Vec::new();
    for pdir in sorted_dirs(corpus).into_iter().filter(|p| p.is_dir()) {
        for cdir in sorted_dirs(&pdir).into_iter().filter(|p| p.is_dir()) {
            for raw in sorted_dirs(&cdir) {
                let yml = raw.with_extension("yml");
                if raw.extension().is_some_and(|e| e == "raw") && yml.is_file() {
                    let name = |p: &Path| {
                        p.file_name()
                            .map(|n| n.to_string_lossy().into_owned())
                            .unwrap_or_default()
                    };
                    let stem = raw
                        .file_stem()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    let (platform, command_dir) = (name(&pdir), name(&cdir));
                    out.push(Fixture {
                        key: format!("{platform}/{command_dir}/{stem}"),
                        command: command_dir.replace('_', " "),
                        platform,
                        raw,
                        yml,
                    });
                }
            }
        }
    }
    out
}

/// Python's text-mode read: UTF-8, `\r\n` and `\r` become `\n`.
fn read_text(path: &Path) -> Result<String, String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let text = String::from_utf8(bytes).map_err(|e| format!("not UTF-8: {e}"))?;
    Ok(text.replace("\r\n", "\n").replace('\r', "\n"))
}

fn yaml_matches(want: &Yaml, got: &Json) -> bool {
    match (want, got) {
        (Yaml::String(w), Json::String(g)) => w == g,
        (Yaml::Sequence(w), Json::Array(g)) => {
            w.len() == g.len() && w.iter().zip(g).all(|(w, g)| yaml_matches(w, g))
        }
        _ => false,
    }
}

/// `None` when the rows equal the yml's `parsed_sample`, else why not.
fn compare(yml: &Path, rows: &[serde_json::Map<String, Json>]) -> Option<String> {
    let text = match read_text(yml) {
        Ok(t) => t,
        Err(e) => return Some(format!("yml: {e}")),
    };
    let doc: Yaml = match serde_norway::from_str(&text) {
        Ok(d) => d,
        Err(e) => return Some(format!("yml: {e}")),
    };
    let Some(Yaml::Sequence(want)) = doc.get("parsed_sample") else {
        return Some("yml has no parsed_sample list".into());
    };
    if want.len() != rows.len() {
        return Some(format!("{} records, yml has {}", rows.len(), want.len()));
    }
    for (i, (w, g)) in want.iter().zip(rows).enumerate() {
        let Yaml::Mapping(w) = w else {
            return Some(format!("record {i}: yml record is not a mapping"));
        };
        if w.len() != g.len() {
            return Some(format!("record {i}: {} keys, yml has {}", g.len(), w.len()));
        }
        for (k, wv) in w {
            let Some(k) = k.as_str() else {
                return Some(format!("record {i}: non-string yml key"));
            };
            match g.get(k) {
                None => return Some(format!("record {i}: key {k} missing")),
                Some(gv) if !yaml_matches(wv, gv) => {
                    return Some(format!("record {i}: {k} = {gv}, yml has {wv:?}"));
                }
                Some(_) => {}
            }
        }
    }
    None
}

/// Which fixtures Python gets right: live with `$SOTP_PYTHON`, else the
/// committed reference (checked against the installed ntc-templates version).
fn python_reference(corpus: &Path, templates: &Path) -> BTreeMap<String, bool> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = if let Some(python) = std::env::var_os("SOTP_PYTHON") {
        let out =
            std::env::temp_dir().join(format!("sotp_python_reference_{}.json", std::process::id()));
        let status = Command::new(&python)
            .arg(manifest.join("scripts/python_reference.py"))
            .args([
                "--corpus".as_ref(),
                corpus.as_os_str(),
                "--templates".as_ref(),
                templates.as_os_str(),
            ])
            .args(["--out".as_ref(), out.as_os_str()])
            .status()
            .unwrap_or_else(|e| panic!("SOTP_PYTHON={python:?} cannot run: {e} ({INSTALL})"));
        assert!(
            status.success(),
            "scripts/python_reference.py failed under SOTP_PYTHON={python:?} ({INSTALL})"
        );
        let text =
            std::fs::read_to_string(&out).unwrap_or_else(|e| panic!("{}: {e}", out.display()));
        let _ = std::fs::remove_file(&out);
        text
    } else {
        let path = manifest.join("tests/data/python_reference.json");
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    };
    let doc: Json =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("python reference JSON: {e}"));
    if std::env::var_os("SOTP_PYTHON").is_none() {
        check_version(&doc, templates);
    }
    doc["fixtures"]
        .as_object()
        .unwrap_or_else(|| panic!("python reference JSON has no `fixtures` object"))
        .iter()
        .map(|(k, v)| (k.clone(), v["python_matches"].as_bool().unwrap_or(false)))
        .collect()
}

/// The committed reference was made with one ntc-templates version: refuse
/// another one (its templates may parse differently).
fn check_version(doc: &Json, templates: &Path) {
    let want = doc["ntc_templates_version"].as_str().unwrap_or("?");
    let site = templates.parent().and_then(Path::parent);
    let found = site.and_then(|site| {
        std::fs::read_dir(site)
            .ok()?
            .filter_map(Result::ok)
            .find_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                let version = name
                    .strip_prefix("ntc_templates-")?
                    .strip_suffix(".dist-info")?
                    .to_owned();
                Some(version)
            })
    });
    match found {
        Some(v) if v == want => {}
        Some(v) => panic!(
            "SOTP_NTC_TEMPLATES is ntc-templates {v} but tests/data/python_reference.json was made with {want}: \
             install ntc-templates=={want}, or set SOTP_PYTHON to a python with textfsm + ntc_templates {v} \
             to compute the reference live"
        ),
        None => eprintln!(
            "note: cannot tell the ntc-templates version of SOTP_NTC_TEMPLATES; reference made with {want}"
        ),
    }
}

#[test]
fn ntc_corpus_matches_python_textfsm() {
    let templates = templates_dir();
    let corpus = corpus_dir();
    assert!(
        corpus.is_dir(),
        "corpus folder {} not found: set SOTP_CORPORA to the corpora root (holding ntc/)",
        corpus.display()
    );
    let lib =
        NtcTemplates::load(&templates).unwrap_or_else(|e| panic!("{}: {e}", templates.display()));
    let python = python_reference(&corpus, &templates);
    let all = fixtures(&corpus);
    assert!(
        !all.is_empty(),
        "no fixtures found under {}",
        corpus.display()
    );

    let (mut sotp_ok, mut python_ok, mut sotp_only) = (0, 0, 0);
    let mut regressions: Vec<(String, String)> = Vec::new();
    let mut unknown = Vec::new();
    for f in &all {
        let reason = match read_text(&f.raw) {
            Err(e) => Some(format!("raw: {e}")),
            Ok(data) => match parse_output(&lib, &f.platform, &f.command, &data) {
                Ok(rows) => compare(&f.yml, &rows),
                Err(e) => Some(e.to_string()),
            },
        };
        let py = python.get(&f.key).copied();
        if py.is_none() {
            unknown.push(f.key.clone());
        }
        let py = py.unwrap_or(false);
        python_ok += usize::from(py);
        match reason {
            None => {
                sotp_ok += 1;
                sotp_only += usize::from(!py);
            }
            Some(reason) if py => regressions.push((f.key.clone(), reason)),
            Some(_) => {}
        }
    }
    println!("fixtures total: {}", all.len());
    println!("SOTP matches: {sotp_ok}");
    println!("Python matches: {python_ok}");
    println!("SOTP matches where Python does not: {sotp_only}");
    println!(
        "fixtures missing from the Python reference: {}",
        unknown.len()
    );
    println!("Python matches but SOTP does not: {}", regressions.len());
    for (key, reason) in regressions.iter().take(30) {
        let reason: String = reason.chars().take(200).collect();
        println!("  {key}: {reason}");
    }
    assert!(
        regressions.is_empty(),
        "{} fixture(s) that Python textfsm parses right are not parsed right by sotp-textfsm (listed above)",
        regressions.len()
    );
}
