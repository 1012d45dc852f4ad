//! UI actions (browser → peer, PROTOCOL.md §8) and their validation. Anything that does not
//! parse becomes an [`ActionError`], which the socket answers with an `error` event.

use crypto_core::wire::MAX_NAME_CHARS;
use crypto_core::PublicKey;
use serde::Deserialize;
use serde_json::Value;

/// Every action name this version understands.
pub const ACTIONS: [&str; 5] = [
    "connect_peer",
    "send_message",
    "set_name",
    "set_verified",
    "disconnect_peer",
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
    },
    /// Send a chat message.
    SendMessage {
        /// The text.
        text: String,
        /// One recipient, or everyone.
        to: Option<PublicKey>,
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
}

/// The raw shapes, before semantic checks.
#[derive(Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
enum RawAction {
    ConnectPeer { ip: String, port: u32 },
    SendMessage { text: String, to: Option<String> },
    SetName { name: String },
    SetVerified { peer_id: String, verified: bool },
    DisconnectPeer { peer_id: String },
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

fn peer_key(text: &str) -> Result<PublicKey, String> {
    PublicKey::from_base64(text).map_err(|_| "peer_id is not a base64 public key".to_owned())
}

/// Parses one WebSocket text message. On success also returns its `req`.
pub fn parse(text: &str) -> Result<(Action, Option<Value>), ActionError> {
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
    if !ACTIONS.contains(&name.as_str()) {
        let shown: String = name.chars().take(64).collect();
        return Err(fail(format!("unknown action {shown:?}"), None));
    }
    let raw: RawAction = serde_json::from_value(value.clone())
        .map_err(|e| fail(format!("malformed {name}: {e}"), Some(name.clone())))?;
    let action = match raw {
        RawAction::ConnectPeer { ip, port } => {
            let port = u16::try_from(port)
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| fail("port must be 1-65535".into(), Some(name.clone())))?;
            let ip = ip.trim().to_owned();
            if ip.is_empty() {
                return Err(fail("ip must not be empty".into(), Some(name)));
            }
            Action::ConnectPeer { ip, port }
        }
        RawAction::SendMessage { text, to } => {
            let to = match to {
                Some(to) => Some(peer_key(&to).map_err(|m| fail(m, Some(name.clone())))?),
                None => None,
            };
            Action::SendMessage { text, to }
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
        RawAction::SetVerified { peer_id, verified } => Action::SetVerified {
            peer_id: peer_key(&peer_id).map_err(|m| fail(m, Some(name.clone())))?,
            verified,
        },
        RawAction::DisconnectPeer { peer_id } => Action::DisconnectPeer {
            peer_id: peer_key(&peer_id).map_err(|m| fail(m, Some(name.clone())))?,
        },
    };
    Ok((action, req))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_protocol_actions() {
        let (a, req) =
            parse(r#"{"action":"connect_peer","ip":"127.0.0.1","port":6001,"req":7}"#).unwrap();
        assert_eq!(
            a,
            Action::ConnectPeer {
                ip: "127.0.0.1".into(),
                port: 6001
            }
        );
        assert_eq!(req, Some(Value::from(7)));
        let (a, _) = parse(r#"{"action":"send_message","text":"hi"}"#).unwrap();
        assert_eq!(
            a,
            Action::SendMessage {
                text: "hi".into(),
                to: None
            }
        );
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
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        let err = parse(r#"{"action":"fly","req":"r1"}"#).unwrap_err();
        assert_eq!(err.req, Some(Value::from("r1")));
        assert!(err.message.contains("unknown action"));
    }
}
