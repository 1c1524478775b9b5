//! `Value [Option[,Option...]] NAME (regex)` lines, read exactly as textfsm's
//! `TextFSMValue.Parse` does (tokens split on single spaces, options
//! comma-separated, the regex rejoined with single spaces).

use crate::error::TemplateError;
use crate::pyre::{self, PyRegex};

/// Longest value or state name textfsm accepts.
pub(crate) const MAX_NAME_LEN: usize = 48;

/// A `Value` option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueOption {
    /// The record is only saved when this value is non-empty.
    Required,
    /// The value is kept for the following records until set again or cleared
    /// with `Clearall`.
    Filldown,
    /// A value set now is copied into the earlier records that have it empty.
    Fillup,
    /// The value is part of the record's key (used when merging templates).
    Key,
    /// The value collects every match into a list.
    List,
    /// textfsm's option base class, which its option lookup also accepts: no
    /// effect.
    OptionBase,
}

impl ValueOption {
    fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "Required" => ValueOption::Required,
            "Filldown" => ValueOption::Filldown,
            "Fillup" => ValueOption::Fillup,
            "Key" => ValueOption::Key,
            "List" => ValueOption::List,
            "OptionBase" => ValueOption::OptionBase,
            _ => return None,
        })
    }
}

/// A parsed `Value` line.
#[derive(Debug)]
pub(crate) struct ValueDef {
    pub(crate) name: String,
    /// The regex with its first `(` turned into `(?P<NAME>`, substituted into rules.
    pub(crate) template: String,
    pub(crate) options: Vec<ValueOption>,
    /// For `List` values whose regex has more than one group: the value's own regex,
    /// re-applied to each captured text to build the dict form.
    pub(crate) nested: Option<PyRegex>,
}

impl ValueDef {
    pub(crate) fn has(&self, option: ValueOption) -> bool {
        self.options.contains(&option)
    }
}

/// Parses a `Value ...` line (already right-stripped).
pub(crate) fn parse(line: &str, line_num: usize) -> Result<ValueDef, TemplateError> {
    let tokens: Vec<&str> = line.split(' ').collect();
    if tokens.len() < 3 {
        return Err(TemplateError::ValueTokens { line: line_num });
    }
    let mut options = Vec::new();
    let (name, regex) = if tokens[2].starts_with('(') {
        (tokens[1], tokens[2..].join(" "))
    } else {
        for option in tokens[1].split(',') {
            let Some(parsed) = ValueOption::from_name(option) else {
                return Err(TemplateError::UnknownOption {
                    line: line_num,
                    option: option.to_owned(),
                });
            };
            if options.contains(&parsed) {
                return Err(TemplateError::DuplicateOption {
                    line: line_num,
                    option: option.to_owned(),
                });
            }
            options.push(parsed);
        }
        (tokens[2], tokens[3..].join(" "))
    };
    if name.chars().count() > MAX_NAME_LEN || name.contains('\\') {
        return Err(TemplateError::ValueName {
            line: line_num,
            name: name.to_owned(),
        });
    }
    let chars: Vec<char> = regex.chars().collect();
    let wrapped = chars.len() >= 2
        && chars[0] == '('
        && chars[chars.len() - 1] == ')'
        && chars[chars.len() - 2] != '\\';
    if !wrapped {
        return Err(TemplateError::ValueParens {
            line: line_num,
            regex,
        });
    }
    let regex_error = |message: String| TemplateError::ValueRegex {
        line: line_num,
        name: name.to_owned(),
        message,
    };
    let nested = if options.contains(&ValueOption::List) {
        let compiled = PyRegex::compile(&regex).map_err(|e| regex_error(e.to_string()))?;
        (compiled.groups() > 1).then_some(compiled)
    } else {
        // Python compiles every value regex; a syntax check is what that amounts to.
        pyre::check_syntax(&regex).map_err(|e| regex_error(e.to_string()))?;
        None
    };
    let template = format!("(?P<{name}>{}", &regex[1..]);
    Ok(ValueDef {
        name: name.to_owned(),
        template,
        options,
        nested,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_lines() {
        let v = parse("Value Filldown,Required NAME (\\S+ \\d+)", 3).expect("valid");
        assert_eq!(v.name, "NAME");
        assert_eq!(v.template, "(?P<NAME>\\S+ \\d+)");
        assert_eq!(
            v.options,
            vec![ValueOption::Filldown, ValueOption::Required]
        );
        let v = parse("Value NAME (a  b)", 1).expect("valid");
        assert_eq!(v.template, "(?P<NAME>a  b)");
        assert!(v.options.is_empty());
        let v = parse("Value List L ((?P<a>\\w)(?P<b>\\d))", 1).expect("valid");
        assert!(v.nested.is_some());
        let v = parse("Value List L ((\\w))", 1).expect("valid");
        assert!(v.nested.is_some());
        let v = parse("Value List L (\\w)", 1).expect("valid");
        assert!(v.nested.is_none());
    }

    #[test]
    fn value_errors() {
        // Each line is rejected by Python textfsm 2.1 too.
        type Check = fn(&TemplateError) -> bool;
        let cases: &[(&str, Check)] = &[
            ("Value NAME", |e| {
                matches!(e, TemplateError::ValueTokens { .. })
            }),
            (
                "Value  NAME (x)",
                |e| matches!(e, TemplateError::UnknownOption { option, .. } if option.is_empty()),
            ),
            ("Value Bogus NAME (x)", |e| {
                matches!(e, TemplateError::UnknownOption { .. })
            }),
            ("Value List,List NAME (x)", |e| {
                matches!(e, TemplateError::DuplicateOption { .. })
            }),
            ("Value NAME x", |e| {
                matches!(e, TemplateError::UnknownOption { .. })
            }),
            ("Value Key NAME x", |e| {
                matches!(e, TemplateError::ValueParens { .. })
            }),
            ("Value Key NAME (x\\)", |e| {
                matches!(e, TemplateError::ValueParens { .. })
            }),
            ("Value Key NAME (x))", |e| {
                matches!(e, TemplateError::ValueRegex { .. })
            }),
            (
                "Value AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA (x)",
                |e| matches!(e, TemplateError::ValueName { .. }),
            ),
        ];
        for (line, check) in cases {
            let err = parse(line, 7).expect_err(line);
            assert!(check(&err), "{line}: {err:?}");
        }
    }
}
