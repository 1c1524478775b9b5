//! Table-driven dialect cases, malformed and binary lines, and a never-panics property.

use chrono::{DateTime, Utc};

use super::{Dialect, parse};

fn now() -> DateTime<Utc> {
    "2026-06-01T12:00:00Z".parse().unwrap()
}

struct Case {
    line: &'static str,
    dialect: Dialect,
    facility: Option<u8>,
    severity: Option<u8>,
    hostname: Option<&'static str>,
    app: Option<&'static str>,
    mnemonic: Option<&'static str>,
    time: Option<&'static str>,
    message: &'static str,
}

const CASES: &[Case] = &[
    Case {
        // logger --rfc5424 with structured data
        line: r#"<13>1 2026-06-01T10:00:00.5+02:00 host1 app 42 ID7 [ex@32473 k="v"] hello"#,
        dialect: Dialect::Rfc5424,
        facility: Some(1),
        severity: Some(5),
        hostname: Some("host1"),
        app: Some("app"),
        mnemonic: None,
        time: Some("2026-06-01T08:00:00.5Z"),
        message: "hello",
    },
    Case {
        // Linux daemon, RFC 3164
        line: "<38>May  4 05:16:01 web01 sshd[123]: Accepted publickey",
        dialect: Dialect::Rfc3164,
        facility: Some(4),
        severity: Some(6),
        hostname: Some("web01"),
        app: Some("sshd"),
        mnemonic: None,
        time: Some("2026-05-04T05:16:01Z"),
        message: "Accepted publickey",
    },
    Case {
        // Cisco IOS: sequence number, hostname, millisecond timestamp with zone
        line: "<189>1469087: sw1: Mar 29 07:40:10.863 CDT: %LINK-3-UPDOWN: Interface Gi1/0/1, changed state to down",
        dialect: Dialect::Cisco,
        facility: Some(23),
        severity: Some(5),
        hostname: Some("sw1"),
        app: None,
        mnemonic: Some("LINK-3-UPDOWN"),
        time: Some("2026-03-29T12:40:10.863Z"),
        message: "Interface Gi1/0/1, changed state to down",
    },
    Case {
        // Cisco NX-OS: year-first timestamp
        line: "<189>: 2023 May  2 12:57:15 UTC: %ETHPORT-5-IF_DOWN_ADMIN_DOWN: Interface Ethernet1/42 is down",
        dialect: Dialect::Cisco,
        facility: Some(23),
        severity: Some(5),
        hostname: None,
        app: None,
        mnemonic: Some("ETHPORT-5-IF_DOWN_ADMIN_DOWN"),
        time: Some("2023-05-02T12:57:15Z"),
        message: "Interface Ethernet1/42 is down",
    },
    Case {
        // Cisco ASA without PRI, year in the BSD timestamp, `HOST : %ASA`
        line: "Jun 04 2011 21:59:52 FW01 : %ASA-6-302021: Teardown ICMP connection",
        dialect: Dialect::Cisco,
        facility: None,
        severity: None,
        hostname: Some("FW01"),
        app: None,
        mnemonic: Some("ASA-6-302021"),
        time: Some("2011-06-04T21:59:52Z"),
        message: "Teardown ICMP connection",
    },
    Case {
        // Juniper Junos (RFC 5424 with an odd app name)
        line: "<28>1 2020-05-22T14:59:09.250-03:00 MX204 CONTEUDO:rpd 6589 - - bgp_listen_accept: x",
        dialect: Dialect::Rfc5424,
        facility: Some(3),
        severity: Some(4),
        hostname: Some("MX204"),
        app: Some("CONTEUDO:rpd"),
        mnemonic: None,
        time: Some("2020-05-22T17:59:09.250Z"),
        message: "bgp_listen_accept: x",
    },
    Case {
        // Arista EOS
        line: "<187>Jun  1 11:59:00 leaf1 Ebra: %LINEPROTO-5-UPDOWN: Line protocol on Interface Ethernet1, changed state to up",
        dialect: Dialect::Rfc3164,
        facility: Some(23),
        severity: Some(3),
        hostname: Some("leaf1"),
        app: Some("Ebra"),
        mnemonic: Some("LINEPROTO-5-UPDOWN"),
        time: Some("2026-06-01T11:59:00Z"),
        message: "%LINEPROTO-5-UPDOWN: Line protocol on Interface Ethernet1, changed state to up",
    },
    Case {
        // MikroTik RouterOS: no hostname, topics as TAG
        line: "<30>Jun  1 11:00:00 system,info,account user admin logged in from 10.0.0.1 via ssh",
        dialect: Dialect::Rfc3164,
        facility: Some(3),
        severity: Some(6),
        hostname: Some("system,info,account"),
        app: Some("user"),
        mnemonic: None,
        time: Some("2026-06-01T11:00:00Z"),
        message: "admin logged in from 10.0.0.1 via ssh",
    },
    Case {
        // Fortinet key=value after the PRI: devname and date/time (UTC without tz) read
        line: r#"<189>date=2020-04-23 time=01:16:08 devname="fw1" type="traffic""#,
        dialect: Dialect::PriOnly,
        facility: Some(23),
        severity: Some(5),
        hostname: Some("fw1"),
        app: None,
        mnemonic: None,
        time: Some("2020-04-23T01:16:08Z"),
        message: r#"date=2020-04-23 time=01:16:08 devname="fw1" type="traffic""#,
    },
    Case {
        // December line received in June: last December? No: closest is this year's.
        line: "<14>Dec 31 23:00:00 h a: b",
        dialect: Dialect::Rfc3164,
        facility: Some(1),
        severity: Some(6),
        hostname: Some("h"),
        app: Some("a"),
        mnemonic: None,
        time: Some("2025-12-31T23:00:00Z"),
        message: "b",
    },
    Case {
        line: "complete and utter gobbledegook",
        dialect: Dialect::Unparsed,
        facility: None,
        severity: None,
        hostname: None,
        app: None,
        mnemonic: None,
        time: None,
        message: "complete and utter gobbledegook",
    },
];

#[test]
fn dialects() {
    for c in CASES {
        let p = parse(c.line.as_bytes(), now());
        let at = c.line;
        assert_eq!(p.dialect, c.dialect, "{at}");
        assert_eq!((p.facility, p.severity), (c.facility, c.severity), "{at}");
        assert_eq!(p.hostname.as_deref(), c.hostname, "{at}");
        assert_eq!(p.app_name.as_deref(), c.app, "{at}");
        assert_eq!(p.vendor_mnemonic.as_deref(), c.mnemonic, "{at}");
        let want_time = c.time.map(|t| t.parse::<DateTime<Utc>>().unwrap());
        assert_eq!(p.time, want_time, "{at}");
        assert_eq!(p.message, c.message, "{at}");
        assert_eq!(p.parse_error(), c.dialect == Dialect::Unparsed, "{at}");
    }
}

#[test]
fn structured_data_is_a_map() {
    let p = parse(
        br#"<165>1 2003-10-11T22:14:15.003Z mymachine evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application"][x@1 a="\]"] msg"#,
        now(),
    );
    let sd = p.structured_data.to_map();
    assert_eq!(sd["exampleSDID@32473"]["iut"], "3");
    assert_eq!(sd["x@1"]["a"], "]");
    assert_eq!(p.msgid.as_deref(), Some("ID47"));
    assert_eq!(p.procid, None);
}

#[test]
fn malformed_and_binary_lines_are_kept() {
    let binary = [0u8, 0xff, 0xfe, b'<', b'1', 0x80, b'\n'];
    let p = parse(&binary, now());
    assert!(p.parse_error());
    assert!(p.message.contains('\u{fffd}'));
    for junk in [
        &b""[..],
        b"<",
        b"<999>",
        b"<12",
        b"<1>1 ",
        b"<01>x",
        b"\xff\xfe",
    ] {
        let p = parse(junk, now());
        assert!(p.facility.is_none() || junk.starts_with(b"<1>"), "{junk:?}");
    }
    // Out of range and zero-padded PRIs give no facility but the rest still parses.
    let p = parse(b"<192>Jun  1 11:00:00 h a: b", now());
    assert_eq!((p.facility, p.hostname.as_deref()), (None, Some("h")));
    let p = parse(
        "<14>Jun  1 11:00:00 h a: caf\u{e9} \u{fffd}".as_bytes(),
        now(),
    );
    assert_eq!(p.message, "caf\u{e9} \u{fffd}");
}

/// Inputs cargo-fuzz found (`scripts/fuzz.sh`): `syslog_rfc5424` slices 5 bytes after an
/// offset sign, so a short offset or a multi-byte character there panicked in the crate.
#[test]
fn fuzz_findings_do_not_panic() {
    for line in [
        &b"<28>1 2020-05-22T14:59:09.250-0\x93\x02\0\0 XXX-MX204 rpd 6589 - - x"[..],
        b"<1>1 2020-01-01T00:00:00+0",
        b"<1>1 2020-01-01T00:00:00+01:0",
        "<1>1 2020-01-01T00:00:00+01\u{e9}0 h a - - - m".as_bytes(),
    ] {
        let p = parse(line, now());
        assert_eq!(p.dialect, Dialect::Rfc5424Lenient, "{line:?}");
        assert_eq!(p.time, None, "{line:?}");
    }
    let p = parse(b"<1>1 2020-01-01T00:00:00+01:00 h a - - - m", now());
    assert_eq!((p.dialect, p.message.as_str()), (Dialect::Rfc5424, "m"));
}

proptest::proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
        let _ = parse(&data, now());
    }

    /// The hand-written mnemonic scanner finds exactly what the regular expression finds.
    #[test]
    fn mnemonic_scanner_matches_the_regex(s in r"[ %A-Z0-9a-z_:\-é]{0,40}") {
        static RE: std::sync::LazyLock<regex::Regex> =
            std::sync::LazyLock::new(|| regex::Regex::new(super::MNEMONIC_REGEX).unwrap());
        let want = RE.captures(&s).and_then(|c| {
            let m = c.get(1)?;
            let after = &s[m.end()..];
            (!after.starts_with(|c: char| c.is_alphanumeric())).then(|| m.as_str())
        });
        proptest::prop_assert_eq!(super::mnemonic(&s).map(|(m, _)| m), want);
    }

    #[test]
    fn syslog_shaped_text_never_panics(s in r"(<[0-9]{1,4}>)?([0-9] )?[A-Za-z0-9 :%\-\[\]=.*+T]{0,120}") {
        let _ = parse(s.as_bytes(), now());
    }
}
