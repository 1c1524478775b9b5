//! Python `str` behaviour that TextFSM relies on: what counts as whitespace
//! (`str.isspace`), how text is cut into lines (`str.splitlines` for the data,
//! universal-newline file reading for templates and index files), `strip`, and
//! `repr` (which textfsm's table code applies to list items).

use std::fmt::Write as _;

/// Python's `str.isspace()` for one character (Unicode 14, as in CPython 3.11).
pub(crate) fn is_space(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n'
            | '\x0b'
            | '\x0c'
            | '\r'
            | '\x1c'..='\x1f'
            | ' '
            | '\u{85}'
            | '\u{a0}'
            | '\u{1680}'
            | '\u{2000}'..='\u{200a}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{202f}'
            | '\u{205f}'
            | '\u{3000}'
    )
}

/// Python's `str.rstrip()` without arguments.
pub(crate) fn rstrip(s: &str) -> &str {
    s.trim_end_matches(is_space)
}

/// Python's `str.strip()` without arguments.
pub(crate) fn strip(s: &str) -> &str {
    s.trim_matches(is_space)
}

/// Python's `str.splitlines()`: splits on `\n`, `\r\n`, `\r`, `\v`, `\f`, `\x1c`,
/// `\x1d`, `\x1e`, `\x85`, U+2028 and U+2029; a trailing break gives no empty line.
pub(crate) fn splitlines(text: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let is_break = matches!(
            c,
            '\n' | '\r'
                | '\x0b'
                | '\x0c'
                | '\x1c'
                | '\x1d'
                | '\x1e'
                | '\u{85}'
                | '\u{2028}'
                | '\u{2029}'
        );
        if !is_break {
            continue;
        }
        lines.push(&text[start..i]);
        let mut end = i + c.len_utf8();
        if c == '\r' && chars.peek().map(|&(_, n)| n) == Some('\n') {
            chars.next();
            end += 1;
        }
        start = end;
    }
    if start < text.len() {
        lines.push(&text[start..]);
    }
    lines
}

/// The lines Python yields when iterating a file opened in text mode (universal
/// newlines: `\r\n` and `\r` read as `\n`), without their line terminators.
pub(crate) fn file_lines(text: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let bytes = text.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => {
                lines.push(&text[start..i]);
                start = i + 1;
            }
            b'\r' => {
                lines.push(&text[start..i]);
                if bytes.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    if start < text.len() {
        lines.push(&text[start..]);
    }
    lines
}

/// Whether Python's `str.isprintable()` holds for `c` (unassigned code points are
/// treated as printable here; Python escapes them).
fn is_printable(c: char) -> bool {
    let u = u32::from(c);
    if c == ' ' {
        return true;
    }
    if u < 0x20 || (0x7f..=0xa0).contains(&u) || is_space(c) {
        return false;
    }
    !matches!(
        u,
        0xad | 0x600..=0x605
            | 0x61c
            | 0x6dd
            | 0x70f
            | 0x890..=0x891
            | 0x8e2
            | 0x180e
            | 0x200b..=0x200f
            | 0x202a..=0x202e
            | 0x2060..=0x2064
            | 0x2066..=0x206f
            | 0xe000..=0xf8ff
            | 0xfeff
            | 0xfff9..=0xfffb
            | 0x110bd
            | 0x110cd
            | 0x13430..=0x13438
            | 0x1bca0..=0x1bca3
            | 0x1d173..=0x1d17a
            | 0xe0001
            | 0xe0020..=0xe007f
            | 0xf0000..=0xffffd
            | 0x100000..=0x10fffd
    )
}

/// Python's `repr()` of a `str`.
pub(crate) fn repr_str(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if is_printable(c) => out.push(c),
            c => {
                let u = u32::from(c);
                // Writing to a String cannot fail.
                let _ = if u < 0x100 {
                    write!(out, "\\x{u:02x}")
                } else if u < 0x10000 {
                    write!(out, "\\u{u:04x}")
                } else {
                    write!(out, "\\U{u:08x}")
                };
            }
        }
    }
    out.push(quote);
    out
}

/// Python's `repr()` of an optional `str` (`None` when absent).
pub(crate) fn repr_opt(s: Option<&str>) -> String {
    s.map_or_else(|| "None".to_owned(), repr_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitlines_matches_python() {
        // Expected values from Python 3.11 `str.splitlines()`.
        let cases: &[(&str, &[&str])] = &[
            ("", &[]),
            ("a", &["a"]),
            ("a\n", &["a"]),
            ("a\n\n", &["a", ""]),
            ("a\r\nb\rc\nd", &["a", "b", "c", "d"]),
            ("a\r\r\nb", &["a", "", "b"]),
            (
                "a\x0bb\x0cc\x1cd\u{85}e\u{2028}f",
                &["a", "b", "c", "d", "e", "f"],
            ),
            ("a\x1fb\tc", &["a\x1fb\tc"]),
            ("\n", &[""]),
        ];
        for (input, want) in cases {
            assert_eq!(&splitlines(input), want, "input {input:?}");
        }
    }

    #[test]
    fn file_lines_use_universal_newlines() {
        let cases: &[(&str, &[&str])] = &[
            ("", &[]),
            ("a\nb", &["a", "b"]),
            ("a\r\nb\r\n", &["a", "b"]),
            ("a\rb\x0bc", &["a", "b\x0bc"]),
            ("\n\n", &["", ""]),
        ];
        for (input, want) in cases {
            assert_eq!(&file_lines(input), want, "input {input:?}");
        }
    }

    #[test]
    fn strip_uses_python_whitespace() {
        assert_eq!(rstrip("a \t\x1f\u{3000}"), "a");
        assert_eq!(strip("\u{a0} a b \x0c"), "a b");
        assert_eq!(rstrip("a\u{200b}"), "a\u{200b}");
    }

    #[test]
    fn repr_matches_python() {
        // Expected values from Python 3.11 `repr()`.
        let cases = [
            ("abc", "'abc'"),
            ("it's", "\"it's\""),
            ("a\"b'c", "'a\"b\\'c'"),
            ("tab\there", "'tab\\there'"),
            ("\\", "'\\\\'"),
            (
                "a\u{85}\u{a0}\u{2028}\x7f\u{9f}\u{ad}\u{e000}é",
                "'a\\x85\\xa0\\u2028\\x7f\\x9f\\xad\\ue000é'",
            ),
            ("\u{1F600}", "'\u{1F600}'"),
        ];
        for (input, want) in cases {
            assert_eq!(repr_str(input), want, "input {input:?}");
        }
        assert_eq!(repr_opt(None), "None");
    }
}
