//! The peer-to-peer wire protocol v1 (PROTOCOL.md §3–§5): JSON lines, one object per line, and
//! after the handshake binary `data` frames (§4.1).
//!
//! These types are the single definition used by the peer, the wasm package and the tests.

use alloc::borrow::Cow;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use crate::json::{Json, ObjectWriter};
use crate::text::{concat, write_parts, Decimal};

/// A line longer than this ends the connection before it is buffered whole.
pub const MAX_LINE_BYTES: usize = 131_072;

/// First byte of a binary `data` frame (PROTOCOL.md §4.1); no JSON text contains it.
pub const BINARY_FRAME_MARK: u8 = 0x00;

/// Bytes of a binary `data` frame before its ciphertext: the mark and a 16-bit length.
pub const BINARY_FRAME_HEADER: usize = 3;

/// Longest display name accepted in a hello (in characters); longer names are truncated.
pub const MAX_NAME_CHARS: usize = 64;

/// Longest message id accepted.
pub const MAX_ID_CHARS: usize = 64;

/// Longest `emoji` of a `reaction` payload, in UTF-8 bytes (PROTOCOL.md §5): room for one emoji
/// built of several code points (a family, a flag, a skin tone), not for a message.
pub const MAX_EMOJI_BYTES: usize = 32;

/// Largest `chunk_size` a file offer may name (PROTOCOL.md §5.1): with its header and a proof
/// of up to 64 hashes a chunk stays within one transport message.
pub const MAX_CHUNK_SIZE: u32 = 61_440;

/// Smallest `chunk_size` a file offer may name.
pub const MIN_CHUNK_SIZE: u32 = 1_024;

/// Largest file an offer may announce (JSON numbers are exact up to here).
pub const MAX_WIRE_FILE_SIZE: u64 = (1 << 53) - 1;

/// Longest file name an offer may carry, in UTF-8 bytes (receivers clean and shorten it).
pub const MAX_FILE_NAME_BYTES: usize = 1_024;

/// Longest `media_type`; a longer or malformed one is read as `application/octet-stream`.
pub const MAX_MEDIA_TYPE_CHARS: usize = 127;

/// The media type of a file whose type is unknown or malformed.
pub const OCTET_STREAM: &str = "application/octet-stream";

/// Most hashes in a chunk's inclusion proof.
pub const MAX_PROOF_HASHES: usize = 64;

/// Longest `reason` of a `file_cancel`.
pub const MAX_CANCEL_REASON_CHARS: usize = 64;

/// Whether `text` is a media type as PROTOCOL.md §5.1 allows: `type/subtype`, printable ASCII
/// without spaces, at most [`MAX_MEDIA_TYPE_CHARS`].
pub fn is_media_type(text: &str) -> bool {
    text.len() <= MAX_MEDIA_TYPE_CHARS
        && text.bytes().all(|b| b.is_ascii_graphic())
        && matches!(text.split_once('/'), Some((t, sub)) if !t.is_empty() && !sub.is_empty() && !sub.contains('/'))
}

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
    /// The sender reads binary `data` frames (PROTOCOL.md §4.1), so the other side may write
    /// them. Absent (false) in hellos of earlier versions.
    pub binary_frames: bool,
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
        let binary_frames = match json.get("binary_frames") {
            None => false,
            Some(flag) => flag
                .as_bool()
                .ok_or_else(|| malformed("binary_frames must be a boolean"))?,
        };
        let name = optional_string(&mut json, "name")?;
        let agent = optional_string(&mut json, "agent")?;
        Ok(Hello {
            name: clean_name(&name),
            listen_port,
            agent: agent.chars().take(MAX_NAME_CHARS).collect(),
            binary_frames,
        })
    }

    /// The bytes to put in a handshake payload.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = String::new();
        let mut object = ObjectWriter::new(&mut out);
        object
            .string("name", &self.name)
            .number("listen_port", u64::from(self.listen_port))
            .string("agent", &self.agent);
        // Written only when set, so a hello without it is byte for byte an earlier version's.
        if self.binary_frames {
            object.boolean("binary_frames", true);
        }
        object.finish();
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
    /// A file offer (PROTOCOL.md §5.1): acknowledged with `ack` once the receiver holds the
    /// whole file, verified against `sha256` and every chunk against `root`.
    File {
        /// Sender-chosen unique id (chats' id space).
        id: String,
        /// The sender's name for it (receivers clean it before using it).
        name: String,
        /// Bytes.
        size: u64,
        /// The claimed MIME type (a malformed one is read as [`OCTET_STREAM`]).
        media_type: String,
        /// Bytes per chunk, [`MIN_CHUNK_SIZE`]..=[`MAX_CHUNK_SIZE`].
        chunk_size: u32,
        /// SHA-256 of the whole file.
        sha256: [u8; 32],
        /// Merkle tree hash over the chunks (`crate::merkle`).
        root: [u8; 32],
        /// Sender's clock.
        sent_at: u64,
        /// The room it was sent in; absent for a direct conversation.
        room: Option<String>,
    },
    /// Receiver → sender: (re)start the chunks of `file` at byte `offset`, up to `until`.
    FileWant {
        /// The offer's id.
        file: String,
        /// Where to start (a multiple of the chunk size).
        offset: u64,
        /// Send only chunks that start before this.
        until: u64,
    },
    /// Receiver → sender: `offset` bytes are verified and stored; send on up to `until`.
    FileCredit {
        /// The offer's id.
        file: String,
        /// Bytes verified and stored.
        offset: u64,
        /// The new limit.
        until: u64,
    },
    /// Sender → receiver: one chunk with its inclusion proof. On the wire a JSON header, a
    /// 0x00 byte, then the bytes (PROTOCOL.md §5.1).
    FileChunk {
        /// The offer's id.
        file: String,
        /// Which chunk.
        index: u64,
        /// Its inclusion proof, nearest sibling first.
        proof: Vec<[u8; 32]>,
        /// The chunk's bytes.
        data: Vec<u8>,
    },
    /// Either side paused (or resumed) the transfer of `sender`'s file `file`.
    FilePause {
        /// The key that offered the file, base64 (the receiver checks it).
        sender: String,
        /// The offer's id.
        file: String,
        /// Paused now, or resumed.
        paused: bool,
    },
    /// Either side ended the transfer of `sender`'s file `file`, or the receiver refused it.
    FileCancel {
        /// The key that offered the file, base64.
        sender: String,
        /// The offer's id.
        file: String,
        /// Why (`cancelled`, `quota`, `verification`, …; PROTOCOL.md §5.1).
        reason: String,
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
    /// The sender started (`active`) or stopped typing in the direct conversation with the
    /// receiver, or in `room` (PROTOCOL.md §5, §8.10). No `id`: never acknowledged, never
    /// stored; a receiver that does not show typing ignores it.
    Typing {
        /// True: typing now (repeated at most every few seconds while it lasts); false: stopped.
        active: bool,
        /// The room it is typing in; absent for the direct conversation.
        room: Option<String>,
    },
    /// The sender has read the receiver's messages up to and including the receiver's own
    /// message `msg_id` (PROTOCOL.md §5, §8.10). It names only the receiver's messages, whose
    /// ids the receiver chose, so it needs no sender and no conversation. No `id`: never
    /// acknowledged.
    Read {
        /// The newest of the receiver's messages the sender has read, 1-64 characters.
        msg_id: String,
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
        match parse_object(plaintext) {
            Ok(json) => Self::from_object(json),
            Err(e) => {
                let at = chunk_header_end(plaintext).ok_or(e)?;
                let (file, index, proof) = parse_chunk_header(&plaintext[..at])?;
                chunk(file, index, proof, plaintext[at + 1..].to_vec())
            }
        }
    }

    /// Parses like [`Payload::parse`], but a chunk keeps `plaintext`'s allocation for its bytes
    /// (the header is moved out in place) instead of copying them into a new one.
    pub fn parse_owned(mut plaintext: Vec<u8>) -> Result<Self, FrameError> {
        let at = match parse_object(&plaintext) {
            Ok(json) => return Self::from_object(json),
            Err(e) => chunk_header_end(&plaintext).ok_or(e)?,
        };
        let (file, index, proof) = parse_chunk_header(&plaintext[..at])?;
        plaintext.drain(..=at);
        chunk(file, index, proof, plaintext)
    }

    /// Everything but a chunk: a JSON object with its `kind`.
    fn from_object(mut json: Json<'_>) -> Result<Self, FrameError> {
        let kind = take_string(&mut json, "kind")?;
        if kind == "keepalive" {
            return Ok(Payload::Keepalive);
        }
        if let Some(control) = parse_file_control(&kind, &mut json)? {
            return Ok(control);
        }
        if kind == "name" {
            return Ok(Payload::Name {
                name: take_string(&mut json, "name")?.into_owned(),
            });
        }
        if kind == "typing" {
            return parse_typing(&mut json);
        }
        if kind == "read" {
            let msg_id = take_string(&mut json, "msg_id")?.into_owned();
            if msg_id.is_empty() || msg_id.chars().count() > MAX_ID_CHARS {
                return Err(malformed("msg_id must be 1-64 characters"));
            }
            return Ok(Payload::Read { msg_id });
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
            "file" => parse_offer(id, &mut json)?,
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
            | Payload::File { id, .. }
            | Payload::Introduce { id, .. }
            | Payload::Introduction { id, .. }
            | Payload::IntroduceAnswer { id, .. }
            | Payload::IntroduceResult { id, .. } => id,
            Payload::Keepalive
            | Payload::Name { .. }
            | Payload::Addresses { .. }
            | Payload::Typing { .. }
            | Payload::Read { .. }
            | Payload::FileWant { .. }
            | Payload::FileCredit { .. }
            | Payload::FileChunk { .. }
            | Payload::FilePause { .. }
            | Payload::FileCancel { .. } => return Ok(payload),
        };
        if id.is_empty() || id.chars().count() > MAX_ID_CHARS {
            return Err(FrameError::Malformed(
                "message id must be 1-64 characters".into(),
            ));
        }
        Ok(payload)
    }

    /// The bytes to seal: JSON, or for a chunk its header, 0x00 and the bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        if let Payload::FileChunk {
            file,
            index,
            proof,
            data,
        } = self
        {
            return chunk_bytes(file, *index, proof, data);
        }
        let mut out = String::new();
        let mut object = ObjectWriter::new(&mut out);
        match self {
            Payload::FileChunk { .. } => {}
            Payload::File {
                id,
                name,
                size,
                media_type,
                chunk_size,
                sha256,
                root,
                sent_at,
                room,
            } => {
                object
                    .string("kind", "file")
                    .string("id", id)
                    .string("name", name)
                    .number("size", *size)
                    .string("media_type", media_type)
                    .number("chunk_size", u64::from(*chunk_size))
                    .string("sha256", &crate::encoding::to_base64(sha256))
                    .string("root", &crate::encoding::to_base64(root))
                    .number("sent_at", *sent_at);
                if let Some(room) = room {
                    object.string("room", room);
                }
            }
            Payload::FileWant {
                file,
                offset,
                until,
            } => {
                object
                    .string("kind", "file_want")
                    .string("file", file)
                    .number("offset", *offset)
                    .number("until", *until);
            }
            Payload::FileCredit {
                file,
                offset,
                until,
            } => {
                object
                    .string("kind", "file_credit")
                    .string("file", file)
                    .number("offset", *offset)
                    .number("until", *until);
            }
            Payload::FilePause {
                sender,
                file,
                paused,
            } => {
                object
                    .string("kind", "file_pause")
                    .string("sender", sender)
                    .string("file", file)
                    .boolean("paused", *paused);
            }
            Payload::FileCancel {
                sender,
                file,
                reason,
            } => {
                object
                    .string("kind", "file_cancel")
                    .string("sender", sender)
                    .string("file", file)
                    .string("reason", reason);
            }
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
            Payload::Typing { active, room } => {
                object.string("kind", "typing").boolean("active", *active);
                if let Some(room) = room {
                    object.string("room", room);
                }
            }
            Payload::Read { msg_id } => {
                object.string("kind", "read").string("msg_id", msg_id);
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

/// The fields of a `typing` payload: `active` (a boolean) and an optional `room` id of 1-64
/// characters.
fn parse_typing(json: &mut Json<'_>) -> Result<Payload, FrameError> {
    let active = match json.take("active") {
        Some(Json::Bool(active)) => active,
        _ => return Err(malformed("active must be a boolean")),
    };
    let room = match json.take("room") {
        None | Some(Json::Null) => None,
        Some(Json::String(room)) if !room.is_empty() && room.chars().count() <= MAX_ID_CHARS => {
            Some(room.into_owned())
        }
        Some(_) => return Err(malformed("room must be a string of 1-64 characters")),
    };
    Ok(Payload::Typing { active, room })
}

/// The bytes of a `file_chunk`: its JSON header, 0x00, then `data` (PROTOCOL.md §5.1).
pub fn chunk_bytes(file: &str, index: u64, proof: &[[u8; 32]], data: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(64 + proof.len() * 47 + data.len());
    chunk_header_into(file, index, proof, &mut bytes);
    bytes.extend_from_slice(data);
    bytes
}

/// Appends a `file_chunk`'s JSON header and its 0x00 to `out`: the chunk's bytes go right
/// after (a sender may read them from its file straight into place).
pub fn chunk_header_into(file: &str, index: u64, proof: &[[u8; 32]], out: &mut Vec<u8>) {
    let mut header = String::with_capacity(64 + proof.len() * 47);
    ObjectWriter::new(&mut header)
        .string("kind", "file_chunk")
        .string("file", file)
        .number("index", index)
        .raw("proof", |out| {
            out.push('[');
            for (i, hash) in proof.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push('"');
                crate::encoding::to_base64_into(hash, out);
                out.push('"');
            }
            out.push(']');
        })
        .finish();
    out.extend_from_slice(header.as_bytes());
    out.push(0);
}

/// A file id (`file` of the file payloads): 1-64 characters, like a message id.
fn file_id(json: &mut Json<'_>) -> Result<String, FrameError> {
    let file = take_string(json, "file")?.into_owned();
    if file.is_empty() || file.chars().count() > MAX_ID_CHARS {
        return Err(malformed("file must be 1-64 characters"));
    }
    Ok(file)
}

fn number(json: &Json<'_>, key: &'static str) -> Result<u64, FrameError> {
    json[key]
        .as_u64()
        .ok_or_else(|| FrameError::Malformed(concat(&[key, " must be a non-negative integer"])))
}

/// A base64 SHA-256 value.
fn hash32(text: &str) -> Result<[u8; 32], FrameError> {
    crate::encoding::from_base64(text)
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(|| malformed("a hash must be base64 of 32 bytes"))
}

/// The file payloads without an `id` (`file_want`, `file_credit`, `file_pause`,
/// `file_cancel`); `None` for any other kind.
fn parse_file_control(kind: &str, json: &mut Json<'_>) -> Result<Option<Payload>, FrameError> {
    Ok(Some(match kind {
        "file_want" | "file_credit" => {
            let file = file_id(json)?;
            let offset = number(json, "offset")?;
            let until = number(json, "until")?;
            if kind == "file_want" {
                Payload::FileWant {
                    file,
                    offset,
                    until,
                }
            } else {
                Payload::FileCredit {
                    file,
                    offset,
                    until,
                }
            }
        }
        "file_pause" => Payload::FilePause {
            sender: take_string(json, "sender")?.into_owned(),
            file: file_id(json)?,
            paused: json["paused"]
                .as_bool()
                .ok_or_else(|| malformed("paused must be a boolean"))?,
        },
        "file_cancel" => {
            let reason = take_string(json, "reason")?.into_owned();
            if reason.chars().count() > MAX_CANCEL_REASON_CHARS {
                return Err(malformed("reason must be at most 64 characters"));
            }
            Payload::FileCancel {
                sender: take_string(json, "sender")?.into_owned(),
                file: file_id(json)?,
                reason,
            }
        }
        "file_chunk" => return Err(malformed("a file_chunk carries its bytes after a 0x00")),
        _ => return Ok(None),
    }))
}

/// The fields of a `file` offer after its `id`.
fn parse_offer(id: String, json: &mut Json<'_>) -> Result<Payload, FrameError> {
    let name = take_string(json, "name")?.into_owned();
    if name.is_empty() || name.len() > MAX_FILE_NAME_BYTES {
        return Err(malformed("name must be 1-1024 bytes"));
    }
    let size = number(json, "size")?;
    if size > MAX_WIRE_FILE_SIZE {
        return Err(malformed("size must be below 2^53"));
    }
    let media_type = take_string(json, "media_type")?;
    let media_type = if is_media_type(&media_type) {
        media_type.into_owned()
    } else {
        OCTET_STREAM.into()
    };
    let chunk_size = u32::try_from(number(json, "chunk_size")?)
        .ok()
        .filter(|c| (MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(c))
        .ok_or_else(|| malformed("chunk_size must be 1024-61440"))?;
    Ok(Payload::File {
        id,
        name,
        size,
        media_type,
        chunk_size,
        sha256: hash32(&take_string(json, "sha256")?)?,
        root: hash32(&take_string(json, "root")?)?,
        sent_at: number(json, "sent_at")?,
        room: match json.take("room") {
            None | Some(Json::Null) => None,
            Some(Json::String(room)) => Some(room.into_owned()),
            Some(_) => return Err(malformed("room must be a string")),
        },
    })
}

/// Where a chunk's JSON header ends (PROTOCOL.md §5.1: a JSON header, 0x00, then bytes).
/// JSON itself never holds a raw 0x00, so the first one ends the header; asked only of a
/// payload that did not parse as JSON.
fn chunk_header_end(plaintext: &[u8]) -> Option<usize> {
    plaintext.iter().position(|b| *b == 0)
}

/// A `file_chunk`'s JSON header: the offer's id, the chunk's index and its proof.
fn parse_chunk_header(header: &[u8]) -> Result<(String, u64, Vec<[u8; 32]>), FrameError> {
    let mut json = parse_object(header)?;
    if take_string(&mut json, "kind")? != "file_chunk" {
        return Err(malformed("only a file_chunk carries bytes after its JSON"));
    }
    let file = file_id(&mut json)?;
    let index = number(&json, "index")?;
    let proof = json["proof"]
        .as_array()
        .filter(|p| p.len() <= MAX_PROOF_HASHES)
        .ok_or_else(|| malformed("proof must be an array of at most 64 hashes"))?
        .iter()
        .map(|h| {
            h.as_str()
                .ok_or_else(|| malformed("proof hashes must be strings"))
                .and_then(hash32)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((file, index, proof))
}

/// A `file_chunk` from its parsed header and the bytes after the 0x00.
fn chunk(
    file: String,
    index: u64,
    proof: Vec<[u8; 32]>,
    data: Vec<u8>,
) -> Result<Payload, FrameError> {
    if data.len() > MAX_CHUNK_SIZE as usize {
        return Err(malformed("a chunk holds at most 61440 bytes"));
    }
    Ok(Payload::FileChunk {
        file,
        index,
        proof,
        data,
    })
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
        assert!(!hello.binary_frames, "absent in an earlier version's hello");
    }

    #[test]
    fn a_hello_says_whether_its_sender_reads_binary_frames() {
        let mut hello = Hello {
            name: "alice".into(),
            listen_port: 6000,
            agent: AGENT.into(),
            binary_frames: false,
        };
        let plain = hello.to_bytes();
        assert!(
            !plain.windows(6).any(|w| w == b"binary"),
            "not written when unset"
        );
        assert_eq!(Hello::parse(&plain).unwrap(), hello);
        hello.binary_frames = true;
        let bytes = hello.to_bytes();
        assert!(bytes.ends_with(br#","binary_frames":true}"#));
        assert_eq!(Hello::parse(&bytes).unwrap(), hello);
        assert!(Hello::parse(br#"{"binary_frames":1}"#).is_err());
    }

    #[test]
    fn typing_and_read_receipts_round_trip_and_are_bounded() {
        for (payload, bytes) in [
            (
                Payload::Typing {
                    active: true,
                    room: None,
                },
                &br#"{"kind":"typing","active":true}"#[..],
            ),
            (
                Payload::Typing {
                    active: false,
                    room: Some("r1".into()),
                },
                br#"{"kind":"typing","active":false,"room":"r1"}"#,
            ),
            (
                Payload::Read {
                    msg_id: "m9".into(),
                },
                br#"{"kind":"read","msg_id":"m9"}"#,
            ),
        ] {
            assert_eq!(payload.to_bytes(), bytes);
            assert_eq!(Payload::parse(bytes).unwrap(), payload);
        }
        let long_room = alloc::format!(
            r#"{{"kind":"typing","active":true,"room":"{}"}}"#,
            "r".repeat(MAX_ID_CHARS + 1)
        );
        let long_id = alloc::format!(
            r#"{{"kind":"read","msg_id":"{}"}}"#,
            "m".repeat(MAX_ID_CHARS + 1)
        );
        for bad in [
            &br#"{"kind":"typing"}"#[..],
            br#"{"kind":"typing","active":1}"#,
            br#"{"kind":"typing","active":true,"room":""}"#,
            br#"{"kind":"typing","active":true,"room":5}"#,
            long_room.as_bytes(),
            br#"{"kind":"read"}"#,
            br#"{"kind":"read","msg_id":""}"#,
            br#"{"kind":"read","msg_id":7}"#,
            long_id.as_bytes(),
        ] {
            assert!(
                matches!(Payload::parse(bad), Err(FrameError::Malformed(_))),
                "{}",
                core::str::from_utf8(bad).unwrap()
            );
        }
    }

    #[test]
    fn file_payloads_round_trip_and_are_bounded() {
        let offer = Payload::File {
            id: "f1".into(),
            name: "cat.png".into(),
            size: 70_000,
            media_type: "image/png".into(),
            chunk_size: MAX_CHUNK_SIZE,
            sha256: [7; 32],
            root: [9; 32],
            sent_at: 5,
            room: Some("r".into()),
        };
        let bytes = offer.to_bytes();
        assert!(bytes.starts_with(br#"{"kind":"file","id":"f1","name":"cat.png","size":70000,"media_type":"image/png","chunk_size":61440,"sha256":"BwcH"#));
        assert_eq!(Payload::parse(&bytes).unwrap(), offer);
        for control in [
            Payload::FileWant {
                file: "f1".into(),
                offset: 0,
                until: 2 << 20,
            },
            Payload::FileCredit {
                file: "f1".into(),
                offset: 61_440,
                until: 3 << 20,
            },
            Payload::FilePause {
                sender: "k".into(),
                file: "f1".into(),
                paused: true,
            },
            Payload::FileCancel {
                sender: "k".into(),
                file: "f1".into(),
                reason: "quota".into(),
            },
        ] {
            assert_eq!(Payload::parse(&control.to_bytes()).unwrap(), control);
            assert_eq!(Payload::parse_owned(control.to_bytes()).unwrap(), control);
        }
        // A chunk: JSON header, 0x00, bytes (which may hold anything, 0x00 and newlines too).
        let chunk = Payload::FileChunk {
            file: "f1".into(),
            index: 1,
            proof: alloc::vec![[1; 32], [2; 32]],
            data: alloc::vec![0, 10, 255, 0, b'{'],
        };
        let bytes = chunk.to_bytes();
        let header_end = bytes.iter().position(|b| *b == 0).unwrap();
        assert_eq!(
            &bytes[..header_end],
            br#"{"kind":"file_chunk","file":"f1","index":1,"proof":["AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=","AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI="]}"#
        );
        assert_eq!(Payload::parse(&bytes).unwrap(), chunk);
        assert_eq!(Payload::parse_owned(bytes.clone()).unwrap(), chunk);
        // A malformed media type is read as octet-stream; the rest must be in range.
        let odd = offer_json("\"text/html; x=1\"", "61440", "70000");
        assert!(matches!(
            Payload::parse(odd.as_bytes()),
            Ok(Payload::File { media_type, .. }) if media_type == OCTET_STREAM
        ));
        for bad in [
            offer_json("\"a/b\"", "1023", "1"),
            offer_json("\"a/b\"", "61441", "1"),
            offer_json("\"a/b\"", "4096", "9007199254740992"),
            offer_json("5", "4096", "1"),
        ] {
            assert!(Payload::parse(bad.as_bytes()).is_err(), "{bad}");
        }
        for bad in [
            &br#"{"kind":"file_chunk","file":"f","index":0,"proof":[]}"#[..],
            b"{\"kind\":\"chat\",\"id\":\"x\",\"text\":\"t\",\"sent_at\":1}\0abc",
            b"{\"kind\":\"file_chunk\",\"file\":\"f\",\"index\":0,\"proof\":[\"AA==\"]}\0abc",
            b"{\"kind\":\"file_chunk\",\"file\":\"\",\"index\":0,\"proof\":[]}\0abc",
            br#"{"kind":"file_want","file":"f","offset":-1,"until":0}"#,
            br#"{"kind":"file_pause","sender":"k","file":"f","paused":1}"#,
        ] {
            assert!(
                Payload::parse(bad).is_err(),
                "{:?}",
                core::str::from_utf8(bad)
            );
            assert!(Payload::parse_owned(bad.to_vec()).is_err());
        }
        let mut long = Vec::from(&br#"{"kind":"file_chunk","file":"f","index":0,"proof":[]}"#[..]);
        long.push(0);
        long.extend(core::iter::repeat_n(1, MAX_CHUNK_SIZE as usize + 1));
        assert!(
            Payload::parse(&long).is_err(),
            "a chunk longer than the largest chunk size"
        );
        assert!(Payload::parse_owned(long).is_err());
        assert!(is_media_type("image/svg+xml"));
        assert!(!is_media_type("image"));
        assert!(!is_media_type("a/b/c"));
    }

    fn offer_json(media_type: &str, chunk_size: &str, size: &str) -> String {
        alloc::format!(
            r#"{{"kind":"file","id":"f","name":"n","size":{size},"media_type":{media_type},"chunk_size":{chunk_size},"sha256":"{h}","root":"{h}","sent_at":1}}"#,
            h = crate::encoding::to_base64(&[0; 32])
        )
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
