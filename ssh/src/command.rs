//! The command allowlist: what a user may run on a device, checked before any connection.
//!
//! A platform allows commands by pattern, one per line of its file, words separated by
//! single spaces:
//! - a plain word must be typed as written (`brief`);
//! - `sh[[ow]]` accepts `sh`, `sho` and `show`, as ntc-templates' index completes;
//! - `{name}` is one token of letters, digits and `/ . _ : -` starting with a letter or a
//!   digit (an interface, a VRF, an address), at most 64 characters.
//!
//! A command is refused before matching when it is empty or longer than
//! [`MAX_COMMAND_LEN`], or holds a character outside printable ASCII (newlines, tabs,
//! escapes, any control character) or one of the characters a shell or a device CLI reads
//! as a separator, a pipe, a redirection, a quote or an expansion. Runs of spaces and the
//! ends are trimmed; the command sent is the normalised one.

use std::fmt;

use regex::Regex;

use crate::Platform;

/// The longest command accepted, in bytes.
pub const MAX_COMMAND_LEN: usize = 256;

/// Characters refused anywhere in a command: separators (`;`, `&`, newline is a control
/// character), pipes and redirections (`|`, `<`, `>`), quotes and escapes (`"`, `'`,
/// `` ` ``, `\`), expansions (`$`, `*`, `?`, `~`, `!`, `{`, `}`, `(`, `)`, `[`, `]`), and
/// `#`, `%`, `^`, `=`, `,` (comments and operators on some CLIs). No allowed pattern needs them.
const FORBIDDEN: &[char] = &[
    ';', '&', '|', '<', '>', '"', '\'', '`', '\\', '$', '*', '?', '~', '!', '{', '}', '(', ')',
    '[', ']', '#', '%', '^', '=', ',',
];

/// Why a command was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Nothing but spaces.
    #[error("the command is empty")]
    Empty,
    /// Over [`MAX_COMMAND_LEN`] bytes.
    #[error("the command is {len} bytes long; at most {MAX_COMMAND_LEN} are accepted")]
    TooLong {
        /// Its length.
        len: usize,
    },
    /// A byte outside printable ASCII (a newline, a tab, an escape, a non-ASCII letter).
    #[error(
        "the command holds {} at byte {at}: only printable ASCII is accepted (no newline, tab or control character)",
        describe(*ch)
    )]
    Character {
        /// The character.
        ch: char,
        /// Its byte offset.
        at: usize,
    },
    /// A separator, pipe, redirection, quote or expansion character.
    #[error(
        "the command holds `{ch}` at byte {at}: separators, pipes, redirections, quotes and wildcards are refused"
    )]
    Forbidden {
        /// The character.
        ch: char,
        /// Its byte offset.
        at: usize,
    },
    /// Not in the platform's allowlist.
    #[error("`{command}` is not an allowed read-only command on {platform}")]
    NotAllowed {
        /// The platform.
        platform: String,
        /// The (normalised) command.
        command: String,
    },
}

fn describe(ch: char) -> String {
    match ch {
        '\n' => "a newline".into(),
        '\r' => "a carriage return".into(),
        '\t' => "a tab".into(),
        c if c.is_control() => format!("the control character U+{:04X}", c as u32),
        c => format!("`{c}` (U+{:04X})", c as u32),
    }
}

/// A command that passed [`Platform::check`]: the only kind the runner sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedCommand {
    text: String,
}

impl AllowedCommand {
    /// The normalised command, as sent.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for AllowedCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// One allowlist line, compiled.
#[derive(Debug)]
pub(crate) struct Pattern {
    /// As written in the platform file.
    pub(crate) source: String,
    regex: Regex,
}

const TOKEN: &str = "[A-Za-z0-9][A-Za-z0-9/._:-]{0,63}";

impl Pattern {
    pub(crate) fn parse(source: &str) -> Result<Pattern, String> {
        if source.trim() != source || source.contains("  ") || source.is_empty() {
            return Err("words must be separated by single spaces".into());
        }
        let mut re = String::from("^");
        for (i, word) in source.split(' ').enumerate() {
            if i > 0 {
                re.push(' ');
            }
            if word == "{name}" {
                re.push_str(TOKEN);
                continue;
            }
            let (head, completion) = match word.find("[[") {
                Some(open) => {
                    let rest = &word[open + 2..];
                    let Some(body) = rest.strip_suffix("]]") else {
                        return Err(format!(
                            "`{word}`: `[[` must close with `]]` at the word's end"
                        ));
                    };
                    (&word[..open], body)
                }
                None => (word, ""),
            };
            if head.is_empty() || head.contains(FORBIDDEN) || completion.contains(FORBIDDEN) {
                return Err(format!("`{word}` is not a command word"));
            }
            re.push_str(&regex::escape(head));
            for c in completion.chars() {
                re.push_str("(?:");
                re.push_str(&regex::escape(&c.to_string()));
            }
            re.push_str(&")?".repeat(completion.chars().count()));
        }
        re.push('$');
        let regex = Regex::new(&re).map_err(|e| e.to_string())?;
        Ok(Pattern {
            source: source.to_owned(),
            regex,
        })
    }
}

impl Platform {
    /// Checks `command` against this platform's allowlist: the normalised command, or why
    /// it is refused. Nothing is sent anywhere.
    pub fn check(&self, command: &str) -> Result<AllowedCommand, Refusal> {
        if command.len() > MAX_COMMAND_LEN {
            return Err(Refusal::TooLong { len: command.len() });
        }
        for (at, ch) in command.char_indices() {
            if !(ch == ' ' || ch.is_ascii_graphic()) {
                return Err(Refusal::Character { ch, at });
            }
            if FORBIDDEN.contains(&ch) {
                return Err(Refusal::Forbidden { ch, at });
            }
        }
        let text = command
            .split(' ')
            .filter(|w| !w.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        if text.is_empty() {
            return Err(Refusal::Empty);
        }
        if self.allow.iter().any(|p| p.regex.is_match(&text)) {
            Ok(AllowedCommand { text })
        } else {
            Err(Refusal::NotAllowed {
                platform: self.name.clone(),
                command: text,
            })
        }
    }
}

#[cfg(test)]
mod tests;
