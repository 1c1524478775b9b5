//! The ICMP poller: one shared socket per address family, one pinger per poll.

use std::io;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use sotp_schemas::{Device, MetricName, MetricSample, UtcNanos};
use surge_ping::{Client, Config, ICMP, IcmpPacket, PingIdentifier, PingSequence, SurgeError};

use super::{EchoStats, IcmpConfig, names};
use crate::{PollResult, Poller};

/// The collector could not start.
#[derive(Debug, thiserror::Error)]
pub enum IcmpError {
    /// Neither socket kind may be opened by this process.
    #[error(
        "cannot open an ICMP socket for {family}: raw sockets need CAP_NET_RAW and unprivileged ICMP datagram sockets are not allowed for this group ({source}). Fix one of: allow datagram ICMP sockets with `sysctl -w net.ipv4.ping_group_range=\"0 2147483647\"`, or give the binary raw-socket rights with `setcap cap_net_raw+ep $(command -v sotp)` (or run as root)"
    )]
    Permission {
        /// `IPv4` or `IPv6`.
        family: &'static str,
        /// The system's error.
        source: io::Error,
    },
    /// Another socket error.
    #[error("cannot open an ICMP socket for {family}: {source}")]
    Socket {
        /// `IPv4` or `IPv6`.
        family: &'static str,
        /// The system's error.
        source: io::Error,
    },
}

/// Polls devices with ICMP echo.
pub struct IcmpPoller {
    config: IcmpConfig,
    v4: Client,
    v6: Result<Client, String>,
    payload: Vec<u8>,
    next_ident: AtomicU16,
    names: Names,
}

impl std::fmt::Debug for IcmpPoller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IcmpPoller")
            .field("config", &self.config)
            .field("v6", &self.v6.is_ok())
            .finish_non_exhaustive()
    }
}

struct Names {
    collector: Arc<str>,
    rtt: MetricName,
    rtt_min: MetricName,
    rtt_max: MetricName,
    jitter: MetricName,
    loss: MetricName,
    up: MetricName,
}

fn open(kind: ICMP) -> Result<Client, IcmpError> {
    let family = if kind == ICMP::V4 { "IPv4" } else { "IPv6" };
    // Datagram first: it needs no privilege where ping_group_range allows it; surge-ping
    // falls back to a raw socket when the datagram socket is refused.
    let config = Config::builder()
        .kind(kind)
        .sock_type_hint(socket2::Type::DGRAM)
        .build();
    Client::new(&config).map_err(|source| {
        if source.kind() == io::ErrorKind::PermissionDenied {
            IcmpError::Permission { family, source }
        } else {
            IcmpError::Socket { family, source }
        }
    })
}

impl IcmpPoller {
    /// Opens the sockets. Must run inside a Tokio runtime. IPv4 is required; when IPv6
    /// is not available, IPv6 devices fail their polls with the reason instead.
    pub fn new(config: IcmpConfig) -> Result<Self, IcmpError> {
        let v4 = open(ICMP::V4)?;
        let v6 = open(ICMP::V6).map_err(|e| {
            tracing::warn!(error = %e, "IPv6 ICMP unavailable; IPv6 devices will fail their polls");
            e.to_string()
        });
        let mut buffer = 0;
        for client in std::iter::once(&v4).chain(v6.as_ref().ok()) {
            match set_receive_buffer(client, config.socket_buffer_bytes) {
                Ok(got) => buffer = got,
                Err(e) => tracing::warn!(error = %e, "cannot size the ICMP receive buffer"),
            }
        }
        if buffer < config.socket_buffer_bytes {
            // The kernel caps SO_RCVBUF at net.core.rmem_max; replies beyond the buffer are
            // dropped by the kernel and would read as loss.
            tracing::warn!(
                requested = config.socket_buffer_bytes,
                granted = buffer,
                "ICMP receive buffer smaller than configured; raise net.core.rmem_max or lower icmp.concurrency"
            );
        }
        tracing::info!(socket = ?v4.get_socket().get_type(), receive_buffer = buffer, "ICMP socket open");
        let payload = (0..config.payload_bytes).map(|i| (i % 256) as u8).collect();
        Ok(Self {
            config,
            v4,
            v6,
            payload,
            next_ident: AtomicU16::new(rand::random()),
            names: Names {
                collector: Arc::from("icmp"),
                rtt: MetricName::new(names::RTT_MS),
                rtt_min: MetricName::new(names::RTT_MIN_MS),
                rtt_max: MetricName::new(names::RTT_MAX_MS),
                jitter: MetricName::new(names::JITTER_MS),
                loss: MetricName::new(names::LOSS_RATIO),
                up: MetricName::new(names::UP),
            },
        })
    }

    /// Sends the echo requests of one poll; one entry per request, `None` when lost.
    pub async fn echo(&self, address: IpAddr) -> Result<Vec<Option<f64>>, String> {
        let client = match address {
            IpAddr::V4(_) => &self.v4,
            IpAddr::V6(_) => self.v6.as_ref().map_err(Clone::clone)?,
        };
        let ident = PingIdentifier(self.next_ident.fetch_add(1, Ordering::Relaxed));
        let mut pinger = client.pinger(address, ident).await;
        pinger.timeout(self.config.timeout);
        let mut rtts = Vec::with_capacity(usize::from(self.config.count));
        let mut last_error = None;
        for seq in 0..self.config.count {
            if seq > 0 && !self.config.spacing.is_zero() {
                tokio::time::sleep(self.config.spacing).await;
            }
            match pinger.ping(PingSequence(seq), &self.payload).await {
                Ok((packet, rtt)) if is_echo_reply(&packet) => rtts.push(Some(ms(rtt))),
                // An ICMP error (unreachable, time exceeded) is a lost echo.
                Ok(_) => rtts.push(None),
                Err(SurgeError::Timeout { .. }) => rtts.push(None),
                Err(e) => {
                    rtts.push(None);
                    last_error = Some(e.to_string());
                }
            }
        }
        match last_error {
            Some(e) if rtts.iter().all(Option::is_none) => Err(e),
            _ => Ok(rtts),
        }
    }
}

/// Sizes the socket's receive buffer: a sweep of many devices gets its replies in a
/// burst, and the default buffer (about 200 KiB) overflows at a few hundred replies.
/// Returns the size the kernel granted.
fn set_receive_buffer(client: &Client, bytes: usize) -> io::Result<usize> {
    let fd = client.get_socket().get_native_sock();
    // SAFETY: `fd` is the open socket owned by `client`, which outlives this borrow;
    // surge-ping exposes only the raw descriptor.
    #[allow(unsafe_code)]
    let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    let sock = socket2::SockRef::from(&borrowed);
    sock.set_recv_buffer_size(bytes)?;
    // Linux reports twice the usable size (bookkeeping overhead included).
    Ok(sock.recv_buffer_size()? / 2)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn is_echo_reply(p: &IcmpPacket) -> bool {
    match p {
        IcmpPacket::V4(p) => p.get_icmp_type().0 == 0,
        IcmpPacket::V6(p) => p.get_icmpv6_type().0 == 129,
    }
}

#[async_trait]
impl Poller for IcmpPoller {
    fn collector(&self) -> &'static str {
        "icmp"
    }

    fn interval_for(&self, device: &Device) -> Option<Duration> {
        (self.config.enabled && device.icmp.enabled)
            .then(|| device.icmp.interval.unwrap_or(self.config.interval))
    }

    async fn poll(&self, device: &Device, time: UtcNanos) -> PollResult {
        let n = &self.names;
        let gauge = |metric: &MetricName, v: f64| {
            MetricSample::gauge(time, &device.id, &device.name, &n.collector, metric, v)
        };
        let (rtts, error) = match self.echo(device.address).await {
            Ok(rtts) => (rtts, None),
            Err(e) => (vec![None; usize::from(self.config.count)], Some(e)),
        };
        let stats = EchoStats::from_rtts(&rtts);
        let mut samples = Vec::with_capacity(6);
        for (metric, value) in [
            (&n.rtt, stats.rtt_mean_ms),
            (&n.rtt_min, stats.rtt_min_ms),
            (&n.rtt_max, stats.rtt_max_ms),
            (&n.jitter, stats.jitter_ms),
        ] {
            if let Some(v) = value {
                samples.push(gauge(metric, v));
            }
        }
        samples.push(gauge(&n.loss, stats.loss_ratio));
        samples.push(gauge(&n.up, if stats.up() { 1.0 } else { 0.0 }));
        PollResult {
            samples,
            ok: stats.up(),
            error: error.or_else(|| (!stats.up()).then(|| "no echo reply".to_string())),
            partial: false,
        }
    }
}
