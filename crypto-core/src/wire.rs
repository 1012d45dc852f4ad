//! The peer-to-peer wire protocol v1 (PROTOCOL.md §3–§5): JSON lines, one object per line.
//!
//! These types are the single definition used by the peer, the wasm package and the tests.

use alloc::borrow::Cow;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use crate::json::{Json, ObjectWriter};
use crate::text::{concat, write_parts, Decimal};

/// A line longer than this ends the connection before it is buffered whole.
pub const MAX_LINE_BYTES: usize = 131_072;

/// Longest display name accepted in a hello (in characters); longer names are truncated.
pub const MAX_NAME_CHARS: usize = 64;

/// Longest message id accepted.
pub const MAX_ID_CHARS: usize = 64;

/// Longest `emoji` of a `reaction` payload, in UTF-8 bytes (PROTOCOL.md §5): room for one emoji
/// built of several code points (a family, a flag, a skin tone), not for a message.
pub const MAX_EMOJI_BYTES: usize = 32;

/// Most addresses one payload lists (PROTOCOL.md §5: `addresses` and the introduction
/// payloads); a longer list makes the payload invalid.
pub const MAX_WIRE_ADDRESSES: usize = 16;

/// Longest `host:port` accepted in an address list, in characters (a bracketed IPv6 address
/// with its port is at most 47).
pub const MAX_ADDRESS_CHARS: usize = 64;

/// Longest address `kind` accepted, in characters (`mapped`, `lan`, `ipv6`, `observed`; an
/// unknown kind from a newer version is the receiver's to ignore).
pub const MAX_ADDRESS_KIND_CHARS: usize = 16;

/// One entry of an address list (PROTOCOL.md §5): `host:port` as sent and the kind the sender
/// gave it. Nothing here checks that it is a dialable address; the receiver does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireAddress {
    /// `ip:port` or `[ipv6]:port`, 1-64 characters.
    pub address: String,
    /// `mapped`, `lan`, `ipv6` or `observed` (another value: the entry is ignored).
    pub kind: String,
}

/// A message named by its sender's key (base64, as in `members`) and the sender's id: what a
/// reply quotes and a reaction is about (PROTOCOL.md §5). The receiver checks the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRef {
    /// The message's sender, a base64 public key.
    pub from: String,
    /// The sender's id of the message, 1-64 characters.
    pub id: String,
}

/// The agent string this build announces.
pub const AGENT: &str = concat!("p2p-chat/", env!("CARGO_PKG_VERSION"));

/// A frame that could not be parsed. The connection it came from is closed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FrameError {
    /// The line exceeds [`MAX_LINE_BYTES`].
    TooLong {
        /// Bytes seen (at least `max + 1`).
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Not a JSON object of a known shape (includes unknown `type`s and missing fields).
    Malformed(String),
}

// Display by hand rather than thiserror's `write!`: see `crate::text`.
impl core::fmt::Display for FrameError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::TooLong { len, max } => write_parts(
                f,
                &[
                    "line of ",
                    Decimal::of_usize(*len).as_str(),
                    " bytes exceeds the ",
                    Decimal::of_usize(*max).as_str(),
                    "-byte limit",
                ],
            ),
            Self::Malformed(reason) => write_parts(f, &["malformed frame: ", reason]),
        }
    }
}

impl core::error::Error for FrameError {}

/// One wire frame. Strings borrow from the line where possible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame<'a> {
    /// Noise handshake message `step` (1, 2 or 3), base64.
    Handshake {
        /// 1: initiator → responder, 2: back, 3: initiator again.
        step: u8,
        /// Base64 of the Noise message.
        message: Cow<'a, str>,
    },
    /// A transport message after the handshake.
    Data {
        /// Base64 of the 12-byte nonce: 4 zero bytes and the 64-bit big-endian counter.
        nonce: Cow<'a, str>,
        /// Base64 of AES-256-GCM `ciphertext || tag`.
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
        let mut json = parse_object(line)?;
        let kind = take_string(&mut json, "type")?;
        let frame = match &*kind {
            "handshake" => {
                let step = json
                    .take("step")
                    .and_then(|s| s.as_u64())
                    .and_then(|s| u8::try_from(s).ok())
                    .ok_or_else(|| malformed("step must be an integer 0-255"))?;
                Frame::Handshake {
                    step,
                    message: take_string(&mut json, "message")?,
                }
            }
            "data" => Frame::Data {
                nonce: take_string(&mut json, "nonce")?,
                ciphertext: take_string(&mut json, "ciphertext")?,
            },
            _ => return Err(malformed("unknown frame type")),
        };
        // The outer object is exact (PROTOCOL.md §2): what is left over is an unknown member.
        match json {
            Json::Object(rest) if rest.is_empty() => Ok(frame),
            _ => Err(malformed("unknown member in frame")),
        }
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
        let mut line = String::new();
        let mut object = ObjectWriter::new(&mut line);
        match self {
            Frame::Handshake { step, message } => object
                .string("type", "handshake")
                .number("step", u64::from(*step))
                .string("message", message),
            Frame::Data { nonce, ciphertext } => object
                .string("type", "data")
                .string("nonce", nonce)
                .string("ciphertext", ciphertext),
        }
        .finish();
        line.push('\n');
        line.into_bytes()
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    /// Display name; may be empty. Truncated to [`MAX_NAME_CHARS`] on parse.
    pub name: String,
    /// The TCP port this peer accepts connections on (so the other side can redial it).
    pub listen_port: u16,
    /// Software and version, e.g. `p2p-chat/0.1.0`.
    pub agent: String,
}

impl Hello {
    /// Parses a hello; unknown fields are ignored for forward compatibility.
    pub fn parse(payload: &[u8]) -> Result<Self, FrameError> {
        let mut json = parse_object(payload)?;
        let listen_port = match json.get("listen_port") {
            None => 0,
            Some(port) => port
                .as_u64()
                .and_then(|p| u16::try_from(p).ok())
                .ok_or_else(|| malformed("listen_port must be an integer 0-65535"))?,
        };
        let name = optional_string(&mut json, "name")?;
        let agent = optional_string(&mut json, "agent")?;
        Ok(Hello {
            name: clean_name(&name),
            listen_port,
            agent: agent.chars().take(MAX_NAME_CHARS).collect(),
        })
    }

    /// The bytes to put in a handshake payload.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = String::new();
        ObjectWriter::new(&mut out)
            .string("name", &self.name)
            .number("listen_port", u64::from(self.listen_port))
            .string("agent", &self.agent)
            .finish();
        out.into_bytes()
    }
}

fn malformed(reason: &str) -> FrameError {
    FrameError::Malformed(reason.to_string())
}

/// A [`MessageRef`] whose id is 1-64 characters (the key is the receiver's to check).
fn message_ref(from: String, id: String) -> Result<MessageRef, FrameError> {
    if id.is_empty() || id.chars().count() > MAX_ID_CHARS {
        return Err(malformed("a quoted message id must be 1-64 characters"));
    }
    Ok(MessageRef { from, id })
}

/// Parses bytes that must be one JSON object.
fn parse_object(bytes: &[u8]) -> Result<Json<'_>, FrameError> {
    let json = Json::parse_bytes(bytes).map_err(|e| FrameError::Malformed(e.to_string()))?;
    match json {
        Json::Object(_) => Ok(json),
        _ => Err(malformed("not a JSON object")),
    }
}

/// A required string member.
fn take_string<'a>(json: &mut Json<'a>, key: &'static str) -> Result<Cow<'a, str>, FrameError> {
    json.take(key)
        .and_then(Json::into_string)
        .ok_or_else(|| FrameError::Malformed(concat(&["missing string field \"", key, "\""])))
}

/// An optional string member (absent or null → empty).
fn optional_string(json: &mut Json<'_>, key: &'static str) -> Result<String, FrameError> {
    match json.take(key) {
        None | Some(Json::Null) => Ok(String::new()),
        Some(Json::String(s)) => Ok(s.into_owned()),
        Some(_) => Err(FrameError::Malformed(concat(&[
            "\"",
            key,
            "\" must be a string",
        ]))),
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
#[derive(Debug, Clone, PartialEq, Eq)]
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
        room: Option<String>,
        /// True when the sender addressed everyone it was connected to (the original
        /// broadcast), so the receiver files it under "everyone" rather than the direct chat.
        broadcast: bool,
        /// The message this one replies to (`reply_from` and `reply_id` on the wire); the
        /// receiver shows the quoted text from its own history, never from the payload.
        reply_to: Option<MessageRef>,
    },
    /// The sender edited its own message `msg_id` (PROTOCOL.md §5, §8.7): only the sender's own
    /// messages can be named, as the sender is the session's key. Acknowledged like a chat.
    Edit {
        /// Sender-chosen unique id of this payload (what the `ack` names).
        id: String,
        /// The sender's message that changes.
        msg_id: String,
        /// Its new text.
        text: String,
        /// Sender's clock: a later edit replaces an earlier one.
        sent_at: u64,
    },
    /// The sender deleted its own message `msg_id` for everyone (PROTOCOL.md §8.7).
    Delete {
        /// Sender-chosen unique id of this payload (what the `ack` names).
        id: String,
        /// The sender's message that is deleted.
        msg_id: String,
        /// Sender's clock.
        sent_at: u64,
    },
    /// The sender's reaction to a message, replacing its earlier one on that message: one
    /// emoji per person per message, an empty `emoji` removes it (PROTOCOL.md §5). It has an
    /// `id` of the sender's id space and is acknowledged like a chat.
    Reaction {
        /// Sender-chosen unique id of this reaction payload (what the `ack` names).
        id: String,
        /// The message reacted to.
        to: MessageRef,
        /// The emoji, at most [`MAX_EMOJI_BYTES`]; empty: the reaction is withdrawn.
        emoji: String,
        /// Sender's clock, Unix milliseconds: a later reaction replaces an earlier one.
        sent_at: u64,
    },
    /// Receipt of the chat message `id`, sent once it is stored.
    Ack {
        /// The acknowledged message id.
        id: String,
    },
    /// A room's name and full membership, sent by its creator to every member when the room
    /// is created or changes (PROTOCOL.md §8.4).
    Room {
        /// Room id (chosen by the creator, unique).
        id: String,
        /// Display name of the room.
        name: String,
        /// Every member's public key in base64, the sender included.
        members: Vec<String>,
        /// The creator's public key in base64; absent from earlier versions (then the sender
        /// is meant).
        creator: Option<String>,
        /// The members' display names as the sender knows them, one per entry of `members`
        /// in the same order (`""` when unknown); empty when the sender sent none. Only for
        /// showing members a receiver has never met: never an identity (PROTOCOL.md §5).
        names: Vec<String>,
    },
    /// Nothing to deliver: written on a session that has sent nothing for the keepalive
    /// interval, so a live session is never mistaken for a dead one. Never acknowledged.
    Keepalive,
    /// The sender's new display name, sent to every connected contact when it changes (the
    /// hello carries it at the next handshake). It has no `id`: it is never acknowledged.
    Name {
        /// The new name (receivers clean it and never let an empty one replace a stored name).
        name: String,
    },
    /// The sender set the disappearing-message timer of a conversation (PROTOCOL.md §5): the
    /// direct conversation between sender and receiver, or `room`. Acknowledged like a chat.
    Timer {
        /// Sender-chosen unique id (the `ack` names it).
        id: String,
        /// How long each message lives after it is stored, in seconds; 0 turns it off.
        seconds: u64,
        /// When it was set, Unix ms: the latest setting wins (ties: the larger key).
        set_at: u64,
        /// The room whose timer it is; absent for the direct conversation.
        room: Option<String>,
    },
    /// Where the sender can be reached, and where it sees the receiver (PROTOCOL.md §5, §7.1):
    /// sent on every session when it comes up and again whenever the sender's addresses change.
    /// Believed only from the session's own key, and only about that key. No `id`: never
    /// acknowledged.
    Addresses {
        /// The address the receiver's connection comes from, as the sender sees it.
        observed: Option<String>,
        /// Every address the sender can be dialled at, best first.
        addresses: Vec<WireAddress>,
    },
    /// "Introduce me to `peer`" (PROTOCOL.md §7.2), to a contact connected to both.
    Introduce {
        /// The asker's id of this introduction, echoed by every later step.
        id: String,
        /// The tag of the key the asker wants to reach (`crate::introduce`), not the key.
        peer: String,
        /// The asker's own addresses.
        addresses: Vec<WireAddress>,
    },
    /// The introducer passes an [`Payload::Introduce`] on: `peer` asks to be connected to the
    /// receiver and may be dialled at `addresses` (dial hints only).
    Introduction {
        /// The asker's id.
        id: String,
        /// The asker's key, base64.
        peer: String,
        /// Where the introducer sees the asker, then the asker's own list.
        addresses: Vec<WireAddress>,
    },
    /// The answer to an [`Payload::Introduction`], to the introducer.
    IntroduceAnswer {
        /// The asker's id.
        id: String,
        /// The asker's key, base64.
        peer: String,
        /// Whether the receiver of the introduction dials the asker now.
        accept: bool,
        /// The answerer's own addresses (empty when it declines).
        addresses: Vec<WireAddress>,
    },
    /// The introducer's answer to the asker.
    IntroduceResult {
        /// The asker's id.
        id: String,
        /// The tag the asker sent, echoed.
        peer: String,
        /// `accepted`, `declined`, `not_connected`, `refused` or `busy` (PROTOCOL.md §7.2).
        outcome: String,
        /// Where the introducer sees `peer`, then its own list (when accepted; dial hints only).
        addresses: Vec<WireAddress>,
    },
}

impl Payload {
    /// Parses and bounds-checks a decrypted payload.
    pub fn parse(plaintext: &[u8]) -> Result<Self, FrameError> {
        let mut json = parse_object(plaintext)?;
        let kind = take_string(&mut json, "kind")?;
        if kind == "keepalive" {
            return Ok(Payload::Keepalive);
        }
        if kind == "name" {
            return Ok(Payload::Name {
                name: take_string(&mut json, "name")?.into_owned(),
            });
        }
        if kind == "addresses" {
            let observed = match json.take("observed") {
                None | Some(Json::Null) => None,
                Some(Json::String(observed)) => {
                    Some(bounded_address(observed.into_owned(), "observed")?)
                }
                Some(_) => return Err(malformed("observed must be a string")),
            };
            return Ok(Payload::Addresses {
                observed,
                addresses: address_list(&mut json)?,
            });
        }
        let id = take_string(&mut json, "id")?.into_owned();
        let payload = match &*kind {
            "chat" => Payload::Chat {
                id,
                text: take_string(&mut json, "text")?.into_owned(),
                sent_at: json["sent_at"]
                    .as_u64()
                    .ok_or_else(|| malformed("sent_at must be a non-negative integer"))?,
                room: match json.take("room") {
                    None | Some(Json::Null) => None,
                    Some(Json::String(room)) => Some(room.into_owned()),
                    Some(_) => return Err(malformed("room must be a string")),
                },
                broadcast: match json.take("broadcast") {
                    None | Some(Json::Null) => false,
                    Some(Json::Bool(b)) => b,
                    Some(_) => return Err(malformed("broadcast must be a boolean")),
                },
                reply_to: match (json.take("reply_from"), json.take("reply_id")) {
                    (None | Some(Json::Null), None | Some(Json::Null)) => None,
                    (Some(Json::String(from)), Some(Json::String(id))) => {
                        Some(message_ref(from.into_owned(), id.into_owned())?)
                    }
                    _ => {
                        return Err(malformed(
                            "reply_from and reply_id must be strings, both or neither",
                        ))
                    }
                },
            },
            "edit" | "delete" => {
                let msg_id = take_string(&mut json, "msg_id")?.into_owned();
                if msg_id.is_empty() || msg_id.chars().count() > MAX_ID_CHARS {
                    return Err(malformed("msg_id must be 1-64 characters"));
                }
                let sent_at = json["sent_at"]
                    .as_u64()
                    .ok_or_else(|| malformed("sent_at must be a non-negative integer"))?;
                if kind == "edit" {
                    Payload::Edit {
                        id,
                        msg_id,
                        text: take_string(&mut json, "text")?.into_owned(),
                        sent_at,
                    }
                } else {
                    Payload::Delete {
                        id,
                        msg_id,
                        sent_at,
                    }
                }
            }
            "reaction" => {
                let from = take_string(&mut json, "msg_from")?.into_owned();
                let msg_id = take_string(&mut json, "msg_id")?.into_owned();
                let emoji = take_string(&mut json, "emoji")?.into_owned();
                if emoji.len() > MAX_EMOJI_BYTES
                    || emoji.chars().any(|c| c.is_control() || c.is_whitespace())
                {
                    return Err(malformed(
                        "emoji must be at most 32 bytes, without spaces or control characters",
                    ));
                }
                Payload::Reaction {
                    id,
                    to: message_ref(from, msg_id)?,
                    emoji,
                    sent_at: json["sent_at"]
                        .as_u64()
                        .ok_or_else(|| malformed("sent_at must be a non-negative integer"))?,
                }
            }
            "ack" => Payload::Ack { id },
            "timer" => Payload::Timer {
                id,
                seconds: json["seconds"]
                    .as_u64()
                    .ok_or_else(|| malformed("seconds must be a non-negative integer"))?,
                set_at: json["set_at"]
                    .as_u64()
                    .ok_or_else(|| malformed("set_at must be a non-negative integer"))?,
                room: match json.take("room") {
                    None | Some(Json::Null) => None,
                    Some(Json::String(room)) => Some(room.into_owned()),
                    Some(_) => return Err(malformed("room must be a string")),
                },
            },
            "room" => Payload::Room {
                id,
                name: take_string(&mut json, "name")?.into_owned(),
                members: json["members"]
                    .as_array()
                    .ok_or_else(|| malformed("members must be an array"))?
                    .iter()
                    .map(|m| m.as_str().map(String::from))
                    .collect::<Option<Vec<String>>>()
                    .ok_or_else(|| malformed("members must be strings"))?,
                creator: match json.take("creator") {
                    None | Some(Json::Null) => None,
                    Some(Json::String(creator)) => Some(creator.into_owned()),
                    Some(_) => return Err(malformed("creator must be a string")),
                },
                names: match &json["names"] {
                    Json::Null => Vec::new(),
                    names => names
                        .as_array()
                        .ok_or_else(|| malformed("names must be an array"))?
                        .iter()
                        .map(|n| n.as_str().map(String::from))
                        .collect::<Option<Vec<String>>>()
                        .ok_or_else(|| malformed("names must be strings"))?,
                },
            },
            "introduce" | "introduction" => {
                let peer = take_string(&mut json, "peer")?.into_owned();
                let addresses = address_list(&mut json)?;
                if kind == "introduce" {
                    Payload::Introduce {
                        id,
                        peer,
                        addresses,
                    }
                } else {
                    Payload::Introduction {
                        id,
                        peer,
                        addresses,
                    }
                }
            }
            "introduce_answer" => Payload::IntroduceAnswer {
                id,
                peer: take_string(&mut json, "peer")?.into_owned(),
                accept: json["accept"]
                    .as_bool()
                    .ok_or_else(|| malformed("accept must be a boolean"))?,
                addresses: address_list(&mut json)?,
            },
            "introduce_result" => Payload::IntroduceResult {
                id,
                peer: take_string(&mut json, "peer")?.into_owned(),
                outcome: take_string(&mut json, "outcome")?.into_owned(),
                addresses: address_list(&mut json)?,
            },
            _ => return Err(malformed("unknown payload kind")),
        };
        let id = match &payload {
            Payload::Room { members, names, .. }
                if !names.is_empty() && names.len() != members.len() =>
            {
                return Err(malformed("names must have one entry per member"));
            }
            Payload::Chat { id, .. }
            | Payload::Ack { id }
            | Payload::Room { id, .. }
            | Payload::Reaction { id, .. }
            | Payload::Edit { id, .. }
            | Payload::Delete { id, .. }
            | Payload::Timer { id, .. }
            | Payload::Introduce { id, .. }
            | Payload::Introduction { id, .. }
            | Payload::IntroduceAnswer { id, .. }
            | Payload::IntroduceResult { id, .. } => id,
            Payload::Keepalive | Payload::Name { .. } | Payload::Addresses { .. } => {
                return Ok(payload)
            }
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
        let mut out = String::new();
        let mut object = ObjectWriter::new(&mut out);
        match self {
            Payload::Chat {
                id,
                text,
                sent_at,
                room,
                broadcast,
                reply_to,
            } => {
                object
                    .string("kind", "chat")
                    .string("id", id)
                    .string("text", text)
                    .number("sent_at", *sent_at);
                if let Some(room) = room {
                    object.string("room", room);
                }
                if *broadcast {
                    object.boolean("broadcast", true);
                }
                if let Some(reply) = reply_to {
                    object
                        .string("reply_from", &reply.from)
                        .string("reply_id", &reply.id);
                }
            }
            Payload::Edit {
                id,
                msg_id,
                text,
                sent_at,
            } => {
                object
                    .string("kind", "edit")
                    .string("id", id)
                    .string("msg_id", msg_id)
                    .string("text", text)
                    .number("sent_at", *sent_at);
            }
            Payload::Delete {
                id,
                msg_id,
                sent_at,
            } => {
                object
                    .string("kind", "delete")
                    .string("id", id)
                    .string("msg_id", msg_id)
                    .number("sent_at", *sent_at);
            }
            Payload::Reaction {
                id,
                to,
                emoji,
                sent_at,
            } => {
                object
                    .string("kind", "reaction")
                    .string("id", id)
                    .string("msg_from", &to.from)
                    .string("msg_id", &to.id)
                    .string("emoji", emoji)
                    .number("sent_at", *sent_at);
            }
            Payload::Ack { id } => {
                object.string("kind", "ack").string("id", id);
            }
            Payload::Room {
                id,
                name,
                members,
                creator,
                names,
            } => {
                object
                    .string("kind", "room")
                    .string("id", id)
                    .string("name", name)
                    .strings("members", members);
                if let Some(creator) = creator {
                    object.string("creator", creator);
                }
                if !names.is_empty() {
                    object.strings("names", names);
                }
            }
            Payload::Keepalive => {
                object.string("kind", "keepalive");
            }
            Payload::Name { name } => {
                object.string("kind", "name").string("name", name);
            }
            Payload::Timer {
                id,
                seconds,
                set_at,
                room,
            } => {
                object
                    .string("kind", "timer")
                    .string("id", id)
                    .number("seconds", *seconds)
                    .number("set_at", *set_at);
                if let Some(room) = room {
                    object.string("room", room);
                }
            }
            Payload::Addresses {
                observed,
                addresses,
            } => {
                object.string("kind", "addresses");
                if let Some(observed) = observed {
                    object.string("observed", observed);
                }
                write_addresses(&mut object, addresses);
            }
            Payload::Introduce {
                id,
                peer,
                addresses,
            } => {
                object
                    .string("kind", "introduce")
                    .string("id", id)
                    .string("peer", peer);
                write_addresses(&mut object, addresses);
            }
            Payload::Introduction {
                id,
                peer,
                addresses,
            } => {
                object
                    .string("kind", "introduction")
                    .string("id", id)
                    .string("peer", peer);
                write_addresses(&mut object, addresses);
            }
            Payload::IntroduceAnswer {
                id,
                peer,
                accept,
                addresses,
            } => {
                object
                    .string("kind", "introduce_answer")
                    .string("id", id)
                    .string("peer", peer)
                    .boolean("accept", *accept);
                write_addresses(&mut object, addresses);
            }
            Payload::IntroduceResult {
                id,
                peer,
                outcome,
                addresses,
            } => {
                object
                    .string("kind", "introduce_result")
                    .string("id", id)
                    .string("peer", peer)
                    .string("outcome", outcome);
                write_addresses(&mut object, addresses);
            }
        }
        object.finish();
        out.into_bytes()
    }
}

/// Writes an address list as the two parallel arrays of PROTOCOL.md §5 (`addresses`,
/// `kinds`): an array of objects would spend the 16-object cap of §2 on one list.
fn write_addresses(object: &mut ObjectWriter<'_>, list: &[WireAddress]) {
    let addresses: Vec<&str> = list.iter().map(|a| a.address.as_str()).collect();
    let kinds: Vec<&str> = list.iter().map(|a| a.kind.as_str()).collect();
    object
        .strings("addresses", &addresses)
        .strings("kinds", &kinds);
}

/// An address string of 1-[`MAX_ADDRESS_CHARS`] characters.
fn bounded_address(address: String, field: &'static str) -> Result<String, FrameError> {
    if address.is_empty() || address.chars().count() > MAX_ADDRESS_CHARS {
        return Err(FrameError::Malformed(concat(&[
            field,
            " must be 1-64 characters",
        ])));
    }
    Ok(address)
}

/// The `addresses` and `kinds` arrays of an address list: both absent (an empty list) or
/// both present with one kind per address, at most [`MAX_WIRE_ADDRESSES`].
fn address_list(json: &mut Json<'_>) -> Result<Vec<WireAddress>, FrameError> {
    let strings = |value: Option<Json<'_>>, field: &'static str| match value {
        None | Some(Json::Null) => Ok(Vec::new()),
        Some(value) => value
            .as_array()
            .ok_or_else(|| malformed("an address list must be arrays"))?
            .iter()
            .map(|v| v.as_str().map(String::from))
            .collect::<Option<Vec<String>>>()
            .ok_or_else(|| FrameError::Malformed(concat(&[field, " must be strings"]))),
    };
    let addresses = strings(json.take("addresses"), "addresses")?;
    let kinds = strings(json.take("kinds"), "kinds")?;
    if addresses.len() != kinds.len() {
        return Err(malformed("kinds must have one entry per address"));
    }
    if addresses.len() > MAX_WIRE_ADDRESSES {
        return Err(malformed("at most 16 addresses"));
    }
    addresses
        .into_iter()
        .zip(kinds)
        .map(|(address, kind)| {
            if kind.chars().count() > MAX_ADDRESS_KIND_CHARS {
                return Err(malformed("an address kind must be at most 16 characters"));
            }
            Ok(WireAddress {
                address: bounded_address(address, "an address")?,
                kind,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_room_names_its_creator_and_one_without_is_from_an_earlier_version() {
        let room = Payload::Room {
            id: "r".into(),
            name: "n".into(),
            members: alloc::vec!["a".into(), "b".into()],
            creator: Some("a".into()),
            names: alloc::vec![],
        };
        let bytes = room.to_bytes();
        assert_eq!(
            bytes,
            br#"{"kind":"room","id":"r","name":"n","members":["a","b"],"creator":"a"}"#
        );
        assert_eq!(Payload::parse(&bytes).unwrap(), room);
        let old = Payload::parse(br#"{"kind":"room","id":"r","name":"n","members":["a"]}"#);
        assert!(matches!(old, Ok(Payload::Room { creator: None, .. })));
        assert!(matches!(
            Payload::parse(br#"{"kind":"room","id":"r","name":"n","members":[],"creator":5}"#),
            Err(FrameError::Malformed(_))
        ));
    }

    #[test]
    fn a_room_may_name_its_members_one_name_per_member() {
        let room = Payload::Room {
            id: "r".into(),
            name: "n".into(),
            members: alloc::vec!["a".into(), "b".into()],
            creator: Some("a".into()),
            names: alloc::vec!["Alice".into(), "".into()],
        };
        let bytes = room.to_bytes();
        assert_eq!(
            bytes,
            br#"{"kind":"room","id":"r","name":"n","members":["a","b"],"creator":"a","names":["Alice",""]}"#
        );
        assert_eq!(Payload::parse(&bytes).unwrap(), room);
        for bad in [
            &br#"{"kind":"room","id":"r","name":"n","members":["a","b"],"names":["x"]}"#[..],
            br#"{"kind":"room","id":"r","name":"n","members":["a"],"names":"x"}"#,
            br#"{"kind":"room","id":"r","name":"n","members":["a"],"names":[1]}"#,
        ] {
            assert!(
                matches!(Payload::parse(bad), Err(FrameError::Malformed(_))),
                "{}",
                core::str::from_utf8(bad).unwrap()
            );
        }
    }

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
        assert!(matches!(
            Frame::parse(br#"{"type":"data","nonce":"AA==","ciphertext":"YWJj","pad":0}"#),
            Err(FrameError::Malformed(_))
        ));
        assert!(matches!(
            Frame::parse(br#"{"type":"handshake","step":1,"message":"YWJj","v":2}"#),
            Err(FrameError::Malformed(_))
        ));
        let long = alloc::vec![b' '; MAX_LINE_BYTES + 1];
        assert!(matches!(
            Frame::parse(&long),
            Err(FrameError::TooLong { .. })
        ));
    }

    /// The pre-authentication attack: a valid-looking first line padded with 11,000 junk keys.
    /// It must be refused as a frame (unknown members) and without parsing it all.
    #[test]
    fn a_frame_padded_with_junk_keys_is_refused() {
        let mut line = String::from(r#"{"type":"handshake","step":1,"message":"AAAA""#);
        for i in 0..11_000 {
            line.push_str(",\"k");
            line.push_str(Decimal::of_usize(i).as_str());
            line.push_str("\":0");
        }
        line.push('}');
        assert!(line.len() < MAX_LINE_BYTES);
        assert!(matches!(
            Frame::parse(line.as_bytes()),
            Err(FrameError::Malformed(_))
        ));
        // A hello padded the same way is refused too (hellos ignore a few unknown fields).
        let hello = line.replacen(
            r#""type":"handshake","step":1,"message":"AAAA""#,
            r#""name":"x""#,
            1,
        );
        assert!(Hello::parse(hello.as_bytes()).is_err());
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
            reply_to: None,
        };
        let bytes = chat.to_bytes();
        assert_eq!(
            bytes,
            br#"{"kind":"chat","id":"m1","text":"hi","sent_at":5}"#
        );
        assert_eq!(Payload::parse(&bytes).unwrap(), chat);
        assert!(Payload::parse(br#"{"kind":"ack","id":""}"#).is_err());
        assert!(Payload::parse(br#"{"kind":"nope","id":"x"}"#).is_err());
        let keepalive = Payload::Keepalive.to_bytes();
        assert_eq!(keepalive, br#"{"kind":"keepalive"}"#);
        assert_eq!(Payload::parse(&keepalive).unwrap(), Payload::Keepalive);
        let rename = Payload::Name {
            name: "Bob B".into(),
        };
        assert_eq!(rename.to_bytes(), br#"{"kind":"name","name":"Bob B"}"#);
        assert_eq!(Payload::parse(&rename.to_bytes()).unwrap(), rename);
        assert!(Payload::parse(br#"{"kind":"name"}"#).is_err());
        for timer in [
            Payload::Timer {
                id: "t1".into(),
                seconds: 3600,
                set_at: 1_700_000_000_000,
                room: None,
            },
            Payload::Timer {
                id: "t2".into(),
                seconds: 0,
                set_at: 5,
                room: Some("r1".into()),
            },
        ] {
            assert_eq!(Payload::parse(&timer.to_bytes()).unwrap(), timer);
        }
        assert_eq!(
            Payload::Timer {
                id: "t".into(),
                seconds: 300,
                set_at: 9,
                room: None
            }
            .to_bytes(),
            br#"{"kind":"timer","id":"t","seconds":300,"set_at":9}"#
        );
        for bad in [
            &br#"{"kind":"timer","id":"t","set_at":1}"#[..],
            br#"{"kind":"timer","id":"t","seconds":-1,"set_at":1}"#,
            br#"{"kind":"timer","id":"t","seconds":1}"#,
            br#"{"kind":"timer","id":"","seconds":1,"set_at":1}"#,
            br#"{"kind":"timer","id":"t","seconds":1,"set_at":1,"room":5}"#,
        ] {
            assert!(Payload::parse(bad).is_err());
        }
        let hello = Hello::parse(br#"{"name":"  al\u0007ice ","listen_port":6000,"x":1}"#).unwrap();
        assert_eq!(hello.name, "alice");
        assert_eq!(hello.listen_port, 6000);
    }

    #[test]
    fn replies_and_reactions_round_trip_and_are_bounded() {
        let reply = Payload::Chat {
            id: "m2".into(),
            text: "yes".into(),
            sent_at: 6,
            room: Some("r".into()),
            broadcast: false,
            reply_to: Some(MessageRef {
                from: "k".into(),
                id: "m1".into(),
            }),
        };
        let bytes = reply.to_bytes();
        assert_eq!(
            bytes,
            br#"{"kind":"chat","id":"m2","text":"yes","sent_at":6,"room":"r","reply_from":"k","reply_id":"m1"}"#
        );
        assert_eq!(Payload::parse(&bytes).unwrap(), reply);
        // Both or neither; a quoted id has the bounds of any id.
        for bad in [
            &br#"{"kind":"chat","id":"m","text":"t","sent_at":1,"reply_from":"k"}"#[..],
            br#"{"kind":"chat","id":"m","text":"t","sent_at":1,"reply_from":"k","reply_id":""}"#,
            br#"{"kind":"chat","id":"m","text":"t","sent_at":1,"reply_from":1,"reply_id":"x"}"#,
        ] {
            assert!(Payload::parse(bad).is_err());
        }
        let reaction = Payload::Reaction {
            id: "r1".into(),
            to: MessageRef {
                from: "k".into(),
                id: "m1".into(),
            },
            emoji: "👍🏽".into(),
            sent_at: 7,
        };
        let bytes = reaction.to_bytes();
        assert_eq!(
            bytes,
            r#"{"kind":"reaction","id":"r1","msg_from":"k","msg_id":"m1","emoji":"👍🏽","sent_at":7}"#.as_bytes()
        );
        assert_eq!(Payload::parse(&bytes).unwrap(), reaction);
        let withdrawn =
            br#"{"kind":"reaction","id":"r2","msg_from":"k","msg_id":"m1","emoji":"","sent_at":8}"#;
        assert!(
            matches!(Payload::parse(withdrawn), Ok(Payload::Reaction { emoji, .. }) if emoji.is_empty())
        );
        let long = alloc::format!(
            r#"{{"kind":"reaction","id":"r3","msg_from":"k","msg_id":"m1","emoji":"{}","sent_at":8}}"#,
            "😀".repeat(9)
        );
        assert!(
            Payload::parse(long.as_bytes()).is_err(),
            "36 bytes is too long"
        );
        let spaced = br#"{"kind":"reaction","id":"r4","msg_from":"k","msg_id":"m1","emoji":"a b","sent_at":8}"#;
        assert!(Payload::parse(spaced).is_err());
        for amend in [
            Payload::Edit {
                id: "e1".into(),
                msg_id: "m1".into(),
                text: "new".into(),
                sent_at: 9,
            },
            Payload::Delete {
                id: "d1".into(),
                msg_id: "m1".into(),
                sent_at: 10,
            },
        ] {
            assert_eq!(Payload::parse(&amend.to_bytes()).unwrap(), amend);
        }
        assert_eq!(
            Payload::Delete {
                id: "d1".into(),
                msg_id: "m1".into(),
                sent_at: 10
            }
            .to_bytes(),
            br#"{"kind":"delete","id":"d1","msg_id":"m1","sent_at":10}"#
        );
        assert!(
            Payload::parse(br#"{"kind":"edit","id":"e","msg_id":"","text":"t","sent_at":1}"#)
                .is_err()
        );
        assert!(Payload::parse(br#"{"kind":"edit","id":"e","msg_id":"m","sent_at":1}"#).is_err());
    }

    #[test]
    fn address_lists_round_trip_as_two_arrays_and_are_bounded() {
        let lan = WireAddress {
            address: "192.168.1.10:6000".into(),
            kind: "lan".into(),
        };
        let announce = Payload::Addresses {
            observed: Some("11.0.0.2:6000".into()),
            addresses: alloc::vec![lan.clone()],
        };
        let bytes = announce.to_bytes();
        assert_eq!(
            bytes,
            br#"{"kind":"addresses","observed":"11.0.0.2:6000","addresses":["192.168.1.10:6000"],"kinds":["lan"]}"#
        );
        assert_eq!(Payload::parse(&bytes), Ok(announce));
        // Neither list nor observed: an empty announcement.
        assert_eq!(
            Payload::parse(br#"{"kind":"addresses"}"#),
            Ok(Payload::Addresses {
                observed: None,
                addresses: Vec::new()
            })
        );
        for bad in [
            &br#"{"kind":"addresses","addresses":["a"]}"#[..],
            br#"{"kind":"addresses","addresses":["a"],"kinds":["lan","lan"]}"#,
            br#"{"kind":"addresses","addresses":[""],"kinds":["lan"]}"#,
            br#"{"kind":"addresses","addresses":[1],"kinds":["lan"]}"#,
            br#"{"kind":"addresses","observed":5}"#,
            br#"{"kind":"addresses","addresses":["a"],"kinds":["a-kind-far-too-long"]}"#,
        ] {
            assert!(
                Payload::parse(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        let many = |n: usize| {
            let list: Vec<String> = (0..n).map(|i| alloc::format!("\"10.0.0.{i}:1\"")).collect();
            let kinds: Vec<&str> = (0..n).map(|_| "\"lan\"").collect();
            alloc::format!(
                r#"{{"kind":"addresses","addresses":[{}],"kinds":[{}]}}"#,
                list.join(","),
                kinds.join(",")
            )
        };
        assert!(Payload::parse(many(MAX_WIRE_ADDRESSES).as_bytes()).is_ok());
        assert!(Payload::parse(many(MAX_WIRE_ADDRESSES + 1).as_bytes()).is_err());
        let long = alloc::format!(
            r#"{{"kind":"addresses","observed":"{}"}}"#,
            "1".repeat(MAX_ADDRESS_CHARS + 1)
        );
        assert!(Payload::parse(long.as_bytes()).is_err());
    }

    #[test]
    fn the_introduction_exchange_round_trips() {
        let hint = WireAddress {
            address: "11.0.0.1:6000".into(),
            kind: "observed".into(),
        };
        for payload in [
            Payload::Introduce {
                id: "i1".into(),
                peer: "k".into(),
                addresses: Vec::new(),
            },
            Payload::Introduction {
                id: "i1".into(),
                peer: "k".into(),
                addresses: alloc::vec![hint.clone()],
            },
            Payload::IntroduceAnswer {
                id: "i1".into(),
                peer: "k".into(),
                accept: false,
                addresses: Vec::new(),
            },
            Payload::IntroduceResult {
                id: "i1".into(),
                peer: "k".into(),
                outcome: "accepted".into(),
                addresses: alloc::vec![hint],
            },
        ] {
            assert_eq!(Payload::parse(&payload.to_bytes()), Ok(payload));
        }
        assert_eq!(
            Payload::IntroduceAnswer {
                id: "i".into(),
                peer: "k".into(),
                accept: true,
                addresses: Vec::new(),
            }
            .to_bytes(),
            br#"{"kind":"introduce_answer","id":"i","peer":"k","accept":true,"addresses":[],"kinds":[]}"#
        );
        for bad in [
            &br#"{"kind":"introduce","id":"","peer":"k"}"#[..],
            br#"{"kind":"introduce","id":"i"}"#,
            br#"{"kind":"introduce_answer","id":"i","peer":"k"}"#,
            br#"{"kind":"introduce_result","id":"i","peer":"k"}"#,
        ] {
            assert!(
                Payload::parse(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
