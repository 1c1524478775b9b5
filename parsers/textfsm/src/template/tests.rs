//! Template structure tests beyond the semantics table: line numbers in errors
//! follow textfsm's counting, and the accessors report what the template holds.

use super::{Template, ValueOption};
use crate::error::TemplateError;

#[test]
fn error_lines_count_every_template_line() {
    let text = "# c\nValue A (\\S+)\n\n# c\nStart\n  # c\n  ^a ${A}\n  ^b(\n";
    assert_eq!(
        Template::parse(text).err(),
        Some(TemplateError::RuleRegex {
            line: 8,
            regex: "^b(".into(),
            message: "missing ), unterminated subpattern at position 2".into()
        })
    );
    let text = "Value A (x)\n\nStart\n  ^a\n\nOther\n  ^b -> Missing\n";
    assert_eq!(
        Template::parse(text).err(),
        Some(TemplateError::UnknownState {
            line: 7,
            target: "Missing".into(),
            state: "Other".into()
        })
    );
    let text = "Value A (x)\r\n\r\nStart\r\n\t^a -> Bad.Op\r\n";
    assert!(matches!(
        Template::parse(text),
        Err(TemplateError::BadAction { line: 4, .. })
    ));
}

#[test]
fn accessors() {
    let text = "Value Key,Filldown A (\\S+)\nValue List B (\\S+)\n\nStart\n  ^${A} -> Next2\n\nNext2\n  ^(?<=x)${B}\n\nEnd\n";
    let t = Template::parse(text).expect("valid");
    assert_eq!(t.header(), ["A", "B"]);
    assert_eq!(
        t.value_options("A"),
        Some(&[ValueOption::Key, ValueOption::Filldown][..])
    );
    assert_eq!(t.values_with(ValueOption::List), ["B"]);
    assert_eq!(t.state_names().collect::<Vec<_>>(), ["Start", "Next2"]);
    assert_eq!(t.backtracking_rules(), 1);
}

#[test]
fn errors_name_the_line() {
    let err = Template::parse("Value A (x)\n\nStart\n   ^a\n").expect_err("bad indent");
    assert_eq!(
        err.to_string(),
        "template line 4: missing white space or carat ('^') before rule"
    );
}

#[test]
fn shareable_between_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Template>();
    send_sync::<crate::NtcTemplates>();
}
