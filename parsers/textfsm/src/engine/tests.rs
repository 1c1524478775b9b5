//! Table-driven semantics tests: every case of `cases.rs` (generated from Python
//! textfsm's own output by `scripts/semantics_cases.py`) must give the same rows,
//! the same runtime error, or a template error of the expected kind.

use serde_json::{Value as Json, json};

use super::cases::CASES;
use crate::row::{ListItem, Value};
use crate::template::Template;

/// One semantics case.
pub(super) struct Case {
    pub(super) name: &'static str,
    pub(super) template: &'static str,
    pub(super) text: &'static str,
    pub(super) expect: Expect,
}

/// What Python textfsm did with the case.
pub(super) enum Expect {
    /// `{"header": [...], "rows": [[...]]}` as `ParseText` returned them (list
    /// items that are dicts written as `{"dict": [[key, value], ...]}`).
    Rows(&'static str),
    /// The message of the `TextFSMError` raised while parsing.
    ParseError(&'static str),
    /// The `TemplateError` variant matching the `TextFSMTemplateError` raised.
    TemplateError(&'static str),
}

fn item_json(item: &ListItem) -> Json {
    match item {
        ListItem::Str(s) => json!(s),
        ListItem::Null => Json::Null,
        ListItem::Dict(pairs) => {
            json!({ "dict": pairs.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>() })
        }
    }
}

fn rows_json(t: &Template, text: &str) -> Result<Json, crate::ParseError> {
    let rows = t.parse_text(text)?;
    let rows: Vec<Json> = rows
        .iter()
        .map(|r| {
            r.values()
                .iter()
                .map(|v| match v {
                    Value::Str(s) => json!(s),
                    Value::List(items) => Json::Array(items.iter().map(item_json).collect()),
                })
                .collect()
        })
        .collect();
    Ok(json!({ "header": t.header(), "rows": rows }))
}

#[test]
fn semantics_match_python_textfsm() {
    let mut failures = Vec::new();
    for case in CASES {
        let parsed = Template::parse(case.template);
        let outcome = match (&case.expect, parsed) {
            (Expect::TemplateError(variant), Err(e)) => {
                let got = format!("{e:?}");
                (got.starts_with(variant))
                    .then_some(())
                    .ok_or(format!("template error {got}, want {variant}"))
            }
            (Expect::TemplateError(variant), Ok(_)) => {
                Err(format!("template accepted, want {variant}"))
            }
            (_, Err(e)) => Err(format!("template rejected: {e}")),
            (Expect::Rows(want), Ok(t)) => {
                let want: Json = serde_json::from_str(want).expect("case JSON");
                match rows_json(&t, case.text) {
                    Ok(got) if got == want => Ok(()),
                    Ok(got) => Err(format!("rows {got}\n   want {want}")),
                    Err(e) => Err(format!("error {e}")),
                }
            }
            (Expect::ParseError(want), Ok(t)) => match t.parse_text(case.text) {
                Err(e) if e.to_string() == *want => Ok(()),
                Err(e) => Err(format!("error {e:?}, want {want:?}")),
                Ok(rows) => Err(format!("{} rows, want error {want:?}", rows.len())),
            },
        };
        if let Err(why) = outcome {
            failures.push(format!("{}: {why}", case.name));
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) differ from Python:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn error_action_is_typed() {
    let t = Template::parse("Value A (\\S+)\n\nStart\n  ^bad -> Error \"nope\"\n").expect("valid");
    let err = t.parse_text("ok\nbad\n").expect_err("Error action");
    assert_eq!(
        err,
        crate::ParseError::ErrorAction {
            message: Some("\"nope\"".into()),
            rule_line: 4,
            input_line: "bad".into()
        }
    );
}
