use super::*;
use crate::HostKeyPolicy;

#[test]
fn a_pinned_key_wins_then_known_hosts_then_first_use_where_allowed() {
    let none = SshConfig::default();
    let tofu = SshConfig {
        trust_on_first_use: true,
        ..SshConfig::default()
    };
    let listed = SshConfig {
        known_hosts: "/etc/ssh/ssh_known_hosts".into(),
        trust_on_first_use: true,
        ..SshConfig::default()
    };
    let pinned = Some(HostKeyPolicy::Pinned("SHA256:abc".into()));
    for config in [&none, &tofu, &listed] {
        assert_eq!(
            config.host_key_rules().policy(Some("SHA256:abc"), true),
            pinned
        );
    }
    assert_eq!(none.host_key_rules().policy(None, true), None);
    assert_eq!(
        tofu.host_key_rules().policy(None, true),
        Some(HostKeyPolicy::TrustOnFirstUse)
    );
    // The collector never trusts on first use.
    assert_eq!(tofu.host_key_rules().policy(None, false), None);
    assert_eq!(
        listed.host_key_rules().policy(None, false),
        Some(HostKeyPolicy::KnownHosts {
            path: "/etc/ssh/ssh_known_hosts".into(),
            trust_on_first_use: false
        })
    );
    assert_eq!(
        listed.host_key_rules().policy(None, true),
        Some(HostKeyPolicy::KnownHosts {
            path: "/etc/ssh/ssh_known_hosts".into(),
            trust_on_first_use: true
        })
    );
}
