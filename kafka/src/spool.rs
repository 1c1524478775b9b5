//! The disk spool of the Kafka producer: a write-ahead log of every event, so that a
//! broker outage, a clean stop or a `kill -9` loses nothing up to `[bus] spool_max_bytes`.
//!
//! - Every event is appended ([`Spool::push`]) before `publish` returns; the sender reads
//!   events in order ([`Spool::take`]) and hands them to librdkafka; a record counts as
//!   done when the brokers acknowledge it ([`Spool::ack`]). The *acknowledged position*
//!   (every record before it is done) is written to `<dir>/position` after each advance,
//!   so a restart neither loses an unacknowledged record nor sends an acknowledged one
//!   again.
//! - Records are framed `[len u32 LE][crc32 u32 LE][payload]` in segment files
//!   `<dir>/segment-<first sequence number>.spool` (16 MiB each). On open, the segments
//!   are read back; a frame that is short or fails its checksum (a torn write at a
//!   `kill -9`) is logged and the segment is cut there ([`Recovery`]).
//! - Bounded: when the records not yet handed over exceed `max_bytes`, the oldest of them
//!   are dropped (the caller counts them). A segment is deleted once every record in it
//!   is done.

use std::collections::{BTreeSet, VecDeque};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

const SEGMENT_BYTES: u64 = 16 << 20;
const HEADER: u64 = 8;

#[derive(Debug)]
struct Segment {
    first: u64,
    file: File,
    size: u64,
    /// (offset of the payload, payload length) of record `first + i`.
    entries: Vec<(u64, u32)>,
}

impl Segment {
    fn end(&self) -> u64 {
        self.first + self.entries.len() as u64
    }
}

/// What [`Spool::open`] found on disk.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Recovery {
    /// Records not yet acknowledged, to be sent first.
    pub(super) records: u64,
    /// Segments cut at a bad frame: (file, byte offset of the cut, bytes cut off).
    pub(super) torn: Vec<(PathBuf, u64, u64)>,
}

/// A bounded FIFO of byte records on disk with an acknowledged position.
#[derive(Debug)]
pub(super) struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    segments: VecDeque<Segment>,
    /// Next sequence number to append.
    end: u64,
    /// Next sequence number to hand over.
    sent: u64,
    /// Bytes (with framing) of the records in `sent..end`.
    unsent_bytes: u64,
    /// Handed over, not yet acknowledged.
    open: BTreeSet<u64>,
    /// Every record before this one is done (persisted in `position`).
    acked: u64,
    position: File,
    /// First sequence number appended by this process.
    recovered_end: u64,
    /// The acknowledged position at open: the first recovered record.
    recovered_start: u64,
}

impl Spool {
    /// Opens the spool folder and recovers what a previous process left.
    pub(super) fn open(dir: &Path, max_bytes: u64) -> std::io::Result<(Self, Recovery)> {
        std::fs::create_dir_all(dir)?;
        let position = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(dir.join("position"))?;
        let mut buf = [0u8; 12];
        let acked = match position.read_exact_at(&mut buf, 0) {
            Ok(()) if crc32fast::hash(&buf[..8]).to_le_bytes() == buf[8..] => {
                Some(u64::from_le_bytes(buf[..8].try_into().expect("8 bytes")))
            }
            _ => None,
        };
        let mut firsts: Vec<u64> = Vec::new();
        for e in std::fs::read_dir(dir)? {
            let name = e?.file_name();
            let name = name.to_string_lossy();
            if let Some(n) = name
                .strip_prefix("segment-")
                .and_then(|n| n.strip_suffix(".spool"))
                .and_then(|n| n.parse().ok())
            {
                firsts.push(n);
            }
        }
        firsts.sort_unstable();
        if acked.is_none() && !firsts.is_empty() {
            tracing::warn!(dir = %dir.display(), "spool position missing or damaged: every spooled record is sent again");
        }
        let acked = acked.unwrap_or_else(|| firsts.first().copied().unwrap_or(0));
        let mut spool = Self {
            dir: dir.to_path_buf(),
            max_bytes,
            segments: VecDeque::new(),
            end: acked,
            sent: acked,
            unsent_bytes: 0,
            open: BTreeSet::new(),
            acked,
            position,
            recovered_end: acked,
            recovered_start: acked,
        };
        let mut recovery = Recovery::default();
        for first in firsts {
            let path = spool.path(first);
            let file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(&path)?;
            let seg = read_segment(first, file, &path, &mut recovery)?;
            if seg.end() <= acked {
                std::fs::remove_file(&path)?;
                continue;
            }
            for (i, (_, len)) in seg.entries.iter().enumerate() {
                if seg.first + i as u64 >= acked {
                    spool.unsent_bytes += HEADER + u64::from(*len);
                    recovery.records += 1;
                }
            }
            spool.end = spool.end.max(seg.end());
            spool.segments.push_back(seg);
        }
        spool.recovered_end = spool.end;
        spool.save_position()?;
        Ok((spool, recovery))
    }

    /// Records not yet handed over.
    pub(super) fn len(&self) -> usize {
        self.segments
            .iter()
            .map(|s| s.end().saturating_sub(self.sent.max(s.first)) as usize)
            .sum()
    }

    /// Records handed over and not yet acknowledged.
    pub(super) fn in_flight(&self) -> usize {
        self.open.len()
    }

    /// The sequence numbers recovered at open.
    pub(super) fn recovered(&self) -> std::ops::Range<u64> {
        self.recovered_start..self.recovered_end
    }

    /// Whether `seq` was spooled by an earlier process (recovered at open).
    pub(super) fn is_recovered(&self, seq: u64) -> bool {
        seq < self.recovered_end
    }

    /// Appends a record; returns how many of the oldest records not yet handed over were
    /// dropped for room (1 for the record itself when it is larger than the spool).
    pub(super) fn push(&mut self, record: &[u8]) -> std::io::Result<u64> {
        let frame = HEADER + record.len() as u64;
        if frame > self.max_bytes {
            return Ok(1);
        }
        let mut dropped = 0;
        while self.unsent_bytes + frame > self.max_bytes && self.sent < self.end {
            if let Some(len) = self.entry(self.sent).map(|(_, l)| l) {
                self.unsent_bytes -= HEADER + u64::from(len);
                dropped += 1;
            }
            self.sent += 1;
        }
        if dropped > 0 {
            self.advance()?;
        }
        if self
            .segments
            .back()
            .is_none_or(|s| s.size + frame > SEGMENT_BYTES || s.end() != self.end)
        {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(true)
                .read(true)
                .write(true)
                .open(self.path(self.end))?;
            self.segments.push_back(Segment {
                first: self.end,
                file,
                size: 0,
                entries: Vec::new(),
            });
        }
        let seg = self.segments.back_mut().expect("a segment exists");
        let mut out = Vec::with_capacity(frame as usize);
        out.extend_from_slice(&(record.len() as u32).to_le_bytes());
        out.extend_from_slice(&crc32fast::hash(record).to_le_bytes());
        out.extend_from_slice(record);
        seg.file.write_all_at(&out, seg.size)?;
        seg.entries.push((seg.size + HEADER, record.len() as u32));
        seg.size += frame;
        self.unsent_bytes += frame;
        self.end += 1;
        Ok(dropped)
    }

    /// Hands over the oldest record not yet handed over: (sequence number, bytes). It
    /// stays on disk until [`Spool::ack`].
    pub(super) fn take(&mut self) -> std::io::Result<Option<(u64, Vec<u8>)>> {
        while self.sent < self.end {
            let seq = self.sent;
            self.sent += 1;
            let Some(seg) = self
                .segments
                .iter()
                .find(|s| s.first <= seq && seq < s.end())
            else {
                continue; // a gap left by a cut segment
            };
            let (off, len) = seg.entries[(seq - seg.first) as usize];
            let mut buf = vec![0; len as usize];
            seg.file.read_exact_at(&mut buf, off)?;
            self.unsent_bytes -= HEADER + u64::from(len);
            self.open.insert(seq);
            return Ok(Some((seq, buf)));
        }
        Ok(None)
    }

    /// The sequence number the next record appended gets.
    pub(super) fn end(&self) -> u64 {
        self.end
    }

    /// The acknowledged position: every record before it is done.
    pub(super) fn acked(&self) -> u64 {
        self.acked
    }

    /// Marks a handed-over record done (acknowledged, or given up and counted).
    pub(super) fn ack(&mut self, seq: u64) -> std::io::Result<()> {
        if self.open.remove(&seq) {
            self.advance()?;
        }
        Ok(())
    }

    fn entry(&self, seq: u64) -> Option<(u64, u32)> {
        let seg = self
            .segments
            .iter()
            .find(|s| s.first <= seq && seq < s.end())?;
        Some(seg.entries[(seq - seg.first) as usize])
    }

    /// Moves the acknowledged position, persists it, deletes segments wholly done.
    fn advance(&mut self) -> std::io::Result<()> {
        let acked = self.open.first().copied().unwrap_or(self.sent);
        if acked == self.acked {
            return Ok(());
        }
        self.acked = acked;
        self.save_position()?;
        while let Some(seg) = self.segments.front() {
            if seg.end() > acked || (self.segments.len() == 1 && seg.end() == self.end) {
                break;
            }
            let path = self.path(seg.first);
            self.segments.pop_front();
            std::fs::remove_file(path)?;
        }
        Ok(())
    }

    fn save_position(&self) -> std::io::Result<()> {
        let mut buf = [0u8; 12];
        buf[..8].copy_from_slice(&self.acked.to_le_bytes());
        let crc = crc32fast::hash(&buf[..8]);
        buf[8..].copy_from_slice(&crc.to_le_bytes());
        self.position.write_all_at(&buf, 0)
    }

    fn path(&self, first: u64) -> PathBuf {
        self.dir.join(format!("segment-{first:020}.spool"))
    }
}

/// Reads a segment's frames; cuts the file at the first bad one.
fn read_segment(
    first: u64,
    file: File,
    path: &Path,
    recovery: &mut Recovery,
) -> std::io::Result<Segment> {
    let bytes = std::fs::read(path)?;
    let mut entries = Vec::new();
    let mut at = 0usize;
    let mut reason = None;
    while at < bytes.len() {
        let Some(h) = bytes.get(at..at + HEADER as usize) else {
            reason = Some("short frame header");
            break;
        };
        let len = u32::from_le_bytes(h[..4].try_into().expect("4 bytes")) as usize;
        let crc = u32::from_le_bytes(h[4..].try_into().expect("4 bytes"));
        let start = at + HEADER as usize;
        let Some(payload) = bytes.get(start..start + len) else {
            reason = Some("short record");
            break;
        };
        if crc32fast::hash(payload) != crc {
            reason = Some("checksum mismatch");
            break;
        }
        entries.push((start as u64, len as u32));
        at = start + len;
    }
    if let Some(reason) = reason {
        let cut = (bytes.len() - at) as u64;
        tracing::warn!(file = %path.display(), offset = at, bytes = cut, reason, "torn spool record cut off (an interrupted write)");
        file.set_len(at as u64)?;
        recovery.torn.push((path.to_path_buf(), at as u64, cut));
    }
    Ok(Segment {
        first,
        file,
        size: at as u64,
        entries,
    })
}

#[cfg(test)]
mod tests;
