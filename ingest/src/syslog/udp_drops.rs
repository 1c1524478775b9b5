//! Datagrams the kernel dropped on the UDP socket because its buffer was full: the
//! `drops` column of `/proc/net/udp` and `/proc/net/udp6` for the socket's inode,
//! exported as the counter `sotp_syslog_udp_drops_total`.

use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

/// Polls the kernel's drop count of one socket.
#[derive(Debug)]
pub(crate) struct Watcher {
    inode: Option<u64>,
}

impl Watcher {
    pub(crate) fn new(socket: &UdpSocket) -> Self {
        let inode = std::fs::metadata(format!("/proc/self/fd/{}", socket.as_raw_fd()))
            .ok()
            .map(|m| m.ino());
        Self { inode }
    }

    /// The drops counted so far, when the kernel reports them.
    pub(crate) fn drops(&self) -> Option<u64> {
        let inode = self.inode?.to_string();
        for table in ["/proc/net/udp", "/proc/net/udp6"] {
            let Ok(text) = std::fs::read_to_string(table) else {
                continue;
            };
            if let Some(d) = drops_of(&text, &inode) {
                return Some(d);
            }
        }
        None
    }

    pub(crate) async fn run(self, shutdown: CancellationToken) {
        if self.inode.is_none() {
            tracing::warn!("cannot find the UDP socket's inode: UDP drops are not reported");
            return;
        }
        let counter = metrics::counter!("sotp_syslog_udp_drops_total");
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.cancelled() => break,
            }
            if let Some(d) = self.drops() {
                counter.absolute(d);
            }
        }
    }
}

/// The `drops` column (the last) of the row whose `inode` column (the 10th) matches.
fn drops_of(table: &str, inode: &str) -> Option<u64> {
    table.lines().skip(1).find_map(|l| {
        let cols: Vec<&str> = l.split_whitespace().collect();
        (cols.get(9) == Some(&inode)).then(|| cols.last()?.parse().ok())?
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_drops_column_of_the_socket_row() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
  1: 0100007F:1586 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4242 2 0000000000000000 17\n\
  2: 0100007F:1587 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 99 2 0000000000000000 3\n";
        assert_eq!(drops_of(table, "4242"), Some(17));
        assert_eq!(drops_of(table, "99"), Some(3));
        assert_eq!(drops_of(table, "1"), None);
    }

    #[tokio::test]
    async fn a_real_socket_is_found() {
        let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        assert_eq!(Watcher::new(&s).drops(), Some(0));
    }
}
