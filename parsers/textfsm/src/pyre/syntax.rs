//! The lexical pieces of Python's `re` syntax shared by the pattern and the
//! character-class translators: a cursor over the pattern's characters, escape
//! decoding (`\x41`, `\u00e9`, octal, `\n`, ...), `{m,n}` quantifier scanning,
//! and writing one literal character in Rust regex syntax.

use super::translate::SyntaxError;
use std::fmt::Write as _;

/// A position in a pattern, by character.
#[derive(Debug)]
pub(crate) struct Cursor<'a> {
    chars: &'a [char],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(chars: &'a [char]) -> Self {
        Cursor { chars, pos: 0 }
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    #[allow(clippy::should_implement_trait)]
    pub(crate) fn next(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += 1;
        Some(c)
    }

    /// Consumes `c` if it comes next.
    pub(crate) fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    pub(crate) fn err<T>(&self, message: impl Into<String>) -> Result<T, SyntaxError> {
        Err(SyntaxError {
            message: message.into(),
            position: self.pos,
        })
    }

    /// Reads up to `terminator` (consumed, not returned); `what` names the text for
    /// the error when the terminator is missing or the text empty.
    pub(crate) fn until(&mut self, terminator: char, what: &str) -> Result<String, SyntaxError> {
        let mut s = String::new();
        loop {
            match self.next() {
                Some(c) if c == terminator => break,
                Some(c) => s.push(c),
                None => return self.err(format!("missing {terminator}, unterminated name")),
            }
        }
        if s.is_empty() {
            return self.err(format!("missing {what}"));
        }
        Ok(s)
    }

    /// After a `{`: the bounds of a quantifier (`{m}`, `{m,}`, `{,n}`, `{m,n}`), or
    /// `None` (cursor unchanged) when Python would read the `{` as a literal.
    pub(crate) fn brace_quantifier(&mut self) -> Result<Option<(u32, Option<u32>)>, SyntaxError> {
        let here = self.pos;
        if self.peek() == Some('}') {
            return Ok(None);
        }
        let lo = self.digits();
        let hi = if self.eat(',') {
            self.digits()
        } else {
            lo.clone()
        };
        if !self.eat('}') {
            self.pos = here;
            return Ok(None);
        }
        let parse = |s: &str| -> Result<Option<u32>, SyntaxError> {
            if s.is_empty() {
                return Ok(None);
            }
            match s.parse::<u32>() {
                Ok(n) if n < u32::MAX => Ok(Some(n)),
                _ => Err(SyntaxError {
                    message: "the repetition number is too large".into(),
                    position: here,
                }),
            }
        };
        let min = parse(&lo)?.unwrap_or(0);
        let max = parse(&hi)?;
        if max.is_some_and(|max| max < min) {
            return self.err("min repeat greater than max repeat");
        }
        Ok(Some((min, max)))
    }

    fn digits(&mut self) -> String {
        let mut s = String::new();
        while let Some(c) = self.peek().filter(char::is_ascii_digit) {
            s.push(c);
            self.pos += 1;
        }
        s
    }

    fn hex(&mut self, escape: char, count: usize) -> Result<char, SyntaxError> {
        let mut value = 0u32;
        for _ in 0..count {
            match self.peek().and_then(|c| c.to_digit(16)) {
                Some(d) => {
                    value = value * 16 + d;
                    self.pos += 1;
                }
                None => return self.err(format!("incomplete escape \\{escape}")),
            }
        }
        match char::from_u32(value) {
            Some(c) => Ok(c),
            None => self.err(format!("bad escape \\{escape}{value:x}")),
        }
    }

    fn octal(&mut self, first: char, max_more: usize) -> Result<char, SyntaxError> {
        let mut value = first.to_digit(8).unwrap_or(0);
        for _ in 0..max_more {
            match self.peek().and_then(|c| c.to_digit(8)) {
                Some(d) => {
                    value = value * 8 + d;
                    self.pos += 1;
                }
                None => break,
            }
        }
        if value > 0o377 {
            return self.err(format!(
                "octal escape value \\{value:o} outside of range 0-0o377"
            ));
        }
        // Values up to 0o377 are valid code points.
        Ok(char::from_u32(value).unwrap_or('\0'))
    }

    /// After `\` and a digit 1-9 outside a class: an octal literal (`\123`) or a
    /// group reference number, as Python decides between them.
    pub(crate) fn number_or_octal(
        &mut self,
        first: char,
    ) -> Result<Result<char, usize>, SyntaxError> {
        let mut digits = String::from(first);
        if let Some(second) = self.peek().filter(char::is_ascii_digit) {
            self.pos += 1;
            digits.push(second);
            let third = self.peek().filter(|c| c.is_digit(8));
            if first.is_digit(8) && second.is_digit(8) && third.is_some() {
                self.pos -= 1;
                return self.octal(first, 2).map(Ok);
            }
        }
        Ok(Err(digits.parse::<usize>().unwrap_or(usize::MAX)))
    }

    /// After `\` and `c` (not a class shorthand nor, outside a class, an anchor or
    /// a back-reference): the literal character Python reads.
    pub(crate) fn literal_escape(&mut self, c: char, in_class: bool) -> Result<char, SyntaxError> {
        Ok(match c {
            'a' => '\x07',
            'b' if in_class => '\x08',
            'f' => '\x0c',
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            'v' => '\x0b',
            'x' => self.hex('x', 2)?,
            'u' => self.hex('u', 4)?,
            'U' => self.hex('U', 8)?,
            'N' => return self.err("named Unicode escapes (\\N{...}) are not supported"),
            '0' => self.octal('0', 2)?,
            '1'..='7' if in_class => self.octal(c, 2)?,
            c if c.is_ascii_alphanumeric() => return self.err(format!("bad escape \\{c}")),
            c => c,
        })
    }
}

/// Characters that must be escaped to be literal in Rust regex syntax, inside or
/// outside a class.
fn is_rust_meta(c: char) -> bool {
    matches!(
        c,
        '\\' | '.'
            | '+'
            | '*'
            | '?'
            | '('
            | ')'
            | '|'
            | '['
            | ']'
            | '{'
            | '}'
            | '^'
            | '$'
            | '#'
            | '&'
            | '-'
            | '~'
    )
}

/// Appends the literal character `c` in Rust regex syntax (valid in and out of
/// character classes).
pub(crate) fn push_literal(out: &mut String, c: char) {
    if is_rust_meta(c) {
        out.push('\\');
        out.push(c);
    } else if c.is_control() || (c.is_whitespace() && c != ' ') {
        // Writing to a String cannot fail.
        let _ = write!(out, "\\x{{{:X}}}", u32::from(c));
    } else {
        out.push(c);
    }
}
