//! The UI actions on stored history (PROTOCOL.md §8.5): `search`, `history_around`,
//! `delete_message`, `delete_conversation`. Parsed here and run by [`run`], so `actions.rs`
//! and `ws.rs` only hand them over.

use crypto_core::PublicKey;
use serde::Deserialize;
use serde_json::Value;

use super::actions::ActionError;
use crate::event::Event;
use crate::node::{MessageAuthor, Node, MAX_HISTORY_PAGE};
use crate::store::{Conversation, MAX_SEARCH_RESULTS};

/// The action names handled here.
pub const ACTIONS: [&str; 4] = [
    "search",
    "history_around",
    "delete_message",
    "delete_conversation",
];

/// `search`'s default number of results.
pub const DEFAULT_SEARCH_RESULTS: usize = 50;
/// `history_around`'s default number of messages on each side.
pub const DEFAULT_AROUND_CONTEXT: usize = 50;

/// A validated history action.
#[derive(Debug, Clone, PartialEq)]
pub enum HistoryAction {
    /// Search message text.
    Search {
        /// The query (checked by the store: 1–256 characters, at most 16 words).
        query: String,
        /// One conversation, or all.
        conversation: Option<Conversation>,
        /// 1–200.
        limit: usize,
    },
    /// A page of history centred on one message.
    HistoryAround {
        /// Which conversation.
        conversation: Conversation,
        /// The message's `seq`.
        seq: i64,
        /// Messages on each side, 1–500.
        limit: usize,
    },
    /// Delete one message on this device.
    DeleteMessage {
        /// Its conversation.
        conversation: Conversation,
        /// Its sender-chosen id.
        id: String,
        /// Whose: `None` deletes every message with that id in the conversation.
        from: Option<MessageAuthor>,
    },
    /// Delete a conversation's history on this device.
    DeleteConversation {
        /// The conversation.
        conversation: Conversation,
    },
}

#[derive(Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
enum Raw {
    Search {
        query: String,
        conversation: Option<String>,
        limit: Option<u64>,
    },
    HistoryAround {
        conversation: String,
        seq: i64,
        limit: Option<u64>,
    },
    DeleteMessage {
        conversation: String,
        id: String,
        from: Option<String>,
    },
    DeleteConversation {
        conversation: String,
    },
}

fn limit(value: Option<u64>, default: usize, max: usize) -> Result<usize, String> {
    match value {
        None => Ok(default),
        Some(n) if (1..=max as u64).contains(&n) => Ok(n as usize),
        Some(_) => Err(format!("limit must be 1-{max}")),
    }
}

fn conversation(text: &str) -> Result<Conversation, String> {
    Conversation::parse_ui_id(text).map_err(|e| e.to_string())
}

/// Parses an action whose name is in [`ACTIONS`].
pub fn parse(name: &str, value: Value, req: Option<Value>) -> Result<HistoryAction, ActionError> {
    let fail = |message: String| ActionError {
        message,
        action: Some(name.to_owned()),
        req: req.clone(),
    };
    let raw: Raw =
        serde_json::from_value(value).map_err(|e| fail(format!("malformed {name}: {e}")))?;
    let action = match raw {
        Raw::Search {
            query,
            conversation: scope,
            limit: n,
        } => HistoryAction::Search {
            query,
            conversation: scope
                .as_deref()
                .map(conversation)
                .transpose()
                .map_err(fail)?,
            limit: limit(n, DEFAULT_SEARCH_RESULTS, MAX_SEARCH_RESULTS).map_err(fail)?,
        },
        Raw::HistoryAround {
            conversation: conv,
            seq,
            limit: n,
        } => HistoryAction::HistoryAround {
            conversation: conversation(&conv).map_err(fail)?,
            seq,
            limit: limit(n, DEFAULT_AROUND_CONTEXT, MAX_HISTORY_PAGE).map_err(fail)?,
        },
        Raw::DeleteMessage {
            conversation: conv,
            id,
            from,
        } => {
            if id.is_empty() || id.chars().count() > crypto_core::wire::MAX_ID_CHARS {
                return Err(fail("id must be 1-64 characters".into()));
            }
            let from = match from.as_deref() {
                None => None,
                Some("me") => Some(MessageAuthor::Me),
                Some(key) => Some(MessageAuthor::Peer(
                    PublicKey::from_base64(key)
                        .map_err(|_| fail("from must be \"me\" or a peer_id".into()))?,
                )),
            };
            HistoryAction::DeleteMessage {
                conversation: conversation(&conv).map_err(fail)?,
                id,
                from,
            }
        }
        Raw::DeleteConversation { conversation: conv } => HistoryAction::DeleteConversation {
            conversation: conversation(&conv).map_err(fail)?,
        },
    };
    Ok(action)
}

/// Runs `action`: the event to send back to the asking client (an answer or an `error`), if
/// any. Deletes are announced to every client by the node instead.
pub async fn run(node: &Node, action: HistoryAction, req: Option<Value>) -> Option<Event> {
    let error = |message: String, name: &str| Event::error(message, Some(name), req.clone());
    match action {
        HistoryAction::Search {
            query,
            conversation,
            limit,
        } => Some(
            node.search(query, conversation, limit)
                .await
                .unwrap_or_else(|e| error(e.to_string(), "search")),
        ),
        HistoryAction::HistoryAround {
            conversation,
            seq,
            limit,
        } => Some(
            node.history_around(conversation, seq, limit)
                .await
                .unwrap_or_else(|e| error(e.to_string(), "history_around")),
        ),
        HistoryAction::DeleteMessage {
            conversation,
            id,
            from,
        } => node
            .delete_message(conversation, id, from)
            .await
            .err()
            .map(|e| error(e.to_string(), "delete_message")),
        HistoryAction::DeleteConversation { conversation } => node
            .delete_conversation(conversation)
            .await
            .err()
            .map(|e| error(e.to_string(), "delete_conversation")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Result<HistoryAction, ActionError> {
        let value: Value = serde_json::from_str(text).unwrap();
        let name = value["action"].as_str().unwrap().to_owned();
        parse(&name, value, None)
    }

    #[test]
    fn parses_and_refuses() {
        assert_eq!(
            parsed(r#"{"action":"search","query":"hi"}"#).unwrap(),
            HistoryAction::Search {
                query: "hi".into(),
                conversation: None,
                limit: DEFAULT_SEARCH_RESULTS
            }
        );
        assert!(matches!(
            parsed(r#"{"action":"search","query":"hi","conversation":"room:r","limit":5}"#)
                .unwrap(),
            HistoryAction::Search {
                conversation: Some(Conversation::Room(_)),
                limit: 5,
                ..
            }
        ));
        assert!(matches!(
            parsed(r#"{"action":"delete_message","conversation":"everyone","id":"x","from":"me"}"#)
                .unwrap(),
            HistoryAction::DeleteMessage {
                from: Some(MessageAuthor::Me),
                ..
            }
        ));
        for bad in [
            r#"{"action":"search"}"#,
            r#"{"action":"search","query":"x","limit":0}"#,
            r#"{"action":"search","query":"x","limit":201}"#,
            r#"{"action":"search","query":"x","conversation":"nobody"}"#,
            r#"{"action":"history_around","conversation":"everyone"}"#,
            r#"{"action":"history_around","conversation":"everyone","seq":"1"}"#,
            r#"{"action":"delete_message","conversation":"everyone","id":""}"#,
            r#"{"action":"delete_message","conversation":"everyone","id":"x","from":"bob"}"#,
            r#"{"action":"delete_conversation","conversation":"room:"}"#,
        ] {
            let err = parsed(bad).unwrap_err();
            assert!(err.action.is_some(), "{bad}");
        }
    }
}
