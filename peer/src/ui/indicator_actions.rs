//! The UI actions of typing indicators and read receipts (PROTOCOL.md §8.10): `typing`,
//! `mark_read` and `set_indicators`. Parsed here and run by [`run`], so `actions.rs` and
//! `ws.rs` only hand them over.

use crypto_core::PublicKey;
use serde::Deserialize;
use serde_json::Value;

use super::actions::ActionError;
use crate::event::Event;
use crate::node::{IndicatorChange, MessageAuthor, Node};
use crate::store::Conversation;

/// The action names handled here.
pub const ACTIONS: [&str; 3] = ["typing", "mark_read", "set_indicators"];

/// A validated indicator action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndicatorAction {
    /// Our user is typing, or stopped.
    Typing {
        /// A contact's chat or a room.
        conversation: Conversation,
        /// Typing now.
        active: bool,
    },
    /// Our user has seen a conversation up to a message.
    MarkRead {
        /// A contact's chat or a room.
        conversation: Conversation,
        /// The newest message shown: its author.
        from: MessageAuthor,
        /// Its id.
        id: String,
    },
    /// Change the settings.
    Set(IndicatorChange),
}

#[derive(Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
enum Raw {
    Typing {
        conversation: String,
        active: bool,
    },
    MarkRead {
        conversation: String,
        from: String,
        id: String,
    },
    SetIndicators {
        peer_id: Option<String>,
        #[serde(default, deserialize_with = "present")]
        typing: Option<Option<bool>>,
        #[serde(default, deserialize_with = "present")]
        read_receipts: Option<Option<bool>>,
    },
}

/// A field that may be absent (`None`), `null` (`Some(None)`) or a value.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<bool>>, D::Error> {
    Option::<bool>::deserialize(d).map(Some)
}

/// A contact's chat or a room: the conversations that have typing and read receipts.
fn conversation(text: &str) -> Result<Conversation, String> {
    match Conversation::parse_ui_id(text).map_err(|e| e.to_string())? {
        Conversation::Everyone => {
            Err("typing and read receipts are for a contact's chat or a room".into())
        }
        other => Ok(other),
    }
}

/// Parses an action whose name is in [`ACTIONS`].
pub fn parse(name: &str, value: Value, req: Option<Value>) -> Result<IndicatorAction, ActionError> {
    let fail = |message: String| ActionError {
        message,
        action: Some(name.to_owned()),
        req: req.clone(),
    };
    let raw: Raw =
        serde_json::from_value(value).map_err(|e| fail(format!("malformed {name}: {e}")))?;
    Ok(match raw {
        Raw::Typing {
            conversation: conv,
            active,
        } => IndicatorAction::Typing {
            conversation: conversation(&conv).map_err(fail)?,
            active,
        },
        Raw::MarkRead {
            conversation: conv,
            from,
            id,
        } => {
            if id.is_empty() || id.chars().count() > crypto_core::wire::MAX_ID_CHARS {
                return Err(fail("id must be 1-64 characters".into()));
            }
            let from = match from.as_str() {
                "me" => MessageAuthor::Me,
                key => MessageAuthor::Peer(
                    PublicKey::from_base64(key)
                        .map_err(|_| fail("from must be \"me\" or a peer_id".into()))?,
                ),
            };
            IndicatorAction::MarkRead {
                conversation: conversation(&conv).map_err(fail)?,
                from,
                id,
            }
        }
        Raw::SetIndicators {
            peer_id,
            typing,
            read_receipts,
        } => {
            let peer = peer_id
                .map(|p| PublicKey::from_base64(&p))
                .transpose()
                .map_err(|_| fail("peer_id is not a base64 public key".into()))?;
            if typing.is_none() && read_receipts.is_none() {
                return Err(fail("say which setting: typing or read_receipts".into()));
            }
            let cleared = |v: &Option<Option<bool>>| matches!(v, Some(None));
            if peer.is_none() && (cleared(&typing) || cleared(&read_receipts)) {
                return Err(fail(
                    "a global setting is true or false (null only clears a contact's)".into(),
                ));
            }
            IndicatorAction::Set(IndicatorChange {
                peer,
                typing,
                read_receipts,
            })
        }
    })
}

/// Runs `action`: an `error` for the asking client, if it failed. Settings changes are
/// announced to every client by the node (`indicators`).
pub async fn run(node: &Node, action: IndicatorAction, req: Option<Value>) -> Option<Event> {
    let error = |message: String, name: &str| Event::error(message, Some(name), req.clone());
    match action {
        IndicatorAction::Typing {
            conversation,
            active,
        } => {
            node.typing(conversation, active).await;
            None
        }
        IndicatorAction::MarkRead {
            conversation,
            from,
            id,
        } => node
            .mark_read(conversation, node.message_key(from, id))
            .await
            .err()
            .map(|e| error(e.to_string(), "mark_read")),
        IndicatorAction::Set(change) => node
            .set_indicators(change)
            .await
            .err()
            .map(|e| error(e.to_string(), "set_indicators")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Result<IndicatorAction, ActionError> {
        let value: Value = serde_json::from_str(text).unwrap();
        let name = value["action"].as_str().unwrap().to_owned();
        parse(&name, value, None)
    }

    #[test]
    fn parses_and_refuses() {
        let key = crypto_core::Identity::generate().public_key().to_base64();
        assert_eq!(
            parsed(r#"{"action":"typing","conversation":"room:r","active":true,"req":1}"#).unwrap(),
            IndicatorAction::Typing {
                conversation: Conversation::Room("r".into()),
                active: true
            }
        );
        assert!(matches!(
            parsed(&format!(
                r#"{{"action":"mark_read","conversation":"{key}","from":"{key}","id":"m1"}}"#
            ))
            .unwrap(),
            IndicatorAction::MarkRead {
                from: MessageAuthor::Peer(_),
                ..
            }
        ));
        assert_eq!(
            parsed(&format!(
                r#"{{"action":"set_indicators","peer_id":"{key}","typing":null}}"#
            ))
            .unwrap(),
            IndicatorAction::Set(IndicatorChange {
                peer: PublicKey::from_base64(&key).ok(),
                typing: Some(None),
                read_receipts: None,
            })
        );
        assert_eq!(
            parsed(r#"{"action":"set_indicators","read_receipts":true}"#).unwrap(),
            IndicatorAction::Set(IndicatorChange {
                peer: None,
                typing: None,
                read_receipts: Some(Some(true)),
            })
        );
        for bad in [
            r#"{"action":"typing","conversation":"everyone","active":true}"#.to_owned(),
            r#"{"action":"typing","conversation":"request:x","active":true}"#.into(),
            r#"{"action":"typing","conversation":"room:r","active":"yes"}"#.into(),
            r#"{"action":"typing","conversation":"room:r"}"#.into(),
            r#"{"action":"mark_read","conversation":"room:r","from":"me","id":""}"#.into(),
            r#"{"action":"mark_read","conversation":"room:r","from":"bob","id":"m"}"#.into(),
            r#"{"action":"set_indicators"}"#.into(),
            r#"{"action":"set_indicators","typing":null}"#.into(),
            r#"{"action":"set_indicators","typing":1}"#.into(),
            r#"{"action":"set_indicators","peer_id":"x","typing":true}"#.into(),
        ] {
            let err = parsed(&bad).unwrap_err();
            assert!(err.action.is_some(), "{bad}");
        }
    }
}
