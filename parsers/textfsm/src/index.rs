//! The ntc-templates `index` file: which template(s) parse which platform's
//! command. Read as textfsm's `clitable.IndexTable` reads it: a comma-separated
//! table whose first non-comment line is the header (`Template, Hostname,
//! Platform, Command`), lines starting with `#` skipped, lines with the wrong
//! number of fields silently dropped, `[[...]]` in the `Command` column expanded
//! to optional trailing characters (`sh[[ow]]` -> `sh(o(w)?)?`), every other
//! column a Python regex matched at the start of the value (`re.match`), and the
//! first matching line wins.

use std::path::PathBuf;

use crate::error::IndexError;
use crate::pyre::{self, PyRegex, Scratch};
use crate::pystr;

/// How one index cell matches a value.
#[derive(Debug)]
enum Field {
    /// An empty cell matches anything.
    Any,
    /// A cell without regex syntax: `re.match` is a prefix test.
    Prefix(String),
    Regex(PyRegex),
}

impl Field {
    fn new(line: usize, column: &str, text: &str) -> Result<Field, IndexError> {
        if text.is_empty() {
            return Ok(Field::Any);
        }
        if !text.contains(|c: char| "\\.^$*+?{}[]|()#".contains(c) || c.is_whitespace()) {
            return Ok(Field::Prefix(text.to_owned()));
        }
        PyRegex::compile(text)
            .map(Field::Regex)
            .map_err(|e| IndexError::Regex {
                line,
                column: column.to_owned(),
                regex: text.to_owned(),
                message: e.to_string(),
            })
    }

    fn matches(&self, text: &str) -> bool {
        match self {
            Field::Any => true,
            Field::Prefix(p) => text.starts_with(p.as_str()),
            // Index regexes are small; a backtracking give-up counts as no match.
            Field::Regex(re) => re
                .match_start(text, &mut Scratch::default())
                .unwrap_or(false),
        }
    }
}

/// One line of the index.
#[derive(Debug)]
pub struct IndexEntry {
    /// The template file names, in the order they are applied (`a:b` -> `[a, b]`).
    pub templates: Vec<String>,
    /// 1-based line in the index file.
    pub line: usize,
    platform: Field,
    command: Field,
}

/// A parsed `index` file.
#[derive(Debug)]
pub struct Index {
    entries: Vec<IndexEntry>,
    /// The file it was read from (for error messages), when read from disk.
    pub(crate) path: Option<PathBuf>,
}

/// textfsm's `CliTable._Completion`: `abc[[xyz]]` -> `abc(x(y(z)?)?)?`, for every
/// `[[...]]` (shortest match, as `re.sub(r'(\[\[.+?\]\])', ...)`).
pub fn expand_completion(command: &str) -> String {
    let mut out = String::with_capacity(command.len() * 2);
    let mut rest = command;
    while let Some(open) = rest.find("[[") {
        // `.+?` needs one character before the closing `]]`.
        let body_start = open + 2;
        let first_len = rest[body_start..].chars().next().map_or(0, char::len_utf8);
        let close = if first_len == 0 {
            None
        } else {
            rest[body_start + first_len..]
                .find("]]")
                .map(|i| i + body_start + first_len)
        };
        let Some(close) = close else {
            // No match at this `[[`: re.sub moves on by one character.
            let step = open + 1;
            out.push_str(&rest[..step]);
            rest = &rest[step..];
            continue;
        };
        out.push_str(&rest[..open]);
        let word: Vec<char> = rest[body_start..close].chars().collect();
        out.push('(');
        let joined: Vec<String> = word.iter().map(char::to_string).collect();
        out.push_str(&joined.join("("));
        out.push_str(&")?".repeat(word.len()));
        rest = &rest[close + 2..];
    }
    out.push_str(rest);
    out
}

impl Index {
    /// Parses the text of an `index` file.
    pub fn parse(text: &str) -> Result<Index, IndexError> {
        let lines = pystr::file_lines(text);
        let mut it = lines.iter().enumerate().map(|(i, l)| (i + 1, *l));
        let (header_line, header) = loop {
            let Some((n, line)) = it.next() else {
                return Err(IndexError::NoHeader);
            };
            let before_comment = line.split('#').next().unwrap_or("");
            let header = pystr::strip(before_comment);
            if !header.is_empty() {
                break (n, header);
            }
        };
        let mut columns: Vec<&str> = Vec::new();
        for column in header.split(',').map(pystr::strip) {
            if columns.contains(&column) {
                return Err(IndexError::DuplicateColumn {
                    line: header_line,
                    column: column.to_owned(),
                });
            }
            columns.push(column);
        }
        let col = |name: &str| columns.iter().position(|c| *c == name);
        let template_col = col("Template").ok_or(IndexError::NoTemplateColumn)?;
        let (platform_col, command_col) = (col("Platform"), col("Command"));
        let mut entries = Vec::new();
        for (n, line) in it {
            if line.starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = line.split(',').map(pystr::strip).collect();
            if fields.len() != columns.len() {
                continue;
            }
            let mut platform = Field::Any;
            let mut command = Field::Any;
            for (i, (name, field)) in columns.iter().zip(&fields).enumerate() {
                if i == template_col {
                    continue;
                }
                let text = if Some(i) == command_col {
                    expand_completion(field)
                } else {
                    (*field).to_owned()
                };
                if Some(i) == command_col {
                    command = Field::new(n, name, &text)?;
                } else if Some(i) == platform_col {
                    platform = Field::new(n, name, &text)?;
                } else {
                    // Python compiles every column; only the syntax matters here.
                    pyre::check_syntax(&text).map_err(|e| IndexError::Regex {
                        line: n,
                        column: (*name).to_owned(),
                        regex: text.clone(),
                        message: e.to_string(),
                    })?;
                }
            }
            let templates = fields[template_col].split(':').map(str::to_owned).collect();
            entries.push(IndexEntry {
                templates,
                line: n,
                platform,
                command,
            });
        }
        Ok(Index {
            entries,
            path: None,
        })
    }

    /// The first entry whose `Platform` and `Command` regexes match the start of
    /// `platform` and `command` (clitable's `GetRowMatch`).
    pub fn find_entry(&self, platform: &str, command: &str) -> Option<&IndexEntry> {
        self.entries
            .iter()
            .find(|e| e.platform.matches(platform) && e.command.matches(command))
    }

    /// The template file names for `platform` and `command`, applied in order.
    pub fn find(&self, platform: &str, command: &str) -> Option<&[String]> {
        self.find_entry(platform, command)
            .map(|e| e.templates.as_slice())
    }

    /// All entries, in file order.
    pub fn entries(&self) -> &[IndexEntry] {
        &self.entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completion_expansion_matches_clitable() {
        // Expected values from textfsm.clitable.CliTable._PreParse('Command', ...).
        let cases = [
            ("sh[[ow]] ver[[sion]]", "sh(o(w)?)? ver(s(i(o(n)?)?)?)?"),
            ("show version", "show version"),
            (
                "sh[[ow]] (in[[terfaces]]|in)$",
                "sh(o(w)?)? (in(t(e(r(f(a(c(e(s)?)?)?)?)?)?)?)?|in)$",
            ),
            ("a[[]]]b", "a(])?b"),
            ("a[[x]", "a[[x]"),
            ("[[ab]]][[c]]", "(a(b)?)?](c)?"),
            ("[[[a]]", "([(a)?)?"),
        ];
        for (input, want) in cases {
            assert_eq!(expand_completion(input), want, "input {input:?}");
        }
    }

    const INDEX: &str = "\
# comment line
Template, Hostname, Platform, Command  # trailing comment

a_show_version.textfsm, .*, cisco_ios, sh[[ow]] ver[[sion]]
a_show_ip_int.textfsm:a_show_ip_int_2.textfsm, .*, cisco_ios, sh[[ow]] ip int[[erface]] br[[ief]]
dropped.textfsm, .*, cisco_ios, show {1,2} dropped
#skipped.textfsm, .*, cisco_ios, show skipped
b_show_version.textfsm, .*, cisco_nxos, sh[[ow]] ver[[sion]]$
";

    #[test]
    fn finds_like_clitable() {
        let index = Index::parse(INDEX).expect("valid index");
        assert_eq!(index.entries().len(), 3);
        let find = |p: &str, c: &str| index.find(p, c).map(|t| t.join(":"));
        // Expected values from clitable.IndexTable.GetRowMatch on the same file.
        assert_eq!(
            find("cisco_ios", "sh ver").as_deref(),
            Some("a_show_version.textfsm")
        );
        assert_eq!(
            find("cisco_ios", "show version | inc x").as_deref(),
            Some("a_show_version.textfsm")
        );
        assert_eq!(
            find("cisco_ios_xe", "show ver").as_deref(),
            Some("a_show_version.textfsm")
        );
        assert_eq!(
            find("cisco_ios", "sh ip int br").as_deref(),
            Some("a_show_ip_int.textfsm:a_show_ip_int_2.textfsm")
        );
        assert_eq!(find("cisco_ios", "s ver"), None);
        assert_eq!(
            find("cisco_nxos", "show version").as_deref(),
            Some("b_show_version.textfsm")
        );
        assert_eq!(find("cisco_nxos", "show version x"), None);
        assert_eq!(find("cisco_ios", "show skipped"), None);
    }

    #[test]
    fn index_errors() {
        assert_eq!(Index::parse("# only\n\n").err(), Some(IndexError::NoHeader));
        assert_eq!(
            Index::parse("Hostname, Command\n").err(),
            Some(IndexError::NoTemplateColumn)
        );
        assert!(matches!(
            Index::parse("Template, Template\n"),
            Err(IndexError::DuplicateColumn { line: 1, .. })
        ));
        assert!(matches!(
            Index::parse("Template, Command\nx, sh(ow\n"),
            Err(IndexError::Regex { line: 2, .. })
        ));
    }
}
