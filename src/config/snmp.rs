//! Per-device SNMP settings (`snmp = { ... }` in `[[devices]]`): the same
//! [`sotp_schemas::SnmpSettings`] the devices API takes, with one validation and one
//! conversion into the collector's target; protocol names in either spelling.

#[cfg(test)]
mod tests {
    use super::super::load_str;

    #[test]
    fn snmp_device_settings_are_validated_and_secrets_stay_hidden() {
        let dir = tempfile::tempdir().unwrap();
        let priv_file = dir.path().join("priv");
        std::fs::write(&priv_file, "priv-from-file\n").unwrap();
        let text = r#"
[[devices]]
name = "a"
address = "127.0.0.1"
snmp = { version = "3", user = "u", auth_protocol = "SHA-256", auth_key = "topsecret", priv_protocol = "aes256", priv_key = "PRIV_REF" }

[[devices]]
name = "b"
address = "127.0.0.2"
snmp = { version = "4", community = "c" }

[[devices]]
name = "c"
address = "127.0.0.3"
snmp = { version = "3", user = "u", priv_protocol = "rc4", priv_key = "x" }

[[devices]]
name = "d"
address = "127.0.0.4"
snmp = { version = "2c" }
"#
        .replace("PRIV_REF", &format!("file:{}", priv_file.display()));
        let text = text.as_str();
        let err = load_str(text, "t", Vec::new()).unwrap_err().to_string();
        for want in [
            "devices[1].snmp.version",
            "devices[2].snmp.priv_protocol",
            "devices[3].snmp.community",
        ] {
            assert!(err.contains(want), "{want} missing in:\n{err}");
        }
        assert!(!err.contains("devices[0]"), "{err}");

        let ok = load_str(
            &text[..text.find("[[devices]]\nname = \"b\"").unwrap()],
            "t",
            Vec::new(),
        )
        .unwrap();
        let debug = format!("{ok:?}");
        assert!(!debug.contains("topsecret"), "{debug}");
        assert!(debug.contains("file:"), "{debug}");
        let dev = &ok.device_list()[0];
        assert!(!format!("{dev:?}").contains("topsecret"));
        let usm = dev.snmp.as_ref().unwrap().usm.as_ref().unwrap();
        assert_eq!(usm.auth.as_ref().unwrap().1.expose().unwrap(), "topsecret");
        assert_eq!(
            usm.privacy.as_ref().unwrap().1.expose().unwrap(),
            "priv-from-file"
        );
        assert_eq!(
            usm.auth.as_ref().unwrap().0,
            sotp_schemas::AuthProtocol::Sha256
        );
        assert_eq!(
            usm.privacy.as_ref().unwrap().0,
            sotp_schemas::PrivProtocol::Aes256
        );
    }

    #[test]
    fn a_reference_that_does_not_resolve_is_a_configuration_error_naming_the_field() {
        let text = r#"
[[devices]]
name = "a"
address = "127.0.0.1"
snmp = { version = "2c", community = "env:SOTP_TEST_SURELY_UNSET_COMMUNITY_77" }
"#;
        let err = load_str(text, "t", Vec::new()).unwrap_err().to_string();
        assert!(err.contains("devices[0].snmp.community"), "{err}");
        assert!(err.contains("SOTP_TEST_SURELY_UNSET_COMMUNITY_77"), "{err}");
    }
}
