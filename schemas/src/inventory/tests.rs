use super::*;

/// A toy codec for the tests (the real one is the inventory's master key).
struct Rot;

impl SecretCodec for Rot {
    fn seal(&self, owner: &str, name: &str, plain: &str) -> Result<String, String> {
        Ok(format!(
            "enc:t:{owner}:{name}:{}",
            plain.chars().rev().collect::<String>()
        ))
    }
    fn open(&self, owner: &str, name: &str, sealed: &str) -> Result<String, String> {
        sealed
            .strip_prefix(&format!("enc:t:{owner}:{name}:"))
            .map(|s| s.chars().rev().collect())
            .ok_or_else(|| "wrong binding".to_string())
    }
}

fn device(snmp: Option<SnmpTarget>) -> Device {
    Device {
        id: DeviceId::new("core-1"),
        name: Arc::from("Core 1"),
        address: "2001:db8::1".parse().unwrap(),
        tags: vec!["dc1".into()],
        icmp: PollSettings {
            enabled: true,
            interval: Some(Duration::from_millis(1500)),
        },
        snmp,
        ssh: None,
    }
}

#[test]
fn device_round_trips_through_the_wire_record() {
    let d = device(None);
    let json = DeviceRecord::from(&d).to_json().unwrap();
    let back: Device = DeviceRecord::from_json(&json).unwrap().into();
    assert_eq!(back, d);
    assert!(DeviceRecord::from_json(br#"{"id":"x"}"#).is_err());
}

#[test]
fn snmp_secrets_travel_sealed_never_plain() {
    let settings: crate::SnmpSettings = serde_json::from_str(
        r#"{"version":"3","user":"mon","auth_protocol":"sha256","auth_key":"plain-auth","priv_protocol":"AES-256","priv_key":"plain-priv","context":"c1","interval":"5s"}"#,
    )
    .unwrap();
    let mut d = device(Some(settings.target()));
    // Unsealed: the literal is left out, never written.
    let json = String::from_utf8(DeviceRecord::from(&d).to_json().unwrap()).unwrap();
    assert!(!json.contains("plain-auth"), "{json}");
    assert!(!json.contains("plain-priv"), "{json}");
    d.seal_secrets(&Rot).unwrap();
    let json = String::from_utf8(DeviceRecord::from(&d).to_json().unwrap()).unwrap();
    assert!(!json.contains("plain-auth"), "{json}");
    assert!(json.contains("\"auth_protocol\":\"SHA-256\""), "{json}");
    assert!(!json.contains("plain-priv"), "{json}");
    let record = DeviceRecord::from_json(json.as_bytes()).unwrap();
    assert!(record.unsealed_secrets().is_empty());
    let mut back: Device = DeviceRecord::from_json(json.as_bytes()).unwrap().into();
    assert!(back.open_secrets(&Rot).is_empty());
    assert_eq!(back, device(Some(settings.target())));
    // Opened under another device id: the binding refuses, the secret stays sealed.
    let mut moved: Device = DeviceRecord::from_json(json.as_bytes()).unwrap().into();
    moved.id = DeviceId::new("other");
    assert_eq!(
        moved.open_secrets(&Rot),
        vec!["snmp.auth_key", "snmp.priv_key"]
    );
    let usm = moved.snmp.unwrap().usm.unwrap();
    assert!(usm.auth.unwrap().1.is_sealed());
}

#[test]
fn records_name_every_secret_that_is_not_sealed() {
    let json = br#"{"id":"d","name":"d","address":"127.0.0.1","icmp":{"enabled":true},
        "snmp":{"version":"3","port":161,"community":"env:SOTP_MASTER_KEY","user":"u",
        "auth_protocol":"SHA","auth_key":"enc:v1:abc","priv_protocol":"AES","priv_key":"file:/etc/shadow"}}"#;
    let r = DeviceRecord::from_json(json).unwrap();
    assert_eq!(r.unsealed_secrets(), ["snmp.community", "snmp.priv_key"]);
    let none = br#"{"id":"d","name":"d","address":"127.0.0.1","icmp":{"enabled":true}}"#;
    assert!(
        DeviceRecord::from_json(none)
            .unwrap()
            .unsealed_secrets()
            .is_empty()
    );
}

#[test]
fn an_unknown_version_or_protocol_on_the_wire_is_an_error_not_a_default() {
    let with = |snmp: &str| {
        let json = format!(
            r#"{{"id":"d","name":"d","address":"127.0.0.1","icmp":{{"enabled":true}},"snmp":{snmp}}}"#
        );
        DeviceRecord::from_json(json.as_bytes())
    };
    let ok = with(r#"{"version":"v3","port":161,"user":"u","auth_protocol":"sha256"}"#).unwrap();
    let snmp = ok.snmp.unwrap();
    assert_eq!(snmp.version, SnmpVersion::V3);
    assert_eq!(snmp.auth_protocol, Some(AuthProtocol::Sha256));
    let out = serde_json::to_string(&snmp).unwrap();
    assert!(out.contains(r#""version":"3""#) && out.contains(r#""auth_protocol":"SHA-256""#));
    let bad = with(r#"{"version":"4","port":161}"#)
        .unwrap_err()
        .to_string();
    assert!(bad.contains("unknown SNMP version `4`"), "{bad}");
    assert!(with(r#"{"version":"3","port":161,"priv_protocol":"rc4"}"#).is_err());
}
