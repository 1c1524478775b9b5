//! Table walks: several columns at once with GETBULK (v2c, v3) or one by one with
//! GETNEXT (v1), with adaptive max-repetitions, a cap on varbinds per request, a row
//! limit and detection of OID loops.
//!
//! The reply handling ([`TableWalk::absorb`]) is pure and tested without a network.

use std::time::Duration;

use tokio::time::Instant;

use super::session::{Request, Session, SnmpError, error_status_name};
use super::value::{Oid, Value, VarBind};

/// How much one device is asked for per GETBULK: a budget of varbinds (columns x
/// repetitions) learnt from the agent's replies and kept across polls.
///
/// Slow agents answer in a time that grows with the size of the reply, so a request
/// that times out is asked again at half its size (fewer repetitions, then fewer
/// columns per PDU, down to one column and one row). A reply that took more than half
/// the timeout scales the budget down to what should take a third of it. Replies that
/// come back within a quarter of the timeout grow it by half after three in a row, but
/// never to a size that timed out before (75 % of it at most) until a hundred quick
/// replies in a row at that ceiling lift it by a quarter (a few polls later).
///
/// A lossy link loses small requests as well as large ones: a request no larger than
/// one already answered quickly is not shrunk on a timeout but retried as configured,
/// so that loss alone never shrinks the requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestSize {
    /// Varbinds to ask for in the next request.
    pub varbinds: u32,
    /// Configured ceiling (`[snmp] max_varbinds`).
    pub max: u32,
    /// Most repetitions per column (`[snmp] max_repetitions`).
    pub max_repetitions: u32,
    /// The smallest request that timed out or was tooBig, while it is remembered.
    pub failed_at: Option<u32>,
    /// The largest request answered quickly since the agent was last slow.
    pub good: u32,
    /// The agent's fixed latency: the low envelope of its reply times (a GET of two
    /// scalars at each poll's start, and every GETBULK), rising slowly when every reply
    /// gets slower.
    pub floor: Option<Duration>,
    /// Quick replies in a row.
    quick: u32,
}

impl RequestSize {
    /// Starts at the largest size allowed: `max_repetitions` rows of `max_varbinds`
    /// varbinds at most.
    pub fn new(max_repetitions: u32, max_varbinds: u32) -> Self {
        Self {
            varbinds: max_varbinds.max(1),
            max: max_varbinds.max(1),
            max_repetitions: max_repetitions.max(1),
            failed_at: None,
            good: 0,
            floor: None,
            quick: 0,
        }
    }

    /// The shape of the next request over `active` columns: (columns, repetitions).
    /// Columns beyond the budget wait for a later request.
    pub fn shape(&self, active: usize) -> (usize, u32) {
        let budget = self.varbinds.max(1);
        let columns = (active.max(1) as u32).min(budget);
        let reps = (budget / columns).clamp(1, self.max_repetitions);
        (columns as usize, reps)
    }

    /// A reply of any size came after `took`: updates the fixed latency.
    pub fn latency(&mut self, took: Duration) {
        self.floor = Some(match self.floor {
            Some(f) if took >= f => f + (took - f) / 16,
            _ => took,
        });
    }

    /// True when a request of `asked` varbinds that times out should be asked again
    /// smaller at once rather than retried: it can shrink, and no request as large was
    /// answered quickly.
    pub fn shrinks_on_timeout(&self, asked: u32) -> bool {
        asked > 1 && asked > self.good
    }

    /// A request of `asked` varbinds timed out or was tooBig.
    pub fn failed(&mut self, asked: u32) {
        if asked <= self.good {
            // tooBig (a timeout at this size is retried, not shrunk).
            self.good = asked - 1;
        }
        self.failed_at = Some(self.failed_at.map_or(asked, |f| f.min(asked)));
        self.varbinds = (asked / 2).max(1);
        self.quick = 0;
    }

    /// A request of `asked` varbinds was answered after `took`, with `timeout` per
    /// attempt.
    pub fn answered(&mut self, asked: u32, took: Duration, timeout: Duration) {
        let floor = self.floor.unwrap_or(took).min(took);
        self.latency(took);
        if took > timeout / 2 {
            // Close to timing out: aim at a third of the timeout, counting only the part
            // of the time that grows with the size. An agent slow whatever is asked (its
            // fixed latency alone over a third of the timeout) keeps its size: smaller
            // requests would only make more of them.
            let per_size = (took - floor).as_micros();
            let room = (timeout / 3).saturating_sub(floor).as_micros();
            if per_size > 0 && room > 0 {
                let scaled = u128::from(asked) * room / per_size;
                self.varbinds =
                    (scaled.min(u128::from(u32::MAX)) as u32).clamp(1, self.varbinds.max(1));
            }
            self.good = 0;
            self.quick = 0;
            return;
        }
        if took >= timeout / 4 {
            self.quick = 0;
            return;
        }
        self.good = self.good.max(asked);
        self.quick += 1;
        let ceiling = self.failed_at.map_or(self.max, |f| (f - f / 4).max(1));
        if self.varbinds >= ceiling {
            if self.quick >= 100 {
                // Probe above the old failure again, carefully.
                self.failed_at = self
                    .failed_at
                    .map(|f| f + f / 4 + 1)
                    .filter(|f| *f <= self.max);
                self.quick = 0;
            }
            return;
        }
        if self.quick >= 3 {
            self.varbinds = (self.varbinds + self.varbinds / 2 + 1).min(ceiling);
            self.quick = 0;
        }
    }
}

/// The state of a walk over several columns.
#[derive(Debug)]
pub struct TableWalk {
    columns: Vec<Oid>,
    cursor: Vec<Oid>,
    done: Vec<bool>,
    /// Rows found per column, in OID order.
    pub rows: Vec<Vec<VarBind>>,
    max_rows: usize,
}

impl TableWalk {
    /// A walk of `columns`.
    pub fn new(columns: &[Oid], max_rows: usize) -> Self {
        Self {
            columns: columns.to_vec(),
            cursor: columns.to_vec(),
            done: vec![false; columns.len()],
            rows: vec![Vec::new(); columns.len()],
            max_rows,
        }
    }

    /// Indices of the columns still being walked.
    pub fn active(&self) -> Vec<usize> {
        (0..self.columns.len()).filter(|&i| !self.done[i]).collect()
    }

    /// Marks column `i` finished (v1 noSuchName).
    pub fn finish(&mut self, i: usize) {
        self.done[i] = true;
    }

    /// The OIDs to continue from, for the `active` columns.
    pub fn cursors(&self, active: &[usize]) -> Vec<Oid> {
        active.iter().map(|&i| self.cursor[i].clone()).collect()
    }

    /// Takes the varbinds of a reply to a request over the `active` columns (row-major:
    /// varbind k belongs to column `active[k % active.len()]`).
    pub fn absorb(
        &mut self,
        active: &[usize],
        varbinds: Vec<VarBind>,
        addr: std::net::SocketAddr,
    ) -> Result<(), SnmpError> {
        if varbinds.is_empty() {
            return Err(SnmpError::Malformed {
                addr,
                detail: "reply without varbinds".into(),
            });
        }
        for (k, vb) in varbinds.into_iter().enumerate() {
            let c = active[k % active.len()];
            if self.done[c] {
                continue;
            }
            if matches!(vb.value, Value::EndOfMibView) || !vb.oid.is_under(&self.columns[c]) {
                self.done[c] = true;
                continue;
            }
            if vb.oid <= self.cursor[c] {
                return Err(SnmpError::OidLoop {
                    addr,
                    previous: self.cursor[c].clone(),
                    got: vb.oid,
                });
            }
            if self.rows[c].len() >= self.max_rows {
                return Err(SnmpError::TooManyRows {
                    addr,
                    column: self.columns[c].clone(),
                    limit: self.max_rows,
                });
            }
            self.cursor[c] = vb.oid.clone();
            if !vb.value.is_exception() {
                self.rows[c].push(vb);
            }
        }
        Ok(())
    }
}

/// Walks the columns of `w` (GETBULK unless the session is v1), sizing each request
/// with `size`; the rows read so far stay in `w` when it fails. No request waits past
/// `deadline`.
pub async fn walk(
    session: &mut Session,
    w: &mut TableWalk,
    size: &mut RequestSize,
    deadline: Option<Instant>,
) -> Result<(), SnmpError> {
    let addr = session.addr();
    let mut shrinks = 0u32;
    loop {
        let active = w.active();
        if active.is_empty() {
            return Ok(());
        }
        if session.is_v1() {
            // One column at a time: GETNEXT takes one OID in snmp2.
            let c = active[0];
            let cursor = w.cursors(&[c]);
            let reply = session
                .request_until(Request::GetNext(&cursor[0]), session.attempts(), deadline)
                .await?;
            match reply.error_status {
                0 => w.absorb(&[c], reply.varbinds, addr)?,
                2 => w.finish(c), // noSuchName: end of the MIB view in v1
                s => {
                    return Err(SnmpError::Agent {
                        addr,
                        status: s,
                        name: error_status_name(s),
                        index: reply.error_index,
                    });
                }
            }
            continue;
        }
        let (columns, reps) = size.shape(active.len());
        let chunk = &active[..columns];
        let cursors = w.cursors(chunk);
        let asked = columns as u32 * reps;
        // A request that can still shrink gets one attempt: a slow agent is asked for
        // less rather than for the same again.
        let shrinks_on_timeout = size.shrinks_on_timeout(asked);
        let attempts = if shrinks_on_timeout {
            1
        } else {
            session.attempts()
        };
        match session
            .request_until(Request::GetBulk(&cursors, reps), attempts, deadline)
            .await
        {
            Ok(reply) if reply.error_status == 0 => {
                size.answered(asked, reply.took, session.timeout());
                w.absorb(chunk, reply.varbinds, addr)?;
                shrinks = 0;
            }
            Ok(reply) if reply.error_status == 1 && asked > 1 => size.failed(asked),
            Ok(reply) => {
                return Err(SnmpError::Agent {
                    addr,
                    status: reply.error_status,
                    name: error_status_name(reply.error_status),
                    index: reply.error_index,
                });
            }
            Err(SnmpError::Timeout { .. }) if shrinks_on_timeout => {
                size.failed(asked);
                shrinks += 1;
                tracing::debug!(%addr, asked, next = size.varbinds, "SNMP request timed out; asking for less");
                session.back_off(shrinks, deadline).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// GETs `oids`; a value is `None` when the agent has no such object or instance. Also
/// returns how long the (first) reply took.
pub async fn get(
    session: &mut Session,
    oids: &[Oid],
    deadline: Option<Instant>,
) -> Result<(Vec<Option<Value>>, Duration), SnmpError> {
    let addr = session.addr();
    let attempts = session.attempts();
    let reply = session
        .request_until(Request::Get(oids), attempts, deadline)
        .await?;
    let took = reply.took;
    if reply.error_status == 2 && session.is_v1() {
        // v1: one missing object fails the whole GET; fall back to one by one.
        let mut out = Vec::with_capacity(oids.len());
        for o in oids {
            let r = session
                .request_until(Request::Get(std::slice::from_ref(o)), attempts, deadline)
                .await?;
            out.push(r.varbinds.into_iter().next().map(|v| v.value));
        }
        return Ok((out, took));
    }
    if reply.error_status != 0 {
        return Err(SnmpError::Agent {
            addr,
            status: reply.error_status,
            name: error_status_name(reply.error_status),
            index: reply.error_index,
        });
    }
    let mut out: Vec<Option<Value>> = vec![None; oids.len()];
    for vb in reply.varbinds {
        if let Some(i) = oids.iter().position(|o| *o == vb.oid)
            && !vb.value.is_exception()
        {
            out[i] = Some(vb.value);
        }
    }
    Ok((out, took))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oid(s: &str) -> Oid {
        s.parse().unwrap()
    }

    fn vb(o: &str, v: Value) -> VarBind {
        VarBind {
            oid: oid(o),
            value: v,
        }
    }

    const ADDR: &str = "127.0.0.1:161";

    #[test]
    fn interleaved_columns_end_separately() {
        let mut w = TableWalk::new(
            &[oid("1.3.6.1.2.1.2.2.1.2"), oid("1.3.6.1.2.1.2.2.1.5")],
            100,
        );
        let a = w.active();
        w.absorb(
            &a,
            vec![
                vb("1.3.6.1.2.1.2.2.1.2.1", Value::Bytes(b"eth0".to_vec())),
                vb("1.3.6.1.2.1.2.2.1.5.1", Value::Unsigned32(1000)),
                vb("1.3.6.1.2.1.2.2.1.2.2", Value::Bytes(b"eth1".to_vec())),
                vb("1.3.6.1.2.1.2.2.1.5.2", Value::Unsigned32(10)),
                vb("1.3.6.1.2.1.2.2.1.3.1", Value::Integer(6)),
                vb("1.3.6.1.2.1.2.2.1.6.1", Value::Bytes(vec![])),
            ],
            ADDR.parse().unwrap(),
        )
        .unwrap();
        assert!(w.active().is_empty());
        assert_eq!(w.rows[0].len(), 2);
        assert_eq!(w.rows[1][1].value, Value::Unsigned32(10));
    }

    #[test]
    fn oid_loop_is_an_error() {
        let mut w = TableWalk::new(&[oid("1.3.6.1.2.1.2.2.1.2")], 100);
        let err = w
            .absorb(
                &[0],
                vec![
                    vb("1.3.6.1.2.1.2.2.1.2.5", Value::Integer(1)),
                    vb("1.3.6.1.2.1.2.2.1.2.3", Value::Integer(1)),
                ],
                ADDR.parse().unwrap(),
            )
            .unwrap_err();
        assert!(matches!(err, SnmpError::OidLoop { .. }), "{err}");
        assert!(err.to_string().contains("1.3.6.1.2.1.2.2.1.2.3"));
    }

    #[test]
    fn end_of_mib_view_and_exceptions() {
        let mut w = TableWalk::new(
            &[oid("1.3.6.1.2.1.2.2.1.2"), oid("1.3.6.1.2.1.2.2.1.5")],
            100,
        );
        w.absorb(
            &[0, 1],
            vec![
                vb("1.3.6.1.2.1.2.2.1.2.1", Value::NoSuchInstance),
                vb("1.3.6.1.2.1.2.2.1.5", Value::EndOfMibView),
            ],
            ADDR.parse().unwrap(),
        )
        .unwrap();
        assert_eq!(w.active(), vec![0]);
        assert!(w.rows[0].is_empty());
        assert!(w.absorb(&[0], vec![], ADDR.parse().unwrap()).is_err());
    }

    #[test]
    fn row_limit() {
        let mut w = TableWalk::new(&[oid("1.3.6.1.2.1.2.2.1.2")], 1);
        let err = w
            .absorb(
                &[0],
                vec![
                    vb("1.3.6.1.2.1.2.2.1.2.1", Value::Integer(1)),
                    vb("1.3.6.1.2.1.2.2.1.2.2", Value::Integer(1)),
                ],
                ADDR.parse().unwrap(),
            )
            .unwrap_err();
        assert!(matches!(err, SnmpError::TooManyRows { .. }));
    }

    #[test]
    fn the_budget_sets_columns_and_repetitions() {
        let size = RequestSize::new(25, 250);
        assert_eq!(size.shape(11), (11, 22));
        assert_eq!(size.shape(1), (1, 25), "max_repetitions caps one column");
        let mut size = RequestSize::new(25, 250);
        size.varbinds = 5;
        assert_eq!(
            size.shape(11),
            (5, 1),
            "fewer columns per PDU below one row"
        );
        size.varbinds = 1;
        assert_eq!(size.shape(11), (1, 1));
        assert_eq!(size.shape(0), (1, 1));
    }

    #[test]
    fn a_failure_halves_what_was_asked_and_growth_stays_below_it() {
        let mut size = RequestSize::new(25, 1_000);
        size.failed(242);
        assert_eq!((size.varbinds, size.failed_at), (121, Some(242)));
        let quick = Duration::from_millis(10);
        let timeout = Duration::from_secs(3);
        for _ in 0..3 {
            size.answered(size.varbinds, quick, timeout);
        }
        assert_eq!(size.varbinds, 242 - 242 / 4, "75 % of the size that failed");
        for _ in 0..99 {
            size.answered(size.varbinds, quick, timeout);
        }
        assert_eq!((size.varbinds, size.failed_at), (182, Some(242)));
        size.answered(size.varbinds, quick, timeout);
        assert_eq!(size.failed_at, Some(303), "lifted after 100 quick replies");
        for _ in 0..3 {
            size.answered(size.varbinds, quick, timeout);
        }
        assert_eq!(size.varbinds, 228, "75 % of the new ceiling");
        // tooBig at one varbind cannot shrink further.
        size.failed(1);
        assert_eq!(size.varbinds, 1);
    }

    #[test]
    fn loss_of_a_request_no_larger_than_a_quick_one_does_not_shrink() {
        let mut size = RequestSize::new(25, 250);
        let timeout = Duration::from_secs(3);
        assert!(size.shrinks_on_timeout(242), "nothing answered yet");
        size.answered(242, Duration::from_millis(20), timeout);
        assert!(
            !size.shrinks_on_timeout(242),
            "242 came back quickly: retry it"
        );
        assert!(size.shrinks_on_timeout(250));
        // A slow reply forgets it: the agent may have become slow.
        size.answered(242, Duration::from_millis(2_000), timeout);
        assert!(size.shrinks_on_timeout(100));
        assert!(!size.shrinks_on_timeout(1), "one varbind cannot shrink");
    }

    #[test]
    fn an_agent_slow_whatever_is_asked_keeps_its_request_size() {
        let mut size = RequestSize::new(25, 250);
        let timeout = Duration::from_secs(2);
        for asked in [2, 242, 242, 33, 242] {
            size.answered(asked, Duration::from_millis(1_500), timeout);
        }
        assert_eq!(size.varbinds, 250);
    }

    #[test]
    fn a_slow_reply_scales_the_budget_to_a_third_of_the_timeout() {
        let mut size = RequestSize::new(25, 250);
        // A fixed latency of 100 ms (the GET at the poll's start), then 2 s for 200
        // varbinds: 9.5 ms per varbind, and 900 ms of room in a third of the timeout.
        size.latency(Duration::from_millis(100));
        size.answered(200, Duration::from_millis(2_000), Duration::from_secs(3));
        assert_eq!(size.varbinds, 94);
        // Between a quarter and a half of the timeout: no change, and no growth streak.
        size.answered(94, Duration::from_millis(1_000), Duration::from_secs(3));
        assert_eq!(size.varbinds, 94);
    }

    /// An agent whose reply time grows with the reply (`per_varbind` each, after 5 ms):
    /// the budget halves on the first timeouts, then settles and never times out again.
    #[test]
    fn a_slow_agent_stops_timing_out_after_the_first_requests() {
        let mut settled_sizes = Vec::new();
        for per_varbind_ms in [2u64, 7, 20, 60, 400, 2_900] {
            let timeout = Duration::from_secs(3);
            let mut size = RequestSize::new(25, 250);
            let mut timeouts = Vec::new();
            for i in 0..1_000 {
                if i % 20 == 0 {
                    // A poll starts with a GET of two scalars.
                    size.latency(Duration::from_millis(5 + 2 * per_varbind_ms));
                }
                let (cols, reps) = size.shape(11);
                let asked = cols as u32 * reps;
                let took = Duration::from_millis(5 + per_varbind_ms * u64::from(asked));
                if took >= timeout {
                    timeouts.push(i);
                    size.failed(asked);
                } else {
                    size.answered(asked, took, timeout);
                }
            }
            // Halving from 250 reaches any size in at most 8 steps.
            assert!(
                timeouts.iter().all(|&i| i < 10),
                "{per_varbind_ms} ms per varbind: timeouts at requests {timeouts:?}"
            );
            let (cols, reps) = size.shape(11);
            let took = 5 + per_varbind_ms * u64::from(cols as u32 * reps);
            assert!(
                took < 1_500 || size.varbinds == 1,
                "{per_varbind_ms} ms per varbind: settled at {took} ms"
            );
            settled_sizes.push(size.varbinds);
        }
        // Each settled where a reply takes less than half the timeout (or at one varbind),
        // its fixed 5 ms left out of the scaling.
        assert_eq!(settled_sizes, [250, 141, 48, 27, 2, 1]);
    }
}
