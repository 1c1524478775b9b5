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
enum Last {
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
struct Frame {
    out_start: usize,
    capture: Option<usize>,
    lookaround: bool,
    verbose: bool,
    ascii: bool,
}

struct Translator<'a> {
    cur: Cursor<'a>,
    out: String,
    fancy: bool,
    groups: usize,
    closed: Vec<bool>,
    names: Vec<(String, usize)>,
    stack: Vec<Frame>,
    last: Last,
    verbose: bool,
    ascii: bool,
    seen_item: bool,
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
    };
    t.run()?;
    Ok(Translated { pattern: t.out, fancy: t.fancy, groups: t.groups })
}

impl Translator<'_> {
    fn err<T>(&self, message: impl Into<String>) -> Result<T, SyntaxError> {
        Err(SyntaxError { message: message.into(), position: self.cur.pos() })
    }

    fn atom(&mut self, start: usize) {
        self.last = Last::Atom { start, lookaround: false };
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
        if !self.stack.is_empty() {
            return self.err("missing ), unterminated subpattern");
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
                self.out.insert_str(start, if lazy { "(?:|" } else { "(?:" });
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

    fn push_frame(&mut self, capture: Option<usize>, lookaround: bool, out_start: usize) {
        self.stack.push(Frame {
            out_start,
            capture,
            lookaround,
            verbose: self.verbose,
            ascii: self.ascii,
        });
        self.last = Last::Nothing;
        self.seen_item = true;
    }

    fn open_group(&mut self) -> Result<(), SyntaxError> {
        let start = self.out.len();
        if !self.cur.eat('?') {
            self.groups += 1;
            self.closed.push(false);
            self.out.push('(');
            self.push_frame(Some(self.groups), false, start);
            return Ok(());
        }
        let Some(c) = self.cur.next() else {
            return self.err("unexpected end of pattern");
        };
        match c {
            ':' => {
                self.out.push_str("(?:");
                self.push_frame(None, false, start);
            }
            '>' => {
                self.out.push_str("(?>");
                self.fancy = true;
                self.push_frame(None, false, start);
            }
            '=' | '!' => {
                self.out.push_str(if c == '=' { "(?=" } else { "(?!" });
                self.fancy = true;
                self.push_frame(None, true, start);
            }
            '<' if self.cur.peek() == Some('=') || self.cur.peek() == Some('!') => {
                let neg = self.cur.next() == Some('!');
                self.out.push_str(if neg { "(?<!" } else { "(?<=" });
                self.fancy = true;
                self.push_frame(None, true, start);
            }
            '#' => {
                // A comment: skipped, and it is not an item Python could repeat.
                loop {
                    match self.cur.next() {
                        Some(')') => break,
                        Some(_) => {}
                        None => return self.err("missing ), unterminated comment"),
                    }
                }
            }
            'P' => self.open_p_group(start)?,
            '(' => self.open_conditional(start)?,
            c if "aiLmsux-".contains(c) => self.flags(c, start)?,
            c => return self.err(format!("unknown extension ?{c}")),
        }
        Ok(())
    }

    fn open_p_group(&mut self, start: usize) -> Result<(), SyntaxError> {
        if self.cur.eat('<') {
            let name = self.cur.until('>', "group name")?;
            if !is_identifier(&name) {
                return self.err(format!("bad character in group name '{name}'"));
            }
            if self.names.iter().any(|(n, _)| *n == name) {
                return self.err(format!("redefinition of group name '{name}'"));
            }
            self.groups += 1;
            self.closed.push(false);
            self.names.push((name.clone(), self.groups));
            self.out.push_str(&format!("(?P<{name}>"));
            self.push_frame(Some(self.groups), false, start);
            Ok(())
        } else if self.cur.eat('=') {
            let name = self.cur.until(')', "group name")?;
            let Some(&(_, index)) = self.names.iter().find(|(n, _)| *n == name) else {
                return self.err(format!("unknown group name '{name}'"));
            };
            if !self.closed[index] {
                return self.err("cannot refer to an open group");
            }
            self.out.push_str(&format!("(?:\\k<{name}>)"));
            self.fancy = true;
            self.atom(start);
            Ok(())
        } else {
            let c = self.cur.peek().map(String::from).unwrap_or_default();
            self.err(format!("unknown extension ?P{c}"))
        }
    }

    fn open_conditional(&mut self, start: usize) -> Result<(), SyntaxError> {
        let cond = self.cur.until(')', "group name")?;
        let reference = if !cond.is_empty() && cond.chars().all(|c| c.is_ascii_digit()) {
            cond.clone()
        } else if is_identifier(&cond) && self.names.iter().any(|(n, _)| *n == cond) {
            format!("<{cond}>")
        } else {
            return self.err(format!("bad character in group name '{cond}'"));
        };
        self.out.push_str(&format!("(?({reference})"));
        self.fancy = true;
        self.push_frame(None, false, start);
        Ok(())
    }

    /// `(?aiLmsux)` (global, only at the start) or `(?aiLmsux-imsx:...)` (scoped).
    fn flags(&mut self, first: char, start: usize) -> Result<(), SyntaxError> {
        let mut on = String::new();
        let mut off = String::new();
        let mut c = first;
        let mut negative = false;
        loop {
            match c {
                '-' if !negative => negative = true,
                'L' => return self.err("bad inline flags: cannot use 'L' flag with a str pattern"),
                'a' | 'u' if negative => return self.err("bad inline flags: cannot turn off flags 'a', 'u' and 'L'"),
                'a' | 'i' | 'm' | 's' | 'u' | 'x' => {
                    let set = if negative { &mut off } else { &mut on };
                    if !set.contains(c) {
                        set.push(c);
                    }
                }
                ':' | ')' => break,
                other => return self.err(format!("unknown flag {other:?}")),
            }
            c = match self.cur.next() {
                Some(c) => c,
                None => return self.err("missing -, : or )"),
            };
        }
        if on.contains('a') && on.contains('u') {
            return self.err("bad inline flags: flags 'a', 'u' and 'L' are incompatible");
        }
        let rust = |s: &str| s.chars().filter(|c| "ims".contains(*c)).collect::<String>();
        if c == ')' {
            if negative {
                return self.err("missing :");
            }
            if !self.stack.is_empty() || self.seen_item {
                return self.err("global flags not at the start of the expression");
            }
            self.apply_flags(&on, &off);
            let r = rust(&on);
            if !r.is_empty() {
                self.out.push_str(&format!("(?{r})"));
            }
            return Ok(());
        }
        let (r_on, r_off) = (rust(&on), rust(&off));
        self.out.push_str("(?");
        self.out.push_str(&r_on);
        if !r_off.is_empty() {
            self.out.push('-');
            self.out.push_str(&r_off);
        }
        self.out.push(':');
        self.push_frame(None, false, start);
        self.apply_flags(&on, &off);
        Ok(())
    }

    fn apply_flags(&mut self, on: &str, off: &str) {
        if on.contains('x') {
            self.verbose = true;
        }
        if off.contains('x') {
            self.verbose = false;
        }
        if on.contains('a') {
            self.ascii = true;
        }
    }

    fn close_group(&mut self) -> Result<(), SyntaxError> {
        let Some(frame) = self.stack.pop() else {
            return self.err("unbalanced parenthesis");
        };
        self.out.push(')');
        if let Some(index) = frame.capture {
            self.closed[index] = true;
        }
        self.verbose = frame.verbose;
        self.ascii = frame.ascii;
        self.last = Last::Atom { start: frame.out_start, lookaround: frame.lookaround };
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

/// Python's `str.isidentifier()` (close enough: Unicode letters, digits and `_`).
pub(crate) fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if c == '_' || c.is_alphabetic() => chars.all(|c| c == '_' || c.is_alphanumeric()),
        _ => false,
    }
}
