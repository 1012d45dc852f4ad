//! One established session: a reader (this task) and a writer task joined by a small bounded
//! queue of plaintext payloads (PROTOCOL.md §4–§5), with the timers and rates of PROTOCOL.md
//! §9.2: the writer sends a keepalive when it has been quiet, the reader closes an idle
//! session or an unfinished line and paces payloads. Each half keeps its one timer inside its
//! own future (no task per timer), re-armed only when it fires.
//!
//! The writer seals each payload as a binary `data` frame when the remote's hello said it reads
//! them, else as a line ([`Framing`]), and batches whatever is queued into one socket write.
//! The reader accepts both kinds and opens each `data` frame, enforcing the strict next-nonce rule
//! inside crypto-core and hands each payload to the session's [`Inbox`] (the node stores a
//! chat before it is acknowledged). Whatever ends the
//! session — EOF, a bad frame, a failed decryption, a local close — is returned as the reason.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crypto_core::wire::{Frame, Payload};
use crypto_core::{TransportReceiver, TransportSender};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::bulk_lane::BulkLane;
use crate::framing::{LineReader, RawFrame};
use crate::limits::SessionLimits;
use crate::spare_buffers;

/// Queued plaintexts per session. Small: idle sessions must stay cheap, and a full queue
/// pushes back on the sender instead of buffering without bound.
pub const QUEUE_DEPTH: usize = 64;

/// Stop batching once a write reaches this size.
const MAX_BATCH_BYTES: usize = 64 * 1024;

/// File chunks written together when nothing else waits: one write (and one wake-up of the
/// receiver's reader) per few chunks instead of one per chunk. A chat queued meanwhile waits
/// behind at most this many chunks' write to the socket (PROTOCOL.md §5.1, "Chats first").
const BULK_BATCH: usize = 4;

/// The most write-buffer capacity an idle session keeps.
const IDLE_LINE_CAPACITY: usize = 8 * 1024;

/// How long a closing session may take to flush what is already queued.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(2);

/// A plaintext payload shared between the sessions it is sent on.
pub type Outgoing = Arc<[u8]>;

/// Who the reader reports to, and the timers and rates it enforces.
pub struct ReaderContext {
    /// The remote's key, base64 (`peer_id`), for logs.
    pub peer_id: String,
    /// Where payloads go: the node stores them, then acknowledges (PROTOCOL.md §8.1).
    pub inbox: Arc<dyn Inbox>,
    /// Idle timeouts, the partial-line deadline, the payload rate and the store backlog
    /// (PROTOCOL.md §9.2).
    pub limits: SessionLimits,
}

/// Handles the payloads of one session (the node: store, then acknowledge).
pub trait Inbox: Send + Sync {
    /// Takes one authenticated payload. Work that must follow arrival order (queueing the
    /// store job) is done before this returns. `Some` means the payload gave the store work
    /// (a chat, a room, an owed ack): the future resolves, once that work is committed, to
    /// what is sent back on this session (an ack), so the reader can keep several payloads
    /// in flight. `None` means nothing was queued (a keepalive, an ack not owed, a payload
    /// from a held key). A file chunk's `Some` is back-pressure instead (its file's queue is
    /// full): the reader reads nothing more until it resolves, so chunks stay in order and
    /// at most one waits outside its queue.
    fn receive(self: Arc<Self>, payload: Payload) -> Option<InboxReply>;

    /// Hands over whatever `receive` collected. The reader calls it before it waits for
    /// anything (a reply, the socket, the payload rate), so collected work never waits on
    /// the reader.
    fn flush(&self);

    /// Whether the remote is a stranger (PROTOCOL.md §9.2: a shorter idle timeout that only
    /// a chat, room or owed ack resets). Read when the idle timer fires, so a stranger that
    /// becomes a contact gets the contact's timeout from then on.
    fn is_stranger(&self) -> bool;
}

/// The reply an [`Inbox`] owes for one payload.
pub type InboxReply = Pin<Box<dyn Future<Output = Option<Outgoing>> + Send>>;

/// The plaintext of a `keepalive` (PROTOCOL.md §5).
const KEEPALIVE: &[u8] = br#"{"kind":"keepalive"}"#;

/// Close reason of a session nothing (or, for a stranger, nothing that counts) arrived on.
pub const IDLE_TIMEOUT: &str = "idle timeout";

/// Why the writer stopped before its queue closed.
#[derive(Debug, thiserror::Error)]
pub enum WriterError {
    /// The transport refused to seal (nonce exhausted).
    #[error("cannot seal: {0}")]
    Seal(crypto_core::TransportError),
    /// The socket write failed.
    #[error("write error: {0}")]
    Write(std::io::Error),
}

/// How the writer frames what it seals (PROTOCOL.md §4, §4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// JSON lines with base64: for a remote whose hello did not offer binary frames.
    Lines,
    /// Binary `data` frames: no text layer on the bulk path (file chunks).
    Binary,
}

/// Seals `payload` and appends its frame to `out`; `line` is scratch for the JSON form.
fn seal_into(
    sender: &mut TransportSender,
    framing: Framing,
    payload: &[u8],
    out: &mut Vec<u8>,
    line: &mut String,
) -> Result<(), WriterError> {
    match framing {
        Framing::Binary => sender.seal_to_binary(payload, out),
        Framing::Lines => {
            line.clear();
            let sealed = sender.seal_to_line(payload, line);
            out.extend_from_slice(line.as_bytes());
            sealed
        }
    }
    .map_err(WriterError::Seal)
}

/// What the writer does next.
enum Next {
    Payload(Outgoing),
    /// A file chunk from the bulk lane.
    Chunk(Outgoing),
    Keepalive,
    Closed,
}

/// Closes a session's bulk lane when the writer ends.
struct ClosesOnDrop(Arc<BulkLane>);

impl Drop for ClosesOnDrop {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// Seals and writes queued payloads until the queue closes or the socket fails; writes a
/// `keepalive` after `keepalive` without writing anything. The keepalive timer lives in this
/// task and is re-armed only when it fires, so a busy session never touches it.
pub async fn writer_loop<W: AsyncWrite + Unpin>(
    mut sender: TransportSender,
    mut socket: W,
    mut queue: mpsc::Receiver<Outgoing>,
    bulk: Arc<BulkLane>,
    keepalive: Duration,
    framing: Framing,
) -> Result<(), WriterError> {
    // However the writer ends, transfers waiting to queue a chunk here stop (a guard, not a
    // wrapping future: an idle session's writer stays as small as it was).
    let closing = ClosesOnDrop(bulk);
    let bulk: &BulkLane = &closing.0;
    let mut out: Vec<u8> = Vec::new();
    let mut line = String::new();
    let mut last_write = Instant::now();
    let timer = tokio::time::sleep(keepalive);
    tokio::pin!(timer);
    loop {
        let waiting = match queue.try_recv() {
            Ok(next) => Some(Next::Payload(next)),
            Err(mpsc::error::TryRecvError::Disconnected) => Some(Next::Closed),
            Err(mpsc::error::TryRecvError::Empty) => bulk.try_pop().map(Next::Chunk),
        };
        let next = match waiting {
            Some(next) => next,
            None => tokio::select! {
            biased;
            next = queue.recv() => next.map_or(Next::Closed, Next::Payload),
            () = bulk.ready() => continue,
            () = &mut timer => {
                let due = last_write + keepalive;
                if Instant::now() >= due {
                    timer.as_mut().reset((Instant::now() + keepalive).into());
                    Next::Keepalive
                } else {
                    timer.as_mut().reset(due.into());
                    continue;
                }
            }
            },
        };
        let mut chunks = 0;
        match next {
            Next::Closed => break,
            Next::Keepalive => seal_into(&mut sender, framing, KEEPALIVE, &mut out, &mut line)?,
            Next::Payload(first) => seal_into(&mut sender, framing, &first, &mut out, &mut line)?,
            Next::Chunk(first) => {
                chunks = 1;
                seal_into(&mut sender, framing, &first, &mut out, &mut line)?;
            }
        }
        while out.len() < MAX_BATCH_BYTES {
            match queue.try_recv() {
                Ok(next) => seal_into(&mut sender, framing, &next, &mut out, &mut line)?,
                Err(_) => break,
            }
        }
        // Chats first: more chunks join this write only while no other payload waits.
        while chunks < BULK_BATCH && queue.is_empty() {
            match bulk.try_pop() {
                Some(chunk) => seal_into(&mut sender, framing, &chunk, &mut out, &mut line)?,
                None => break,
            }
            chunks += 1;
        }
        socket.write_all(&out).await.map_err(WriterError::Write)?;
        last_write = Instant::now();
        out.clear();
        if queue.is_empty() && bulk.is_empty() {
            // Going idle: do not keep burst-sized buffers per session. (Not between the chunks
            // of a transfer, which would allocate one per chunk.)
            if out.capacity() > IDLE_LINE_CAPACITY {
                out = Vec::new();
            }
            if line.capacity() > IDLE_LINE_CAPACITY {
                line = String::new();
            }
        }
    }
    let _ = socket.shutdown().await;
    Ok(())
}

/// A per-session token bucket of PROTOCOL.md §9.2: `rate` payloads per second, `burst` at
/// once. The clock is read only when the bucket runs dry.
struct PayloadRate {
    rate: u32,
    burst: u32,
    tokens: u32,
    since: Instant,
}

impl PayloadRate {
    fn new(rate: u32, burst: u32) -> Self {
        let rate = rate.max(1);
        let burst = burst.max(1);
        Self {
            rate,
            burst,
            tokens: burst,
            since: Instant::now(),
        }
    }

    /// Takes a token if one is left.
    fn try_take(&mut self) -> bool {
        if self.tokens == 0 {
            self.refill();
        }
        match self.tokens.checked_sub(1) {
            Some(left) => {
                self.tokens = left;
                true
            }
            None => false,
        }
    }

    fn refill(&mut self) {
        let now = Instant::now();
        let earned = now.saturating_duration_since(self.since).as_secs_f64() * f64::from(self.rate);
        if earned >= 1.0 {
            self.tokens = earned.min(f64::from(self.burst)) as u32;
            self.since = now;
        }
    }

    /// Waits until a token can be taken, and takes it.
    async fn take(&mut self) {
        while !self.try_take() {
            let one = Duration::from_secs_f64(1.0 / f64::from(self.rate));
            tokio::time::sleep(one.max(Duration::from_millis(1))).await;
        }
    }
}

/// Reads frames until something ends the session; returns why. Enforces PROTOCOL.md §9.2:
/// the idle timeout with one timer, re-armed only when it fires; the partial-line deadline in
/// the [`LineReader`]; the payload rate with a token bucket, and while the remote is a
/// stranger a much lower one with a second bucket.
pub async fn reader_loop<R: AsyncRead + Unpin>(
    mut receiver: TransportReceiver,
    mut reader: LineReader<R>,
    acks: mpsc::Sender<Outgoing>,
    ctx: &ReaderContext,
) -> String {
    let mut in_flight = InFlight::default();
    // By reference: moved into the inner future, they would be stored twice in this one.
    let reason = read_payloads(&mut receiver, &mut reader, &acks, ctx, &mut in_flight).await;
    // What was received before the end is stored; its events and acks still follow, as far
    // as the writer takes them, but the end waits for the store at most `FLUSH_TIMEOUT`.
    ctx.inbox.flush();
    Box::pin(tokio::time::timeout(FLUSH_TIMEOUT, in_flight.finish(acks)))
        .await
        .ok();
    reason
}

/// The replies of payloads that wait for the store, oldest first, and their payloads' bytes:
/// what a session may hold is bounded by count and by size (PROTOCOL.md §9.2).
#[derive(Default)]
struct InFlight {
    replies: VecDeque<(InboxReply, usize)>,
    bytes: usize,
}

impl InFlight {
    fn push(&mut self, reply: InboxReply, bytes: usize) {
        self.bytes += bytes;
        self.replies.push_back((reply, bytes));
    }

    fn pop(&mut self) -> Option<InboxReply> {
        let (reply, bytes) = self.replies.pop_front()?;
        self.bytes -= bytes;
        Some(reply)
    }

    fn is_empty(&self) -> bool {
        self.replies.is_empty()
    }

    fn is_full(&self, limits: &SessionLimits) -> bool {
        self.replies.len() >= limits.store_backlog || self.bytes >= limits.store_backlog_bytes
    }

    /// Waits for every reply in turn and queues what the writer still takes.
    async fn finish(mut self, acks: mpsc::Sender<Outgoing>) {
        while let Some(reply) = self.pop() {
            if let Some(reply) = reply.await {
                let _ = acks.try_send(reply);
            }
        }
    }

    /// The oldest reply, once it is ready (pending while there is none).
    async fn oldest(&mut self) -> Option<Outgoing> {
        match self.replies.front_mut() {
            Some((reply, _)) => reply.await,
            None => std::future::pending().await,
        }
    }
}

async fn read_payloads<R: AsyncRead + Unpin>(
    receiver: &mut TransportReceiver,
    reader: &mut LineReader<R>,
    acks: &mpsc::Sender<Outgoing>,
    ctx: &ReaderContext,
    in_flight: &mut InFlight,
) -> String {
    let limits = &ctx.limits;
    reader.set_line_deadline(limits.line_deadline);
    // Every hello of this version offers binary frames (PROTOCOL.md §4.1).
    reader.accept_binary_frames();
    let mut rate = PayloadRate::new(limits.payload_rate, limits.payload_rate);
    let mut stranger_rate =
        PayloadRate::new(limits.stranger_payload_rate, limits.stranger_payload_burst);
    // Activity is noted with flags per payload and turned into a time once per wait.
    let start = Instant::now();
    let (mut last_any, mut last_counted) = (start, start);
    let (mut any, mut counted) = (false, false);
    let timer = tokio::time::sleep(limits.stranger_idle.min(limits.contact_idle));
    tokio::pin!(timer);
    loop {
        // About to wait for the socket: hand the burst to the inbox. Its replies are sent
        // in arrival order as the store commits them, while the reader goes on with the next
        // burst (the store thread and this reader work at the same time). At most
        // `store_backlog` payloads wait for the store: then the reader waits for the oldest.
        let waiting = !reader.has_buffered_frame();
        if waiting || in_flight.is_full(limits) {
            ctx.inbox.flush();
        }
        while in_flight.is_full(limits) {
            let Some(oldest) = in_flight.pop() else {
                break;
            };
            if let Err(stopped) = forward(oldest.await, acks).await {
                return stopped;
            }
        }
        if waiting && (any || counted) {
            let now = Instant::now();
            if any {
                last_any = now;
            }
            if counted {
                last_counted = now;
            }
            (any, counted) = (false, false);
        }
        let frame = tokio::select! {
            biased;
            // An answered payload's reply goes out first: it is cheap, and it frees the
            // remote's window.
            reply = in_flight.oldest(), if !in_flight.is_empty() => {
                in_flight.pop();
                if let Err(stopped) = forward(reply, acks).await {
                    return stopped;
                }
                continue;
            }
            // Before the socket: a remote that always has a frame buffered (a stranger's
            // paced keepalives) must not keep the idle timeout from being checked.
            () = &mut timer => {
                let now = Instant::now();
                if any {
                    last_any = now;
                }
                if counted {
                    last_counted = now;
                }
                (any, counted) = (false, false);
                let (last, idle) = if ctx.inbox.is_stranger() {
                    (last_counted, limits.stranger_idle)
                } else {
                    (last_any, limits.contact_idle)
                };
                if now >= last + idle {
                    return format!("{IDLE_TIMEOUT} ({} ms without a message)", idle.as_millis());
                }
                timer.as_mut().reset((last + idle).into());
                continue;
            }
            frame = reader.next_frame() => frame,
        };
        let opened = match frame {
            Ok(Some(RawFrame::Binary(sealed))) if sealed.len() >= spare_buffers::WORTH_IT => {
                receiver.open_binary_in(sealed, spare_buffers::take())
            }
            Ok(Some(RawFrame::Binary(sealed))) => receiver.open_binary(sealed),
            Ok(Some(RawFrame::Line(line))) => {
                let frame = match Frame::parse(line) {
                    Ok(frame) => frame,
                    Err(e) => return e.to_string(),
                };
                let Some(data) = frame.as_data() else {
                    return "handshake frame after the handshake".into();
                };
                receiver.open_frame(&data)
            }
            Ok(None) => return "closed by peer".into(),
            Err(e) => return e.to_string(),
        };
        let plaintext = match opened {
            Ok(plaintext) => plaintext,
            Err(e) => return e.to_string(),
        };
        let bytes = plaintext.len();
        any = true;
        if !rate.try_take() {
            // Over the payload rate: stop reading (TCP pushes back on the sender), but first
            // let what was collected reach the store.
            ctx.inbox.flush();
            rate.take().await;
        }
        if ctx.inbox.is_stranger() && !stranger_rate.try_take() {
            // A message request's session: its events reach the page, which must keep up.
            ctx.inbox.flush();
            stranger_rate.take().await;
        }
        // Owned: a chunk's bytes stay in the buffer they were opened in (`spare_buffers`).
        match Payload::parse_owned(plaintext) {
            Ok(payload) => {
                let chunk = matches!(payload, Payload::FileChunk { .. });
                if let Some(reply) = Arc::clone(&ctx.inbox).receive(payload) {
                    counted = true;
                    in_flight.push(reply, bytes);
                    if chunk {
                        // Its file's queue is full: wait for it (see `Inbox::receive`).
                        ctx.inbox.flush();
                        while let Some(oldest) = in_flight.pop() {
                            if let Err(stopped) = forward(oldest.await, acks).await {
                                return stopped;
                            }
                        }
                    }
                }
            }
            Err(e) => crate::remote_log::ignored(
                &ctx.peer_id,
                format_args!("ignoring invalid payload: {e}"),
            ),
        }
    }
}

/// How long a reply may wait for room in the send queue before the session is closed: as
/// long as the node's own sends wait (PROTOCOL.md §9.2, "per-session send queue").
const REPLY_WAIT: Duration = Duration::from_secs(5);

/// Close reason of a session whose send queue stayed full (the remote does not read).
pub const NOT_READING: &str = "peer is not reading (send queue full)";

/// Queues a payload's reply (if it has one) for the writer; `Err` if the writer stopped or
/// its queue stayed full for [`REPLY_WAIT`]: a remote that never reads its acks cannot keep
/// this reader (and what it holds) waiting without end.
async fn forward(reply: Option<Outgoing>, acks: &mpsc::Sender<Outgoing>) -> Result<(), String> {
    let Some(reply) = reply else {
        return Ok(());
    };
    match acks.try_send(reply) {
        Ok(()) => Ok(()),
        Err(mpsc::error::TrySendError::Closed(_)) => Err("writer stopped".into()),
        Err(mpsc::error::TrySendError::Full(reply)) => {
            match tokio::time::timeout(REPLY_WAIT, acks.send(reply)).await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(_)) => Err("writer stopped".into()),
                Err(_) => Err(NOT_READING.into()),
            }
        }
    }
}

/// The two halves of an established connection.
pub struct SessionIo<R, W> {
    /// Opens incoming frames.
    pub receiver: TransportReceiver,
    /// Seals outgoing payloads.
    pub sender: TransportSender,
    /// The framed read half.
    pub reader: LineReader<R>,
    /// The write half.
    pub writer: W,
    /// How the writer frames payloads: binary when the remote's hello offered it.
    pub framing: Framing,
}

/// A running session: the reader's future (boxed, so the connection task stays small while
/// it waits) and the writer task.
pub struct Session {
    reader: Pin<Box<dyn Future<Output = String> + Send>>,
    writer: JoinHandle<Result<(), WriterError>>,
    close: oneshot::Receiver<String>,
}

/// Spawns the writer and prepares the reader.
pub fn start<R, W>(
    io: SessionIo<R, W>,
    queue_tx: mpsc::Sender<Outgoing>,
    queue_rx: mpsc::Receiver<Outgoing>,
    bulk: Arc<BulkLane>,
    close: oneshot::Receiver<String>,
    ctx: ReaderContext,
) -> Session
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let SessionIo {
        receiver,
        sender,
        reader,
        writer,
        framing,
    } = io;
    let writer = tokio::spawn(writer_loop(
        sender,
        writer,
        queue_rx,
        bulk,
        ctx.limits.keepalive,
        framing,
    ));
    let reader = Box::pin(async move { reader_loop(receiver, reader, queue_tx, &ctx).await });
    Session {
        reader,
        writer,
        close,
    }
}

impl Session {
    /// Runs until the reader or writer ends or `close` fires. `on_end` runs as soon as the
    /// reason is known (the node unregisters the session there, which drops the last queue
    /// sender); then what is already queued gets up to two seconds to flush. Returns the reason.
    pub async fn wait(self, on_end: impl FnOnce(&str)) -> String {
        let Session {
            reader,
            mut writer,
            close,
        } = self;
        let mut writer_done = false;
        let reason = tokio::select! {
            reason = reader => reason,
            result = &mut writer => {
                writer_done = true;
                match result {
                    Ok(Ok(())) => "writer finished".into(),
                    Ok(Err(e)) => e.to_string(),
                    Err(e) => format!("writer task failed: {e}"),
                }
            }
            reason = close => reason.unwrap_or_else(|_| "closed".into()),
        };
        on_end(&reason);
        if !writer_done
            && tokio::time::timeout(FLUSH_TIMEOUT, &mut writer)
                .await
                .is_err()
        {
            writer.abort();
        }
        reason
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crypto_core::noise::{InitiatorStart, ResponderStart};
    use crypto_core::Identity;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::sync::Semaphore;

    /// An initiator's sender and the responder's receiver of one handshake: what one side
    /// seals, the other opens.
    fn sender_and_receiver() -> (TransportSender, TransportReceiver) {
        let (i1, m1) = InitiatorStart::new(&Identity::generate())
            .write_message_1(&[])
            .unwrap();
        let (r1, _) = ResponderStart::new(&Identity::generate())
            .read_message_1(&m1)
            .unwrap();
        let (r2, m2) = r1.write_message_2(&[]).unwrap();
        let (i2, _) = i1.read_message_2(&m2).unwrap();
        let (initiator, m3) = i2.write_message_3(&[]).unwrap();
        let (responder, _) = r2.read_message_3(&m3).unwrap();
        (initiator.into_halves().0, responder.into_halves().1)
    }

    /// A store that takes jobs but answers none until the gate opens.
    struct StuckStore {
        received: AtomicUsize,
        gate: Arc<Semaphore>,
    }

    impl Inbox for StuckStore {
        fn receive(self: Arc<Self>, _payload: Payload) -> Option<InboxReply> {
            self.received.fetch_add(1, Ordering::SeqCst);
            let gate = Arc::clone(&self.gate);
            Some(Box::pin(async move {
                let _ = gate.acquire().await;
                None
            }))
        }
        fn flush(&self) {}
        fn is_stranger(&self) -> bool {
            false
        }
    }

    /// A store whose answers the test gives one by one; each answer is the chat's id.
    #[derive(Default)]
    struct ManualStore {
        answers: std::sync::Mutex<Vec<oneshot::Sender<()>>>,
    }

    impl Inbox for ManualStore {
        fn receive(self: Arc<Self>, payload: Payload) -> Option<InboxReply> {
            let Payload::Chat { id, .. } = payload else {
                return None;
            };
            let (answer, answered) = oneshot::channel();
            self.answers.lock().unwrap().push(answer);
            Some(Box::pin(async move {
                answered.await.ok()?;
                Some(Outgoing::from(id.as_bytes()))
            }))
        }
        fn flush(&self) {}
        fn is_stranger(&self) -> bool {
            false
        }
    }

    fn sealed_chats(sender: &mut TransportSender, ids: std::ops::Range<usize>) -> String {
        let mut lines = String::new();
        for i in ids {
            let chat = format!(r#"{{"kind":"chat","id":"m{i}","text":"t","sent_at":1}}"#);
            sender.seal_to_line(chat.as_bytes(), &mut lines).unwrap();
        }
        lines
    }

    /// The reader goes on reading while earlier payloads wait for the store (the store and
    /// the reader work at the same time), and sends their replies in arrival order whatever
    /// order the store answers them in.
    #[tokio::test]
    async fn the_reader_reads_on_while_the_store_works_and_replies_in_arrival_order() {
        let store = Arc::new(ManualStore::default());
        let (mut sender, mut remote, mut acks_rx, reader) =
            spawn_reader(store.clone(), SessionLimits::default());
        remote
            .write_all(sealed_chats(&mut sender, 0..5).as_bytes())
            .await
            .unwrap();
        assert_eq!(answers_given(&store, 5).await, 5);
        // Nothing is answered yet, and the next burst is read all the same.
        remote
            .write_all(sealed_chats(&mut sender, 5..10).as_bytes())
            .await
            .unwrap();
        assert_eq!(answers_given(&store, 10).await, 10);
        assert!(acks_rx.try_recv().is_err());
        // The store answers the newest first; the replies still go out oldest first.
        let answers: Vec<_> = store.answers.lock().unwrap().drain(..).collect();
        for answer in answers.into_iter().rev() {
            answer.send(()).unwrap();
        }
        for i in 0..10 {
            let reply = tokio::time::timeout(Duration::from_secs(10), acks_rx.recv())
                .await
                .unwrap()
                .unwrap();
            assert_eq!(&reply[..], format!("m{i}").as_bytes());
        }
        drop(remote);
        assert_eq!(reader.await.unwrap(), "closed by peer");
    }

    /// Starts a reader over an in-memory pipe with `inbox` and `limits`; returns the remote's
    /// sealer and end of the pipe, the acks the reader queues, and the reader's task.
    fn spawn_reader(
        inbox: Arc<dyn Inbox>,
        limits: SessionLimits,
    ) -> (
        TransportSender,
        tokio::io::DuplexStream,
        mpsc::Receiver<Outgoing>,
        JoinHandle<String>,
    ) {
        let (sender, receiver) = sender_and_receiver();
        let (remote, local) = tokio::io::duplex(1 << 20);
        let ctx = ReaderContext {
            peer_id: "test".into(),
            inbox,
            limits,
        };
        let (acks, acks_rx) = mpsc::channel(QUEUE_DEPTH);
        let reader =
            tokio::spawn(
                async move { reader_loop(receiver, LineReader::new(local), acks, &ctx).await },
            );
        (sender, remote, acks_rx, reader)
    }

    async fn answers_given(store: &ManualStore, n: usize) -> usize {
        let deadline = Instant::now() + Duration::from_secs(10);
        while store.answers.lock().unwrap().len() < n && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        store.answers.lock().unwrap().len()
    }

    /// PROTOCOL.md §9.2: what waits for the store is bounded by size too, so large chats
    /// cannot make one session hold 1,024 of them while the reader goes on.
    #[tokio::test]
    async fn the_reader_stops_at_its_store_backlog_in_bytes() {
        let store = Arc::new(ManualStore::default());
        let limits = SessionLimits {
            store_backlog_bytes: 16 * 1024,
            ..SessionLimits::default()
        };
        let (mut sender, mut remote, _acks, reader) = spawn_reader(store.clone(), limits);
        let text = "x".repeat(4000);
        let mut lines = String::new();
        for i in 0..20 {
            let chat = format!(r#"{{"kind":"chat","id":"m{i}","text":"{text}","sent_at":1}}"#);
            sender.seal_to_line(chat.as_bytes(), &mut lines).unwrap();
        }
        remote.write_all(lines.as_bytes()).await.unwrap();
        assert_eq!(answers_given(&store, 5).await, 5);
        tokio::time::sleep(Duration::from_millis(300)).await;
        // Five chats of ~4 KB reach 16 KiB: the sixth waits in the socket.
        assert_eq!(store.answers.lock().unwrap().len(), 5);
        // The oldest is answered: the sixth is read (four left waiting, and the sixth).
        store.answers.lock().unwrap().remove(0).send(()).unwrap();
        assert_eq!(answers_given(&store, 5).await, 5);
        reader.abort();
    }

    /// A remote that closes while its chats wait for the store still gets them answered:
    /// their events and acks follow the store's commit, not the socket.
    #[tokio::test]
    async fn replies_still_go_out_when_the_remote_closes_first() {
        let store = Arc::new(ManualStore::default());
        let (mut sender, mut remote, mut acks_rx, reader) =
            spawn_reader(store.clone(), SessionLimits::default());
        remote
            .write_all(sealed_chats(&mut sender, 0..3).as_bytes())
            .await
            .unwrap();
        assert_eq!(answers_given(&store, 3).await, 3);
        drop(remote);
        tokio::time::sleep(Duration::from_millis(100)).await;
        for answer in store.answers.lock().unwrap().drain(..) {
            answer.send(()).unwrap();
        }
        assert_eq!(reader.await.unwrap(), "closed by peer");
        for i in 0..3 {
            let reply = acks_rx.try_recv().expect("every reply is queued");
            assert_eq!(&reply[..], format!("m{i}").as_bytes());
        }
    }

    /// An inbox that answers every chat at once with its id.
    struct AnsweringStore;

    impl Inbox for AnsweringStore {
        fn receive(self: Arc<Self>, payload: Payload) -> Option<InboxReply> {
            let Payload::Chat { id, .. } = payload else {
                return None;
            };
            Some(Box::pin(async move { Some(Outgoing::from(id.as_bytes())) }))
        }
        fn flush(&self) {}
        fn is_stranger(&self) -> bool {
            false
        }
    }

    /// PROTOCOL.md §9.2: a remote that sends chats and never reads their acks fills its send
    /// queue; once it has stayed full for 5 s the session ends instead of holding the reader
    /// (and what waits for the store) without end.
    #[tokio::test]
    async fn a_remote_that_never_reads_its_acks_is_closed() {
        let (mut sender, mut remote, acks_rx, reader) =
            spawn_reader(Arc::new(AnsweringStore), SessionLimits::default());
        remote
            .write_all(sealed_chats(&mut sender, 0..QUEUE_DEPTH + 10).as_bytes())
            .await
            .unwrap();
        let started = Instant::now();
        let reason = tokio::time::timeout(Duration::from_secs(20), reader)
            .await
            .expect("the session ends")
            .unwrap();
        assert_eq!(reason, NOT_READING);
        assert!(started.elapsed() >= REPLY_WAIT - Duration::from_millis(500));
        // Nothing read them: the queue holds the first QUEUE_DEPTH acks.
        assert_eq!(acks_rx.len(), QUEUE_DEPTH);
    }

    /// A stranger's inbox that takes keepalives and nothing else.
    struct StrangerInbox;

    impl Inbox for StrangerInbox {
        fn receive(self: Arc<Self>, _payload: Payload) -> Option<InboxReply> {
            None
        }
        fn flush(&self) {}
        fn is_stranger(&self) -> bool {
            true
        }
    }

    /// PROTOCOL.md §9.2: a stranger's session ends after its idle time without a chat, even
    /// while it keeps a frame buffered at all times (paced keepalives).
    #[tokio::test]
    async fn a_stranger_always_sending_keepalives_is_still_closed_when_idle() {
        let limits = SessionLimits {
            stranger_idle: Duration::from_millis(300),
            stranger_payload_rate: 50,
            stranger_payload_burst: 5,
            ..SessionLimits::default()
        };
        let (mut sender, mut remote, _acks, reader) = spawn_reader(Arc::new(StrangerInbox), limits);
        // 1,000 keepalives at 50 a second would last 20 s.
        let mut lines = String::new();
        for _ in 0..1000 {
            sender.seal_to_line(KEEPALIVE, &mut lines).unwrap();
        }
        remote.write_all(lines.as_bytes()).await.unwrap();
        let reason = tokio::time::timeout(Duration::from_secs(10), reader)
            .await
            .expect("closed while keepalives were still buffered")
            .unwrap();
        assert!(reason.starts_with(IDLE_TIMEOUT), "{reason}");
    }

    /// PROTOCOL.md §9.2: "at most 1,024 payloads of one session wait for the store; when that
    /// many are outstanding the reader waits" — so a peer cannot queue unbounded store work
    /// by writing faster than the store commits; what it wrote stays in the socket (TCP
    /// back-pressure) until the store answers.
    #[tokio::test]
    async fn the_reader_stops_reading_while_its_store_backlog_is_full() {
        const BACKLOG: usize = 16;
        let (mut sender, receiver) = sender_and_receiver();
        let mut lines = String::new();
        for i in 0..200 {
            let chat = format!(r#"{{"kind":"chat","id":"m{i}","text":"t","sent_at":1}}"#);
            sender.seal_to_line(chat.as_bytes(), &mut lines).unwrap();
        }
        let (mut remote, local) = tokio::io::duplex(1 << 20);
        remote.write_all(lines.as_bytes()).await.unwrap();
        let store = Arc::new(StuckStore {
            received: AtomicUsize::new(0),
            gate: Arc::new(Semaphore::new(0)),
        });
        let ctx = ReaderContext {
            peer_id: "test".into(),
            inbox: store.clone(),
            limits: SessionLimits {
                store_backlog: BACKLOG,
                ..SessionLimits::default()
            },
        };
        let (acks, _acks_rx) = mpsc::channel(QUEUE_DEPTH);
        let reader =
            tokio::spawn(
                async move { reader_loop(receiver, LineReader::new(local), acks, &ctx).await },
            );
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(store.received.load(Ordering::SeqCst), BACKLOG);
        // The store answers: the reader goes on, and takes every payload written.
        store.gate.add_permits(10_000);
        let deadline = Instant::now() + Duration::from_secs(10);
        while store.received.load(Ordering::SeqCst) < 200 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(store.received.load(Ordering::SeqCst), 200);
        drop(remote);
        let reason = reader.await.unwrap();
        assert_eq!(reason, "closed by peer");
    }
}
