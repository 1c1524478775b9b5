//! The UDP, TCP and TLS listeners: receive, frame, parse, enrich, publish on `logs`.
//!
//! Back-pressure: each TCP connection reads, publishes and only then reads again, so
//! when the bus is full the connection stops reading and TCP's window slows the
//! sender. UDP cannot slow a sender: the kernel drops datagrams when the socket buffer
//! is full; those drops are read from `/proc/net/udp{,6}` every second and exported as
//! `sotp_syslog_udp_drops_total`.
//!
//! Stop: on cancellation the listeners stop accepting; each TCP connection reads what
//! its sender already sent until it has been quiet for 200 ms (2 s at most), and every
//! message read is published before [`SyslogReceiver::run`] returns. UDP datagrams
//! still in the socket buffer at that moment are not read.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sotp_pipeline::Bus;
use sotp_schemas::{EventBatch, LogRecord, Topic};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::SyslogConfig;
use super::enrich::Enricher;
use super::framing::{Frame, FrameDecoder};
use super::udp_drops;
use crate::DeviceFeed;

/// A syslog receiver failure.
#[derive(Debug, thiserror::Error)]
pub enum SyslogError {
    /// A TLS certificate, key or CA file could not be used.
    #[error("{field} `{path}`: {reason}")]
    Tls {
        /// The config field.
        field: &'static str,
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// A listening address could not be bound.
    #[error("cannot listen for syslog on {transport} {addr} ([syslog] {transport}): {source}")]
    Bind {
        /// `udp`, `tcp` or `tls`.
        transport: &'static str,
        /// The configured address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
}

/// Bound syslog sockets, ready to run.
pub struct SyslogReceiver {
    udp: Option<UdpSocket>,
    tcp: Option<TcpListener>,
    tls: Option<(TcpListener, tokio_rustls::TlsAcceptor)>,
    config: SyslogConfig,
    enricher: Arc<Enricher>,
    bus: Arc<dyn Bus>,
}

impl std::fmt::Debug for SyslogReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyslogReceiver")
            .field("udp", &self.udp_addr())
            .field("tcp", &self.tcp_addr())
            .field("tls", &self.tls_addr())
            .finish_non_exhaustive()
    }
}

fn bind_udp(addr: &str, buffer: usize) -> Result<UdpSocket, SyslogError> {
    let err = |source| SyslogError::Bind {
        transport: "udp",
        addr: addr.to_string(),
        source,
    };
    let sa: SocketAddr = addr
        .parse()
        .map_err(|e| err(std::io::Error::new(std::io::ErrorKind::InvalidInput, e)))?;
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(sa),
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )
    .map_err(err)?;
    if let Err(e) = socket.set_recv_buffer_size(buffer) {
        tracing::warn!(error = %e, requested = buffer, "cannot set the UDP receive buffer size");
    }
    socket.set_nonblocking(true).map_err(err)?;
    socket.bind(&sa.into()).map_err(err)?;
    let granted = socket.recv_buffer_size().unwrap_or(0);
    metrics::gauge!("sotp_syslog_udp_recv_buffer_bytes").set(granted as f64);
    tracing::info!(
        requested = buffer,
        granted,
        "UDP receive buffer (raise net.core.rmem_max to grant more)"
    );
    UdpSocket::from_std(socket.into()).map_err(err)
}

impl SyslogReceiver {
    /// Binds the configured addresses (`""` skips one). Source addresses are matched to
    /// `devices`: a fixed list or the live inventory.
    pub async fn bind(
        config: SyslogConfig,
        devices: impl Into<DeviceFeed>,
        bus: Arc<dyn Bus>,
    ) -> Result<Self, SyslogError> {
        let udp = match config.udp.as_str() {
            "" => None,
            a => Some(bind_udp(a, config.udp_recv_buffer_bytes)?),
        };
        let tcp = match config.tcp.as_str() {
            "" => None,
            a => Some(
                TcpListener::bind(a)
                    .await
                    .map_err(|source| SyslogError::Bind {
                        transport: "tcp",
                        addr: a.to_string(),
                        source,
                    })?,
            ),
        };
        let tls = match config.tls.as_str() {
            "" => None,
            a => {
                let acceptor = super::tls::acceptor(&config)?;
                let listener = TcpListener::bind(a)
                    .await
                    .map_err(|source| SyslogError::Bind {
                        transport: "tls",
                        addr: a.to_string(),
                        source,
                    })?;
                Some((listener, acceptor))
            }
        };
        Ok(Self {
            udp,
            tcp,
            tls,
            config,
            enricher: Arc::new(Enricher::follow(devices)),
            bus,
        })
    }

    /// The bound UDP address.
    pub fn udp_addr(&self) -> Option<SocketAddr> {
        self.udp.as_ref().and_then(|s| s.local_addr().ok())
    }

    /// The bound TCP address.
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        self.tcp.as_ref().and_then(|s| s.local_addr().ok())
    }

    /// The bound TLS address.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls.as_ref().and_then(|(s, _)| s.local_addr().ok())
    }

    /// Receives until `shutdown`, then publishes what was read and returns.
    pub async fn run(self, shutdown: CancellationToken) {
        tracing::info!(udp = ?self.udp_addr(), tcp = ?self.tcp_addr(), tls = ?self.tls_addr(), "syslog receiver listening");
        let tracker = TaskTracker::new();
        if let Some(udp) = self.udp {
            let drops = udp_drops::Watcher::new(&udp);
            tracker.spawn(drops.run(shutdown.clone()));
            tracker.spawn(run_udp(
                udp,
                self.enricher.clone(),
                self.bus.clone(),
                self.config.batch_max,
                shutdown.clone(),
            ));
        }
        let slots = Arc::new(Semaphore::new(self.config.max_connections));
        if let Some((listener, acceptor)) = self.tls {
            tracker.spawn(run_tcp(
                listener,
                Some(acceptor),
                slots.clone(),
                self.config.clone(),
                self.enricher.clone(),
                self.bus.clone(),
                tracker.clone(),
                shutdown.clone(),
            ));
        }
        if let Some(tcp) = self.tcp {
            tracker.spawn(run_tcp(
                tcp,
                None,
                slots,
                self.config.clone(),
                self.enricher.clone(),
                self.bus.clone(),
                tracker.clone(),
                shutdown.clone(),
            ));
        }
        shutdown.cancelled().await;
        tracker.close();
        tracker.wait().await;
        tracing::info!("syslog receiver stopped");
    }
}

async fn publish(bus: &dyn Bus, records: Vec<LogRecord>) {
    if records.is_empty() {
        return;
    }
    let n = records.len();
    super::enrich::count(&records);
    if let Err(e) = bus.publish(Topic::Logs, EventBatch::Logs(records)).await {
        metrics::counter!("sotp_syslog_lost_total").increment(n as u64);
        tracing::error!(error = %e, records = n, "syslog records could not be published");
    }
}

async fn run_udp(
    socket: UdpSocket,
    enricher: Arc<Enricher>,
    bus: Arc<dyn Bus>,
    batch_max: usize,
    shutdown: CancellationToken,
) {
    let mut buf = vec![0u8; 65_536];
    let messages = metrics::counter!("sotp_syslog_messages_total", "transport" => "udp");
    loop {
        let first = tokio::select! {
            r = socket.recv_from(&mut buf) => r,
            _ = shutdown.cancelled() => break,
        };
        let mut records = Vec::new();
        let mut next = first;
        loop {
            match next {
                Ok((n, from)) => records.push(enricher.record(&buf[..n], from, Utc::now())),
                Err(e) => tracing::warn!(error = %e, "UDP receive failed"),
            }
            if records.len() >= batch_max {
                break;
            }
            next = match socket.try_recv_from(&mut buf) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                r => r,
            };
        }
        messages.increment(records.len() as u64);
        publish(bus.as_ref(), records).await;
    }
}

#[allow(clippy::too_many_arguments)]
async fn run_tcp(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    slots: Arc<Semaphore>,
    config: SyslogConfig,
    enricher: Arc<Enricher>,
    bus: Arc<dyn Bus>,
    tracker: TaskTracker,
    shutdown: CancellationToken,
) {
    loop {
        // Wait for a free slot before accepting: extra connections wait in the backlog.
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = shutdown.cancelled() => break,
        };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "TCP accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = shutdown.cancelled() => break,
        };
        let (enricher, bus, config, shutdown, tls) = (
            enricher.clone(),
            bus.clone(),
            config.clone(),
            shutdown.clone(),
            tls.clone(),
        );
        tracker.spawn(async move {
            metrics::gauge!("sotp_syslog_connections").increment(1.0);
            let (c, e, b, sd) = (&config, enricher, bus.as_ref(), &shutdown);
            match tls {
                None => connection(stream, peer, c, e, b, sd).await,
                Some(acceptor) => {
                    match tokio::time::timeout(c.idle_timeout, acceptor.accept(stream)).await {
                        Ok(Ok(s)) => connection(s, peer, c, e, b, sd).await,
                        Ok(Err(err)) => handshake_failed(peer, &err.to_string()),
                        Err(_) => handshake_failed(peer, "timed out"),
                    }
                }
            }
            metrics::gauge!("sotp_syslog_connections").decrement(1.0);
            drop(permit);
        });
    }
}

fn handshake_failed(peer: SocketAddr, why: &str) {
    metrics::counter!("sotp_syslog_tls_handshake_errors_total").increment(1);
    tracing::warn!(%peer, error = why, "syslog TLS handshake failed");
}

/// At a stop, a connection is read until it has been quiet this long...
const DRAIN_IDLE: Duration = Duration::from_millis(200);
/// ...or for this long at most.
const DRAIN_MAX: Duration = Duration::from_secs(2);

/// Serves one TCP (or TLS) connection until EOF, an error, the idle timeout or shutdown.
async fn connection<S: AsyncRead + Unpin>(
    mut stream: S,
    peer: SocketAddr,
    config: &SyslogConfig,
    enricher: Arc<Enricher>,
    bus: &dyn Bus,
    shutdown: &CancellationToken,
) {
    tracing::debug!(%peer, "syslog TCP connection opened");
    let mut decoder = FrameDecoder::new(config.max_message_bytes);
    let mut buf = vec![0u8; 64 * 1024];
    let mut drain_until: Option<tokio::time::Instant> = None;
    let messages = metrics::counter!("sotp_syslog_messages_total", "transport" => "tcp");
    let peer: Peer = (peer, Arc::from(peer.to_string()));
    loop {
        let read = match drain_until {
            // Stopping: read what the sender already sent, for a short while.
            Some(until) => {
                let left = until.saturating_duration_since(tokio::time::Instant::now());
                tokio::time::timeout(left.min(DRAIN_IDLE), stream.read(&mut buf)).await
            }
            None => tokio::select! {
                r = tokio::time::timeout(config.idle_timeout, stream.read(&mut buf)) => r,
                _ = shutdown.cancelled() => {
                    drain_until = Some(tokio::time::Instant::now() + DRAIN_MAX);
                    continue;
                }
            },
        };
        let n = match read {
            Ok(Ok(0)) => break,
            Ok(Ok(n)) => n,
            Ok(Err(e)) => {
                tracing::debug!(peer = %peer.1, error = %e, "syslog TCP read failed");
                break;
            }
            Err(_) if drain_until.is_some() => break,
            Err(_) => {
                metrics::counter!("sotp_syslog_idle_closed_total").increment(1);
                tracing::debug!(peer = %peer.1, "syslog TCP connection idle: closed");
                break;
            }
        };
        decoder.extend(&buf[..n]);
        // The messages of one read were received together.
        let now = Utc::now();
        let mut frames = Vec::new();
        while let Some(f) = decoder.next_frame() {
            frames.push(f);
            if frames.len() >= config.batch_max {
                let records = records(&enricher, &peer, std::mem::take(&mut frames), now).await;
                messages.increment(records.len() as u64);
                publish(bus, records).await;
            }
        }
        let records = records(&enricher, &peer, frames, now).await;
        messages.increment(records.len() as u64);
        publish(bus, records).await;
    }
    let rest: Vec<Frame> = std::iter::from_fn(|| decoder.finish()).collect();
    let rest = records(&enricher, &peer, rest, Utc::now()).await;
    messages.increment(rest.len() as u64);
    publish(bus, rest).await;
    tracing::debug!(peer = %peer.1, "syslog TCP connection closed");
}

/// A TCP peer and its `ip:port` text (formatted once per connection).
type Peer = (SocketAddr, Arc<str>);

/// Below this many frames a read is parsed on its own task; above, half of it is parsed
/// on another task at the same time, so one busy connection uses two cores.
const PARALLEL_MIN_FRAMES: usize = 128;

fn frame_record(enricher: &Enricher, peer: &Peer, f: &Frame, now: DateTime<Utc>) -> LogRecord {
    if f.truncated {
        metrics::counter!("sotp_syslog_truncated_total", "transport" => "tcp").increment(1);
    }
    enricher.record_from(&f.bytes, peer.0, &peer.1, now)
}

/// Parses and enriches `frames` in order.
async fn records(
    enricher: &Arc<Enricher>,
    peer: &Peer,
    mut frames: Vec<Frame>,
    now: DateTime<Utc>,
) -> Vec<LogRecord> {
    let one = move |e: &Enricher, p: &Peer, fs: &[Frame]| -> Vec<LogRecord> {
        fs.iter().map(|f| frame_record(e, p, f, now)).collect()
    };
    if frames.len() < PARALLEL_MIN_FRAMES {
        return one(enricher, peer, &frames);
    }
    let total = frames.len();
    let second = frames.split_off(total / 2);
    let (e, p) = (enricher.clone(), peer.clone());
    let other = tokio::spawn(async move { one(&e, &p, &second) });
    // Room for both halves: the first is not moved again when the second joins it.
    let mut out = Vec::with_capacity(total);
    out.extend(frames.iter().map(|f| frame_record(enricher, peer, f, now)));
    match other.await {
        Ok(rest) => out.extend(rest),
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        // The runtime is shutting down: nothing more can be parsed.
        Err(e) => tracing::error!(error = %e, "syslog parse task cancelled"),
    }
    out
}
