//! Table walks: several columns at once with GETBULK (v2c, v3) or one by one with
//! GETNEXT (v1), with adaptive max-repetitions, a cap on varbinds per request, a row
//! limit and detection of OID loops.
//!
//! The reply handling ([`TableWalk::absorb`]) is pure and tested without a network.

use std::time::{Duration, Instant};

use super::session::{Request, Session, SnmpError, error_status_name};
use super::value::{Oid, Value, VarBind};

/// Limits of walks.
#[derive(Clone, Copy, Debug)]
pub struct WalkLimits {
    /// Most varbinds asked for in one request (columns x max-repetitions).
    pub max_varbinds: u32,
    /// Most rows one column may have.
    pub max_rows: usize,
}

/// Adaptive max-repetitions of one device: halves on tooBig or a timeout, grows by
/// half while replies come back quickly.
#[derive(Clone, Copy, Debug)]
pub struct Repetitions {
    /// Current value.
    pub current: u32,
    /// Upper bound.
    pub max: u32,
}

impl Repetitions {
    /// Starts at `start`, never above `max`.
    pub fn new(start: u32, max: u32) -> Self {
        Self {
            current: start.clamp(1, max.max(1)),
            max: max.max(1),
        }
    }

    /// After a tooBig or a timeout.
    pub fn shrink(&mut self) {
        self.current = (self.current / 2).max(1);
    }

    /// After a reply that took `took` with a per-attempt `timeout`.
    pub fn observe(&mut self, took: Duration, timeout: Duration) {
        if took < timeout / 10 {
            self.current = (self.current + self.current / 2 + 1).min(self.max);
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

/// Walks `columns`; returns the rows of each column. GETBULK unless the session is v1.
pub async fn walk(
    session: &mut Session,
    columns: &[Oid],
    reps: &mut Repetitions,
    limits: WalkLimits,
    timeout: Duration,
) -> Result<Vec<Vec<VarBind>>, SnmpError> {
    let addr = session.addr();
    let mut w = TableWalk::new(columns, limits.max_rows);
    let mut shrink_retries = 0;
    loop {
        let active = w.active();
        if active.is_empty() {
            return Ok(w.rows);
        }
        let cursors = w.cursors(&active);
        if session.is_v1() {
            // One column at a time: GETNEXT takes one OID in snmp2.
            let c = active[0];
            let reply = session.request(Request::GetNext(&cursors[0])).await?;
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
        let per_column = (limits.max_varbinds / active.len() as u32).max(1);
        let r = reps.current.min(per_column);
        let started = Instant::now();
        let reply = match session.request(Request::GetBulk(&cursors, r)).await {
            Ok(reply) => reply,
            Err(SnmpError::Timeout { .. }) if r > 1 && shrink_retries < 3 => {
                // Large replies may be lost where small ones pass: ask for less.
                shrink_retries += 1;
                reps.shrink();
                continue;
            }
            Err(e) => return Err(e),
        };
        match reply.error_status {
            0 => {
                reps.observe(started.elapsed(), timeout);
                w.absorb(&active, reply.varbinds, addr)?;
            }
            1 if r > 1 => reps.shrink(),
            s => {
                return Err(SnmpError::Agent {
                    addr,
                    status: s,
                    name: error_status_name(s),
                    index: reply.error_index,
                });
            }
        }
    }
}

/// GETs `oids`; a value is `None` when the agent has no such object or instance.
pub async fn get(session: &mut Session, oids: &[Oid]) -> Result<Vec<Option<Value>>, SnmpError> {
    let addr = session.addr();
    let reply = session.request(Request::Get(oids)).await?;
    if reply.error_status == 2 && session.is_v1() {
        // v1: one missing object fails the whole GET; fall back to one by one.
        let mut out = Vec::with_capacity(oids.len());
        for o in oids {
            let r = session
                .request(Request::Get(std::slice::from_ref(o)))
                .await?;
            out.push(r.varbinds.into_iter().next().map(|v| v.value));
        }
        return Ok(out);
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
    Ok(out)
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
    fn repetitions_adapt() {
        let mut r = Repetitions::new(10, 50);
        r.shrink();
        assert_eq!(r.current, 5);
        r.observe(Duration::from_millis(1), Duration::from_secs(1));
        assert_eq!(r.current, 8);
        for _ in 0..20 {
            r.observe(Duration::from_millis(1), Duration::from_secs(1));
        }
        assert_eq!(r.current, 50);
        r.observe(Duration::from_millis(500), Duration::from_secs(1));
        assert_eq!(r.current, 50);
        for _ in 0..10 {
            r.shrink();
        }
        assert_eq!(r.current, 1);
    }
}
