use super::*;

/// Masks `config` and checks that exactly the `secrets` were replaced: each secret (found
/// once in the input) is gone, the output is the input with each secret replaced by the
/// mask (so every other byte, every line without a secret included, is unchanged), the
/// mask appears once per secret, and masking again changes nothing.
fn check_masked(config: &str, secrets: &[&str]) {
    let masked = mask_secrets(config);
    let mut expected = config.to_owned();
    for secret in secrets {
        assert_eq!(
            config.matches(secret).count(),
            1,
            "test data: {secret} must appear once"
        );
        assert!(!masked.contains(secret), "{secret} is still in\n{masked}");
        expected = expected.replace(secret, SECRET_MASK);
    }
    assert_eq!(masked, expected);
    assert_eq!(masked.matches(SECRET_MASK).count(), secrets.len());
    assert_eq!(mask_secrets(&masked), masked, "masking is idempotent");
}

#[test]
fn ios_secrets_are_masked_and_other_lines_kept() {
    check_masked(IOS, IOS_SECRETS);
    let masked = mask_secrets(IOS);
    for line in [
        "enable secret 5 <removed>",
        "username admin privilege 15 secret 9 <removed>",
        "username backup password 7 <removed>",
        " key 1",
        "  key-string 7 <removed>",
        "snmp-server community <removed> RO 10",
        "snmp-server host 192.0.2.51 version 3 priv nmsuser",
        "crypto isakmp key 6 <removed> address 203.0.113.9",
        "ntp authentication-key 1 md5 <removed> 7",
        "service password-encryption",
        "no enable password",
        "aaa password-policy STRONG",
        "aaa authentication login default local",
        " description uplink to core, password rotation ticket CHG-1234",
        "password encryption aes",
        "ip ssh server algorithm authentication password keyboard",
        "Authorized users only. Your password is logged",
    ] {
        assert!(
            masked.lines().any(|l| l == line),
            "no line {line:?} in\n{masked}"
        );
    }
}

#[test]
fn crlf_line_ends_are_kept() {
    let crlf = IOS.replace('\n', "\r\n");
    let masked = mask_secrets(&crlf);
    assert_eq!(masked, mask_secrets(IOS).replace('\n', "\r\n"));
    assert!(masked.contains("enable secret 5 <removed>\r\n"));
    // No final line end stays without one.
    assert_eq!(
        mask_secrets("enable secret 5 $1$abc"),
        "enable secret 5 <removed>"
    );
    assert_eq!(mask_secrets(""), "");
}

#[test]
fn junos_braces_and_set_forms() {
    check_masked(JUNOS, JUNOS_SECRETS);
    let masked = mask_secrets(JUNOS);
    assert!(masked.contains("        encrypted-password \"<removed>\"; ## SECRET-DATA\n"));
    assert!(masked.contains("    community \"<removed>\" {\n"));
    assert!(masked.contains("    community <removed> {\n"));
    assert!(masked.contains("    community CUST-A members 65001:100;\n"));
    check_masked(JUNOS_SET, JUNOS_SET_SECRETS);
}

#[test]
fn nxos_keeps_the_options_after_the_value() {
    check_masked(NXOS, NXOS_SECRETS);
    let masked = mask_secrets(NXOS);
    assert!(masked.contains("username admin password 5 <removed>  role network-admin\n"));
    assert!(masked.contains(
        "snmp-server user admin network-admin auth md5 <removed> priv <removed> localizedkey\n"
    ));
    assert!(
        masked.contains(
            "radius-server host 192.0.2.12 key 7 \"<removed>\" authentication accounting\n"
        )
    );
    assert!(masked.contains("  key 0\n"));
}

#[test]
fn huawei_cipher_forms() {
    check_masked(HUAWEI, HUAWEI_SECRETS);
    let masked = mask_secrets(HUAWEI);
    assert!(masked.contains(" local-user admin password irreversible-cipher <removed>\n"));
    assert!(masked.contains("snmp-agent community read cipher <removed> mib-view iso-view\n"));
}

#[test]
fn eos_xr_and_key_value_files() {
    check_masked(EOS, EOS_SECRETS);
    check_masked(XR, XR_SECRETS);
    check_masked(LINUX, LINUX_SECRETS);
}

#[test]
fn single_lines() {
    for (line, masked) in [
        // IOS plain-text passwords may hold spaces: the rest of the line goes.
        (
            "username bob password 0 my secret pass",
            "username bob password 0 <removed>",
        ),
        (
            "enable secret level 15 5 $1$abc",
            "enable secret level 15 5 <removed>",
        ),
        (
            "radius-server host 10.1.1.1 auth-port 1812 acct-port 1813 key 0 my radius key",
            "radius-server host 10.1.1.1 auth-port 1812 acct-port 1813 key 0 <removed>",
        ),
        (
            "snmp-server user u g v3 auth sha encrypted AuthX priv aes 128 encrypted PrivY",
            "snmp-server user u g v3 auth sha encrypted <removed> priv aes 128 encrypted <removed>",
        ),
        (
            "username admin password Xasa encrypted privilege 15",
            "username admin password <removed> encrypted privilege 15",
        ),
        (
            " pre-shared-key address 10.0.0.1 key Kx9",
            " pre-shared-key address 10.0.0.1 key <removed>",
        ),
        (
            " standby 1 authentication Hsrp1",
            " standby 1 authentication <removed>",
        ),
        (
            " isis password IsisPw level-1",
            " isis password <removed> level-1",
        ),
        (
            "ntp authentication-key 1 md5 7 0822EOS",
            "ntp authentication-key 1 md5 7 <removed>",
        ),
        (" pac key 7 0822PAC", " pac key 7 <removed>"),
        ("\tpassword 7 TABBED   ", "\tpassword 7 <removed>   "),
    ] {
        assert_eq!(mask_secrets(line), masked, "{line}");
    }
}

#[test]
fn lines_without_secrets_are_untouched() {
    for line in [
        "service password-encryption",
        "no enable password",
        "no username bob password 0 x",
        "undo local-user admin",
        "password-policy STRONG",
        "aaa password-policy STRONG",
        "aaa authentication login default local",
        " description password is in the vault",
        " 10 remark allow password resets",
        "password encryption aes",
        "feature password encryption aes",
        "password strength-check",
        "ip ssh server algorithm authentication password keyboard",
        "key chain OSPF",
        " standby 1 authentication md5 key-chain K",
        " authentication open",
        " authentication-mode password",
        " authentication-mode aaa",
        "snmp-server host 192.0.2.51 informs version 3 auth nmsuser",
        "snmp-server host 192.0.2.60 use-vrf management",
        "    password {",
        "        format sha512;",
        "    authentication-order [ password radius ];",
        "    community CUST-A members 65001:100;",
        "set policy-options community CUST-B members 65001:200",
        "set system login password format sha512",
        "set interfaces ge-0/0/1 description \"uplink secret lab\"",
        "        message \"Authorized access only; password sharing prohibited\";",
        "! password 7 is weak",
        "username admin nopassword",
        "interface GigabitEthernet0/1",
    ] {
        assert_eq!(mask_secrets(line), line);
    }
    // A `banner` whose end never comes is not one: masking goes on below it.
    assert_eq!(
        mask_secrets("banner motd ^C\nline vty 0 4\n password 7 0822\n"),
        "banner motd ^C\nline vty 0 4\n password 7 <removed>\n"
    );
}

#[test]
fn hash_ignores_collection_noise_and_sees_changes() {
    let again = IOS
        .replace(
            "at 10:21:33 UTC Mon Jan 8 2024",
            "at 11:02:17 UTC Tue Jan 9 2024",
        )
        .replace("updated at 10:22:01", "updated at 11:03:00")
        .replace("4213 bytes", "4217 bytes")
        .replace("ntp clock-period 17179866", "ntp clock-period 17179871")
        .replace("hostname edge-rtr-01", "hostname edge-rtr-01   ");
    assert_ne!(again, IOS);
    let hash = config_hash(IOS);
    assert_eq!(hash.len(), 64);
    assert!(
        hash.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    );
    assert_eq!(config_hash(&again), hash);
    assert_eq!(config_hash(&IOS.replace('\n', "\r\n")), hash);
    assert_eq!(
        config_hash(&mask_secrets(IOS)),
        hash,
        "a stored (masked) copy hashes alike"
    );
    // Only the secrets are masked: a changed secret alone does not move the hash.
    assert_eq!(
        config_hash(&IOS.replace("0822455D0A16", "0000000000AA")),
        hash
    );
    let changed = IOS.replace(
        "neighbor 198.51.100.1 remote-as 65002",
        "neighbor 198.51.100.1 remote-as 65003",
    );
    assert_ne!(config_hash(&changed), hash);
    assert_ne!(config_hash(&IOS.replace("RO 10", "RO 11")), hash);

    let junos = JUNOS.replace("2024-01-08 10:21:33 UTC", "2024-02-01 08:00:00 UTC");
    assert_eq!(config_hash(&junos), config_hash(JUNOS));
    let huawei = HUAWEI
        .replace("V200R019C10SPC500", "V200R019C10SPC600")
        .replace("2024-01-08 10:21:33+00:00", "2024-02-01 08:00:00+00:00");
    assert_eq!(config_hash(&huawei), config_hash(HUAWEI));
    let nxos = NXOS.replace("10:25:00", "10:40:00");
    assert_eq!(config_hash(&nxos), config_hash(NXOS));
    let xr = XR.replace("10:21:33.123", "10:45:02.001");
    assert_eq!(config_hash(&xr), config_hash(XR));

    // SHA-256 of nothing: the digest is plain lowercase SHA-256.
    assert_eq!(
        config_hash(""),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(
        config_hash("\n! Last configuration change at 1\n\n"),
        config_hash("")
    );
}

#[test]
fn diff_of_a_one_line_change() {
    let new = IOS.replace(
        "neighbor 198.51.100.1 remote-as 65002",
        "neighbor 198.51.100.1 remote-as 65003",
    );
    let diff = unified_diff(
        IOS,
        &new,
        "edge-rtr-01 2024-01-08",
        "edge-rtr-01 2024-01-09",
    );
    assert!(
        diff.starts_with("--- edge-rtr-01 2024-01-08\n+++ edge-rtr-01 2024-01-09\n@@ -"),
        "{diff}"
    );
    let lines: Vec<&str> = diff.lines().collect();
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("@@")).count(),
        1,
        "{diff}"
    );
    let removed: Vec<&&str> = lines
        .iter()
        .filter(|l| l.starts_with('-') && !l.starts_with("---"))
        .collect();
    let added: Vec<&&str> = lines
        .iter()
        .filter(|l| l.starts_with('+') && !l.starts_with("+++"))
        .collect();
    assert_eq!(removed, [&"- neighbor 198.51.100.1 remote-as 65002"]);
    assert_eq!(added, [&"+ neighbor 198.51.100.1 remote-as 65003"]);
    // 3 lines of context each side: 3 + 1 + 1 + 3 body lines.
    assert_eq!(lines.len(), 3 + 8, "{diff}");
    // The context holds the neighbour's password line: masked.
    assert!(
        diff.contains("  neighbor 198.51.100.1 password 7 <removed>\n"),
        "{diff}"
    );
    assert!(!diff.contains("104D000A061843"));

    assert_eq!(unified_diff(IOS, IOS, "a", "b"), "");
    // Texts that differ only in a secret are equal once masked.
    assert_eq!(
        unified_diff(IOS, &IOS.replace("0822455D0A16", "0000000000AA"), "a", "b"),
        ""
    );
    // A label cannot add lines.
    let diff = unified_diff("a\n", "b\n", "old\n+++ forged", "new");
    assert!(diff.starts_with("--- old +++ forged\n+++ new\n"), "{diff}");
}

const IOS: &str = r##"Building configuration...

Current configuration : 4213 bytes
!
! Last configuration change at 10:21:33 UTC Mon Jan 8 2024 by admin
! NVRAM config last updated at 10:22:01 UTC Mon Jan 8 2024 by admin
!
version 15.2
service password-encryption
hostname edge-rtr-01
!
enable secret 5 $1$mERr$hx5rVt7rPNoS4wqbXKX7m0
no enable password
!
aaa new-model
aaa authentication login default local
aaa password-policy STRONG
username admin privilege 15 secret 9 $9$nhEmQVczB7dqsO$X.HsgL6x1il0RxkOSSvyQYwucySCt7qFm4v7pqCxkKM
username backup password 7 0822455D0A16
!
key chain OSPF-KEYS
 key 1
  key-string 7 1511021F07257A767B
!
interface GigabitEthernet0/0
 description uplink to core, password rotation ticket CHG-1234
 ip address 192.0.2.1 255.255.255.252
 ip ospf authentication-key 7 13061E010803
 ip ospf message-digest-key 1 md5 7 02050D480809
!
router bgp 65001
 neighbor 198.51.100.1 remote-as 65002
 neighbor 198.51.100.1 password 7 104D000A061843
!
ip ssh server algorithm authentication password keyboard
snmp-server community Publ1cR0 RO 10
snmp-server community Pr1vRW! RW
snmp-server host 192.0.2.50 version 2c Tr4pC0mm
snmp-server host 192.0.2.51 version 3 priv nmsuser
tacacs-server host 192.0.2.10 key 7 060506324F41
tacacs server ISE-1
 address ipv4 192.0.2.11
 key 7 14141B180F0B
radius-server key 7 1316180A0B0E3F
crypto isakmp key 6 FLgBaJHXdYY_AVFcVBCcUOGCSTVDJEZ address 203.0.113.9
crypto ikev2 keyring KR
 peer BRANCH
  pre-shared-key local 6 IkeLocalPskQ
password encryption aes
dot11 ssid CORP
 wpa-psk ascii 8 WpaPskRgXy
ntp authentication-key 1 md5 00071A150754 7
ntp clock-period 17179866
banner motd ^C
Authorized users only. Your password is logged
^C
!
line con 0
 password 7 045802150C2E
line vty 0 4
 password 7 110A1016141D
 transport input ssh
!
end
"##;

const IOS_SECRETS: &[&str] = &[
    r#"$1$mERr$hx5rVt7rPNoS4wqbXKX7m0"#,
    r#"$9$nhEmQVczB7dqsO$X.HsgL6x1il0RxkOSSvyQYwucySCt7qFm4v7pqCxkKM"#,
    r#"0822455D0A16"#,
    r#"1511021F07257A767B"#,
    r#"13061E010803"#,
    r#"02050D480809"#,
    r#"104D000A061843"#,
    r#"Publ1cR0"#,
    r#"Pr1vRW!"#,
    r#"Tr4pC0mm"#,
    r#"060506324F41"#,
    r#"14141B180F0B"#,
    r#"1316180A0B0E3F"#,
    r#"FLgBaJHXdYY_AVFcVBCcUOGCSTVDJEZ"#,
    r#"IkeLocalPskQ"#,
    r#"WpaPskRgXy"#,
    r#"00071A150754"#,
    r#"045802150C2E"#,
    r#"110A1016141D"#,
];

const JUNOS: &str = r##"## Last commit: 2024-01-08 10:21:33 UTC by admin
version 21.4R3.15;
system {
    host-name mx-edge-1;
    root-authentication {
        encrypted-password "$6$J1q9$RootHashJunosOne"; ## SECRET-DATA
    }
    login {
        message "Authorized access only; password sharing prohibited";
        password {
            format sha512;
            minimum-length 12;
        }
        user netops {
            uid 2001;
            class super-user;
            authentication {
                encrypted-password "$6$Nq2$NetopsHashJunosTwo"; ## SECRET-DATA
            }
        }
    }
    authentication-order [ password radius ];
    radius-server {
        192.0.2.20 secret "$9$RadiusSecretJunos3"; ## SECRET-DATA
    }
}
snmp {
    community "JunosPubComm4" {
        authorization read-only;
    }
    community JunosRwComm5 {
        authorization read-write;
    }
}
protocols {
    bgp {
        group ebgp {
            authentication-key "$9$BgpKeyJunos6"; ## SECRET-DATA
            neighbor 198.51.100.1;
        }
    }
    ospf {
        area 0.0.0.0 {
            interface ge-0/0/0.0 {
                authentication {
                    md5 1 key "$9$OspfMd5Junos7"; ## SECRET-DATA
                }
            }
        }
    }
}
security {
    ike {
        policy IKE-POL {
            pre-shared-key ascii-text "$9$IkePskJunos8"; ## SECRET-DATA
        }
    }
}
policy-options {
    community CUST-A members 65001:100;
}
"##;

const JUNOS_SECRETS: &[&str] = &[
    r#"$6$J1q9$RootHashJunosOne"#,
    r#"$6$Nq2$NetopsHashJunosTwo"#,
    r#"$9$RadiusSecretJunos3"#,
    r#"JunosPubComm4"#,
    r#"JunosRwComm5"#,
    r#"$9$BgpKeyJunos6"#,
    r#"$9$OspfMd5Junos7"#,
    r#"$9$IkePskJunos8"#,
];

const JUNOS_SET: &str = r##"set system root-authentication encrypted-password "$6$SetRootJunos9"
set system login user ops authentication encrypted-password "$6$SetOpsJunos10"
set system login password format sha512
set system authentication-order [ password radius ]
set snmp community SetCommJunos11 authorization read-only
set protocols bgp group ebgp authentication-key "$9$SetBgpJunos12"
set security ike policy P pre-shared-key ascii-text "$9$SetIkeJunos13"
set policy-options community CUST-B members 65001:200
set interfaces ge-0/0/1 description "uplink secret lab"
"##;

const JUNOS_SET_SECRETS: &[&str] = &[
    r#"$6$SetRootJunos9"#,
    r#"$6$SetOpsJunos10"#,
    r#"SetCommJunos11"#,
    r#"$9$SetBgpJunos12"#,
    r#"$9$SetIkeJunos13"#,
];

const NXOS: &str = r##"!Command: show running-config
!Running configuration last done at: Mon Jan  8 10:21:33 2024
!Time: Mon Jan  8 10:25:00 2024
version 9.3(8) Bios:version 05.45
feature tacacs+
password strength-check
username admin password 5 $5$NxAdm1n$abcdefghijklmnopqrstuv  role network-admin
username ops password 5 $5$NxOps2$qrstuvwxyz0123456789AB  role network-operator
snmp-server user admin network-admin auth md5 0x1111aaaa2222bbbb priv 0x3333cccc4444dddd localizedkey
snmp-server community NxComm5 group network-operator
snmp-server host 192.0.2.60 traps version 2c NxTrap6
snmp-server host 192.0.2.60 use-vrf management
tacacs-server key 7 "NxTacKey7"
tacacs-server host 192.0.2.10 key 7 "NxTacHost8"
radius-server host 192.0.2.12 key 7 "NxRad9" authentication accounting
router bgp 65001
  neighbor 198.51.100.2
    remote-as 65002
    password 3 NxBgpPw10
interface Vlan10
  hsrp 10
    authentication md5 key-string NxHsrp11
key chain EIGRP
  key 0
    key-string 7 NxKc12
"##;

const NXOS_SECRETS: &[&str] = &[
    r#"$5$NxAdm1n$abcdefghijklmnopqrstuv"#,
    r#"$5$NxOps2$qrstuvwxyz0123456789AB"#,
    r#"0x1111aaaa2222bbbb"#,
    r#"0x3333cccc4444dddd"#,
    r#"NxComm5"#,
    r#"NxTrap6"#,
    r#"NxTacKey7"#,
    r#"NxTacHost8"#,
    r#"NxRad9"#,
    r#"NxBgpPw10"#,
    r#"NxHsrp11"#,
    r#"NxKc12"#,
];

const HUAWEI: &str = r##"!Software Version V200R019C10SPC500
!Last configuration was updated at 2024-01-08 10:21:33+00:00
#
sysname HW-AGG-1
#
aaa
 local-user admin password irreversible-cipher $1a$HwAdminH1$
 local-user admin privilege level 15
 local-user admin service-type ssh terminal
#
snmp-agent community read cipher %^%#HwReadH2%^%# mib-view iso-view
snmp-agent community write cipher %^%#HwWriteH3%^%#
snmp-agent usm-user v3 nms authentication-mode sha cipher %^%#HwAuthH4%^%# privacy-mode aes128 cipher %^%#HwPrivH5%^%#
#
hwtacacs-server template HW-TAC
 hwtacacs-server shared-key cipher %^%#HwTacH6%^%#
#
interface Vlanif10
 description mgmt password vault HQ
 ospf authentication-mode md5 1 cipher %^%#HwOspfH7%^%#
#
bgp 65001
 peer 198.51.100.3 password cipher %^%#HwBgpH8%^%#
#
user-interface vty 0 4
 authentication-mode password
 set authentication password cipher %^%#HwVtyH9%^%#
#
return
"##;

const HUAWEI_SECRETS: &[&str] = &[
    r#"$1a$HwAdminH1$"#,
    r#"%^%#HwReadH2%^%#"#,
    r#"%^%#HwWriteH3%^%#"#,
    r#"%^%#HwAuthH4%^%#"#,
    r#"%^%#HwPrivH5%^%#"#,
    r#"%^%#HwTacH6%^%#"#,
    r#"%^%#HwOspfH7%^%#"#,
    r#"%^%#HwBgpH8%^%#"#,
    r#"%^%#HwVtyH9%^%#"#,
];

const EOS: &str = r##"! Command: show running-config
! device: leaf1 (DCS-7050SX3-48YC8, EOS-4.28.3M)
!
username admin privilege 15 role network-admin secret sha512 $6$EosAdm1n$HashE1
enable password sha512 $6$EosEnable$HashE2
aaa root secret sha512 $6$EosRoot$HashE3
banner login
Use of this device requires a password issued by NetOps
EOF
!
router bgp 65010
   neighbor 10.0.0.1 password 7 EosBgpE4==
"##;

const EOS_SECRETS: &[&str] = &[
    r#"$6$EosAdm1n$HashE1"#,
    r#"$6$EosEnable$HashE2"#,
    r#"$6$EosRoot$HashE3"#,
    r#"EosBgpE4=="#,
];

const XR: &str = r##"Mon Jan  8 10:21:33.123 UTC
Building configuration...
!! IOS XR Configuration 7.3.2
!! Last configuration change at Mon Jan  8 10:20:01 2024 by admin
!
username netops
 group root-lr
 secret 10 $6$XrSecret$X1
!
key chain BGP-KEYS
 key 1
  key-string password 0822XrKeyX2
!
router isis CORE
 lsp-password hmac-md5 encrypted 0822XrLspX3 level 2
!
snmp-server community XrCommX4 RO SystemOwner
tacacs-server host 192.0.2.10 port 49
 key 7 0822XrTacX5
!
end
"##;

const XR_SECRETS: &[&str] = &[
    r#"$6$XrSecret$X1"#,
    r#"0822XrKeyX2"#,
    r#"0822XrLspX3"#,
    r#"XrCommX4"#,
    r#"0822XrTacX5"#,
];

const LINUX: &str = r##"# /etc/wpa_supplicant.conf
ssid="corp"
wpa_passphrase=LinuxWpaL1
password=LinuxPwL2
DB_PASSWORD="LinuxDbL3"
user=admin
"##;

const LINUX_SECRETS: &[&str] = &[r#"LinuxWpaL1"#, r#"LinuxPwL2"#, r#"LinuxDbL3"#];
