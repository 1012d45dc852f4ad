//! The peer-to-peer wire protocol v1 (PROTOCOL.md §3–§5): JSON lines, one object per line.
//!
//! These types are the single definition used by the peer, the wasm package and the tests.

use alloc::borrow::Cow;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};

/// A line longer than this ends the connection before it is buffered whole.
pub const MAX_LINE_BYTES: usize = 131_072;

/// Longest display name accepted in a hello (in characters); longer names are truncated.
pub const MAX_NAME_CHARS: usize = 64;

/// Longest message id accepted.
pub const MAX_ID_CHARS: usize = 64;

/// The agent string this build announces.
pub const AGENT: &str = concat!("p2p-chat/", env!("CARGO_PKG_VERSION"));

/// A frame that could not be parsed. The connection it came from is closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The line exceeds [`MAX_LINE_BYTES`].
    #[error("line of {len} bytes exceeds the {max}-byte limit")]
    TooLong {
        /// Bytes seen (at least `max + 1`).
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Not a JSON object of a known shape (includes unknown `type`s and missing fields).
    #[error("malformed frame: {0}")]
    Malformed(String),
}

/// One wire frame. Strings borrow from the line where possible.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Frame<'a> {
    /// Noise handshake message `step` (1, 2 or 3), base64.
    Handshake {
        /// 1: initiator → responder, 2: back, 3: initiator again.
        step: u8,
        /// Base64 of the Noise message.
        #[serde(borrow)]
        message: Cow<'a, str>,
    },
    /// A transport message after the handshake.
    Data {
        /// Base64 of the 12-byte nonce: 4 zero bytes and the 64-bit big-endian counter.
        #[serde(borrow)]
        nonce: Cow<'a, str>,
        /// Base64 of AES-256-GCM `ciphertext || tag`.
        #[serde(borrow)]
        ciphertext: Cow<'a, str>,
    },
}

/// The fields of a `data` frame, borrowed, for [`crate::TransportReceiver::open_frame`].
#[derive(Debug, Clone, Copy)]
pub struct DataFrameRef<'a> {
    /// Base64 nonce.
    pub nonce: &'a str,
    /// Base64 ciphertext and tag.
    pub ciphertext: &'a str,
}

impl<'a> Frame<'a> {
    /// Parses one line (without its `\n`).
    pub fn parse(line: &'a [u8]) -> Result<Self, FrameError> {
        if line.len() > MAX_LINE_BYTES {
            return Err(FrameError::TooLong {
                len: line.len(),
                max: MAX_LINE_BYTES,
            });
        }
        serde_json::from_slice(line).map_err(|e| FrameError::Malformed(e.to_string()))
    }

    /// A handshake frame carrying `message` (base64-encoded here).
    pub fn handshake(step: u8, message: &[u8]) -> Frame<'static> {
        Frame::Handshake {
            step,
            message: crate::encoding::to_base64(message).into(),
        }
    }

    /// The line to send: compact JSON and a trailing `\n`.
    pub fn to_line(&self) -> Vec<u8> {
        // Serialising these plain structs cannot fail.
        let mut line = serde_json::to_vec(self).unwrap_or_default();
        line.push(b'\n');
        line
    }

    /// The borrowed fields if this is a `data` frame.
    pub fn as_data(&self) -> Option<DataFrameRef<'_>> {
        match self {
            Frame::Data { nonce, ciphertext } => Some(DataFrameRef { nonce, ciphertext }),
            Frame::Handshake { .. } => None,
        }
    }
}

/// The JSON hello carried encrypted in handshake messages 2 and 3.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// Display name; may be empty. Truncated to [`MAX_NAME_CHARS`] on parse.
    #[serde(default)]
    pub name: String,
    /// The TCP port this peer accepts connections on (so the other side can redial it).
    #[serde(default)]
    pub listen_port: u16,
    /// Software and version, e.g. `p2p-chat/0.1.0`.
    #[serde(default)]
    pub agent: String,
}

impl Hello {
    /// Parses a hello; unknown fields are ignored for forward compatibility.
    pub fn parse(payload: &[u8]) -> Result<Self, FrameError> {
        let mut hello: Hello =
            serde_json::from_slice(payload).map_err(|e| FrameError::Malformed(e.to_string()))?;
        hello.name = clean_name(&hello.name);
        hello.agent = hello.agent.chars().take(MAX_NAME_CHARS).collect();
        Ok(hello)
    }

    /// The bytes to put in a handshake payload.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// Trims a display name, drops control characters and truncates it to [`MAX_NAME_CHARS`].
pub fn clean_name(name: &str) -> String {
    name.trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_NAME_CHARS)
        .collect()
}

/// The plaintext of a `data` frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Payload {
    /// A chat message. `id` is chosen by the sender and unique per sender; retransmissions
    /// reuse it so the receiver can drop duplicates.
    Chat {
        /// Sender-chosen unique id.
        id: String,
        /// The message text.
        text: String,
        /// Sender's clock, Unix milliseconds.
        sent_at: u64,
        /// Room id for group messages; absent otherwise.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<String>,
        /// True when the sender addressed everyone it was connected to (the original
        /// broadcast), so the receiver files it under "everyone" rather than the direct chat.
        #[serde(default, skip_serializing_if = "core::ops::Not::not")]
        broadcast: bool,
    },
    /// Receipt of the chat message `id`, sent once it is stored.
    Ack {
        /// The acknowledged message id.
        id: String,
    },
    /// A room's name and full membership, sent by a member to every other member when the room
    /// is created or changes.
    Room {
        /// Room id (chosen by the creator, unique).
        id: String,
        /// Display name of the room.
        name: String,
        /// Every member's public key in base64, the sender included.
        members: Vec<String>,
    },
}

impl Payload {
    /// Parses and bounds-checks a decrypted payload.
    pub fn parse(plaintext: &[u8]) -> Result<Self, FrameError> {
        let payload: Payload =
            serde_json::from_slice(plaintext).map_err(|e| FrameError::Malformed(e.to_string()))?;
        let id = match &payload {
            Payload::Chat { id, .. } | Payload::Ack { id } | Payload::Room { id, .. } => id,
        };
        if id.is_empty() || id.chars().count() > MAX_ID_CHARS {
            return Err(FrameError::Malformed(
                "message id must be 1-64 characters".into(),
            ));
        }
        Ok(payload)
    }

    /// The JSON bytes to seal.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_reject_unknown_types() {
        let frame = Frame::handshake(1, b"abc");
        let line = frame.to_line();
        assert_eq!(
            line,
            b"{\"type\":\"handshake\",\"step\":1,\"message\":\"YWJj\"}\n"
        );
        assert_eq!(Frame::parse(&line[..line.len() - 1]).unwrap(), frame);
        assert!(matches!(
            Frame::parse(br#"{"type":"gossip"}"#),
            Err(FrameError::Malformed(_))
        ));
        assert!(matches!(
            Frame::parse(b"not json"),
            Err(FrameError::Malformed(_))
        ));
        assert!(matches!(
            Frame::parse(br#"{"type":"data","nonce":"AA=="}"#),
            Err(FrameError::Malformed(_))
        ));
        let long = alloc::vec![b' '; MAX_LINE_BYTES + 1];
        assert!(matches!(
            Frame::parse(&long),
            Err(FrameError::TooLong { .. })
        ));
    }

    #[test]
    fn data_frames_borrow_from_the_line() {
        let line = br#"{"type":"data","nonce":"AAAAAAAAAAAAAAAA","ciphertext":"YWJj"}"#;
        let frame = Frame::parse(line).unwrap();
        let data = frame.as_data().unwrap();
        assert_eq!(data.ciphertext, "YWJj");
        assert!(matches!(
            frame,
            Frame::Data {
                ciphertext: Cow::Borrowed(_),
                ..
            }
        ));
    }

    #[test]
    fn payloads_and_hello() {
        let chat = Payload::Chat {
            id: "m1".into(),
            text: "hi".into(),
            sent_at: 5,
            room: None,
            broadcast: false,
        };
        let bytes = chat.to_bytes();
        assert_eq!(
            bytes,
            br#"{"kind":"chat","id":"m1","text":"hi","sent_at":5}"#
        );
        assert_eq!(Payload::parse(&bytes).unwrap(), chat);
        assert!(Payload::parse(br#"{"kind":"ack","id":""}"#).is_err());
        assert!(Payload::parse(br#"{"kind":"nope","id":"x"}"#).is_err());
        let hello = Hello::parse(br#"{"name":"  al\u0007ice ","listen_port":6000,"x":1}"#).unwrap();
        assert_eq!(hello.name, "alice");
        assert_eq!(hello.listen_port, 6000);
    }
}
