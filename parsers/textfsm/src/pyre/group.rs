//! Groups in Python patterns: capturing and named groups, `(?:...)`,
//! look-arounds, atomic groups, conditionals, comments, back-references by name,
//! and inline flags (`(?i)` at the start only, as Python 3.11 requires, or scoped
//! `(?i:...)`), with the errors Python raises for each.

use super::translate::{Frame, Last, SyntaxError, Translator};

impl Translator<'_> {
    fn push_frame(&mut self, capture: Option<usize>, lookaround: bool, out_start: usize) {
        self.stack.push(Frame {
            in_start: self.group_pos,
            out_start,
            capture,
            lookaround,
            verbose: self.verbose,
            ascii: self.ascii,
        });
        self.last = Last::Nothing;
        self.seen_item = true;
    }

    pub(super) fn open_group(&mut self) -> Result<(), SyntaxError> {
        let start = self.out.len();
        self.group_pos = self.cur.pos() - 1;
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
                'a' | 'u' if negative => {
                    return self.err("bad inline flags: cannot turn off flags 'a', 'u' and 'L'");
                }
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

    pub(super) fn close_group(&mut self) -> Result<(), SyntaxError> {
        let Some(frame) = self.stack.pop() else {
            return self.err("unbalanced parenthesis");
        };
        self.out.push(')');
        if let Some(index) = frame.capture {
            self.closed[index] = true;
        }
        self.verbose = frame.verbose;
        self.ascii = frame.ascii;
        self.last = Last::Atom {
            start: frame.out_start,
            lookaround: frame.lookaround,
        };
        Ok(())
    }
}

/// Python's `str.isidentifier()` (close enough: Unicode letters, digits and `_`).
fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if c == '_' || c.is_alphabetic() => chars.all(|c| c == '_' || c.is_alphanumeric()),
        _ => false,
    }
}
