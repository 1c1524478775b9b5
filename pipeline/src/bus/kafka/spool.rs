//! The disk spool of the Kafka producer: where events go when the memory buffer is full,
//! so that a long broker outage loses nothing up to `[bus] spool_max_bytes`.
//!
//! Order is kept: the memory buffer's *oldest* event moves to the spool's tail, so the
//! spool only holds events older than any in memory, and the sender drains the spool
//! first. Records live in segment files (`<dir>/segment-<n>.spool`, 16 MiB each) with an
//! index in memory; a segment is deleted once read. When the spool is full its oldest
//! record is dropped (the caller counts it). The spool is a buffer for one process's
//! lifetime: it is emptied at start, since its events were never handed to Kafka.

use std::collections::VecDeque;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

const SEGMENT_BYTES: u64 = 16 << 20;

#[derive(Debug)]
struct Segment {
    id: u64,
    file: File,
    size: u64,
    entries: VecDeque<(u64, u32)>,
}

/// A bounded FIFO of byte records on disk.
#[derive(Debug)]
pub(super) struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    bytes: u64,
    next_id: u64,
    segments: VecDeque<Segment>,
}

impl Spool {
    /// Opens (and empties) the spool folder.
    pub(super) fn open(dir: &Path, max_bytes: u64) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        for e in std::fs::read_dir(dir)? {
            let p = e?.path();
            if p.extension().is_some_and(|x| x == "spool") {
                std::fs::remove_file(p)?;
            }
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            max_bytes,
            bytes: 0,
            next_id: 0,
            segments: VecDeque::new(),
        })
    }

    /// Records in the spool.
    pub(super) fn len(&self) -> usize {
        self.segments.iter().map(|s| s.entries.len()).sum()
    }

    /// Appends a record; returns how many of the oldest records were dropped for room.
    pub(super) fn push(&mut self, record: &[u8]) -> std::io::Result<u64> {
        let len = record.len() as u64;
        let mut dropped = 0;
        while self.bytes + len > self.max_bytes && self.pop_entry()?.is_some() {
            dropped += 1;
        }
        if len > self.max_bytes {
            return Ok(dropped + 1); // larger than the whole spool
        }
        let need_new = self
            .segments
            .back()
            .is_none_or(|s| s.size + len > SEGMENT_BYTES);
        if need_new {
            let id = self.next_id;
            self.next_id += 1;
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(true)
                .read(true)
                .write(true)
                .open(self.path(id))?;
            self.segments.push_back(Segment {
                id,
                file,
                size: 0,
                entries: VecDeque::new(),
            });
        }
        let seg = self.segments.back_mut().expect("a segment exists");
        (&seg.file).write_all(record)?;
        seg.entries.push_back((seg.size, record.len() as u32));
        seg.size += len;
        self.bytes += len;
        Ok(dropped)
    }

    /// Takes the oldest record.
    pub(super) fn pop(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        self.pop_entry()
    }

    fn pop_entry(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        loop {
            let Some(seg) = self.segments.front_mut() else {
                return Ok(None);
            };
            if let Some((off, len)) = seg.entries.pop_front() {
                let mut buf = vec![0; len as usize];
                seg.file.read_exact_at(&mut buf, off)?;
                self.bytes -= u64::from(len);
                let done = seg.entries.is_empty();
                if done {
                    self.drop_front()?;
                }
                return Ok(Some(buf));
            }
            self.drop_front()?;
        }
    }

    fn drop_front(&mut self) -> std::io::Result<()> {
        if let Some(seg) = self.segments.pop_front() {
            let path = self.path(seg.id);
            drop(seg);
            std::fs::remove_file(path)?;
        }
        Ok(())
    }

    fn path(&self, id: u64) -> PathBuf {
        self.dir.join(format!("segment-{id:08}.spool"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_in_first_out_bounded_with_drops_counted_and_files_removed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("segment-00000009.spool"), b"stale").unwrap();
        let mut s = Spool::open(dir.path(), 100).unwrap();
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "emptied at open"
        );
        let mut dropped = 0;
        for i in 0..30u8 {
            dropped += s.push(&[i; 10]).unwrap();
        }
        assert_eq!(dropped, 20, "room for 10 records of 10 bytes");
        assert_eq!(s.len(), 10);
        let got: Vec<u8> = std::iter::from_fn(|| s.pop().unwrap())
            .map(|r| r[0])
            .collect();
        assert_eq!(
            got,
            (20..30).collect::<Vec<u8>>(),
            "the newest kept, in order"
        );
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "read segments deleted"
        );
        assert_eq!(
            s.push(&[0; 101]).unwrap(),
            1,
            "a record larger than the spool is dropped"
        );
    }
}
