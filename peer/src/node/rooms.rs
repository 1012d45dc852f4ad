//! Rooms we create: a named set of contacts (and us), stored, announced to every member with
//! a `room` payload (PROTOCOL.md §5) and shown to every UI. Received announcements are handled
//! in `inbound`; a session's rooms are re-announced when it comes up (`sending`). Who may
//! change a room (room authority) belongs here.

use std::collections::BTreeSet;

use crypto_core::noise::MAX_PLAINTEXT_LEN;
use crypto_core::wire::{clean_name, Payload};
use crypto_core::PublicKey;

use super::Node;
use crate::event::{now_ms, Event};
use crate::persist::StoreUnavailable;
use crate::session::Outgoing;
use crate::store::{self, StoreError};

/// Why a room was not created.
#[derive(Debug, thiserror::Error)]
pub enum RoomError {
    /// The name is empty once cleaned.
    #[error("a room needs a name")]
    NoName,
    /// A member is not one of our contacts (base64 key).
    #[error("{0} is not a contact")]
    NotContact(String),
    /// The announcement would not fit in one frame.
    #[error("too many members for one announcement")]
    TooManyMembers,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The store thread did not answer.
    #[error(transparent)]
    Unavailable(#[from] StoreUnavailable),
}

/// The `room` event every UI gets.
pub(super) fn room_event(room: &store::Room) -> Event {
    Event::Room {
        id: store::room_ui_id(&room.id),
        name: room.name.clone(),
        members: room.members.iter().map(PublicKey::to_base64).collect(),
    }
}

/// The `room` payload announcing `room` to its members.
pub(super) fn room_payload(room: &store::Room) -> Outgoing {
    Payload::Room {
        id: room.id.clone(),
        name: room.name.clone(),
        members: room.members.iter().map(PublicKey::to_base64).collect(),
    }
    .to_bytes()
    .into()
}

impl Node {
    /// Creates a room with these contacts (and us), announces it and tells every UI.
    pub async fn create_room(
        &self,
        name: &str,
        members: Vec<PublicKey>,
    ) -> Result<Event, RoomError> {
        let name = clean_name(name);
        if name.is_empty() {
            return Err(RoomError::NoName);
        }
        let me = self.inner.public;
        let mut set: BTreeSet<PublicKey> = members.into_iter().collect();
        set.insert(me);
        let members: Vec<PublicKey> = set.into_iter().collect();
        let id = format!(
            "{:016x}{:016x}",
            rand::random::<u64>(),
            rand::random::<u64>()
        );
        let room = self
            .store()
            .call(move |s| -> Result<store::Room, RoomError> {
                for key in &members {
                    if *key != me && s.contact(key)?.is_none() {
                        return Err(RoomError::NotContact(key.to_base64()));
                    }
                }
                Ok(s.create_room(&id, &name, &members, now_ms())?)
            })
            .await??;
        let payload = room_payload(&room);
        if payload.len() > MAX_PLAINTEXT_LEN {
            return Err(RoomError::TooManyMembers);
        }
        let event = room_event(&room);
        self.emit(event.clone());
        for key in room.members.iter().filter(|k| **k != me) {
            self.push(key, payload.clone()).await;
        }
        Ok(event)
    }
}
