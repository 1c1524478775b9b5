//! Reading the configuration: file, environment, and every error at once.
//!
//! serde stops at the first error, so deserialisation runs in a loop: each error is
//! recorded with its path (via `serde_path_to_error`), the offending value is removed, and
//! deserialisation runs again until it succeeds. Then [`Config::validate`] adds the
//! semantic problems. The user sees the whole list in one go.

use std::fmt;
use std::path::Path;

use toml::Value;

use super::{Config, PLACEHOLDER};

/// One problem in the configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigIssue {
    /// Dotted path of the field, for example `icmp.count` or `devices[3].address`.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

/// Everything wrong with a configuration.
#[derive(Debug)]
pub struct ConfigError {
    /// Where the configuration came from.
    pub source: String,
    /// Every problem found.
    pub issues: Vec<ConfigIssue>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.issues.len();
        writeln!(
            f,
            "{}: {n} problem{}:",
            self.source,
            if n == 1 { "" } else { "s" }
        )?;
        for i in &self.issues {
            writeln!(f, "  - {}: {}", i.field, i.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// Loads `path` (or only defaults when `None`), applies `SOTP__…` variables from `env`,
/// and validates.
pub fn load(
    path: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Config, ConfigError> {
    let (text, source) = match path {
        Some(p) => match std::fs::read_to_string(p) {
            Ok(t) => (t, p.display().to_string()),
            Err(e) => {
                return Err(ConfigError {
                    source: p.display().to_string(),
                    issues: vec![ConfigIssue {
                        field: "(file)".into(),
                        message: format!("cannot read: {e}"),
                    }],
                });
            }
        },
        None => (String::new(), "built-in defaults".to_string()),
    };
    let mut config = load_str(&text, &source, env)?;
    config.file = path.map(Path::to_path_buf);
    Ok(config)
}

/// Like [`load`], from a string.
pub fn load_str(
    text: &str,
    source: &str,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Config, ConfigError> {
    let fail = |issues| ConfigError {
        source: source.to_string(),
        issues,
    };
    let mut value: Value = match text.parse::<toml::Table>() {
        Ok(t) => Value::Table(t),
        Err(e) => {
            let field = match e.span() {
                Some(span) => {
                    let line = text[..span.start.min(text.len())].lines().count().max(1);
                    format!("(syntax, line {line})")
                }
                None => "(syntax)".into(),
            };
            return Err(fail(vec![ConfigIssue {
                field,
                message: e.message().to_string(),
            }]));
        }
    };
    let mut issues = Vec::new();
    for (key, raw) in env {
        let Some(rest) = key.strip_prefix("SOTP__") else {
            continue;
        };
        let path: Vec<String> = rest.split("__").map(str::to_ascii_lowercase).collect();
        if path.iter().any(String::is_empty) {
            issues.push(ConfigIssue {
                field: key.clone(),
                message: "empty segment in variable name".into(),
            });
            continue;
        }
        set_path(&mut value, &path, parse_env_value(&raw));
    }
    let config = deserialize_all(value, &mut issues);
    if let Some(c) = &config {
        issues.extend(
            c.validate()
                .into_iter()
                .map(|(field, message)| ConfigIssue { field, message }),
        );
    }
    match config {
        Some(c) if issues.is_empty() => Ok(c),
        _ => Err(fail(issues)),
    }
}

/// An environment value is read as a TOML value when it is one (`5`, `true`,
/// `["a", "b"]`), else as a string (`10s`, `127.0.0.1:8080`).
fn parse_env_value(raw: &str) -> Value {
    match format!("v = {raw}").parse::<toml::Table>() {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or_else(|| Value::String(raw.to_string())),
        Err(_) => Value::String(raw.to_string()),
    }
}

fn set_path(value: &mut Value, path: &[String], new: Value) {
    let mut cur = value;
    for (i, seg) in path.iter().enumerate() {
        let Value::Table(t) = cur else { return };
        if i == path.len() - 1 {
            t.insert(seg.clone(), new);
            return;
        }
        cur = t
            .entry(seg.clone())
            .or_insert_with(|| Value::Table(toml::Table::new()));
    }
}

fn deserialize_all(mut value: Value, issues: &mut Vec<ConfigIssue>) -> Option<Config> {
    for _ in 0..200 {
        match serde_path_to_error::deserialize::<_, Config>(value.clone()) {
            Ok(c) => return Some(c),
            Err(e) => {
                let segments: Vec<Segment> = e.path().iter().map(Segment::from).collect();
                let inner = e.into_inner().to_string();
                let (field_path, removed) = locate(&mut value, &segments, &inner);
                issues.push(ConfigIssue {
                    field: render(&field_path),
                    message: clean(&inner),
                });
                if !removed {
                    return None;
                }
            }
        }
    }
    None
}

#[derive(Clone, Debug)]
enum Segment {
    Key(String),
    Index(usize),
}

impl From<&serde_path_to_error::Segment> for Segment {
    fn from(s: &serde_path_to_error::Segment) -> Self {
        match s {
            serde_path_to_error::Segment::Seq { index } => Segment::Index(*index),
            serde_path_to_error::Segment::Map { key } => Segment::Key(key.clone()),
            serde_path_to_error::Segment::Enum { variant } => Segment::Key(variant.clone()),
            serde_path_to_error::Segment::Unknown => Segment::Key("?".into()),
        }
    }
}

fn render(path: &[Segment]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            Segment::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Segment::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    if s.is_empty() {
        "(top level)".into()
    } else {
        s
    }
}

fn clean(msg: &str) -> String {
    msg.trim().trim_end_matches('.').replace('\n', " ")
}

/// Removes the value the error is about so the next round can find the next error.
/// Returns the path to report and whether something was removed.
fn locate(value: &mut Value, path: &[Segment], msg: &str) -> (Vec<Segment>, bool) {
    // "unknown field `x`" points at the table holding `x`, or at `x` itself.
    if let Some(name) = msg
        .strip_prefix("unknown field `")
        .and_then(|r| r.split('`').next())
    {
        let mut parent = path.to_vec();
        if matches!(parent.last(), Some(Segment::Key(k)) if k == name) {
            parent.pop();
        }
        let mut full = parent.clone();
        full.push(Segment::Key(name.to_string()));
        return (full.clone(), remove(value, &full));
    }
    // "missing field `x`": the table lacks a required key; drop that whole entry.
    if msg.starts_with("missing field `") {
        let name = msg
            .trim_start_matches("missing field `")
            .split('`')
            .next()
            .unwrap_or("");
        let mut full = path.to_vec();
        full.push(Segment::Key(name.to_string()));
        return (full, remove(value, path));
    }
    let mut p = path.to_vec();
    while !p.is_empty() {
        if remove(value, &p) {
            return (path.to_vec(), true);
        }
        p.pop();
    }
    (path.to_vec(), false)
}

fn remove(value: &mut Value, path: &[Segment]) -> bool {
    let Some((last, parents)) = path.split_last() else {
        return false;
    };
    let mut cur = value;
    for seg in parents {
        cur = match (seg, cur) {
            (Segment::Key(k), Value::Table(t)) => match t.get_mut(k) {
                Some(v) => v,
                None => return false,
            },
            (Segment::Index(i), Value::Array(a)) => match a.get_mut(*i) {
                Some(v) => v,
                None => return false,
            },
            _ => return false,
        };
    }
    match (last, cur) {
        (Segment::Key(k), Value::Table(t)) => t.remove(k).is_some(),
        // Replace instead of removing so that later indices stay as the user wrote them.
        (Segment::Index(i), Value::Array(a)) if *i < a.len() => {
            let range = matches!(path.first(), Some(Segment::Key(k)) if k == "device_ranges");
            a[*i] = Value::Table(placeholder(range));
            true
        }
        _ => false,
    }
}

/// An entry that deserialises, standing in for a broken one while the remaining entries
/// are checked; the error for the broken one is already recorded, and validation skips it.
fn placeholder(range: bool) -> toml::Table {
    let mut t = toml::Table::new();
    if range {
        t.insert("name_prefix".into(), Value::String(PLACEHOLDER.into()));
        t.insert("first_address".into(), Value::String("0.0.0.0".into()));
        t.insert("count".into(), Value::Integer(1));
    } else {
        t.insert("name".into(), Value::String(PLACEHOLDER.into()));
        t.insert("address".into(), Value::String("0.0.0.0".into()));
    }
    t
}
