//! Syslog over TLS (RFC 5425) with a client certificate, against `openssl s_client` as
//! the sender, with certificates made by the `openssl` CLI for each run.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::common::{BIN, Server, free_port};
use crate::syslog_e2e::wait_for;

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run openssl ({e}): `apt-get install openssl`"));
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, all signed by it.
pub(crate) fn make_pki(dir: &Path) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509", "-days", "2", "-subj", "/CN=sotp-test-ca"];
    ca.extend_from_slice(&ec);
    ca.extend_from_slice(&["-keyout", "ca.key", "-out", "ca.pem"]);
    openssl(dir, &ca);
    std::fs::write(dir.join("server.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    std::fs::write(dir.join("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
    for who in ["server", "client"] {
        let mut req = vec!["req", "-subj"];
        let subj = format!("/CN=sotp-test-{who}");
        req.push(&subj);
        req.extend_from_slice(&ec);
        let (key, csr, pem, ext) = (
            format!("{who}.key"),
            format!("{who}.csr"),
            format!("{who}.pem"),
            format!("{who}.ext"),
        );
        req.extend_from_slice(&["-keyout", &key, "-out", &csr]);
        openssl(dir, &req);
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                &ext,
                "-out",
                &pem,
            ],
        );
    }
}

/// Sends `payload` with `openssl s_client`, with or without the client certificate.
fn s_client(dir: &Path, port: u16, with_cert: bool, payload: &str) {
    let connect = format!("127.0.0.1:{port}");
    let mut args = vec![
        "s_client",
        "-connect",
        &connect,
        "-CAfile",
        "ca.pem",
        "-quiet",
        "-no_ign_eof",
    ];
    if with_cert {
        args.extend_from_slice(&["-cert", "client.pem", "-key", "client.key"]);
    }
    let mut child = Command::new("openssl")
        .current_dir(dir)
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(payload.as_bytes())
        .unwrap();
    child.wait().unwrap();
}

#[test]
fn tls_with_client_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    make_pki(d);
    let tls_port = free_port();
    let config = d.join("sotp.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[icmp]
enabled = false
[storage]
batch_latency = "200ms"
[syslog]
tls = "127.0.0.1:{tls_port}"
cert = "{0}/server.pem"
key = "{0}/server.key"
client_ca = "{0}/ca.pem"
"#,
            d.display()
        ),
    )
    .unwrap();
    let server = Server::start_with(Command::new(BIN), &config, &d.join("data"), free_port());
    let frames: String = [
        "<13>1 - tlshost app - - - over tls one",
        "<13>1 - tlshost app - - - over tls two",
    ]
    .iter()
    .map(|m| format!("{} {m}", m.len()))
    .collect();
    s_client(d, tls_port, true, &frames);
    let got = wait_for(&server, "SELECT count(*) FROM logs", &Value::from(2));
    assert_eq!(got, 2, "{}", server.log_text());
    let rows = server.rows("SELECT message FROM logs WHERE hostname = 'tlshost' ORDER BY message");
    assert_eq!(
        rows,
        vec![
            vec![Value::from("over tls one")],
            vec![Value::from("over tls two")]
        ]
    );
    // Without a client certificate the handshake is refused and nothing is stored.
    s_client(d, tls_port, false, "11 <13>1 - - -");
    std::thread::sleep(std::time::Duration::from_secs(1));
    assert_eq!(server.rows("SELECT count(*) FROM logs")[0][0], 2);
    let (_, metrics) = server.metrics();
    assert!(
        metrics.contains("sotp_syslog_tls_handshake_errors_total 1"),
        "{metrics}"
    );
}
