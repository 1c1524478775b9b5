//! Runs a [`Template`] over text: the state machine and record building of Python
//! textfsm's `ParseText`, with each value option's hooks (`OnAssignVar`,
//! `OnClearVar`, `OnClearAllVar`, `OnSaveRecord`) applied in the order the
//! options were declared, as textfsm does. Pure: no I/O, no global state.

#[cfg(test)]
mod cases;
#[cfg(test)]
mod tests;

use crate::error::ParseError;
use crate::pyre::Scratch;
use crate::pystr;
use crate::row::{ListItem, Value};
use crate::template::{LineOp, RecordOp, Rule, Target, Template, ValueDef, ValueOption};

/// Python's `value.value`: `None`, a captured string, or (after a `List` value's
/// `OnSaveRecord`) a list.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PyVal {
    None,
    Str(String),
    List(Vec<ListItem>),
}

impl PyVal {
    fn from_capture(text: Option<&str>) -> Self {
        text.map_or(PyVal::None, |s| PyVal::Str(s.to_owned()))
    }

    fn is_truthy(&self) -> bool {
        match self {
            PyVal::None => false,
            PyVal::Str(s) => !s.is_empty(),
            PyVal::List(l) => !l.is_empty(),
        }
    }
}

/// The run-time state of one template value.
#[derive(Debug)]
struct Slot {
    value: PyVal,
    /// Filldown's `_myvar`: the last assigned value.
    filldown: PyVal,
    /// List's `_value`: the items collected so far.
    list: Vec<ListItem>,
}

/// Where the machine is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cur {
    State(usize),
    End,
    Eof,
}

struct Runner<'t> {
    t: &'t Template,
    slots: Vec<Slot>,
    result: Vec<Vec<Value>>,
    cur: Cur,
    scratch: Scratch,
}

/// Parses `text` with `t`; the records, each with one value per template value.
pub(crate) fn run(t: &Template, text: &str) -> Result<Vec<Vec<Value>>, ParseError> {
    let mut r = Runner {
        t,
        slots: t
            .values
            .iter()
            .map(|_| Slot {
                value: PyVal::None,
                filldown: PyVal::None,
                list: Vec::new(),
            })
            .collect(),
        result: Vec::new(),
        cur: Cur::State(t.start),
        scratch: Scratch::default(),
    };
    for line in pystr::splitlines(text) {
        r.check_line(line)?;
        if matches!(r.cur, Cur::End | Cur::Eof) {
            break;
        }
    }
    // Implicit EOF: `Next.Record`, unless the machine went to End or the template
    // declares an (empty) EOF state.
    if r.cur != Cur::End && !t.has_eof_state {
        r.append_record();
    }
    Ok(r.result)
}

impl Runner<'_> {
    fn check_line(&mut self, line: &str) -> Result<(), ParseError> {
        let Cur::State(state) = self.cur else {
            return Ok(());
        };
        let t = self.t;
        for rule in &t.states[state].rules {
            let matched = rule
                .def
                .regex
                .match_start(line, &mut self.scratch)
                .map_err(|e| ParseError::RegexLimit {
                    rule_line: rule.def.line,
                    input_line: line.to_owned(),
                    message: e.0,
                })?;
            if !matched {
                continue;
            }
            for &(group, vi) in &rule.assigns {
                let text = self.scratch.group(line, group);
                self.assign(vi, text, rule, line)?;
            }
            match rule.def.record_op {
                RecordOp::Record => self.append_record(),
                RecordOp::Clear => self.clear_record(),
                RecordOp::Clearall => self.clear_all(),
                RecordOp::NoRecord => {}
            }
            match rule.def.line_op {
                LineOp::Error => {
                    return Err(ParseError::ErrorAction {
                        message: (!rule.def.new_state.is_empty())
                            .then(|| rule.def.new_state.clone()),
                        rule_line: rule.def.line,
                        input_line: line.to_owned(),
                    });
                }
                LineOp::Continue => continue,
                LineOp::Next => {
                    match rule.target {
                        Target::Stay => {}
                        Target::State(i) => self.cur = Cur::State(i),
                        Target::End => self.cur = Cur::End,
                        Target::Eof => self.cur = Cur::Eof,
                    }
                    break;
                }
            }
        }
        Ok(())
    }

    /// textfsm's `TextFSMValue.AssignVar`.
    fn assign(
        &mut self,
        vi: usize,
        text: Option<&str>,
        rule: &Rule,
        line: &str,
    ) -> Result<(), ParseError> {
        let def: &ValueDef = &self.t.values[vi];
        let slot = &mut self.slots[vi];
        slot.value = PyVal::from_capture(text);
        for option in &def.options {
            match option {
                ValueOption::Filldown => slot.filldown = slot.value.clone(),
                ValueOption::Fillup => {
                    let Some(text) = text.filter(|s| !s.is_empty()) else {
                        continue;
                    };
                    for record in self.result.iter_mut().rev() {
                        if record[vi].is_truthy() {
                            break;
                        }
                        record[vi] = Value::Str(text.to_owned());
                    }
                }
                ValueOption::List => {
                    let item = match (&def.nested, text) {
                        (None, Some(s)) => ListItem::Str(s.to_owned()),
                        (None, None) => ListItem::Null,
                        (Some(_), None) => {
                            return Err(ParseError::ListValueMissing {
                                value: def.name.clone(),
                                rule_line: rule.def.line,
                                input_line: line.to_owned(),
                            });
                        }
                        (Some(nested), Some(s)) => nested_item(nested, s, rule, line)?,
                    };
                    slot.list.push(item);
                }
                ValueOption::Required | ValueOption::Key | ValueOption::OptionBase => {}
            }
        }
        Ok(())
    }

    /// textfsm's `_ClearRecord`: values go back to `None`, or to their Filldown
    /// value; lists are emptied unless the value is also Filldown.
    fn clear_record(&mut self) {
        for (def, slot) in self.t.values.iter().zip(&mut self.slots) {
            slot.value = PyVal::None;
            for option in &def.options {
                match option {
                    ValueOption::Filldown => slot.value = slot.filldown.clone(),
                    ValueOption::List if !def.has(ValueOption::Filldown) => slot.list.clear(),
                    _ => {}
                }
            }
        }
    }

    /// textfsm's `_ClearAllRecord`.
    fn clear_all(&mut self) {
        for slot in &mut self.slots {
            slot.value = PyVal::None;
            slot.filldown = PyVal::None;
            slot.list.clear();
        }
    }

    /// textfsm's `_AppendRecord`.
    fn append_record(&mut self) {
        if self.t.values.is_empty() {
            return;
        }
        let mut record = Vec::with_capacity(self.slots.len());
        let mut skip = false;
        'values: for (def, slot) in self.t.values.iter().zip(&mut self.slots) {
            for option in &def.options {
                match option {
                    ValueOption::Required if !slot.value.is_truthy() => {
                        skip = true;
                        break 'values;
                    }
                    ValueOption::List => slot.value = PyVal::List(slot.list.clone()),
                    _ => {}
                }
            }
            record.push(slot.value.clone());
        }
        if skip {
            self.clear_record();
            return;
        }
        let empty =
            |v: &PyVal| matches!(v, PyVal::None) || matches!(v, PyVal::List(l) if l.is_empty());
        if record.iter().all(empty) {
            return;
        }
        self.result.push(
            record
                .into_iter()
                .map(|v| match v {
                    PyVal::None => Value::Str(String::new()),
                    PyVal::Str(s) => Value::Str(s),
                    PyVal::List(l) => Value::List(l),
                })
                .collect(),
        );
        self.clear_record();
    }
}

/// The item a `List` value with nested groups adds: the dict of its named groups
/// when its own regex matches the captured text and has named groups, else the
/// text.
fn nested_item(
    nested: &crate::pyre::PyRegex,
    text: &str,
    rule: &Rule,
    line: &str,
) -> Result<ListItem, ParseError> {
    let mut scratch = Scratch::default();
    let matched = nested
        .match_start(text, &mut scratch)
        .map_err(|e| ParseError::RegexLimit {
            rule_line: rule.def.line,
            input_line: line.to_owned(),
            message: e.0,
        })?;
    if !matched || nested.names().is_empty() {
        return Ok(ListItem::Str(text.to_owned()));
    }
    Ok(ListItem::Dict(
        nested
            .names()
            .iter()
            .map(|(g, name)| (name.clone(), scratch.group(text, *g).map(str::to_owned)))
            .collect(),
    ))
}
