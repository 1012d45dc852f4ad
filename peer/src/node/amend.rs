//! Edits and deletes for everyone (PROTOCOL.md §8.7). Ours go to everyone who was sent the
//! message, through their own outbox (`amend_outbox`), so an offline recipient gets the
//! latest one later, once. A received one can only name a message of the session's own key
//! (`Store::apply_amendment`), so nobody can edit or delete someone else's message; one that
//! arrives before its message is held (bounded) and applied when the message comes.

use std::sync::Mutex;

use crypto_core::wire::Payload;
use crypto_core::PublicKey;

use super::reactions::Reply;
use super::sending::{SendError, MAX_TEXT_CHARS};
use super::{lock, Node};
use crate::event::{now_ms, Event};
use crate::persist::StoreBatch;
use crate::session::Outgoing;
use crate::store::{Amend, AmendOutcome, StoreError, StoredMessage};

/// The event telling the UI that `message` was edited or deleted for everyone.
pub(super) fn amended_event(message: &StoredMessage, me: &PublicKey) -> Event {
    let from = if message.message.sender == *me {
        "me".to_owned()
    } else {
        message.message.sender.to_base64()
    };
    if message.unsent {
        Event::MessageUnsent {
            conversation: message.message.conversation.ui_id(),
            from,
            id: message.message.id.clone(),
        }
    } else {
        Event::MessageEdited {
            conversation: message.message.conversation.ui_id(),
            from,
            id: message.message.id.clone(),
            text: message.message.text.clone(),
            edited_at: message.edited_at.unwrap_or_default(),
        }
    }
}

impl Node {
    /// Edits (`Amend::Edit`) or deletes for everyone our message `msg_id`: changed here,
    /// queued for its recipients, the event emitted, written to the sessions that are ready.
    pub async fn amend(&self, msg_id: String, amend: Amend) -> Result<(), SendError> {
        if let Amend::Edit(text) = &amend {
            let chars = text.chars().count();
            if chars == 0 || chars > MAX_TEXT_CHARS {
                return Err(SendError::TextLength(chars));
            }
        }
        let me = self.inner.public;
        let id = self.inner.outbox.message_id();
        let sent_at = now_ms();
        let node = self.clone();
        let (target, amend_id, change) = (msg_id.clone(), id.clone(), amend.clone());
        let (message, ready) = self
            .store()
            .call(move |s| {
                let Some((message, recipients)) =
                    s.amend_own(&me, &target, &change, &amend_id, sent_at)?
                else {
                    return Err(StoreError::Invalid(
                        "no message of yours with that id (or it was deleted)".into(),
                    ));
                };
                let ready = node.inner.outbox.ready_among(&recipients);
                Ok::<_, StoreError>((message, ready))
            })
            .await??;
        self.emit(amended_event(&message, &me));
        let payload: Outgoing = match amend {
            Amend::Edit(text) => Payload::Edit {
                id: id.clone(),
                msg_id,
                text,
                sent_at,
            },
            Amend::Delete => Payload::Delete {
                id: id.clone(),
                msg_id,
                sent_at,
            },
        }
        .to_bytes()
        .into();
        for key in ready {
            self.push_chat(&key, &id, payload.clone()).await;
        }
        Ok(())
    }

    /// An `edit` or `delete` payload from `peer`, of its own message `msg_id`: stored in this
    /// session's batch, acknowledged once committed (held ones too), shown if applied.
    pub(super) fn receive_amendment(
        &self,
        peer: PublicKey,
        batch: &Mutex<StoreBatch>,
        id: String,
        msg_id: String,
        amend: Amend,
        sent_at: u64,
    ) -> Reply {
        let me = self.inner.public;
        let stored =
            lock(batch).call(move |s| s.apply_amendment(&peer, &msg_id, &amend, sent_at, now_ms()));
        let node = self.clone();
        Some(Box::pin(async move {
            match stored.await {
                Ok(Ok(AmendOutcome::Applied(message))) => node.emit(amended_event(&message, &me)),
                Ok(Ok(AmendOutcome::Unchanged | AmendOutcome::Held)) => {}
                Ok(Err(e)) => {
                    tracing::warn!("cannot store an edit or delete: {e}");
                    return None;
                }
                Err(e) => {
                    tracing::warn!("an edit or delete was not stored: {e}");
                    return None;
                }
            }
            Some(Payload::Ack { id }.to_bytes().into())
        }))
    }
}
