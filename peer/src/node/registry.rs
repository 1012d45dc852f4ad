//! The live sessions, one per remote static key (PROTOCOL.md §7). A finished handshake is
//! registered here or refused (our own key, the session limit, the duplicate rule); the
//! registry is what "connected" means for sending, the UI and redial. Admission control that
//! looks at the remote address is in `crate::admission`, wired in by the driver.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crypto_core::PublicKey;
use tokio::sync::{mpsc, oneshot};

use super::lock;
use crate::admission::StrangerSlot;
use crate::bulk_lane::BulkLane;
use crate::event::{ConnectionDirection, PeerInfo, Reached};
use crate::session::Outgoing;

/// Why a finished handshake was not (or no longer) let in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The remote is ourselves.
    #[error("connection to our own key")]
    OwnKey,
    /// The node already has its maximum of sessions.
    #[error("session limit reached ({0} sessions)")]
    SessionLimit(usize),
    /// The duplicate rule kept the existing session.
    #[error("duplicate session (keeping the existing one)")]
    Duplicate,
    /// An invite's address answered with another key.
    #[error("the peer at {addr} answered with key {got} but the invite names {expected}")]
    InviteKeyMismatch {
        /// Where we dialled.
        addr: std::net::SocketAddr,
        /// The key that answered, base64.
        got: String,
        /// The invite's key, base64.
        expected: String,
    },
    /// A stranger's address already has its share of sessions (PROTOCOL.md §9.1).
    #[error("too many sessions from this address")]
    TooManyFromAddress,
    /// The user blocked this key (PROTOCOL.md §8.2).
    #[error("this key is blocked")]
    Blocked,
    /// The store could not say who this key is, so it is not let in.
    #[error("the store is unavailable")]
    Unavailable,
}

/// How long after its registration a session counts as racing a newer one (PROTOCOL.md §7):
/// the handshake deadline, the longest two crossing dials can take.
pub const RACE_WINDOW: Duration = Duration::from_secs(10);

/// PROTOCOL.md §7: given a live session registered `old_age` ago and a newly completed one
/// with the same remote. A live session older than [`RACE_WINDOW`] gives way: a peer dials a
/// key it holds a session with only when that session is gone on its side (it restarted, or
/// moved to another network and the old connection is dead) or its user asks. Within the
/// window two dials crossed: keep the one initiated by the smaller static key; if one side
/// initiated both, keep the older.
pub fn keep_new_session(
    me: &PublicKey,
    remote: &PublicKey,
    old: ConnectionDirection,
    new: ConnectionDirection,
    old_age: Duration,
) -> bool {
    if old_age >= RACE_WINDOW {
        return true;
    }
    if old == new {
        return false;
    }
    let initiator_of_new = match new {
        ConnectionDirection::Outbound => me,
        ConnectionDirection::Inbound => remote,
    };
    let smaller = if me.as_bytes() <= remote.as_bytes() {
        me
    } else {
        remote
    };
    initiator_of_new.as_bytes() == smaller.as_bytes()
}

/// What one session's reader and the node's senders share: whether the remote is a stranger
/// (PROTOCOL.md §9.1–§9.2) and the ids of the chats we wrote on this session that it has not
/// acknowledged yet (PROTOCOL.md §5: only those acks are taken). Empty while idle: an idle
/// session pays for the allocation of this struct and nothing more.
pub(super) struct SessionShared {
    stranger: AtomicBool,
    /// A stranger's place in its address's count, freed with the session or on promotion.
    stranger_slot: Mutex<Option<StrangerSlot>>,
    owed: Mutex<HashSet<Box<str>>>,
    /// The session's low-priority queue, for file chunks (`crate::bulk_lane`).
    pub(super) bulk: Arc<BulkLane>,
}

impl SessionShared {
    /// The shared state of a new session: a stranger's if it holds a slot of its address.
    pub(super) fn new(stranger_slot: Option<StrangerSlot>) -> Arc<Self> {
        Arc::new(Self {
            stranger: AtomicBool::new(stranger_slot.is_some()),
            stranger_slot: Mutex::new(stranger_slot),
            owed: Mutex::default(),
            bulk: BulkLane::new(),
        })
    }

    pub(super) fn is_stranger(&self) -> bool {
        self.stranger.load(Ordering::Relaxed)
    }

    /// The remote became a contact: the contact's idle timeout from now on, and its address's
    /// stranger count is freed. True only for the call that ended the stranger mark, so a
    /// promotion noticed twice is acted on once.
    pub(super) fn promote(&self) -> bool {
        let was_stranger = self.stranger.swap(false, Ordering::Relaxed);
        lock(&self.stranger_slot).take();
        was_stranger
    }

    /// Records that chat `id` is about to be written on this session.
    pub(super) fn owe(&self, id: &str) {
        lock(&self.owed).insert(id.into());
    }

    /// Takes an ack for `id`: true (once) if `id` was written here and not yet acknowledged.
    pub(super) fn take_owed(&self, id: &str) -> bool {
        lock(&self.owed).remove(id)
    }
}

/// One live session.
struct SessionHandle {
    conn_id: u64,
    direction: ConnectionDirection,
    /// When it was registered (the duplicate rule's race window).
    since: Instant,
    /// The connection's two ends: the remote's address and port, and our local port.
    link: Link,
    info: PeerInfo,
    queue: mpsc::Sender<Outgoing>,
    shared: Arc<SessionShared>,
    close: Option<oneshot::Sender<String>>,
}

/// A session taken out of the registry: what the UI is told and how to close it.
pub(super) struct Removed {
    pub(super) info: PeerInfo,
    /// Whether it was still a message request's session.
    pub(super) stranger: bool,
    close: Option<oneshot::Sender<String>>,
}

impl Removed {
    fn from_handle(handle: SessionHandle) -> Self {
        Self {
            stranger: handle.shared.is_stranger(),
            info: handle.info,
            close: handle.close,
        }
    }

    /// Tells the session task to end with `reason` (if it has not already ended).
    pub(super) fn close(mut self, reason: &str) {
        if let Some(close) = self.close.take() {
            let _ = close.send(reason.to_owned());
        }
    }
}

/// A session's TCP connection: where the remote is as we see it, and our local port on it
/// (whether a dial left from our listening port, `crate::reach::dial`).
#[derive(Debug, Clone, Copy)]
pub(super) struct Link {
    pub(super) remote: SocketAddr,
    pub(super) local_port: u16,
}

/// Everything [`Registry::register`] needs about a new session.
pub(super) struct NewSession<'a> {
    pub(super) remote: PublicKey,
    pub(super) conn_id: u64,
    pub(super) direction: ConnectionDirection,
    pub(super) link: Link,
    pub(super) info: &'a PeerInfo,
    pub(super) queue: &'a mpsc::Sender<Outgoing>,
    pub(super) shared: &'a Arc<SessionShared>,
    pub(super) close: oneshot::Sender<String>,
}

/// The live sessions.
pub(super) struct Registry {
    sessions: Mutex<HashMap<PublicKey, SessionHandle>>,
    next_conn: AtomicU64,
    max_sessions: usize,
}

impl Registry {
    pub(super) fn new(max_sessions: usize) -> Self {
        Self {
            sessions: Mutex::new(HashMap::new()),
            next_conn: AtomicU64::new(1),
            max_sessions,
        }
    }

    /// A fresh id telling this connection's session apart from a later one with the same key.
    pub(super) fn next_conn_id(&self) -> u64 {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    /// Whether a new remote would be refused by the session limit.
    pub(super) fn is_full(&self) -> bool {
        lock(&self.sessions).len() >= self.max_sessions
    }

    /// Whether contacts' sessions alone fill the table. Strangers' sessions do not count: a
    /// contact's handshake completing in a full table closes the oldest stranger's session
    /// ([`Registry::oldest_stranger`]), so message requests cannot lock contacts out
    /// (PROTOCOL.md §9.1). Counted only when the table is full.
    pub(super) fn is_full_of_contacts(&self) -> bool {
        let sessions = lock(&self.sessions);
        sessions.len() >= self.max_sessions
            && sessions
                .values()
                .filter(|h| !h.shared.is_stranger())
                .count()
                >= self.max_sessions
    }

    /// The stranger's session registered first: the one a contact's session replaces when the
    /// table is full.
    pub(super) fn oldest_stranger(&self) -> Option<PublicKey> {
        lock(&self.sessions)
            .iter()
            .filter(|(_, h)| h.shared.is_stranger())
            .min_by_key(|(_, h)| h.conn_id)
            .map(|(key, _)| *key)
    }

    pub(super) fn contains(&self, key: &PublicKey) -> bool {
        lock(&self.sessions).contains_key(key)
    }

    /// Whether `key`'s live session is a message request's (PROTOCOL.md §8.2, §9.1): the
    /// session's own mark, which every check of "is this a stranger" reads, so a session's
    /// payloads are never judged by another session of the same key.
    pub(super) fn is_stranger(&self, key: &PublicKey) -> bool {
        lock(&self.sessions)
            .get(key)
            .is_some_and(|h| h.shared.is_stranger())
    }

    pub(super) fn keys(&self) -> Vec<PublicKey> {
        lock(&self.sessions).keys().copied().collect()
    }

    /// Every session's key and `peer_connected` payload.
    pub(super) fn infos(&self) -> Vec<(PublicKey, PeerInfo)> {
        lock(&self.sessions)
            .iter()
            .map(|(key, handle)| (*key, handle.info.clone()))
            .collect()
    }

    pub(super) fn info(&self, key: &PublicKey) -> Option<PeerInfo> {
        lock(&self.sessions).get(key).map(|h| h.info.clone())
    }

    /// `key`'s session: how it was opened and its connection's two ends.
    pub(super) fn link(&self, key: &PublicKey) -> Option<(ConnectionDirection, Link)> {
        lock(&self.sessions).get(key).map(|h| (h.direction, h.link))
    }

    /// Sets how `key`'s session was reached; its new `peer_connected` payload if that changed.
    pub(super) fn set_reached(&self, key: &PublicKey, reached: Reached) -> Option<PeerInfo> {
        let mut sessions = lock(&self.sessions);
        let handle = sessions.get_mut(key)?;
        if handle.info.reached == reached {
            return None;
        }
        handle.info.reached = reached;
        Some(handle.info.clone())
    }

    /// The keys of the live sessions for which `keep` holds.
    pub(super) fn keys_where(&self, keep: impl Fn(&Arc<SessionShared>) -> bool) -> Vec<PublicKey> {
        lock(&self.sessions)
            .iter()
            .filter(|(_, h)| keep(&h.shared))
            .map(|(key, _)| *key)
            .collect()
    }

    /// A live session's peer announced a new name.
    pub(super) fn set_name(&self, key: &PublicKey, name: &str) {
        if let Some(handle) = lock(&self.sessions).get_mut(key) {
            handle.info.name = name.to_owned();
        }
    }

    /// The send queue of `key`'s session.
    pub(super) fn queue(&self, key: &PublicKey) -> Option<mpsc::Sender<Outgoing>> {
        lock(&self.sessions).get(key).map(|h| h.queue.clone())
    }

    /// The send queue, the bulk lane (file chunks) and the shared state of `key`'s session.
    pub(super) fn bulk_lane(&self, key: &PublicKey) -> Option<Arc<BulkLane>> {
        lock(&self.sessions)
            .get(key)
            .map(|h| Arc::clone(&h.shared.bulk))
    }

    /// `key` became a contact while its session is live (see [`SessionShared::promote`]): true
    /// if that session was still a stranger's.
    pub(super) fn promote(&self, key: &PublicKey) -> bool {
        let mut sessions = lock(&self.sessions);
        let Some(handle) = sessions.get_mut(key) else {
            return false;
        };
        let promoted = handle.shared.promote();
        if promoted {
            handle.info.contact = true;
            handle.info.confusable_with = Vec::new();
        }
        promoted
    }

    /// The connection id of `key`'s live session.
    pub(super) fn conn_id(&self, key: &PublicKey) -> Option<u64> {
        lock(&self.sessions).get(key).map(|h| h.conn_id)
    }

    /// The send queue of `key`'s session and the state it shares with its reader.
    pub(super) fn queue_and_shared(
        &self,
        key: &PublicKey,
    ) -> Option<(mpsc::Sender<Outgoing>, Arc<SessionShared>)> {
        lock(&self.sessions)
            .get(key)
            .map(|h| (h.queue.clone(), Arc::clone(&h.shared)))
    }

    /// Adds a completed session, applying the duplicate rule; a refused one must be closed.
    pub(super) fn register(&self, me: &PublicKey, new: NewSession<'_>) -> Result<(), Refusal> {
        let NewSession {
            remote,
            conn_id,
            direction,
            link,
            info,
            queue,
            shared,
            close,
        } = new;
        if remote.as_bytes() == me.as_bytes() {
            return Err(Refusal::OwnKey);
        }
        let mut sessions = lock(&self.sessions);
        if sessions.len() >= self.max_sessions && !sessions.contains_key(&remote) {
            return Err(Refusal::SessionLimit(self.max_sessions));
        }
        if let Some(existing) = sessions.get_mut(&remote) {
            if !keep_new_session(
                me,
                &remote,
                existing.direction,
                direction,
                existing.since.elapsed(),
            ) {
                return Err(Refusal::Duplicate);
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
                since: Instant::now(),
                link,
                info: info.clone(),
                queue: queue.clone(),
                shared: Arc::clone(shared),
                close: Some(close),
            },
        );
        Ok(())
    }

    /// Takes `key`'s session out, whichever connection it is.
    pub(super) fn remove(&self, key: &PublicKey) -> Option<Removed> {
        lock(&self.sessions).remove(key).map(Removed::from_handle)
    }

    /// Takes `key`'s session out if it is still connection `conn_id` (not a newer one).
    pub(super) fn remove_if_current(&self, key: &PublicKey, conn_id: u64) -> Option<Removed> {
        let mut sessions = lock(&self.sessions);
        match sessions.get(key) {
            Some(handle) if handle.conn_id == conn_id => {
                sessions.remove(key).map(Removed::from_handle)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crypto_core::Identity;

    #[test]
    fn duplicate_rule_is_symmetric() {
        let a = *Identity::generate().public_key();
        let b = *Identity::generate().public_key();
        use ConnectionDirection::*;
        let racing = Duration::from_millis(5);
        // A's outbound conn is B's inbound conn; both sides must agree for every pair.
        for (old, new) in [(Outbound, Inbound), (Inbound, Outbound)] {
            let on_a = keep_new_session(&a, &b, old, new, racing);
            let flip = |d| if d == Outbound { Inbound } else { Outbound };
            let on_b = keep_new_session(&b, &a, flip(old), flip(new), racing);
            assert_eq!(on_a, on_b);
        }
        let smaller_is_a = a.as_bytes() < b.as_bytes();
        assert_eq!(
            keep_new_session(&a, &b, Inbound, Outbound, racing),
            smaller_is_a
        );
        // One side initiated both within the window: the older one.
        assert!(!keep_new_session(&a, &b, Outbound, Outbound, racing));
        assert!(!keep_new_session(&a, &b, Inbound, Inbound, racing));
    }

    #[test]
    fn a_session_older_than_the_race_window_gives_way_to_a_new_one() {
        // The other side restarted or moved: its new handshake replaces the session it lost,
        // whoever initiated either.
        let a = *Identity::generate().public_key();
        let b = *Identity::generate().public_key();
        use ConnectionDirection::*;
        for (old, new) in [(Outbound, Inbound), (Inbound, Outbound), (Inbound, Inbound)] {
            assert!(keep_new_session(&a, &b, old, new, RACE_WINDOW));
            assert!(keep_new_session(&b, &a, old, new, RACE_WINDOW));
        }
    }
}
