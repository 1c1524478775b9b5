//! Pure arithmetic over the round-trip times of one poll.

/// Summary of one poll's echo replies.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EchoStats {
    /// Requests sent.
    pub sent: usize,
    /// Replies received.
    pub received: usize,
    /// Mean RTT of the replies, ms (`None` without replies).
    pub rtt_mean_ms: Option<f64>,
    /// Smallest RTT, ms.
    pub rtt_min_ms: Option<f64>,
    /// Largest RTT, ms.
    pub rtt_max_ms: Option<f64>,
    /// Mean absolute difference of consecutive RTTs (the inter-arrival difference of
    /// RFC 3550 section 6.4.1, averaged instead of smoothed), ms; `None` with fewer than
    /// two replies.
    pub jitter_ms: Option<f64>,
    /// `1 - received / sent`.
    pub loss_ratio: f64,
}

impl EchoStats {
    /// Computes the statistics. `rtts_ms` holds one entry per request sent, in order:
    /// `Some(rtt)` for a reply, `None` for a request that timed out. Jitter compares
    /// consecutive *replies*: a lost request in between does not count as a difference.
    pub fn from_rtts(rtts_ms: &[Option<f64>]) -> Self {
        let replies: Vec<f64> = rtts_ms.iter().flatten().copied().collect();
        let sent = rtts_ms.len();
        let received = replies.len();
        let mean = (received > 0).then(|| replies.iter().sum::<f64>() / received as f64);
        let min = replies.iter().copied().reduce(f64::min);
        let max = replies.iter().copied().reduce(f64::max);
        let jitter = (received > 1).then(|| {
            replies.windows(2).map(|w| (w[1] - w[0]).abs()).sum::<f64>() / (received - 1) as f64
        });
        let loss_ratio = if sent == 0 {
            1.0
        } else {
            1.0 - received as f64 / sent as f64
        };
        Self {
            sent,
            received,
            rtt_mean_ms: mean,
            rtt_min_ms: min,
            rtt_max_ms: max,
            jitter_ms: jitter,
            loss_ratio,
        }
    }

    /// Whether any reply came back.
    pub fn up(&self) -> bool {
        self.received > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() < 1e-9)
    }

    #[test]
    fn all_replies() {
        let s = EchoStats::from_rtts(&[Some(1.0), Some(3.0), Some(2.0)]);
        assert!(close(s.rtt_mean_ms, 2.0));
        assert!(close(s.rtt_min_ms, 1.0));
        assert!(close(s.rtt_max_ms, 3.0));
        // |3-1| + |2-3| = 3 over 2 differences.
        assert!(close(s.jitter_ms, 1.5));
        assert_eq!(s.loss_ratio, 0.0);
        assert!(s.up());
    }

    #[test]
    fn partial_loss_skips_lost_requests_in_jitter() {
        let s = EchoStats::from_rtts(&[Some(1.0), None, Some(4.0), None]);
        assert_eq!((s.sent, s.received), (4, 2));
        assert_eq!(s.loss_ratio, 0.5);
        assert!(close(s.jitter_ms, 3.0));
        assert!(close(s.rtt_mean_ms, 2.5));
    }

    #[test]
    fn one_reply_has_no_jitter() {
        let s = EchoStats::from_rtts(&[None, Some(0.25), None]);
        assert_eq!(s.jitter_ms, None);
        assert!(close(s.rtt_mean_ms, 0.25));
        assert!((s.loss_ratio - 2.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn total_loss() {
        let s = EchoStats::from_rtts(&[None, None, None]);
        assert_eq!(s.loss_ratio, 1.0);
        assert!(!s.up());
        assert_eq!(
            (s.rtt_mean_ms, s.rtt_min_ms, s.rtt_max_ms, s.jitter_ms),
            (None, None, None, None)
        );
    }

    #[test]
    fn nothing_sent_counts_as_lost() {
        let s = EchoStats::from_rtts(&[]);
        assert_eq!(s.loss_ratio, 1.0);
        assert!(!s.up());
    }
}
