//! What the producer holds before librdkafka takes it: encoded events ([`Pending`]) in
//! memory, in the optional disk spool, and the one event the sender is retrying.

use std::collections::VecDeque;
use std::sync::Arc;

use super::spool::Spool;

/// One encoded event: topic index, key, JSON payload.
pub(super) struct Pending {
    pub(super) topic: usize,
    pub(super) key: Option<Arc<str>>,
    pub(super) payload: Vec<u8>,
}

impl Pending {
    fn encode(&self) -> Vec<u8> {
        let key = self.key.as_deref().map(str::as_bytes);
        let klen = key.map_or(u16::MAX, |k| k.len().min(u16::MAX as usize - 1) as u16);
        let mut out = Vec::with_capacity(3 + usize::from(klen) + self.payload.len());
        out.push(self.topic as u8);
        out.extend_from_slice(&klen.to_le_bytes());
        if let Some(k) = key {
            out.extend_from_slice(&k[..usize::from(klen)]);
        }
        out.extend_from_slice(&self.payload);
        out
    }

    fn decode(b: &[u8]) -> Option<Pending> {
        let topic = usize::from(*b.first()?);
        let klen = u16::from_le_bytes([*b.get(1)?, *b.get(2)?]);
        let (key, rest) = if klen == u16::MAX {
            (None, b.get(3..)?)
        } else {
            let end = 3 + usize::from(klen);
            let k = std::str::from_utf8(b.get(3..end)?).ok()?;
            (Some(Arc::from(k)), b.get(end..)?)
        };
        Some(Pending {
            topic,
            key,
            payload: rest.to_vec(),
        })
    }
}

/// What waits to be handed to librdkafka, oldest first: the event the sender could not
/// hand over yet, then the spool, then memory.
#[derive(Default)]
pub(super) struct Buffers {
    pub(super) held: Option<Pending>,
    pub(super) spool: Option<Spool>,
    pub(super) mem: VecDeque<Pending>,
}

impl Buffers {
    pub(super) fn len(&self) -> usize {
        usize::from(self.held.is_some())
            + self.spool.as_ref().map_or(0, Spool::len)
            + self.mem.len()
    }

    pub(super) fn pop(&mut self) -> Option<Pending> {
        if let Some(p) = self.held.take() {
            return Some(p);
        }
        if let Some(spool) = self.spool.as_mut().filter(|s| s.len() > 0) {
            match spool.pop() {
                Ok(Some(b)) => match Pending::decode(&b) {
                    Some(p) => return Some(p),
                    None => tracing::error!("corrupt spool record skipped"),
                },
                Ok(None) => {}
                Err(e) => tracing::error!(error = %e, "cannot read the spool"),
            }
        }
        self.mem.pop_front()
    }

    /// Makes room in memory: the oldest event goes to the spool, or is dropped. Returns
    /// the number of events dropped.
    pub(super) fn evict_oldest(&mut self) -> u64 {
        let Some(p) = self.mem.pop_front() else {
            return 0;
        };
        match self.spool.as_mut() {
            Some(spool) => match spool.push(&p.encode()) {
                Ok(dropped) => dropped,
                Err(e) => {
                    tracing::error!(error = %e, "cannot write to the spool; event dropped");
                    1
                }
            },
            None => 1,
        }
    }
}

#[cfg(test)]
#[test]
fn pending_round_trips_through_the_spool_encoding() {
    for key in [None, Some(Arc::from("dev-1")), Some(Arc::from(""))] {
        let p = Pending {
            topic: 3,
            key: key.clone(),
            payload: b"{\"x\":1}".to_vec(),
        };
        let back = Pending::decode(&p.encode()).unwrap();
        assert_eq!((back.topic, back.key, back.payload), (3, key, p.payload));
    }
}
