//! `env:NAME` and `file:/path` secret references: the configuration file's own way to keep
//! a secret out of the file. They are resolved here, by the binary, from what the
//! operator of this machine wrote; nothing that arrives through the API or the bus is
//! ever read as a reference (the devices API refuses them, and a value on the
//! `inventory` topic is a sealed value or nothing).
//!
//! [`Config::validate`](super::Config::validate) reports a reference that does not
//! resolve, with its field, so a missing variable or file stops the start with a clear
//! message instead of failing polls later.

use sotp_schemas::SnmpSettings;

/// What `raw` stands for: the variable's value for `env:NAME`, the file's content without
/// its trailing line end for `file:/path`, `raw` itself otherwise.
pub fn resolve(raw: &str) -> Result<String, String> {
    if let Some(name) = raw.strip_prefix("env:") {
        std::env::var(name).map_err(|_| format!("environment variable `{name}` is not set"))
    } else if let Some(path) = raw.strip_prefix("file:") {
        std::fs::read_to_string(path)
            .map(|s| s.trim_end_matches(['\r', '\n']).to_string())
            .map_err(|e| format!("cannot read secret file `{path}`: {e}"))
    } else {
        Ok(raw.to_string())
    }
}

/// `settings` with every secret reference resolved, and the fields (`community`,
/// `auth_key`, `priv_key`) that did not resolve with the reason. Such a field is left
/// empty, never holding the reference's text.
pub fn resolve_snmp(settings: &SnmpSettings) -> (SnmpSettings, Vec<(&'static str, String)>) {
    let mut out = settings.clone();
    let mut errors = Vec::new();
    for (name, field) in [
        ("community", &mut out.community),
        ("auth_key", &mut out.auth_key),
        ("priv_key", &mut out.priv_key),
    ] {
        if let Some(raw) = field.as_mut() {
            *raw = resolve(raw).unwrap_or_else(|why| {
                errors.push((name, why));
                String::new()
            });
        }
    }
    (out, errors)
}

/// `settings` with the `key` and `password` references resolved, and the fields that did
/// not resolve with the reason (left empty, never holding the reference's text).
pub fn resolve_ssh(
    settings: &sotp_inventory::SshInput,
) -> (sotp_inventory::SshInput, Vec<(&'static str, String)>) {
    let mut out = settings.clone();
    let mut errors = Vec::new();
    for (name, field) in [("key", &mut out.key), ("password", &mut out.password)] {
        if let Some(raw) = field.as_mut() {
            *raw = resolve(raw).unwrap_or_else(|why| {
                errors.push((name, why));
                String::new()
            });
        }
    }
    (out, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_and_file_references_resolve_and_literals_stay() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("community");
        std::fs::write(&file, "from-a-file\r\n").unwrap();
        assert_eq!(
            resolve(&format!("file:{}", file.display())).unwrap(),
            "from-a-file"
        );
        assert_eq!(resolve("plain").unwrap(), "plain");
        let home = std::env::var("PATH").unwrap();
        assert_eq!(resolve("env:PATH").unwrap(), home);
        let missing = resolve("env:SOTP_SURELY_UNSET_VARIABLE_42").unwrap_err();
        assert!(
            missing.contains("SOTP_SURELY_UNSET_VARIABLE_42"),
            "{missing}"
        );
        let gone = resolve("file:/nonexistent/sotp-secret").unwrap_err();
        assert!(gone.contains("/nonexistent/sotp-secret"), "{gone}");
    }

    #[test]
    fn snmp_settings_resolve_every_secret_field_and_name_the_failures() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("k");
        std::fs::write(&file, "auth-from-file\n").unwrap();
        let s = SnmpSettings {
            version: "3".into(),
            user: Some("u".into()),
            auth_protocol: Some("sha".into()),
            auth_key: Some(format!("file:{}", file.display())),
            priv_protocol: Some("aes".into()),
            priv_key: Some("literal-priv".into()),
            ..SnmpSettings::default()
        };
        let (r, failed) = resolve_snmp(&s);
        assert!(failed.is_empty(), "{failed:?}");
        assert_eq!(r.auth_key.as_deref(), Some("auth-from-file"));
        assert_eq!(r.priv_key.as_deref(), Some("literal-priv"));
        let bad = SnmpSettings {
            community: Some("env:SOTP_SURELY_UNSET_VARIABLE_43".into()),
            priv_key: Some("file:/nonexistent/k".into()),
            ..s
        };
        let (r, failed) = resolve_snmp(&bad);
        let fields: Vec<_> = failed.into_iter().map(|(f, _)| f).collect();
        assert_eq!(fields, ["community", "priv_key"]);
        assert_eq!(r.community.as_deref(), Some(""));
        assert_eq!(r.priv_key.as_deref(), Some(""));
        assert_eq!(r.auth_key.as_deref(), Some("auth-from-file"));
    }
}
