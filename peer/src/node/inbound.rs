//! What a session received (PROTOCOL.md §5, §8.1): a chat is stored before it is
//! acknowledged and shown, an `ack` advances our outbox, a `room` announcement updates the
//! room if its sender is a member. Nothing from a held key is stored or acknowledged. Work is
//! collected per session and handed to the store thread per burst, so a burst costs one
//! commit; the session reads on while it is stored (see `crate::session`).

use std::pin::Pin;
use std::sync::{Arc, Mutex};

use crypto_core::wire::{clean_name, Payload};
use crypto_core::PublicKey;

use super::rooms::room_event;
use super::{lock, Node};
use crate::event::{now_ms, Event};
use crate::persist::StoreBatch;
use crate::session::{Inbox, Outgoing};
use crate::store::{self, ChatMessage, Conversation, RoomUpdate};

/// The per-session inbox: store first, then acknowledge.
struct NodeInbox {
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
        if self.node.inner.trust.is_held(&self.peer) {
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
            Payload::Name { name } => {
                let node = self.node.clone();
                let peer = self.peer;
                Box::pin(async move {
                    node.receive_name(peer, &name).await;
                    None
                })
            }
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
        let conversation = Conversation::of_received(self.peer, room, broadcast);
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
                conversation: message.conversation.ui_id(),
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
    /// The inbox of a new session with `peer`.
    pub(super) fn inbox(&self, peer: PublicKey, name: &str) -> Arc<dyn Inbox> {
        Arc::new(NodeInbox {
            node: self.clone(),
            peer,
            peer_id: peer.to_base64(),
            name: name.to_owned(),
            pending: Mutex::new(StoreBatch::default()),
        })
    }
}
