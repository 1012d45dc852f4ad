//! One established session: a reader (this task) and a writer task joined by a small bounded
//! queue of plaintext payloads (PROTOCOL.md §4–§5).
//!
//! The writer seals with [`TransportSender::seal_to_line`] and batches whatever is queued into
//! one socket write. The reader opens each `data` frame, enforcing the strict next-nonce rule
//! inside crypto-core and hands each payload to the session's [`Inbox`] (the node stores a
//! chat before it is acknowledged). Whatever ends the
//! session — EOF, a bad frame, a failed decryption, a local close — is returned as the reason.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crypto_core::wire::{Frame, Payload};
use crypto_core::{TransportReceiver, TransportSender};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::framing::LineReader;

/// Queued plaintexts per session. Small: idle sessions must stay cheap, and a full queue
/// pushes back on the sender instead of buffering without bound.
pub const QUEUE_DEPTH: usize = 64;

/// Stop batching once a write reaches this size.
const MAX_BATCH_BYTES: usize = 64 * 1024;

/// The most write-buffer capacity an idle session keeps.
const IDLE_LINE_CAPACITY: usize = 8 * 1024;

/// How long a closing session may take to flush what is already queued.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(2);

/// A plaintext payload shared between the sessions it is sent on.
pub type Outgoing = Arc<[u8]>;

/// Who the reader reports to.
pub struct ReaderContext {
    /// The remote's key, base64 (`peer_id`), for logs.
    pub peer_id: String,
    /// Where payloads go: the node stores them, then acknowledges (PROTOCOL.md §8.1).
    pub inbox: Arc<dyn Inbox>,
}

/// Handles the payloads of one session (the node: store, then acknowledge).
pub trait Inbox: Send + Sync {
    /// Takes one authenticated payload. Work that must follow arrival order (queueing the
    /// store job) is done before this returns; the future resolves to what is sent back on
    /// this session (an ack), so the reader can keep several payloads in flight.
    fn receive(self: Arc<Self>, payload: Payload) -> InboxReply;

    /// Hands over whatever `receive` collected. The reader calls it before it waits for
    /// anything (a reply, or the socket), so collected work never waits on the reader.
    fn flush(&self);
}

/// The reply an [`Inbox`] owes for one payload.
pub type InboxReply = Pin<Box<dyn Future<Output = Option<Outgoing>> + Send>>;

/// Payloads a session may have handed to its inbox without having their replies yet. The
/// reader settles them whenever it would otherwise wait for the socket, so this only bounds
/// how far a burst that is already buffered runs ahead of its acks.
const MAX_IN_FLIGHT: usize = 256;

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

/// Seals and writes queued payloads until the queue closes or the socket fails.
pub async fn writer_loop<W: AsyncWrite + Unpin>(
    mut sender: TransportSender,
    mut socket: W,
    mut queue: mpsc::Receiver<Outgoing>,
) -> Result<(), WriterError> {
    let mut line = String::new();
    while let Some(first) = queue.recv().await {
        sender
            .seal_to_line(&first, &mut line)
            .map_err(WriterError::Seal)?;
        while line.len() < MAX_BATCH_BYTES {
            match queue.try_recv() {
                Ok(next) => sender
                    .seal_to_line(&next, &mut line)
                    .map_err(WriterError::Seal)?,
                Err(_) => break,
            }
        }
        socket
            .write_all(line.as_bytes())
            .await
            .map_err(WriterError::Write)?;
        line.clear();
        if queue.is_empty() && line.capacity() > IDLE_LINE_CAPACITY {
            // Going idle: do not keep a burst-sized buffer per session.
            line = String::new();
        }
    }
    let _ = socket.shutdown().await;
    Ok(())
}

/// Reads frames until something ends the session; returns why.
pub async fn reader_loop<R: AsyncRead + Unpin>(
    mut receiver: TransportReceiver,
    mut reader: LineReader<R>,
    acks: mpsc::Sender<Outgoing>,
    ctx: &ReaderContext,
) -> String {
    let mut in_flight: VecDeque<InboxReply> = VecDeque::new();
    loop {
        // About to wait for the socket (or far enough ahead): hand the burst to the inbox,
        // then send its replies in arrival order. The store commits the burst at once, so
        // they are ready together.
        let settle = in_flight.len() >= MAX_IN_FLIGHT || !reader.has_buffered_line();
        if settle {
            ctx.inbox.flush();
            for reply in in_flight.drain(..) {
                if let Some(reply) = reply.await {
                    if acks.send(reply).await.is_err() {
                        return "writer stopped".into();
                    }
                }
            }
        }
        let line = match reader.next_line().await {
            Ok(Some(line)) => line,
            Ok(None) => return "closed by peer".into(),
            Err(e) => return e.to_string(),
        };
        let frame = match Frame::parse(line) {
            Ok(frame) => frame,
            Err(e) => return e.to_string(),
        };
        let Some(data) = frame.as_data() else {
            return "handshake frame after the handshake".into();
        };
        let plaintext = match receiver.open_frame(&data) {
            Ok(plaintext) => plaintext,
            Err(e) => return e.to_string(),
        };
        match Payload::parse(&plaintext) {
            Ok(payload) => in_flight.push_back(Arc::clone(&ctx.inbox).receive(payload)),
            Err(e) => tracing::info!(peer = %ctx.peer_id, "ignoring invalid payload: {e}"),
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
    } = io;
    let writer = tokio::spawn(writer_loop(sender, writer, queue_rx));
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
