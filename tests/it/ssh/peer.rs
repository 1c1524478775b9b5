//! A real OpenSSH server (Debian's `openssh-server`, sshd 9.2) playing a network device for
//! the SSH collector's tests: one `sshd -D` per [`SshPeer`], on 127.0.0.1 and a free port,
//! in its own temporary directory, with `ForceCommand` running `fake_cli.py` (next to this
//! file) for every session. The script answers exec requests and an interactive CLI
//! (prompt, echo, `--More--` paging, commands that never answer) from the device's files,
//! and records every byte it receives, which [`SshPeer::received`] returns.
//!
//! Pitfalls met on the way:
//! - sshd as root needs `/run/sshd` (its privilege-separation directory), made here.
//! - With `UsePAM no`, sshd refuses an account whose shadow password starts with `!`
//!   (locked); Debian's root has `*`, which is fine. It runs the forced command through the
//!   account's shell (`bash -c`), with a fresh environment (`SSH_ORIGINAL_COMMAND` is set
//!   only for exec requests).
//! - `PrintMotd no` and `PrintLastLog no`: with a pty sshd would otherwise print the motd
//!   and "Last login" before the device's banner.
//! - OpenSSH 9.8+ penalises a source address after failed logins and unauthenticated
//!   connections (`PerSourcePenalties`), which would lock 127.0.0.1 out after a few
//!   wrong-key tests: turned off when the installed sshd knows the option (9.2 rejects it).
//! - sshd runs the forced command with the account's shell, and Debian's bash then reads
//!   `~/.bashrc` (it does for a shell started by sshd at nesting level 1): root's may run
//!   anything (here pyenv, which prints errors when 100 sessions rehash at once, into the
//!   device's output). `SetEnv SHLVL=1` makes that shell level 2, which reads no rc file.
//! - Session processes outlive a killed listener (each connection is its own session), so
//!   dropping a peer kills the listener's whole process tree.

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

use crate::common::free_port;

const SSHD: &str = "/usr/sbin/sshd";
const PYTHON: &str = "/usr/bin/python3";
const FAKE_CLI: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/ssh/fake_cli.py");

/// What one fake device answers (written to `device.json` for `fake_cli.py`).
#[derive(Debug, Clone)]
pub(crate) struct FakeDevice {
    /// Its hostname, shown in the shell's banner.
    pub(crate) name: String,
    /// The CLI prompt, e.g. `r1#`.
    pub(crate) prompt: String,
    /// Command → file whose bytes are the output (a file of the shared corpus, usually).
    pub(crate) outputs: Vec<(String, PathBuf)>,
    /// Commands that never answer (the session stays open, silent).
    pub(crate) hang: Vec<String>,
    /// Whether the shell pages with [`FakeDevice::more`] every 24 lines until
    /// `terminal length 0` or a [`FakeDevice::paging_off`] command.
    pub(crate) paging: bool,
    /// The pager's prompt (IOS: ` --More-- `, VRP: `  ---- More ----`), erased after a key.
    pub(crate) more: String,
    /// Commands besides `terminal length 0` that turn paging off
    /// (`screen-length 0 temporary`).
    pub(crate) paging_off: Vec<String>,
    /// Speak only what an old device speaks: `diffie-hellman-group14-sha1`, `aes128-cbc`,
    /// `hmac-sha1`.
    pub(crate) legacy_only: bool,
}

/// A running sshd serving one [`FakeDevice`]; killed (with its sessions) when dropped.
#[derive(Debug)]
pub(crate) struct SshPeer {
    pub(crate) port: u16,
    /// The host key's fingerprint as `ssh-keygen -lf` prints it: `SHA256:...`.
    pub(crate) host_fingerprint: String,
    /// The account to log in as (the one running the tests, or the password account of
    /// [`SshPeer::start_with_password`]).
    pub(crate) user: String,
    /// That account's password ([`SshPeer::start_with_password`] only).
    pub(crate) password: Option<String>,
    /// Client private keys (OpenSSH PEM text) accepted by this sshd.
    pub(crate) client_key_ed25519: String,
    pub(crate) client_key_rsa: String,
    pub(crate) client_key_ecdsa: String,
    /// The fingerprint of another host key, which this sshd does not have: a client that
    /// pins it must refuse the server.
    pub(crate) other_host_fingerprint: String,
    /// The two host public keys as a known_hosts line ends them (`ssh-ed25519 AAAA...`).
    pub(crate) host_public_key: String,
    pub(crate) other_host_public_key: String,
    child: Child,
    record: PathBuf,
    log: PathBuf,
    /// Keys, configuration, record and log; removed on drop.
    _dir: tempfile::TempDir,
}

impl SshPeer {
    /// Starts one sshd on 127.0.0.1 and a free port; returns once it sends its banner.
    pub(crate) fn start(device: &FakeDevice) -> SshPeer {
        Self::launch(device, None)
    }

    /// Like [`SshPeer::start`], with password logins allowed for the account
    /// `scripts/setup-peers.sh` makes for them (`SOTP_SSH_TEST_USER`, its random password
    /// in `SOTP_SSH_TEST_PASSWORD_FILE`); keys still work. The fake CLI then runs as that
    /// account, so the peer's directory is readable and its record writable by it.
    pub(crate) fn start_with_password(device: &FakeDevice) -> SshPeer {
        let setup = "run scripts/test.sh (as root, scripts/setup-peers.sh makes the account \
                     sotp-ssh-test and its password for the SSH password login)";
        let user = std::env::var("SOTP_SSH_TEST_USER")
            .unwrap_or_else(|_| panic!("SOTP_SSH_TEST_USER is not set: {setup}"));
        let file = std::env::var("SOTP_SSH_TEST_PASSWORD_FILE")
            .unwrap_or_else(|_| panic!("SOTP_SSH_TEST_PASSWORD_FILE is not set: {setup}"));
        let password = std::fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("cannot read {file} ({e}): {setup}"))
            .trim()
            .to_string();
        assert!(!password.is_empty(), "{file} is empty: {setup}");
        Self::launch(device, Some((user, password)))
    }

    fn launch(device: &FakeDevice, password_login: Option<(String, String)>) -> SshPeer {
        assert!(
            Path::new(SSHD).exists(),
            "{SSHD} is missing: scripts/setup-peers.sh installs openssh-server \
             (the SSH collector's tests run real OpenSSH servers as fake devices)"
        );
        assert!(
            Path::new(PYTHON).exists(),
            "{PYTHON} is missing: fake_cli.py runs under Debian's python3"
        );
        // sshd started as root refuses to run without its privilege-separation directory;
        // as another user it does not need it (and cannot make it): a failure shows in
        // sshd's log, which the readiness check prints.
        let _ = std::fs::create_dir_all("/run/sshd");
        let dir = tempfile::Builder::new()
            .prefix("sotp-sshd-")
            .tempdir()
            .expect("temporary directory for sshd");
        let d = dir.path();

        for (kind, name) in [
            ("ed25519", "host_ed25519"),
            ("ed25519", "other_host_ed25519"),
            ("ed25519", "id_ed25519"),
            ("rsa", "id_rsa"),
            ("ecdsa", "id_ecdsa"),
        ] {
            keygen(d, kind, name);
        }
        let mut authorized = String::new();
        for name in ["id_ed25519", "id_rsa", "id_ecdsa"] {
            authorized.push_str(&read(&d.join(format!("{name}.pub"))));
        }
        std::fs::write(d.join("authorized_keys"), authorized).unwrap();

        let device_json = d.join("device.json");
        std::fs::write(&device_json, device_json_text(device)).unwrap();
        let record = d.join("record.jsonl");
        std::fs::write(&record, "").unwrap();
        let log = d.join("sshd.log");
        let config = d.join("sshd_config");
        if password_login.is_some() {
            use std::os::unix::fs::PermissionsExt;
            let open = |path: &Path, mode: u32| {
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap()
            };
            open(d, 0o755);
            open(&record, 0o666);
        }

        // The port is free when picked, but another process may take it before sshd
        // binds: then sshd exits with "Cannot bind any address" and another port is tried.
        let mut attempt = 0;
        let (port, child) = loop {
            attempt += 1;
            let port = free_port();
            std::fs::write(
                &config,
                config_text(
                    d,
                    port,
                    &record,
                    &device_json,
                    device.legacy_only,
                    password_login.is_some(),
                ),
            )
            .unwrap();
            let mut child = Command::new(SSHD)
                .arg("-D")
                .arg("-e")
                .arg("-f")
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&log).unwrap())
                .spawn()
                .unwrap_or_else(|e| panic!("spawn {SSHD}: {e}"));
            match wait_ready(&mut child, port, &log) {
                Ok(()) => break (port, child),
                Err(text) if attempt < 3 && text.contains("Cannot bind any address") => continue,
                Err(text) => panic!(
                    "sshd did not become ready on 127.0.0.1:{port}; its log ({}):\n{text}",
                    log.display()
                ),
            }
        };

        SshPeer {
            port,
            host_fingerprint: fingerprint(&d.join("host_ed25519.pub")),
            user: password_login
                .as_ref()
                .map_or_else(current_user, |(user, _)| user.clone()),
            password: password_login.map(|(_, password)| password),
            client_key_ed25519: read(&d.join("id_ed25519")),
            client_key_rsa: read(&d.join("id_rsa")),
            client_key_ecdsa: read(&d.join("id_ecdsa")),
            other_host_fingerprint: fingerprint(&d.join("other_host_ed25519.pub")),
            host_public_key: public_key(&d.join("host_ed25519.pub")),
            other_host_public_key: public_key(&d.join("other_host_ed25519.pub")),
            child,
            record,
            log,
            _dir: dir,
        }
    }

    /// Everything the device received so far, in order: `("exec", command bytes)` per exec
    /// request, `("shell", chunk)` per chunk read in an interactive session,
    /// `("exec_stdin", chunk)` for data sent on an exec channel. Parallel sessions
    /// interleave (each line of the record is whole).
    pub(crate) fn received(&self) -> Vec<(String, Vec<u8>)> {
        let text = std::fs::read_to_string(&self.record).unwrap_or_default();
        let mut lines: Vec<&str> = text.split('\n').collect();
        // After the last newline: nothing, or a line still being written.
        lines.pop();
        lines
            .into_iter()
            .filter(|l| !l.trim().is_empty())
            .map(|line| {
                let v: Value = serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("record line {line:?}: {e}"));
                let kind = v["kind"].as_str().expect("record line without kind");
                let b64 = v["bytes_b64"]
                    .as_str()
                    .expect("record line without bytes_b64");
                let bytes = STANDARD
                    .decode(b64)
                    .unwrap_or_else(|e| panic!("record line {line:?}: {e}"));
                (kind.to_string(), bytes)
            })
            .collect()
    }

    /// Polls [`received`](Self::received) until `done` holds (every 50 ms, up to
    /// `timeout`); returns what was received, or panics with it and sshd's log.
    pub(crate) fn received_until(
        &self,
        timeout: Duration,
        done: impl Fn(&[(String, Vec<u8>)]) -> bool,
    ) -> Vec<(String, Vec<u8>)> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.received();
            if done(&got) {
                return got;
            }
            if Instant::now() > deadline {
                let shown: Vec<(String, String)> = got
                    .iter()
                    .map(|(k, b)| (k.clone(), String::from_utf8_lossy(b).into_owned()))
                    .collect();
                panic!(
                    "the fake device did not receive what was expected within {timeout:?}; \
                     received: {shown:?}\nsshd's log:\n{}",
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// sshd's log (`LogLevel VERBOSE`: connections, accepted and refused keys).
    pub(crate) fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for SshPeer {
    fn drop(&mut self) {
        // Each connection is a child of the listener (a session of its own, running the
        // fake CLI): list them before the listener dies and they are re-parented.
        let tree = descendants(self.child.id());
        self.child.kill().ok();
        self.child.wait().ok();
        if !tree.is_empty() {
            Command::new("kill")
                .arg("-KILL")
                .args(tree.iter().map(u32::to_string))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .ok();
        }
    }
}

/// `type base64` of an OpenSSH public key file (its comment dropped).
fn public_key(path: &Path) -> String {
    read(path)
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// `ssh-keygen -q -t KIND -N "" -f DIR/NAME` (RSA: 2048 bits).
fn keygen(dir: &Path, kind: &str, name: &str) {
    let mut cmd = Command::new("ssh-keygen");
    cmd.args(["-q", "-t", kind]);
    if kind == "rsa" {
        cmd.args(["-b", "2048"]);
    }
    let out = cmd
        .args(["-N", "", "-C", name, "-f"])
        .arg(dir.join(name))
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "ssh-keygen: {e} (scripts/setup-peers.sh installs openssh-server and its client)"
            )
        });
    assert!(
        out.status.success(),
        "ssh-keygen -t {kind}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Field 2 of `ssh-keygen -lf KEY.pub`: `SHA256:...`.
fn fingerprint(public_key: &Path) -> String {
    let out = Command::new("ssh-keygen")
        .args(["-E", "sha256", "-lf"])
        .arg(public_key)
        .output()
        .expect("ssh-keygen -lf");
    let text = String::from_utf8_lossy(&out.stdout);
    let fp = text.split_whitespace().nth(1).unwrap_or_default();
    assert!(
        out.status.success() && fp.starts_with("SHA256:"),
        "ssh-keygen -lf {}: {text}{}",
        public_key.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    fp.to_string()
}

fn current_user() -> String {
    match std::env::var("USER") {
        Ok(u) if !u.trim().is_empty() => u,
        _ => {
            let out = Command::new("id").arg("-un").output().expect("id -un");
            let user = String::from_utf8_lossy(&out.stdout).trim().to_string();
            assert!(!user.is_empty(), "id -un printed nothing");
            user
        }
    }
}

fn device_json_text(device: &FakeDevice) -> String {
    let mut outputs = serde_json::Map::new();
    for (command, file) in &device.outputs {
        let abs = std::fs::canonicalize(file).unwrap_or_else(|e| {
            panic!(
                "output of {command:?} for the fake device: {}: {e}",
                file.display()
            )
        });
        outputs.insert(
            command.clone(),
            Value::from(abs.to_string_lossy().into_owned()),
        );
    }
    serde_json::json!({
        "hostname": device.name,
        "prompt": device.prompt,
        "outputs": outputs,
        "hang": device.hang,
        "paging": device.paging,
        "more": device.more,
        "paging_off": device.paging_off,
    })
    .to_string()
}

/// One argument for `sh -c` (the forced command goes through the account's shell).
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The loopback addresses sshd listens on: 127.0.0.1 to 127.0.0.N, so that several
/// inventory devices (whose addresses are unique) can be this one peer.
pub(crate) const LOOPBACK_ADDRESSES: u8 = 16;

fn config_text(
    dir: &Path,
    port: u16,
    record: &Path,
    device_json: &Path,
    legacy_only: bool,
    password_login: bool,
) -> String {
    let d = dir.display();
    let listen: String = (1..=LOOPBACK_ADDRESSES)
        .map(|n| format!("ListenAddress 127.0.0.{n}\n"))
        .collect();
    let mut text = format!(
        "Port {port}
{listen}HostKey {d}/host_ed25519
PidFile {d}/sshd.pid
AuthorizedKeysFile {d}/authorized_keys
StrictModes no
PermitRootLogin yes
PubkeyAuthentication yes
PasswordAuthentication {}
KbdInteractiveAuthentication no
UsePAM no
PrintMotd no
PrintLastLog no
X11Forwarding no
AllowAgentForwarding no
AllowTcpForwarding no
MaxSessions 200
SetEnv SHLVL=1
MaxStartups 300:30:400
LogLevel VERBOSE
ForceCommand {PYTHON} {} {} {}
",
        if password_login { "yes" } else { "no" },
        shell_quote(FAKE_CLI),
        shell_quote(&record.to_string_lossy()),
        shell_quote(&device_json.to_string_lossy()),
    );
    if legacy_only {
        text.push_str(
            "KexAlgorithms diffie-hellman-group14-sha1\nCiphers aes128-cbc\nMACs hmac-sha1\n",
        );
    }
    if knows_per_source_penalties(dir, &text) {
        text.push_str("PerSourcePenalties no\n");
    }
    text
}

/// Whether this sshd accepts `PerSourcePenalties` (9.8 and later; 9.2 rejects the
/// option as a bad one). Asked once per test run with `sshd -t` on a real configuration.
fn knows_per_source_penalties(dir: &Path, base_config: &str) -> bool {
    static KNOWS: OnceLock<bool> = OnceLock::new();
    *KNOWS.get_or_init(|| {
        let probe = dir.join("sshd_config.probe");
        std::fs::write(&probe, format!("{base_config}PerSourcePenalties no\n")).unwrap();
        let out = Command::new(SSHD)
            .arg("-t")
            .arg("-f")
            .arg(&probe)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("{SSHD} -t: {e}"));
        std::fs::remove_file(&probe).ok();
        // Any other failure shows again when sshd starts, with its log.
        out.status.success() || !String::from_utf8_lossy(&out.stderr).contains("PerSourcePenalties")
    })
}

/// Polls (10 s, every 50 ms) until sshd answers a TCP connection with its `SSH-2.0-`
/// banner and its log says it listens on `port`; Err(log) once it exits or at the deadline.
fn wait_ready(child: &mut Child, port: u16, log: &Path) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let listening = format!("Server listening on 127.0.0.1 port {port}.");
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            return Err(format!("{text}\n(sshd exited: {status})"));
        }
        if banner(port)
            && std::fs::read_to_string(log)
                .unwrap_or_default()
                .contains(&listening)
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            child.kill().ok();
            child.wait().ok();
            let text = std::fs::read_to_string(log).unwrap_or_default();
            return Err(format!("{text}\n(no SSH banner within 10 s)"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether 127.0.0.1:`port` accepts a connection and sends an `SSH-2.0-` banner.
fn banner(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
        return false;
    };
    stream.set_read_timeout(Some(Duration::from_secs(1))).ok();
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    while got.len() < 8 {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    got.starts_with(b"SSH-2.0-")
}

/// Every process below `root` (from /proc: `pid (comm) state ppid ...`).
fn descendants(root: u32) -> Vec<u32> {
    let mut parent_of = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            // The command name may hold spaces and parentheses: fields follow the last ')'.
            let Some(ppid) = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            parent_of.push((pid, ppid));
        }
    }
    let mut out = Vec::new();
    let mut todo = vec![root];
    while let Some(p) = todo.pop() {
        for &(child, parent) in &parent_of {
            if parent == p && !out.contains(&child) {
                out.push(child);
                todo.push(child);
            }
        }
    }
    out
}
