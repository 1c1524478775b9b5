//! What the producer holds before librdkafka takes it: encoded events ([`Pending`]) in
//! memory or, when one is configured, in the disk spool (every event, write-ahead), and
//! the one event the sender is retrying.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use super::recover::message_hash;
use super::spool::Spool;

/// One encoded event: topic index, key, JSON payload.
pub(super) struct Pending {
    pub(super) topic: usize,
    pub(super) key: Option<Arc<str>>,
    pub(super) payload: Vec<u8>,
    /// Its sequence number, given by [`Buffers::push`] (in the spool, when there is one)
    /// and settled by [`Buffers::done`] on delivery.
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
/// hand over yet, then the spool, then memory. Every event gets a sequence number in
/// publishing order (the spool's, or [`Buffers::next`] in memory) and is *settled* once
/// the brokers acknowledged it, it was given up, or it was dropped for room:
/// [`Buffers::settled_before`] is the lowest sequence number not settled, so that
/// `Bus::sync` waits for exactly the events published before it, whatever order the
/// acknowledgements come back in.
#[derive(Default)]
pub(super) struct Buffers {
    pub(super) held: Option<Pending>,
    pub(super) spool: Option<Spool>,
    pub(super) mem: VecDeque<Pending>,
    /// Recovered records the brokers already hold are skipped ([`super::recover`]).
    pub(super) skip: Option<Skip>,
    /// Without a spool: the sequence number of the next event pushed.
    pub(super) next: u64,
    /// Without a spool: events handed to librdkafka and not yet settled.
    pub(super) in_flight: InFlight,
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

/// The sequence numbers handed to librdkafka and not settled yet. They are handed over in
/// increasing order (with gaps: events dropped for room never are) and settled in any
/// order, so a window of flags from the lowest unsettled one does in O(1) what an ordered
/// set did in O(log n) under the lock that the sender and the delivery reports share.
#[derive(Debug, Default)]
pub(super) struct InFlight {
    /// The sequence number of `unsettled[0]`.
    base: u64,
    /// One flag per sequence number from `base`: true while it is in flight. The front is
    /// always in flight (settled ones are trimmed).
    unsettled: VecDeque<bool>,
}

impl InFlight {
    /// Marks `seq` handed over; `seq` is above every one inserted before.
    pub(super) fn insert(&mut self, seq: u64) {
        if self.unsettled.is_empty() {
            self.base = seq;
        }
        let Some(at) = seq.checked_sub(self.base).map(|d| d as usize) else {
            debug_assert!(false, "sequence {seq} handed over after {}", self.base);
            return;
        };
        if at < self.unsettled.len() {
            self.unsettled[at] = true;
            return;
        }
        // The gap below `seq` holds events that were never handed over.
        self.unsettled.resize(at, false);
        self.unsettled.push_back(true);
    }

    /// Marks `seq` settled; unknown ones are ignored.
    pub(super) fn settle(&mut self, seq: u64) {
        let Some(at) = seq.checked_sub(self.base).map(|d| d as usize) else {
            return;
        };
        if let Some(flag) = self.unsettled.get_mut(at) {
            *flag = false;
        }
        while self.unsettled.front() == Some(&false) {
            self.unsettled.pop_front();
            self.base += 1;
        }
    }

    /// The lowest sequence number in flight.
    pub(super) fn first(&self) -> Option<u64> {
        (!self.unsettled.is_empty()).then_some(self.base)
    }

    /// How many are in flight.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.unsettled.iter().filter(|f| **f).count()
    }
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
        let p = self.mem.pop_front()?;
        if let Some(seq) = p.seq {
            self.in_flight.insert(seq);
        }
        Some(p)
    }

    /// Adds an event: to the spool when there is one (returns the records it dropped for
    /// room), else to memory, dropping the oldest when `capacity` is reached.
    pub(super) fn push(&mut self, mut p: Pending, capacity: usize) -> u64 {
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
                p.seq = Some(self.next);
                self.next += 1;
                self.mem.push_back(p);
                dropped
            }
        }
    }

    /// Marks an event done (delivered, or given up and counted).
    pub(super) fn done(&mut self, seq: Option<u64>) {
        let Some(seq) = seq else { return };
        match self.spool.as_mut() {
            Some(spool) => {
                if let Err(e) = spool.ack(seq) {
                    tracing::error!(error = %e, "cannot write the spool position");
                }
            }
            None => {
                self.in_flight.settle(seq);
            }
        }
    }

    /// The sequence number the next event pushed gets.
    pub(super) fn end(&self) -> u64 {
        self.spool.as_ref().map_or(self.next, Spool::end)
    }

    /// Every event with a lower sequence number is settled: acknowledged, given up or
    /// dropped. Recovered spool records count too (they come first).
    pub(super) fn settled_before(&self) -> u64 {
        match &self.spool {
            Some(spool) => spool.acked(),
            None => [
                self.in_flight.first(),
                self.held.as_ref().and_then(|p| p.seq),
                self.mem.front().and_then(|p| p.seq),
            ]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(self.next),
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

#[cfg(test)]
#[test]
fn settled_before_waits_for_an_earlier_event_acknowledged_after_a_later_one() {
    let event = |n: u8| Pending {
        topic: 0,
        key: None,
        payload: vec![n],
        seq: None,
    };
    let mut q = Buffers::default();
    q.push(event(1), 10);
    q.push(event(2), 10);
    // A checkpoint syncs here: it needs events 1 and 2, not 3.
    let target = q.end();
    q.push(event(3), 10);
    let (a, b, c) = (q.pop().unwrap(), q.pop().unwrap(), q.pop().unwrap());
    assert!(q.settled_before() < target);
    // 3 and 1 come back before 2: as many acknowledgements as the sync waited for, but
    // not the right ones.
    q.done(c.seq);
    q.done(a.seq);
    assert!(q.settled_before() < target, "event 2 is still in flight");
    // 2 retried after a full librdkafka queue is still not settled.
    q.held = Some(b);
    assert!(q.settled_before() < target);
    let b = q.pop().unwrap();
    q.done(b.seq);
    assert!(q.settled_before() >= target);
    // Dropped for room counts as settled (and the sync reports the drop).
    q.push(event(4), 1);
    let target = q.end();
    assert_eq!(q.push(event(5), 1), 1, "4 dropped for 5");
    assert!(q.settled_before() >= target, "4 is settled by its drop");
    let target = q.end();
    assert!(q.settled_before() < target, "5 is not settled yet");
    let e = q.pop().unwrap();
    q.done(e.seq);
    assert!(q.settled_before() >= target);
}

#[cfg(test)]
#[test]
fn in_flight_window_answers_as_an_ordered_set_whatever_the_settling_order() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};
    use std::collections::BTreeSet;
    let mut runner = TestRunner::new(Config::with_cases(2_000));
    // How many cases settled out of order with gaps in the handed-over numbers: the path
    // the window exists for.
    let reordered_with_gaps = std::cell::Cell::new(0u32);
    runner
        .run(
            &(
                proptest::collection::vec((1u64..4, any::<bool>()), 1..60),
                any::<u64>(),
            ),
            |(steps, seed)| {
                let (mut window, mut set) = (InFlight::default(), BTreeSet::new());
                let mut next = 0u64;
                let mut rng = seed;
                let (mut gaps, mut out_of_order) = (false, false);
                for (gap, settle) in steps {
                    next += gap;
                    gaps |= gap > 1;
                    window.insert(next);
                    set.insert(next);
                    if settle && !set.is_empty() {
                        rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1);
                        let pick = *set.iter().nth((rng >> 33) as usize % set.len()).unwrap();
                        out_of_order |= Some(&pick) != set.first();
                        window.settle(pick);
                        set.remove(&pick);
                    }
                    prop_assert_eq!(window.first(), set.first().copied());
                    prop_assert_eq!(window.len(), set.len());
                }
                while let Some(last) = set.pop_last() {
                    window.settle(last);
                    prop_assert_eq!(window.first(), set.first().copied());
                }
                prop_assert_eq!(window.first(), None);
                reordered_with_gaps
                    .set(reordered_with_gaps.get() + u32::from(gaps && out_of_order));
                Ok(())
            },
        )
        .unwrap();
    assert!(
        reordered_with_gaps.get() > 1_000,
        "only {} cases settled out of order with gaps",
        reordered_with_gaps.get()
    );
}
