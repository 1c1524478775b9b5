//! Python-compatible regular expressions: a pattern written for Python's `re` is
//! translated (see [`translate`]) and compiled with the `regex` crate, or with
//! `fancy-regex` when it needs look-around or back-references; matching is
//! anchored at the start only, as Python's `re.match` (TextFSM's way to apply a
//! rule to a line).

mod class;
mod group;
mod syntax;
mod translate;

#[cfg(test)]
mod tests;

pub(crate) use translate::SyntaxError;

/// Backtracking steps allowed to one `fancy-regex` match before it gives up.
const BACKTRACK_LIMIT: usize = 20_000_000;
/// Compiled-program size allowed to one `regex` pattern (Unicode classes are big).
const SIZE_LIMIT: usize = 64 << 20;

/// Why a Python pattern could not be compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CompileError {
    /// Python's `re` rejects it (or it uses syntax this crate cannot translate).
    Syntax(SyntaxError),
    /// The translated pattern was refused by the Rust engine.
    Engine(String),
}

impl std::fmt::Display for CompileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CompileError::Syntax(e) => write!(f, "{} at position {}", e.message, e.position),
            CompileError::Engine(e) => write!(f, "{e}"),
        }
    }
}

#[derive(Debug)]
enum Matcher {
    Std(regex::Regex),
    Fancy(Box<fancy_regex::Regex>),
}

/// A compiled Python pattern.
#[derive(Debug)]
pub(crate) struct PyRegex {
    matcher: Matcher,
    groups: usize,
    names: Vec<(usize, String)>,
}

/// Match output: the spans of the groups of the last successful match.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    slots: Vec<Option<(usize, usize)>>,
}

impl Scratch {
    /// The text of group `index` in `hay` after a successful match (`None` when the
    /// group did not take part in the match).
    pub(crate) fn group<'h>(&self, hay: &'h str, index: usize) -> Option<&'h str> {
        let (start, end) = (*self.slots.get(index)?)?;
        hay.get(start..end)
    }
}

/// A `fancy-regex` match gave up (too much backtracking) or failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MatchError(pub(crate) String);

/// Checks that Python's `re` accepts `pattern`, without compiling it.
pub(crate) fn check_syntax(pattern: &str) -> Result<(), CompileError> {
    translate::translate(pattern)
        .map(drop)
        .map_err(CompileError::Syntax)
}

impl PyRegex {
    /// Compiles a Python pattern, to be matched at the start of the text.
    pub(crate) fn compile(pattern: &str) -> Result<Self, CompileError> {
        let t = translate::translate(pattern).map_err(CompileError::Syntax)?;
        let anchored = format!("\\A(?:{})", t.pattern);
        let matcher = if t.fancy {
            let re = fancy_regex::RegexBuilder::new(&anchored)
                .backtrack_limit(BACKTRACK_LIMIT)
                .delegate_size_limit(SIZE_LIMIT)
                .build()
                .map_err(|e| CompileError::Engine(e.to_string()))?;
            Matcher::Fancy(Box::new(re))
        } else {
            let re = regex::RegexBuilder::new(&anchored)
                .size_limit(SIZE_LIMIT)
                .build()
                .map_err(|e| CompileError::Engine(e.to_string()))?;
            Matcher::Std(re)
        };
        let names: Vec<(usize, String)> = match &matcher {
            Matcher::Std(re) => named(re.capture_names()),
            Matcher::Fancy(re) => named(re.capture_names()),
        };
        let engine_groups = match &matcher {
            Matcher::Std(re) => re.captures_len(),
            Matcher::Fancy(re) => re.captures_len(),
        };
        if engine_groups != t.groups + 1 {
            return Err(CompileError::Engine(format!(
                "group count mismatch after translation ({} vs {})",
                engine_groups - 1,
                t.groups
            )));
        }
        Ok(PyRegex {
            matcher,
            groups: t.groups,
            names,
        })
    }

    /// Number of capture groups (Python's `Pattern.groups`).
    pub(crate) fn groups(&self) -> usize {
        self.groups
    }

    /// Named groups, in the order Python's `groupdict()` lists them.
    pub(crate) fn names(&self) -> &[(usize, String)] {
        &self.names
    }

    /// Whether the pattern runs on the backtracking engine.
    pub(crate) fn is_fancy(&self) -> bool {
        matches!(self.matcher, Matcher::Fancy(_))
    }

    /// Python's `pattern.match(hay)`: on success the group spans are in `scratch`.
    pub(crate) fn match_start(&self, hay: &str, scratch: &mut Scratch) -> Result<bool, MatchError> {
        scratch.slots.clear();
        match &self.matcher {
            Matcher::Std(re) => {
                // Most rules do not match most lines: the DFA-only test is cheap, and
                // captures are only extracted for a match.
                if !re.is_match(hay) {
                    return Ok(false);
                }
                let Some(caps) = re.captures(hay) else {
                    return Ok(false);
                };
                scratch
                    .slots
                    .extend(caps.iter().map(|m| m.map(|m| (m.start(), m.end()))));
                Ok(true)
            }
            Matcher::Fancy(re) => match re.captures(hay) {
                Ok(Some(caps)) => {
                    scratch
                        .slots
                        .extend((0..caps.len()).map(|i| caps.get(i).map(|m| (m.start(), m.end()))));
                    Ok(true)
                }
                Ok(None) => Ok(false),
                Err(e) => Err(MatchError(e.to_string())),
            },
        }
    }
}

fn named<'a>(names: impl Iterator<Item = Option<&'a str>>) -> Vec<(usize, String)> {
    names
        .enumerate()
        .filter_map(|(i, n)| n.map(|n| (i, n.to_owned())))
        .collect()
}
