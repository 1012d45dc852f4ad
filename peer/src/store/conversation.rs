//! What a message belongs to and how far it got: the one definition of a conversation (its
//! SQL columns, its UI id and the `chat` payload that carries it, PROTOCOL.md §5 and §9) and of
//! the delivery state of our own messages (PROTOCOL.md §8.1).
//!
//! Both the history (`messages`) and the outbox (`outbox`) use these; keeping them here means
//! neither of those modules needs the other's internals, and the UI id `room:…` or the
//! `room`/`broadcast` fields of a chat are written in exactly one place.

use crypto_core::wire::{Payload, MAX_ID_CHARS};
use crypto_core::PublicKey;
use rusqlite::Row;

use super::key_at;

/// The UI id of the broadcast conversation.
const EVERYONE: &str = "everyone";

/// The UI id prefix of a room.
const ROOM_PREFIX: &str = "room:";

/// Which conversation a message belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Conversation {
    /// The broadcast conversation (UI `"everyone"`).
    Everyone,
    /// The direct conversation with one peer (UI: its `peer_id`).
    Peer(PublicKey),
    /// A room, by room id.
    Room(String),
}

/// Why a UI conversation id was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConversationIdError {
    /// `room:` with an empty or over-long id.
    #[error("bad room id")]
    BadRoomId,
    /// Neither `everyone`, a key nor `room:<id>`.
    #[error("conversation must be \"everyone\", a peer_id or room:<id>")]
    Unknown,
}

impl Conversation {
    /// The id the UI protocol uses: `everyone`, the peer's base64 key, or `room:<id>`.
    pub fn ui_id(&self) -> String {
        match self {
            Self::Everyone => EVERYONE.into(),
            Self::Peer(key) => key.to_base64(),
            Self::Room(id) => room_ui_id(id),
        }
    }

    /// Parses a UI conversation id (the inverse of [`Conversation::ui_id`]).
    pub fn parse_ui_id(text: &str) -> Result<Self, ConversationIdError> {
        if text == EVERYONE {
            return Ok(Self::Everyone);
        }
        if let Some(room) = text.strip_prefix(ROOM_PREFIX) {
            if room.is_empty() || room.chars().count() > MAX_ID_CHARS {
                return Err(ConversationIdError::BadRoomId);
            }
            return Ok(Self::Room(room.to_owned()));
        }
        PublicKey::from_base64(text)
            .map(Self::Peer)
            .map_err(|_| ConversationIdError::Unknown)
    }

    /// The `chat` payload of a message in this conversation: `room` and `broadcast` say where
    /// the receiver files it.
    pub fn chat_payload(
        &self,
        id: &str,
        text: &str,
        sent_at: u64,
        reply_to: Option<&super::MessageKey>,
    ) -> Payload {
        Payload::Chat {
            reply_to: reply_to.map(super::MessageKey::to_wire),
            id: id.to_owned(),
            text: text.to_owned(),
            sent_at,
            room: match self {
                Self::Room(room) => Some(room.clone()),
                _ => None,
            },
            broadcast: *self == Self::Everyone,
        }
    }

    /// Where a received `chat` from `sender` is filed.
    pub fn of_received(sender: PublicKey, room: Option<String>, broadcast: bool) -> Self {
        match room {
            Some(room) => Self::Room(room),
            None if broadcast => Self::Everyone,
            None => Self::Peer(sender),
        }
    }

    /// (kind, id) columns; `Everyone` has the empty id.
    pub(super) fn to_sql(&self) -> (&'static str, String) {
        match self {
            Self::Everyone => ("everyone", String::new()),
            Self::Peer(key) => ("peer", key.to_base64()),
            Self::Room(id) => ("room", id.clone()),
        }
    }

    /// Reads the (kind, id) columns at `kind` and `id`.
    pub(super) fn from_row(row: &Row<'_>, kind: usize, id: usize) -> rusqlite::Result<Self> {
        match row.get_ref(kind)?.as_str()? {
            "peer" => Ok(Self::Peer(key_at(row, id)?)),
            "room" => Ok(Self::Room(row.get(id)?)),
            _ => Ok(Self::Everyone),
        }
    }
}

/// The UI id of room `id` (`room:<id>`), also used by `room` events.
pub fn room_ui_id(id: &str) -> String {
    format!("{ROOM_PREFIX}{id}")
}

/// Delivery state of one recipient, or of a message as a whole (the least advanced of its
/// recipients: "delivered" only when every recipient acknowledged).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Delivery {
    /// Committed, not yet written to a session.
    Queued,
    /// Written to the recipient's session, no `ack` yet.
    Sent,
    /// The recipient acknowledged it.
    Delivered,
}

impl Delivery {
    /// The UI protocol's `delivery.state` string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Sent => "sent",
            Self::Delivered => "delivered",
        }
    }

    /// The state the UI shows for a whole message (PROTOCOL.md §8.1): `delivered` when every
    /// recipient acknowledged, `sent` once any recipient got it, else `queued`. The store's
    /// `aggregate` is the least advanced recipient, so "any recipient got it" is asked
    /// separately (`sent_to_anyone`).
    pub fn shown(aggregate: Option<Delivery>, sent_to_anyone: impl FnOnce() -> bool) -> Delivery {
        match aggregate {
            Some(Self::Queued) | None => {
                if sent_to_anyone() {
                    Self::Sent
                } else {
                    Self::Queued
                }
            }
            Some(state) => state,
        }
    }

    pub(super) fn to_sql(self) -> i64 {
        self as i64
    }

    pub(super) fn from_sql(value: i64) -> Self {
        match value {
            2 => Self::Delivered,
            1 => Self::Sent,
            _ => Self::Queued,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ui_ids_round_trip_and_bad_ones_are_refused() {
        let key = *crypto_core::Identity::generate().public_key();
        for conv in [
            Conversation::Everyone,
            Conversation::Peer(key),
            Conversation::Room("r1".into()),
        ] {
            assert_eq!(Conversation::parse_ui_id(&conv.ui_id()), Ok(conv));
        }
        assert_eq!(
            Conversation::parse_ui_id("room:"),
            Err(ConversationIdError::BadRoomId)
        );
        assert_eq!(
            Conversation::parse_ui_id(&format!("room:{}", "x".repeat(MAX_ID_CHARS + 1))),
            Err(ConversationIdError::BadRoomId)
        );
        assert_eq!(
            Conversation::parse_ui_id("nobody"),
            Err(ConversationIdError::Unknown)
        );
    }

    #[test]
    fn shown_state_is_sent_once_anyone_got_it() {
        assert_eq!(Delivery::shown(None, || false), Delivery::Queued);
        assert_eq!(
            Delivery::shown(Some(Delivery::Queued), || true),
            Delivery::Sent
        );
        assert_eq!(
            Delivery::shown(Some(Delivery::Delivered), || false),
            Delivery::Delivered
        );
    }
}
