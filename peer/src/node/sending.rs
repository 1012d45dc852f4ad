//! Our own messages (PROTOCOL.md §8.1): a message is committed to the outbox before the UI
//! hears `queued`, then written to every recipient whose session is live (`sent`); an `ack`
//! (see `inbound`) makes it `delivered`. A session that comes up first gets its backlog — the
//! rooms it is in, then every message still owed to it, in store order — and only then new
//! messages directly, so none is written twice or skipped.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use crypto_core::noise::MAX_PLAINTEXT_LEN;
use crypto_core::PublicKey;
use tokio::sync::mpsc;

use super::rooms::room_payload;
use super::{lock, Node};
use crate::event::{now_ms, Event};
use crate::persist::StoreUnavailable;
use crate::session::Outgoing;
use crate::store::{self, ChatMessage, Conversation, Store, StoreError};

/// Longest chat text the UI may send, in characters (PROTOCOL.md §9).
pub const MAX_TEXT_CHARS: usize = 16_000;

/// How long a send waits for room in a full session queue before the session is closed.
const SEND_WAIT: Duration = Duration::from_secs(5);

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

/// Why a message was not sent.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Empty or longer than [`MAX_TEXT_CHARS`].
    #[error("text must be 1-{MAX_TEXT_CHARS} characters (got {0})")]
    TextLength(usize),
    /// The encoded chat would not fit in one frame.
    #[error("message too large once encoded")]
    TooLarge,
    /// A direct message to someone who is neither connected nor a contact.
    #[error("not connected to that peer")]
    NotConnected,
    /// A room we are not in (or that does not exist).
    #[error("no room {0:?}")]
    NoRoom(String),
    /// "Everyone" while no contact is connected: it would reach nobody and be kept nowhere.
    #[error("nobody is connected: a message to everyone goes only to the contacts connected now")]
    NobodyConnected,
    /// A room with no member but us.
    #[error("nobody else is in this room")]
    AloneInRoom,
    /// A reaction that is not one emoji (PROTOCOL.md §8.6).
    #[error("emoji must be 1-32 bytes without spaces or control characters")]
    BadEmoji,
    /// The store failed, so the message was not committed.
    #[error("message store: {0}")]
    Store(#[from] StoreError),
    /// The store thread did not answer, so the message was not committed.
    #[error("message store: {0}")]
    Unavailable(#[from] StoreUnavailable),
}

/// Which sessions have read their backlog, and our message ids.
#[derive(Default)]
pub(super) struct Outbox {
    /// Peers whose session has read its backlog from the outbox (in store order): a new
    /// message is written directly only to these; the others get it from that backlog.
    ready: Mutex<HashSet<PublicKey>>,
    next_msg: AtomicU64,
}

impl Outbox {
    /// The session of `key` ended: its next one reads the backlog again.
    pub(super) fn session_gone(&self, key: &PublicKey) {
        lock(&self.ready).remove(key);
    }

    /// Which of `keys` have read their backlog, so a new message (or timer, reaction or edit) goes to them
    /// directly. Call it on the store thread, in the job that queued it (see `send_chat`).
    pub(super) fn ready_among(&self, keys: &[PublicKey]) -> Vec<PublicKey> {
        let ready = lock(&self.ready);
        keys.iter().filter(|k| ready.contains(k)).copied().collect()
    }

    /// A new unique message id (also for reactions: acks name ids of one space).
    pub(super) fn message_id(&self) -> String {
        let n = self.next_msg.fetch_add(1, Ordering::Relaxed);
        format!("{:016x}-{n}", rand::random::<u64>())
    }
}

/// The `delivery` event for `peer`'s copy of our message `id` reaching `reached`, if the UI
/// needs one (PROTOCOL.md §8.1): whenever the message's shown state moves (`notable`), and in a
/// room for every member's change too, naming the member, so the page can say "delivered to 1
/// of 2" and who still waits. The shown state is at least `sent`: `peer` got it.
pub(super) fn delivery_event(
    peer: &PublicKey,
    id: String,
    update: store::DeliveryUpdate,
    reached: store::Delivery,
    notable: bool,
) -> Option<Event> {
    if !(notable || update.in_room) {
        return None;
    }
    Some(Event::Delivery {
        id,
        state: update.aggregate.max(store::Delivery::Sent).as_str().into(),
        peer_id: update.in_room.then(|| peer.to_base64()),
        peer_state: update.in_room.then(|| reached.as_str()),
    })
}

/// Whether exactly one recipient of our message `id` has left `queued`.
fn first_sent(s: &Store, id: &str) -> bool {
    s.sent_count_up_to(id, 2).is_ok_and(|n| n == 1)
}

impl Node {
    /// Sends a chat message to one contact or (`to == None`) every connected peer: committed
    /// to the outbox, then written to the connected recipients. Returns the `message_sent`
    /// event (already emitted to subscribers).
    pub async fn send_message(
        &self,
        text: &str,
        to: Option<PublicKey>,
    ) -> Result<Event, SendError> {
        self.send_chat(text, to.map_or(Target::Everyone, Target::Peer))
            .await
    }

    /// Whether `key` has a live session.
    pub(super) fn is_online(&self, key: &PublicKey) -> bool {
        self.inner.sessions.contains(key)
    }

    /// Sends a chat message: committed to the outbox first, then `message_sent {state:
    /// "queued"}`, then written to every connected recipient (`delivery {state: "sent"}`).
    pub async fn send_chat(&self, text: &str, target: Target) -> Result<Event, SendError> {
        self.send_reply(text, target, None).await
    }

    /// [`Node::send_chat`] replying to message `reply_to`, which must be in the same
    /// conversation (PROTOCOL.md §8.6).
    pub async fn send_reply(
        &self,
        text: &str,
        target: Target,
        reply_to: Option<store::MessageKey>,
    ) -> Result<Event, SendError> {
        let chars = text.chars().count();
        if chars == 0 || chars > MAX_TEXT_CHARS {
            return Err(SendError::TextLength(chars));
        }
        let me = self.inner.public;
        let (conversation, recipients): (Conversation, Vec<PublicKey>) = match target {
            Target::Everyone => {
                // Message requests never receive what is sent to "everyone" (PROTOCOL.md §8.2).
                let live = self.inner.sessions.keys_where(|s| !s.is_stranger());
                (Conversation::Everyone, live)
            }
            Target::Peer(key) => {
                // Replying to a request accepts it first (PROTOCOL.md §8.2).
                let standing = self.store().call(move |s| s.key_standing(&key)).await??;
                if standing == store::KeyStanding::Request {
                    self.accept_request(key)
                        .await
                        .map_err(|_| SendError::NotConnected)?;
                }
                if !self.is_online(&key) {
                    let known = self.store().call(move |s| s.contact(&key)).await??;
                    if known.is_none_or(|c| c.replaced_by.is_some()) {
                        return Err(SendError::NotConnected);
                    }
                }
                (Conversation::Peer(key), vec![key])
            }
            Target::Room(id) => {
                let room_id = id.clone();
                let members = self
                    .store()
                    .call(move |s| s.room_members(&room_id))
                    .await??;
                if !members.contains(&me) {
                    return Err(SendError::NoRoom(id));
                }
                let others = members.into_iter().filter(|k| *k != me).collect();
                (Conversation::Room(id), others)
            }
        };
        if recipients.is_empty() {
            return Err(match conversation {
                Conversation::Everyone => SendError::NobodyConnected,
                _ => SendError::AloneInRoom,
            });
        }
        let id = self.inner.outbox.message_id();
        let sent_at = now_ms();
        let message = ChatMessage {
            conversation: conversation.clone(),
            sender: me,
            id: id.clone(),
            text: text.to_owned(),
            sent_at,
            received_at: sent_at,
            reply_to: reply_to.clone(),
        };
        let payload = message.to_payload().to_bytes();
        if payload.len() > MAX_PLAINTEXT_LEN {
            return Err(SendError::TooLarge);
        }
        // Recipients whose session already read its backlog get the message now; for the
        // others it is part of the backlog their session reads (decided on the store thread,
        // so no message is written twice or missed).
        let mut quote = None;
        if let Some(reply) = reply_to {
            let conv = conversation.clone();
            let my_name = self.name();
            quote = Some(
                self.store()
                    .call(move |s| {
                        if s.quoted(&conv, &reply)?.is_none() {
                            return Err(StoreError::Invalid(
                                "the message replied to is not in this conversation".into(),
                            ));
                        }
                        super::reactions::quote(
                            s,
                            &conv,
                            &reply,
                            &me,
                            &my_name,
                            &mut Default::default(),
                        )
                    })
                    .await??,
            );
        }
        let to = recipients.clone();
        let node = self.clone();
        let (seq, direct) = self
            .store()
            .call(move |s| {
                let seq = s.enqueue(&message, &to)?;
                Ok::<_, StoreError>((seq, node.inner.outbox.ready_among(&to)))
            })
            .await??;
        let event = Event::MessageSent {
            id: id.clone(),
            text: text.to_owned(),
            sent_at,
            conversation: conversation.ui_id(),
            recipients: recipients.iter().map(PublicKey::to_base64).collect(),
            state: "queued".into(),
            reply_to: quote,
            seq: Some(seq),
            file: None,
        };
        self.emit(event.clone());
        let payload: Outgoing = payload.into();
        let sends = direct.into_iter().map(|key| {
            let payload = payload.clone();
            let id = &id;
            async move { (key, self.push_chat(&key, id, payload).await) }
        });
        for (key, pushed) in futures_util::future::join_all(sends).await {
            if pushed {
                self.mark_sent(key, id.clone());
            }
        }
        Ok(event)
    }

    /// A contact's session came up: announce its rooms, send what it is owed (in
    /// order), refresh the contacts.
    pub(super) fn session_online(&self, remote: PublicKey) {
        self.keep_online(remote);
        self.exchange_addresses(remote);
        let node = self.clone();
        tokio::spawn(async move {
            let marker = node.clone();
            let pending = node
                .store()
                .call(move |s| -> store::Result<_> {
                    lock(&marker.inner.outbox.ready).insert(remote);
                    // Only the creator announces a room (PROTOCOL.md §8.4).
                    let me = marker.inner.public;
                    let rooms: Vec<store::Room> = s
                        .list_rooms()?
                        .into_iter()
                        .filter(|r| r.creator == Some(me) && r.members.contains(&remote))
                        .collect();
                    let timers = s.pending_timers_for(&remote)?;
                    Ok((
                        rooms,
                        s.pending_for(&remote)?,
                        timers,
                        s.pending_reactions_for(&remote)?,
                        s.pending_amendments_for(&remote)?,
                    ))
                })
                .await;
            let (rooms, pending, timers, reactions, amendments) = match pending {
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
            // Our timer settings go between the messages queued before and after them, so a
            // message sent before a timer keeps no expiry on the other side either.
            let mut timers = timers.into_iter().peekable();
            let next_timer = |timers: &mut std::iter::Peekable<_>, before: Option<i64>| {
                timers.next_if(|t: &store::PendingTimer| before.is_none_or(|seq| t.after_seq < seq))
            };
            for message in pending {
                while let Some(timer) = next_timer(&mut timers, Some(message.seq)) {
                    let payload: Outgoing = timer.to_payload().to_bytes().into();
                    if !node.push_chat(&remote, &timer.id, payload).await {
                        return;
                    }
                }
                let payload: Outgoing = message.to_payload().to_bytes().into();
                if !node.push_chat(&remote, &message.id, payload).await {
                    return;
                }
                node.mark_sent(remote, message.id);
            }
            while let Some(timer) = next_timer(&mut timers, None) {
                let payload: Outgoing = timer.to_payload().to_bytes().into();
                if !node.push_chat(&remote, &timer.id, payload).await {
                    return;
                }
            }
            for reaction in reactions {
                let payload: Outgoing = reaction.to_payload().to_bytes().into();
                if !node.push_chat(&remote, &reaction.id, payload).await {
                    return;
                }
            }
            for amendment in amendments {
                let payload: Outgoing = amendment.to_payload().to_bytes().into();
                if !node.push_chat(&remote, &amendment.id, payload).await {
                    return;
                }
            }
            node.send_owed_receipts(remote).await;
            // File offers last: a file's chunks never hold up what was queued before it.
            node.offer_pending_files(remote).await;
            node.emit_contacts();
        });
    }

    /// Queues `payload` on `peer`'s session (waiting up to SEND_WAIT for room); false if there
    /// is no usable session (a stuck one is closed).
    pub(super) async fn push(&self, peer: &PublicKey, payload: Outgoing) -> bool {
        let Some(queue) = self.inner.sessions.queue(peer) else {
            return false;
        };
        self.push_to(peer, queue, payload).await
    }

    /// [`Node::push`] only if `peer`'s live session is a contact's, judged on the session the
    /// payload goes to, so a newer session of the same key that is a message request's never
    /// gets what only contacts get (PROTOCOL.md §8.2).
    pub(super) async fn push_to_contact(&self, peer: &PublicKey, payload: Outgoing) -> bool {
        match self.inner.sessions.queue_and_shared(peer) {
            Some((queue, shared)) if !shared.is_stranger() => {
                self.push_to(peer, queue, payload).await
            }
            _ => false,
        }
    }

    /// [`Node::push`] for our chat `id`: the session owes us its ack from now on (recorded
    /// before the write, so the ack cannot arrive first; PROTOCOL.md §5).
    pub(super) async fn push_chat(&self, peer: &PublicKey, id: &str, payload: Outgoing) -> bool {
        let Some((queue, shared)) = self.inner.sessions.queue_and_shared(peer) else {
            return false;
        };
        shared.owe(id);
        self.push_to(peer, queue, payload).await
    }

    async fn push_to(
        &self,
        peer: &PublicKey,
        queue: mpsc::Sender<Outgoing>,
        payload: Outgoing,
    ) -> bool {
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

    pub(super) fn mark_sent(&self, peer: PublicKey, id: String) {
        let events = self.inner.events.clone();
        self.store().exec(move |s| match s.mark_sent(&peer, &id) {
            Ok(Some(update)) => {
                // "sent" means written to at least one recipient (PROTOCOL.md §8.1), while
                // the store's aggregate is the least advanced recipient: report the first one.
                let first = update.in_room || update.aggregate_changed || first_sent(s, &id);
                if let Some(event) = delivery_event(&peer, id, update, store::Delivery::Sent, first)
                {
                    let _ = events.send(event);
                }
            }
            Ok(None) => {}
            Err(e) => tracing::warn!("cannot record a send: {e}"),
        });
    }
}
