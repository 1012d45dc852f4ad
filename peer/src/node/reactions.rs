//! Replies and reactions (PROTOCOL.md §5, §8.6). A reply's quoted text is always read from our
//! own history (`Store::quoted`), never from the payload, so a reply cannot make anyone appear
//! to have said something. A reaction is one emoji per person per message, toggled; ours go
//! through their own outbox (`reaction_outbox`) to the message's audience, so offline
//! recipients, room members included, get the latest state when they reconnect. A received
//! reaction is stored only for a message we hold and from someone who can see it
//! (`Store::apply_reaction`); anything else is acknowledged and dropped.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;

use crypto_core::wire::{MessageRef, Payload, MAX_EMOJI_BYTES};
use crypto_core::PublicKey;

use super::queries::sender_of;
use super::{lock, Node};
use crate::event::{now_ms, Event, QuoteInfo};
use crate::persist::StoreBatch;
use crate::session::Outgoing;
use crate::store::{self, Conversation, MessageKey, ReactionOutcome, Store, StoreError};

use super::sending::SendError;

/// What an inbox hands back for one payload (see `inbound`).
pub(super) type Reply = Option<Pin<Box<dyn Future<Output = Option<Outgoing>> + Send>>>;

/// Whether `emoji` may be a reaction: 1 to [`MAX_EMOJI_BYTES`] bytes, no spaces or controls.
pub fn valid_emoji(emoji: &str) -> bool {
    !emoji.is_empty()
        && emoji.len() <= MAX_EMOJI_BYTES
        && !emoji.chars().any(|c| c.is_control() || c.is_whitespace())
}

/// `"me"` for our key, else the key's peer_id.
fn who(key: &PublicKey, me: &PublicKey) -> String {
    if key == me {
        "me".into()
    } else {
        key.to_base64()
    }
}

/// The `reply_to` of an event: what `reply` names, with its text and sender's name if we hold
/// that message in `conversation`.
pub(super) fn quote(
    s: &Store,
    conversation: &Conversation,
    reply: &MessageKey,
    me: &PublicKey,
    my_name: &str,
    names: &mut HashMap<PublicKey, String>,
) -> store::Result<QuoteInfo> {
    // A message deleted for everyone quotes as unavailable, like one we never had.
    let quoted = s.quoted(conversation, reply)?.filter(|m| !m.unsent);
    let (text, name) = match quoted {
        Some(m) => {
            let (_, name) = sender_of(s, &m, me, my_name, names)?;
            (Some(m.message.text), Some(name))
        }
        None => (None, None),
    };
    Ok(QuoteInfo {
        from: who(&reply.sender, me),
        id: reply.id.clone(),
        text,
        name,
    })
}

impl Node {
    /// The message an action names (`"me"`: ours).
    pub fn message_key(&self, from: super::MessageAuthor, id: String) -> MessageKey {
        let sender = match from {
            super::MessageAuthor::Me => self.inner.public,
            super::MessageAuthor::Peer(key) => key,
        };
        MessageKey { sender, id }
    }

    /// Toggles our reaction `emoji` on message `to` (PROTOCOL.md §8.6): stored, queued for the
    /// message's audience, `reaction` emitted, then written to the sessions that are ready.
    pub async fn react(&self, to: MessageKey, emoji: String) -> Result<(), SendError> {
        if !valid_emoji(&emoji) {
            return Err(SendError::BadEmoji);
        }
        let me = self.inner.public;
        // A message request's session never gets our reactions (PROTOCOL.md §8.2).
        let live: Vec<PublicKey> = self.inner.sessions.keys_where(|s| !s.is_stranger());
        let id = self.inner.outbox.message_id();
        let sent_at = now_ms();
        let node = self.clone();
        let (target, reaction_id) = (to.clone(), id.clone());
        let toggled = self
            .store()
            .call(move |s| {
                let Some(own) =
                    s.toggle_own_reaction(&me, &target, &emoji, &reaction_id, sent_at, &live)?
                else {
                    return Err(StoreError::Invalid(
                        "no such message to react to in a conversation you are in".into(),
                    ));
                };
                let ready = node.inner.outbox.ready_among(&own.recipients);
                Ok::<_, StoreError>((own, ready))
            })
            .await??;
        let (own, ready) = toggled;
        self.emit(Event::Reaction {
            conversation: own.conversation.ui_id(),
            from: who(&to.sender, &me),
            id: to.id.clone(),
            by: "me".into(),
            emoji: (!own.emoji.is_empty()).then(|| own.emoji.clone()),
        });
        let payload: Outgoing = Payload::Reaction {
            id: id.clone(),
            to: to.to_wire(),
            emoji: own.emoji,
            sent_at,
        }
        .to_bytes()
        .into();
        for key in ready {
            self.push_chat(&key, &id, payload.clone()).await;
        }
        Ok(())
    }

    /// A `reaction` payload from `peer` (`is_contact`: not a stranger): stored in this
    /// session's batch, acknowledged once committed (also when dropped, so the sender stops
    /// resending it), and shown if it changed something.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn receive_reaction(
        &self,
        peer: PublicKey,
        is_contact: bool,
        batch: &Mutex<StoreBatch>,
        id: String,
        to: MessageRef,
        emoji: String,
        sent_at: u64,
    ) -> Reply {
        let Some(to) = MessageKey::from_wire(&to) else {
            crate::remote_log::ignored(&peer, format_args!("ignoring a reaction naming a bad key"));
            return None;
        };
        let me = self.inner.public;
        let (target, reaction_id) = (to.clone(), id.clone());
        let stored = lock(batch).call(move |s| {
            s.apply_reaction(
                &me,
                &peer,
                is_contact,
                &target,
                &emoji,
                &reaction_id,
                sent_at,
            )
        });
        let node = self.clone();
        Some(Box::pin(async move {
            match stored.await {
                Ok(Ok(ReactionOutcome::Changed {
                    conversation,
                    emoji,
                })) => node.emit(Event::Reaction {
                    conversation: conversation.ui_id(),
                    from: who(&to.sender, &me),
                    id: to.id,
                    by: peer.to_base64(),
                    emoji: (!emoji.is_empty()).then_some(emoji),
                }),
                Ok(Ok(ReactionOutcome::Unchanged)) => {}
                Ok(Ok(outcome)) => {
                    crate::remote_log::ignored(
                        &peer,
                        format_args!("dropping a reaction: {outcome:?}"),
                    );
                }
                Ok(Err(e)) => {
                    // Not stored, so not acknowledged: the sender will try again.
                    tracing::warn!("cannot store a reaction: {e}");
                    return None;
                }
                Err(e) => {
                    tracing::warn!("a reaction was not stored: {e}");
                    return None;
                }
            }
            Some(Payload::Ack { id }.to_bytes().into())
        }))
    }
}
