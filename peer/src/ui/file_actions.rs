//! The UI actions on files (PROTOCOL.md §8.11): `send_file`, `pause_file`, `resume_file`,
//! `cancel_file`, `retry_file`. Parsed here and run by [`run`], so `actions.rs` and `ws.rs`
//! only hand them over. `send_file` with a `path` (a file on disk, referenced where it is) is
//! only for a WebSocket opened with the local API token, which no browser can present.

use std::path::PathBuf;

use crypto_core::PublicKey;
use serde::Deserialize;
use serde_json::Value;

use super::actions::ActionError;
use crate::event::Event;
use crate::invite::Invite;
use crate::node::{FileControl, MessageAuthor, Node, SendSource, Target};

/// The action names handled here.
pub const ACTIONS: [&str; 5] = [
    "send_file",
    "pause_file",
    "resume_file",
    "cancel_file",
    "retry_file",
];

/// Longest `name` given to `send_file`, in characters.
pub const MAX_SEND_NAME_CHARS: usize = 255;

/// Whom a file goes to.
#[derive(Debug, Clone, PartialEq)]
pub enum FileTarget {
    /// A contact or a room.
    To(Target),
    /// Whoever answers at this address (local API): dialled first.
    Dial(String),
}

/// A validated file action.
#[derive(Debug, Clone, PartialEq)]
pub enum FileAction {
    /// Send an upload (or, local API, a path).
    Send {
        /// What.
        source: FileSource,
        /// To whom.
        target: FileTarget,
    },
    /// Pause, resume, cancel or retry a transfer.
    Control {
        /// The file's sender.
        from: MessageAuthor,
        /// The file message's id.
        id: String,
        /// One member of a room (our file).
        peer: Option<PublicKey>,
        /// What to do.
        op: FileControl,
    },
}

/// What `send_file` sends.
#[derive(Debug, Clone, PartialEq)]
pub enum FileSource {
    /// An upload.
    Upload {
        /// Its id.
        upload: String,
        /// Its name.
        name: String,
        /// Its media type.
        media_type: Option<String>,
    },
    /// A file on disk (local API only).
    Path(PathBuf),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSend {
    #[allow(dead_code)]
    action: String,
    #[serde(default)]
    req: Option<Value>,
    upload: Option<String>,
    name: Option<String>,
    media_type: Option<String>,
    path: Option<String>,
    to: Option<String>,
    dial: Option<String>,
}

#[derive(Deserialize)]
struct RawControl {
    from: String,
    id: String,
    peer_id: Option<String>,
}

/// Parses an action whose name is in [`ACTIONS`]; `api`: the socket holds the local API token.
pub fn parse(
    name: &str,
    value: Value,
    req: Option<Value>,
    api: bool,
) -> Result<FileAction, ActionError> {
    let fail = |message: String| ActionError {
        message,
        action: Some(name.to_owned()),
        req: req.clone(),
    };
    if name == "send_file" {
        let raw: RawSend =
            serde_json::from_value(value).map_err(|e| fail(format!("malformed send_file: {e}")))?;
        let _ = raw.req;
        let source = match (raw.upload, raw.path) {
            (Some(upload), None) => {
                let name = raw.name.unwrap_or_default();
                let chars = name.trim().chars().count();
                if chars == 0 || chars > MAX_SEND_NAME_CHARS {
                    return Err(fail(format!(
                        "name must be 1-{MAX_SEND_NAME_CHARS} characters"
                    )));
                }
                FileSource::Upload {
                    upload,
                    name,
                    media_type: raw.media_type,
                }
            }
            (None, Some(path)) => {
                if !api {
                    return Err(fail(
                        "send_file with a path needs the local API token (p2p-chat send-file)"
                            .into(),
                    ));
                }
                FileSource::Path(PathBuf::from(path))
            }
            _ => return Err(fail("send_file needs an upload or a path".into())),
        };
        let target = match (raw.to, raw.dial) {
            (Some(to), None) => FileTarget::To(target(&to).map_err(fail)?),
            (None, Some(dial)) if api => FileTarget::Dial(dial),
            (None, Some(_)) => return Err(fail("dial needs the local API token".into())),
            _ => return Err(fail("send_file needs \"to\"".into())),
        };
        return Ok(FileAction::Send { source, target });
    }
    let op = match name {
        "pause_file" => FileControl::Pause,
        "resume_file" => FileControl::Resume,
        "cancel_file" => FileControl::Cancel,
        _ => FileControl::Retry,
    };
    let raw: RawControl =
        serde_json::from_value(value).map_err(|e| fail(format!("malformed {name}: {e}")))?;
    if raw.id.is_empty() || raw.id.chars().count() > crypto_core::wire::MAX_ID_CHARS {
        return Err(fail("id must be 1-64 characters".into()));
    }
    let from = if raw.from == "me" {
        MessageAuthor::Me
    } else {
        MessageAuthor::Peer(
            PublicKey::from_base64(&raw.from)
                .map_err(|_| fail("from must be \"me\" or a peer_id".into()))?,
        )
    };
    let peer = raw
        .peer_id
        .map(|p| PublicKey::from_base64(&p))
        .transpose()
        .map_err(|_| fail("peer_id is not a base64 public key".into()))?;
    Ok(FileAction::Control {
        from,
        id: raw.id,
        peer,
        op,
    })
}

/// A contact's `peer_id` or `room:<id>`.
fn target(to: &str) -> Result<Target, String> {
    if let Some(room) = to.strip_prefix("room:") {
        if room.is_empty() || room.chars().count() > crypto_core::wire::MAX_ID_CHARS {
            return Err("bad room id".into());
        }
        return Ok(Target::Room(room.to_owned()));
    }
    PublicKey::from_base64(to)
        .map(Target::Peer)
        .map_err(|_| "to must be a peer_id or room:<id>".into())
}

/// Runs `action`: an `error` for the asking client if it failed (successes reach every client
/// as `message_sent` / `file_progress`).
pub async fn run(node: &Node, action: FileAction, req: Option<Value>) -> Option<Event> {
    match action {
        FileAction::Send { source, target } => {
            let target = match target {
                FileTarget::To(target) => target,
                FileTarget::Dial(address) => match dial(node, &address).await {
                    Ok(key) => Target::Peer(key),
                    Err(event) => {
                        return Some(with_req(event, req));
                    }
                },
            };
            let source = match source {
                FileSource::Upload {
                    upload,
                    name,
                    media_type,
                } => SendSource::Upload {
                    upload,
                    name,
                    media_type,
                },
                FileSource::Path(path) => SendSource::Path(path),
            };
            node.send_file(source, target)
                .await
                .err()
                .map(|e| Event::error(e.to_string(), Some("send_file"), req))
        }
        FileAction::Control { from, id, peer, op } => node
            .file_control(from, id, peer, op)
            .await
            .err()
            .map(|e| Event::error(e.to_string(), Some(op.action()), req)),
    }
}

fn with_req(event: Event, req: Option<Value>) -> Event {
    match event {
        Event::Error {
            message,
            action,
            code,
            address,
            ..
        } => Event::Error {
            message,
            action,
            req,
            code,
            address,
        },
        other => other,
    }
}

/// The key of whoever answers at `address` (`HOST:PORT` or an invite): a live session or a
/// contact at that address, else a dial.
async fn dial(node: &Node, address: &str) -> Result<PublicKey, Event> {
    let fail = |message: String| Event::error(message, Some("send_file"), None);
    if address.starts_with(crate::invite::SCHEME) {
        let invite = Invite::parse(address).map_err(|e| fail(e.to_string()))?;
        if !node.is_connected(&invite.key) {
            node.connect_invite(&invite)
                .await
                .map_err(|e| Event::dial_error(&e, "send_file", None))?;
        }
        return Ok(invite.key);
    }
    let addr = tokio::net::lookup_host(address)
        .await
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| fail(format!("cannot resolve {address:?} (expected HOST:PORT)")))?;
    if let Some(key) = node.peer_at(addr).await {
        if !node.is_connected(&key) {
            node.connect_expecting(addr, Some(key))
                .await
                .map_err(|e| Event::dial_error(&e, "send_file", None))?;
        }
        return Ok(key);
    }
    let info = node
        .connect(addr)
        .await
        .map_err(|e| Event::dial_error(&e, "send_file", None))?;
    PublicKey::from_base64(&info.public_key).map_err(|e| fail(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str, api: bool) -> Result<FileAction, ActionError> {
        let value: Value = serde_json::from_str(text).unwrap();
        let name = value["action"].as_str().unwrap().to_owned();
        parse(&name, value, None, api)
    }

    #[test]
    fn a_path_needs_the_local_api_token() {
        let key = crypto_core::Identity::generate().public_key().to_base64();
        let upload = format!(
            r#"{{"action":"send_file","upload":"{}","name":"cat.png","to":"{key}"}}"#,
            "a".repeat(32)
        );
        assert!(parsed(&upload, false).is_ok());
        let path = format!(r#"{{"action":"send_file","path":"/etc/passwd","to":"{key}"}}"#);
        let err = parsed(&path, false).unwrap_err();
        assert!(err.message.contains("local API token"), "{}", err.message);
        assert!(parsed(&path, true).is_ok());
        for bad in [
            r#"{"action":"send_file","upload":"x","to":"room:r"}"#.to_owned(),
            r#"{"action":"send_file","upload":"x","name":"n"}"#.to_owned(),
            r#"{"action":"send_file","upload":"x","name":"n","to":"everyone"}"#.to_owned(),
            r#"{"action":"send_file","upload":"x","name":"n","to":"room:r","extra":1}"#.to_owned(),
            format!(
                r#"{{"action":"send_file","upload":"x","name":"{}","to":"room:r"}}"#,
                "n".repeat(256)
            ),
            r#"{"action":"pause_file","from":"bob","id":"x"}"#.to_owned(),
            r#"{"action":"cancel_file","from":"me","id":""}"#.to_owned(),
        ] {
            assert!(parsed(&bad, true).is_err(), "{bad}");
        }
        assert!(matches!(
            parsed(r#"{"action":"retry_file","from":"me","id":"f1"}"#, false),
            Ok(FileAction::Control {
                op: FileControl::Retry,
                from: MessageAuthor::Me,
                ..
            })
        ));
    }
}
