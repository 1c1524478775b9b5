use proptest::prelude::*;

use super::*;

fn ios() -> &'static Platform {
    Platform::named("cisco_ios").expect("cisco_ios")
}

#[test]
fn allowed_commands_and_their_abbreviations_pass_normalised() {
    for (typed, sent) in [
        ("show version", "show version"),
        ("sh ver", "sh ver"),
        ("  sho   ip int  brief ", "sho ip int brief"),
        ("show running-config", "show running-config"),
        ("show run", "show run"),
        (
            "show interfaces GigabitEthernet0/1.100",
            "show interfaces GigabitEthernet0/1.100",
        ),
        ("show ip route vrf MGMT", "show ip route vrf MGMT"),
    ] {
        assert_eq!(
            ios().check(typed).map(|c| c.to_string()),
            Ok(sent.to_owned()),
            "{typed}"
        );
    }
}

#[test]
fn writes_reloads_and_anything_unlisted_are_refused() {
    for cmd in [
        "configure terminal",
        "conf t",
        "reload",
        "write memory",
        "copy running-config tftp",
        "clear counters",
        "debug all",
        "show versions",
        "shows version",
        "s version",
        "show running-config extra",
        "show interfaces Gi0/1 Gi0/2",
        "show ip route vrf -x",
        "terminal length 0",
    ] {
        assert!(
            matches!(ios().check(cmd), Err(Refusal::NotAllowed { .. })),
            "{cmd}: {:?}",
            ios().check(cmd)
        );
    }
}

#[test]
fn injection_attempts_are_refused_with_the_reason() {
    let cases: &[(&str, Refusal)] = &[
        ("", Refusal::Empty),
        ("   ", Refusal::Empty),
        (
            "show version\nreload",
            Refusal::Character { ch: '\n', at: 12 },
        ),
        (
            "show version\r\nconf t",
            Refusal::Character { ch: '\r', at: 12 },
        ),
        (
            "show version\treload",
            Refusal::Character { ch: '\t', at: 12 },
        ),
        (
            "show version\u{1b}[A",
            Refusal::Character {
                ch: '\u{1b}',
                at: 12,
            },
        ),
        (
            "show version\u{0}",
            Refusal::Character {
                ch: '\u{0}',
                at: 12,
            },
        ),
        ("show versión", Refusal::Character { ch: 'ó', at: 10 }),
        (
            "show version; reload",
            Refusal::Forbidden { ch: ';', at: 12 },
        ),
        (
            "show version | include IOS",
            Refusal::Forbidden { ch: '|', at: 13 },
        ),
        (
            "show version && reload",
            Refusal::Forbidden { ch: '&', at: 13 },
        ),
        (
            "show version > flash:x",
            Refusal::Forbidden { ch: '>', at: 13 },
        ),
        ("show `reload`", Refusal::Forbidden { ch: '`', at: 5 }),
        ("show $(reload)", Refusal::Forbidden { ch: '$', at: 5 }),
        (
            "show interfaces 'x'",
            Refusal::Forbidden { ch: '\'', at: 16 },
        ),
        (
            "show interfaces \\x",
            Refusal::Forbidden { ch: '\\', at: 16 },
        ),
    ];
    for (cmd, want) in cases {
        assert_eq!(ios().check(cmd).as_ref(), Err(want), "{cmd:?}");
        // The reason names what was wrong.
        assert!(!want.to_string().is_empty());
    }
    let long = format!("show interfaces {}", "a".repeat(300));
    assert_eq!(
        ios().check(&long),
        Err(Refusal::TooLong { len: long.len() })
    );
}

#[test]
fn pattern_syntax_errors_are_reported() {
    assert!(Pattern::parse("show  version").is_err());
    assert!(Pattern::parse("sh[[ow version").is_err());
    assert!(Pattern::parse("show ver;sion").is_err());
    assert!(Pattern::parse("[[show]]").is_err());
}

proptest! {
    /// Whatever the input, an accepted command is one of the allowlist's shapes: only
    /// printable ASCII without any forbidden character, single spaces, and it matches
    /// an allow pattern. The generator mixes allowed commands with arbitrary bytes
    /// spliced in; the counts show both paths are reached.
    #[test]
    fn nothing_outside_the_allowlist_is_ever_accepted(
        base in prop::sample::select(vec!["show version", "sh ip int br", "show interfaces Gi0/1", "show run"]),
        insert in prop::collection::vec(any::<char>(), 0..4),
        at in 0usize..30,
    ) {
        let mut cmd: String = base.to_owned();
        let at = cmd.char_indices().map(|(i, _)| i).nth(at).unwrap_or(cmd.len());
        let spliced: String = insert.iter().collect();
        cmd.insert_str(at, &spliced);
        if let Ok(ok) = ios().check(&cmd) {
            let s = ok.as_str();
            prop_assert!(s.chars().all(|c| c == ' ' || c.is_ascii_graphic()));
            prop_assert!(!s.contains(FORBIDDEN));
            prop_assert!(!s.contains("  "));
            prop_assert!(ios().allow.iter().any(|p| p.regex.is_match(s)));
        }
    }
}

/// The property above reaches both outcomes: counted over the same generator's
/// shapes, deterministically.
#[test]
fn the_splice_generator_reaches_accepted_and_refused_commands() {
    let (mut accepted, mut refused) = (0, 0);
    for base in [
        "show version",
        "sh ip int br",
        "show interfaces Gi0/1",
        "show run",
    ] {
        for insert in ["", " ", "x", ";", "\n", "1", "|", "é"] {
            for at in 0..base.len() {
                let mut cmd = base.to_owned();
                cmd.insert_str(at, insert);
                match ios().check(&cmd) {
                    Ok(_) => accepted += 1,
                    Err(_) => refused += 1,
                }
            }
        }
    }
    assert!(
        accepted > 20 && refused > 100,
        "accepted {accepted}, refused {refused}"
    );
}
