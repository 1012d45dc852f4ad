//! Read receipts (PROTOCOL.md §5 `read`, §8.10).
//!
//! * **Ours**: the page says how far the user has seen a conversation (`mark_read`, sent only
//!   while the chat is open in a visible tab); for each sender whose newer messages that
//!   covers, one `read` naming the newest goes to that sender — only to a contact with read
//!   receipts on, never to a message request — now if its session is up, else when it next
//!   comes up (kept in the store, the newest position only). In a room each sender gets its
//!   own receipt for its own messages; nobody else learns who read what.
//! * **Theirs**: a `read` from a contact with read receipts on moves that reader's mark on our
//!   messages (`Store::apply_read_receipt`: only a message we sent it, never backwards); the
//!   page gets `read` once per move. With read receipts off for a contact its receipts are
//!   dropped (reciprocal), and the page is not shown the old ones either (`history`).
//!
//! A receipt carries no `id` and is not acknowledged: it repeats nothing a lost one would
//! have said that the next one does not say again.

use crypto_core::wire::Payload;
use crypto_core::PublicKey;

use super::reactions::Reply;
use super::Node;
use crate::event::{now_ms, Event};
use crate::persist::StoreUnavailable;
use crate::session::Outgoing;
use crate::store::{Conversation, Indicator, MessageKey, StoreError};

/// Why `mark_read` failed.
#[derive(Debug, thiserror::Error)]
pub enum ReceiptError {
    /// The message named is not in that conversation (or it is "everyone").
    #[error("no such message in this conversation")]
    NoSuchMessage,
    /// The store failed.
    #[error("cannot record what was read: {0}")]
    Store(#[from] StoreError),
    /// The store thread did not answer.
    #[error(transparent)]
    Unavailable(#[from] StoreUnavailable),
}

fn receipt(msg_id: &str) -> Outgoing {
    Payload::Read {
        msg_id: msg_id.to_owned(),
    }
    .to_bytes()
    .into()
}

impl Node {
    /// Our user has seen `conversation` up to message `upto`: receipts for the senders it
    /// covers, sent now to those online, owed to the others.
    pub async fn mark_read(
        &self,
        conversation: Conversation,
        upto: MessageKey,
    ) -> Result<(), ReceiptError> {
        let settings = self.indicators_now().await;
        let me = self.inner.public;
        let conv = conversation.clone();
        let positions = self
            .store()
            .call(move |s| {
                s.mark_read(&conv, &upto, &me, |sender, s| {
                    Ok(settings.is_on(Indicator::ReadReceipts, sender)
                        && s.contact(sender)?.is_some_and(|c| c.replaced_by.is_none()))
                })
            })
            .await??
            .ok_or(ReceiptError::NoSuchMessage)?;
        for position in positions.into_iter().filter(|p| p.owed) {
            self.send_receipt(&conversation, &position.sender, &position.msg_id)
                .await;
        }
        Ok(())
    }

    /// Writes the receipt naming `msg_id` to `sender`'s live session, if it has one that is
    /// not a message request, and settles it.
    async fn send_receipt(&self, conversation: &Conversation, sender: &PublicKey, msg_id: &str) {
        if !self.push_to_contact(sender, receipt(msg_id)).await {
            return; // owed: it goes when the session comes up
        }
        let (conv, sender, msg_id) = (conversation.clone(), *sender, msg_id.to_owned());
        self.store().exec(move |s| {
            if let Err(e) = s.receipt_sent(&conv, &sender, &msg_id) {
                tracing::warn!("cannot record a receipt as sent: {e}");
            }
        });
    }

    /// A contact's session came up: the receipts owed to it (dropped instead if read
    /// receipts are off with it now).
    pub(super) async fn send_owed_receipts(&self, peer: PublicKey) {
        let owed = match self.store().call(move |s| s.owed_receipts_for(&peer)).await {
            Ok(Ok(owed)) => owed,
            Ok(Err(e)) => {
                tracing::warn!("cannot read the owed receipts: {e}");
                return;
            }
            Err(_) => return,
        };
        if owed.is_empty() {
            return;
        }
        if !self.indicator_on(Indicator::ReadReceipts, &peer).await {
            self.store().exec(move |s| {
                for (conversation, msg_id) in owed {
                    let _ = s.receipt_sent(&conversation, &peer, &msg_id);
                }
            });
            return;
        }
        for (conversation, msg_id) in owed {
            self.send_receipt(&conversation, &peer, &msg_id).await;
        }
    }

    /// A `read` payload from contact `peer` (strangers' are dropped before this).
    pub(super) fn receive_read(&self, peer: PublicKey, msg_id: String) -> Reply {
        let node = self.clone();
        Some(Box::pin(async move {
            if !node.indicator_on(Indicator::ReadReceipts, &peer).await {
                return None;
            }
            let now = now_ms();
            let id = msg_id.clone();
            match node
                .store()
                .call(move |s| s.apply_read_receipt(&peer, &id, now))
                .await
            {
                Ok(Ok(Some(update))) => node.emit(Event::Read {
                    conversation: update.conversation.ui_id(),
                    peer_id: peer.to_base64(),
                    id: update.msg_id,
                    read_at: now,
                }),
                Ok(Ok(None)) => {}
                Ok(Err(e)) => tracing::warn!("cannot record a read receipt: {e}"),
                Err(e) => tracing::warn!("a read receipt was not recorded: {e}"),
            }
            None
        }))
    }
}
