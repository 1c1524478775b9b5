//! Table tests of the Python-regex translation: each pattern, applied with
//! `re.match` semantics, must give the groups Python 3.11's `re` gives (the
//! expected values were produced by Python), or be rejected when Python rejects it.

use super::{PyRegex, Scratch};

type Expected = Result<Option<&'static [Option<&'static str>]>, ()>;

/// `(pattern, text, Python's re.match(pattern, text) groups 0..n)`.
const CASES: &[(&str, &str, Expected)] = &[
    (r#"\<a\>"#, "<a>", Ok(Some(&[Some("<a>")]))),
    (
        r#"\'\"\ \#\-\/\:\=\!\%\,\@\~\&"#,
        "'\" #-/:=!%,@~&",
        Ok(Some(&[Some("'\" #-/:=!%,@~&")])),
    ),
    (r#"a\Z"#, "a", Ok(Some(&[Some("a")]))),
    (r#"a\Z"#, "a\n", Ok(None)),
    (r#"a$"#, "a", Ok(Some(&[Some("a")]))),
    (r#"^a$"#, "ab", Ok(None)),
    (r#"x{,3}"#, "xxxxx", Ok(Some(&[Some("xxx")]))),
    (r#"x{2,}"#, "xxxxx", Ok(Some(&[Some("xxxxx")]))),
    (r#"x{}"#, "x{}", Ok(Some(&[Some("x{}")]))),
    (r#"x{a}"#, "x{a}", Ok(Some(&[Some("x{a}")]))),
    (r#"x{1, 2}"#, "x{1, 2}", Ok(Some(&[Some("x{1, 2}")]))),
    (r#"x{2}"#, "xxx", Ok(Some(&[Some("xx")]))),
    (r#"x{1,2}?"#, "xx", Ok(Some(&[Some("x")]))),
    (r#"a{,}"#, "aaa", Ok(Some(&[Some("aaa")]))),
    (r#"[]a]+"#, "]a]b", Ok(Some(&[Some("]a]")]))),
    (r#"[^]a]+"#, "bc]", Ok(Some(&[Some("bc")]))),
    (r#"[a-]+"#, "a-a", Ok(Some(&[Some("a-a")]))),
    (r#"[\]]"#, "]", Ok(Some(&[Some("]")]))),
    (r#"[[]+"#, "[[", Ok(Some(&[Some("[[")]))),
    (r#"[a&&b]+"#, "&&ab", Ok(Some(&[Some("&&ab")]))),
    (r#"[--/]+"#, "-./", Ok(Some(&[Some("-./")]))),
    (r#"[~~]+"#, "~~", Ok(Some(&[Some("~~")]))),
    (r#"[\b]"#, "\u{8}", Ok(Some(&[Some("\u{8}")]))),
    (r#"[\d.]+"#, "1.2x", Ok(Some(&[Some("1.2")]))),
    (r#"[^\s]+"#, "ab c", Ok(Some(&[Some("ab")]))),
    (r#"[\w-]+"#, "a-b c", Ok(Some(&[Some("a-b")]))),
    (r#"[\\]"#, "\\", Ok(Some(&[Some("\\")]))),
    (r#"[a\-z]+"#, "a-z", Ok(Some(&[Some("a-z")]))),
    (r#"[^-a]+"#, "bc-", Ok(Some(&[Some("bc")]))),
    (
        r#"\101\0\x41\u00e9"#,
        "A\u{0}Aé",
        Ok(Some(&[Some("A\u{0}Aé")])),
    ),
    (r#"\1"#, "", Err(())), // invalid group reference 1 at position 1
    (r#"(a)\1"#, "aa", Ok(Some(&[Some("aa"), Some("a")]))),
    (r#"(a)\1"#, "ab", Ok(None)),
    (
        r#"(?P<x>a)(?P=x)"#,
        "aa",
        Ok(Some(&[Some("aa"), Some("a")])),
    ),
    (
        r#"(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)\10"#,
        "abcdefghijj",
        Ok(Some(&[
            Some("abcdefghijj"),
            Some("a"),
            Some("b"),
            Some("c"),
            Some("d"),
            Some("e"),
            Some("f"),
            Some("g"),
            Some("h"),
            Some("i"),
            Some("j"),
        ])),
    ),
    (r#"(a)\10"#, "", Err(())), // invalid group reference 10 at position 4
    (r#"(?<=a)b"#, "ab", Ok(None)),
    (r#"a(?<=a)b"#, "ab", Ok(Some(&[Some("ab")]))),
    (
        r#"(?=(?P<n>\d+))\d"#,
        "123",
        Ok(Some(&[Some("1"), Some("123")])),
    ),
    (r#"x(?<!x)y"#, "xy", Ok(None)),
    (r#"a(?<=[^()\s])+b"#, "ab", Ok(Some(&[Some("ab")]))),
    (r#"a(?=b)*"#, "ac", Ok(Some(&[Some("a")]))),
    (r#"a(?=(b))?"#, "ab", Ok(Some(&[Some("a"), Some("b")]))),
    (r#"(?i)abc"#, "ABC", Ok(Some(&[Some("ABC")]))),
    (r#"(?i:a)b"#, "Ab", Ok(Some(&[Some("Ab")]))),
    (r#"(?i:a)b"#, "AB", Ok(None)),
    (r#"(?x) a b # comment"#, "ab", Ok(Some(&[Some("ab")]))),
    (r#"(?x)a\ b"#, "a b", Ok(Some(&[Some("a b")]))),
    (r#"(?x)[ ]a"#, " a", Ok(Some(&[Some(" a")]))),
    (r#"(?a)\w+"#, "aé", Ok(Some(&[Some("a")]))),
    (r#"\w+"#, "aé", Ok(Some(&[Some("aé")]))),
    (r#"(?s)a.b"#, "a\nb", Ok(Some(&[Some("a\nb")]))),
    (r#"a.b"#, "a\nb", Ok(None)),
    (r#"a(?#x)*"#, "aaa", Ok(Some(&[Some("aaa")]))),
    (r#"b"#, "ab", Ok(None)),
    (r#"a"#, "ab", Ok(Some(&[Some("a")]))),
    (r#"a|ab"#, "ab", Ok(Some(&[Some("a")]))),
    (
        r#"(a|ab)(c|bcd)"#,
        "abcd",
        Ok(Some(&[Some("abcd"), Some("a"), Some("bcd")])),
    ),
    (r#"a+?"#, "aaa", Ok(Some(&[Some("a")]))),
    (r#"\d+"#, "٣4", Ok(Some(&[Some("٣4")]))),
    (
        r#"\s+"#,
        "\u{3000} \u{85}x",
        Ok(Some(&[Some("\u{3000} \u{85}")])),
    ),
    (r#"(?>a*)a"#, "aaa", Ok(None)),
    (r#"a*+a"#, "aaa", Ok(None)),
    (r#"(a)?(?(1)b|c)"#, "ab", Ok(Some(&[Some("ab"), Some("a")]))),
    (r#"(a)?(?(1)b|c)"#, "c", Ok(Some(&[Some("c"), None]))),
    (r#"(?P<n>a)?(?(n)b|c)"#, "c", Ok(Some(&[Some("c"), None]))),
    (r#"("#, "", Err(())),   // missing ), unterminated subpattern at position 0
    (r#")"#, "", Err(())),   // unbalanced parenthesis at position 0
    (r#"a**"#, "", Err(())), // multiple repeat at position 2
    (r#"*a"#, "", Err(())),  // nothing to repeat at position 0
    (r#"\q"#, "", Err(())),  // bad escape \q at position 0
    (r#"[a"#, "", Err(())),  // unterminated character set at position 0
    (r#"^*"#, "", Err(())),  // nothing to repeat at position 1
    (r#"(?P<1a>x)"#, "", Err(())), // bad character in group name '1a' at position 4
    (r#"(?P<a>x)(?P<a>y)"#, "", Err(())), // redefinition of group name 'a' as group 2; was group 1 at position 12
    (r#"x(?i)"#, "", Err(())), // global flags not at the start of the expression at position 1
    (r#"(a\1)"#, "", Err(())), // cannot refer to an open group at position 2
    (r#"[b-a]"#, "", Err(())), // bad character range b-a at position 1
    (r#"a{3,2}"#, "", Err(())), // min repeat greater than max repeat at position 2
    (r#"\x4"#, "", Err(())),   // incomplete escape \x4 at position 0
    (r#"(?<x)"#, "", Err(())), // unknown extension ?<x at position 1
    (r#"(?L)a"#, "", Err(())), // bad inline flags: cannot use 'L' flag with a str pattern at position 3
    (r#"\N{DASH}"#, "", Err(())), // undefined character name 'DASH' at position 0
    (r#"[\A]"#, "", Err(())),  // bad escape \A at position 1
    (r#"a|*"#, "", Err(())),   // nothing to repeat at position 2
    (
        r#"^\s+(?P<A>\S+)\s+(?P<B>\S+)?\s*$"#,
        "  x ",
        Ok(Some(&[Some("  x "), Some("x"), None])),
    ),
    (
        r#"^(?P<A>.{0,3}(?<! ))\s*(?P<B>\S+)$"#,
        "ab   c",
        Ok(Some(&[Some("ab   c"), Some("ab"), Some("c")])),
    ),
    // Escapes and classes inside patterns that run on fancy-regex.
    (
        r#"a(?<=a)\#\&\-\~\<\'\ x"#,
        "a#&-~<' x",
        Ok(Some(&[Some("a#&-~<' x")])),
    ),
    (
        r#"(?<=^)[\[\]\-\^\&\~\\]+"#,
        "[]-^&~\\z",
        Ok(Some(&[Some("[]-^&~\\")])),
    ),
    (
        r#"(a)\1[[]{,2}\Z"#,
        "aa[[",
        Ok(Some(&[Some("aa[["), Some("a")])),
    ),
    (r#"(?=\d)\x41?\u00e9\101"#, "é", Ok(None)),
];

#[test]
fn patterns_match_like_python() {
    for (pattern, text, expected) in CASES {
        let compiled = PyRegex::compile(pattern);
        match (expected, compiled) {
            (Err(()), Err(_)) => {}
            (Err(()), Ok(_)) => panic!("{pattern:?}: Python rejects it, accepted here"),
            (Ok(_), Err(e)) => panic!("{pattern:?}: Python accepts it, rejected here: {e}"),
            (Ok(want), Ok(re)) => {
                let mut scratch = Scratch::default();
                let matched = re
                    .match_start(text, &mut scratch)
                    .expect("no backtracking limit");
                let got: Option<Vec<Option<&str>>> =
                    matched.then(|| (0..=re.groups()).map(|i| scratch.group(text, i)).collect());
                assert_eq!(got.as_deref(), *want, "pattern {pattern:?} on {text:?}");
            }
        }
    }
}

#[test]
fn backtracking_only_when_needed() {
    let plain = ["^\\s+(?P<A>\\S+)$", "a\\<b", "[[:alpha:]]", "x{,3}"];
    for p in plain {
        assert!(!PyRegex::compile(p).expect(p).is_fancy(), "{p}");
    }
    let fancy = ["(?<=a)b", "(a)\\1", "(?P<x>a)(?P=x)", "(?>a*)", "a*+"];
    for p in fancy {
        assert!(PyRegex::compile(p).expect(p).is_fancy(), "{p}");
    }
}

#[test]
fn named_groups_in_pattern_order() {
    let re = PyRegex::compile("(?P<B>x)(y)(?P<A>z)").expect("valid");
    let names: Vec<(usize, &str)> = re.names().iter().map(|(i, n)| (*i, n.as_str())).collect();
    assert_eq!(names, [(1, "B"), (3, "A")]);
    assert_eq!(re.groups(), 3);
}
