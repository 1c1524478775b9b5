//! The Kafka bus against a broker that requires authentication: SASL/SCRAM (SHA-512 and
//! SHA-256), over plaintext and over TLS with a private CA, and TLS alone (see `secure_peer` for the
//! broker). Every role runs and rows reach Parquet; a wrong password, an unknown user
//! and an untrusted certificate stop start-up with the cause named; the password, given
//! as an `env:` reference, never appears in the logs.

use std::path::Path;
use std::time::{Duration, Instant};

use super::peer::{RoleProc, devices_toml, kafka_toml, parquet_counts};
use super::secure_peer::{SecureTansu, User, make_ca};

const PASSWORD: &str = "scram-pw-5b1f0c9e-never-logged";
const PASSWORD_VAR: &str = "SOTP_TEST_KAFKA_PASSWORD";

/// `[bus]` security lines reading the password from [`PASSWORD_VAR`].
fn security(protocol: &str, mechanism: &str, user: &str, ca: Option<&Path>) -> String {
    let mut s = format!(
        "security_protocol = \"{protocol}\"\nsasl_mechanism = \"{mechanism}\"\n\
         sasl_username = \"{user}\"\nsasl_password = \"env:{PASSWORD_VAR}\"\n"
    );
    if let Some(ca) = ca {
        s.push_str(&format!("ssl_ca_location = \"{}\"\n", ca.display()));
    }
    s
}

/// Runs every role in one process with `password`; waits until Parquet holds rows of
/// every device, stops it, and returns its log.
fn run_until_rows(dir: &Path, config: &str, devices: u64, password: &str) -> String {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("sotp.toml");
    std::fs::write(&path, config).unwrap();
    let data = dir.join("data");
    let mut p = RoleProc::start_env(&path, &data, &["all"], None, &[(PASSWORD_VAR, password)]);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (rows, _) = parquet_counts(&data);
        let seen = super::peer::duck_count(
            &data,
            "select count(distinct device_id) from metrics where metric = 'icmp.rtt_ms'",
        );
        if rows > 0 && seen == devices {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no rows of all {devices} devices in Parquet within 60 s ({rows} rows, {seen} devices):\n{}",
            p.log_text()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let code = p.stop();
    let log = p.log_text();
    assert_eq!(code, 0, "{log}");
    log
}

/// Starts every role with `password` and expects start-up to fail; returns the log.
fn refused_at_start(dir: &Path, config: &str, password: &str) -> String {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("refused.toml");
    std::fs::write(&path, config).unwrap();
    let mut p = RoleProc::start_env(
        &path,
        &dir.join("refused-data"),
        &["all"],
        None,
        &[(PASSWORD_VAR, password)],
    );
    let code = p.wait_exit(Duration::from_secs(40));
    let log = p.log_text();
    // Documented: start-up fails with exit code 1 (a configuration error would be 2).
    assert_eq!(code, 1, "{log}");
    log
}

#[test]
fn scram_sha_512_runs_every_role_and_a_wrong_password_or_user_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let tansu = SecureTansu::start(
        dir.path(),
        &[User {
            name: "sotp",
            password: PASSWORD,
            mechanism: "scram512",
        }],
        false,
    );
    let devices = devices_toml("127.41.0.1", 3, 1);
    let ok = kafka_toml(
        &tansu.brokers,
        &security("sasl_plaintext", "SCRAM-SHA-512", "sotp", None),
    ) + &devices;
    let log = run_until_rows(&dir.path().join("ok"), &ok, 3, PASSWORD);
    assert!(
        !log.contains(PASSWORD),
        "the password is in the log:\n{log}"
    );

    // A wrong password: start-up stops at once with the broker's refusal, not with a
    // time-out that blames the network.
    let wrong = "wrong-pw-0d9a7e-not-in-logs";
    let log = refused_at_start(dir.path(), &ok, wrong);
    assert!(
        log.contains(&format!(
            "the Kafka brokers `{}` refused this client (security_protocol = sasl_plaintext, \
             sasl_mechanism = SCRAM-SHA-512, sasl_username = `sotp`)",
            tansu.brokers
        )),
        "{log}"
    );
    assert!(log.contains("SASL"), "{log}");
    assert!(
        log.contains("check [bus] sasl_mechanism, sasl_username and sasl_password"),
        "{log}"
    );
    assert!(!log.contains("cannot reach the Kafka brokers"), "{log}");
    assert!(
        !log.contains(wrong),
        "the wrong password is in the log:\n{log}"
    );

    // An unknown user, the right password.
    let unknown = kafka_toml(
        &tansu.brokers,
        &security("sasl_plaintext", "SCRAM-SHA-512", "nobody", None),
    ) + &devices;
    let log = refused_at_start(&dir.path().join("unknown"), &unknown, PASSWORD);
    assert!(log.contains("sasl_username = `nobody`"), "{log}");
    assert!(
        log.contains("unknown-user") || log.contains("SASL"),
        "{log}"
    );
    assert!(!log.contains(PASSWORD), "{log}");
}

#[test]
fn sasl_ssl_with_a_private_ca_runs_every_role() {
    let dir = tempfile::tempdir().unwrap();
    let tansu = SecureTansu::start(
        dir.path(),
        &[User {
            name: "sotp-tls",
            password: PASSWORD,
            mechanism: "scram256",
        }],
        true,
    );
    let ca = tansu.ca.clone().unwrap();
    let devices = devices_toml("127.42.0.1", 3, 1);
    let ok = kafka_toml(
        &tansu.brokers,
        &security("sasl_ssl", "SCRAM-SHA-256", "sotp-tls", Some(&ca)),
    ) + &devices;
    let log = run_until_rows(&dir.path().join("ok"), &ok, 3, PASSWORD);
    assert!(
        !log.contains(PASSWORD),
        "the password is in the log:\n{log}"
    );
}

#[test]
fn ssl_alone_runs_every_role_and_an_untrusted_ca_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let tansu = SecureTansu::start(dir.path(), &[], true);
    let ca = tansu.ca.clone().unwrap();
    let config = kafka_toml(
        &tansu.brokers,
        &format!(
            "security_protocol = \"ssl\"\nssl_ca_location = \"{}\"\n",
            ca.display()
        ),
    ) + &devices_toml("127.43.0.1", 3, 1);
    run_until_rows(&dir.path().join("ok"), &config, 3, "unused");

    // A CA that did not sign the brokers' certificate: the TLS handshake fails, and
    // start-up says so.
    let other = make_ca(&tansu.dir.join("other-ca"), "other");
    let untrusted = kafka_toml(
        &tansu.brokers,
        &format!(
            "security_protocol = \"ssl\"\nssl_ca_location = \"{}\"\n",
            other.display()
        ),
    ) + &devices_toml("127.43.0.1", 3, 1);
    let log = refused_at_start(dir.path(), &untrusted, "unused");
    assert!(
        log.contains(&format!(
            "the Kafka brokers `{}` refused this client (security_protocol = ssl)",
            tansu.brokers
        )),
        "{log}"
    );
    assert!(log.contains("certificate verify failed"), "{log}");
    assert!(log.contains("check [bus] ssl_ca_location"), "{log}");
}
