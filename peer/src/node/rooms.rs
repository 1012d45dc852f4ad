//! Rooms we create and change: a named set of contacts (and us) with us as its creator,
//! stored, announced to every member with a `room` payload (PROTOCOL.md §5) and shown to every
//! UI. Only the creator changes a room (PROTOCOL.md §8.4): `change_room` works only on our own
//! rooms, and received announcements (handled in `inbound`) are believed only from the stored
//! creator over its own session. A session's rooms we created are re-announced when it comes
//! up (`sending`).

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
    /// No room with this id.
    #[error("no room {0:?}")]
    NoRoom(String),
    /// Someone else created this room; only its creator changes it.
    #[error("only the room's creator can change it")]
    NotCreator,
    /// We cannot remove ourselves from our own room.
    #[error("the creator cannot remove itself")]
    RemoveSelf,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The store thread did not answer.
    #[error(transparent)]
    Unavailable(#[from] StoreUnavailable),
}

/// The `room` event every UI gets; `me` is our key (are we still a member?).
pub(super) fn room_event(room: &store::Room, me: &PublicKey) -> Event {
    Event::Room {
        id: store::room_ui_id(&room.id),
        name: room.name.clone(),
        members: room.members.iter().map(PublicKey::to_base64).collect(),
        creator: room.creator.as_ref().map(PublicKey::to_base64),
        member: room.members.contains(me),
        names: room
            .member_names
            .iter()
            .map(|(k, n)| (k.to_base64(), n.clone()))
            .collect(),
        timer: room.timer_seconds,
    }
}

/// The `room_change` event for one accepted change.
pub(super) fn room_change_event(change: &store::RoomChange) -> Event {
    Event::RoomChange {
        room: store::room_ui_id(&change.room),
        by: change.by.to_base64(),
        at: change.at,
        added: change.added.iter().map(PublicKey::to_base64).collect(),
        removed: change.removed.iter().map(PublicKey::to_base64).collect(),
        name: change.name.clone(),
    }
}

/// The `room` payload announcing `room` to its members, naming its creator.
pub(super) fn room_payload(room: &store::Room) -> Outgoing {
    room_payload_bytes(room).into()
}

/// The announcement names the members it knows names for (PROTOCOL.md §5), so a member who
/// never met another can still say who it is; if the names would not fit in one frame it goes
/// without them (membership is what matters; [`fits`] checks only that).
fn room_payload_bytes(room: &store::Room) -> Vec<u8> {
    let payload = |names: Vec<String>| {
        Payload::Room {
            id: room.id.clone(),
            name: room.name.clone(),
            members: room.members.iter().map(PublicKey::to_base64).collect(),
            creator: room.creator.as_ref().map(PublicKey::to_base64),
            names,
        }
        .to_bytes()
    };
    if room.member_names.is_empty() {
        return payload(Vec::new());
    }
    let names = room
        .members
        .iter()
        .map(|k| room.member_names.get(k).cloned().unwrap_or_default())
        .collect();
    let named = payload(names);
    if named.len() <= MAX_PLAINTEXT_LEN {
        named
    } else {
        payload(Vec::new())
    }
}

/// Whether the announcement of `members` would fit in one frame.
fn fits(id: &str, name: &str, members: &BTreeSet<PublicKey>, me: &PublicKey) -> bool {
    let probe = store::Room {
        id: id.to_owned(),
        name: name.to_owned(),
        members: members.iter().copied().collect(),
        created_at: 0,
        updated_at: 0,
        creator: Some(*me),
        member_names: Default::default(),
        timer_seconds: 0,
    };
    room_payload_bytes(&probe).len() <= MAX_PLAINTEXT_LEN
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
        let id = format!(
            "{:016x}{:016x}",
            rand::random::<u64>(),
            rand::random::<u64>()
        );
        if !fits(&id, &name, &set, &me) {
            return Err(RoomError::TooManyMembers);
        }
        let members: Vec<PublicKey> = set.into_iter().collect();
        let room = self
            .store()
            .call(move |s| -> Result<store::Room, RoomError> {
                for key in &members {
                    if *key != me && s.contact(key)?.is_none() {
                        return Err(RoomError::NotContact(key.to_base64()));
                    }
                }
                Ok(s.create_own_room(&me, &id, &name, &members, now_ms())?)
            })
            .await??;
        let payload = room_payload(&room);
        let event = room_event(&room, &me);
        self.emit(event.clone());
        for key in room.members.iter().filter(|k| **k != me) {
            self.push(key, payload.clone()).await;
        }
        Ok(event)
    }

    /// Changes one of our rooms (`change_room`, PROTOCOL.md §8.1): renames it and/or adds and
    /// removes members, announces the new room to every old and new member (so a removed
    /// member learns it is out) and emits `room_change` and `room`. Nothing differs: no event.
    pub async fn change_room(
        &self,
        id: &str,
        name: Option<&str>,
        add: Vec<PublicKey>,
        remove: Vec<PublicKey>,
    ) -> Result<(), RoomError> {
        let name = match name.map(clean_name) {
            Some(n) if n.is_empty() => return Err(RoomError::NoName),
            other => other,
        };
        let me = self.inner.public;
        if remove.contains(&me) {
            return Err(RoomError::RemoveSelf);
        }
        let id = id.to_owned();
        let changed = self
            .store()
            .call(move |s| -> Result<_, RoomError> {
                let old = s.room(&id)?.ok_or_else(|| RoomError::NoRoom(id.clone()))?;
                let ours = match old.creator {
                    Some(creator) => creator == me,
                    None => old.members.contains(&me),
                };
                if !ours {
                    return Err(RoomError::NotCreator);
                }
                for key in &add {
                    if *key != me && s.contact(key)?.is_none() {
                        return Err(RoomError::NotContact(key.to_base64()));
                    }
                }
                let mut set: BTreeSet<PublicKey> = old.members.iter().copied().collect();
                set.extend(add.iter().copied());
                for key in &remove {
                    set.remove(key);
                }
                let new_name = name.as_deref().unwrap_or(&old.name);
                if !fits(&id, new_name, &set, &me) {
                    return Err(RoomError::TooManyMembers);
                }
                let changed =
                    s.change_own_room(&me, &id, name.as_deref(), &add, &remove, now_ms())?;
                Ok(changed.map(|(room, change)| (old.members, room, change)))
            })
            .await??;
        let Some((old_members, room, change)) = changed else {
            return Ok(());
        };
        self.emit(room_change_event(&change));
        self.emit(room_event(&room, &me));
        let payload = room_payload(&room);
        let told: BTreeSet<PublicKey> = old_members
            .into_iter()
            .chain(room.members.iter().copied())
            .collect();
        for key in told.iter().filter(|k| **k != me) {
            self.push(key, payload.clone()).await;
        }
        Ok(())
    }
}
