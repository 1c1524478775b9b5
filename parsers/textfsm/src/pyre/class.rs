//! Python character classes (`[...]`) read with Python's rules and written in
//! Rust regex syntax: a leading `]` is a literal, `[`, `&&`, `--` and `~~` are
//! literals (Rust reads them as nested classes and set operations), `\b` is a
//! backspace, and the shorthands `\d`, `\s`, `\w` keep their (Unicode or, under
//! `(?a)`, ASCII) meaning.

use super::syntax::{Cursor, push_literal};
use super::translate::SyntaxError;

/// One member of a character class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClassItem {
    /// A single character.
    Char(char),
    /// An inclusive range.
    Range(char, char),
    /// `\d`, `\D`, `\s`, `\S`, `\w` or `\W`, and whether ASCII mode (`(?a)`) is on.
    Category(char, bool),
}

/// A parsed class: whether it is negated, and its members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Class {
    negated: bool,
    items: Vec<ClassItem>,
}

/// Reads a class after its opening `[`, up to and including the closing `]`.
pub(crate) fn parse(cur: &mut Cursor<'_>, ascii: bool) -> Result<Class, SyntaxError> {
    let negated = cur.eat('^');
    let mut items = Vec::new();
    loop {
        let Some(this) = cur.next() else {
            return cur.err("unterminated character set");
        };
        if this == ']' && !items.is_empty() {
            break;
        }
        let first = member(cur, this, ascii)?;
        if !cur.eat('-') {
            items.push(first);
            continue;
        }
        let Some(that) = cur.next() else {
            return cur.err("unterminated character set");
        };
        if that == ']' {
            items.push(first);
            items.push(ClassItem::Char('-'));
            break;
        }
        let second = member(cur, that, ascii)?;
        match (first, second) {
            (ClassItem::Char(lo), ClassItem::Char(hi)) if lo <= hi => {
                items.push(ClassItem::Range(lo, hi))
            }
            _ => return cur.err(format!("bad character range {this}-{that}")),
        }
    }
    Ok(Class { negated, items })
}

fn member(cur: &mut Cursor<'_>, this: char, ascii: bool) -> Result<ClassItem, SyntaxError> {
    if this != '\\' {
        return Ok(ClassItem::Char(this));
    }
    let Some(c) = cur.next() else {
        return cur.err("bad escape (end of pattern)");
    };
    match c {
        'd' | 'D' | 's' | 'S' | 'w' | 'W' => Ok(ClassItem::Category(c, ascii)),
        '8' | '9' => cur.err(format!("bad escape \\{c}")),
        c => cur.literal_escape(c, true).map(ClassItem::Char),
    }
}

/// ASCII members of `\d`, `\s` and `\w` under `(?a)`, as inclusive ranges.
fn ascii_ranges(category: char) -> &'static [(char, char)] {
    match category.to_ascii_lowercase() {
        'd' => &[('0', '9')],
        's' => &[('\t', '\r'), (' ', ' ')],
        _ => &[('0', '9'), ('A', 'Z'), ('_', '_'), ('a', 'z')],
    }
}

/// The complement of sorted, disjoint ranges over all of Unicode.
fn complement(ranges: &[(char, char)]) -> Vec<(char, char)> {
    let mut out = Vec::new();
    let mut next = 0u32;
    for &(lo, hi) in ranges {
        if u32::from(lo) > next {
            out.push((next, u32::from(lo) - 1));
        }
        next = u32::from(hi) + 1;
    }
    out.push((next, u32::from(char::MAX)));
    out.into_iter()
        .filter_map(|(a, b)| Some((char::from_u32(a)?, char::from_u32(b)?)))
        .collect()
}

fn push_category(out: &mut String, category: char, ascii: bool) {
    if !ascii {
        out.push('\\');
        out.push(category);
        return;
    }
    let base = ascii_ranges(category);
    let ranges = if category.is_ascii_uppercase() {
        complement(base)
    } else {
        base.to_vec()
    };
    for (lo, hi) in ranges {
        push_literal(out, lo);
        if hi != lo {
            out.push('-');
            push_literal(out, hi);
        }
    }
}

/// Writes a class shorthand used outside brackets (`\d`, or `[0-9]` in ASCII mode).
pub(crate) fn emit_category(out: &mut String, category: char, ascii: bool) {
    if ascii {
        out.push('[');
        push_category(out, category, ascii);
        out.push(']');
    } else {
        push_category(out, category, ascii);
    }
}

/// Writes `class` in Rust regex syntax.
pub(crate) fn emit(out: &mut String, class: &Class) {
    out.push('[');
    if class.negated {
        out.push('^');
    }
    for item in &class.items {
        match *item {
            ClassItem::Char(c) => push_literal(out, c),
            ClassItem::Range(lo, hi) => {
                push_literal(out, lo);
                out.push('-');
                push_literal(out, hi);
            }
            ClassItem::Category(c, ascii) => push_category(out, c, ascii),
        }
    }
    out.push(']');
}
