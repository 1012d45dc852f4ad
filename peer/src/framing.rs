//! Newline-delimited frames with the 131,072-byte line limit enforced while reading
//! (PROTOCOL.md §2): the reader never holds more than `MAX_LINE_BYTES + 1` bytes of one line,
//! and fails as soon as it has that many without a newline.
//!
//! The buffer starts empty, grows on demand and is released whenever every received byte has
//! been handed out, so an idle connection holds no read buffer.
//!
//! After the handshake a line must also be finished in time once its first byte has arrived
//! ([`LineReader::set_line_deadline`], PROTOCOL.md §9.2): the reader remembers when the line
//! began and bounds only the reads that continue a begun line, so waiting between lines needs
//! no timer and a burst whose reads complete at once never registers one.

use std::time::{Duration, Instant};

use crypto_core::wire::MAX_LINE_BYTES;
use tokio::io::{AsyncRead, AsyncReadExt};

/// First allocation, and the size the buffer shrinks back to.
const INITIAL_CAPACITY: usize = 4 * 1024;

/// The largest first allocation for a connection that keeps filling its buffer: one read
/// then takes a whole burst of small frames (fewer system calls and store wake-ups).
const BURST_CAPACITY: usize = 64 * 1024;

/// The most bytes of one line the reader will ever hold.
const LIMIT: usize = MAX_LINE_BYTES + 1;

/// Why no line could be read.
#[derive(Debug, thiserror::Error)]
pub enum LineError {
    /// More than 131,072 bytes arrived without a newline.
    #[error("line exceeds {MAX_LINE_BYTES} bytes")]
    TooLong,
    /// A begun line was not finished within the line deadline.
    #[error("partial line deadline: a line begun {} ms ago is not finished", .0.as_millis())]
    Deadline(Duration),
    /// The connection ended in the middle of a line.
    #[error("connection closed in the middle of a line")]
    TruncatedLine,
    /// A socket error.
    #[error("read error: {0}")]
    Io(#[from] std::io::Error),
}

/// Reads `\n`-terminated lines from `R` with a hard cap on line length.
pub struct LineReader<R> {
    inner: R,
    buf: Vec<u8>,
    /// Start of unconsumed data.
    start: usize,
    /// End of valid data.
    end: usize,
    /// Bytes in `start..scanned` are known not to contain a newline.
    scanned: usize,
    /// Offset of a line handed out by `next_line`, consumed on the next call.
    pending_consume: usize,
    /// Size of the next fresh allocation: doubles while reads fill the buffer, back to
    /// `INITIAL_CAPACITY` when one does not.
    fresh_capacity: usize,
    /// When the first byte of the unfinished line after the last one handed out arrived.
    partial_since: Option<Instant>,
    /// When the last read returned data.
    last_read: Option<Instant>,
    /// How long a begun line may take to finish; `None` during the handshake.
    line_deadline: Option<Duration>,
}

impl<R: AsyncRead + Unpin> LineReader<R> {
    /// Wraps a reader; allocates nothing until data arrives.
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            buf: Vec::new(),
            start: 0,
            end: 0,
            scanned: 0,
            pending_consume: 0,
            fresh_capacity: INITIAL_CAPACITY,
            partial_since: None,
            last_read: None,
            line_deadline: None,
        }
    }

    /// From now on, a line whose first byte has arrived must be finished within `deadline`,
    /// or [`LineError::Deadline`].
    pub fn set_line_deadline(&mut self, deadline: Duration) {
        self.line_deadline = Some(deadline);
    }

    /// When the first byte of a line not yet complete arrived; `None` between lines. Bytes
    /// that came in the same read as the previous line's end count from when that line was
    /// handed out.
    pub fn partial_line_since(&self) -> Option<Instant> {
        self.partial_since
    }

    /// Bytes received but not yet returned as a line (for tests and diagnostics).
    pub fn buffered(&self) -> usize {
        self.end - self.start
    }

    /// Whether a whole line is already buffered, i.e. `next_line` would not read the socket.
    pub fn has_buffered_line(&self) -> bool {
        let from = self.pending_consume.max(self.start);
        memchr::memchr(b'\n', &self.buf[from..self.end]).is_some()
    }

    /// The next line without its `\n`, or `None` on a clean end of stream (between lines).
    pub async fn next_line(&mut self) -> Result<Option<&[u8]>, LineError> {
        self.start = self.pending_consume.max(self.start);
        self.pending_consume = 0;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
            self.scanned = 0;
            // Everything was consumed: an idle connection keeps no buffer. (The next read
            // allocates again; one allocation per read is cheap next to the system call.)
            self.buf = Vec::new();
        }
        let newline = loop {
            if let Some(pos) = memchr::memchr(b'\n', &self.buf[self.scanned..self.end]) {
                break self.scanned + pos;
            }
            self.scanned = self.end;
            let held = self.end - self.start;
            if held >= LIMIT {
                return Err(LineError::TooLong);
            }
            self.make_room();
            // Never read past the limit of the current line.
            let want = (self.buf.len() - self.end).min(LIMIT - held);
            let line_due = match (self.line_deadline, self.partial_since) {
                (Some(limit), Some(since)) if held > 0 => Some((limit, since + limit)),
                _ => None,
            };
            let read = self.inner.read(&mut self.buf[self.end..self.end + want]);
            let n = match line_due {
                Some((limit, due)) => tokio::time::timeout_at(due.into(), read)
                    .await
                    .map_err(|_| LineError::Deadline(limit))??,
                None => read.await?,
            };
            if n == 0 {
                return if held == 0 {
                    Ok(None)
                } else {
                    Err(LineError::TruncatedLine)
                };
            }
            let now = Instant::now();
            self.last_read = Some(now);
            if held == 0 {
                self.partial_since = Some(now);
            }
            self.end += n;
            // Only a full read of a whole fresh-sized space means a burst; filling the few
            // bytes left after a compaction does not.
            self.fresh_capacity = if n == want && want >= self.fresh_capacity / 2 {
                (self.fresh_capacity * 2).min(BURST_CAPACITY)
            } else {
                INITIAL_CAPACITY
            };
        };
        let line_start = self.start;
        self.pending_consume = newline + 1;
        self.scanned = newline + 1;
        // Whatever follows this line arrived by the last read at the latest (one clock reading
        // per read, none per line).
        self.partial_since = if newline + 1 < self.end {
            self.last_read
        } else {
            None
        };
        Ok(Some(&self.buf[line_start..newline]))
    }

    /// Ensures there is free space after `end`: compacts, then grows (up to the limit).
    fn make_room(&mut self) {
        if self.end < self.buf.len() {
            return;
        }
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.scanned -= self.start;
            self.start = 0;
            if self.end < self.buf.len() {
                return;
            }
        }
        let new_len = (self.buf.len() * 2).clamp(self.fresh_capacity, LIMIT);
        self.buf.resize(new_len.max(self.end + 1), 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    async fn lines_of(input: Vec<u8>) -> (Vec<Vec<u8>>, Option<String>) {
        let (mut a, b) = tokio::io::duplex(1 << 20);
        tokio::spawn(async move {
            let _ = a.write_all(&input).await;
        });
        let mut reader = LineReader::new(b);
        let mut out = Vec::new();
        loop {
            match reader.next_line().await {
                Ok(Some(line)) => out.push(line.to_vec()),
                Ok(None) => return (out, None),
                Err(e) => return (out, Some(e.to_string())),
            }
        }
    }

    #[tokio::test]
    async fn splits_lines_across_reads() {
        let mut input = Vec::new();
        for i in 0..2000 {
            input.extend_from_slice(format!("line number {i}\n").as_bytes());
        }
        let (lines, err) = lines_of(input).await;
        assert!(err.is_none());
        assert_eq!(lines.len(), 2000);
        assert_eq!(lines[1999], b"line number 1999");
    }

    #[tokio::test]
    async fn accepts_a_line_of_exactly_the_limit() {
        let mut input = vec![b'a'; MAX_LINE_BYTES];
        input.push(b'\n');
        input.extend_from_slice(b"next\n");
        let (lines, err) = lines_of(input).await;
        assert!(err.is_none(), "{err:?}");
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].len(), MAX_LINE_BYTES);
        assert_eq!(lines[1], b"next");
    }

    #[tokio::test]
    async fn rejects_one_byte_more_without_reading_further() {
        let (mut a, b) = tokio::io::duplex(1 << 20);
        let mut input = b"ok\n".to_vec();
        input.extend(vec![b'a'; MAX_LINE_BYTES + 50_000]);
        a.write_all(&input).await.unwrap();
        let mut reader = LineReader::new(b);
        assert_eq!(reader.next_line().await.unwrap().unwrap(), b"ok");
        assert!(matches!(reader.next_line().await, Err(LineError::TooLong)));
        assert_eq!(reader.buffered(), MAX_LINE_BYTES + 1);
    }

    #[tokio::test]
    async fn knows_whether_a_whole_line_is_buffered() {
        let (mut a, b) = tokio::io::duplex(1 << 16);
        a.write_all(b"one\ntwo\nthr").await.unwrap();
        let mut reader = LineReader::new(b);
        assert!(!reader.has_buffered_line());
        assert_eq!(reader.next_line().await.unwrap().unwrap(), b"one");
        assert!(reader.has_buffered_line());
        assert_eq!(reader.next_line().await.unwrap().unwrap(), b"two");
        assert!(
            !reader.has_buffered_line(),
            "only part of the third line is here"
        );
        a.write_all(b"ee\n").await.unwrap();
        assert_eq!(reader.next_line().await.unwrap().unwrap(), b"three");
        assert!(!reader.has_buffered_line());
    }

    #[tokio::test]
    async fn remembers_when_an_unfinished_line_began() {
        let (mut a, b) = tokio::io::duplex(1 << 16);
        let mut reader = LineReader::new(b);
        assert_eq!(reader.partial_line_since(), None);
        a.write_all(b"one\ntw").await.unwrap();
        let before = Instant::now();
        assert_eq!(reader.next_line().await.unwrap().unwrap(), b"one");
        let since = reader.partial_line_since().expect("a line has begun");
        assert!(since <= Instant::now());
        a.write_all(b"o\n").await.unwrap();
        assert_eq!(reader.next_line().await.unwrap().unwrap(), b"two");
        assert_eq!(reader.partial_line_since(), None, "between lines");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        a.write_all(b"thr").await.unwrap();
        let pending =
            tokio::time::timeout(std::time::Duration::from_millis(50), reader.next_line()).await;
        assert!(pending.is_err(), "no newline yet");
        let since = reader
            .partial_line_since()
            .expect("the third line has begun");
        assert!(since >= before + std::time::Duration::from_millis(20));
    }

    #[tokio::test]
    async fn a_begun_line_must_end_within_the_deadline() {
        let (mut a, b) = tokio::io::duplex(1 << 16);
        let mut reader = LineReader::new(b);
        reader.set_line_deadline(Duration::from_millis(300));
        a.write_all(b"quick\n").await.unwrap();
        assert_eq!(reader.next_line().await.unwrap().unwrap(), b"quick");
        // Waiting between lines is not bounded.
        let idle = tokio::time::timeout(Duration::from_millis(500), reader.next_line()).await;
        assert!(idle.is_err(), "no line, no deadline");
        let started = Instant::now();
        let trickle = tokio::spawn(async move {
            for _ in 0..20 {
                if a.write_all(b"x").await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
        let result = reader.next_line().await;
        assert!(matches!(result, Err(LineError::Deadline(_))), "{result:?}");
        let elapsed = started.elapsed();
        assert!(
            elapsed >= Duration::from_millis(250) && elapsed < Duration::from_millis(900),
            "{elapsed:?}"
        );
        trickle.abort();
    }

    #[tokio::test]
    async fn truncated_last_line_is_an_error() {
        let (lines, err) = lines_of(b"a\nb".to_vec()).await;
        assert_eq!(lines, vec![b"a".to_vec()]);
        assert!(err.unwrap().contains("middle of a line"));
    }
}
