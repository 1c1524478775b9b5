//! One SSH session to a device: connect, check the host key, authenticate, run one
//! allowed command on an exec channel or in an interactive shell, disconnect.

use std::borrow::Cow;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use russh::client::{self, Handle};
use russh::keys::{HashAlg, PrivateKeyWithHashAlg, PublicKeyOrCertificate, decode_secret_key};
use russh::{ChannelMsg, Disconnect, Preferred, cipher, kex, mac};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout, timeout_at};

use crate::{AllowedCommand, Platform};

/// How to log in. The secrets never appear in `Debug` output.
#[derive(Clone)]
pub enum SshAuth {
    /// A private key (OpenSSH, PKCS#1 or PKCS#8 PEM text: ed25519, RSA or ECDSA), with
    /// its passphrase if it has one.
    Key {
        /// The key's PEM text.
        pem: String,
        /// Its passphrase.
        passphrase: Option<String>,
    },
    /// A password, where the device allows it.
    Password(String),
}

impl fmt::Debug for SshAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SshAuth::Key { .. } => f.write_str("Key(<redacted>)"),
            SshAuth::Password(_) => f.write_str("Password(<redacted>)"),
        }
    }
}

/// Which host key the device must present.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostKeyPolicy {
    /// Exactly this key: its SHA-256 fingerprint as `ssh-keygen -l` prints it
    /// (`SHA256:...`).
    Pinned(String),
    /// Any key, on the first connection only: the caller stores the fingerprint seen
    /// ([`crate::CommandOutput::host_key`]) and pins it from then on.
    TrustOnFirstUse,
    /// The key an OpenSSH `known_hosts` file lists for the device's address (`[addr]:port`
    /// when the port is not 22; hashed entries too). A listed key of the same type that
    /// differs is a changed key; a device not listed is refused, or, with
    /// `trust_on_first_use`, accepted as a first use
    /// ([`crate::CommandOutput::first_use`]).
    KnownHosts {
        /// The file.
        path: std::path::PathBuf,
        /// Accept a device the file does not list.
        trust_on_first_use: bool,
    },
}

/// A device to run a command on.
#[derive(Clone, Debug)]
pub struct SshTarget {
    /// The device's id: the per-device session limit counts by it.
    pub device: String,
    /// Management address.
    pub address: IpAddr,
    /// TCP port.
    pub port: u16,
    /// Login user.
    pub user: String,
    /// How to log in.
    pub auth: SshAuth,
    /// The host key it must present.
    pub host_key: HostKeyPolicy,
    /// Its platform.
    pub platform: &'static Platform,
    /// Also offer the SHA-1 key exchanges, CBC ciphers and SHA-1 MACs old devices need.
    pub legacy_algorithms: bool,
}

/// Why a command could not run. Every variant names the device's side of the problem.
#[derive(Debug, thiserror::Error)]
pub enum SshError {
    /// TCP connection failed.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// The address.
        addr: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
    /// A step took longer than its timeout.
    #[error("{step} timed out after {after:?}")]
    Timeout {
        /// `connection`, `handshake`, `authentication`, `command` or `idle`.
        step: &'static str,
        /// The timeout.
        after: Duration,
    },
    /// The device presented another host key than the pinned one: possibly a
    /// man-in-the-middle, or a replaced device. Nothing was sent.
    #[error(
        "host key changed: the device presented {actual} but {expected}; nothing was sent. If the device was replaced, update its ssh.host_key or its known_hosts entry"
    )]
    HostKeyChanged {
        /// What was expected: `<fingerprint> is pinned`, or `line N of FILE lists
        /// another key`.
        expected: String,
        /// The fingerprint presented.
        actual: String,
    },
    /// No key is pinned for the device and the known_hosts file does not list it.
    #[error(
        "the host key of {host} is not in {path} (and trust on first use is off): add it there, or pin it as the device's ssh.host_key"
    )]
    HostKeyUnknown {
        /// `addr` or `[addr]:port`, as the file would list it.
        host: String,
        /// The known_hosts file.
        path: String,
    },
    /// The device refused the credentials.
    #[error("authentication as {user} failed (the device accepts: {methods})")]
    Auth {
        /// The user.
        user: String,
        /// The methods the device still offers.
        methods: String,
    },
    /// The stored private key cannot be read.
    #[error("the private key cannot be read: {0}")]
    Key(#[from] russh::keys::Error),
    /// The SSH protocol failed (no common algorithm, connection lost, channel refused).
    #[error("ssh: {0}")]
    Protocol(#[from] russh::Error),
    /// The device's output exceeded the limit.
    #[error("the output exceeded {limit} bytes")]
    OutputTooLarge {
        /// The limit.
        limit: usize,
    },
    /// Too many sessions are open (in total or to this device) for longer than the
    /// queue timeout.
    #[error("too many SSH sessions are open ({scope}); try again later")]
    Busy {
        /// `in total` or `to this device`.
        scope: &'static str,
    },
}

/// What the client checks while connecting.
pub(crate) struct Handler {
    policy: HostKeyPolicy,
    /// The device's address and port (for a known_hosts lookup).
    addr: SocketAddr,
    /// The fingerprint the device presented, and whether it was accepted as a first use.
    seen: Arc<std::sync::Mutex<Option<(String, bool)>>>,
}

impl client::Handler for Handler {
    type Error = SshError;

    async fn check_server_key(&mut self, key: &PublicKeyOrCertificate) -> Result<bool, SshError> {
        let actual = key.public_key().fingerprint(HashAlg::Sha256).to_string();
        let first_use = match &self.policy {
            HostKeyPolicy::TrustOnFirstUse => true,
            HostKeyPolicy::Pinned(expected) if expected.trim() == actual => false,
            HostKeyPolicy::Pinned(expected) => {
                return Err(SshError::HostKeyChanged {
                    expected: format!("{} is pinned", expected.trim()),
                    actual,
                });
            }
            HostKeyPolicy::KnownHosts {
                path,
                trust_on_first_use,
            } => {
                let (ip, port) = (self.addr.ip().to_string(), self.addr.port());
                // The file is read on a blocking thread, not on the runtime's.
                let (host, public, file) = (ip.clone(), key.public_key().clone(), path.clone());
                let checked = tokio::task::spawn_blocking(move || {
                    russh::keys::check_known_hosts_path(&host, port, &public, &file)
                })
                .await
                .map_err(|e| SshError::Key(russh::keys::Error::IO(std::io::Error::other(e))))?;
                match checked {
                    Ok(true) => false,
                    Ok(false) if *trust_on_first_use => true,
                    Ok(false) => {
                        return Err(SshError::HostKeyUnknown {
                            host: if port == 22 {
                                ip
                            } else {
                                format!("[{ip}]:{port}")
                            },
                            path: path.display().to_string(),
                        });
                    }
                    Err(russh::keys::Error::KeyChanged { line }) => {
                        return Err(SshError::HostKeyChanged {
                            expected: format!(
                                "line {line} of {} lists another key",
                                path.display()
                            ),
                            actual,
                        });
                    }
                    Err(e) => return Err(SshError::Key(e)),
                }
            }
        };
        if let Ok(mut seen) = self.seen.lock() {
            *seen = Some((actual, first_use));
        }
        Ok(true)
    }
}

/// Timeouts of one session.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Timeouts {
    pub(crate) connect: Duration,
    pub(crate) command: Duration,
    pub(crate) idle: Duration,
}

fn config(legacy: bool, idle: Duration) -> Arc<client::Config> {
    let mut preferred = Preferred::default();
    if legacy {
        // Appended, so that the defaults (with the ext-info and strict-kex markers) stay
        // first; ssh-rsa host keys are already in the default list.
        let mut kexes = preferred.kex.to_vec();
        kexes.extend([kex::DH_G14_SHA1, kex::DH_GEX_SHA1, kex::DH_G1_SHA1]);
        preferred.kex = Cow::Owned(kexes);
        let mut ciphers = preferred.cipher.to_vec();
        ciphers.extend([cipher::AES_128_CBC, cipher::AES_256_CBC]);
        preferred.cipher = Cow::Owned(ciphers);
        let mut macs = preferred.mac.to_vec();
        macs.extend([mac::HMAC_SHA1_ETM, mac::HMAC_SHA1]);
        preferred.mac = Cow::Owned(macs);
    }
    Arc::new(client::Config {
        preferred,
        inactivity_timeout: Some(idle),
        ..Default::default()
    })
}

/// An open, authenticated session.
pub(crate) struct Session {
    handle: Handle<Handler>,
    /// The host key's fingerprint as presented.
    pub(crate) host_key: String,
    /// It was accepted as a first use (not pinned nor listed).
    pub(crate) first_use: bool,
}

pub(crate) async fn open(target: &SshTarget, t: Timeouts) -> Result<Session, SshError> {
    let addr = SocketAddr::new(target.address, target.port);
    let tcp = timeout(t.connect, TcpStream::connect(addr))
        .await
        .map_err(|_| SshError::Timeout {
            step: "connection",
            after: t.connect,
        })?
        .map_err(|source| SshError::Connect { addr, source })?;
    let _ = tcp.set_nodelay(true);
    let seen = Arc::new(std::sync::Mutex::new(None));
    let handler = Handler {
        policy: target.host_key.clone(),
        addr,
        seen: seen.clone(),
    };
    let cfg = config(target.legacy_algorithms, t.idle);
    let mut handle = timeout(t.connect, client::connect_stream(cfg, tcp, handler))
        .await
        .map_err(|_| SshError::Timeout {
            step: "handshake",
            after: t.connect,
        })??;
    timeout(
        t.connect,
        authenticate(&mut handle, &target.user, &target.auth),
    )
    .await
    .map_err(|_| SshError::Timeout {
        step: "authentication",
        after: t.connect,
    })??;
    let (host_key, first_use) = seen.lock().ok().and_then(|s| s.clone()).unwrap_or_default();
    Ok(Session {
        handle,
        host_key,
        first_use,
    })
}

async fn authenticate(h: &mut Handle<Handler>, user: &str, auth: &SshAuth) -> Result<(), SshError> {
    let result = match auth {
        SshAuth::Password(password) => h.authenticate_password(user, password).await?,
        SshAuth::Key { pem, passphrase } => {
            let key = Arc::new(decode_secret_key(pem, passphrase.as_deref())?);
            // RSA: the hash the device advertises (server-sig-algs), then SHA-1 `ssh-rsa`:
            // OpenSSH advertises its fixed list even where only ssh-rsa is accepted, and
            // devices older than OpenSSH 7.2 advertise nothing.
            let hashes: Vec<Option<HashAlg>> = if key.algorithm().is_rsa() {
                match h.best_supported_rsa_hash().await? {
                    Some(Some(best)) => vec![Some(best), None],
                    _ => vec![None],
                }
            } else {
                vec![None]
            };
            let mut last = None;
            for hash in hashes {
                let r = h
                    .authenticate_publickey(user, PrivateKeyWithHashAlg::new(key.clone(), hash))
                    .await?;
                if r.success() {
                    return Ok(());
                }
                last = Some(r);
            }
            last.unwrap_or(client::AuthResult::Failure {
                remaining_methods: russh::MethodSet::empty(),
                partial_success: false,
            })
        }
    };
    match result {
        client::AuthResult::Success => Ok(()),
        client::AuthResult::Failure {
            remaining_methods, ..
        } => {
            let methods: Vec<&str> = remaining_methods.iter().map(<&str>::from).collect();
            Err(SshError::Auth {
                user: user.to_owned(),
                methods: if methods.is_empty() {
                    "nothing".into()
                } else {
                    methods.join(", ")
                },
            })
        }
    }
}

/// Output of one command: bytes as received, and the exit status on an exec channel.
pub(crate) struct RawOutput {
    pub(crate) bytes: Vec<u8>,
    pub(crate) exit_status: Option<u32>,
}

impl Session {
    /// Runs the command, on an exec channel or in a shell as the platform says, within
    /// the command timeout.
    pub(crate) async fn run(
        &self,
        platform: &Platform,
        command: &AllowedCommand,
        t: Timeouts,
        max_output: usize,
    ) -> Result<RawOutput, SshError> {
        let deadline = Instant::now() + t.command;
        let run = async {
            if platform.exec {
                self.exec(command, max_output).await
            } else {
                self.shell(platform, command, max_output).await
            }
        };
        timeout_at(deadline, run)
            .await
            .map_err(|_| SshError::Timeout {
                step: "command",
                after: t.command,
            })?
    }

    async fn exec(&self, command: &AllowedCommand, max: usize) -> Result<RawOutput, SshError> {
        let mut ch = self.handle.channel_open_session().await?;
        ch.exec(true, command.as_str()).await?;
        let mut bytes = Vec::new();
        let mut exit_status = None;
        // Read to the channel's end: the exit status may come before the last data.
        while let Some(msg) = ch.wait().await {
            match msg {
                ChannelMsg::Data { data } | ChannelMsg::ExtendedData { data, .. } => {
                    if bytes.len() + data.len() > max {
                        return Err(SshError::OutputTooLarge { limit: max });
                    }
                    bytes.extend_from_slice(&data);
                }
                ChannelMsg::ExitStatus { exit_status: s } => exit_status = Some(s),
                ChannelMsg::Failure => return Err(SshError::Protocol(russh::Error::RequestDenied)),
                _ => {}
            }
        }
        Ok(RawOutput { bytes, exit_status })
    }

    /// An interactive shell: wait for the prompt, turn paging off, send the command,
    /// read to the next prompt (answering pagers with a space), and cut the echoed
    /// command line and the final prompt.
    async fn shell(
        &self,
        platform: &Platform,
        command: &AllowedCommand,
        max: usize,
    ) -> Result<RawOutput, SshError> {
        let mut ch = self.handle.channel_open_session().await?;
        ch.request_pty(true, "vt100", 511, 0, 0, 0, &[]).await?;
        ch.request_shell(true).await?;
        let mut buf: Vec<u8> = Vec::new();
        read_to_prompt(&mut ch, platform, &mut buf, max).await?;
        for line in &platform.setup {
            buf.clear();
            ch.data(format!("{line}\n").as_bytes()).await?;
            read_to_prompt(&mut ch, platform, &mut buf, max).await?;
        }
        buf.clear();
        ch.data(format!("{command}\n").as_bytes()).await?;
        read_to_prompt(&mut ch, platform, &mut buf, max).await?;
        let _ = ch.eof().await;
        Ok(RawOutput {
            bytes: strip_echo_and_prompt(&buf, command.as_str()),
            exit_status: None,
        })
    }

    pub(crate) async fn close(self) {
        let _ = self
            .handle
            .disconnect(Disconnect::ByApplication, "", "en")
            .await;
    }
}

/// Reads until the last line of `buf` is a prompt; answers a pager with a space (and
/// cuts the pager's text from the output).
async fn read_to_prompt(
    ch: &mut russh::Channel<client::Msg>,
    platform: &Platform,
    buf: &mut Vec<u8>,
    max: usize,
) -> Result<(), SshError> {
    loop {
        let last_line = last_line(buf);
        if platform.prompt.is_match(&last_line) {
            return Ok(());
        }
        if let Some(m) = platform.paging.find(&last_line) {
            // Cut the pager's prompt and the blanks before it; the device erases it with
            // backspaces after the key (removed by `strip_echo_and_prompt`).
            let line_start = buf.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
            let kept = last_line[..m.start()].trim_end().len();
            buf.truncate(line_start + kept);
            ch.data(&b" "[..]).await?;
        }
        match ch.wait().await {
            Some(ChannelMsg::Data { data }) | Some(ChannelMsg::ExtendedData { data, .. }) => {
                if buf.len() + data.len() > max {
                    return Err(SshError::OutputTooLarge { limit: max });
                }
                buf.extend_from_slice(&data);
            }
            Some(_) => {}
            None => return Ok(()),
        }
    }
}

/// The text after the last line feed. Carriage returns are kept, so that byte offsets in
/// it are offsets in the buffer; the prompt and pager patterns end in `\s*$`.
fn last_line(buf: &[u8]) -> String {
    let start = buf.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    String::from_utf8_lossy(&buf[start..]).into_owned()
}

/// Drops what a pager's erasure leaves: runs of backspaces, blanks, backspaces (IOS and VRP
/// overwrite their `--More--` so), and any other backspace.
fn erase_pager(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        if text[i] != 0x08 {
            out.push(text[i]);
            i += 1;
            continue;
        }
        let run = |from: usize, byte: u8| text[from..].iter().take_while(|&&b| b == byte).count();
        let back = run(i, 0x08);
        let blanks = run(i + back, b' ');
        let again = run(i + back + blanks, 0x08);
        i += if blanks > 0 && again > 0 {
            back + blanks + again
        } else {
            back
        };
    }
    out
}

/// The output between the echoed command line and the closing prompt, with `\r\n` as `\n`.
pub(crate) fn strip_echo_and_prompt(buf: &[u8], command: &str) -> Vec<u8> {
    let text: Vec<u8> = erase_pager(buf)
        .into_iter()
        .filter(|&b| b != b'\r')
        .collect();
    let mut lines: Vec<&[u8]> = text.split(|&b| b == b'\n').collect();
    if lines
        .first()
        .is_some_and(|l| String::from_utf8_lossy(l).trim_end().ends_with(command))
    {
        lines.remove(0);
    }
    lines.pop(); // the prompt
    let mut out = lines.join(&b'\n');
    if !out.is_empty() {
        out.push(b'\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shell_transcript_keeps_only_the_output() {
        let buf = b"show ip int br\r\nInterface  IP\r\nGi0/1      10.0.0.1\r\nr1#";
        assert_eq!(
            strip_echo_and_prompt(buf, "show ip int br"),
            b"Interface  IP\nGi0/1      10.0.0.1\n"
        );
    }

    #[test]
    fn a_pager_erased_with_backspaces_leaves_no_trace() {
        let more = b" --More-- ";
        let mut buf = b"show run\r\nline 1\r\n".to_vec();
        // As read_to_prompt leaves it: the pager cut, then the erasure and the next page.
        buf.extend(std::iter::repeat_n(0x08u8, more.len()));
        buf.extend(std::iter::repeat_n(b' ', more.len()));
        buf.extend(std::iter::repeat_n(0x08u8, more.len()));
        buf.extend(b"line 2\r\nr1#");
        assert_eq!(strip_echo_and_prompt(&buf, "show run"), b"line 1\nline 2\n");
    }

    #[test]
    fn secrets_are_not_in_debug_output() {
        let k = SshAuth::Key {
            pem: "-----BEGIN OPENSSH PRIVATE KEY-----secret".into(),
            passphrase: Some("pass-phrase-123".into()),
        };
        let p = SshAuth::Password("hunter2-pw".into());
        let text = format!("{k:?} {p:?}");
        assert!(
            !text.contains("secret") && !text.contains("pass-phrase") && !text.contains("hunter2")
        );
    }
}
