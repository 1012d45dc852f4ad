//! UI actions (browser → peer, PROTOCOL.md §8) and their validation. Anything that does not
//! parse becomes an [`ActionError`], which the socket answers with an `error` event.

use crypto_core::wire::MAX_NAME_CHARS;
use crypto_core::PublicKey;

use crate::invite::Invite;
use crate::node::MessageAuthor;
use crate::node::MAX_HISTORY_PAGE;
use crate::store::Conversation;

/// `load_history`'s default page size.
pub const DEFAULT_HISTORY_PAGE: usize = 100;
use serde::Deserialize;
use serde_json::Value;

/// Every action name this version understands.
pub const ACTIONS: [&str; 21] = [
    "connect_peer",
    "send_message",
    "set_name",
    "set_verified",
    "disconnect_peer",
    "load_history",
    "accept_key_change",
    "reject_key_change",
    "get_invite",
    "connect_invite",
    "create_room",
    "change_room",
    "list_contacts",
    "set_nickname",
    "list_requests",
    "accept_request",
    "block_peer",
    "unblock_peer",
    "react",
    "edit_message",
    "delete_for_everyone",
];

/// A validated action.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Dial a peer.
    ConnectPeer {
        /// Host or IP.
        ip: String,
        /// 1-65535.
        port: u16,
        /// The key expected to answer (a contact's, PROTOCOL.md §8.3).
        peer_id: Option<PublicKey>,
    },
    /// Send a chat message.
    SendMessage {
        /// The text.
        text: String,
        /// One recipient, or everyone.
        to: Option<PublicKey>,
        /// The message it replies to (PROTOCOL.md §8.6).
        reply_to: Option<MessageName>,
    },
    /// Edit our message (PROTOCOL.md §8.7).
    EditMessage {
        /// Our message's id.
        id: String,
        /// Its new text.
        text: String,
    },
    /// Delete our message for everyone (PROTOCOL.md §8.7).
    DeleteForEveryone {
        /// Our message's id.
        id: String,
    },
    /// Toggle our reaction to a message (PROTOCOL.md §8.6).
    React {
        /// The message.
        to: MessageName,
        /// The emoji.
        emoji: String,
    },
    /// Change our display name.
    SetName {
        /// New name.
        name: String,
    },
    /// Mark a peer verified.
    SetVerified {
        /// The peer.
        peer_id: PublicKey,
        /// New value.
        verified: bool,
    },
    /// Close a session.
    DisconnectPeer {
        /// The peer.
        peer_id: PublicKey,
    },
    /// Dial a person nearby at its announced addresses, expecting its key (PROTOCOL.md §8.9).
    ConnectNearby {
        /// The announced key.
        peer_id: PublicKey,
    },
    /// Send a chat message to a room (`send_message` with `to: "room:<id>"`).
    SendToRoom {
        /// The text.
        text: String,
        /// Room id without the prefix.
        room: String,
        /// The message it replies to.
        reply_to: Option<MessageName>,
    },
    /// One page of a message request's messages (`load_history` of `request:<peer_id>`).
    LoadRequestHistory {
        /// The stranger.
        peer_id: PublicKey,
        /// Older than this `seq`.
        before: Option<i64>,
        /// Page size, 1-500.
        limit: usize,
    },
    /// One page of a conversation's history.
    LoadHistory {
        /// Which conversation.
        conversation: Conversation,
        /// Older than this `seq`.
        before: Option<i64>,
        /// Page size, 1-500.
        limit: usize,
        /// Newer than this `seq` instead (oldest first): a page that holds only a window of
        /// the conversation pages forward (PROTOCOL.md §8.1).
        after: Option<i64>,
    },
    /// Resolve a held key change.
    ResolveKeyChange {
        /// Which change.
        change_id: i64,
        /// Accept (true) or reject.
        accept: bool,
    },
    /// Ask for our invite.
    GetInvite,
    /// Dial an invite.
    ConnectInvite {
        /// The parsed invite.
        invite: Invite,
    },
    /// Create a room.
    CreateRoom {
        /// Its name.
        name: String,
        /// Contacts to add.
        members: Vec<PublicKey>,
    },
    /// Change a room we created.
    ChangeRoom {
        /// Room id without the prefix.
        room: String,
        /// New name, if renamed.
        name: Option<String>,
        /// Contacts to add.
        add: Vec<PublicKey>,
        /// Members to remove.
        remove: Vec<PublicKey>,
    },
    /// Ask for the contact list.
    ListContacts,
    /// Set or clear our local nickname for a contact.
    SetNickname {
        /// The contact.
        peer_id: PublicKey,
        /// The nickname; `None` or blank clears it.
        nickname: Option<String>,
    },
    /// Ask for the message requests.
    ListRequests,
    /// Make a request's key a contact.
    AcceptRequest {
        /// The stranger.
        peer_id: PublicKey,
    },
    /// Block (or unblock) a key.
    SetBlocked {
        /// The key.
        peer_id: PublicKey,
        /// Block (true) or unblock.
        blocked: bool,
    },
    /// Search, history around a message, deletes (`history_actions`).
    History(super::history_actions::HistoryAction),
    /// Typing, what was read, the indicator settings (`indicator_actions`).
    Indicators(super::indicator_actions::IndicatorAction),
    /// Files: send, pause, resume, cancel, retry (`file_actions`).
    File(super::file_actions::FileAction),
    /// Introductions and contacts' addresses (`reach_actions`).
    Reach(super::reach_actions::ReachAction),
    /// Set a conversation's disappearing-message timer (`set_timer`).
    SetTimer {
        /// A contact's chat or a room.
        conversation: Conversation,
        /// One of the presets (checked by the node).
        seconds: u64,
    },
}

/// The raw shapes, before semantic checks.
#[derive(Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
enum RawAction {
    ConnectPeer {
        ip: String,
        port: u32,
        peer_id: Option<String>,
    },
    SendMessage {
        text: String,
        to: Option<String>,
        reply_to: Option<RawMessageRef>,
    },
    React {
        from: String,
        id: String,
        emoji: String,
    },
    EditMessage {
        id: String,
        text: String,
    },
    DeleteForEveryone {
        id: String,
    },
    SetName {
        name: String,
    },
    SetVerified {
        peer_id: String,
        verified: bool,
    },
    SetNickname {
        peer_id: String,
        nickname: Option<String>,
    },
    DisconnectPeer {
        peer_id: String,
    },
    LoadHistory {
        conversation: String,
        before: Option<i64>,
        limit: Option<u64>,
        after: Option<i64>,
    },
    AcceptKeyChange {
        change_id: i64,
    },
    RejectKeyChange {
        change_id: i64,
    },
    GetInvite {},
    ConnectInvite {
        invite: String,
    },
    CreateRoom {
        name: String,
        members: Vec<String>,
    },
    ChangeRoom {
        room: String,
        name: Option<String>,
        #[serde(default)]
        add: Vec<String>,
        #[serde(default)]
        remove: Vec<String>,
    },
    ListContacts {},
    ListRequests {},
    AcceptRequest {
        peer_id: String,
    },
    BlockPeer {
        peer_id: String,
    },
    UnblockPeer {
        peer_id: String,
    },
}

/// A message named in an action: `from` is `"me"` or the sender's peer_id.
#[derive(Deserialize)]
struct RawMessageRef {
    from: String,
    id: String,
}

/// An action that could not be used.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionError {
    /// Human-readable reason.
    pub message: String,
    /// The action name, if there was one.
    pub action: Option<String>,
    /// The `req` to echo.
    pub req: Option<Value>,
}

/// A `peer_id` (or room member) that is not a key.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("peer_id is not a base64 public key")]
struct BadPeerId;

fn peer_key(text: &str) -> Result<PublicKey, BadPeerId> {
    PublicKey::from_base64(text).map_err(|_| BadPeerId)
}

/// A message named by an action: its author and id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageName {
    /// `"me"` or a peer.
    pub from: MessageAuthor,
    /// Its id.
    pub id: String,
}

/// The message `from` (`"me"`: ours, else a peer_id) with `id` names.
fn message_key(from: &str, id: String) -> Result<MessageName, String> {
    if id.is_empty() || id.chars().count() > crypto_core::wire::MAX_ID_CHARS {
        return Err("message id must be 1-64 characters".into());
    }
    let from = if from == "me" {
        MessageAuthor::Me
    } else {
        MessageAuthor::Peer(
            peer_key(from).map_err(|_| "from must be \"me\" or a peer_id".to_owned())?,
        )
    };
    Ok(MessageName { from, id })
}

/// `connect_nearby`: `peer_id`, a key in standard base64.
fn parse_connect_nearby(
    value: &Value,
    req: Option<Value>,
) -> Result<(Action, Option<Value>), ActionError> {
    let fail = |message: String| ActionError {
        message,
        action: Some("connect_nearby".into()),
        req: req.clone(),
    };
    let peer_id = match value.get("peer_id") {
        Some(Value::String(text)) => peer_key(text).map_err(|e| fail(e.to_string()))?,
        _ => {
            return Err(fail(
                "malformed connect_nearby: peer_id must be a key".into(),
            ))
        }
    };
    Ok((Action::ConnectNearby { peer_id }, req))
}

/// Parses one WebSocket text message. On success also returns its `req`.
pub fn parse(text: &str) -> Result<(Action, Option<Value>), ActionError> {
    parse_for(text, false)
}

/// [`parse`] for a socket that holds the local API token (`api`), which may send files by path.
pub fn parse_for(text: &str, api: bool) -> Result<(Action, Option<Value>), ActionError> {
    let value: Value = serde_json::from_str(text).map_err(|e| ActionError {
        message: format!("malformed action: not JSON ({e})"),
        action: None,
        req: None,
    })?;
    let Value::Object(object) = &value else {
        return Err(ActionError {
            message: "malformed action: expected a JSON object".into(),
            action: None,
            req: None,
        });
    };
    let req = object
        .get("req")
        .filter(|r| r.is_string() || r.is_number())
        .cloned();
    let fail = |message: String, action: Option<String>| ActionError {
        message,
        action,
        req: req.clone(),
    };
    let name = match object.get("action") {
        Some(Value::String(name)) => name.clone(),
        Some(_) => {
            return Err(fail(
                "malformed action: \"action\" must be a string".into(),
                None,
            ))
        }
        None => return Err(fail("malformed action: missing \"action\"".into(), None)),
    };
    if super::history_actions::ACTIONS.contains(&name.as_str()) {
        let action = super::history_actions::parse(&name, value.clone(), req.clone())?;
        return Ok((Action::History(action), req));
    }
    if name == "set_timer" {
        return parse_set_timer(value, req);
    }
    if name == "connect_nearby" {
        return parse_connect_nearby(&value, req);
    }
    if super::indicator_actions::ACTIONS.contains(&name.as_str()) {
        let action = super::indicator_actions::parse(&name, value.clone(), req.clone())?;
        return Ok((Action::Indicators(action), req));
    }
    if super::file_actions::ACTIONS.contains(&name.as_str()) {
        let action = super::file_actions::parse(&name, value.clone(), req.clone(), api)?;
        return Ok((Action::File(action), req));
    }
    if super::reach_actions::ACTIONS.contains(&name.as_str()) {
        let action = super::reach_actions::parse(&name, value.clone(), req.clone())?;
        return Ok((Action::Reach(action), req));
    }
    if !ACTIONS.contains(&name.as_str()) {
        let shown: String = name.chars().take(64).collect();
        return Err(fail(format!("unknown action {shown:?}"), None));
    }
    let raw: RawAction = serde_json::from_value(value.clone())
        .map_err(|e| fail(format!("malformed {name}: {e}"), Some(name.clone())))?;
    let action = match raw {
        RawAction::ConnectPeer { ip, port, peer_id } => {
            let peer_id = peer_id
                .map(|p| peer_key(&p))
                .transpose()
                .map_err(|e| fail(e.to_string(), Some(name.clone())))?;
            let port = u16::try_from(port)
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| fail("port must be 1-65535".into(), Some(name.clone())))?;
            let ip = ip.trim();
            // `[2001:db8::1]` as typed into the IP field is the address inside the brackets.
            let ip = ip
                .strip_prefix('[')
                .and_then(|v6| v6.strip_suffix(']'))
                .unwrap_or(ip)
                .to_owned();
            if ip.is_empty() {
                return Err(fail("ip must not be empty".into(), Some(name)));
            }
            Action::ConnectPeer { ip, port, peer_id }
        }
        RawAction::SendMessage {
            text,
            to: Some(to),
            reply_to,
        } if to.starts_with("room:") => {
            let room = to.trim_start_matches("room:").to_owned();
            if room.is_empty() || room.chars().count() > crypto_core::wire::MAX_ID_CHARS {
                return Err(fail("bad room id".into(), Some(name)));
            }
            let reply_to = reply_to
                .map(|r| message_key(&r.from, r.id))
                .transpose()
                .map_err(|e| fail(e, Some(name.clone())))?;
            Action::SendToRoom {
                text,
                room,
                reply_to,
            }
        }
        RawAction::React { from, id, emoji } => {
            if !crate::node::valid_emoji(&emoji) {
                return Err(fail(
                    "emoji must be 1-32 bytes without spaces or control characters".into(),
                    Some(name),
                ));
            }
            Action::React {
                to: message_key(&from, id).map_err(|e| fail(e, Some(name.clone())))?,
                emoji,
            }
        }
        RawAction::EditMessage { id, text } => Action::EditMessage {
            id: message_key("me", id)
                .map_err(|e| fail(e, Some(name.clone())))?
                .id,
            text,
        },
        RawAction::DeleteForEveryone { id } => Action::DeleteForEveryone {
            id: message_key("me", id)
                .map_err(|e| fail(e, Some(name.clone())))?
                .id,
        },
        RawAction::SendMessage { text, to, reply_to } => {
            let to = match to {
                Some(to) => {
                    Some(peer_key(&to).map_err(|e| fail(e.to_string(), Some(name.clone())))?)
                }
                None => None,
            };
            let reply_to = reply_to
                .map(|r| message_key(&r.from, r.id))
                .transpose()
                .map_err(|e| fail(e, Some(name.clone())))?;
            Action::SendMessage { text, to, reply_to }
        }
        RawAction::SetName { name: new_name } => {
            if new_name.trim().chars().count() > MAX_NAME_CHARS {
                return Err(fail(
                    format!("name must be at most {MAX_NAME_CHARS} characters"),
                    Some(name),
                ));
            }
            Action::SetName { name: new_name }
        }
        RawAction::SetNickname { peer_id, nickname } => {
            if nickname
                .as_deref()
                .is_some_and(|n| n.trim().chars().count() > MAX_NAME_CHARS)
            {
                return Err(fail(
                    format!("nickname must be at most {MAX_NAME_CHARS} characters"),
                    Some(name),
                ));
            }
            Action::SetNickname {
                peer_id: peer_key(&peer_id).map_err(|e| fail(e.to_string(), Some(name.clone())))?,
                nickname,
            }
        }
        RawAction::SetVerified { peer_id, verified } => Action::SetVerified {
            peer_id: peer_key(&peer_id).map_err(|e| fail(e.to_string(), Some(name.clone())))?,
            verified,
        },
        RawAction::DisconnectPeer { peer_id } => Action::DisconnectPeer {
            peer_id: peer_key(&peer_id).map_err(|e| fail(e.to_string(), Some(name.clone())))?,
        },
        RawAction::LoadHistory {
            conversation,
            before,
            limit,
            after,
        } => {
            if before.is_some() && after.is_some() {
                return Err(fail("give before or after, not both".into(), Some(name)));
            }
            let limit = match limit {
                None => DEFAULT_HISTORY_PAGE,
                Some(n) if (1..=MAX_HISTORY_PAGE as u64).contains(&n) => n as usize,
                Some(_) => {
                    return Err(fail(
                        format!("limit must be 1-{MAX_HISTORY_PAGE}"),
                        Some(name),
                    ))
                }
            };
            if let Some(requester) = conversation.strip_prefix("request:") {
                if after.is_some() {
                    return Err(fail(
                        "a message request's history pages backwards only".into(),
                        Some(name),
                    ));
                }
                Action::LoadRequestHistory {
                    peer_id: peer_key(requester)
                        .map_err(|e| fail(e.to_string(), Some(name.clone())))?,
                    before,
                    limit,
                }
            } else {
                Action::LoadHistory {
                    conversation: Conversation::parse_ui_id(&conversation)
                        .map_err(|e| fail(e.to_string(), Some(name.clone())))?,
                    before,
                    limit,
                    after,
                }
            }
        }
        RawAction::AcceptKeyChange { change_id } => Action::ResolveKeyChange {
            change_id,
            accept: true,
        },
        RawAction::RejectKeyChange { change_id } => Action::ResolveKeyChange {
            change_id,
            accept: false,
        },
        RawAction::GetInvite {} => Action::GetInvite,
        RawAction::ConnectInvite { invite } => Action::ConnectInvite {
            invite: Invite::parse(&invite).map_err(|e| fail(e.to_string(), Some(name.clone())))?,
        },
        RawAction::CreateRoom {
            name: room_name,
            members,
        } => {
            let chars = room_name.trim().chars().count();
            if chars == 0 || chars > MAX_NAME_CHARS {
                return Err(fail(
                    format!("room name must be 1-{MAX_NAME_CHARS} characters"),
                    Some(name),
                ));
            }
            let members = members
                .iter()
                .map(|m| peer_key(m))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| fail(e.to_string(), Some(name.clone())))?;
            Action::CreateRoom {
                name: room_name,
                members,
            }
        }
        RawAction::ChangeRoom {
            room,
            name: new_name,
            add,
            remove,
        } => {
            let room = room
                .strip_prefix("room:")
                .filter(|r| !r.is_empty() && r.chars().count() <= crypto_core::wire::MAX_ID_CHARS)
                .ok_or_else(|| fail("room must be \"room:<id>\"".into(), Some(name.clone())))?
                .to_owned();
            if let Some(n) = &new_name {
                let chars = n.trim().chars().count();
                if chars == 0 || chars > MAX_NAME_CHARS {
                    return Err(fail(
                        format!("room name must be 1-{MAX_NAME_CHARS} characters"),
                        Some(name),
                    ));
                }
            }
            let keys = |list: &[String]| {
                list.iter()
                    .map(|m| peer_key(m))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| fail(e.to_string(), Some(name.clone())))
            };
            Action::ChangeRoom {
                room,
                name: new_name,
                add: keys(&add)?,
                remove: keys(&remove)?,
            }
        }
        RawAction::ListContacts {} => Action::ListContacts,
        RawAction::ListRequests {} => Action::ListRequests,
        RawAction::AcceptRequest { peer_id } => Action::AcceptRequest {
            peer_id: peer_key(&peer_id).map_err(|e| fail(e.to_string(), Some(name.clone())))?,
        },
        RawAction::BlockPeer { peer_id } => Action::SetBlocked {
            peer_id: peer_key(&peer_id).map_err(|e| fail(e.to_string(), Some(name.clone())))?,
            blocked: true,
        },
        RawAction::UnblockPeer { peer_id } => Action::SetBlocked {
            peer_id: peer_key(&peer_id).map_err(|e| fail(e.to_string(), Some(name.clone())))?,
            blocked: false,
        },
    };
    Ok((action, req))
}

/// `set_timer` {conversation, seconds} (PROTOCOL.md §8.8): a contact's `peer_id` or a
/// `room:<id>`; seconds one of the presets.
fn parse_set_timer(
    value: Value,
    req: Option<Value>,
) -> Result<(Action, Option<Value>), ActionError> {
    #[derive(Deserialize)]
    struct Raw {
        conversation: String,
        seconds: u64,
    }
    let fail = |message: String| ActionError {
        message,
        action: Some("set_timer".into()),
        req: req.clone(),
    };
    let raw: Raw =
        serde_json::from_value(value).map_err(|e| fail(format!("malformed set_timer: {e}")))?;
    if !crate::node::TIMER_PRESETS.contains(&raw.seconds) {
        return Err(fail(
            "seconds must be one of 0, 300, 3600, 86400, 604800".into(),
        ));
    }
    let conversation =
        Conversation::parse_ui_id(&raw.conversation).map_err(|e| fail(e.to_string()))?;
    if conversation == Conversation::Everyone {
        return Err(fail(
            "only a contact's chat or a room has a disappearing-message timer".into(),
        ));
    }
    Ok((
        Action::SetTimer {
            conversation,
            seconds: raw.seconds,
        },
        req,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_nearby_takes_a_key_and_connect_peer_a_bracketed_ipv6() {
        let key = *crypto_core::Identity::generate().public_key();
        let (a, req) = parse(&format!(
            r#"{{"action":"connect_nearby","peer_id":"{}","req":3}}"#,
            key.to_base64()
        ))
        .unwrap();
        assert_eq!(a, Action::ConnectNearby { peer_id: key });
        assert_eq!(req, Some(serde_json::json!(3)));
        for bad in [
            r#"{"action":"connect_nearby"}"#,
            r#"{"action":"connect_nearby","peer_id":"nope","req":"r"}"#,
            r#"{"action":"connect_nearby","peer_id":7}"#,
        ] {
            let e = parse(bad).unwrap_err();
            assert_eq!(e.action.as_deref(), Some("connect_nearby"), "{bad}");
        }
        for ip in ["[2001:db8::1]", " [2001:db8::1] ", "2001:db8::1"] {
            let (a, _) = parse(&format!(
                r#"{{"action":"connect_peer","ip":"{ip}","port":6000}}"#
            ))
            .unwrap();
            assert_eq!(
                a,
                Action::ConnectPeer {
                    ip: "2001:db8::1".into(),
                    port: 6000,
                    peer_id: None
                },
                "{ip}"
            );
        }
    }

    #[test]
    fn set_timer_takes_a_preset_for_a_chat_or_a_room() {
        let key = crypto_core::Identity::generate().public_key().to_base64();
        let (a, _) = parse(&format!(
            r#"{{"action":"set_timer","conversation":"{key}","seconds":3600}}"#
        ))
        .unwrap();
        assert!(matches!(a, Action::SetTimer { seconds: 3600, .. }));
        let (a, _) =
            parse(r#"{"action":"set_timer","conversation":"room:r1","seconds":0}"#).unwrap();
        assert!(matches!(a, Action::SetTimer { seconds: 0, .. }));
        for bad in [
            format!(r#"{{"action":"set_timer","conversation":"{key}","seconds":61}}"#),
            format!(r#"{{"action":"set_timer","conversation":"{key}","seconds":-1}}"#),
            format!(r#"{{"action":"set_timer","conversation":"{key}"}}"#),
            r#"{"action":"set_timer","conversation":"everyone","seconds":300}"#.into(),
            r#"{"action":"set_timer","conversation":"request:x","seconds":300}"#.into(),
            r#"{"action":"set_timer","conversation":"room:","seconds":300,"req":4}"#.into(),
        ] {
            let err = parse(&bad).unwrap_err();
            assert_eq!(err.action.as_deref(), Some("set_timer"), "{bad}");
        }
    }

    #[test]
    fn parses_the_protocol_actions() {
        let (a, req) =
            parse(r#"{"action":"connect_peer","ip":"127.0.0.1","port":6001,"req":7}"#).unwrap();
        assert_eq!(
            a,
            Action::ConnectPeer {
                ip: "127.0.0.1".into(),
                port: 6001,
                peer_id: None,
            }
        );
        assert_eq!(req, Some(Value::from(7)));
        let (a, _) = parse(r#"{"action":"send_message","text":"hi"}"#).unwrap();
        assert_eq!(
            a,
            Action::SendMessage {
                text: "hi".into(),
                to: None,
                reply_to: None,
            }
        );
        let (a, _) =
            parse(r#"{"action":"react","from":"me","id":"m1","emoji":"\ud83d\udc4d"}"#).unwrap();
        assert_eq!(
            a,
            Action::React {
                to: MessageName {
                    from: MessageAuthor::Me,
                    id: "m1".into()
                },
                emoji: "👍".into()
            }
        );
        for bad in [
            r#"{"action":"react","from":"me","id":"m1","emoji":""}"#,
            r#"{"action":"react","from":"me","id":"m1","emoji":"a b"}"#,
            r#"{"action":"react","from":"nobody","id":"m1","emoji":"x"}"#,
            r#"{"action":"react","from":"me","id":"","emoji":"x"}"#,
            r#"{"action":"send_message","text":"t","reply_to":{"from":"me","id":""}}"#,
        ] {
            let e = parse(bad).unwrap_err();
            assert!(e.action.is_some(), "{bad}: {}", e.message);
        }
    }

    #[test]
    fn rejects_bad_actions_with_req() {
        for bad in [
            "nope",
            "[]",
            r#"{"text":"x"}"#,
            r#"{"action":5}"#,
            r#"{"action":"fly","req":"r1"}"#,
            r#"{"action":"connect_peer","ip":"x","port":0}"#,
            r#"{"action":"connect_peer","ip":"x","port":70000}"#,
            r#"{"action":"connect_peer","ip":"x"}"#,
            r#"{"action":"send_message","text":"x","to":"nokey"}"#,
            r#"{"action":"set_verified","peer_id":"x","verified":true}"#,
            r#"{"action":"change_room","room":"nope","add":[]}"#,
            r#"{"action":"change_room","room":"room:","add":[]}"#,
            r#"{"action":"change_room","room":"room:r","add":["nokey"]}"#,
            r#"{"action":"change_room","room":"room:r","name":"  "}"#,
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        let err = parse(r#"{"action":"fly","req":"r1"}"#).unwrap_err();
        assert_eq!(err.req, Some(Value::from("r1")));
        assert!(err.message.contains("unknown action"));
    }
}
