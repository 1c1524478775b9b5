//! What the producer holds before librdkafka takes it: encoded events ([`Pending`]) in
//! memory or, when one is configured, in the disk spool (every event, write-ahead), and
//! the one event the sender is retrying.

use std::collections::VecDeque;
use std::sync::Arc;

use std::collections::HashSet;

use super::recover::message_hash;
use super::spool::Spool;

/// One encoded event: topic index, key, JSON payload.
pub(super) struct Pending {
    pub(super) topic: usize,
    pub(super) key: Option<Arc<str>>,
    pub(super) payload: Vec<u8>,
    /// Sequence number in the spool, acknowledged there on delivery.
    pub(super) seq: Option<u64>,
}

impl Pending {
    pub(super) fn encode(&self) -> Vec<u8> {
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
            seq: None,
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
    /// Recovered records the brokers already hold are skipped ([`super::recover`]).
    pub(super) skip: Option<Skip>,
}

/// Which recovered spool records to compare with the brokers' newest messages.
pub(super) struct Skip {
    /// Hashes of the newest messages of each partition.
    pub(super) held_by_brokers: HashSet<u64>,
    /// Records below this sequence number are compared.
    pub(super) below: u64,
    /// Topic names by index.
    pub(super) names: Vec<String>,
    /// Records skipped so far.
    pub(super) skipped: u64,
}

impl Skip {
    /// Whether a recovered record is already in Kafka.
    fn already_sent(&mut self, seq: u64, p: &Pending) -> bool {
        if seq >= self.below {
            return false;
        }
        let name = self.names.get(p.topic).map_or("", String::as_str);
        let h = message_hash(name, p.key.as_deref().map(str::as_bytes), &p.payload);
        let hit = self.held_by_brokers.contains(&h);
        self.skipped += u64::from(hit);
        hit
    }
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
        if let Some(spool) = self.spool.as_mut() {
            loop {
                match spool.take() {
                    Ok(Some((seq, b))) => match Pending::decode(&b) {
                        Some(p) if self.skip.as_mut().is_some_and(|s| s.already_sent(seq, &p)) => {
                            if let Err(e) = spool.ack(seq) {
                                tracing::error!(error = %e, "cannot write the spool position");
                            }
                        }
                        Some(mut p) => {
                            p.seq = Some(seq);
                            return Some(p);
                        }
                        None => {
                            // The checksum matched, so this is not a torn write.
                            tracing::error!(seq, "spool record that is not an event skipped");
                            if let Err(e) = spool.ack(seq) {
                                tracing::error!(error = %e, "cannot write the spool position");
                            }
                        }
                    },
                    Ok(None) => break,
                    Err(e) => {
                        tracing::error!(error = %e, "cannot read the spool");
                        break;
                    }
                }
            }
        }
        self.mem.pop_front()
    }

    /// Adds an event: to the spool when there is one (returns the records it dropped for
    /// room), else to memory, dropping the oldest when `capacity` is reached.
    pub(super) fn push(&mut self, p: Pending, capacity: usize) -> u64 {
        match self.spool.as_mut() {
            Some(spool) => match spool.push(&p.encode()) {
                Ok(dropped) => dropped,
                Err(e) => {
                    tracing::error!(error = %e, "cannot write to the spool; event dropped");
                    1
                }
            },
            None => {
                let dropped =
                    u64::from(self.mem.len() >= capacity && self.mem.pop_front().is_some());
                self.mem.push_back(p);
                dropped
            }
        }
    }

    /// Marks a spooled event done (delivered, or given up and counted).
    pub(super) fn done(&mut self, seq: Option<u64>) {
        if let (Some(seq), Some(spool)) = (seq, self.spool.as_mut())
            && let Err(e) = spool.ack(seq)
        {
            tracing::error!(error = %e, "cannot write the spool position");
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
            seq: None,
        };
        let back = Pending::decode(&p.encode()).unwrap();
        assert_eq!((back.topic, back.key, back.payload), (3, key, p.payload));
    }
}
