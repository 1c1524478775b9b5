//! key=value splitting: a table of inputs, the real FortiGate and SonicWall lines of the
//! shared corpus, and lines that must stay plain text.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::{KV_SD_ID, pairs};
use crate::parse::parse;

fn map(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
    kv.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A line and the pairs expected from it (`None`: not key=value).
type Case = (
    &'static str,
    Option<&'static [(&'static str, &'static str)]>,
);

#[test]
fn pairs_table() {
    let cases: &[Case] = &[
        ("a=1", Some(&[("a", "1")])),
        (
            r#"devname="fw 1" srcip=10.0.0.1 msg="a \"b\" \\ c""#,
            Some(&[
                ("devname", "fw 1"),
                ("srcip", "10.0.0.1"),
                ("msg", r#"a "b" \ c"#),
            ]),
        ),
        (
            "  id=firewall  sn=X ",
            Some(&[("id", "firewall"), ("sn", "X")]),
        ),
        (r#"a="" b= c=3"#, Some(&[("a", ""), ("b", ""), ("c", "3")])),
        ("a=1 a=2", Some(&[("a", "1")])),
        (
            "src=10.0.0.3:52379:X0 url=/a?b=c",
            Some(&[("src", "10.0.0.3:52379:X0"), ("url", "/a?b=c")]),
        ),
        ("", None),
        ("hello world", None),
        ("a=1 free text", None),
        (
            "a=1 b=2 c='x y' \u{fffd}\u{fffd} D<",
            Some(&[("a", "1"), ("b", "2"), ("c", "x y")]),
        ),
        (r#"a="unterminated"#, None),
        (r#"a="x"y b=1"#, None),
        ("=1", None),
        ("a b=1", None),
    ];
    for (line, want) in cases {
        let got = pairs(line).map(|p| {
            p.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>()
        });
        assert_eq!(got, want.map(map), "{line:?}");
    }
}

fn now() -> DateTime<Utc> {
    "2026-06-01T12:00:00Z".parse().unwrap()
}

#[test]
fn fortigate_line_gives_fields_hostname_and_time() {
    let p = parse(
        br#"<189>date=2020-04-23 time=01:16:08 devname="testswitch1" devid="somerouterid" logid="0000000013" type="traffic" tz="-0500" srcip=10.10.10.10 msg="a b""#,
        now(),
    );
    let sd = p.structured_data.to_map();
    let kv = &sd[KV_SD_ID];
    assert_eq!(kv["devid"], "somerouterid");
    assert_eq!(kv["srcip"], "10.10.10.10");
    assert_eq!(kv["msg"], "a b");
    assert_eq!(p.hostname.as_deref(), Some("testswitch1"));
    assert_eq!(
        p.time,
        Some("2020-04-23T06:16:08Z".parse::<DateTime<Utc>>().unwrap())
    );
    assert_eq!((p.facility, p.severity), (Some(23), Some(5)));
    assert!(!p.parse_error());
}

#[test]
fn plain_text_and_rfc5424_structured_data_are_left_alone() {
    let p = parse(b"<13>May  4 05:16:01 web01 app: user=bob logged in", now());
    assert!(p.structured_data.is_empty());
    let p = parse(br#"<13>1 - h a - - [x@1 k="v"] a=1"#, now());
    let sd = p.structured_data.to_map();
    assert_eq!(sd.len(), 1);
    assert!(sd.contains_key("x@1"));
}

fn corpus(vendor: &str) -> Vec<String> {
    let root = std::env::var("SOTP_CORPORA").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/corpora").to_string()
    });
    let path = format!("{root}/syslog/elastic-{vendor}.jsonl");
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e} (set SOTP_CORPORA)"));
    text.lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["line"].as_str().unwrap().to_string()
        })
        .collect()
}

#[test]
fn every_corpus_fortigate_line_is_split() {
    let lines = corpus("fortinet_fortigate");
    assert!(lines.len() >= 10, "{} FortiGate lines", lines.len());
    for line in lines {
        let p = parse(line.as_bytes(), now());
        let sd = p.structured_data.to_map();
        let kv = sd
            .get(KV_SD_ID)
            .unwrap_or_else(|| panic!("no key=value fields in {line}"));
        for key in ["devname", "devid", "logid", "type"] {
            assert!(kv.contains_key(key), "{key} missing in {line}");
        }
        // The header's hostname (a relay's) wins; else devname.
        assert!(p.hostname.is_some(), "{line}");
        assert!(p.time.is_some(), "{line}");
    }
}

#[test]
fn every_corpus_sonicwall_line_is_split() {
    for line in corpus("sonicwall_firewall") {
        let p = parse(line.as_bytes(), now());
        let sd = p.structured_data.to_map();
        let kv = sd
            .get(KV_SD_ID)
            .unwrap_or_else(|| panic!("no key=value fields in {line}"));
        for key in ["id", "sn", "fw", "pri"] {
            assert!(kv.contains_key(key), "{key} missing in {line}");
        }
        assert!(!p.parse_error(), "{line}");
    }
}
