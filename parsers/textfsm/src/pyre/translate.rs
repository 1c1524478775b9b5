//! Translates a Python `re` pattern into the syntax the `regex` and `fancy-regex`
//! crates accept, with Python's meaning: escapes of non-special characters (`\<`,
//! `\'`, `\ `...) become plain literals, `\Z` becomes `\z`, `{,n}` becomes `{0,n}`,
//! a `{` that does not start a quantifier is a literal, `[` `&&` `--` `~~` inside a
//! class are literals, octal and `\x`/`\u`/`\U` escapes become code points, verbose
//! mode (`(?x)`) is applied here, and repeated look-arounds (`(?<=x)+`) are
//! reduced to what Python does with them. It also counts capture groups and
//! reports whether the pattern needs a backtracking engine (look-around,
//! back-references, atomic groups, conditionals).
//!
//! The syntax errors Python raises for a pattern are raised here too, with
//! Python's wording where it matters (unbalanced parenthesis, bad escape,
//! nothing to repeat, ...).

use super::class;
use super::syntax::{Cursor, push_literal};

/// A Python pattern translated to Rust regex syntax (not anchored).
#[derive(Debug, Clone)]
pub(crate) struct Translated {
    /// The pattern in `regex`/`fancy-regex` syntax.
    pub(crate) pattern: String,
    /// Whether it needs `fancy-regex` (look-around, back-references, ...).
    pub(crate) fancy: bool,
    /// Number of capture groups (Python's `Pattern.groups`).
    pub(crate) groups: usize,
}

/// A pattern Python's `re` would reject (or that this translator cannot express).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    /// What is wrong, worded like Python's `re.error` where possible.
    pub(crate) message: String,
    /// Character offset in the pattern.
    pub(crate) position: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Last {
    /// Start of the pattern, of a group or of an alternative.
    Nothing,
    /// An anchor (`^`, `$`, `\b`...): Python refuses to repeat it.
    Anchor,
    /// A repeatable item starting at this byte of the output.
    Atom { start: usize, lookaround: bool },
    /// A repeated item: a second quantifier is an error.
    Repeat,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Frame {
    /// Character position of the group's `(` in the pattern.
    pub(super) in_start: usize,
    pub(super) out_start: usize,
    pub(super) capture: Option<usize>,
    pub(super) lookaround: bool,
    pub(super) verbose: bool,
    pub(super) ascii: bool,
}

/// The translation in progress (group handling is in `group.rs`).
pub(super) struct Translator<'a> {
    pub(super) cur: Cursor<'a>,
    pub(super) out: String,
    pub(super) fancy: bool,
    pub(super) groups: usize,
    pub(super) closed: Vec<bool>,
    pub(super) names: Vec<(String, usize)>,
    pub(super) stack: Vec<Frame>,
    pub(super) last: Last,
    pub(super) verbose: bool,
    pub(super) ascii: bool,
    pub(super) seen_item: bool,
    /// Character position of the `(` being opened.
    pub(super) group_pos: usize,
}

/// Translates `pattern` (Python `re` syntax, `str` pattern, default flags).
pub(crate) fn translate(pattern: &str) -> Result<Translated, SyntaxError> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut t = Translator {
        cur: Cursor::new(&chars),
        out: String::with_capacity(pattern.len() + 16),
        fancy: false,
        groups: 0,
        closed: vec![true],
        names: Vec::new(),
        stack: Vec::new(),
        last: Last::Nothing,
        verbose: false,
        ascii: false,
        seen_item: false,
        group_pos: 0,
    };
    t.run()?;
    Ok(Translated {
        pattern: t.out,
        fancy: t.fancy,
        groups: t.groups,
    })
}

impl Translator<'_> {
    pub(super) fn err<T>(&self, message: impl Into<String>) -> Result<T, SyntaxError> {
        Err(SyntaxError {
            message: message.into(),
            position: self.cur.pos(),
        })
    }

    pub(super) fn atom(&mut self, start: usize) {
        self.last = Last::Atom {
            start,
            lookaround: false,
        };
        self.seen_item = true;
    }

    fn anchor(&mut self, text: &str) {
        self.out.push_str(text);
        self.last = Last::Anchor;
        self.seen_item = true;
    }

    fn run(&mut self) -> Result<(), SyntaxError> {
        while let Some(c) = self.cur.next() {
            if self.verbose && matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c') {
                continue;
            }
            if self.verbose && c == '#' {
                while let Some(n) = self.cur.next() {
                    if n == '\n' {
                        break;
                    }
                }
                continue;
            }
            let start = self.out.len();
            match c {
                '|' => {
                    self.out.push('|');
                    self.last = Last::Nothing;
                }
                '(' => self.open_group()?,
                ')' => self.close_group()?,
                '[' => {
                    let parsed = class::parse(&mut self.cur, self.ascii)?;
                    class::emit(&mut self.out, &parsed);
                    self.atom(start);
                }
                '\\' => self.escape()?,
                '*' => self.repeat(0, None)?,
                '+' => self.repeat(1, None)?,
                '?' => self.repeat(0, Some(1))?,
                '{' => match self.cur.brace_quantifier()? {
                    Some((min, max)) => self.repeat(min, max)?,
                    None => {
                        self.out.push_str("\\{");
                        self.atom(start);
                    }
                },
                '.' => {
                    self.out.push('.');
                    self.atom(start);
                }
                '^' => self.anchor("^"),
                '$' => self.anchor("$"),
                c => {
                    push_literal(&mut self.out, c);
                    self.atom(start);
                }
            }
        }
        if let Some(frame) = self.stack.last() {
            return Err(SyntaxError {
                message: "missing ), unterminated subpattern".into(),
                position: frame.in_start,
            });
        }
        Ok(())
    }

    fn repeat(&mut self, min: u32, max: Option<u32>) -> Result<(), SyntaxError> {
        let (start, lookaround) = match self.last {
            Last::Atom { start, lookaround } => (start, lookaround),
            Last::Repeat => return self.err("multiple repeat"),
            Last::Nothing | Last::Anchor => return self.err("nothing to repeat"),
        };
        let lazy = self.cur.eat('?');
        let possessive = !lazy && self.cur.eat('+');
        self.last = Last::Repeat;
        if lookaround {
            // A look-around matches the empty string: repeating it once is the same
            // as once, and an optional one never fails (Python behaves so).
            if min == 0 {
                // `(?:X|)`: fancy-regex refuses to repeat a zero-width group.
                self.out
                    .insert_str(start, if lazy { "(?:|" } else { "(?:" });
                self.out.push_str(if lazy { ")" } else { "|)" });
            }
            return Ok(());
        }
        let mut q = match (min, max) {
            (0, None) => "*".to_owned(),
            (1, None) => "+".to_owned(),
            (0, Some(1)) => "?".to_owned(),
            (m, None) => format!("{{{m},}}"),
            (m, Some(n)) if m == n => format!("{{{m}}}"),
            (m, Some(n)) => format!("{{{m},{n}}}"),
        };
        if lazy {
            q.push('?');
        }
        if possessive {
            self.out.insert_str(start, "(?>");
            q.push(')');
            self.fancy = true;
        }
        self.out.push_str(&q);
        Ok(())
    }

    fn escape(&mut self) -> Result<(), SyntaxError> {
        let start = self.out.len();
        let Some(c) = self.cur.next() else {
            return self.err("bad escape (end of pattern)");
        };
        match c {
            'A' => self.anchor("\\A"),
            'Z' => self.anchor("\\z"),
            'b' => self.anchor(if self.ascii { "(?-u:\\b)" } else { "\\b" }),
            'B' => self.anchor(if self.ascii { "(?-u:\\B)" } else { "\\B" }),
            'd' | 'D' | 's' | 'S' | 'w' | 'W' => {
                class::emit_category(&mut self.out, c, self.ascii);
                self.atom(start);
            }
            '1'..='9' => match self.cur.number_or_octal(c)? {
                Ok(literal) => {
                    push_literal(&mut self.out, literal);
                    self.atom(start);
                }
                Err(group) => {
                    if group > self.groups {
                        return self.err(format!("invalid group reference {group}"));
                    }
                    if !self.closed[group] {
                        return self.err("cannot refer to an open group");
                    }
                    self.out.push_str(&format!("(?:\\{group})"));
                    self.fancy = true;
                    self.atom(start);
                }
            },
            c => {
                let literal = self.cur.literal_escape(c, false)?;
                push_literal(&mut self.out, literal);
                self.atom(start);
            }
        }
        Ok(())
    }
}
