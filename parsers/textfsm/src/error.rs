//! The crate's typed errors: template syntax errors (the ones Python textfsm's
//! `TextFSMTemplateError` reports, each naming the template line), errors while
//! running a template on text (`TextFSMError`), index file errors, and the
//! errors of loading templates from a directory and of `parse_output`.

use std::path::PathBuf;

/// A template Python textfsm would refuse to load.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// A `Value` line with fewer than 3 space-separated tokens.
    #[error("template line {line}: expect at least 3 tokens on a Value line")]
    ValueTokens {
        /// 1-based template line.
        line: usize,
    },
    /// An option that is not Filldown, Key, Required, List or Fillup.
    #[error("template line {line}: unknown option \"{option}\"")]
    UnknownOption {
        /// 1-based template line.
        line: usize,
        /// The option as written.
        option: String,
    },
    /// The same option twice on one `Value`.
    #[error("template line {line}: duplicate option \"{option}\"")]
    DuplicateOption {
        /// 1-based template line.
        line: usize,
        /// The option as written.
        option: String,
    },
    /// A value name longer than 48 characters (or one textfsm cannot use).
    #[error("template line {line}: invalid Value name '{name}' or name too long")]
    ValueName {
        /// 1-based template line.
        line: usize,
        /// The name as written.
        name: String,
    },
    /// A value regex not wrapped in `(` ... `)`.
    #[error("template line {line}: Value '{regex}' must be contained within a '()' pair")]
    ValueParens {
        /// 1-based template line.
        line: usize,
        /// The regex as written.
        regex: String,
    },
    /// A value regex Python's `re` rejects.
    #[error("template line {line}: invalid regex for Value {name}: {message}")]
    ValueRegex {
        /// 1-based template line.
        line: usize,
        /// The value's name.
        name: String,
        /// What is wrong with the regex.
        message: String,
    },
    /// Two `Value` lines with the same name.
    #[error("template line {line}: duplicate declarations for Value '{name}'")]
    DuplicateValue {
        /// 1-based template line.
        line: usize,
        /// The repeated name.
        name: String,
    },
    /// The first non-comment line is not a `Value` line.
    #[error("template line {line}: no Value definitions found")]
    NoValues {
        /// 1-based template line.
        line: usize,
    },
    /// A non-`Value` line in the value block before the blank line.
    #[error("template line {line}: expected blank line after last Value entry")]
    ExpectedBlankLine {
        /// 1-based template line.
        line: usize,
    },
    /// A state name that is not a word, is too long or is a reserved word.
    #[error("template line {line}: invalid state name: '{name}'")]
    StateName {
        /// 1-based template line.
        line: usize,
        /// The name as written.
        name: String,
    },
    /// Two states with the same name.
    #[error("template line {line}: duplicate state name: '{name}'")]
    DuplicateState {
        /// 1-based template line.
        line: usize,
        /// The repeated name.
        name: String,
    },
    /// A rule line not starting with one or two spaces or a tab, then `^`.
    #[error("template line {line}: missing white space or carat ('^') before rule")]
    RuleIndent {
        /// 1-based template line.
        line: usize,
    },
    /// A `$` in a rule that is not `$$`, `$NAME` or `${NAME}` of a known value.
    #[error("template line {line}: duplicate or invalid variable substitution: '{rule}'")]
    Substitution {
        /// 1-based template line.
        line: usize,
        /// The rule's regex part, before substitution.
        rule: String,
    },
    /// A rule regex (after `${VALUE}` substitution) that cannot be compiled.
    #[error("template line {line}: invalid regular expression: '{regex}': {message}")]
    RuleRegex {
        /// 1-based template line.
        line: usize,
        /// The regex after substitution.
        regex: String,
        /// What is wrong with it.
        message: String,
    },
    /// An action (after `->`) that is not `[LineOp[.RecordOp]] [NewState]`.
    #[error("template line {line}: badly formatted rule '{rule}'")]
    BadAction {
        /// 1-based template line.
        line: usize,
        /// The whole rule.
        rule: String,
    },
    /// `Continue` together with a new state.
    #[error("template line {line}: action 'Continue' with new state {state} specified")]
    ContinueWithState {
        /// 1-based template line.
        line: usize,
        /// The new state given.
        state: String,
    },
    /// A quoted new state on a rule whose line op is not `Error`.
    #[error("template line {line}: alphanumeric characters only in state names")]
    StateNameChars {
        /// 1-based template line.
        line: usize,
    },
    /// No `Start` state.
    #[error("missing state 'Start'")]
    MissingStart,
    /// An `End` or `EOF` state with rules.
    #[error("non-empty '{state}' state")]
    NonEmptyReserved {
        /// `End` or `EOF`.
        state: String,
    },
    /// A transition to a state that is not defined.
    #[error("template line {line}: state '{target}' not found, referenced in state '{state}'")]
    UnknownState {
        /// 1-based template line of the rule.
        line: usize,
        /// The missing state.
        target: String,
        /// The state holding the rule.
        state: String,
    },
}

/// An error while running a template on text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// A rule with the `Error` action matched (textfsm discards all records).
    #[error("{}", error_action_text(message.as_deref(), *rule_line, input_line))]
    ErrorAction {
        /// The rule's message (as written, quotes included), if it has one.
        message: Option<String>,
        /// 1-based template line of the rule.
        rule_line: usize,
        /// The input line that matched.
        input_line: String,
    },
    /// A `List` value with nested groups got no text (Python textfsm raises a
    /// `TypeError` there).
    #[error(
        "template line {rule_line}: List value {value} with nested groups did not match (input line: {input_line})"
    )]
    ListValueMissing {
        /// The value's name.
        value: String,
        /// 1-based template line of the rule.
        rule_line: usize,
        /// The input line that matched.
        input_line: String,
    },
    /// A rule needing the backtracking engine gave up on a line.
    #[error("template line {rule_line}: regex gave up on input line {input_line:?}: {message}")]
    RegexLimit {
        /// 1-based template line of the rule.
        rule_line: usize,
        /// The input line.
        input_line: String,
        /// The engine's reason.
        message: String,
    },
}

/// textfsm's wording of an `Error` action.
fn error_action_text(message: Option<&str>, rule_line: usize, input_line: &str) -> String {
    match message {
        Some(m) => format!("Error: {m}. Rule Line: {rule_line}. Input Line: {input_line}."),
        None => format!("State Error raised. Rule Line: {rule_line}. Input Line: {input_line}"),
    }
}

/// An ntc-templates `index` file that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IndexError {
    /// No header line (the file is empty or all comments).
    #[error("index has no header line")]
    NoHeader,
    /// A header line naming a column twice.
    #[error("index line {line}: duplicate header entry '{column}'")]
    DuplicateColumn {
        /// 1-based line.
        line: usize,
        /// The repeated column.
        column: String,
    },
    /// No `Template` column.
    #[error("index file does not have 'Template' column")]
    NoTemplateColumn,
    /// A cell that is not a valid Python regex.
    #[error("index line {line}: column {column}: invalid regex '{regex}': {message}")]
    Regex {
        /// 1-based line.
        line: usize,
        /// The column's name.
        column: String,
        /// The regex (after `[[...]]` expansion).
        regex: String,
        /// What is wrong with it.
        message: String,
    },
    /// The index file could not be read.
    #[error("cannot read {}: {message}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        message: String,
    },
}

/// A template file that cannot be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read (or is not UTF-8).
    #[error("cannot read {}: {message}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS or decoding error.
        message: String,
    },
    /// The file is not a valid template.
    #[error("{}: {source}", path.display())]
    Template {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        source: TemplateError,
    },
}

/// An error of [`crate::parse_output`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NtcError {
    /// No index entry matches the platform and command.
    #[error("no template for platform {platform} command {command} in {}", index.display())]
    NoTemplate {
        /// The platform asked for.
        platform: String,
        /// The command asked for.
        command: String,
        /// The index file searched.
        index: PathBuf,
    },
    /// A template of the entry could not be loaded.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// A template raised an error on the text.
    #[error("template {template}: {source}")]
    Parse {
        /// The template's file name.
        template: String,
        /// The error.
        source: ParseError,
    },
    /// Merging several templates (`a.textfsm:b.textfsm`): a Key is missing from
    /// the first table (clitable raises `IndexError`).
    #[error("template {template}: unknown key '{key}' when merging tables")]
    UnknownKey {
        /// The template being merged in.
        template: String,
        /// The missing key column.
        key: String,
    },
    /// Merging several templates: clitable's `AddColumn` refuses a column whose
    /// name appears anywhere in the printed table (`TableError`).
    #[error("template {template}: column '{column}' already in table")]
    ColumnClash {
        /// The template being merged in.
        template: String,
        /// The column.
        column: String,
    },
}
