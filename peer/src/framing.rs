//! Newline-delimited frames with the 131,072-byte line limit enforced while reading
//! (PROTOCOL.md §2): the reader never holds more than `MAX_LINE_BYTES + 1` bytes of one line,
//! and fails as soon as it has that many without a newline. Once a session allows them
//! ([`LineReader::accept_binary_frames`]), a frame that starts with the binary mark is instead
//! read by its 16-bit length (PROTOCOL.md §4.1), so its bytes are never scanned for a newline.
//!
//! The buffer starts empty, grows on demand and is released whenever every received byte has
//! been handed out, so an idle connection holds no read buffer.
//!
//! After the handshake a line must also be finished in time once its first byte has arrived
//! ([`LineReader::set_line_deadline`], PROTOCOL.md §9.2): the reader remembers when the line
//! began and bounds only the reads that continue a begun line, so waiting between lines needs
//! no timer and a burst whose reads complete at once never registers one.

use std::time::{Duration, Instant};

use crypto_core::primitives::TAG_LEN;
use crypto_core::wire::{BINARY_FRAME_HEADER, BINARY_FRAME_MARK, MAX_LINE_BYTES};
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
    #[error("partial frame deadline: a frame begun {} ms ago is not finished", .0.as_millis())]
    Deadline(Duration),
    /// The connection ended in the middle of a frame.
    #[error("connection closed in the middle of a frame")]
    TruncatedLine,
    /// A binary frame's length is shorter than an authentication tag.
    #[error("binary frame of {0} bytes is shorter than its tag")]
    BinaryTooShort(usize),
    /// A binary frame where only a line may come (during the handshake).
    #[error("binary frame where a line was expected")]
    NotALine,
    /// A socket error.
    #[error("read error: {0}")]
    Io(#[from] std::io::Error),
}

/// One frame as read, borrowed from the reader's buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum RawFrame<'a> {
    /// A line without its `\n`.
    Line(&'a [u8]),
    /// The `ciphertext || tag` of a binary `data` frame, without its header.
    Binary(&'a [u8]),
}

/// Where the frame at the front of the buffer ends.
enum FrameEnd {
    /// At this newline.
    Line(usize),
    /// At this offset, one past its last byte.
    Binary(usize),
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
    /// Whether a frame starting with the binary mark is read by its length.
    binary: bool,
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
            binary: false,
        }
    }

    /// From now on, a frame whose first byte is the binary mark is a binary `data` frame
    /// (PROTOCOL.md §4.1). Never during the handshake, where every frame is a line.
    pub fn accept_binary_frames(&mut self) {
        self.binary = true;
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

    /// Whether a whole frame is already buffered, i.e. `next_frame` would not read the socket.
    pub fn has_buffered_frame(&self) -> bool {
        let from = self.pending_consume.max(self.start);
        matches!(self.frame_end(from, from), Ok(Some(_)))
    }

    /// Where the frame starting at `start` ends, if it is all in the buffer; `scanned` is how
    /// far a line there is known to have no newline.
    fn frame_end(&self, start: usize, scanned: usize) -> Result<Option<FrameEnd>, LineError> {
        let held = &self.buf[start..self.end];
        if self.binary && held.first() == Some(&BINARY_FRAME_MARK) {
            let Some(&[high, low]) = held.get(1..BINARY_FRAME_HEADER) else {
                return Ok(None);
            };
            let len = usize::from(u16::from_be_bytes([high, low]));
            if len < TAG_LEN {
                return Err(LineError::BinaryTooShort(len));
            }
            let total = BINARY_FRAME_HEADER + len;
            return Ok((held.len() >= total).then_some(FrameEnd::Binary(start + total)));
        }
        let from = scanned.max(start);
        Ok(memchr::memchr(b'\n', &self.buf[from..self.end]).map(|pos| FrameEnd::Line(from + pos)))
    }

    /// The next line without its `\n`, or `None` on a clean end of stream (between lines).
    /// For the handshake, before binary frames are accepted.
    pub async fn next_line(&mut self) -> Result<Option<&[u8]>, LineError> {
        match self.next_frame().await? {
            None => Ok(None),
            Some(RawFrame::Line(line)) => Ok(Some(line)),
            Some(RawFrame::Binary(_)) => Err(LineError::NotALine),
        }
    }

    /// The next frame, or `None` on a clean end of stream (between frames).
    pub async fn next_frame(&mut self) -> Result<Option<RawFrame<'_>>, LineError> {
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
        let found = loop {
            if let Some(end) = self.frame_end(self.start, self.scanned)? {
                break end;
            }
            self.scanned = self.end;
            let held = self.end - self.start;
            if held >= LIMIT {
                // A binary frame is at most 65,538 bytes, so only a line gets here.
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
        let frame_start = self.start;
        let (next, frame) = match found {
            FrameEnd::Line(newline) => (newline + 1, frame_start..newline),
            FrameEnd::Binary(end) => (end, frame_start + BINARY_FRAME_HEADER..end),
        };
        self.pending_consume = next;
        self.scanned = next;
        // Whatever follows this frame arrived by the last read at the latest (one clock reading
        // per read, none per frame).
        self.partial_since = if next < self.end {
            self.last_read
        } else {
            None
        };
        let bytes = &self.buf[frame];
        Ok(Some(match found {
            FrameEnd::Line(_) => RawFrame::Line(bytes),
            FrameEnd::Binary(_) => RawFrame::Binary(bytes),
        }))
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
        assert!(!reader.has_buffered_frame());
        assert_eq!(reader.next_line().await.unwrap().unwrap(), b"one");
        assert!(reader.has_buffered_frame());
        assert_eq!(reader.next_line().await.unwrap().unwrap(), b"two");
        assert!(
            !reader.has_buffered_frame(),
            "only part of the third line is here"
        );
        a.write_all(b"ee\n").await.unwrap();
        assert_eq!(reader.next_line().await.unwrap().unwrap(), b"three");
        assert!(!reader.has_buffered_frame());
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
        assert!(err.unwrap().contains("middle of a frame"));
    }

    /// A binary frame: the mark, the 16-bit length, then `len` bytes.
    fn binary_frame(body: &[u8]) -> Vec<u8> {
        let mut frame = vec![BINARY_FRAME_MARK];
        frame.extend_from_slice(&u16::try_from(body.len()).unwrap().to_be_bytes());
        frame.extend_from_slice(body);
        frame
    }

    async fn frames_of(input: Vec<u8>, chunk: usize) -> (Vec<String>, Option<String>) {
        let (mut a, b) = tokio::io::duplex(1 << 20);
        tokio::spawn(async move {
            // Dribbled in pieces, so frames and headers are split across reads.
            for piece in input.chunks(chunk) {
                if a.write_all(piece).await.is_err() {
                    return;
                }
                tokio::task::yield_now().await;
            }
        });
        let mut reader = LineReader::new(b);
        reader.accept_binary_frames();
        let mut out = Vec::new();
        loop {
            match reader.next_frame().await {
                Ok(Some(RawFrame::Line(line))) => {
                    out.push(format!("line {}", String::from_utf8_lossy(line)));
                }
                Ok(Some(RawFrame::Binary(body))) => {
                    out.push(format!("binary {} {:?}", body.len(), &body[..2]));
                }
                Ok(None) => return (out, None),
                Err(e) => return (out, Some(e.to_string())),
            }
        }
    }

    #[tokio::test]
    async fn binary_frames_are_read_by_length_between_lines() {
        // Newlines and marks inside a binary frame are its bytes, not frame boundaries.
        let mut body = vec![b'\n'; 40_000];
        body[1] = BINARY_FRAME_MARK;
        let mut input = b"{\"a\":1}\n".to_vec();
        input.extend(binary_frame(&body));
        input.extend(binary_frame(&[9u8; TAG_LEN]));
        input.extend_from_slice(b"last\n");
        for chunk in [1, 2, 3, 7, 4096, 1 << 20] {
            let (frames, err) = frames_of(input.clone(), chunk).await;
            assert_eq!(err, None, "chunk {chunk}");
            assert_eq!(
                frames,
                vec![
                    "line {\"a\":1}".to_owned(),
                    "binary 40000 [10, 0]".to_owned(),
                    "binary 16 [9, 9]".to_owned(),
                    "line last".to_owned(),
                ],
                "chunk {chunk}"
            );
        }
    }

    #[tokio::test]
    async fn the_largest_binary_frame_fits_and_a_short_one_ends_the_connection() {
        let (frames, err) = frames_of(binary_frame(&vec![1u8; 65_535]), 10_000).await;
        assert_eq!(err, None);
        assert_eq!(frames, vec!["binary 65535 [1, 1]".to_owned()]);

        let (frames, err) = frames_of(binary_frame(&[1u8; TAG_LEN - 1]), 1).await;
        assert!(frames.is_empty());
        assert_eq!(
            err.as_deref(),
            Some("binary frame of 15 bytes is shorter than its tag")
        );

        let mut cut = binary_frame(&[1u8; 100]);
        cut.truncate(50);
        let (_, err) = frames_of(cut, 7).await;
        assert!(err.unwrap().contains("middle of a frame"));
    }

    #[tokio::test]
    async fn the_mark_is_a_lines_byte_until_binary_frames_are_accepted() {
        let (mut a, b) = tokio::io::duplex(1 << 16);
        let mut input = binary_frame(b"0123456789abcdef");
        input.push(b'\n');
        a.write_all(&input).await.unwrap();
        let mut reader = LineReader::new(b);
        assert_eq!(reader.next_line().await.unwrap().unwrap(), &input[..19]);
    }

    #[tokio::test]
    async fn knows_whether_a_whole_binary_frame_is_buffered() {
        let (mut a, b) = tokio::io::duplex(1 << 16);
        let frame = binary_frame(&[b'\n'; 32]);
        let mut reader = LineReader::new(b);
        reader.accept_binary_frames();
        a.write_all(b"x\n").await.unwrap();
        a.write_all(&frame[..20]).await.unwrap();
        assert_eq!(
            reader.next_frame().await.unwrap().unwrap(),
            RawFrame::Line(b"x")
        );
        assert!(
            !reader.has_buffered_frame(),
            "newlines inside a partial binary frame end nothing"
        );
        a.write_all(&frame[20..]).await.unwrap();
        assert_eq!(
            reader.next_frame().await.unwrap().unwrap(),
            RawFrame::Binary(&[b'\n'; 32])
        );
    }

    #[tokio::test]
    async fn a_begun_binary_frame_must_end_within_the_deadline() {
        let (mut a, b) = tokio::io::duplex(1 << 16);
        let mut reader = LineReader::new(b);
        reader.accept_binary_frames();
        reader.set_line_deadline(Duration::from_millis(200));
        a.write_all(&binary_frame(&[0u8; 64])[..30]).await.unwrap();
        let result = reader.next_frame().await;
        assert!(matches!(result, Err(LineError::Deadline(_))), "{result:?}");
    }
}
