//! One connection from start to end: accept (rate limit, session limit, a slot in the fair
//! pending-handshake table, PROTOCOL.md §9.1) or dial, the Noise handshake under its deadline
//! (or until a newcomer evicts it), the trust check, the per-address cap on strangers'
//! sessions, registration, the running session, and unregistering when it ends. Also the
//! listener and shutdown, which waits for these connection tasks.
//!
//! The long-lived connection future is kept small (an idle session should cost little
//! memory, BENCHMARKS.md): the handshake is boxed and everything between handshake and
//! session runs in plain functions.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crypto_core::wire::{Hello, AGENT};
use crypto_core::PublicKey;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, Notify, Semaphore, SemaphorePermit};

use super::registry::{Link, NewSession, Refusal, Removed, SessionShared};
use super::trust::{Admission, Expect};
use super::{Inner, Node};
use crate::admission::{
    PendingTable, PendingTicket, StrangerSessions, StrangerSlot, EVICTED, MAX_ADMISSIONS_IN_FLIGHT,
};
use crate::event::{ConnectionDirection, Event, PeerInfo, Reached};
use crate::framing::LineReader;
use crate::handshake::{self, HandshakeFailure};
use crate::limits::{NodeLimits, RateLimiter, SessionLimits};
use crate::session::{self, Framing, ReaderContext, SessionIo, QUEUE_DEPTH};

/// Inbound handshakes pending at once by default (`--max-pending-handshakes`); a newcomer
/// beyond this evicts the oldest handshake of the address holding the most slots, so a flood
/// of silent connections can neither exhaust memory nor lock honest peers out.
pub const MAX_PENDING_HANDSHAKES: usize = crate::limits::DEFAULT_MAX_PENDING_HANDSHAKES;

/// Why a dial did not end in a live session.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The invite's host name did not resolve.
    #[error("cannot resolve {0}")]
    Resolve(String),
    /// TCP connect failed.
    #[error("cannot connect to {addr}: {cause}")]
    Connect {
        /// Target.
        addr: SocketAddr,
        /// Cause: part of the message, so not also reported as the error's source (a
        /// command line printing the chain would say it twice).
        cause: std::io::Error,
    },
    /// Handshake failed.
    #[error("handshake with {addr} failed: {reason}")]
    Handshake {
        /// Target.
        addr: SocketAddr,
        /// Cause.
        reason: HandshakeFailure,
    },
    /// The connection task ended before it reported.
    #[error("handshake with {addr} failed: connection task ended")]
    TaskEnded {
        /// Target.
        addr: SocketAddr,
    },
    /// The session was refused (duplicate rule, our own key, trust).
    #[error("connection to {addr} closed: {reason}")]
    Refused {
        /// Target.
        addr: SocketAddr,
        /// Cause.
        reason: Refusal,
    },
}

impl ConnectError {
    /// The typed `code` of the `error` event a failed dial gives the page (PROTOCOL.md §8.1).
    pub fn code(&self) -> &'static str {
        match self {
            ConnectError::Resolve(_) => "unknown_host",
            ConnectError::Connect { cause, .. } => connect_code(cause),
            ConnectError::Handshake { reason, .. } => match reason {
                HandshakeFailure::Timeout(_) => "handshake_timeout",
                HandshakeFailure::Closed => "handshake_closed",
                HandshakeFailure::Line(_)
                | HandshakeFailure::Frame(_)
                | HandshakeFailure::DataBeforeHandshake
                | HandshakeFailure::UnexpectedStep { .. }
                | HandshakeFailure::BadBase64 => "not_a_peer",
                _ => "handshake_failed",
            },
            ConnectError::TaskEnded { .. } => "handshake_failed",
            ConnectError::Refused { reason, .. } => match reason {
                Refusal::Duplicate => "already_connected",
                Refusal::OwnKey => "own_key",
                Refusal::InviteKeyMismatch { .. } => "wrong_key",
                Refusal::Blocked => "blocked",
                Refusal::Unavailable => "unavailable",
                Refusal::SessionLimit(_) => "session_limit",
                Refusal::TooManyFromAddress => "too_many_from_address",
            },
        }
    }

    /// The address the dial was aimed at (`host:port` for an unresolved name).
    pub fn address(&self) -> Option<String> {
        match self {
            ConnectError::Resolve(target) => Some(target.clone()),
            ConnectError::Connect { addr, .. }
            | ConnectError::Handshake { addr, .. }
            | ConnectError::TaskEnded { addr }
            | ConnectError::Refused { addr, .. } => Some(addr.to_string()),
        }
    }
}

/// The code of a failed TCP connect: refused, timed out, unreachable, or another failure.
fn connect_code(error: &std::io::Error) -> &'static str {
    use std::io::ErrorKind;
    match error.kind() {
        ErrorKind::ConnectionRefused => "connection_refused",
        ErrorKind::TimedOut => "timed_out",
        ErrorKind::HostUnreachable | ErrorKind::NetworkUnreachable => "unreachable",
        _ => "connect_failed",
    }
}

/// Who learns how a dial ended.
type Ready = Option<oneshot::Sender<Result<PeerInfo, ConnectError>>>;

/// How a connection came to be, which decides who sends Noise message 1 (PROTOCOL.md §2,
/// §7.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Opened {
    /// Our listener accepted it: we are the responder.
    Accepted,
    /// We dialled it: we are the initiator.
    Dialled,
    /// A hole punch for an introduction we accepted: we are the initiator.
    PunchInitiator,
    /// A hole punch for an introduction we asked for: we are the responder, unless message 1
    /// has not come within `punch::ROLE_WAIT` (then we are the initiator).
    PunchResponder,
}

impl Opened {
    fn is_punch(self) -> bool {
        matches!(self, Opened::PunchInitiator | Opened::PunchResponder)
    }
}

/// The connection tasks and what bounds inbound ones.
pub(super) struct Connections {
    live_tasks: AtomicUsize,
    tasks_done: Notify,
    pending: PendingTable,
    /// Places for inbound handshakes' trust checks on the store thread
    /// ([`MAX_ADMISSIONS_IN_FLIGHT`]).
    admissions: Semaphore,
    strangers: StrangerSessions,
    rate: RateLimiter,
    session_limits: SessionLimits,
}

impl Connections {
    pub(super) fn new(limits: &NodeLimits) -> Self {
        Self {
            live_tasks: AtomicUsize::new(0),
            tasks_done: Notify::new(),
            pending: PendingTable::new(
                limits.max_pending_handshakes,
                limits.max_pending_per_ip,
                limits.rate_limit_loopback,
            ),
            admissions: Semaphore::new(MAX_ADMISSIONS_IN_FLIGHT),
            strangers: StrangerSessions::new(
                limits.max_stranger_sessions_per_ip,
                limits.rate_limit_loopback,
            ),
            rate: RateLimiter::new(limits),
            session_limits: limits.session,
        }
    }
}

/// Counts a connection task so shutdown can wait for it.
struct TaskGuard(Arc<Inner>);

impl TaskGuard {
    fn new(inner: &Arc<Inner>) -> Self {
        inner.connections.live_tasks.fetch_add(1, Ordering::SeqCst);
        Self(inner.clone())
    }
}

impl Drop for TaskGuard {
    fn drop(&mut self) {
        let connections = &self.0.connections;
        if connections.live_tasks.fetch_sub(1, Ordering::SeqCst) == 1 {
            connections.tasks_done.notify_waiters();
        }
    }
}

impl Node {
    /// Binds the P2P listener and starts accepting; returns the bound address.
    pub async fn listen(&self, addr: SocketAddr) -> std::io::Result<SocketAddr> {
        let listener = crate::reach::bind_listener(addr)?;
        let local = listener.local_addr()?;
        self.inner.addresses.set_listening(local);
        self.set_addresses(crate::reach::interfaces::local_addresses(local));
        let node = self.clone();
        tokio::spawn(async move { node.accept_loop(listener).await });
        self.emit(Event::Status {
            message: format!("listening on {local}"),
        });
        Ok(local)
    }

    async fn accept_loop(self, listener: TcpListener) {
        let connections = &self.inner.connections;
        loop {
            match listener.accept().await {
                Ok((stream, addr)) => {
                    // A dual-stack listener sees IPv4 peers as `::ffff:a.b.c.d`.
                    let addr = crate::reach::listen::canonical(addr);
                    if !connections.rate.allow(addr.ip()) {
                        crate::remote_log::ignored(
                            &addr,
                            format_args!(
                                "connection closed: handshake rate limit for this address"
                            ),
                        );
                        continue;
                    }
                    if self.inner.sessions.is_full_of_contacts() {
                        crate::remote_log::ignored(
                            &addr,
                            format_args!("connection closed: session limit reached"),
                        );
                        continue;
                    }
                    // Never refused: a full table or address makes room (PROTOCOL.md §9.1).
                    let ticket = connections.pending.admit(addr.ip());
                    let node = self.clone();
                    tokio::spawn(async move {
                        node.run_connection(
                            stream,
                            addr,
                            Opened::Accepted,
                            Some(ticket),
                            None,
                            Expect::Anyone,
                        )
                        .await;
                    });
                }
                Err(e) => {
                    // Usually out of file descriptors; back off instead of spinning.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    /// Dials `addr` expecting no particular key, handshakes and registers the session.
    /// Returns once the session is live (its I/O continues in a background task). Whoever
    /// answers becomes a contact (we dialled it, PROTOCOL.md §8.2).
    pub async fn connect(&self, addr: SocketAddr) -> Result<PeerInfo, ConnectError> {
        self.dial(addr, Expect::Anyone).await
    }

    /// [`Node::connect`] expecting `expected` (a contact's key, PROTOCOL.md §8.3): another key
    /// is closed before message 3; if `expected` is a contact and `addr` an address it gave
    /// us, that is a key change (`key_changed`), else only a failed dial.
    pub async fn connect_expecting(
        &self,
        addr: SocketAddr,
        expected: Option<PublicKey>,
    ) -> Result<PeerInfo, ConnectError> {
        self.dial(addr, expected.map_or(Expect::Anyone, Expect::Contact))
            .await
    }

    pub(super) async fn dial(
        &self,
        addr: SocketAddr,
        expect: Expect,
    ) -> Result<PeerInfo, ConnectError> {
        self.dial_from(addr, expect, true).await
    }

    /// [`Node::dial`], from our listening port only when `from_listening_port` (and it is
    /// shared, `crate::reach::dial`). A redial of an address a contact was *seen* at behind its
    /// router leaves from another port: a failed SYN from the listening port to it would leave
    /// our router expecting that very connection, and a later hole punch on the same ports
    /// would then reach our listener instead of our punch (PROTOCOL.md §7.2).
    pub(super) async fn dial_from(
        &self,
        addr: SocketAddr,
        expect: Expect,
        from_listening_port: bool,
    ) -> Result<PeerInfo, ConnectError> {
        self.emit(Event::Status {
            message: format!("connecting to {addr}"),
        });
        let timeout = self.inner.handshake_timeout;
        // From our listening port when it is shared (`crate::reach::dial`), so the address a
        // contact sees us at is worth passing on (PROTOCOL.md §7.1).
        let port = self
            .inner
            .addresses
            .dial_port()
            .filter(|_| from_listening_port);
        let stream = crate::reach::dial::connect(addr, port, timeout)
            .await
            .map_err(|cause| ConnectError::Connect { addr, cause })?;
        let (ready_tx, ready_rx) = oneshot::channel();
        let node = self.clone();
        tokio::spawn(async move {
            node.run_connection(stream, addr, Opened::Dialled, None, Some(ready_tx), expect)
                .await;
        });
        match ready_rx.await {
            Ok(result) => result,
            Err(_) => Err(ConnectError::TaskEnded { addr }),
        }
    }

    /// Runs one connection to its end and logs why it closed (never key material or text).
    pub(super) async fn run_connection(
        &self,
        stream: TcpStream,
        addr: SocketAddr,
        opened: Opened,
        pending: Option<PendingTicket>,
        ready: Ready,
        expect: Expect,
    ) {
        let _guard = TaskGuard::new(&self.inner);
        let reason = self
            .connection_body(stream, addr, opened, pending, ready, expect)
            .await;
        tracing::info!(%addr, ?opened, "connection closed: {reason}");
    }

    /// Handshake, admit, register, run, unregister; returns the close reason. `ready` learns
    /// the outcome of the handshake and registration. An inbound handshake holds `pending`, its
    /// slot in the pending table, until it completes, fails or is evicted.
    async fn connection_body(
        &self,
        stream: TcpStream,
        addr: SocketAddr,
        opened: Opened,
        pending: Option<PendingTicket>,
        ready: Ready,
        expect: Expect,
    ) -> String {
        let _ = stream.set_nodelay(true);
        let direction = match opened {
            Opened::Accepted => ConnectionDirection::Inbound,
            Opened::Dialled | Opened::PunchInitiator => ConnectionDirection::Outbound,
            // Message 1 already on its way means the other side initiates (PROTOCOL.md §7.2).
            Opened::PunchResponder => Box::pin(tokio::time::timeout(
                super::punch::ROLE_WAIT,
                stream.readable(),
            ))
            .await
            .map_or(ConnectionDirection::Outbound, |_| {
                ConnectionDirection::Inbound
            }),
        };
        let (read_half, mut write_half) = stream.into_split();
        let mut reader = LineReader::new(read_half);
        let hello = Hello {
            name: self.name(),
            listen_port: self.inner.addresses.port(),
            agent: AGENT.to_owned(),
            binary_frames: true,
        };
        let timeout = self.inner.handshake_timeout;
        let deadline = tokio::time::Instant::now() + timeout;
        let identity = &self.inner.identity;
        // Boxed (state and result) so the handshake does not size the long-lived connection
        // future: an idle session should cost as little memory as possible.
        let result = Box::pin(async {
            let handshake = tokio::time::timeout_at(deadline, async {
                match direction {
                    ConnectionDirection::Outbound => {
                        handshake::initiate(
                            &mut reader,
                            &mut write_half,
                            identity,
                            &hello,
                            expect.key(),
                        )
                        .await
                    }
                    ConnectionDirection::Inbound => {
                        handshake::respond(&mut reader, &mut write_half, identity, &hello).await
                    }
                }
                .map(Box::new)
            });
            let finished = match &pending {
                Some(ticket) => tokio::select! {
                    finished = handshake => finished,
                    () = ticket.evicted() => return None,
                },
                None => handshake.await,
            };
            Some(finished.unwrap_or_else(|_| Err(HandshakeFailure::Timeout(timeout.as_millis()))))
        })
        .await;
        let Some(result) = result else {
            return EVICTED.to_owned();
        };
        let established = match result {
            Ok(established) => established,
            Err(e) => return Box::pin(self.handshake_failed(e, addr, ready, expect)).await,
        };
        // An inbound handshake's trust check waits for a place, still holding its pending slot
        // (so still under the deadline and evictable), then gives the slot up.
        let admission_place = match &pending {
            Some(ticket) => match Box::pin(self.admission_place(ticket, deadline)).await {
                Ok(place) => Some(place),
                Err(reason) => return reason,
            },
            None => None,
        };
        drop(pending);
        let remote = established.remote();
        if opened.is_punch() && expect.key().is_some_and(|k| *k != remote) {
            // As responder we learn the key only now: a punch is for the introduced key only.
            let failure = HandshakeFailure::NotIntroduced;
            return Box::pin(self.handshake_failed(failure, addr, ready, expect)).await;
        }
        // A message request counts against its address until its session ends (or it becomes
        // a contact): one address cannot park more than its share (PROTOCOL.md §9.1). The place
        // is taken before the trust check, so a handshake refused for its address's share
        // records no request and evicts no one's.
        // Ours: we dialled it, it is a punch, or its key has an introduction under way (its
        // punch reached our listener first: then it counts as punched too).
        let punched = opened.is_punch()
            || (opened == Opened::Accepted && self.inner.punches.is_expected(&remote));
        let ours = direction == ConnectionDirection::Outbound || punched;
        let place = match ours {
            false => self.inner.connections.strangers.admit(addr.ip()).ok(),
            true => None,
        };
        let room_for_stranger = place.is_some();
        let admitted =
            Box::pin(self.admit(remote, &established.hello, addr, ours, room_for_stranger)).await;
        drop(admission_place);
        let admission = match admitted {
            Ok(admission) => admission,
            Err(reason) => return refuse(ready, addr, reason),
        };
        let stranger_slot = match admission {
            Admission::Request { .. } => place,
            Admission::Contact { .. } => None,
        };
        // Everything between the handshake and the session runs in a plain function, so the
        // transport keys and buffers moved into the session are not also kept in this
        // long-lived future's state.
        let link = Link {
            remote: addr,
            local_port: write_half.local_addr().map_or(0, |a| a.port()),
        };
        let (session, remote, conn_id, peer_id) = match self.establish(
            established,
            (reader, write_half),
            (link, direction, punched),
            admission,
            stranger_slot,
            ready,
        ) {
            Ok(parts) => parts,
            Err(reason) => return reason.to_string(),
        };
        // Boxed: the session's state (its lanes, files' bulk lane included) lives on the heap
        // once, not also in this future's state.
        let reason =
            Box::pin(session.wait(|reason| self.unregister(&remote, conn_id, reason))).await;
        format!("session with {peer_id} ended: {reason}")
    }

    /// Waits for a place for an inbound handshake's trust check ([`MAX_ADMISSIONS_IN_FLIGHT`]);
    /// the close reason if its pending slot is taken by a newcomer or the handshake deadline
    /// passes first.
    async fn admission_place(
        &self,
        ticket: &PendingTicket,
        deadline: tokio::time::Instant,
    ) -> Result<SemaphorePermit<'_>, String> {
        let admissions = &self.inner.connections.admissions;
        tokio::select! {
            place = admissions.acquire() => place.map_err(|_| "shutting down".to_owned()),
            () = ticket.evicted() => Err(EVICTED.to_owned()),
            () = tokio::time::sleep_until(deadline) => Err(format!(
                "handshake not finished within {} ms (waiting for its trust check)",
                self.inner.handshake_timeout.as_millis()
            )),
        }
    }

    /// Tells the dialler why the handshake failed; a dial that expected a contact's key and
    /// was answered by another may raise a key change. Returns the close reason.
    async fn handshake_failed(
        &self,
        failure: HandshakeFailure,
        addr: SocketAddr,
        ready: Ready,
        expect: Expect,
    ) -> String {
        let reason = format!("handshake failed: {failure}");
        let error = match (&failure, expect) {
            (HandshakeFailure::UnexpectedKey { got, .. }, Expect::Invite(expected)) => {
                ConnectError::Refused {
                    addr,
                    reason: Refusal::InviteKeyMismatch {
                        addr,
                        got: got.to_base64(),
                        expected: expected.to_base64(),
                    },
                }
            }
            (HandshakeFailure::UnexpectedKey { got, name, .. }, Expect::Contact(expected)) => {
                self.key_mismatch(expected, **got, name.clone(), addr).await;
                ConnectError::Handshake {
                    addr,
                    reason: failure,
                }
            }
            _ => ConnectError::Handshake {
                addr,
                reason: failure,
            },
        };
        if let Some(ready) = ready {
            let _ = ready.send(Err(error));
        }
        reason
    }

    /// Registers an admitted handshake (or refuses it) and starts its session on `io`, the
    /// framed read half and the write half. `stranger` is a message request's place in its
    /// address's count, held for as long as the session is a stranger's.
    fn establish(
        &self,
        established: Box<handshake::Established>,
        io: (LineReader<OwnedReadHalf>, OwnedWriteHalf),
        (link, direction, punched): (Link, ConnectionDirection, bool),
        admission: Admission,
        stranger: Option<StrangerSlot>,
        ready: Ready,
    ) -> Result<(session::Session, PublicKey, u64, String), Refusal> {
        let remote = established.remote();
        let addr = link.remote;
        let peer_id = remote.to_base64();
        let conn_id = self.inner.sessions.next_conn_id();
        let info = PeerInfo {
            peer_id: peer_id.clone(),
            public_key: peer_id.clone(),
            name: established.hello.name.clone(),
            address: addr.to_string(),
            listen_port: established.hello.listen_port,
            direction,
            // Filled in by whoever shows it (`fingerprint_of`): see `fingerprints`.
            fingerprint: String::new(),
            verified: self.inner.trust.is_verified(&remote),
            contact: matches!(admission, Admission::Contact { .. }),
            confusable_with: match &admission {
                Admission::Request {
                    confusable_with, ..
                } => confusable_with.clone(),
                Admission::Contact {
                    confusable_with, ..
                } => confusable_with.clone(),
            },
            reached: if punched {
                Reached::Punched
            } else {
                Reached::Direct
            },
        };
        let (queue_tx, queue_rx) = mpsc::channel(QUEUE_DEPTH);
        let (close_tx, close_rx) = oneshot::channel();
        let shared = SessionShared::new(stranger);
        if info.contact && self.inner.sessions.is_full() && !self.inner.sessions.contains(&remote) {
            // Contacts come first: the oldest message request's session makes room.
            if let Some(oldest) = self.inner.sessions.oldest_stranger() {
                self.disconnect(&oldest, "closed to make room for a contact");
            }
        }
        let registered = self.inner.sessions.register(
            &self.inner.public,
            NewSession {
                remote,
                conn_id,
                direction,
                link,
                info: &info,
                queue: &queue_tx,
                shared: &shared,
                close: close_tx,
            },
        );
        if let Err(reason) = registered {
            // Refused (a duplicate, the session limit): a live session of this key keeps its
            // stranger mark; clearing it would make a request's session a contact's.
            if !self.inner.sessions.contains(&remote) {
                self.inner.trust.release(&remote);
            }
            refuse(ready, addr, reason.clone());
            return Err(reason);
        }
        self.inner.punches.done(&remote);
        tracing::info!(%addr, peer = %peer_id, ?direction, reached = ?info.reached, name = %info.name, binary_frames = established.hello.binary_frames, "session established");
        let shared_bulk = Arc::clone(&shared.bulk);
        let ctx = ReaderContext {
            peer_id: peer_id.clone(),
            inbox: self.inbox(remote, &info.name, shared),
            limits: self.inner.connections.session_limits,
        };
        self.emit(Event::PeerConnected(info.clone()));
        let contact = info.contact;
        if let Admission::Request { event, .. } = admission {
            self.emit(event);
        }
        if let Some(ready) = ready {
            let _ = ready.send(Ok(info));
        }
        if contact {
            self.session_online(remote);
        } else {
            // An older request session of this key that ended meanwhile released the key.
            self.inner.trust.admitted_as_request(remote);
        }
        let node = self.clone();
        tokio::spawn(async move { node.recheck_session(remote, conn_id).await });
        let handshake::Established { transport, hello } = *established;
        let (sender, receiver) = transport.into_halves();
        let (reader, write_half) = io;
        let io = SessionIo {
            receiver,
            sender,
            reader,
            writer: write_half,
            framing: if hello.binary_frames {
                Framing::Binary
            } else {
                Framing::Lines
            },
        };
        let bulk = Arc::clone(&shared_bulk);
        let session = session::start(io, queue_tx, queue_rx, bulk, close_rx, ctx);
        Ok((session, remote, conn_id, peer_id))
    }

    /// Removes a session if it is still the registered one for its key.
    fn unregister(&self, remote: &PublicKey, conn_id: u64, reason: &str) {
        if let Some(removed) = self.inner.sessions.remove_if_current(remote, conn_id) {
            self.session_removed(remote, &removed, reason, || {
                if !removed.stranger {
                    self.keep_session_ended(*remote, reason);
                }
            });
        }
    }

    /// What a session taken out of the registry leaves behind, however it ended: its outbox
    /// and files stop, what it announced while a request goes, `redial` decides whether it is
    /// dialled again, and every UI is told (the contacts relisted unless it was a request's:
    /// a request's end changes no contact).
    fn session_removed(
        &self,
        peer: &PublicKey,
        removed: &Removed,
        reason: &str,
        redial: impl FnOnce(),
    ) {
        self.inner.outbox.session_gone(peer);
        self.files_session_gone(peer);
        if removed.stranger {
            self.inner.trust.release(peer);
        }
        self.inner.held_announcements.take(peer);
        redial();
        self.emit_disconnected(&removed.info, reason);
        if !removed.stranger {
            self.emit_contacts();
        }
    }

    /// Closes the session with `peer`; false if there was none.
    pub fn disconnect(&self, peer: &PublicKey, reason: &str) -> bool {
        match self.inner.sessions.remove(peer) {
            Some(removed) => {
                // Closed on purpose here: not redialled (PROTOCOL.md §7.3).
                self.session_removed(peer, &removed, reason, || self.keep_forget(peer));
                removed.close(reason);
                true
            }
            None => false,
        }
    }

    fn emit_disconnected(&self, info: &PeerInfo, reason: &str) {
        if let Ok(key) = crypto_core::PublicKey::from_base64(&info.peer_id) {
            self.record_session_end(key);
            self.typing_session_ended(&key);
        }
        self.emit(Event::PeerDisconnected {
            peer_id: info.peer_id.clone(),
            public_key: info.public_key.clone(),
            name: info.name.clone(),
            address: info.address.clone(),
            reason: reason.to_owned(),
        });
    }

    /// Closes every session and waits (briefly) for their tasks to flush and finish.
    pub async fn shutdown(&self) {
        for key in self.inner.sessions.keys() {
            self.disconnect(&key, "shutting down");
        }
        let connections = &self.inner.connections;
        let wait = async {
            loop {
                let notified = connections.tasks_done.notified();
                if connections.live_tasks.load(Ordering::SeqCst) == 0 {
                    return;
                }
                notified.await;
            }
        };
        if tokio::time::timeout(Duration::from_secs(3), wait)
            .await
            .is_err()
        {
            tracing::warn!("some connections did not close in time");
        }
        self.flush_store().await;
    }
}

/// Tells a dialler its session was refused; returns the close reason.
fn refuse(ready: Ready, addr: SocketAddr, reason: Refusal) -> String {
    let text = reason.to_string();
    if let Some(ready) = ready {
        let _ = ready.send(Err(ConnectError::Refused { addr, reason }));
    }
    text
}

#[cfg(test)]
mod size_tests {
    use super::super::NodeConfig;
    use super::*;
    use crate::persist::StoreHandle;
    use crate::store::Store;
    use crypto_core::Identity;

    /// Idle sessions must stay small (BENCHMARKS.md: at most 16 KiB each). Future sizes are
    /// where that budget silently goes (moved values stay in an async fn's state), so pin them.
    #[tokio::test]
    async fn long_lived_futures_stay_small() {
        let node = Node::new(NodeConfig {
            identity: Identity::generate(),
            name: String::new(),
            handshake_timeout: Duration::from_secs(1),
            store: StoreHandle::spawn(Store::open_in_memory().unwrap()).unwrap(),
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stream = TcpStream::connect(addr).await.unwrap();
        let connection =
            node.run_connection(stream, addr, Opened::Accepted, None, None, Expect::Anyone);
        assert!(
            std::mem::size_of_val(&connection) <= 1536,
            "{}",
            std::mem::size_of_val(&connection)
        );

        let (sender, receiver) = crate::handshake::tests::transport_pair();
        let (tx, rx) = mpsc::channel(4);
        let writer = session::writer_loop(
            sender,
            tokio::io::sink(),
            rx,
            crate::bulk_lane::BulkLane::new(),
            Duration::from_secs(60),
            Framing::Binary,
        );
        assert!(
            std::mem::size_of_val(&writer) <= 3072,
            "{}",
            std::mem::size_of_val(&writer)
        );
        let remote = *Identity::generate().public_key();
        let ctx = ReaderContext {
            peer_id: remote.to_base64(),
            inbox: node.inbox(remote, "", SessionShared::new(None)),
            limits: SessionLimits::default(),
        };
        let reader = session::reader_loop(receiver, LineReader::new(tokio::io::empty()), tx, &ctx);
        assert!(
            std::mem::size_of_val(&reader) <= 3584,
            "{}",
            std::mem::size_of_val(&reader)
        );
    }
}
