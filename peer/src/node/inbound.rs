//! What a session received (PROTOCOL.md §5, §8.1): a chat is stored before it is
//! acknowledged and shown, an `ack` advances our outbox, a `room` announcement is believed
//! only by the rules of PROTOCOL.md §8.4 (from the room's creator, listing us; see
//! `Store::apply_room_announcement`), and a room chat only from a current member of a room we
//! are still in. A stranger's (message request's, PROTOCOL.md §8.2) direct and broadcast chats
//! are stored in its request, bounded there, and shown as `request:<peer_id>`; its room chats
//! count only in rooms that list it; its room announcements are ignored. An `ack` is taken only
//! for an id we wrote on this session and that it has not acknowledged yet (PROTOCOL.md §5); any
//! other costs no store work and no event. Work is collected per session and handed to the
//! store thread per burst, so a burst costs one commit; the session reads on while it is
//! stored, and every store job is a reply the session waits for, so one session has at most its
//! store backlog queued (see `crate::session`, PROTOCOL.md §9.2).

use std::pin::Pin;
use std::sync::{Arc, Mutex};

use crypto_core::wire::{clean_name, MessageRef, Payload};
use crypto_core::PublicKey;

use super::amend::amended_event;
use super::reactions::quote;
use super::registry::SessionShared;
use super::rooms::{room_change_event, room_event};
use super::sending::delivery_event;
use super::{lock, Node};
use crate::event::{now_ms, Event, QuoteInfo};
use crate::persist::StoreBatch;
use crate::remote_log;
use crate::session::{Inbox, Outgoing};
use crate::store::{
    self, Amend, ChatMessage, Conversation, Delivery, KeyStanding, MessageKey, RequestInsert,
    RoomAnnouncement,
};

/// The per-session inbox: store first, then acknowledge.
struct NodeInbox {
    node: Node,
    peer: PublicKey,
    peer_id: String,
    name: String,
    /// Shared with the registry: the stranger flag and the ids owed to us by this session.
    shared: Arc<SessionShared>,
    /// Store jobs of the payloads received since the last [`Inbox::flush`], in order.
    pending: Mutex<StoreBatch>,
}

impl Drop for NodeInbox {
    /// A session that ends between `receive` and `flush` still stores what it received.
    fn drop(&mut self) {
        self.flush();
    }
}

/// What `receive` hands back: the reply (an ack) once the store has committed; `None` when
/// the payload gave the store nothing to do.
type Reply = Option<Pin<Box<dyn std::future::Future<Output = Option<Outgoing>> + Send>>>;

impl Inbox for NodeInbox {
    /// Adds the payload's store job to this session's batch, in arrival order; the returned
    /// future waits for its commit, so the session keeps reading while a burst is stored.
    fn receive(self: Arc<Self>, payload: Payload) -> Reply {
        let stranger = self.shared.is_stranger();
        match payload {
            Payload::Chat {
                id,
                text,
                sent_at,
                room: None,
                broadcast,
                ..
            } if stranger => self.receive_request_chat(id, text, sent_at, broadcast),
            Payload::Chat {
                id,
                text,
                sent_at,
                room,
                broadcast,
                reply_to,
            } => self.receive_chat(id, text, sent_at, room, broadcast, reply_to),
            Payload::Room { .. } if stranger => {
                remote_log::ignored(
                    &self.peer_id,
                    format_args!("ignoring a room announcement from a stranger"),
                );
                None
            }
            Payload::Edit { .. } | Payload::Delete { .. } | Payload::Reaction { .. }
                if stranger =>
            {
                // A request's messages are not in any conversation to amend or react to; once
                // accepted, the sender's retransmissions apply.
                remote_log::ignored(
                    &self.peer_id,
                    format_args!("ignoring an edit, delete or reaction from a stranger"),
                );
                None
            }
            Payload::Edit {
                id,
                msg_id,
                text,
                sent_at,
            } => self.node.receive_amendment(
                self.peer,
                &self.pending,
                id,
                msg_id,
                Amend::Edit(text),
                sent_at,
            ),
            Payload::Delete {
                id,
                msg_id,
                sent_at,
            } => self.node.receive_amendment(
                self.peer,
                &self.pending,
                id,
                msg_id,
                Amend::Delete,
                sent_at,
            ),
            Payload::Reaction {
                id,
                to,
                emoji,
                sent_at,
            } => {
                let is_contact = !self.shared.is_stranger();
                self.node.receive_reaction(
                    self.peer,
                    is_contact,
                    &self.pending,
                    id,
                    to,
                    emoji,
                    sent_at,
                )
            }
            Payload::Ack { id } => {
                if self.shared.take_owed(&id) {
                    Some(self.record_ack(id))
                } else {
                    // Never written here, or already acknowledged: dropped before any work.
                    None
                }
            }
            Payload::Room {
                id,
                name,
                members,
                creator,
                names,
            } => self.receive_room(id, name, members, creator, names),
            Payload::Timer { .. } if stranger => {
                // Not acknowledged: offered again once it is a contact (`timers`).
                remote_log::ignored(
                    &self.peer_id,
                    format_args!("ignoring a timer from a stranger"),
                );
                None
            }
            Payload::Timer {
                id,
                seconds,
                set_at,
                room,
            } => self.node.receive_timer(
                &mut lock(&self.pending),
                self.peer,
                (id, seconds, set_at, room),
            ),
            Payload::Typing { .. } | Payload::Read { .. } if stranger => {
                // A message request is shown neither typing nor reading (PROTOCOL.md §8.10).
                None
            }
            Payload::Typing { active, room } => {
                self.node
                    .receive_typing(self.peer, &self.pending, active, room)
            }
            Payload::Read { msg_id } => self.node.receive_read(self.peer, msg_id),
            Payload::Keepalive => None,
            Payload::Name { name } => {
                let node = self.node.clone();
                let peer = self.peer;
                Some(Box::pin(async move {
                    node.receive_name(peer, &name).await;
                    None
                }))
            }
            payload @ (Payload::File { .. }
            | Payload::FileWant { .. }
            | Payload::FileCredit { .. }
            | Payload::FileChunk { .. }
            | Payload::FilePause { .. }
            | Payload::FileCancel { .. }) => {
                self.node.receive_file_payload(self.peer, stranger, payload)
            }
            Payload::Addresses {
                observed,
                addresses,
            } => {
                self.node
                    .receive_addresses(self.peer, stranger, observed, addresses);
                None
            }
            Payload::Introduce {
                id,
                peer,
                addresses,
            } => {
                self.node
                    .receive_introduce(self.peer, stranger, id, peer, addresses);
                None
            }
            Payload::Introduction { .. } if stranger => {
                remote_log::ignored(
                    &self.peer_id,
                    format_args!("ignoring an introduction from a stranger"),
                );
                None
            }
            Payload::Introduction {
                id,
                peer,
                addresses,
            } => {
                let node = self.node.clone();
                let from = self.peer;
                tokio::spawn(async move {
                    node.receive_introduction(from, id, peer, addresses).await;
                });
                None
            }
            Payload::IntroduceAnswer {
                id,
                peer,
                accept,
                addresses,
            } => {
                self.node
                    .receive_introduce_answer(self.peer, id, peer, accept, addresses);
                None
            }
            Payload::IntroduceResult {
                id,
                peer,
                outcome,
                addresses,
            } => {
                self.node
                    .receive_introduce_result(self.peer, id, peer, outcome, addresses);
                None
            }
            _ => {
                tracing::debug!(peer = %self.peer_id, "ignoring a payload kind this version does not use");
                None
            }
        }
    }

    fn flush(&self) {
        self.node.store().submit(&mut lock(&self.pending));
    }

    fn is_stranger(&self) -> bool {
        self.shared.is_stranger()
    }
}

impl NodeInbox {
    /// [`Conversation::ui_id`], without encoding the key again for this session's own
    /// conversation (once per chat received).
    fn ui_id(&self, conversation: &Conversation) -> String {
        match conversation {
            Conversation::Peer(key) if *key == self.peer => self.peer_id.clone(),
            other => other.ui_id(),
        }
    }
}

/// Stores a chat of a conversation we show, with what follows from it: the edit or delete
/// that came first (PROTOCOL.md §8.7) and the quote of the message it replies to. Returns its
/// `seq` (`None`: already stored), the quote and the amended message.
///
/// The insert and its follow-up land together or not at all. A chat stored while its follow-up
/// failed would be left unacknowledged, come again, be found "already stored" and be
/// acknowledged without its amendment or its event. A chat with no follow-up (no reply, no
/// amendment held anywhere: the store knows that without a statement) is one statement,
/// atomic by itself, and spares the hot path a savepoint.
fn store_received_chat(
    s: &mut store::Store,
    message: &ChatMessage,
    me: &PublicKey,
    my_name: &str,
) -> store::Result<(Option<i64>, Option<QuoteInfo>, Option<store::StoredMessage>)> {
    let store_it = |s: &mut store::Store| {
        let Some(seq) = s.insert_incoming_seq(message)? else {
            return Ok((None, None, None));
        };
        let amended = s.apply_held_amendment(&message.sender, &message.id, message.received_at)?;
        // The quoted text comes from our history, never from the payload.
        let quote = match &message.reply_to {
            Some(reply) => Some(quote(
                s,
                &message.conversation,
                reply,
                me,
                my_name,
                &mut Default::default(),
            )?),
            None => None,
        };
        Ok((Some(seq), quote, amended))
    };
    if message.reply_to.is_some() || s.may_hold_amendments()? {
        s.atomically(store_it)
    } else {
        store_it(s)
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
        reply_to: Option<MessageRef>,
    ) -> Reply {
        let conversation = Conversation::of_received(self.peer, room, broadcast);
        // A reply naming a bad key is kept as a plain message (older peers show it so too).
        let reply_to = reply_to.as_ref().and_then(MessageKey::from_wire);
        let received_at = now_ms();
        let message = ChatMessage {
            conversation,
            sender: self.peer,
            id,
            text,
            sent_at,
            received_at,
            reply_to,
        };
        // Its chat ends its typing there (PROTOCOL.md §8.10), as it arrives: a start that
        // follows it while it waits for the store stays shown.
        self.node
            .typing_ends_with_chat(&self.peer, &message.conversation);
        let me = self.node.inner.public;
        // Our name is only needed to label a quote of our own message.
        let my_name = if message.reply_to.is_some() {
            self.node.name()
        } else {
            String::new()
        };
        let stored = lock(&self.pending).call(move |s| -> crate::store::Result<_> {
            if let Conversation::Room(room) = &message.conversation {
                // A room we are not in (or were removed from) shows nothing.
                if !s.is_room_member(room, &me)? || !s.is_room_member(room, &message.sender)? {
                    return Ok((None, message, None, None));
                }
            }
            let (seq, quote, amended) = store_received_chat(s, &message, &me, &my_name)?;
            Ok((Some(seq), message, quote, amended))
        });
        Some(Box::pin(async move {
            let (seq, message, reply_to, amended) = match stored.await {
                Ok(Ok((Some(Some(seq)), message, quote, amended))) => {
                    (seq, message, quote, amended)
                }
                // A retransmission: already stored (and shown), acknowledged again.
                Ok(Ok((Some(None), message, _, _))) => return Some(ack(message.id)),
                Ok(Ok((None, _, _, _))) => {
                    remote_log::ignored(
                        &self.peer_id,
                        format_args!("ignoring a room message from a non-member"),
                    );
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
                conversation: self.ui_id(&message.conversation),
                id: message.id,
                text: message.text,
                sent_at: message.sent_at,
                received_at: message.received_at,
                reply_to,
                seq: Some(seq),
                file: None,
            });
            if let Some(amended) = amended {
                self.node
                    .emit(amended_event(&amended, &self.node.inner.public));
            }
            Some(reply)
        }))
    }

    /// A stranger's direct or broadcast chat: stored in its request (whose bounds drop the
    /// oldest), acknowledged once stored, shown as `request:<peer_id>`.
    fn receive_request_chat(
        self: Arc<Self>,
        id: String,
        text: String,
        sent_at: u64,
        broadcast: bool,
    ) -> Reply {
        let peer = self.peer;
        let received_at = now_ms();
        let conversation = Conversation::of_received(peer, None, broadcast);
        let me = self.node.inner.public;
        let stored = lock(&self.pending).call(move |s| {
            let insert =
                s.insert_request_message(&peer, &id, &text, sent_at, received_at, broadcast)?;
            // Accepted between this chat's arrival and its store job (our own dial to the
            // same key, or the user): the chat belongs in the conversation now, stored as
            // any contact's chat is.
            let as_contact = match insert {
                RequestInsert::NoRequest if s.key_standing(&peer)? == KeyStanding::Contact => {
                    let message = ChatMessage {
                        conversation,
                        sender: peer,
                        id: id.clone(),
                        text: text.clone(),
                        sent_at,
                        received_at,
                        reply_to: None,
                    };
                    let (seq, _, amended) = store_received_chat(s, &message, &me, "")?;
                    Some((seq, amended))
                }
                _ => None,
            };
            Ok::<_, store::StoreError>((insert, as_contact, id, text))
        });
        Some(Box::pin(async move {
            let (id, text) = match stored.await {
                Ok(Ok((_, Some((seq, amended)), id, text))) => {
                    let reply =
                        self.accepted_meanwhile(id, text, sent_at, received_at, broadcast, seq);
                    if let Some(amended) = amended {
                        self.node
                            .emit(amended_event(&amended, &self.node.inner.public));
                    }
                    return reply;
                }
                Ok(Ok((RequestInsert::Stored { .. }, _, id, text))) => (id, text),
                Ok(Ok((RequestInsert::Duplicate, _, id, _))) => return Some(ack(id)),
                Ok(Ok((RequestInsert::NoRequest, _, _, _))) => {
                    // Accepted, blocked or evicted meanwhile: not stored, so not acknowledged;
                    // the sender will try again.
                    remote_log::ignored(
                        &self.peer_id,
                        format_args!("a request's message arrived after the request ended"),
                    );
                    return None;
                }
                Ok(Err(e)) => {
                    tracing::warn!(peer = %self.peer_id, "cannot store a request's message: {e}");
                    return None;
                }
                Err(e) => {
                    tracing::warn!(peer = %self.peer_id, "a request's message was not stored: {e}");
                    return None;
                }
            };
            let reply = ack(id.clone());
            self.node.emit(Event::PeerMessage {
                peer_id: self.peer_id.clone(),
                name: self.name.clone(),
                conversation: format!("{REQUEST_PREFIX}{}", self.peer_id),
                id,
                text,
                sent_at,
                received_at,
                reply_to: None,
                seq: None,
                file: None,
            });
            Some(reply)
        }))
    }

    /// A request's chat stored in the conversation because the request was accepted while it
    /// waited for the store: shown as a contact's chat (`seq: None` if it was already there).
    fn accepted_meanwhile(
        &self,
        id: String,
        text: String,
        sent_at: u64,
        received_at: u64,
        broadcast: bool,
        seq: Option<i64>,
    ) -> Option<Outgoing> {
        let reply = ack(id.clone());
        if let Some(seq) = seq {
            let conversation = Conversation::of_received(self.peer, None, broadcast);
            self.node.emit(Event::PeerMessage {
                peer_id: self.peer_id.clone(),
                name: self.name.clone(),
                conversation: conversation.ui_id(),
                id,
                text,
                sent_at,
                received_at,
                reply_to: None,
                seq: Some(seq),
                file: None,
            });
        }
        Some(reply)
    }

    /// Records an owed ack; the session waits for it like for a chat, so acks count against
    /// its store backlog.
    fn record_ack(
        &self,
        id: String,
    ) -> Pin<Box<dyn std::future::Future<Output = Option<Outgoing>> + Send>> {
        let peer = self.peer;
        let events = self.node.inner.events.clone();
        let peer_id = self.peer_id.clone();
        let done = lock(&self.pending).call(move |s| {
            let file_id = id.clone();
            match s.mark_delivered(&peer, &id) {
                Ok(None) => {
                    // Not a chat: perhaps our timer setting (`timers`), now no longer owed.
                    if let Err(e) = s.timer_acked(&peer, &id) {
                        tracing::warn!("cannot record an ack: {e}");
                    }
                    let _ = events.send(Event::Delivered { peer_id, id });
                }
                Ok(update) => {
                    if let Some(event) = update.and_then(|u| {
                        let changed = u.aggregate_changed;
                        delivery_event(&peer, id.clone(), u, Delivery::Delivered, changed)
                    }) {
                        let _ = events.send(event);
                    }
                    let _ = events.send(Event::Delivered { peer_id, id });
                }
                Err(e) => tracing::warn!("cannot record an ack: {e}"),
            }
            // A file's offer is acknowledged once the whole file is verified (PROTOCOL.md
            // §5.1), also after a cancel and a retry took it out of the outbox.
            super::files::delivered(s, &peer, &file_id, &events);
        });
        Box::pin(async move {
            let _ = done.await;
            None
        })
    }

    fn receive_room(
        self: Arc<Self>,
        id: String,
        name: String,
        members: Vec<String>,
        creator: Option<String>,
        names: Vec<String>,
    ) -> Reply {
        let keys: Result<Vec<PublicKey>, _> =
            members.iter().map(|m| PublicKey::from_base64(m)).collect();
        let creator = creator.as_deref().map(PublicKey::from_base64).transpose();
        let (Ok(keys), Ok(creator)) = (keys, creator) else {
            remote_log::ignored(
                &self.peer_id,
                format_args!("ignoring a room with a bad key"),
            );
            return None;
        };
        let name = clean_name(&name);
        // The creator's names for the members, one per member (checked by the parser).
        let names: Vec<(PublicKey, String)> = keys
            .iter()
            .zip(&names)
            .map(|(k, n)| (*k, clean_name(n)))
            .collect();
        let peer = self.peer;
        let me = self.node.inner.public;
        let stored = lock(&self.pending).call(move |s| {
            let creator = creator.as_ref();
            s.apply_room_announcement_named(
                &me,
                &peer,
                &id,
                &name,
                &keys,
                &names,
                creator,
                now_ms(),
            )
        });
        Some(Box::pin(async move {
            match stored.await {
                Ok(Ok(RoomAnnouncement::Created(room))) => {
                    self.node.emit(room_event(&room, &me));
                }
                Ok(Ok(RoomAnnouncement::Changed { room, change })) => {
                    self.node.emit(room_change_event(&change));
                    self.node.emit(room_event(&room, &me));
                }
                Ok(Ok(RoomAnnouncement::Unchanged)) => {}
                Ok(Ok(RoomAnnouncement::Ignored(why))) => {
                    remote_log::ignored(
                        &self.peer_id,
                        format_args!("ignoring a room announcement: {why:?}"),
                    );
                }
                Ok(Err(e)) => {
                    remote_log::ignored(&self.peer_id, format_args!("ignoring a room: {e}"))
                }
                Err(e) => tracing::warn!("{e}"),
            }
            None
        }))
    }
}

/// The conversation id prefix of a message request (PROTOCOL.md §8.1).
pub(super) const REQUEST_PREFIX: &str = "request:";

/// The acknowledgement of chat `id` (PROTOCOL §5), sent once the chat is stored.
pub(super) fn ack(id: String) -> Outgoing {
    Payload::Ack { id }.to_bytes().into()
}

impl Node {
    /// The inbox of a new session with `peer`.
    pub(super) fn inbox(
        &self,
        peer: PublicKey,
        name: &str,
        shared: Arc<SessionShared>,
    ) -> Arc<dyn Inbox> {
        Arc::new(NodeInbox {
            node: self.clone(),
            peer,
            peer_id: peer.to_base64(),
            name: name.to_owned(),
            shared,
            pending: Mutex::new(StoreBatch::default()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{AmendOutcome, MessageKey, Store};

    fn chat(from: &PublicKey, id: &str, reply_to: Option<MessageKey>) -> ChatMessage {
        ChatMessage {
            conversation: Conversation::Peer(*from),
            sender: *from,
            id: id.into(),
            text: "original".into(),
            sent_at: 1,
            received_at: 2,
            reply_to,
        }
    }

    /// Holds an edit of `bob`'s message `id` (not here yet), and makes every edit fail until
    /// the trigger `fail_edits` is dropped.
    fn hold_an_edit_that_cannot_apply(s: &mut Store, bob: &PublicKey, id: &str) {
        assert_eq!(
            s.apply_amendment(bob, id, &Amend::Edit("edited".into()), 1, 1)
                .unwrap(),
            AmendOutcome::Held
        );
        s.execute_for_test(
            "CREATE TEMP TRIGGER fail_edits BEFORE UPDATE ON messages
             BEGIN SELECT RAISE(ABORT, 'injected failure'); END;",
        );
    }

    /// A store failure after the insert (here, applying the edit that came first) must not
    /// leave the chat stored: unacknowledged, it comes again, and only then can its edit and
    /// its event follow.
    #[test]
    fn a_chat_whose_held_edit_cannot_apply_is_not_stored_and_applies_when_it_comes_again() {
        let mut s = Store::open_in_memory().unwrap();
        let bob = PublicKey::from_bytes([2; 32]);
        let me = PublicKey::from_bytes([1; 32]);
        hold_an_edit_that_cannot_apply(&mut s, &bob, "m1");
        let err = store_received_chat(&mut s, &chat(&bob, "m1", None), &me, "").unwrap_err();
        assert!(err.to_string().contains("injected failure"), "{err}");
        assert!(
            s.message(&bob, "m1").unwrap().is_none(),
            "stored unanswered"
        );

        s.execute_for_test("DROP TRIGGER fail_edits");
        let (seq, quote, amended) =
            store_received_chat(&mut s, &chat(&bob, "m1", None), &me, "").unwrap();
        assert!(seq.is_some(), "stored as new the second time");
        assert!(quote.is_none());
        assert_eq!(amended.unwrap().message.text, "edited");
        assert_eq!(
            s.message(&bob, "m1").unwrap().unwrap().message.text,
            "edited"
        );
    }

    /// Inside a group transaction, as the store thread runs a burst: the failed chat leaves
    /// nothing behind, the other chats of the group are kept, and its edit stays held.
    #[test]
    fn a_failed_chat_inside_a_group_leaves_the_rest_of_the_group_stored() {
        let mut s = Store::open_in_memory().unwrap();
        let bob = PublicKey::from_bytes([2; 32]);
        let me = PublicKey::from_bytes([1; 32]);
        s.begin_group().unwrap();
        store_received_chat(&mut s, &chat(&bob, "m0", None), &me, "").unwrap();
        hold_an_edit_that_cannot_apply(&mut s, &bob, "m1");
        assert!(store_received_chat(&mut s, &chat(&bob, "m1", None), &me, "").is_err());
        store_received_chat(&mut s, &chat(&bob, "m2", None), &me, "").unwrap();
        s.commit_group().unwrap();
        s.execute_for_test("DROP TRIGGER fail_edits");
        assert!(s.message(&bob, "m0").unwrap().is_some());
        assert!(
            s.message(&bob, "m1").unwrap().is_none(),
            "stored unanswered"
        );
        assert!(s.message(&bob, "m2").unwrap().is_some());
        let (_, _, amended) =
            store_received_chat(&mut s, &chat(&bob, "m1", None), &me, "").unwrap();
        assert_eq!(amended.unwrap().message.text, "edited");
    }

    /// The same for a reply whose quote cannot be read.
    #[test]
    fn a_reply_whose_quote_cannot_be_read_is_not_stored() {
        let mut s = Store::open_in_memory().unwrap();
        let bob = PublicKey::from_bytes([2; 32]);
        let me = PublicKey::from_bytes([1; 32]);
        let first = chat(&bob, "m1", None);
        store_received_chat(&mut s, &first, &me, "").unwrap();
        let reply = chat(
            &bob,
            "m2",
            Some(MessageKey {
                sender: bob,
                id: "m1".into(),
            }),
        );
        // The quote reads the contacts table for the sender's name; hide it.
        s.execute_for_test("ALTER TABLE contacts RENAME TO contacts_hidden");
        assert!(store_received_chat(&mut s, &reply, &me, "").is_err());
        assert!(
            s.message(&bob, "m2").unwrap().is_none(),
            "stored unanswered"
        );
        s.execute_for_test("ALTER TABLE contacts_hidden RENAME TO contacts");
        let (seq, quote, _) = store_received_chat(&mut s, &reply, &me, "").unwrap();
        assert!(seq.is_some());
        assert_eq!(quote.unwrap().text.as_deref(), Some("original"));
    }
}
