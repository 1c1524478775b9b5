//! The fast RFC 5424 reader against the `syslog_rfc5424` crate: wherever the fast
//! reader answers, the answer is the crate's (corpus lines and generated lines, valid
//! and broken), and it does answer for the plain lines.

use proptest::prelude::*;
use proptest::strategy::ValueTree;

use super::read;
use crate::parse::rfc5424::crate_parse;
use crate::parse::{Dialect, pri};

/// The fast reader's answer for `line`, checked against the crate's; true when the
/// fast reader answered.
fn agrees(line: &str) -> bool {
    let Some((Some(_), rest)) = pri(line) else {
        return false;
    };
    match read(rest) {
        Some(fast) => {
            assert_eq!(fast, crate_parse(line, rest), "line {line:?}");
            true
        }
        None => false,
    }
}

#[test]
fn agrees_with_the_crate_on_plain_and_odd_lines() {
    let read = [
        "<1>1 - - - - - -",
        "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"] An application event log entry...",
        "<78>1 2016-01-15T00:04:01+00:00 host1 CROND 10391 - [meta sequenceId=\"29\"] some_message",
        "<34>1 2003-10-11T22:14:15.123456789-07:30 h a 0042 m [a x=\"1\"][b y=\"2\" y=\"3\"] msg",
        "<34>1 2024-02-29T23:59:59+05:30 h a +5 m - ",
        "<34>12 2024-02-29T23:59:59Z h a p m -msg",
        "<34>1 - h a p m ",
        "<34>1 - h a p m [x@1]",
        "<191>1 - - - - - [a v=\"ü ]\"] é",
        "<34>1 - h a p m [a x=\"1\\\"2\\\\\\]\\é\"] x",
        // A repeated SD-ID (merged), names out of order, a repeated name (last wins).
        "<34>1 - h a p m [b z=\"1\" a=\"2\"][a k=\"3\"][b a=\"4\" a=\"5\"][c] x",
    ];
    for l in read {
        assert!(agrees(l), "not read: {l}");
    }
    // Left to the crate (and maybe the lenient reader): the fast reader declines.
    let declined = [
        "<34>1 2024-02-30T00:00:00Z h a p m - x",
        "<34>1 2024-01-01T00:00:60Z h a p m - x",
        "<34>1 2024-01-01T00:00:00 h a p m - x",
        "<34>1 2024-01-01T00:00:00+0530 h a p m - x",
        "<34>1 2024-01-01T00:00:00.1234567890Z h a p m - x",
        "<34>1 2024-01-01T00:00:00+25:00 h a p m - x",
        "<34>1 - h a p m [a x=\"1\"]x",
        "<34>1 - h a p m [a ] x",
        "<34>1 - h a p m [ x=\"1\"] x",
        "<34>1 - h a p m [] x",
        "<34>1 - h a p m [a x=\"1\\\"] x",
        "<34>1 - h a p m",
        "<34>1 - h a p thisisamsgidlongerthanthirtytwobytes - x",
        "<34>123 - h a p m - x",
        "<34>1 - h\u{e9} a p m - x",
        "<34>1  h a p m - x",
    ];
    for l in declined {
        assert!(!agrees(l), "read: {l}");
    }
}

#[test]
fn agrees_with_the_crate_on_the_corpus() {
    let mut answered = 0;
    let mut rfc5424 = 0;
    for (_, r) in super::super::corpus_tests::records() {
        let bytes = super::super::corpus_tests::bytes(&r);
        let text = String::from_utf8_lossy(&bytes);
        let line = text.trim_end_matches(['\n', '\r', '\0']);
        if super::super::parse(line.as_bytes(), chrono::Utc::now()).dialect == Dialect::Rfc5424 {
            rfc5424 += 1;
        }
        if agrees(line) {
            answered += 1;
        } else if super::super::parse(line.as_bytes(), chrono::Utc::now()).dialect
            == Dialect::Rfc5424
        {
            eprintln!("declined: {line}");
        }
    }
    // Almost every valid RFC 5424 line of the corpus takes the fast path.
    assert!(rfc5424 > 20, "{rfc5424} RFC 5424 lines in the corpus");
    assert!(answered * 10 >= rfc5424 * 9, "{answered} of {rfc5424}");
}

/// Mostly valid timestamps, some of them wrong in any field.
fn timestamp() -> impl Strategy<Value = String> {
    let num = |n: usize| proptest::string::string_regex(&format!("[0-9]{{{n}}}")).unwrap();
    let valid = (
        num(4),
        "0[1-9]|1[0-2]",
        "0[1-9]|1[0-9]|2[0-8]",
        "[01][0-9]|2[0-3]",
        "[0-5][0-9]",
        "[0-5][0-9]",
        "(\\.[0-9]{1,9})?",
        "Z|[+-](0[0-9]|1[0-9]|2[0-3]):[0-5][0-9]",
    );
    let wild = (
        num(4),
        "0[0-9]|1[0-3]",
        "[0-3][0-9]",
        "[0-2][0-9]",
        "[0-6][0-9]",
        "[0-6][0-9]",
        "(\\.[0-9]{0,10})?",
        "Z|[+-][0-2][0-9]:[0-6][0-9]|[+-][0-9]{4}|[+-][0-9]|",
    );
    let fmt = |(y, mo, d, h, mi, s, f, z): (
        String,
        String,
        String,
        String,
        String,
        String,
        String,
        String,
    )| { format!("{y}-{mo}-{d}T{h}:{mi}:{s}{f}{z}") };
    prop_oneof![
        2 => Just("-".to_string()),
        8 => valid.prop_map(fmt),
        2 => wild.prop_map(fmt),
    ]
}

/// A header term: mostly valid, sometimes empty, too long or not ASCII.
fn term() -> impl Strategy<Value = String> {
    prop_oneof![8 => "-|[!-~]{1,20}", 1 => "[a-z é]{0,3}|[!-~]{30,60}"]
}

fn sd() -> impl Strategy<Value = String> {
    let name = || prop_oneof![8 => "[a-z@.0-9]{1,6}", 1 => "[!-~]{0,4}"];
    let value = prop_oneof![4 => "[a-z é\\]]{0,8}", 1 => "[a-z \\\\\"\\]é]{0,5}"];
    let element =
        (name(), proptest::collection::vec((name(), value), 0..3)).prop_map(|(id, params)| {
            let mut s = format!("[{id}");
            for (k, v) in params {
                s.push_str(&format!(" {k}=\"{v}\""));
            }
            s.push(']');
            s
        });
    prop_oneof![
        Just("-".to_string()),
        proptest::collection::vec(element, 1..3).prop_map(|v| v.concat()),
    ]
}

#[test]
fn generated_lines_are_often_read() {
    // The generator is not vacuous: a good share of its lines take the fast path.
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let mut yes = 0;
    let strategy = (timestamp(), proptest::collection::vec(term(), 4), sd());
    for _ in 0..1000 {
        let (ts, t, sd) = strategy.new_tree(&mut runner).unwrap().current();
        let line = format!("<13>1 {ts} {} {} {} {} {sd} m", t[0], t[1], t[2], t[3]);
        yes += usize::from(agrees(&line));
    }
    assert!(yes > 200, "{yes} of 1000 read");
}

proptest! {
    #[test]
    fn generated_lines_agree_with_the_crate(
        pri in 0u16..200,
        version in prop_oneof![8 => Just("1"), 1 => Just("12"), 1 => Just("123"), 1 => Just("")],
        ts in timestamp(),
        terms in proptest::collection::vec(term(), 4),
        sd in sd(),
        sep in " |",
        msg in "\\PC{0,20}",
    ) {
        let line = format!(
            "<{pri}>{version} {ts} {} {} {} {} {sd}{sep}{msg}",
            terms[0], terms[1], terms[2], terms[3]
        );
        agrees(&line);
    }

    #[test]
    fn arbitrary_text_after_the_version_agrees(tail in "\\PC{0,80}") {
        agrees(&format!("<13>1 {tail}"));
    }
}
