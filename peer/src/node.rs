//! The node: listener and dialler, the registry of live sessions keyed by the remote static key
//! (with PROTOCOL.md §7's duplicate rule), sending, and the event channel to the UI layer.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use crypto_core::wire::{clean_name, Hello, AGENT};
use crypto_core::{fingerprint, Identity, PublicKey};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, mpsc, oneshot, Notify, OwnedSemaphorePermit, Semaphore};

use crate::event::{Direction, Event, PeerInfo};
use crate::fingerprints::FingerprintCache;
use crate::framing::LineReader;
use crate::handshake::{self, HandshakeFailure};
use crate::limits::{NodeLimits, RateLimiter};
use crate::session::{self, Outgoing, ReaderContext, SessionIo, QUEUE_DEPTH};

#[path = "node_chat.rs"]
mod chat;
pub use chat::{parse_conversation, Target, MAX_HISTORY_PAGE, REDIAL_BASE, REDIAL_CAP};

/// Longest chat text the UI may send, in characters (PROTOCOL.md §9).
pub const MAX_TEXT_CHARS: usize = 16_000;

/// Inbound handshakes allowed at once by default (`--max-pending-handshakes`); beyond this new
/// connections are closed at once, so a flood of silent connections cannot exhaust memory or
/// descriptors for 10 s each.
pub const MAX_PENDING_HANDSHAKES: usize = crate::limits::DEFAULT_MAX_PENDING_HANDSHAKES;

/// How long a send waits for room in a full session queue before the session is closed.
const SEND_WAIT: Duration = Duration::from_secs(5);

/// Capacity of the event channel; a UI that lags further loses events (and is told so).
const EVENT_CAPACITY: usize = 4096;

/// Node settings.
pub struct NodeConfig {
    /// Our static identity.
    pub identity: Identity,
    /// Display name sent in hellos.
    pub name: String,
    /// Deadline for a whole handshake (10 s by the protocol; shorter in tests).
    pub handshake_timeout: Duration,
}

/// Why an action on the node failed; the message goes to the UI as an `error` event.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// TCP connect failed.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// Target.
        addr: SocketAddr,
        /// Cause.
        source: std::io::Error,
    },
    /// Handshake failed.
    #[error("handshake with {addr} failed: {reason}")]
    Handshake {
        /// Target.
        addr: SocketAddr,
        /// Cause.
        reason: String,
    },
    /// The session was refused by the duplicate rule or because it is our own key.
    #[error("connection to {addr} closed: {reason}")]
    Refused {
        /// Target.
        addr: SocketAddr,
        /// Cause.
        reason: String,
    },
    /// `to` names a peer without a live session.
    #[error("not connected to that peer")]
    NotConnected,
    /// Bad message text.
    #[error("{0}")]
    BadText(String),
}

/// One live session in the registry.
struct SessionHandle {
    conn_id: u64,
    direction: Direction,
    info: PeerInfo,
    queue: mpsc::Sender<Outgoing>,
    close: Option<oneshot::Sender<String>>,
}

struct Inner {
    identity: Identity,
    public: PublicKey,
    public_b64: String,
    fingerprint: String,
    name: RwLock<String>,
    listen_port: AtomicU16,
    /// Where others can dial us, best first (see `crate::reach`).
    dial_addresses: RwLock<Vec<crate::reach::ReachAddress>>,
    handshake_timeout: Duration,
    sessions: Mutex<HashMap<PublicKey, SessionHandle>>,
    verified: Mutex<HashSet<PublicKey>>,
    fingerprints: FingerprintCache,
    events: broadcast::Sender<Event>,
    next_conn: AtomicU64,
    next_msg: AtomicU64,
    live_tasks: AtomicUsize,
    tasks_done: Notify,
    handshake_slots: Arc<Semaphore>,
    persist: chat::Persist,
    limits: NodeLimits,
    rate: RateLimiter,
}

/// A handle to the node; cheap to clone.
#[derive(Clone)]
pub struct Node {
    inner: Arc<Inner>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave these maps inconsistent; keep going.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Counts a connection task so shutdown can wait for it.
struct TaskGuard(Arc<Inner>);

impl TaskGuard {
    fn new(inner: &Arc<Inner>) -> Self {
        inner.live_tasks.fetch_add(1, Ordering::SeqCst);
        Self(inner.clone())
    }
}

impl Drop for TaskGuard {
    fn drop(&mut self) {
        if self.0.live_tasks.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.tasks_done.notify_waiters();
        }
    }
}

/// PROTOCOL.md §7: given a live session and a newly completed one with the same remote, keep
/// the one initiated by the smaller static key; if one side initiated both, keep the older.
pub fn keep_new_session(
    me: &PublicKey,
    remote: &PublicKey,
    old: Direction,
    new: Direction,
) -> bool {
    if old == new {
        return false;
    }
    let initiator_of_new = match new {
        Direction::Outbound => me,
        Direction::Inbound => remote,
    };
    let smaller = if me.as_bytes() <= remote.as_bytes() {
        me
    } else {
        remote
    };
    initiator_of_new.as_bytes() == smaller.as_bytes()
}

impl Node {
    /// A node with no listener yet and the default [`NodeLimits`].
    pub fn new(config: NodeConfig) -> Self {
        Self::with_limits(config, NodeLimits::default())
    }

    /// A node with no listener yet and these limits.
    pub fn with_limits(config: NodeConfig, limits: NodeLimits) -> Self {
        let public = *config.identity.public_key();
        let (events, _) = broadcast::channel(EVENT_CAPACITY);
        Self {
            inner: Arc::new(Inner {
                public_b64: public.to_base64(),
                fingerprint: fingerprint(&public),
                public,
                identity: config.identity,
                name: RwLock::new(clean_name(&config.name)),
                listen_port: AtomicU16::new(0),
                dial_addresses: RwLock::new(Vec::new()),
                handshake_timeout: config.handshake_timeout,
                sessions: Mutex::new(HashMap::new()),
                verified: Mutex::new(HashSet::new()),
                fingerprints: FingerprintCache::default(),
                events,
                next_conn: AtomicU64::new(1),
                next_msg: AtomicU64::new(0),
                live_tasks: AtomicUsize::new(0),
                tasks_done: Notify::new(),
                persist: chat::Persist::new(),
                handshake_slots: Arc::new(Semaphore::new(limits.max_pending_handshakes.max(1))),
                rate: RateLimiter::new(&limits),
                limits,
            }),
        }
    }

    /// Our public key.
    pub fn public_key(&self) -> PublicKey {
        self.inner.public
    }

    /// Our display name.
    pub fn name(&self) -> String {
        self.inner
            .name
            .read()
            .map(|n| n.clone())
            .unwrap_or_default()
    }

    /// Receives every event from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.inner.events.subscribe()
    }

    /// Emits an event to every subscriber.
    pub fn emit(&self, event: Event) {
        let _ = self.inner.events.send(event);
    }

    /// The fingerprint of a remote key (cached; ~2 ms the first time).
    pub fn fingerprint_of(&self, key: &PublicKey) -> String {
        self.inner.fingerprints.get(key).to_string()
    }

    /// Fills in the fingerprint of a `peer_connected` event on its way to a UI.
    pub fn with_fingerprint(&self, event: &Event) -> Option<Event> {
        match event {
            Event::PeerConnected(info) if info.fingerprint.is_empty() => {
                let key = PublicKey::from_base64(&info.public_key).ok()?;
                let mut info = info.clone();
                info.fingerprint = self.fingerprint_of(&key);
                Some(Event::PeerConnected(info))
            }
            _ => None,
        }
    }

    /// Whether any UI (or terminal chat) is subscribed to events.
    pub fn has_subscribers(&self) -> bool {
        self.inner.events.receiver_count() > 0
    }

    /// The `info` event describing us.
    pub fn info(&self) -> Event {
        Event::Info {
            public_key: self.inner.public_b64.clone(),
            fingerprint: self.inner.fingerprint.clone(),
            name: self.name(),
            p2p_port: self.inner.listen_port.load(Ordering::Relaxed),
            addresses: self
                .inner
                .dial_addresses
                .read()
                .map(|a| a.clone())
                .unwrap_or_default(),
            agent: AGENT.to_owned(),
        }
    }

    /// Every live session, as `peer_connected` payloads.
    pub fn peers(&self) -> Vec<PeerInfo> {
        let verified = lock(&self.inner.verified).clone();
        let held: HashSet<PublicKey> = lock(self.inner.persist.held_keys())
            .keys()
            .copied()
            .collect();
        lock(&self.inner.sessions)
            .iter()
            .filter(|(key, _)| !held.contains(key))
            .map(|(key, handle)| PeerInfo {
                verified: verified.contains(key),
                ..handle.info.clone()
            })
            .collect()
    }

    /// Changes the name sent in future handshakes and tells every UI.
    pub fn set_name(&self, name: &str) {
        if let Ok(mut current) = self.inner.name.write() {
            *current = clean_name(name);
        }
        self.emit(self.info());
    }

    /// Where others can dial us (best first): shown in `info`, named by invites.
    pub fn set_addresses(&self, addresses: Vec<crate::reach::ReachAddress>) {
        if let Ok(mut slot) = self.inner.dial_addresses.write() {
            *slot = crate::reach::ordered(addresses);
        }
        self.emit(self.info());
    }

    /// Closes the session with `peer`; false if there was none.
    pub fn disconnect(&self, peer: &PublicKey, reason: &str) -> bool {
        let handle = lock(&self.inner.sessions).remove(peer);
        match handle {
            Some(mut handle) => {
                self.inner.persist.session_gone(peer);
                lock(self.inner.persist.held_keys()).remove(peer);
                self.emit_disconnected(&handle.info, reason);
                self.emit_contacts();
                if let Some(close) = handle.close.take() {
                    let _ = close.send(reason.to_owned());
                }
                true
            }
            None => false,
        }
    }

    /// Binds the P2P listener and starts accepting; returns the bound address.
    pub async fn listen(&self, addr: SocketAddr) -> std::io::Result<SocketAddr> {
        let listener = crate::reach::bind_listener(addr)?;
        let local = listener.local_addr()?;
        self.inner
            .listen_port
            .store(local.port(), Ordering::Relaxed);
        self.set_addresses(crate::reach::interfaces::local_addresses(local));
        let node = self.clone();
        tokio::spawn(async move { node.accept_loop(listener).await });
        self.emit(Event::Status {
            message: format!("listening on {local}"),
        });
        Ok(local)
    }

    async fn accept_loop(self, listener: TcpListener) {
        loop {
            match listener.accept().await {
                Ok((stream, addr)) => {
                    let addr = crate::reach::listen::canonical(addr);
                    if !self.inner.rate.allow(addr.ip()) {
                        tracing::warn!(%addr, "connection closed: handshake rate limit for this address");
                        continue;
                    }
                    if lock(&self.inner.sessions).len() >= self.inner.limits.max_sessions {
                        tracing::warn!(%addr, "connection closed: session limit reached");
                        continue;
                    }
                    let Ok(permit) = self.inner.handshake_slots.clone().try_acquire_owned() else {
                        tracing::warn!(%addr, "connection closed: too many handshakes in progress");
                        continue;
                    };
                    let node = self.clone();
                    tokio::spawn(async move {
                        node.run_connection(stream, addr, Direction::Inbound, Some(permit), None)
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

    /// Dials `addr`, handshakes and registers the session. Returns once the session is live
    /// (its I/O continues in a background task).
    pub async fn connect(&self, addr: SocketAddr) -> Result<PeerInfo, NodeError> {
        self.connect_expecting(addr, None).await
    }

    /// [`Node::connect`], refusing the session unless the remote's static key is `expected`.
    pub async fn connect_expecting(
        &self,
        addr: SocketAddr,
        expected: Option<PublicKey>,
    ) -> Result<PeerInfo, NodeError> {
        self.emit(Event::Status {
            message: format!("connecting to {addr}"),
        });
        let timeout = self.inner.handshake_timeout;
        let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| NodeError::Connect {
                addr,
                source: std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"),
            })?
            .map_err(|source| NodeError::Connect { addr, source })?;
        if let Some(expected) = expected {
            match stream.local_addr() {
                Ok(local) => self.expect_key(local, expected),
                Err(source) => return Err(NodeError::Connect { addr, source }),
            }
        }
        let (ready_tx, ready_rx) = oneshot::channel();
        let node = self.clone();
        tokio::spawn(async move {
            node.run_connection(stream, addr, Direction::Outbound, None, Some(ready_tx))
                .await;
        });
        match ready_rx.await {
            Ok(result) => result,
            Err(_) => Err(NodeError::Handshake {
                addr,
                reason: "connection task ended".into(),
            }),
        }
    }

    /// Runs one connection to its end and logs why it closed (never key material or text).
    async fn run_connection(
        &self,
        stream: TcpStream,
        addr: SocketAddr,
        direction: Direction,
        handshake_permit: Option<OwnedSemaphorePermit>,
        ready: Option<oneshot::Sender<Result<PeerInfo, NodeError>>>,
    ) {
        let _guard = TaskGuard::new(&self.inner);
        let reason = self
            .connection_body(stream, addr, direction, handshake_permit, ready)
            .await;
        tracing::info!(%addr, ?direction, "connection closed: {reason}");
    }

    /// Handshake, register, run, unregister; returns the close reason. `ready` learns the
    /// outcome of the handshake and registration.
    async fn connection_body(
        &self,
        stream: TcpStream,
        addr: SocketAddr,
        direction: Direction,
        handshake_permit: Option<OwnedSemaphorePermit>,
        ready: Option<oneshot::Sender<Result<PeerInfo, NodeError>>>,
    ) -> String {
        let _ = stream.set_nodelay(true);
        let local = match direction {
            Direction::Outbound => stream.local_addr().ok(),
            Direction::Inbound => None,
        };
        let (read_half, mut write_half) = stream.into_split();
        let mut reader = LineReader::new(read_half);
        let hello = Hello {
            name: self.name(),
            listen_port: self.inner.listen_port.load(Ordering::Relaxed),
            agent: AGENT.to_owned(),
        };
        let timeout = self.inner.handshake_timeout;
        let identity = &self.inner.identity;
        // Boxed (state and result) so the handshake does not size the long-lived connection
        // future: an idle session should cost as little memory as possible.
        let result = tokio::time::timeout(
            timeout,
            Box::pin(async {
                match direction {
                    Direction::Outbound => {
                        handshake::initiate(&mut reader, &mut write_half, identity, &hello).await
                    }
                    Direction::Inbound => {
                        handshake::respond(&mut reader, &mut write_half, identity, &hello).await
                    }
                }
                .map(Box::new)
            }),
        )
        .await
        .unwrap_or_else(|_| Err(HandshakeFailure::Timeout(timeout.as_millis())));
        let established = match result {
            Ok(established) => established,
            Err(e) => {
                let reason = format!("handshake failed: {e}");
                if let Some(ready) = ready {
                    let _ = ready.send(Err(NodeError::Handshake {
                        addr,
                        reason: e.to_string(),
                    }));
                }
                return reason;
            }
        };
        drop(handshake_permit);
        let remote = established.remote();
        let admitted = Box::pin(self.admit(remote, &established.hello, addr, local)).await;
        match admitted {
            Ok(chat::Admission::Normal { .. }) => {}
            Ok(chat::Admission::Held(event)) => self.emit(event),
            Err(reason) => {
                if let Some(ready) = ready {
                    let _ = ready.send(Err(NodeError::Refused {
                        addr,
                        reason: reason.clone(),
                    }));
                }
                return reason;
            }
        }
        // Everything between the handshake and the session runs in a plain function, so the
        // transport keys and buffers moved into the session are not also kept in this
        // long-lived future's state.
        let (session, remote, conn_id, peer_id) =
            match self.establish(established, reader, write_half, addr, direction, ready) {
                Ok(parts) => parts,
                Err(reason) => return reason,
            };
        let reason = session
            .wait(|reason| self.unregister(&remote, conn_id, reason))
            .await;
        format!("session with {peer_id} ended: {reason}")
    }

    /// Registers a finished handshake (or refuses it) and starts its session.
    fn establish(
        &self,
        established: Box<handshake::Established>,
        reader: LineReader<OwnedReadHalf>,
        write_half: OwnedWriteHalf,
        addr: SocketAddr,
        direction: Direction,
        ready: Option<oneshot::Sender<Result<PeerInfo, NodeError>>>,
    ) -> Result<(session::Session, PublicKey, u64, String), String> {
        let remote = established.remote();
        let peer_id = remote.to_base64();
        let conn_id = self.inner.next_conn.fetch_add(1, Ordering::Relaxed);
        let info = PeerInfo {
            peer_id: peer_id.clone(),
            public_key: peer_id.clone(),
            name: established.hello.name.clone(),
            address: addr.to_string(),
            listen_port: established.hello.listen_port,
            direction,
            // Filled in by whoever shows it (`fingerprint_of`): see `fingerprints`.
            fingerprint: String::new(),
            verified: lock(&self.inner.verified).contains(&remote),
        };
        let (queue_tx, queue_rx) = mpsc::channel(QUEUE_DEPTH);
        let (close_tx, close_rx) = oneshot::channel();
        if let Err(reason) = self.register(remote, conn_id, direction, &info, &queue_tx, close_tx) {
            if let Some(ready) = ready {
                let _ = ready.send(Err(NodeError::Refused {
                    addr,
                    reason: reason.clone(),
                }));
            }
            return Err(reason);
        }
        tracing::info!(%addr, peer = %peer_id, ?direction, name = %info.name, "session established");
        let ctx = ReaderContext {
            peer_id: peer_id.clone(),
            name: info.name.clone(),
            events: self.inner.events.clone(),
            inbox: Some(self.inbox(remote, &info.name)),
        };
        let held = self.is_held(&remote);
        if !held {
            self.emit(Event::PeerConnected(info.clone()));
        }
        if let Some(ready) = ready {
            let _ = ready.send(Ok(info));
        }
        if !held {
            self.session_online(remote);
        }
        let handshake::Established { transport, .. } = *established;
        let (sender, receiver) = transport.into_halves();
        let io = SessionIo {
            receiver,
            sender,
            reader,
            writer: write_half,
        };
        let session = session::start(io, queue_tx, queue_rx, close_rx, ctx);
        Ok((session, remote, conn_id, peer_id))
    }

    /// Adds a completed session, applying the duplicate rule. Err(reason) means "close it".
    fn register(
        &self,
        remote: PublicKey,
        conn_id: u64,
        direction: Direction,
        info: &PeerInfo,
        queue: &mpsc::Sender<Outgoing>,
        close: oneshot::Sender<String>,
    ) -> Result<(), String> {
        if remote.as_bytes() == self.inner.public.as_bytes() {
            return Err("connection to our own key".into());
        }
        let mut sessions = lock(&self.inner.sessions);
        if sessions.len() >= self.inner.limits.max_sessions && !sessions.contains_key(&remote) {
            return Err(format!(
                "session limit reached ({} sessions)",
                self.inner.limits.max_sessions
            ));
        }
        if let Some(existing) = sessions.get_mut(&remote) {
            if !keep_new_session(&self.inner.public, &remote, existing.direction, direction) {
                return Err("duplicate session (keeping the existing one)".into());
            }
            // Replaced: the UI sees a fresh peer_connected, not a disconnect.
            if let Some(old_close) = existing.close.take() {
                let _ = old_close.send("duplicate session (replaced by a newer one)".into());
            }
        }
        sessions.insert(
            remote,
            SessionHandle {
                conn_id,
                direction,
                info: info.clone(),
                queue: queue.clone(),
                close: Some(close),
            },
        );
        Ok(())
    }

    /// Removes a session if it is still the registered one for its key.
    fn unregister(&self, remote: &PublicKey, conn_id: u64, reason: &str) {
        let removed = {
            let mut sessions = lock(&self.inner.sessions);
            match sessions.get(remote) {
                Some(handle) if handle.conn_id == conn_id => sessions.remove(remote),
                _ => None,
            }
        };
        if let Some(handle) = removed {
            self.inner.persist.session_gone(remote);
            if lock(self.inner.persist.held_keys())
                .remove(remote)
                .is_none()
            {
                self.emit_disconnected(&handle.info, reason);
            }
            self.emit_contacts();
        }
    }

    fn emit_disconnected(&self, info: &PeerInfo, reason: &str) {
        self.emit(Event::PeerDisconnected {
            peer_id: info.peer_id.clone(),
            public_key: info.public_key.clone(),
            name: info.name.clone(),
            address: info.address.clone(),
            reason: reason.to_owned(),
        });
    }

    /// A new unique message id.
    fn message_id(&self) -> String {
        let n = self.inner.next_msg.fetch_add(1, Ordering::Relaxed);
        format!("{:016x}-{n}", rand::random::<u64>())
    }

    /// Sends a chat message to one contact or (`to == None`) every connected peer: committed
    /// to the outbox, then written to the connected recipients. Returns the `message_sent`
    /// event (already emitted to subscribers).
    pub async fn send_message(
        &self,
        text: &str,
        to: Option<PublicKey>,
    ) -> Result<Event, NodeError> {
        self.send_chat(text, to.map_or(Target::Everyone, Target::Peer))
            .await
    }

    /// Closes every session and waits (briefly) for their tasks to flush and finish.
    pub async fn shutdown(&self) {
        let keys: Vec<PublicKey> = lock(&self.inner.sessions).keys().copied().collect();
        for key in keys {
            self.disconnect(&key, "shutting down");
        }
        let wait = async {
            loop {
                let notified = self.inner.tasks_done.notified();
                if self.inner.live_tasks.load(Ordering::SeqCst) == 0 {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_rule_is_symmetric() {
        let a = *Identity::generate().public_key();
        let b = *Identity::generate().public_key();
        use Direction::*;
        // A's outbound conn is B's inbound conn; both sides must agree for every pair.
        for (old, new) in [(Outbound, Inbound), (Inbound, Outbound)] {
            let on_a = keep_new_session(&a, &b, old, new);
            let flip = |d| if d == Outbound { Inbound } else { Outbound };
            let on_b = keep_new_session(&b, &a, flip(old), flip(new));
            assert_eq!(on_a, on_b);
        }
        assert!(!keep_new_session(&a, &b, Outbound, Outbound));
        assert!(!keep_new_session(&a, &b, Inbound, Inbound));
    }
}

#[cfg(test)]
mod size_tests {
    use super::*;

    /// Idle sessions must stay small (issue #7: ≤ 16 KiB each). Future sizes are where that
    /// budget silently goes (moved values stay in an async fn's state), so pin them.
    #[tokio::test]
    async fn long_lived_futures_stay_small() {
        let node = Node::new(NodeConfig {
            identity: Identity::generate(),
            name: String::new(),
            handshake_timeout: Duration::from_secs(1),
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stream = TcpStream::connect(addr).await.unwrap();
        let connection = node.run_connection(stream, addr, Direction::Inbound, None, None);
        assert!(
            std::mem::size_of_val(&connection) <= 1536,
            "{}",
            std::mem::size_of_val(&connection)
        );

        let (sender, receiver) = crate::handshake::tests::transport_pair();
        let (tx, rx) = mpsc::channel::<Outgoing>(4);
        let writer = session::writer_loop(sender, tokio::io::sink(), rx);
        assert!(
            std::mem::size_of_val(&writer) <= 3072,
            "{}",
            std::mem::size_of_val(&writer)
        );
        let (events, _) = broadcast::channel(4);
        let ctx = ReaderContext {
            peer_id: String::new(),
            name: String::new(),
            events,
            inbox: None,
        };
        let reader = session::reader_loop(receiver, LineReader::new(tokio::io::empty()), tx, &ctx);
        assert!(
            std::mem::size_of_val(&reader) <= 3584,
            "{}",
            std::mem::size_of_val(&reader)
        );
    }
}
