//! One SNMP session to one device: secrets resolved, v3 engine discovery, and every
//! request bounded by a timeout with retries and back-off.
//!
//! `snmp2`'s async session has no timeout of its own and rejects a late reply to an
//! abandoned request with a request-id mismatch, so after a timeout the socket is
//! dropped and the next attempt opens a fresh one (and, for v3, rediscovers the engine).

use std::net::SocketAddr;
use std::time::Duration;

use snmp2::AsyncSession;
use sotp_schemas::{AuthProtocol, PrivProtocol, SnmpTarget, SnmpVersion};
use tokio::time::Instant;

use super::value::{Oid, Value, VarBind};

/// Why a request or a poll failed.
#[derive(Debug, thiserror::Error)]
pub enum SnmpError {
    /// A secret cannot be used (still sealed: no or the wrong master key).
    #[error("{field}: {source}")]
    Secret {
        /// Which setting.
        field: &'static str,
        /// Why.
        source: sotp_schemas::SecretError,
    },
    /// No reply within the timeout, after every retry.
    #[error("no SNMP reply from {addr} after {attempts} attempts of {timeout_ms} ms each")]
    Timeout {
        /// The agent.
        addr: SocketAddr,
        /// Attempts made.
        attempts: u32,
        /// Timeout per attempt.
        timeout_ms: u128,
    },
    /// SNMPv3 authentication or privacy failed.
    #[error(
        "SNMPv3 authentication failed for user `{user}` at {addr}: {detail}; check the user, auth_protocol/auth_key and priv_protocol/priv_key"
    )]
    Auth {
        /// The agent.
        addr: SocketAddr,
        /// The USM user.
        user: String,
        /// What `snmp2` reported.
        detail: String,
    },
    /// The agent answered with a non-zero error-status.
    #[error("agent {addr} answered error-status {status} ({name}) at varbind {index}")]
    Agent {
        /// The agent.
        addr: SocketAddr,
        /// error-status.
        status: u32,
        /// Its name.
        name: &'static str,
        /// error-index.
        index: u32,
    },
    /// The reply could not be decoded (truncated PDU, wrong BER types).
    #[error("malformed SNMP reply from {addr}: {detail}")]
    Malformed {
        /// The agent.
        addr: SocketAddr,
        /// What went wrong.
        detail: String,
    },
    /// A walk got an OID that does not increase: the agent loops.
    #[error("agent {addr} returned non-increasing OID {got} after {previous} (OID loop)")]
    OidLoop {
        /// The agent.
        addr: SocketAddr,
        /// The previous OID.
        previous: Oid,
        /// The OID that did not increase.
        got: Oid,
    },
    /// A walk would exceed the row limit.
    #[error("walk of {column} at {addr} exceeded {limit} rows")]
    TooManyRows {
        /// The agent.
        addr: SocketAddr,
        /// The column walked.
        column: Oid,
        /// The limit.
        limit: usize,
    },
    /// The poll's deadline (the polling interval, or `[snmp] poll_timeout`) came before
    /// the reply.
    #[error("poll of {addr} stopped at its deadline (the polling interval or [snmp] poll_timeout)")]
    Deadline {
        /// The agent.
        addr: SocketAddr,
    },
    /// Socket error.
    #[error("socket error talking to {addr}: {detail}")]
    Io {
        /// The agent.
        addr: SocketAddr,
        /// The error.
        detail: String,
    },
}

impl SnmpError {
    /// Short machine-readable kind, for the `error` label of `poll.ok`.
    pub fn kind(&self) -> &'static str {
        match self {
            SnmpError::Secret { .. } => "secret",
            SnmpError::Timeout { .. } => "timeout",
            SnmpError::Auth { .. } => "auth",
            SnmpError::Agent { .. } => "agent_error",
            SnmpError::Malformed { .. } => "malformed",
            SnmpError::OidLoop { .. } => "oid_loop",
            SnmpError::TooManyRows { .. } => "too_many_rows",
            SnmpError::Io { .. } => "io",
            SnmpError::Deadline { .. } => "deadline",
        }
    }
}

/// Name of an SNMP error-status.
pub(super) fn error_status_name(status: u32) -> &'static str {
    match status {
        1 => "tooBig",
        2 => "noSuchName",
        3 => "badValue",
        4 => "readOnly",
        5 => "genErr",
        6 => "noAccess",
        13 => "resourceUnavailable",
        16 => "authorizationError",
        _ => "other",
    }
}

/// A request.
#[derive(Clone, Copy, Debug)]
pub enum Request<'a> {
    /// GET of several OIDs.
    Get(&'a [Oid]),
    /// GETNEXT of one OID.
    GetNext(&'a Oid),
    /// GETBULK of several OIDs with no non-repeaters.
    GetBulk(&'a [Oid], u32),
}

impl Request<'_> {
    /// The PDU type, for logs.
    fn kind(&self) -> &'static str {
        match self {
            Request::Get(_) => "get",
            Request::GetNext(_) => "getnext",
            Request::GetBulk(..) => "getbulk",
        }
    }
}

/// A decoded reply.
#[derive(Clone, Debug, Default)]
pub struct Reply {
    /// error-status (0 = noError).
    pub error_status: u32,
    /// error-index.
    pub error_index: u32,
    /// The varbinds, owned.
    pub varbinds: Vec<VarBind>,
    /// How long the attempt that got this reply waited for it (earlier attempts that
    /// timed out not included).
    pub took: Duration,
}

/// Timeouts and retries of one session.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// Wait per attempt.
    pub timeout: Duration,
    /// Attempts after the first.
    pub retries: u32,
}

/// A session to one agent.
pub struct Session {
    target: SnmpTarget,
    addr: SocketAddr,
    timing: Timing,
    inner: Option<Box<AsyncSession>>,
    next_req_id: i32,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("addr", &self.addr)
            .field("version", &self.target.version)
            .finish_non_exhaustive()
    }
}

fn auth_protocol(p: AuthProtocol) -> snmp2::v3::AuthProtocol {
    use snmp2::v3::AuthProtocol as A;
    match p {
        AuthProtocol::Md5 => A::Md5,
        AuthProtocol::Sha => A::Sha1,
        AuthProtocol::Sha224 => A::Sha224,
        AuthProtocol::Sha256 => A::Sha256,
        AuthProtocol::Sha384 => A::Sha384,
        AuthProtocol::Sha512 => A::Sha512,
    }
}

fn cipher(p: PrivProtocol) -> snmp2::v3::Cipher {
    use snmp2::v3::Cipher as C;
    match p {
        PrivProtocol::Des => C::Des,
        PrivProtocol::Aes => C::Aes128,
        PrivProtocol::Aes192 => C::Aes192,
        PrivProtocol::Aes256 => C::Aes256,
    }
}

impl Session {
    /// A session to `addr`; nothing is sent until the first request.
    pub fn new(target: SnmpTarget, addr: SocketAddr, timing: Timing) -> Self {
        Self {
            target,
            addr,
            timing,
            inner: None,
            next_req_id: rand::random::<i32>() & 0x3fff_ffff,
        }
    }

    /// The agent's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// True for SNMPv1 (no GETBULK, no Counter64).
    pub fn is_v1(&self) -> bool {
        self.target.version == SnmpVersion::V1
    }

    fn user(&self) -> String {
        self.target
            .usm
            .as_ref()
            .map(|u| u.user.clone())
            .unwrap_or_default()
    }

    fn map_err(&self, e: snmp2::Error) -> SnmpError {
        let addr = self.addr;
        match e {
            snmp2::Error::AuthFailure(k) => SnmpError::Auth {
                addr,
                user: self.user(),
                detail: k.to_string(),
            },
            snmp2::Error::Crypto(d) => SnmpError::Auth {
                addr,
                user: self.user(),
                detail: format!("cryptographic error: {d}"),
            },
            snmp2::Error::Send | snmp2::Error::Receive => SnmpError::Io {
                addr,
                detail: e.to_string(),
            },
            other => SnmpError::Malformed {
                addr,
                detail: other.to_string(),
            },
        }
    }

    async fn open(&mut self) -> Result<(), SnmpError> {
        let req_id = self.next_req_id;
        self.next_req_id = self.next_req_id.wrapping_add(1_000_000) & 0x3fff_ffff;
        let io = |e: std::io::Error| SnmpError::Io {
            addr: self.addr,
            detail: e.to_string(),
        };
        let session = match self.target.version {
            SnmpVersion::V1 | SnmpVersion::V2c => {
                let community =
                    self.target
                        .community
                        .expose()
                        .map_err(|source| SnmpError::Secret {
                            field: "snmp.community",
                            source,
                        })?;
                if self.target.version == SnmpVersion::V1 {
                    AsyncSession::new_v1(self.addr, community.as_bytes(), req_id).await
                } else {
                    AsyncSession::new_v2c(self.addr, community.as_bytes(), req_id).await
                }
                .map_err(io)?
            }
            SnmpVersion::V3 => {
                let usm = self
                    .target
                    .usm
                    .clone()
                    .unwrap_or_else(|| sotp_schemas::UsmSettings {
                        user: String::new(),
                        auth: None,
                        privacy: None,
                        context: String::new(),
                    });
                let (proto, auth_key) = match &usm.auth {
                    Some((p, k)) => (
                        Some(*p),
                        k.expose()
                            .map_err(|source| SnmpError::Secret {
                                field: "snmp.auth_key",
                                source,
                            })?
                            .to_string(),
                    ),
                    None => (None, String::new()),
                };
                let mut sec = snmp2::v3::Security::new(usm.user.as_bytes(), auth_key.as_bytes())
                    .with_context_name(&usm.context);
                sec = match (proto, &usm.privacy) {
                    (None, _) => sec.with_auth(snmp2::v3::Auth::NoAuthNoPriv),
                    (Some(p), None) => sec
                        .with_auth_protocol(auth_protocol(p))
                        .with_auth(snmp2::v3::Auth::AuthNoPriv),
                    (Some(p), Some((c, key))) => {
                        let key = key
                            .expose()
                            .map_err(|source| SnmpError::Secret {
                                field: "snmp.priv_key",
                                source,
                            })?
                            .to_string();
                        let c = cipher(*c);
                        let a = auth_protocol(p);
                        let mut s =
                            sec.with_auth_protocol(a)
                                .with_auth(snmp2::v3::Auth::AuthPriv {
                                    cipher: c,
                                    privacy_password: key.into_bytes(),
                                });
                        if c.priv_key_needs_extension(&a) {
                            s = s.with_key_extension_method(snmp2::v3::KeyExtension::Reeder);
                        }
                        s
                    }
                };
                let mut s = AsyncSession::new_v3(self.addr, req_id, sec)
                    .await
                    .map_err(io)?;
                match tokio::time::timeout(self.timing.timeout, s.init()).await {
                    Err(_) => {
                        return Err(SnmpError::Timeout {
                            addr: self.addr,
                            attempts: 1,
                            timeout_ms: self.timing.timeout.as_millis(),
                        });
                    }
                    Ok(Err(e)) => return Err(self.map_err(e)),
                    Ok(Ok(())) => {}
                }
                s
            }
        };
        self.inner = Some(Box::new(session));
        Ok(())
    }

    /// Attempts per request: the first and the configured retries.
    pub fn attempts(&self) -> u32 {
        self.timing.retries + 1
    }

    /// Wait per attempt.
    pub fn timeout(&self) -> Duration {
        self.timing.timeout
    }

    /// The pause before attempt number `attempt` (1 for the first retry): 50 ms, 100 ms,
    /// 200 ms ... never more than one timeout nor past `deadline`. Counted as a retry.
    pub async fn back_off(&self, attempt: u32, deadline: Option<Instant>) {
        let pause = Duration::from_millis(50u64 << (attempt.max(1) - 1).min(6));
        let mut until = Instant::now() + pause.min(self.timing.timeout);
        if let Some(d) = deadline {
            until = until.min(d);
        }
        tokio::time::sleep_until(until).await;
        metrics::counter!("sotp_snmp_retries_total").increment(1);
    }

    /// Sends `req`, retrying on timeouts with back-off; returns the decoded reply.
    pub async fn request(&mut self, req: Request<'_>) -> Result<Reply, SnmpError> {
        self.request_until(req, self.attempts(), None).await
    }

    /// Sends `req` with at most `attempts` attempts (at least one), none of them waiting
    /// past `deadline`: an attempt cut short by it ends in [`SnmpError::Deadline`].
    pub async fn request_until(
        &mut self,
        req: Request<'_>,
        attempts: u32,
        deadline: Option<Instant>,
    ) -> Result<Reply, SnmpError> {
        let oids: Vec<snmp2::Oid<'static>> = match req {
            Request::Get(o) | Request::GetBulk(o, _) => o.iter(),
            Request::GetNext(o) => std::slice::from_ref(o).iter(),
        }
        .map(|o| {
            o.to_snmp().map_err(|detail| SnmpError::Malformed {
                addr: self.addr,
                detail,
            })
        })
        .collect::<Result<_, _>>()?;
        let refs: Vec<&snmp2::Oid<'_>> = oids.iter().collect();
        let attempts = attempts.max(1);
        let addr = self.addr;
        let remaining = move || deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let mut last = None;
        for attempt in 0..attempts {
            if attempt > 0 {
                self.back_off(attempt, deadline).await;
            }
            if remaining().is_some_and(|r| r.is_zero()) {
                return Err(SnmpError::Deadline { addr });
            }
            if self.inner.is_none() {
                match self.open().await {
                    Ok(()) => {}
                    Err(e @ SnmpError::Timeout { .. }) | Err(e @ SnmpError::Io { .. }) => {
                        last = Some(e);
                        continue;
                    }
                    Err(e) => return Err(e),
                }
            }
            let timeout = remaining().map_or(self.timing.timeout, |r| r.min(self.timing.timeout));
            let cut_by_deadline = timeout < self.timing.timeout;
            let s = self.inner.as_mut().expect("opened above");
            let fut = async {
                let pdu = match req {
                    Request::Get(_) => s.get_many(&refs).await,
                    Request::GetNext(_) => s.getnext(refs[0]).await,
                    Request::GetBulk(_, reps) => s.getbulk(&refs, 0, reps).await,
                }?;
                let varbinds = pdu
                    .varbinds
                    .clone()
                    .filter_map(|(oid, v)| {
                        Some(VarBind {
                            oid: Oid::from_snmp(&oid)?,
                            value: Value::from_snmp(&v),
                        })
                    })
                    .collect();
                Ok::<_, snmp2::Error>(Reply {
                    error_status: pdu.error_status,
                    error_index: pdu.error_index,
                    varbinds,
                    took: Duration::ZERO,
                })
            };
            let started = tokio::time::Instant::now();
            let outcome = tokio::time::timeout(timeout, fut).await;
            tracing::trace!(
                addr = %self.addr,
                request = req.kind(),
                oids = refs.len(),
                attempt,
                took_ms = started.elapsed().as_millis() as u64,
                varbinds = outcome.as_ref().map_or(0, |r| r.as_ref().map_or(0, |r| r.varbinds.len())),
                timed_out = outcome.is_err(),
                "SNMP request"
            );
            match outcome {
                Ok(Ok(reply)) => {
                    return Ok(Reply {
                        took: started.elapsed(),
                        ..reply
                    });
                }
                Err(_) if cut_by_deadline => {
                    self.inner = None;
                    return Err(SnmpError::Deadline { addr });
                }
                Err(_) => {
                    // A late reply would confuse the next request: start afresh.
                    self.inner = None;
                    last = Some(SnmpError::Timeout {
                        addr: self.addr,
                        attempts,
                        timeout_ms: timeout.as_millis(),
                    });
                }
                Ok(Err(snmp2::Error::RequestIdMismatch | snmp2::Error::AuthUpdated)) => {
                    self.inner = None;
                    last = Some(SnmpError::Malformed {
                        addr: self.addr,
                        detail: "reply to another request".into(),
                    });
                }
                Ok(Err(e)) => {
                    let e = self.map_err(e);
                    if matches!(e, SnmpError::Io { .. }) {
                        self.inner = None;
                        last = Some(e);
                    } else {
                        return Err(e);
                    }
                }
            }
        }
        Err(match last {
            Some(SnmpError::Timeout { .. }) | None => SnmpError::Timeout {
                addr: self.addr,
                attempts,
                timeout_ms: self.timing.timeout.as_millis(),
            },
            Some(e) => e,
        })
    }
}
