//! A TextFSM template: its values, its states and their rules, read from the
//! template text with the same structure rules and the same syntax errors as
//! Python textfsm's `TextFSM._Parse` (a block of `Value` lines ended by a blank
//! line, then states separated by blank lines, `#` comment lines anywhere,
//! `Start` required, `End`/`EOF` empty, every transition to a defined state).

mod rule;
mod value;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use crate::error::{ParseError, TemplateError};
use crate::pystr;
use crate::row::Row;

pub(crate) use rule::{LineOp, RecordOp};
pub(crate) use value::ValueDef;
pub use value::ValueOption;

/// Where a rule sends the machine after it matches (for `Next` rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    Stay,
    State(usize),
    End,
    Eof,
}

/// A rule ready to run.
#[derive(Debug)]
pub(crate) struct Rule {
    pub(crate) def: rule::RuleDef,
    pub(crate) target: Target,
    /// `(group index, value index)` for every named group that is a value, in
    /// pattern order.
    pub(crate) assigns: Vec<(usize, usize)>,
}

/// A state: its name and rules.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) name: String,
    pub(crate) rules: Vec<Rule>,
}

/// A compiled TextFSM template. Immutable: one template can parse many texts,
/// from several threads.
#[derive(Debug)]
pub struct Template {
    pub(crate) values: Vec<ValueDef>,
    pub(crate) header: Arc<[String]>,
    pub(crate) states: Vec<State>,
    pub(crate) start: usize,
    pub(crate) has_eof_state: bool,
}

fn is_comment(line: &str) -> bool {
    line.trim_start_matches(pystr::is_space).starts_with('#')
}

fn is_state_name(name: &str) -> bool {
    !name.is_empty()
        && name.chars().all(|c| c == '_' || c.is_alphanumeric())
        && name.chars().count() <= value::MAX_NAME_LEN
        && !matches!(
            name,
            "Continue" | "Next" | "Error" | "Clear" | "Clearall" | "Record" | "NoRecord"
        )
}

impl Template {
    /// Reads a template, as Python `textfsm.TextFSM(open(path))` does.
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        let lines = pystr::file_lines(text);
        let mut it = lines
            .iter()
            .enumerate()
            .map(|(i, l)| (i + 1, pystr::rstrip(l)));
        let mut values: Vec<ValueDef> = Vec::new();
        for (n, line) in it.by_ref() {
            if line.is_empty() {
                break;
            }
            if is_comment(line) {
                continue;
            }
            if line.starts_with("Value ") {
                let v = value::parse(line, n)?;
                if values.iter().any(|o| o.name == v.name) {
                    return Err(TemplateError::DuplicateValue {
                        line: n,
                        name: v.name,
                    });
                }
                values.push(v);
            } else if values.is_empty() {
                return Err(TemplateError::NoValues { line: n });
            } else {
                return Err(TemplateError::ExpectedBlankLine { line: n });
            }
        }
        // States, each as (name, line of the name, rules).
        let mut raw_states: Vec<(String, Vec<rule::RuleDef>)> = Vec::new();
        loop {
            let mut name = None;
            for (n, line) in it.by_ref() {
                if line.is_empty() || is_comment(line) {
                    continue;
                }
                if !is_state_name(line) {
                    return Err(TemplateError::StateName {
                        line: n,
                        name: line.to_owned(),
                    });
                }
                if raw_states.iter().any(|(s, _)| s == line) {
                    return Err(TemplateError::DuplicateState {
                        line: n,
                        name: line.to_owned(),
                    });
                }
                name = Some(line.to_owned());
                break;
            }
            let Some(name) = name else { break };
            let mut rules = Vec::new();
            for (n, line) in it.by_ref() {
                if line.is_empty() {
                    break;
                }
                if is_comment(line) {
                    continue;
                }
                if !(line.starts_with(" ^") || line.starts_with("  ^") || line.starts_with("\t^")) {
                    return Err(TemplateError::RuleIndent { line: n });
                }
                rules.push(rule::parse(line, n, &values)?);
            }
            raw_states.push((name, rules));
        }
        Self::assemble(values, raw_states)
    }

    /// textfsm's `_ValidateFSM`, then resolution of transitions to state indexes.
    fn assemble(
        values: Vec<ValueDef>,
        mut raw: Vec<(String, Vec<rule::RuleDef>)>,
    ) -> Result<Template, TemplateError> {
        if !raw.iter().any(|(n, _)| n == "Start") {
            return Err(TemplateError::MissingStart);
        }
        for reserved in ["End", "EOF"] {
            if raw.iter().any(|(n, r)| n == reserved && !r.is_empty()) {
                return Err(TemplateError::NonEmptyReserved {
                    state: reserved.to_owned(),
                });
            }
        }
        raw.retain(|(n, _)| n != "End");
        let has_eof_state = raw.iter().any(|(n, _)| n == "EOF");
        let names: Vec<String> = raw.iter().map(|(n, _)| n.clone()).collect();
        let mut states = Vec::with_capacity(raw.len());
        for (name, defs) in raw {
            let mut rules = Vec::with_capacity(defs.len());
            for def in defs {
                let target = match def.new_state.as_str() {
                    _ if def.line_op == LineOp::Error => Target::Stay,
                    "" => Target::Stay,
                    "End" => Target::End,
                    "EOF" => Target::Eof,
                    other => match names.iter().position(|n| n == other) {
                        Some(i) => Target::State(i),
                        None => {
                            return Err(TemplateError::UnknownState {
                                line: def.line,
                                target: other.to_owned(),
                                state: name,
                            });
                        }
                    },
                };
                let assigns = def
                    .regex
                    .names()
                    .iter()
                    .filter_map(|(g, n)| {
                        values.iter().position(|v| v.name == *n).map(|vi| (*g, vi))
                    })
                    .collect();
                rules.push(Rule {
                    def,
                    target,
                    assigns,
                });
            }
            states.push(State { name, rules });
        }
        let start = names.iter().position(|n| n == "Start").unwrap_or(0);
        let header: Arc<[String]> = values.iter().map(|v| v.name.clone()).collect();
        Ok(Template {
            values,
            header,
            states,
            start,
            has_eof_state,
        })
    }

    /// Runs the template on `text`, as Python `TextFSM.ParseText(text)`.
    pub fn parse_text(&self, text: &str) -> Result<Vec<Row>, ParseError> {
        let rows = crate::engine::run(self, text)?;
        Ok(rows
            .into_iter()
            .map(|values| Row::new(Arc::clone(&self.header), values))
            .collect())
    }

    /// The value names, in declaration order (textfsm's `header`).
    pub fn header(&self) -> &[String] {
        &self.header
    }

    /// The options of the value called `name`, in declaration order.
    pub fn value_options(&self, name: &str) -> Option<&[ValueOption]> {
        self.values
            .iter()
            .find(|v| v.name == name)
            .map(|v| v.options.as_slice())
    }

    /// The names of the values with option `option` (textfsm's `GetValuesByAttrib`).
    pub fn values_with(&self, option: ValueOption) -> Vec<&str> {
        self.values
            .iter()
            .filter(|v| v.has(option))
            .map(|v| v.name.as_str())
            .collect()
    }

    /// The state names, in template order (`End` excluded, as textfsm drops it).
    pub fn state_names(&self) -> impl Iterator<Item = &str> {
        self.states.iter().map(|s| s.name.as_str())
    }

    /// How many rules need the backtracking regex engine (look-around or
    /// back-references), for diagnostics.
    pub fn backtracking_rules(&self) -> usize {
        self.states
            .iter()
            .flat_map(|s| &s.rules)
            .filter(|r| r.def.regex.is_fancy())
            .count()
    }
}
