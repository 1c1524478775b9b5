//! Property tests: no template text makes `Template::parse` panic, and no input
//! text makes `parse_text` panic. The generators are shaped like real templates
//! and device output, and the tests assert that a good share of the cases get
//! past the error paths (templates accepted, rows produced).

use std::sync::LazyLock;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use sotp_textfsm::Template;

/// Templates written in the style of ntc-templates (look-behind, List with
/// nested groups, Filldown, Fillup, Required, Error, several states).
const TEMPLATES: &[&str] = &[
    "Value Filldown INTERFACE (\\S+)\nValue Required,List ADDR (\\d+\\.\\d+\\.\\d+\\.\\d+)\nValue STATUS (up|down)\n\n\
     Start\n  ^${INTERFACE}\\s+is\\s+${STATUS} -> Continue\n  ^\\s+inet\\s+${ADDR}\n  ^\\s*$$ -> Record\n  ^bad -> Error \"bad\"\n",
    "Value NAME (.{0,10}(?<! ))\nValue PORT (\\S+)\nValue Fillup TOTAL (\\d+)\n\n\
     Start\n  ^Name\\s+Port -> Table\n\nTable\n  ^${NAME}\\s+${PORT}\\s*$$ -> Record\n  ^Total:\\s+${TOTAL} -> Record\n  ^-+ -> End\n",
    "Value List PEOPLE ((?P<name>\\w+):(?P<age>\\d+))\nValue Key ID (\\d+)\n\n\
     Start\n  ^id ${ID} -> Record Body\n\nBody\n  ^\\s+${PEOPLE} -> Continue\n  ^\\s+(\\w+):\\1 -> Next\n  ^id ${ID} -> Record\n\nEOF\n",
];

/// Mostly `valid`, sometimes `invalid`.
fn pick(
    valid: Vec<&'static str>,
    invalid: Vec<&'static str>,
) -> impl Strategy<Value = &'static str> {
    prop_oneof![25 => prop::sample::select(valid), 1 => prop::sample::select(invalid)]
}

fn rule_text() -> impl Strategy<Value = String> {
    let piece = pick(
        vec![
            "\\s+", "$$", "a", "\\d+", " ", "-", "\\Z", "(?:x|y)?", "\\S+",
        ],
        vec!["$", "(?i)", "(", ")", "[", "(?P=A)", "${Z}"],
    );
    let action = pick(
        vec![
            "",
            " -> Next",
            " -> Record",
            " -> Continue.Record",
            " -> Next.Clear S2",
            " -> Clearall",
            " -> Error \"m\"",
            " -> End",
            " -> EOF",
            " -> S2",
        ],
        vec![
            " -> Continue S2",
            " -> Bad.Op",
            " -> Record Nowhere",
            " -> Next \"q\"",
        ],
    );
    let indent = pick(vec!["  ", " ", "\t"], vec!["   ", ""]);
    let reference = prop::sample::select(vec!["", "${A}", "$A ", "${B}"]);
    (
        indent,
        prop::collection::vec(piece, 0..3),
        reference,
        action,
    )
        .prop_map(|(indent, pieces, reference, action)| {
            format!("{indent}^{}{reference}{action}", pieces.concat())
        })
}

fn template_text() -> impl Strategy<Value = String> {
    let option = pick(
        vec!["Filldown", "Required", "List", "Fillup", "Key"],
        vec!["Bogus", ""],
    );
    let regex = pick(
        vec![
            "(\\S+)",
            "(\\d+)",
            "(.*)",
            "((?P<a>\\w)(?P<b>\\d)?)",
            "(a|b)",
            "([\\]a-])",
            "(x{,2})",
            "(\\<x\\>)",
            "((?<=a)b)",
        ],
        vec!["(", "(x))", "x"],
    );
    let value = (prop::collection::vec(option, 0..2), regex).prop_map(|(opts, re)| {
        let opts = opts.join(",");
        if opts.is_empty() {
            re.to_owned()
        } else {
            format!("{opts} {re}")
        }
    });
    let values = prop::collection::vec(value, 1..4).prop_map(|vs| {
        let names = ["A", "B", "AB", "C"];
        vs.iter()
            .zip(names)
            .map(|(v, n)| match v.split_once(' ') {
                Some((opts, re)) => format!("Value {opts} {n} {re}"),
                None => format!("Value {n} {v}"),
            })
            .collect::<Vec<_>>()
            .join("\n")
    });
    let name = pick(
        vec!["S2", "EOF", "End"],
        vec!["Start", "Record", "bad name"],
    );
    let state = (name, prop::collection::vec(rule_text(), 0..4)).prop_map(|(name, rules)| {
        // Reserved states must stay empty to be valid: keep their rules only sometimes.
        let rules = if matches!(name, "EOF" | "End") && rules.len() > 1 {
            Vec::new()
        } else {
            rules
        };
        format!("{name}\n{}", rules.join("\n"))
    });
    let structured = (
        values,
        prop::collection::vec(rule_text(), 0..4),
        prop::option::of(state),
        any::<bool>(),
    )
        .prop_map(|(values, start, other, comment)| {
            let comment = if comment { "# comment\n" } else { "" };
            let other = other.unwrap_or_else(|| "S2\n  ^z".to_owned());
            format!(
                "{comment}{values}\n\nStart\n{}\n\n{other}\n",
                start.join("\n")
            )
        });
    prop_oneof![6 => structured, 1 => any::<String>()]
}

fn device_text() -> impl Strategy<Value = String> {
    let word = prop::sample::select(vec![
        "eth0", "Gi0/1", "bob", "x y", "a:a", "é", "\\", "$", "",
    ]);
    let shaped = (
        prop::sample::select((0..10).collect::<Vec<usize>>()),
        word,
        0u32..300,
    )
        .prop_map(|(shape, w, n)| match shape {
            0 => format!("{w} is up"),
            1 => format!("  inet 10.{n}.0.1"),
            2 => String::new(),
            3 => "Name     Port".to_owned(),
            4 => format!("{w}   Po{n}"),
            5 => format!("Total:   {n}"),
            6 => format!("id {n}"),
            7 => format!("  {w}:{n}"),
            8 => "-----".to_owned(),
            _ => format!("{w} {n} bad"),
        });
    let token = prop::sample::select(vec![
        "is", "up", "inet", "\t", "\u{3000}", " ", "bad", "---",
    ]);
    let noise = prop::collection::vec(token, 0..5).prop_map(|t| t.join(" "));
    let line = prop_oneof![4 => shaped, 1 => noise];
    let sep = prop::sample::select(vec!["\n", "\n", "\n", "\r\n", "\r", "\x0b", "\u{2028}"]);
    let structured = prop::collection::vec((line, sep), 0..30).prop_map(|lines| {
        lines
            .into_iter()
            .map(|(l, s)| format!("{l}{s}"))
            .collect::<String>()
    });
    prop_oneof![4 => structured, 1 => any::<String>()]
}

fn templates() -> &'static [Template] {
    static COMPILED: LazyLock<Vec<Template>> = LazyLock::new(|| {
        TEMPLATES
            .iter()
            .map(|t| Template::parse(t).expect("test template is valid"))
            .collect()
    });
    &COMPILED
}

/// Real ntc-templates templates with look-around, back-references, List,
/// Fillup and many states, read from `$SOTP_NTC_TEMPLATES` when it is set (the
/// corpus test requires it; without it only the templates above are used).
const REAL: &[&str] = &[
    "cisco_ios_show_ip_access-lists.textfsm",
    "cisco_ios_show_ip_bgp.textfsm",
    "arista_eos_show_interfaces_status.textfsm",
    "cisco_ios_show_interfaces.textfsm",
    "cisco_nxos_show_interface.textfsm",
    "cisco_ios_show_version.textfsm",
];

fn real_templates() -> &'static [Template] {
    static COMPILED: LazyLock<Vec<Template>> = LazyLock::new(|| {
        let Some(dir) = std::env::var_os("SOTP_NTC_TEMPLATES") else {
            eprintln!("note: SOTP_NTC_TEMPLATES unset: real ntc templates not fuzzed");
            return Vec::new();
        };
        let dir = std::path::PathBuf::from(dir);
        REAL.iter()
            .map(|name| {
                sotp_textfsm::load_template(&dir.join(name)).unwrap_or_else(|e| panic!("{e}"))
            })
            .collect()
    });
    &COMPILED
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn template_parse_never_panics(text in template_text()) {
        if let Ok(t) = Template::parse(&text) {
            let _ = t.parse_text("x\na b\n1 2 3\n");
        }
    }

    #[test]
    fn parse_text_never_panics(data in device_text()) {
        for t in templates().iter().chain(real_templates()) {
            let _ = t.parse_text(&data);
        }
    }
}

/// Draws a fixed sample from the same generators and checks that a meaningful
/// share reaches the success paths (a valid template; rows from a template).
#[test]
fn generators_reach_the_success_paths() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let (mut accepted, mut with_rows) = (0, 0);
    let n = 500;
    for _ in 0..n {
        let text = template_text()
            .new_tree(&mut runner)
            .expect("generate")
            .current();
        accepted += usize::from(Template::parse(&text).is_ok());
        let data = device_text()
            .new_tree(&mut runner)
            .expect("generate")
            .current();
        with_rows += usize::from(
            templates()
                .iter()
                .any(|t| t.parse_text(&data).is_ok_and(|r| !r.is_empty())),
        );
    }
    println!("templates accepted: {accepted}/{n}; texts giving rows: {with_rows}/{n}");
    assert!(
        accepted * 100 >= n * 30,
        "only {accepted}/{n} generated templates are valid"
    );
    assert!(
        with_rows * 100 >= n * 50,
        "only {with_rows}/{n} generated texts give rows"
    );
}
