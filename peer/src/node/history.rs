//! What the UI does with stored history beyond paging it (PROTOCOL.md §8.5): search it, open
//! a conversation around one message, delete messages or a conversation on this device.
//! The work is the store's (`store/search.rs`, `store/deletion.rs`); this module runs it on the
//! store thread and turns the answers into events.

use std::collections::HashMap;

use crypto_core::PublicKey;

use super::queries::{entries, sender_of, MAX_HISTORY_PAGE};
use super::timers::timer_of;
use super::Node;
use crate::event::{Event, SearchResult};
use crate::persist::StoreUnavailable;
use crate::store::{self, Conversation, StoreError};

/// Why a history action failed.
#[derive(Debug, thiserror::Error)]
pub enum HistoryActionError {
    /// The request itself is unusable (an empty query, a message that is not there); the
    /// text says what to change.
    #[error("{0}")]
    Invalid(String),
    /// The store failed.
    #[error("message store: {0}")]
    Store(StoreError),
    /// The store thread did not answer, or could not commit.
    #[error(transparent)]
    Unavailable(#[from] StoreUnavailable),
}

impl From<StoreError> for HistoryActionError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Invalid(text) => Self::Invalid(text),
            other => Self::Store(other),
        }
    }
}

/// Whose message a `delete_message` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageAuthor {
    /// Ours (`"me"`).
    Me,
    /// A peer's.
    Peer(PublicKey),
}

impl Node {
    /// The `search_results` event for `query` in `scope` (or everywhere).
    pub async fn search(
        &self,
        query: String,
        scope: Option<Conversation>,
        limit: usize,
    ) -> Result<Event, HistoryActionError> {
        let me = self.inner.public;
        let my_name = self.name();
        let scope_id = scope.as_ref().map(Conversation::ui_id);
        let q = query.clone();
        let (results, more) = self
            .store()
            .call(move |s| -> store::Result<(Vec<SearchResult>, bool)> {
                let page = s.search(&q, scope.as_ref(), limit)?;
                let mut names: HashMap<PublicKey, String> = HashMap::new();
                let mut results = Vec::with_capacity(page.hits.len());
                for hit in page.hits {
                    let (from, name) = sender_of(s, &hit.message, &me, &my_name, &mut names)?;
                    let m = hit.message;
                    results.push(SearchResult {
                        conversation: m.message.conversation.ui_id(),
                        seq: m.seq,
                        id: m.message.id,
                        from,
                        name,
                        sent_at: m.message.sent_at,
                        received_at: m.message.received_at,
                        direction: match m.direction {
                            store::MessageDirection::Outgoing => "out",
                            store::MessageDirection::Incoming => "in",
                        },
                        snippet: hit.snippet.text,
                        ranges: hit
                            .snippet
                            .ranges
                            .into_iter()
                            .map(|(a, b)| [a, b])
                            .collect(),
                        cut_before: hit.snippet.cut_before,
                        cut_after: hit.snippet.cut_after,
                    });
                }
                Ok((results, page.more))
            })
            .await??;
        Ok(Event::SearchResults {
            query,
            conversation: scope_id,
            results,
            more,
        })
    }

    /// A `history` event centred on message `seq` of `conversation`: up to `context` messages
    /// each side, with the room changes between them.
    pub async fn history_around(
        &self,
        conversation: Conversation,
        seq: i64,
        context: usize,
    ) -> Result<Event, HistoryActionError> {
        let context = context.clamp(1, MAX_HISTORY_PAGE);
        let me = self.inner.public;
        let my_name = self.name();
        let conv = conversation.clone();
        let (messages, has_more, has_newer, timer) = self
            .store()
            .call(move |s| -> store::Result<_> {
                let page = s.history_around(&conv, seq, context)?;
                let changes = match &conv {
                    Conversation::Room(id) => {
                        let first = page.messages.first().map(|m| m.seq);
                        let last = page.messages.last().map(|m| m.seq);
                        s.room_changes(id)?
                            .into_iter()
                            .filter(|c| !page.has_more || first.is_some_and(|f| c.after_seq >= f))
                            .filter(|c| !page.has_newer || last.is_some_and(|l| c.after_seq < l))
                            .collect()
                    }
                    _ => Vec::new(),
                };
                let timers = s
                    .timer_changes(&conv)?
                    .into_iter()
                    .filter(|c| {
                        !page.has_more
                            || page.messages.first().is_some_and(|f| c.after_seq >= f.seq)
                    })
                    .filter(|c| {
                        !page.has_newer || page.messages.last().is_some_and(|l| c.after_seq < l.seq)
                    })
                    .collect();
                let timer = timer_of(s, &conv)?;
                let entries = entries(s, page.messages, changes, timers, &me, &my_name)?;
                Ok((entries, page.has_more, page.has_newer, timer))
            })
            .await??;
        Ok(Event::History {
            conversation: conversation.ui_id(),
            messages,
            has_more,
            around: Some(seq),
            has_newer: Some(has_newer),
            timer,
            after: None,
            before: None,
        })
    }

    /// Deletes message `id` of `conversation` (by `author`, or whoever wrote it) on this
    /// device and tells every UI client with `message_deleted`.
    pub async fn delete_message(
        &self,
        conversation: Conversation,
        id: String,
        author: Option<MessageAuthor>,
    ) -> Result<(), HistoryActionError> {
        let sender = author.map(|a| match a {
            MessageAuthor::Me => self.inner.public,
            MessageAuthor::Peer(key) => key,
        });
        let conv = conversation.clone();
        let msg_id = id.clone();
        let deleted = self
            .store()
            .call(move |s| s.delete_message(&conv, &msg_id, sender.as_ref()))
            .await??;
        if deleted == 0 {
            return Err(HistoryActionError::Invalid(
                "no such message in this conversation".into(),
            ));
        }
        tracing::info!("deleted {deleted} message(s) on this device");
        self.emit(Event::MessageDeleted {
            conversation: conversation.ui_id(),
            id,
            from: author.map(|a| match a {
                MessageAuthor::Me => "me".to_owned(),
                MessageAuthor::Peer(key) => key.to_base64(),
            }),
            reason: None,
        });
        Ok(())
    }

    /// Deletes every message of `conversation` on this device and tells every UI client with
    /// `conversation_deleted`.
    pub async fn delete_conversation(
        &self,
        conversation: Conversation,
    ) -> Result<(), HistoryActionError> {
        let conv = conversation.clone();
        let deleted = self
            .store()
            .call(move |s| s.delete_conversation(&conv))
            .await??;
        tracing::info!("deleted a conversation's {deleted} message(s) on this device");
        self.emit(Event::ConversationDeleted {
            conversation: conversation.ui_id(),
            deleted,
        });
        Ok(())
    }
}
