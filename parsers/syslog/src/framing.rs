//! RFC 6587 framing of a TCP byte stream into syslog messages, detected per frame.
//!
//! A frame that starts with `[1-9][0-9]* SP` (or `0 SP`, an empty frame) is octet-counted (`MSG-LEN SP MSG`); any
//! other frame runs to the next LF (a CR before the LF is dropped too). Both kinds may
//! follow each other on one connection. Line ends and NUL bytes between frames are
//! skipped (rsyslog counts a trailing LF in the octet count, others send it after).
//!
//! Limits: a frame longer than `max` bytes is cut to its first `max` bytes, marked
//! `truncated`, and the rest of it is skipped; at the end of the stream the bytes left
//! (an octet-counted frame cut short, a line without its LF, garbage where a MSG-LEN
//! was expected) are returned as a last frame marked `truncated` too, so nothing is
//! dropped silently.
//!
//! The decoder is pure (no I/O): feed it bytes as they arrive, then take frames.

use bytes::{Buf, Bytes, BytesMut};

/// Longest MSG-LEN accepted as an octet count (more digits means it is not a count).
const MAX_LEN_DIGITS: usize = 9;

/// One message cut out of the stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// The message bytes, without the octet count or the line end.
    pub bytes: Bytes,
    /// The frame is not complete: longer than the limit, or the stream ended inside it.
    pub truncated: bool,
    /// The frame was octet-counted.
    pub octet_counted: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Skip {
    /// Not skipping.
    None,
    /// Skipping this many more bytes of an oversized octet-counted frame.
    Bytes(usize),
    /// Skipping to the next LF (the rest of an oversized line).
    ToNewline,
}

/// Cuts a byte stream into frames.
#[derive(Debug)]
pub struct FrameDecoder {
    buf: BytesMut,
    max: usize,
    skip: Skip,
}

impl FrameDecoder {
    /// A decoder keeping frames of at most `max` bytes whole.
    pub fn new(max: usize) -> Self {
        Self {
            buf: BytesMut::with_capacity(max.min(64 * 1024)),
            max: max.max(1),
            skip: Skip::None,
        }
    }

    /// Appends bytes received from the stream.
    pub fn extend(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Bytes waiting for the rest of their frame.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next complete frame, or `None` when more bytes are needed.
    pub fn next_frame(&mut self) -> Option<Frame> {
        match self.skip {
            Skip::Bytes(n) => {
                let k = n.min(self.buf.len());
                self.buf.advance(k);
                if k < n {
                    self.skip = Skip::Bytes(n - k);
                    return None;
                }
                self.skip = Skip::None;
            }
            Skip::ToNewline => match memchr::memchr(b'\n', &self.buf) {
                Some(i) => {
                    self.buf.advance(i + 1);
                    self.skip = Skip::None;
                }
                None => {
                    self.buf.clear();
                    return None;
                }
            },
            Skip::None => {}
        }
        self.skip_separators();
        if self.buf.is_empty() {
            return None;
        }
        match octet_count(&self.buf) {
            Count::Yes { len, header } => self.counted(len, header),
            Count::NeedMore => None,
            Count::No => self.line(),
        }
    }

    /// Line ends and NUL bytes between frames.
    fn skip_separators(&mut self) {
        let lead = self
            .buf
            .iter()
            .take_while(|b| matches!(b, b'\n' | b'\r' | b'\0'))
            .count();
        self.buf.advance(lead);
    }

    fn counted(&mut self, len: usize, header: usize) -> Option<Frame> {
        if len > self.max {
            if self.buf.len() < header + self.max {
                return None;
            }
            self.buf.advance(header);
            let bytes = self.buf.split_to(self.max).freeze();
            self.skip = Skip::Bytes(len - self.max);
            return Some(Frame {
                bytes,
                truncated: true,
                octet_counted: true,
            });
        }
        if self.buf.len() < header + len {
            return None;
        }
        self.buf.advance(header);
        let mut bytes = self.buf.split_to(len).freeze();
        // rsyslog's octet count includes a trailing LF: it is framing, not message.
        if bytes.last() == Some(&b'\n') {
            bytes.truncate(bytes.len() - 1);
        }
        Some(Frame {
            bytes,
            truncated: false,
            octet_counted: true,
        })
    }

    fn line(&mut self) -> Option<Frame> {
        match memchr::memchr(b'\n', &self.buf) {
            Some(i) if i <= self.max => {
                let mut bytes = self.buf.split_to(i + 1).freeze();
                bytes.truncate(i);
                if bytes.last() == Some(&b'\r') {
                    bytes.truncate(i - 1);
                }
                Some(Frame {
                    bytes,
                    truncated: false,
                    octet_counted: false,
                })
            }
            Some(_) => Some(self.cut_line()),
            None if self.buf.len() > self.max => Some(self.cut_line()),
            None => None,
        }
    }

    fn cut_line(&mut self) -> Frame {
        let bytes = self.buf.split_to(self.max).freeze();
        self.skip = Skip::ToNewline;
        Frame {
            bytes,
            truncated: true,
            octet_counted: false,
        }
    }

    /// At the end of the stream: whatever remains, as a last frame marked `truncated`.
    pub fn finish(&mut self) -> Option<Frame> {
        if let Some(f) = self.next_frame() {
            return Some(f);
        }
        if self.skip != Skip::None {
            self.buf.clear();
            return None;
        }
        self.skip_separators();
        if self.buf.is_empty() {
            return None;
        }
        let octet_counted = match octet_count(&self.buf) {
            Count::Yes { header, .. } => {
                self.buf.advance(header);
                true
            }
            _ => false,
        };
        // Only a few MSG-LEN digits can be longer than a tiny limit: cut like any frame.
        let bytes = self.buf.split_to(self.buf.len().min(self.max)).freeze();
        self.buf.clear();
        Some(Frame {
            bytes,
            truncated: true,
            octet_counted,
        })
    }
}

enum Count {
    Yes { len: usize, header: usize },
    NeedMore,
    No,
}

/// Whether `buf` starts with an octet count `[1-9][0-9]{0,8} SP` (or `0 SP`).
fn octet_count(buf: &[u8]) -> Count {
    match buf {
        // A zero-length frame (`0 SP`): not RFC 6587, but some senders write empty
        // messages; it is kept as an empty record so counts stay exact.
        [b'0', b' ', ..] => return Count::Yes { len: 0, header: 2 },
        [b'0'] => return Count::NeedMore,
        [b'1'..=b'9', ..] => {}
        _ => return Count::No,
    }
    let digits = buf.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits > MAX_LEN_DIGITS {
        return Count::No;
    }
    match buf.get(digits) {
        None => Count::NeedMore,
        Some(b' ') => {
            let len = buf[..digits]
                .iter()
                .fold(0usize, |n, d| n * 10 + usize::from(d - b'0'));
            Count::Yes {
                len,
                header: digits + 1,
            }
        }
        Some(_) => Count::No,
    }
}

#[cfg(test)]
mod tests;
