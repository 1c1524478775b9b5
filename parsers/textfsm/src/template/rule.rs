//! Rule lines (`  ^regex -> LineOp.RecordOp NewState`), read exactly as
//! textfsm's `TextFSMRule` does: the action is after the *last* whitespace +
//! `->`, everything before it (trailing space included) is the regex, `$$`,
//! `$NAME` and `${NAME}` are substituted as Python's `string.Template` does, and
//! the action must fit one of textfsm's three action forms.

use std::sync::LazyLock;

use crate::error::TemplateError;
use crate::pyre::PyRegex;
use crate::pystr;

use super::value::ValueDef;

/// What happens to the input line after a rule matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LineOp {
    /// Take the next line and restart at the top of the (new) state.
    Next,
    /// Keep the line and try the next rule of the same state.
    Continue,
    /// Stop with an error.
    Error,
}

/// What happens to the record being built after a rule matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RecordOp {
    NoRecord,
    Record,
    Clear,
    Clearall,
}

/// A parsed rule (its new state not yet resolved to a state index).
#[derive(Debug)]
pub(crate) struct RuleDef {
    pub(crate) regex: PyRegex,
    pub(crate) line_op: LineOp,
    pub(crate) record_op: RecordOp,
    /// The new state, or the `Error` message (as written); empty when none.
    pub(crate) new_state: String,
    pub(crate) line: usize,
}

/// Python's `\s` (Unicode `str.isspace`) as a Rust class.
const PY_SPACE: &str = r"[\t\n\x0B\x0C\r\x1C-\x1F \x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}]";

fn action_regex(body: &str) -> regex::Regex {
    let pattern = format!("^{}$", body.replace("\\s", PY_SPACE));
    regex::Regex::new(&pattern).expect("constant action regex is valid")
}

const NEW_STATE: &str = r#"(?P<new_state>\w+|".*")"#;
const RECORD_OP: &str = r"(?P<rec_op>Clear|Clearall|Record|NoRecord)";

/// `Next.Record NewState` and the like.
static ACTION: LazyLock<regex::Regex> = LazyLock::new(|| {
    action_regex(&format!(
        r"\s+(?P<ln_op>Continue|Next|Error)(\.{RECORD_OP})?(\s+{NEW_STATE})?"
    ))
});
/// `Record NewState` and the like.
static ACTION2: LazyLock<regex::Regex> =
    LazyLock::new(|| action_regex(&format!(r"\s+{RECORD_OP}(\s+{NEW_STATE})?")));
/// `NewState` alone (or nothing).
static ACTION3: LazyLock<regex::Regex> =
    LazyLock::new(|| action_regex(&format!(r"(\s+{NEW_STATE})?")));
/// textfsm's check that a new state starts with a word character.
static WORD_START: LazyLock<regex::Regex> = LazyLock::new(|| action_regex(r"\w.*"));

/// Splits `line` at the last whitespace followed by `->` (textfsm's greedy
/// `(?P<match>.*)(\s->(?P<action>.*))`).
fn split_action(line: &str) -> Option<(&str, &str)> {
    let mut found = None;
    for (i, c) in line.char_indices() {
        if pystr::is_space(c) && line[i + c.len_utf8()..].starts_with("->") {
            found = Some((&line[..i], &line[i + c.len_utf8() + 2..]));
        }
    }
    found
}

/// Length of the ASCII identifier (`[_A-Za-z][_A-Za-z0-9]*`) at the start of `s`.
fn identifier_len(s: &str) -> usize {
    let b = s.as_bytes();
    if b.first()
        .is_none_or(|c| !(c.is_ascii_alphabetic() || *c == b'_'))
    {
        return 0;
    }
    b.iter()
        .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
        .count()
}

/// Python's `string.Template(text).substitute(values)`; `None` on an invalid `$`
/// or an unknown name.
fn substitute(text: &str, values: &[ValueDef]) -> Option<String> {
    let lookup = |name: &str| {
        values
            .iter()
            .find(|v| v.name == name)
            .map(|v| v.template.as_str())
    };
    let mut out = String::with_capacity(text.len() * 2);
    let mut rest = text;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
            continue;
        }
        let n = identifier_len(after);
        if n > 0 {
            out.push_str(lookup(&after[..n])?);
            rest = &after[n..];
            continue;
        }
        let braced = after.strip_prefix('{')?;
        let n = identifier_len(braced);
        if n == 0 || !braced[n..].starts_with('}') {
            return None;
        }
        out.push_str(lookup(&braced[..n])?);
        rest = &braced[n + 1..];
    }
    out.push_str(rest);
    Some(out)
}

/// Parses a rule line; `values` are the template's values, for substitution.
pub(crate) fn parse(
    line: &str,
    line_num: usize,
    values: &[ValueDef],
) -> Result<RuleDef, TemplateError> {
    let line = pystr::strip(line);
    let (matched, action) = match split_action(line) {
        Some((m, a)) => (m, Some(a)),
        None => (line, None),
    };
    let regex_text = if values.is_empty() {
        matched.to_owned()
    } else {
        substitute(matched, values).ok_or_else(|| TemplateError::Substitution {
            line: line_num,
            rule: matched.to_owned(),
        })?
    };
    let regex = PyRegex::compile(&regex_text).map_err(|e| TemplateError::RuleRegex {
        line: line_num,
        regex: regex_text.clone(),
        message: e.to_string(),
    })?;
    let mut rule = RuleDef {
        regex,
        line_op: LineOp::Next,
        record_op: RecordOp::NoRecord,
        new_state: String::new(),
        line: line_num,
    };
    let Some(action) = action else {
        return Ok(rule);
    };
    let caps = ACTION
        .captures(action)
        .or_else(|| ACTION2.captures(action))
        .or_else(|| ACTION3.captures(action))
        .ok_or_else(|| TemplateError::BadAction {
            line: line_num,
            rule: line.to_owned(),
        })?;
    let mut continue_op = false;
    if let Some(op) = caps.name("ln_op") {
        rule.line_op = match op.as_str() {
            "Continue" => LineOp::Continue,
            "Error" => LineOp::Error,
            _ => LineOp::Next,
        };
        continue_op = rule.line_op == LineOp::Continue;
    }
    if let Some(op) = caps.name("rec_op") {
        rule.record_op = match op.as_str() {
            "Record" => RecordOp::Record,
            "Clear" => RecordOp::Clear,
            "Clearall" => RecordOp::Clearall,
            _ => RecordOp::NoRecord,
        };
    }
    if let Some(state) = caps.name("new_state") {
        rule.new_state = state.as_str().to_owned();
    }
    if continue_op && !rule.new_state.is_empty() {
        return Err(TemplateError::ContinueWithState {
            line: line_num,
            state: rule.new_state,
        });
    }
    if rule.line_op != LineOp::Error
        && !rule.new_state.is_empty()
        && !WORD_START.is_match(&rule.new_state)
    {
        return Err(TemplateError::StateNameChars { line: line_num });
    }
    Ok(rule)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_at_last_arrow() {
        assert_eq!(split_action("^a -> b -> Next"), Some(("^a -> b", " Next")));
        assert_eq!(split_action("^a->Next"), None);
        assert_eq!(split_action("^a\t-> Record"), Some(("^a", " Record")));
        assert_eq!(split_action("^a  -> Record"), Some(("^a ", " Record")));
    }

    #[test]
    fn substitutes_like_string_template() {
        let v = super::super::value::parse("Value X (\\d+)", 1).expect("valid");
        let values = [v];
        // Expected values from Python's string.Template(...).substitute.
        assert_eq!(
            substitute("^${X}$$", &values).as_deref(),
            Some("^(?P<X>\\d+)$")
        );
        assert_eq!(
            substitute("^$X.", &values).as_deref(),
            Some("^(?P<X>\\d+).")
        );
        assert_eq!(substitute("^$$X", &values).as_deref(), Some("^$X"));
        assert_eq!(substitute("^a$", &values), None);
        assert_eq!(substitute("^${Y}", &values), None);
        assert_eq!(substitute("^$XY", &values), None);
        assert_eq!(substitute("^${X-1}", &values), None);
        assert_eq!(substitute("^$ ", &values), None);
    }
}
