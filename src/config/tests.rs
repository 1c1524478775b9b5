use std::collections::BTreeSet;
use std::time::Duration;

use super::*;

fn no_env() -> Vec<(String, String)> {
    Vec::new()
}

/// Fails unless `err` reports `field` with a message containing `needle`.
fn assert_issue(err: &ConfigError, field: &str, needle: &str) {
    let got: Vec<(&str, &str)> = err
        .issues
        .iter()
        .map(|i| (i.field.as_str(), i.message.as_str()))
        .collect();
    assert!(
        got.iter().any(|(f, m)| *f == field && m.contains(needle)),
        "missing ({field}, {needle}) in {got:#?}"
    );
}

/// Dotted paths of every leaf value.
fn keys(v: &toml::Value, prefix: &str, out: &mut BTreeSet<String>) {
    if let toml::Value::Table(t) = v {
        for (k, v) in t {
            let p = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            if v.is_table() {
                keys(v, &p, out);
            } else if v.as_array().is_some_and(Vec::is_empty) {
                // `[[devices]]` and `[[device_ranges]]`: checked field by field elsewhere.
            } else {
                out.insert(p);
            }
        }
    }
}

fn document(text: &str) -> toml::Value {
    toml::Value::Table(text.parse::<toml::Table>().unwrap())
}

#[test]
fn no_file_means_defaults() {
    let c = load(None, no_env()).unwrap();
    assert_eq!(c, Config::default());
    assert_eq!(c.api.listen, "127.0.0.1:8080");
    assert_eq!(c.icmp.count, 3);
    assert_eq!(c.icmp.interval, Duration::from_secs(10));
    assert_eq!(c.data_dir, std::path::PathBuf::from("./sotp-data"));
}

#[test]
fn example_matches_the_structs_exactly() {
    // Every value in the example is the default, and every field of the structs is in
    // the example: a new field without an example entry fails here.
    let parsed = load_str(EXAMPLE, "example", no_env()).unwrap();
    assert_eq!(parsed, Config::default());
    let mut want = BTreeSet::new();
    keys(
        &toml::Value::try_from(Config::default()).unwrap(),
        "",
        &mut want,
    );
    let mut have = BTreeSet::new();
    keys(&document(EXAMPLE), "", &mut have);
    assert_eq!(have, want);
}

#[test]
fn commented_examples_in_the_example_are_valid() {
    let uncommented: String = EXAMPLE
        .lines()
        .map(|l| match l.strip_prefix("# ") {
            Some(rest) if rest.starts_with("[[") || rest.contains(" = ") => rest,
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n");
    let c = load_str(&uncommented, "example", no_env())
        .unwrap_or_else(|e| panic!("{e}\n{uncommented}"));
    assert_eq!(c.devices.len(), 1);
    assert_eq!(c.device_ranges[0].count, 200);
    let devices = c.device_list();
    assert_eq!(devices.len(), 201);
    assert_eq!(devices[0].icmp.interval, Some(Duration::from_secs(5)));
    assert_eq!(devices[200].name.as_ref(), "lo-127.1.0.200");
}

#[test]
fn docs_name_every_field() {
    let docs = include_str!("../../docs/configuration.md");
    let mut want = BTreeSet::new();
    keys(
        &toml::Value::try_from(Config::default()).unwrap(),
        "",
        &mut want,
    );
    for k in [
        "devices.id",
        "devices.name",
        "devices.address",
        "devices.tags",
        "devices.icmp",
        "devices.snmp",
        "devices.ssh",
        "device_ranges.name_prefix",
        "device_ranges.first_address",
        "device_ranges.count",
    ] {
        want.insert(k.to_string());
    }
    let missing: Vec<_> = want
        .iter()
        .filter(|k| !docs.contains(&format!("`{k}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/configuration.md does not describe {missing:?}"
    );
}

#[test]
fn every_error_is_reported_at_once_with_its_field() {
    let text = r#"
surprise = 1
[icmp]
count = "three"
interval = "ten seconds"
colour = "blue"
[api]
listen = "localhost"
[[devices]]
name = "ok-1"
address = "127.1.0.1"
[[devices]]
name = "bad-address"
address = "300.1.2.3"
[[devices]]
address = "127.1.0.3"
[[devices]]
name = "ok-1"
address = "127.1.0.4"
"#;
    let err = load_str(text, "test.toml", no_env()).unwrap_err();
    let has = |field: &str, needle: &str| assert_issue(&err, field, needle);
    has("surprise", "unknown field");
    has("icmp.count", "invalid type");
    has("icmp.interval", "");
    has("icmp.colour", "unknown field");
    has("api.listen", "not an address:port");
    has("devices[1].address", "not an IPv4 or IPv6 address");
    has("devices[2].name", "missing field");
    has("devices[3].id", "already used by devices[0]");
    assert_eq!(err.issues.len(), 8, "{:#?}", err.issues);
    let shown = err.to_string();
    assert!(shown.starts_with("test.toml: 8 problems:"), "{shown}");
}

#[test]
fn syntax_errors_name_the_line() {
    let err = load_str("[icmp]\ncount = = 3\n", "bad.toml", no_env()).unwrap_err();
    assert_eq!(err.issues.len(), 1);
    assert_eq!(err.issues[0].field, "(syntax, line 2)");
}

#[test]
fn environment_overrides_file_and_is_checked_too() {
    let env = vec![
        ("SOTP__ICMP__COUNT".to_string(), "5".to_string()),
        ("SOTP__ICMP__INTERVAL".to_string(), "20s".to_string()),
        (
            "SOTP__API__LISTEN".to_string(),
            "127.0.0.1:9999".to_string(),
        ),
        ("SOTP__DATA_DIR".to_string(), "/tmp/x".to_string()),
        ("UNRELATED".to_string(), "1".to_string()),
    ];
    let c = load_str("[icmp]\ncount = 2\n", "t", env).unwrap();
    assert_eq!(c.icmp.count, 5);
    assert_eq!(c.icmp.interval, Duration::from_secs(20));
    assert_eq!(c.api.listen, "127.0.0.1:9999");
    assert_eq!(c.data_dir, std::path::PathBuf::from("/tmp/x"));

    let err = load_str(
        "",
        "t",
        vec![("SOTP__ICMP__COUNTT".to_string(), "5".to_string())],
    )
    .unwrap_err();
    assert_eq!(err.issues[0].field, "icmp.countt");
}

#[test]
fn semantic_checks() {
    let text = r#"
[icmp]
count = 0
timeout = "5s"
interval = "1s"
[storage]
url = "ftp://x/y"
[[device_ranges]]
name_prefix = "x"
first_address = "255.255.255.250"
count = 10
"#;
    let err = load_str(text, "t", no_env()).unwrap_err();
    let fields: Vec<&str> = err.issues.iter().map(|i| i.field.as_str()).collect();
    assert_eq!(
        fields,
        vec!["icmp.count", "storage.url", "device_ranges[0].count"],
        "{err}"
    );
}

#[test]
fn ssh_settings_of_a_configured_device_are_checked_and_their_key_file_read() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("r1.key");
    std::fs::write(
        &key,
        "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----\n",
    )
    .unwrap();
    let text = format!(
        r#"
[[devices]]
name = "r1"
address = "127.1.0.1"
ssh = {{ user = "netops", key = "file:{}", platform = "cisco_ios", host_key = "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s" }}
"#,
        key.display()
    );
    let config = load_str(&text, "test.toml", no_env()).unwrap();
    let devices = crate::control::config_devices(&config);
    let ssh = devices[0].1.ssh.as_ref().expect("ssh settings");
    assert_eq!(
        ssh.key.as_deref(),
        Some("-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----")
    );
    assert_eq!(ssh.platform.as_deref(), Some("cisco_ios"));

    let bad = r#"
[[devices]]
name = "a"
address = "127.1.0.1"
ssh = { user = "netops", key = "env:SOTP_NO_SUCH_KEY_VARIABLE" }
[[devices]]
name = "b"
address = "127.1.0.2"
ssh = { user = " ", platform = "cisco_ioss" }
"#;
    let err = load_str(bad, "test.toml", no_env()).unwrap_err();
    let has = |field: &str, needle: &str| assert_issue(&err, field, needle);
    has("devices[0].ssh.platform", "is required");
    has("devices[0].ssh.key", "SOTP_NO_SUCH_KEY_VARIABLE");
    has("devices[1].ssh.user", "must not be empty");
    has("devices[1].ssh", "needs a key or a password");
    has(
        "devices[1].ssh.platform",
        "`cisco_ioss` is not a known platform",
    );
}

#[test]
fn an_unreadable_ssh_known_hosts_file_is_named_at_load() {
    let err = load_str(
        "[ssh]\nknown_hosts = \"/nonexistent/sotp/known_hosts\"\n",
        "test.toml",
        no_env(),
    )
    .unwrap_err();
    assert_issue(
        &err,
        "ssh.known_hosts",
        "cannot read /nonexistent/sotp/known_hosts",
    );
}
