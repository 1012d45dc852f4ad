//! The node's persistent side (PROTOCOL.md §8.1, issue 5): contacts and trust on first use,
//! history, the outbox with delivery states, rooms, invites and redialling. Everything that
//! touches the database goes through the store thread ([`StoreHandle`]); nothing here blocks
//! the runtime.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use crypto_core::noise::MAX_PLAINTEXT_LEN;
use crypto_core::wire::{clean_name, Hello, Payload};
use crypto_core::PublicKey;
use tokio::sync::mpsc;

use super::{lock, Node, NodeError, SEND_WAIT};
use crate::event::{now_ms, ContactInfo, Event, HistoryMessage};
use crate::invite::{self, Invite};
use crate::persist::{StoreBatch, StoreHandle};
use crate::session::{Inbox, Outgoing};
use crate::store::{self, ChatMessage, Conversation, KeyChangeState, RoomUpdate, Store};

/// How long contact-list changes are gathered into one `contacts` event.
const CONTACTS_COALESCE: Duration = Duration::from_millis(100);

/// Longest backoff between redials of a contact we owe messages to.
pub const REDIAL_CAP: Duration = Duration::from_secs(300);

/// Default first redial delay (doubles per failure up to [`REDIAL_CAP`]).
pub const REDIAL_BASE: Duration = Duration::from_secs(1);

/// Largest `limit` of `load_history`.
pub const MAX_HISTORY_PAGE: usize = 500;

/// A session held because its key differs from a pinned contact's.
#[derive(Debug, Clone, Copy)]
pub(super) struct Held {
    change_id: i64,
    old_key: PublicKey,
}

#[derive(Debug, Clone, Copy)]
struct Backoff {
    next: Instant,
    delay: Duration,
}

/// Persistent-state bookkeeping kept in the node.
pub(super) struct Persist {
    store: RwLock<StoreHandle>,
    /// New key → the key change it is held for.
    held: Mutex<HashMap<PublicKey, Held>>,
    /// Local address of an outbound connection made with an invite → the key it must reach.
    expected: Mutex<HashMap<SocketAddr, PublicKey>>,
    redial: Mutex<HashMap<PublicKey, Backoff>>,
    /// Peers whose session has read its backlog from the outbox (in store order): a new
    /// message is written directly only to these; the others get it from that backlog.
    ready: Mutex<std::collections::HashSet<PublicKey>>,
    /// A coalesced `contacts` event is scheduled (see [`Node::emit_contacts`]).
    contacts_scheduled: std::sync::atomic::AtomicBool,
}

impl Persist {
    pub(super) fn held_keys(&self) -> &Mutex<HashMap<PublicKey, Held>> {
        &self.held
    }

    /// The session of `key` ended: its next one reads the backlog again.
    pub(super) fn session_gone(&self, key: &PublicKey) {
        lock(&self.ready).remove(key);
    }

    pub(super) fn new() -> Persist {
        // An in-memory database cannot fail to open short of running out of memory.
        let store = StoreHandle::spawn(Store::open_in_memory().expect("in-memory database"))
            .expect("store thread");
        Persist {
            store: RwLock::new(store),
            held: Mutex::new(HashMap::new()),
            expected: Mutex::new(HashMap::new()),
            redial: Mutex::new(HashMap::new()),
            ready: Mutex::new(std::collections::HashSet::new()),
            contacts_scheduled: std::sync::atomic::AtomicBool::new(false),
        }
    }
}

/// Whom `send_message` addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Every connected peer.
    Everyone,
    /// One contact (queued while offline).
    Peer(PublicKey),
    /// A room, by its id without the `room:` prefix.
    Room(String),
}

/// What the trust check decided about a finished handshake.
pub(super) enum Admission {
    /// A contact (new or known); `verified` from the store.
    Normal { verified: bool },
    /// Held for the user's decision.
    Held(Event),
}

fn conversation_id(conv: &Conversation) -> String {
    match conv {
        Conversation::Everyone => "everyone".into(),
        Conversation::Peer(key) => key.to_base64(),
        Conversation::Room(id) => format!("room:{id}"),
    }
}

/// Parses a UI conversation id.
pub fn parse_conversation(text: &str) -> Result<Conversation, String> {
    if text == "everyone" {
        return Ok(Conversation::Everyone);
    }
    if let Some(room) = text.strip_prefix("room:") {
        if room.is_empty() || room.chars().count() > crypto_core::wire::MAX_ID_CHARS {
            return Err("bad room id".into());
        }
        return Ok(Conversation::Room(room.to_owned()));
    }
    PublicKey::from_base64(text)
        .map(Conversation::Peer)
        .map_err(|_| "conversation must be \"everyone\", a peer_id or room:<id>".into())
}

fn room_event(room: &store::Room) -> Event {
    Event::Room {
        id: format!("room:{}", room.id),
        name: room.name.clone(),
        members: room.members.iter().map(PublicKey::to_base64).collect(),
    }
}

fn room_payload(room: &store::Room) -> Outgoing {
    Payload::Room {
        id: room.id.clone(),
        name: room.name.clone(),
        members: room.members.iter().map(PublicKey::to_base64).collect(),
    }
    .to_bytes()
    .into()
}

fn store_error(e: impl std::fmt::Display) -> NodeError {
    NodeError::BadText(format!("message store: {e}"))
}

/// Whether exactly one recipient of our message `id` has left `queued`.
fn first_sent(s: &Store, id: &str) -> bool {
    s.sent_count_up_to(id, 2).is_ok_and(|n| n == 1)
}

/// The UI state of our message: `delivered` when every recipient acknowledged, `sent` once
/// any recipient got it, else `queued`.
fn shown_state(s: &Store, id: &str, aggregate: Option<store::Delivery>) -> store::Delivery {
    match aggregate {
        Some(store::Delivery::Queued) | None => {
            if s.sent_count_up_to(id, 1).is_ok_and(|n| n > 0) {
                store::Delivery::Sent
            } else {
                store::Delivery::Queued
            }
        }
        Some(state) => state,
    }
}

/// The per-session inbox: store first, then acknowledge.
pub(super) struct NodeInbox {
    node: Node,
    peer: PublicKey,
    peer_id: String,
    name: String,
    /// Store jobs of the payloads received since the last [`Inbox::flush`], in order.
    pending: Mutex<StoreBatch>,
}

impl Drop for NodeInbox {
    /// A session that ends between `receive` and `flush` still stores what it received.
    fn drop(&mut self) {
        self.flush();
    }
}

/// What `receive` hands back: the reply (an ack) once the store has committed.
type Reply = Pin<Box<dyn std::future::Future<Output = Option<Outgoing>> + Send>>;

fn no_reply() -> Reply {
    Box::pin(std::future::ready(None))
}

impl Inbox for NodeInbox {
    /// Adds the payload's store job to this session's batch, in arrival order; the returned
    /// future waits for its commit, so the session keeps reading while a burst is stored.
    fn receive(self: Arc<Self>, payload: Payload) -> Reply {
        if self.node.is_held(&self.peer) {
            // Nothing from a held key reaches the user or gets acknowledged.
            return no_reply();
        }
        match payload {
            Payload::Chat {
                id,
                text,
                sent_at,
                room,
                broadcast,
            } => self.receive_chat(id, text, sent_at, room, broadcast),
            Payload::Ack { id } => {
                self.record_ack(id);
                no_reply()
            }
            Payload::Room { id, name, members } => self.receive_room(id, name, members),
            _ => {
                tracing::debug!(peer = %self.peer_id, "ignoring a payload kind this version does not use");
                no_reply()
            }
        }
    }

    fn flush(&self) {
        self.node.store().submit(&mut lock(&self.pending));
    }
}

impl NodeInbox {
    fn receive_chat(
        self: Arc<Self>,
        id: String,
        text: String,
        sent_at: u64,
        room: Option<String>,
        broadcast: bool,
    ) -> Reply {
        let conversation = match room {
            Some(room) => Conversation::Room(room),
            None if broadcast => Conversation::Everyone,
            None => Conversation::Peer(self.peer),
        };
        let received_at = now_ms();
        let message = ChatMessage {
            conversation,
            sender: self.peer,
            id,
            text,
            sent_at,
            received_at,
        };
        let stored = lock(&self.pending).call(move |s| {
            if let Conversation::Room(room) = &message.conversation {
                if !s.is_room_member(room, &message.sender)? {
                    return Ok((None, message));
                }
            }
            s.insert_incoming(&message)
                .map(|is_new| (Some(is_new), message))
        });
        Box::pin(async move {
            let message = match stored.await {
                Ok(Ok((Some(true), message))) => message,
                // A retransmission: already stored (and shown), acknowledged again.
                Ok(Ok((Some(false), message))) => return Some(ack(message.id)),
                Ok(Ok((None, _))) => {
                    tracing::info!(peer = %self.peer_id, "ignoring a room message from a non-member");
                    return None;
                }
                Ok(Err(e)) => {
                    // Not stored, so not acknowledged: the sender will try again.
                    tracing::warn!(peer = %self.peer_id, "cannot store a message: {e}");
                    return None;
                }
                Err(e) => {
                    tracing::warn!(peer = %self.peer_id, "a message was not stored: {e}");
                    return None;
                }
            };
            let reply = ack(message.id.clone());
            self.node.emit(Event::PeerMessage {
                peer_id: self.peer_id.clone(),
                name: self.name.clone(),
                conversation: conversation_id(&message.conversation),
                id: message.id,
                text: message.text,
                sent_at: message.sent_at,
                received_at: message.received_at,
            });
            Some(reply)
        })
    }

    fn record_ack(&self, id: String) {
        let peer = self.peer;
        let events = self.node.inner.events.clone();
        let peer_id = self.peer_id.clone();
        lock(&self.pending).exec(move |s| match s.mark_delivered(&peer, &id) {
            Ok(update) => {
                if let Some(update) = update.filter(|u| u.aggregate_changed) {
                    let _ = events.send(Event::Delivery {
                        id: id.clone(),
                        state: update.aggregate.as_str().into(),
                    });
                }
                let _ = events.send(Event::Delivered { peer_id, id });
            }
            Err(e) => tracing::warn!("cannot record an ack: {e}"),
        });
    }

    fn receive_room(self: Arc<Self>, id: String, name: String, members: Vec<String>) -> Reply {
        let keys: Result<Vec<PublicKey>, _> =
            members.iter().map(|m| PublicKey::from_base64(m)).collect();
        let Ok(keys) = keys else {
            tracing::info!(peer = %self.peer_id, "ignoring a room with a bad member key");
            return no_reply();
        };
        let name = clean_name(&name);
        let peer = self.peer;
        let stored = lock(&self.pending).call(move |s| {
            let update = s.upsert_room_from(&peer, &id, &name, &keys, now_ms())?;
            Ok::<_, store::StoreError>((update, s.room(&id)?))
        });
        Box::pin(async move {
            match stored.await {
                Ok(Ok((RoomUpdate::Created | RoomUpdate::Updated, Some(room)))) => {
                    self.node.emit(room_event(&room));
                }
                Ok(Ok((RoomUpdate::Refused, _))) => {
                    tracing::info!(peer = %self.peer_id, "ignoring a room announcement from a non-member");
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::info!(peer = %self.peer_id, "ignoring a room: {e}"),
                Err(e) => tracing::warn!("{e}"),
            }
            None
        })
    }
}

/// The acknowledgement of chat `id` (PROTOCOL §5), sent once the chat is stored.
fn ack(id: String) -> Outgoing {
    Payload::Ack { id }.to_bytes().into()
}

impl Node {
    /// The store thread's handle.
    pub fn store(&self) -> StoreHandle {
        match self.inner.persist.store.read() {
            Ok(store) => store.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Replaces the (in-memory) store by `store`, before the node listens or dials.
    pub fn attach_store(&self, store: StoreHandle) {
        match self.inner.persist.store.write() {
            Ok(mut slot) => *slot = store,
            Err(poisoned) => *poisoned.into_inner() = store,
        }
    }

    pub(super) fn is_held(&self, key: &PublicKey) -> bool {
        lock(&self.inner.persist.held).contains_key(key)
    }

    fn is_online(&self, key: &PublicKey) -> bool {
        lock(&self.inner.sessions).contains_key(key) && !self.is_held(key)
    }

    pub(super) fn inbox(&self, peer: PublicKey, name: &str) -> Arc<dyn Inbox> {
        Arc::new(NodeInbox {
            node: self.clone(),
            peer,
            peer_id: peer.to_base64(),
            name: name.to_owned(),
            pending: Mutex::new(StoreBatch::default()),
        })
    }

    /// Trust on first use, after the handshake and before the session is registered: an
    /// invite's key must match; a pinned contact's address or name answering with another key
    /// holds the session; a rejected key is refused; anyone else becomes (or stays) a contact.
    pub(super) async fn admit(
        &self,
        remote: PublicKey,
        hello: &Hello,
        addr: SocketAddr,
        local: Option<SocketAddr>,
    ) -> Result<Admission, String> {
        if let Some(local) = local {
            let expected = lock(&self.inner.persist.expected).remove(&local);
            if let Some(expected) = expected {
                if expected != remote {
                    return Err(format!(
                        "the peer at {addr} answered with key {} but the invite names {}",
                        remote.to_base64(),
                        expected.to_base64()
                    ));
                }
            }
        }
        if remote == self.inner.public {
            return Ok(Admission::Normal { verified: false });
        }
        let name = clean_name(&hello.name);
        let port = hello.listen_port;
        let dialable = SocketAddr::new(addr.ip(), port).to_string();
        let now = now_ms();
        let verdict = self
            .store()
            .call(move |s| -> store::Result<Result<Admission, String>> {
                let address = if port != 0 { dialable.as_str() } else { "" };
                let by_name = (!name.is_empty()).then_some(name.as_str());
                if let Some(old) = s.key_conflict(&remote, address, by_name)? {
                    let change = s.record_key_change(
                        &old.public_key,
                        &remote,
                        &name,
                        (port != 0).then_some(dialable.as_str()),
                        now,
                    )?;
                    match change.state {
                        KeyChangeState::Rejected => {
                            return Ok(Err("this key was rejected for a known contact".into()))
                        }
                        KeyChangeState::Pending => {
                            return Ok(Ok(Admission::Held(Event::KeyChanged {
                                change_id: change.id,
                                peer_id: old.public_key.to_base64(),
                                new_key: remote.to_base64(),
                                name: change.name,
                                address: change.address,
                                was_verified: old.verified,
                            })))
                        }
                        KeyChangeState::Accepted => {}
                    }
                }
                let (contact, _) = s.mark_seen(&remote, &name, &dialable, port, now)?;
                Ok(Ok(Admission::Normal {
                    verified: contact.verified,
                }))
            })
            .await;
        let admission = match verdict {
            Ok(Ok(result)) => result?,
            Ok(Err(e)) => {
                tracing::warn!("contact bookkeeping failed: {e}");
                Admission::Normal { verified: false }
            }
            Err(e) => {
                tracing::warn!("{e}");
                Admission::Normal { verified: false }
            }
        };
        match &admission {
            Admission::Normal { verified } => {
                let mut set = lock(&self.inner.verified);
                if *verified {
                    set.insert(remote);
                } else {
                    set.remove(&remote);
                }
            }
            Admission::Held(Event::KeyChanged {
                change_id, peer_id, ..
            }) => {
                if let Ok(old_key) = PublicKey::from_base64(peer_id) {
                    lock(&self.inner.persist.held).insert(
                        remote,
                        Held {
                            change_id: *change_id,
                            old_key,
                        },
                    );
                }
            }
            Admission::Held(_) => {}
        }
        Ok(admission)
    }

    /// A session that is not held came up: announce its rooms, send what it is owed (in
    /// order), refresh the contacts.
    pub(super) fn session_online(&self, remote: PublicKey) {
        lock(&self.inner.persist.redial).remove(&remote);
        let node = self.clone();
        tokio::spawn(async move {
            let marker = node.clone();
            let pending = node
                .store()
                .call(move |s| -> store::Result<_> {
                    lock(&marker.inner.persist.ready).insert(remote);
                    let rooms: Vec<store::Room> = s
                        .list_rooms()?
                        .into_iter()
                        .filter(|r| r.members.contains(&remote))
                        .collect();
                    Ok((rooms, s.pending_for(&remote)?))
                })
                .await;
            let (rooms, pending) = match pending {
                Ok(Ok(found)) => found,
                Ok(Err(e)) => {
                    tracing::warn!("cannot read the outbox: {e}");
                    return;
                }
                Err(_) => return,
            };
            for room in &rooms {
                if !node.push(&remote, room_payload(room)).await {
                    return;
                }
            }
            for message in pending {
                let payload: Outgoing = message.to_payload().to_bytes().into();
                if !node.push(&remote, payload).await {
                    return;
                }
                node.mark_sent(remote, message.id);
            }
            node.emit_contacts();
        });
    }

    /// Queues `payload` on `peer`'s session (waiting up to SEND_WAIT for room); false if there
    /// is no usable session (a stuck one is closed).
    async fn push(&self, peer: &PublicKey, payload: Outgoing) -> bool {
        if self.is_held(peer) {
            return false;
        }
        let queue = lock(&self.inner.sessions)
            .get(peer)
            .map(|h| h.queue.clone());
        let Some(queue) = queue else { return false };
        match queue.try_send(payload) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Closed(_)) => false,
            Err(mpsc::error::TrySendError::Full(payload)) => {
                match tokio::time::timeout(SEND_WAIT, queue.send(payload)).await {
                    Ok(Ok(())) => true,
                    Ok(Err(_)) => false,
                    Err(_) => {
                        self.disconnect(peer, "peer is not reading (send queue full)");
                        false
                    }
                }
            }
        }
    }

    fn mark_sent(&self, peer: PublicKey, id: String) {
        let events = self.inner.events.clone();
        self.store().exec(move |s| match s.mark_sent(&peer, &id) {
            // "sent" means written to at least one recipient (PROTOCOL.md §8.1), while the
            // store's aggregate is the least advanced recipient: report the first one.
            Ok(Some(update)) if update.aggregate_changed || first_sent(s, &id) => {
                let _ = events.send(Event::Delivery {
                    id,
                    state: update.aggregate.max(store::Delivery::Sent).as_str().into(),
                });
            }
            Ok(_) => {}
            Err(e) => tracing::warn!("cannot record a send: {e}"),
        });
    }

    /// Sends a chat message: committed to the outbox first, then `message_sent {state:
    /// "queued"}`, then written to every connected recipient (`delivery {state: "sent"}`).
    pub async fn send_chat(&self, text: &str, target: Target) -> Result<Event, NodeError> {
        let chars = text.chars().count();
        if chars == 0 || chars > super::MAX_TEXT_CHARS {
            return Err(NodeError::BadText(format!(
                "text must be 1-{} characters (got {chars})",
                super::MAX_TEXT_CHARS
            )));
        }
        let me = self.inner.public;
        let (conversation, recipients): (Conversation, Vec<PublicKey>) = match target {
            Target::Everyone => {
                let sessions: Vec<PublicKey> = lock(&self.inner.sessions).keys().copied().collect();
                let held = lock(&self.inner.persist.held);
                let live = sessions
                    .into_iter()
                    .filter(|k| !held.contains_key(k))
                    .collect();
                (Conversation::Everyone, live)
            }
            Target::Peer(key) => {
                if !self.is_online(&key) {
                    let known = self
                        .store()
                        .call(move |s| s.contact(&key))
                        .await
                        .map_err(store_error)?
                        .map_err(store_error)?;
                    if known.is_none_or(|c| c.replaced_by.is_some()) {
                        return Err(NodeError::NotConnected);
                    }
                }
                (Conversation::Peer(key), vec![key])
            }
            Target::Room(id) => {
                let room_id = id.clone();
                let members = self
                    .store()
                    .call(move |s| s.room_members(&room_id))
                    .await
                    .map_err(store_error)?
                    .map_err(store_error)?;
                if !members.contains(&me) {
                    return Err(NodeError::BadText(format!("no room {id:?}")));
                }
                let others = members.into_iter().filter(|k| *k != me).collect();
                (Conversation::Room(id), others)
            }
        };
        let id = self.message_id();
        let sent_at = now_ms();
        let message = ChatMessage {
            conversation: conversation.clone(),
            sender: me,
            id: id.clone(),
            text: text.to_owned(),
            sent_at,
            received_at: sent_at,
        };
        let payload = Payload::Chat {
            id: id.clone(),
            text: text.to_owned(),
            sent_at,
            room: match &conversation {
                Conversation::Room(room) => Some(room.clone()),
                _ => None,
            },
            broadcast: conversation == Conversation::Everyone,
        }
        .to_bytes();
        if payload.len() > MAX_PLAINTEXT_LEN {
            return Err(NodeError::BadText(
                "message too large once encoded".to_owned(),
            ));
        }
        // Recipients whose session already read its backlog get the message now; for the
        // others it is part of the backlog their session reads (decided on the store thread,
        // so no message is written twice or missed).
        let mut direct = Vec::new();
        if !recipients.is_empty() {
            let to = recipients.clone();
            let node = self.clone();
            direct = self
                .store()
                .call(move |s| {
                    s.enqueue(&message, &to)?;
                    let ready = lock(&node.inner.persist.ready);
                    Ok::<_, store::StoreError>(
                        to.into_iter()
                            .filter(|k| ready.contains(k))
                            .collect::<Vec<_>>(),
                    )
                })
                .await
                .map_err(store_error)?
                .map_err(store_error)?;
        }
        let event = Event::MessageSent {
            id: id.clone(),
            text: text.to_owned(),
            sent_at,
            conversation: conversation_id(&conversation),
            recipients: recipients.iter().map(PublicKey::to_base64).collect(),
            state: "queued".into(),
        };
        self.emit(event.clone());
        let payload: Outgoing = payload.into();
        let sends = direct.into_iter().map(|key| {
            let payload = payload.clone();
            async move { (key, self.push(&key, payload).await) }
        });
        for (key, pushed) in futures_util::future::join_all(sends).await {
            if pushed {
                self.mark_sent(key, id.clone());
            }
        }
        Ok(event)
    }

    /// Marks a contact verified (or not), persistently; every UI gets `peer_verified` once
    /// the flag is on disk.
    pub fn set_verified(&self, peer: PublicKey, verified: bool) {
        {
            let mut set = lock(&self.inner.verified);
            if verified {
                set.insert(peer);
            } else {
                set.remove(&peer);
            }
        }
        let node = self.clone();
        self.store().exec(move |s| {
            if let Err(e) = s.set_verified(&peer, verified) {
                tracing::warn!("cannot store the verified flag: {e}");
            }
            node.emit(Event::PeerVerified {
                peer_id: peer.to_base64(),
                verified,
            });
            node.emit(Event::ContactsChanged);
        });
    }

    fn contacts_from(&self, s: &Store) -> Event {
        let contacts = match s.list_contacts() {
            Ok(list) => list,
            Err(e) => {
                tracing::warn!("cannot list contacts: {e}");
                Vec::new()
            }
        };
        Event::Contacts {
            contacts: contacts
                .into_iter()
                .filter(|c| c.replaced_by.is_none())
                .map(|c| ContactInfo {
                    peer_id: c.public_key.to_base64(),
                    online: self.is_online(&c.public_key),
                    name: c.name,
                    last_address: c.last_address,
                    first_seen: c.first_seen,
                    last_seen: c.last_seen,
                    verified: c.verified,
                })
                .collect(),
        }
    }

    /// Tells every UI that the contact list changed, at most once per [`CONTACTS_COALESCE`];
    /// each UI client then lists the contacts itself (`contacts_event`). A burst of handshakes
    /// used to list every contact once per handshake into the event ring — quadratic work and
    /// a ring of ever larger listings (3.5 GiB RSS at 10,000 sessions in the load bench).
    pub fn emit_contacts(&self) {
        use std::sync::atomic::Ordering;
        if !self.has_subscribers() {
            return;
        }
        let scheduled = &self.inner.persist.contacts_scheduled;
        if scheduled.swap(true, Ordering::AcqRel) {
            return; // the scheduled listing runs later and sees this change too
        }
        let node = self.clone();
        let list = move || {
            node.inner
                .persist
                .contacts_scheduled
                .store(false, Ordering::Release);
            node.emit(Event::ContactsChanged);
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    tokio::time::sleep(CONTACTS_COALESCE).await;
                    list();
                });
            }
            Err(_) => list(),
        }
    }

    /// The `contacts` event.
    pub async fn contacts_event(&self) -> Event {
        let node = self.clone();
        self.store()
            .call(move |s| node.contacts_from(s))
            .await
            .unwrap_or(Event::Contacts {
                contacts: Vec::new(),
            })
    }

    /// What a UI gets on connect after `info` and the `peer_connected` snapshot: `contacts`,
    /// one `room` per room, one `key_changed` per unresolved change.
    pub async fn greeting_events(&self) -> Vec<Event> {
        let node = self.clone();
        let result = self
            .store()
            .call(move |s| -> store::Result<Vec<Event>> {
                let mut events = vec![node.contacts_from(s)];
                events.extend(s.list_rooms()?.iter().map(room_event));
                for change in s.pending_key_changes()? {
                    let was_verified = s.contact(&change.old_key)?.is_some_and(|c| c.verified);
                    events.push(Event::KeyChanged {
                        change_id: change.id,
                        peer_id: change.old_key.to_base64(),
                        new_key: change.new_key.to_base64(),
                        name: change.name,
                        address: change.address,
                        was_verified,
                    });
                }
                Ok(events)
            })
            .await;
        match result {
            Ok(Ok(events)) => events,
            Ok(Err(e)) => {
                tracing::warn!("cannot read the store: {e}");
                Vec::new()
            }
            Err(_) => Vec::new(),
        }
    }

    /// One page of history.
    pub async fn history(
        &self,
        conversation: Conversation,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Event, String> {
        let limit = limit.clamp(1, MAX_HISTORY_PAGE);
        let conv = conversation.clone();
        let me = self.inner.public;
        let my_name = self.name();
        let result = self
            .store()
            .call(move |s| -> store::Result<(Vec<HistoryMessage>, bool)> {
                let mut page = s.history(&conv, before, limit + 1)?;
                let has_more = page.len() > limit;
                if has_more {
                    page.remove(0);
                }
                let mut names: HashMap<PublicKey, String> = HashMap::new();
                let mut out = Vec::with_capacity(page.len());
                for m in page {
                    let outgoing = m.direction == store::Direction::Outgoing;
                    let (from, name) = if outgoing || m.message.sender == me {
                        ("me".to_owned(), my_name.clone())
                    } else {
                        let key = m.message.sender;
                        let name = match names.get(&key) {
                            Some(n) => n.clone(),
                            None => {
                                let n = s.contact(&key)?.map(|c| c.name).unwrap_or_default();
                                names.insert(key, n.clone());
                                n
                            }
                        };
                        (key.to_base64(), name)
                    };
                    let state =
                        outgoing.then(|| shown_state(s, &m.message.id, m.delivery).as_str());
                    out.push(HistoryMessage {
                        seq: m.seq,
                        id: m.message.id,
                        conversation: conversation_id(&m.message.conversation),
                        from,
                        name,
                        text: m.message.text,
                        sent_at: m.message.sent_at,
                        received_at: m.message.received_at,
                        direction: if outgoing { "out" } else { "in" },
                        state,
                    });
                }
                Ok((out, has_more))
            })
            .await;
        match result {
            Ok(Ok((messages, has_more))) => Ok(Event::History {
                conversation: conversation_id(&conversation),
                messages,
                has_more,
            }),
            Ok(Err(e)) => Err(format!("cannot read history: {e}")),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Accepts or rejects a held key change.
    pub async fn resolve_key_change(&self, change_id: i64, accept: bool) -> Result<(), String> {
        let now = now_ms();
        let result = self
            .store()
            .call(move |s| -> store::Result<PublicKey> {
                if accept {
                    Ok(s.accept_key_change(change_id, now)?.public_key)
                } else {
                    Ok(s.reject_key_change(change_id, now)?.new_key)
                }
            })
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        let new_key = result;
        let held = {
            let mut held = lock(&self.inner.persist.held);
            match held.get(&new_key) {
                Some(h) if h.change_id == change_id => held.remove(&new_key),
                _ => None,
            }
        };
        if accept {
            if let Some(h) = held {
                lock(&self.inner.verified).remove(&h.old_key);
            }
            lock(&self.inner.verified).remove(&new_key);
            let info = lock(&self.inner.sessions)
                .get(&new_key)
                .map(|h| h.info.clone());
            if let Some(mut info) = info {
                info.verified = false;
                self.emit(Event::PeerConnected(info));
                self.session_online(new_key);
            }
        } else if held.is_some() {
            self.disconnect(&new_key, "key change rejected by the user");
        }
        self.emit_contacts();
        Ok(())
    }

    /// Our invite string and its QR code.
    pub fn invite_event(&self) -> Result<Event, String> {
        let (host, port) = crate::reach::invite_target(
            &self
                .inner
                .dial_addresses
                .read()
                .map(|a| a.clone())
                .unwrap_or_default(),
            self.inner
                .listen_port
                .load(std::sync::atomic::Ordering::Relaxed),
        );
        let invite = Invite {
            host,
            port,
            key: self.inner.public,
        }
        .to_uri();
        let qr_svg = invite::qr_svg(&invite)?;
        Ok(Event::Invite { invite, qr_svg })
    }

    /// Dials an invite's address and refuses any key but the invite's.
    pub async fn connect_invite(&self, invite: &Invite) -> Result<crate::event::PeerInfo, String> {
        let addr = tokio::net::lookup_host((invite.host.as_str(), invite.port))
            .await
            .ok()
            .and_then(|mut a| a.next())
            .ok_or_else(|| format!("cannot resolve {}", invite.host))?;
        self.connect_expecting(addr, Some(invite.key))
            .await
            .map_err(|e| e.to_string())
    }

    /// Remembers that the outbound connection from `local` must reach `key`.
    pub(super) fn expect_key(&self, local: SocketAddr, key: PublicKey) {
        lock(&self.inner.persist.expected).insert(local, key);
    }

    /// Creates a room with these contacts (and us), announces it and tells every UI.
    pub async fn create_room(&self, name: &str, members: Vec<PublicKey>) -> Result<Event, String> {
        let name = clean_name(name);
        if name.is_empty() {
            return Err("a room needs a name".into());
        }
        let me = self.inner.public;
        let mut set: BTreeSet<PublicKey> = members.into_iter().collect();
        set.insert(me);
        let members: Vec<PublicKey> = set.into_iter().collect();
        let id = format!(
            "{:016x}{:016x}",
            rand::random::<u64>(),
            rand::random::<u64>()
        );
        let room = self
            .store()
            .call(move |s| -> store::Result<Result<store::Room, String>> {
                for key in &members {
                    if *key != me && s.contact(key)?.is_none() {
                        return Ok(Err(format!("{} is not a contact", key.to_base64())));
                    }
                }
                Ok(Ok(s.create_room(&id, &name, &members, now_ms())?))
            })
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())??;
        let payload = room_payload(&room);
        if payload.len() > MAX_PLAINTEXT_LEN {
            return Err("too many members for one announcement".into());
        }
        let event = room_event(&room);
        self.emit(event.clone());
        for key in room.members.iter().filter(|k| **k != me) {
            self.push(key, payload.clone()).await;
        }
        Ok(event)
    }

    /// Redials contacts we owe messages to, with capped exponential backoff starting at
    /// `base`. Runs until the process ends.
    pub fn start_redial(&self, base: Duration) {
        let node = self.clone();
        let base = base.max(Duration::from_millis(10));
        let tick = (base / 2).clamp(Duration::from_millis(10), Duration::from_secs(1));
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(tick).await;
                let owed = node
                    .store()
                    .call(|s| -> store::Result<Vec<(PublicKey, Option<String>)>> {
                        let mut out = Vec::new();
                        for key in s.peers_with_pending()? {
                            let address = s
                                .contact(&key)?
                                .filter(|c| c.replaced_by.is_none() && c.listen_port != Some(0))
                                .and_then(|c| c.last_address);
                            out.push((key, address));
                        }
                        Ok(out)
                    })
                    .await;
                let Ok(Ok(owed)) = owed else { continue };
                let now = Instant::now();
                for (key, address) in owed {
                    let Some(addr) = address.and_then(|a| a.parse::<SocketAddr>().ok()) else {
                        continue;
                    };
                    if lock(&node.inner.sessions).contains_key(&key)
                        || lock(&node.inner.persist.held)
                            .values()
                            .any(|h| h.old_key == key)
                    {
                        continue;
                    }
                    {
                        let mut redial = lock(&node.inner.persist.redial);
                        let entry = redial.entry(key).or_insert(Backoff {
                            next: now,
                            delay: base,
                        });
                        if now < entry.next {
                            continue;
                        }
                        entry.next = now + entry.delay;
                        entry.delay = (entry.delay * 2).min(REDIAL_CAP);
                    }
                    let node = node.clone();
                    tokio::spawn(async move {
                        if let Err(e) = node.connect(addr).await {
                            tracing::debug!("redial failed: {e}");
                        }
                    });
                }
            }
        });
    }

    /// Waits until every store job queued so far has finished.
    pub async fn flush_store(&self) {
        self.store().flush().await;
    }
}
