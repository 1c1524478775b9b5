//! The UDP, TCP and TLS listeners: receive, frame, parse, enrich, publish on `logs`.
//!
//! TCP: a connection frames each read and hands it to a task of its own for parsing, so
//! one busy connection keeps every core at work; the tasks publish in the order of the
//! reads. Back-pressure: at most [`PARSING_READS`] reads of a connection are being parsed
//! or waiting to publish; when the bus is full they wait, the connection stops reading
//! and TCP's window slows the sender. UDP cannot slow a sender: the kernel drops
//! datagrams when the socket buffer is full; those drops are read from
//! `/proc/net/udp{,6}` every second and exported as `sotp_syslog_udp_drops_total`.
//!
//! Stop: on cancellation the listeners stop accepting; each TCP connection reads what
//! its sender already sent until it has been quiet for 200 ms (2 s at most), and every
//! message read is published before [`SyslogReceiver::run`] returns. UDP datagrams
//! still in the socket buffer at that moment are not read.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sotp_bus::Bus;
use sotp_schemas::{EventBatch, LogRecord, Topic, UtcNanos};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::SyslogConfig;
use super::enrich::Enricher;
use super::udp_drops;
use crate::DeviceFeed;
use sotp_syslog::{Frame, FrameDecoder};

/// A syslog receiver failure.
#[derive(Debug, thiserror::Error)]
pub enum SyslogError {
    /// A TLS certificate, key or CA file could not be used.
    #[error(transparent)]
    Tls(#[from] sotp_tls::TlsError),
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
        let enricher = Enricher::follow(devices).trusting_hostnames(config.trust_hostname);
        Ok(Self {
            udp,
            tcp,
            tls,
            config,
            enricher: Arc::new(enricher),
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
    let mut clock = ReceiveClock::default();
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
                Ok((n, from)) => {
                    let now = Utc::now();
                    let mut r = enricher.record_or_raw(&buf[..n], from, now);
                    r.received_at = UtcNanos(clock.reserve(now, 1));
                    records.push(r);
                }
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
    let per_address = PerAddress::default();
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
        let Some(held) = per_address.take(peer.ip(), config.max_connections_per_address) else {
            metrics::counter!("sotp_syslog_refused_connections_total", "reason" => "per_address")
                .increment(1);
            tracing::debug!(%peer, "syslog connection refused: [syslog] max_connections_per_address");
            continue;
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
            let (c, e, b, sd) = (&config, enricher, bus, &shutdown);
            match tls {
                None => connection(stream, peer, c, e, b, sd).await,
                Some(acceptor) => {
                    match tokio::time::timeout(c.first_byte_timeout, acceptor.accept(stream)).await
                    {
                        Ok(Ok(s)) => connection(s, peer, c, e, b, sd).await,
                        Ok(Err(err)) => handshake_failed(peer, &err.to_string()),
                        Err(_) => handshake_failed(peer, "timed out"),
                    }
                }
            }
            metrics::gauge!("sotp_syslog_connections").decrement(1.0);
            drop((permit, held));
        });
    }
}

/// Connections held per client address.
#[derive(Clone, Debug, Default)]
struct PerAddress(Arc<std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>>);

/// One connection's place in its address's count, given back when dropped.
struct Held(PerAddress, std::net::IpAddr);

impl PerAddress {
    /// A place for one more connection from `ip`, none when it holds `max` already.
    fn take(&self, ip: std::net::IpAddr, max: usize) -> Option<Held> {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let n = m.entry(ip).or_default();
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(Held(self.clone(), ip))
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut m = self.0.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = m.get_mut(&self.1) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.1);
            }
        }
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
    bus: Arc<dyn Bus>,
    shutdown: &CancellationToken,
) {
    tracing::debug!(%peer, "syslog TCP connection opened");
    let mut decoder = FrameDecoder::new(config.max_message_bytes);
    let mut buf = vec![0u8; 64 * 1024];
    let mut drain_until: Option<tokio::time::Instant> = None;
    let peer: Peer = (peer, Arc::from(peer.to_string()));
    let mut parsing = InOrder::new(enricher, peer.clone(), bus);
    // Until the first byte, a shorter wait: a silent socket gives its slot back soon.
    let mut wait = config.first_byte_timeout;
    loop {
        let read = match drain_until {
            // Stopping: read what the sender already sent, for a short while.
            Some(until) => {
                let left = until.saturating_duration_since(tokio::time::Instant::now());
                tokio::time::timeout(left.min(DRAIN_IDLE), stream.read(&mut buf)).await
            }
            None => tokio::select! {
                r = tokio::time::timeout(wait, stream.read(&mut buf)) => r,
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
        wait = config.idle_timeout;
        decoder.extend(&buf[..n]);
        // The messages of one read were received together.
        let now = Utc::now();
        let mut frames = Vec::new();
        while let Some(f) = decoder.next_frame() {
            frames.push(f);
            if frames.len() >= config.batch_max {
                parsing.submit(std::mem::take(&mut frames), now).await;
            }
        }
        parsing.submit(frames, now).await;
    }
    let rest: Vec<Frame> = std::iter::from_fn(|| decoder.finish()).collect();
    parsing.submit(rest, Utc::now()).await;
    parsing.finish().await;
    tracing::debug!(peer = %peer.1, "syslog TCP connection closed");
}

/// A TCP peer and its `ip:port` text (formatted once per connection).
type Peer = (SocketAddr, Arc<str>);

/// Reads of one connection being parsed at the same time, at most: while earlier reads
/// are parsed on the runtime's other workers, the connection frames the next one, so
/// one busy connection keeps every core at work. Bounded, so that a full bus stops the
/// reading (TCP back-pressure).
const PARSING_READS: usize = 4;

/// Parses a connection's reads on tasks of their own and publishes them in the order
/// they were read.
struct InOrder {
    enricher: Arc<Enricher>,
    peer: Peer,
    bus: Arc<dyn Bus>,
    /// One permit per read being parsed or waiting to be published.
    slots: Arc<Semaphore>,
    /// The task of the read before: a task publishes only once it has finished.
    last: Option<tokio::task::JoinHandle<()>>,
    messages: metrics::Counter,
    clock: ReceiveClock,
}

impl InOrder {
    fn new(enricher: Arc<Enricher>, peer: Peer, bus: Arc<dyn Bus>) -> Self {
        Self {
            enricher,
            peer,
            bus,
            slots: Arc::new(Semaphore::new(PARSING_READS)),
            last: None,
            messages: metrics::counter!("sotp_syslog_messages_total", "transport" => "tcp"),
            clock: ReceiveClock::default(),
        }
    }

    /// Parses and publishes `frames` after everything submitted before; waits while
    /// [`PARSING_READS`] reads are already in progress.
    async fn submit(&mut self, frames: Vec<Frame>, now: DateTime<Utc>) {
        if frames.is_empty() {
            return;
        }
        // The semaphore is never closed.
        let Ok(slot) = self.slots.clone().acquire_owned().await else {
            return;
        };
        let before = self.last.take();
        let (enricher, peer, bus) = (self.enricher.clone(), self.peer.clone(), self.bus.clone());
        let messages = self.messages.clone();
        let first = self.clock.reserve(now, frames.len());
        self.last = Some(tokio::spawn(async move {
            let records: Vec<LogRecord> = (first..)
                .zip(&frames)
                .map(|(at, f)| {
                    let mut r = frame_record(&enricher, &peer, f, now);
                    r.received_at = UtcNanos(at);
                    r
                })
                .collect();
            if let Some(before) = before {
                wait_for(before).await;
            }
            messages.increment(records.len() as u64);
            publish(bus.as_ref(), records).await;
            drop(slot);
        }));
    }

    /// Waits until everything submitted is published.
    async fn finish(mut self) {
        if let Some(last) = self.last.take() {
            wait_for(last).await;
        }
    }
}

/// Receive times of one socket, in nanoseconds, each later than the one before: the
/// frames of one read, received together, get consecutive nanoseconds, and a clock
/// stepping back does not repeat a time. So (source address, receive time) names one
/// message, and a sink can tell an event delivered twice to the `logs` topic from two
/// identical messages (`sinks/src/recent_logs.rs`).
#[derive(Debug, Default)]
struct ReceiveClock {
    last: i64,
}

impl ReceiveClock {
    /// The first of `n` consecutive times, at `now` or just after the last one given.
    fn reserve(&mut self, now: DateTime<Utc>, n: usize) -> i64 {
        let now = now.timestamp_nanos_opt().unwrap_or(i64::MAX / 2);
        let first = now.max(self.last.saturating_add(1));
        self.last = first.saturating_add(n.saturating_sub(1) as i64);
        first
    }
}

/// Waits for a parse task. A parse task that panicked (a parser bug: the fuzz target
/// looks for them) lost its own read only; the reads after it are still published.
async fn wait_for(task: tokio::task::JoinHandle<()>) {
    if let Err(e) = task.await {
        tracing::error!(error = %e, "a syslog parse task failed: the messages of one read are lost");
    }
}

fn frame_record(enricher: &Enricher, peer: &Peer, f: &Frame, now: DateTime<Utc>) -> LogRecord {
    if f.truncated {
        metrics::counter!("sotp_syslog_truncated_total", "transport" => "tcp").increment(1);
    }
    enricher.record_from_or_raw(&f.bytes, peer.0, &peer.1, now)
}

#[cfg(test)]
mod tests;
