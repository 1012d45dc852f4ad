//! Rooms (group chat): a name and a full member list, shared by announcing it (`room`
//! payload, PROTOCOL §5) to every member.
//!
//! A received announcement is only believed from someone entitled to make it: the sender must
//! be in the announced membership, and, for a room we already know, in the current one. Without
//! that check any peer could rename a room or add itself by reusing a room id it has seen.

use std::collections::BTreeSet;

use crypto_core::PublicKey;
use rusqlite::{params, Connection, OptionalExtension};

use super::error::{Result, StoreError};
use super::{from_sql_time, key_at, to_sql_time, Store};

/// A room as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Room {
    /// Creator-chosen id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Every member, ourselves included, ordered by key.
    pub members: Vec<PublicKey>,
    /// When we first stored it, Unix ms.
    pub created_at: u64,
    /// When its name or membership last changed, Unix ms.
    pub updated_at: u64,
}

/// What [`Store::upsert_room_from`] did with an announcement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoomUpdate {
    /// A room we did not know.
    Created,
    /// Name or membership changed.
    Updated,
    /// Same as stored (announcements are repeated; nothing to tell the UI).
    Unchanged,
    /// The sender may not announce this room (not a member); nothing was stored.
    Refused,
}

fn load(tx: &rusqlite::Connection, id: &str) -> Result<Option<Room>> {
    let head = tx
        .query_row(
            "SELECT name, created_at, updated_at FROM rooms WHERE id = ?1",
            [id],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            },
        )
        .optional()?;
    let Some((name, created_at, updated_at)) = head else {
        return Ok(None);
    };
    let mut stmt =
        tx.prepare_cached("SELECT member FROM room_members WHERE room = ?1 ORDER BY member")?;
    let members = stmt
        .query_map([id], |r| key_at(r, 0))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(Some(Room {
        id: id.to_owned(),
        name,
        members,
        created_at: from_sql_time(created_at),
        updated_at: from_sql_time(updated_at),
    }))
}

/// Replaces the membership of `id` with `members`.
fn write_members(tx: &Connection, id: &str, members: &BTreeSet<PublicKey>) -> Result<()> {
    tx.execute("DELETE FROM room_members WHERE room = ?1", [id])?;
    let mut stmt = tx.prepare_cached("INSERT INTO room_members (room, member) VALUES (?1, ?2)")?;
    for key in members {
        stmt.execute(params![id, key.to_base64()])?;
    }
    Ok(())
}

fn validate(id: &str, members: &[PublicKey]) -> Result<BTreeSet<PublicKey>> {
    if id.is_empty() || id.chars().count() > crypto_core::wire::MAX_ID_CHARS {
        return Err(StoreError::Invalid(
            "room id must be 1-64 characters".into(),
        ));
    }
    let set: BTreeSet<PublicKey> = members.iter().copied().collect();
    if set.is_empty() {
        return Err(StoreError::Invalid(
            "a room needs at least one member".into(),
        ));
    }
    Ok(set)
}

impl Store {
    /// Creates a room from our UI. `members` should include our own key (the `room` payload
    /// lists everyone). Refuses an id already in use.
    pub fn create_room(
        &mut self,
        id: &str,
        name: &str,
        members: &[PublicKey],
        now: u64,
    ) -> Result<Room> {
        let set = validate(id, members)?;
        let tx = self.conn.savepoint()?;
        let inserted = tx.execute(
            "INSERT INTO rooms (id, name, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)
             ON CONFLICT (id) DO NOTHING",
            params![id, name, to_sql_time(now)],
        )?;
        if inserted == 0 {
            return Err(StoreError::Duplicate(format!("room {id:?}")));
        }
        write_members(&tx, id, &set)?;
        let room = load(&tx, id)?.ok_or_else(|| StoreError::Invalid("room vanished".into()))?;
        tx.commit()?;
        Ok(room)
    }

    /// Applies a `room` announcement received from `sender` (see the module docs for who may
    /// announce). The membership is replaced, not merged: the payload carries the full list.
    pub fn upsert_room_from(
        &mut self,
        sender: &PublicKey,
        id: &str,
        name: &str,
        members: &[PublicKey],
        now: u64,
    ) -> Result<RoomUpdate> {
        let set = validate(id, members)?;
        if !set.contains(sender) {
            return Ok(RoomUpdate::Refused);
        }
        let tx = self.conn.savepoint()?;
        let update = match load(&tx, id)? {
            Some(old) if !old.members.contains(sender) => RoomUpdate::Refused,
            Some(old) if old.name == name && old.members.iter().eq(set.iter()) => {
                RoomUpdate::Unchanged
            }
            Some(_) => {
                tx.execute(
                    "UPDATE rooms SET name = ?2, updated_at = ?3 WHERE id = ?1",
                    params![id, name, to_sql_time(now)],
                )?;
                write_members(&tx, id, &set)?;
                RoomUpdate::Updated
            }
            None => {
                tx.execute(
                    "INSERT INTO rooms (id, name, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)",
                    params![id, name, to_sql_time(now)],
                )?;
                write_members(&tx, id, &set)?;
                RoomUpdate::Created
            }
        };
        tx.commit()?;
        Ok(update)
    }

    /// One room with its members.
    pub fn room(&self, id: &str) -> Result<Option<Room>> {
        load(&self.conn, id)
    }

    /// Every room, by name.
    pub fn list_rooms(&self) -> Result<Vec<Room>> {
        let ids: Vec<String> = {
            let mut stmt = self
                .conn
                .prepare("SELECT id FROM rooms ORDER BY name COLLATE NOCASE, id")?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        let mut rooms = Vec::with_capacity(ids.len());
        for id in ids {
            rooms.extend(load(&self.conn, &id)?);
        }
        Ok(rooms)
    }

    /// Members of a room (empty if the room is unknown), ordered by key.
    pub fn room_members(&self, id: &str) -> Result<Vec<PublicKey>> {
        Ok(load(&self.conn, id)?.map(|r| r.members).unwrap_or_default())
    }

    /// Whether `key` is a member of room `id`: check it before accepting a room message.
    pub fn is_room_member(&self, id: &str, key: &PublicKey) -> Result<bool> {
        Ok(self
            .conn
            .prepare_cached("SELECT 1 FROM room_members WHERE room = ?1 AND member = ?2")?
            .query_row(params![id, key.to_base64()], |_| Ok(()))
            .optional()?
            .is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::super::contacts::tests::key;
    use super::*;

    #[test]
    fn create_list_and_members() {
        let mut s = Store::open_in_memory().unwrap();
        let room = s
            .create_room("r1", "Team", &[key(3), key(1), key(3)], 10)
            .unwrap();
        assert_eq!(room.members, vec![key(1), key(3)], "deduplicated, ordered");
        assert_eq!((room.created_at, room.updated_at), (10, 10));
        s.create_room("r0", "alpha", &[key(1)], 11).unwrap();
        let names: Vec<_> = s
            .list_rooms()
            .unwrap()
            .into_iter()
            .map(|r| r.name)
            .collect();
        assert_eq!(names, ["alpha", "Team"]);
        assert!(s.is_room_member("r1", &key(3)).unwrap());
        assert!(!s.is_room_member("r1", &key(2)).unwrap());
        assert!(s.room_members("nope").unwrap().is_empty());
        assert_eq!(s.room("r1").unwrap(), Some(room));
    }

    #[test]
    fn create_refuses_taken_ids_bad_ids_and_empty_rooms() {
        let mut s = Store::open_in_memory().unwrap();
        s.create_room("r", "a", &[key(1)], 1).unwrap();
        assert!(matches!(
            s.create_room("r", "b", &[key(2)], 2),
            Err(StoreError::Duplicate(_))
        ));
        assert_eq!(s.room_members("r").unwrap(), vec![key(1)], "untouched");
        assert!(matches!(
            s.create_room("", "x", &[key(1)], 1),
            Err(StoreError::Invalid(_))
        ));
        assert!(matches!(
            s.create_room("e", "x", &[], 1),
            Err(StoreError::Invalid(_))
        ));
    }

    #[test]
    fn announcements_create_update_and_repeat() {
        let mut s = Store::open_in_memory().unwrap();
        let members = [key(1), key(2)];
        assert_eq!(
            s.upsert_room_from(&key(2), "r", "n", &members, 5).unwrap(),
            RoomUpdate::Created
        );
        assert_eq!(
            s.upsert_room_from(&key(1), "r", "n", &members, 6).unwrap(),
            RoomUpdate::Unchanged
        );
        let grown = [key(1), key(2), key(3)];
        assert_eq!(
            s.upsert_room_from(&key(1), "r", "n2", &grown, 7).unwrap(),
            RoomUpdate::Updated
        );
        let room = s.room("r").unwrap().unwrap();
        assert_eq!((room.name.as_str(), room.members.len()), ("n2", 3));
        assert_eq!((room.created_at, room.updated_at), (5, 7));
        // Shrinking is a full replacement too.
        assert_eq!(
            s.upsert_room_from(&key(3), "r", "n2", &[key(3), key(1)], 8)
                .unwrap(),
            RoomUpdate::Updated
        );
        assert_eq!(s.room_members("r").unwrap(), vec![key(1), key(3)]);
    }

    #[test]
    fn outsiders_cannot_announce_or_hijack_a_room() {
        let mut s = Store::open_in_memory().unwrap();
        // Sender not in the membership it announces.
        assert_eq!(
            s.upsert_room_from(&key(9), "r", "n", &[key(1)], 1).unwrap(),
            RoomUpdate::Refused
        );
        assert_eq!(s.room("r").unwrap(), None);
        s.create_room("r", "ours", &[key(0), key(1)], 2).unwrap();
        // A non-member reusing the id and listing itself is refused.
        let grab = [key(0), key(1), key(9)];
        assert_eq!(
            s.upsert_room_from(&key(9), "r", "mine", &grab, 3).unwrap(),
            RoomUpdate::Refused
        );
        assert_eq!(s.room("r").unwrap().unwrap().name, "ours");
    }
}
