//! Rooms (group chat): a name, a full member list and a creator, shared by announcing it
//! (`room` payload, PROTOCOL.md §5) to every member.
//!
//! PROTOCOL.md §8.4: X25519 keys cannot sign, so what the creator says is believed only when
//! the creator says it itself, over its own session. [`Store::apply_room_announcement`] takes
//! a room we do not know only from its creator, a contact, listing itself and us; a room we
//! know changes only by its stored creator; every accepted change is recorded with its diff
//! ([`RoomChange`]) for the room's timeline, so a member's view never grows silently.
//!
//! **Rooms from before schema version 3** have no recorded creator (`creator` NULL): that
//! version stored neither who created a room nor who announced it. Such a room's creator is
//! fixed by the first change accepted after the upgrade: a `room` payload from a contact who
//! is a current member and names itself creator (in the earlier protocol only the creator ever
//! announced a room), or a change our own user makes ([`Store::change_own_room`]). From then on
//! only that key changes it.

use std::collections::{BTreeMap, BTreeSet};

use crypto_core::PublicKey;
use rusqlite::{params, Connection, OptionalExtension};

use super::error::{Result, StoreError};
use super::{from_sql_time, key_at, opt_key_at, to_sql_time, Store};

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
    /// The key allowed to change it; `None` for a room from before schema version 3 whose
    /// creator is not fixed yet (module docs).
    pub creator: Option<PublicKey>,
    /// Members' display names, where known: the name a contact announced for itself, else the
    /// one the room's creator gave it (display only, never an identity). Members with no
    /// known name are absent.
    pub member_names: BTreeMap<PublicKey, String>,
    /// The room's disappearing-message timer in seconds; 0 = off (`timers.rs`).
    pub timer_seconds: u64,
}

/// One accepted change of a room, for its timeline (`room_change` in PROTOCOL.md §8.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomChange {
    /// Row id, increasing.
    pub id: i64,
    /// The room.
    pub room: String,
    /// The creator who made it.
    pub by: PublicKey,
    /// When we applied it, Unix ms.
    pub at: u64,
    /// The newest message `seq` when it was applied: it goes after that message in history.
    pub after_seq: i64,
    /// Members added, ordered by key.
    pub added: Vec<PublicKey>,
    /// Members removed, ordered by key.
    pub removed: Vec<PublicKey>,
    /// The new name, if it changed.
    pub name: Option<String>,
}

/// Why [`Store::apply_room_announcement`] ignored an announcement (log it; tell nobody).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoomIgnored {
    /// A room we do not know that does not list us.
    NotListed,
    /// The sender does not list itself.
    SenderNotListed,
    /// The sender is not the room's (stored or claimed) creator.
    NotCreator,
    /// The sender is not a contact (a stranger's room never creates one).
    NotAContact,
    /// We were removed from this room; it is read-only.
    NoLongerMember,
}

/// What [`Store::apply_room_announcement`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomAnnouncement {
    /// A room we did not know, now stored.
    Created(Room),
    /// The creator changed name or membership; emit `room_change` and `room`.
    Changed {
        /// The room after the change.
        room: Room,
        /// The change, as recorded for the timeline.
        change: RoomChange,
    },
    /// Same as stored: emit nothing.
    Unchanged,
    /// Not believed; nothing was stored.
    Ignored(RoomIgnored),
}

/// Names of former members kept per room (for its timeline); the least recently named go first.
pub const MAX_FORMER_NAMES: i64 = 256;

/// Changes kept per room for its timeline; the oldest go first.
pub const MAX_ROOM_CHANGES: i64 = 1000;

fn load(tx: &rusqlite::Connection, id: &str) -> Result<Option<Room>> {
    let head = tx
        .query_row(
            "SELECT name, created_at, updated_at, creator FROM rooms WHERE id = ?1",
            [id],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                    opt_key_at(r, 3)?,
                ))
            },
        )
        .optional()?;
    let Some((name, created_at, updated_at, creator)) = head else {
        return Ok(None);
    };
    // A contact's own announced name (never our local nickname: these names go out in the
    // creator's `room` payload), else the creator's name for it.
    let mut stmt = tx.prepare_cached(
        "SELECT rm.member, coalesce(nullif(c.name, ''), n.name, '') FROM room_members rm
         LEFT JOIN contacts c ON c.public_key = rm.member
         LEFT JOIN room_member_names n ON n.room = rm.room AND n.member = rm.member
         WHERE rm.room = ?1 ORDER BY rm.member",
    )?;
    let rows: Vec<(PublicKey, String)> = stmt
        .query_map([id], |r| Ok((key_at(r, 0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let members: Vec<PublicKey> = rows.iter().map(|(k, _)| *k).collect();
    let mut member_names: BTreeMap<PublicKey, String> =
        rows.into_iter().filter(|(_, n)| !n.is_empty()).collect();
    // Former members keep the name they had, for the timeline's "removed Bob".
    let mut former = tx.prepare_cached(
        "SELECT n.member, coalesce(nullif(c.name, ''), n.name) FROM room_member_names n
         LEFT JOIN contacts c ON c.public_key = n.member
         WHERE n.room = ?1 AND n.member NOT IN (SELECT member FROM room_members WHERE room = ?1)",
    )?;
    for row in former.query_map([id], |r| Ok((key_at(r, 0)?, r.get::<_, String>(1)?)))? {
        let (key, name) = row?;
        member_names.entry(key).or_insert(name);
    }
    Ok(Some(Room {
        id: id.to_owned(),
        name,
        members,
        created_at: from_sql_time(created_at),
        updated_at: from_sql_time(updated_at),
        creator,
        member_names,
        timer_seconds: tx
            .prepare_cached("SELECT seconds FROM timers WHERE conv_kind = 'room' AND conv_id = ?1")?
            .query_row([id], |r| r.get::<_, i64>(0))
            .optional()?
            .map_or(0, from_sql_time),
    }))
}

fn join_keys(keys: &[PublicKey]) -> String {
    keys.iter()
        .map(PublicKey::to_base64)
        .collect::<Vec<_>>()
        .join(" ")
}

fn split_keys(row: &rusqlite::Row<'_>, idx: usize) -> rusqlite::Result<Vec<PublicKey>> {
    let text: String = row.get(idx)?;
    text.split_whitespace()
        .map(|k| {
            PublicKey::from_base64(k).map_err(|e| {
                rusqlite::Error::FromSqlConversionFailure(
                    idx,
                    rusqlite::types::Type::Text,
                    Box::new(e),
                )
            })
        })
        .collect()
}

fn change_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<RoomChange> {
    Ok(RoomChange {
        id: row.get(0)?,
        room: row.get(1)?,
        by: key_at(row, 2)?,
        at: from_sql_time(row.get(3)?),
        after_seq: row.get(4)?,
        added: split_keys(row, 5)?,
        removed: split_keys(row, 6)?,
        name: row.get(7)?,
    })
}

const CHANGE_COLUMNS: &str = "id, room, by_key, at, after_seq, added, removed, new_name";

fn is_contact(tx: &Connection, key: &PublicKey) -> Result<bool> {
    Ok(tx
        .query_row(
            "SELECT 1 FROM contacts WHERE public_key = ?1 AND replaced_by IS NULL
             AND public_key NOT IN (SELECT public_key FROM blocked)",
            [key.to_base64()],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// Replaces name and membership of a known room by `name`/`new` on behalf of `by`, records
/// the change for the timeline and returns it; `None` if nothing differs.
fn apply_change(
    tx: &Connection,
    old: &Room,
    by: &PublicKey,
    name: &str,
    new: &BTreeSet<PublicKey>,
    now: u64,
) -> Result<Option<RoomChange>> {
    let before: BTreeSet<PublicKey> = old.members.iter().copied().collect();
    let added: Vec<PublicKey> = new.difference(&before).copied().collect();
    let removed: Vec<PublicKey> = before.difference(new).copied().collect();
    let renamed = (old.name != name).then(|| name.to_owned());
    if added.is_empty() && removed.is_empty() && renamed.is_none() {
        return Ok(None);
    }
    tx.execute(
        "UPDATE rooms SET name = ?2, updated_at = ?3 WHERE id = ?1",
        params![old.id, name, to_sql_time(now)],
    )?;
    write_members(tx, &old.id, new)?;
    let change = tx.query_row(
        &format!(
            "INSERT INTO room_changes (room, by_key, at, after_seq, added, removed, new_name)
             VALUES (?1, ?2, ?3, (SELECT coalesce(max(seq), 0) FROM messages), ?4, ?5, ?6)
             RETURNING {CHANGE_COLUMNS}"
        ),
        params![
            old.id,
            by.to_base64(),
            to_sql_time(now),
            join_keys(&added),
            join_keys(&removed),
            renamed
        ],
        change_from_row,
    )?;
    tx.execute(
        "DELETE FROM room_changes WHERE room = ?1 AND id <= (
             SELECT id FROM room_changes WHERE room = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)",
        params![old.id, MAX_ROOM_CHANGES],
    )?;
    Ok(Some(change))
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

/// Inserts a new room; `Duplicate` if the id is taken.
fn insert_room(
    tx: &Connection,
    id: &str,
    name: &str,
    members: &BTreeSet<PublicKey>,
    creator: Option<&PublicKey>,
    now: u64,
) -> Result<Room> {
    let inserted = tx.execute(
        "INSERT INTO rooms (id, name, created_at, updated_at, creator) VALUES (?1, ?2, ?3, ?3, ?4)
         ON CONFLICT (id) DO NOTHING",
        params![
            id,
            name,
            to_sql_time(now),
            creator.map(PublicKey::to_base64)
        ],
    )?;
    if inserted == 0 {
        return Err(StoreError::Duplicate(format!("room {id:?}")));
    }
    write_members(tx, id, members)?;
    load(tx, id)?.ok_or_else(|| StoreError::Invalid("room vanished".into()))
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
        let room = insert_room(&tx, id, name, &set, None, now)?;
        tx.commit()?;
        Ok(room)
    }

    /// Creates a room from our UI with `me` as its creator (`me` is added to `members`).
    /// Refuses an id already in use.
    pub fn create_own_room(
        &mut self,
        me: &PublicKey,
        id: &str,
        name: &str,
        members: &[PublicKey],
        now: u64,
    ) -> Result<Room> {
        let mut all = members.to_vec();
        all.push(*me);
        let set = validate(id, &all)?;
        let tx = self.conn.savepoint()?;
        let room = insert_room(&tx, id, name, &set, Some(me), now)?;
        tx.commit()?;
        Ok(room)
    }

    /// Applies a `room` payload received from `sender` over its own session, by the rules of
    /// PROTOCOL.md §8.4 (module docs). `creator` is the payload's `creator` field (`None` when
    /// absent: the sender is meant). `me` is our own key.
    #[allow(clippy::too_many_arguments)]
    pub fn apply_room_announcement(
        &mut self,
        me: &PublicKey,
        sender: &PublicKey,
        id: &str,
        name: &str,
        members: &[PublicKey],
        creator: Option<&PublicKey>,
        now: u64,
    ) -> Result<RoomAnnouncement> {
        let set = validate(id, members)?;
        let claimed = creator.unwrap_or(sender);
        if !set.contains(sender) {
            return Ok(RoomAnnouncement::Ignored(RoomIgnored::SenderNotListed));
        }
        if claimed != sender {
            return Ok(RoomAnnouncement::Ignored(RoomIgnored::NotCreator));
        }
        let tx = self.conn.savepoint()?;
        let outcome = match load(&tx, id)? {
            None if !set.contains(me) => RoomAnnouncement::Ignored(RoomIgnored::NotListed),
            None if !is_contact(&tx, sender)? => {
                RoomAnnouncement::Ignored(RoomIgnored::NotAContact)
            }
            None => RoomAnnouncement::Created(insert_room(&tx, id, name, &set, Some(sender), now)?),
            Some(old) if !old.members.contains(me) => {
                RoomAnnouncement::Ignored(RoomIgnored::NoLongerMember)
            }
            Some(old) if old.creator.is_some_and(|c| c != *sender) => {
                RoomAnnouncement::Ignored(RoomIgnored::NotCreator)
            }
            Some(old) if old.creator.is_none() && !old.members.contains(sender) => {
                RoomAnnouncement::Ignored(RoomIgnored::NotCreator)
            }
            Some(old) if old.creator.is_none() && !is_contact(&tx, sender)? => {
                RoomAnnouncement::Ignored(RoomIgnored::NotAContact)
            }
            Some(old) => {
                if old.creator.is_none() {
                    // A room from before version 3: the first change fixes its creator.
                    tx.execute(
                        "UPDATE rooms SET creator = ?2 WHERE id = ?1",
                        params![id, sender.to_base64()],
                    )?;
                }
                match apply_change(&tx, &old, sender, name, &set, now)? {
                    None => RoomAnnouncement::Unchanged,
                    Some(change) => RoomAnnouncement::Changed {
                        room: load(&tx, id)?
                            .ok_or_else(|| StoreError::Invalid("room vanished".into()))?,
                        change,
                    },
                }
            }
        };
        tx.commit()?;
        Ok(outcome)
    }

    /// [`Store::apply_room_announcement`], then, if it was believed (the sender is the room's
    /// creator; changed or not), keeps the names the sender gave the members (`names`,
    /// cleaned by the caller; empty ones and non-members ignored) in place of the ones it gave
    /// before. The room in the outcome carries them. Two transactions: a crash between them
    /// only loses names, which the creator sends again with its next announcement.
    #[allow(clippy::too_many_arguments)]
    pub fn apply_room_announcement_named(
        &mut self,
        me: &PublicKey,
        sender: &PublicKey,
        id: &str,
        name: &str,
        members: &[PublicKey],
        names: &[(PublicKey, String)],
        creator: Option<&PublicKey>,
        now: u64,
    ) -> Result<RoomAnnouncement> {
        let outcome = self.apply_room_announcement(me, sender, id, name, members, creator, now)?;
        if matches!(outcome, RoomAnnouncement::Ignored(_)) {
            return Ok(outcome);
        }
        let tx = self.conn.savepoint()?;
        {
            let mut row = tx.prepare_cached(
                "INSERT INTO room_member_names (room, member, name, at)
                 SELECT ?1, ?2, ?3, ?4 WHERE EXISTS
                     (SELECT 1 FROM room_members WHERE room = ?1 AND member = ?2)
                 ON CONFLICT (room, member) DO UPDATE SET name = excluded.name, at = excluded.at",
            )?;
            for (key, member_name) in names.iter().filter(|(_, n)| !n.is_empty()) {
                row.execute(params![id, key.to_base64(), member_name, to_sql_time(now)])?;
            }
        }
        // Bounded: the names of the most recent former members only.
        tx.execute(
            "DELETE FROM room_member_names WHERE room = ?1
                 AND member NOT IN (SELECT member FROM room_members WHERE room = ?1)
                 AND member NOT IN (SELECT member FROM room_member_names WHERE room = ?1
                     AND member NOT IN (SELECT member FROM room_members WHERE room = ?1)
                     ORDER BY at DESC, member LIMIT ?2)",
            params![id, MAX_FORMER_NAMES],
        )?;
        let reload = |room: Room| -> Result<Room> { Ok(load(&tx, &room.id)?.unwrap_or(room)) };
        let outcome = match outcome {
            RoomAnnouncement::Created(room) => RoomAnnouncement::Created(reload(room)?),
            RoomAnnouncement::Changed { room, change } => RoomAnnouncement::Changed {
                room: reload(room)?,
                change,
            },
            other => other,
        };
        tx.commit()?;
        Ok(outcome)
    }

    /// A change of a room from our own UI (`change_room`): only for a room whose creator is
    /// `me` (or a room from before version 3 that lists us, which this makes ours). Added keys
    /// must be contacts; we cannot remove ourselves. Returns the room and the recorded change,
    /// or `None` if nothing differs.
    pub fn change_own_room(
        &mut self,
        me: &PublicKey,
        id: &str,
        name: Option<&str>,
        add: &[PublicKey],
        remove: &[PublicKey],
        now: u64,
    ) -> Result<Option<(Room, RoomChange)>> {
        let tx = self.conn.savepoint()?;
        let old = load(&tx, id)?.ok_or_else(|| StoreError::Invalid(format!("no room {id:?}")))?;
        let ours = match old.creator {
            Some(creator) => creator == *me,
            None => old.members.contains(me),
        };
        if !ours {
            return Err(StoreError::Invalid(
                "only the room's creator can change it".into(),
            ));
        }
        if remove.contains(me) {
            return Err(StoreError::Invalid(
                "the creator cannot remove itself".into(),
            ));
        }
        for key in add {
            if key != me && !is_contact(&tx, key)? {
                return Err(StoreError::Invalid(format!(
                    "{} is not a contact",
                    key.to_base64()
                )));
            }
        }
        let mut set: BTreeSet<PublicKey> = old.members.iter().copied().collect();
        set.extend(add.iter().copied());
        for key in remove {
            set.remove(key);
        }
        set.insert(*me);
        if old.creator.is_none() {
            tx.execute(
                "UPDATE rooms SET creator = ?2 WHERE id = ?1",
                params![id, me.to_base64()],
            )?;
        }
        let name = name.unwrap_or(&old.name).to_owned();
        let outcome = match apply_change(&tx, &old, me, &name, &set, now)? {
            None => None,
            Some(change) => Some((
                load(&tx, id)?.ok_or_else(|| StoreError::Invalid("room vanished".into()))?,
                change,
            )),
        };
        tx.commit()?;
        Ok(outcome)
    }

    /// The recorded changes of a room, oldest first (at most [`MAX_ROOM_CHANGES`]).
    pub fn room_changes(&self, id: &str) -> Result<Vec<RoomChange>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {CHANGE_COLUMNS} FROM room_changes WHERE room = ?1 ORDER BY id"
        ))?;
        let rows = stmt.query_map([id], change_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
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

    const ME: u8 = 0;

    fn with_contacts() -> Store {
        let mut s = Store::open_in_memory().unwrap();
        for n in 1..=3 {
            s.mark_seen(&key(n), &format!("c{n}"), "h:1", 1, 1).unwrap();
        }
        s
    }

    fn announce(
        s: &mut Store,
        from: u8,
        name: &str,
        members: &[u8],
        creator: Option<u8>,
    ) -> RoomAnnouncement {
        let members: Vec<PublicKey> = members.iter().map(|n| key(*n)).collect();
        let creator = creator.map(key);
        s.apply_room_announcement(
            &key(ME),
            &key(from),
            "r",
            name,
            &members,
            creator.as_ref(),
            9,
        )
        .unwrap()
    }

    fn named(s: &mut Store, from: u8, members: &[PublicKey], names: &[&str]) -> RoomAnnouncement {
        let names: Vec<(PublicKey, String)> = members
            .iter()
            .zip(names)
            .map(|(k, n)| (*k, (*n).to_owned()))
            .collect();
        s.apply_room_announcement_named(&key(ME), &key(from), "r", "team", members, &names, None, 9)
            .unwrap()
    }

    #[test]
    fn the_creator_names_members_we_never_met_and_former_members_keep_a_bounded_name() {
        let mut s = with_contacts();
        let carol = key(50);
        let members = [key(1), key(ME), carol, key(2)];
        let RoomAnnouncement::Created(room) =
            named(&mut s, 1, &members, &["claims", "me", "Carol", "fake c2"])
        else {
            panic!("not created");
        };
        // Contacts keep the names they announced themselves; the never-met member gets the
        // creator's.
        assert_eq!(
            room.member_names.get(&carol).map(String::as_str),
            Some("Carol")
        );
        assert_eq!(
            room.member_names.get(&key(1)).map(String::as_str),
            Some("c1")
        );
        assert_eq!(
            room.member_names.get(&key(2)).map(String::as_str),
            Some("c2")
        );
        // Another member's names are not believed.
        assert!(matches!(
            named(&mut s, 2, &members, &["", "", "Mallory", ""]),
            RoomAnnouncement::Ignored(_)
        ));
        assert_eq!(s.room("r").unwrap().unwrap().member_names[&carol], "Carol");
        // Removed, Carol keeps her name for the timeline ("removed Carol").
        let RoomAnnouncement::Changed { room, .. } =
            named(&mut s, 1, &[key(1), key(ME), key(2)], &["", "", ""])
        else {
            panic!("not changed");
        };
        assert!(!room.members.contains(&carol));
        assert_eq!(room.member_names[&carol], "Carol");

        // Former members' names are bounded: only the most recent MAX_FORMER_NAMES stay.
        let many: Vec<PublicKey> = (0..300u16)
            .map(|i| {
                let mut b = [7u8; 32];
                b[..2].copy_from_slice(&i.to_le_bytes());
                PublicKey::from_bytes(b)
            })
            .collect();
        let all: Vec<PublicKey> = [key(1), key(ME)].into_iter().chain(many.clone()).collect();
        let names: Vec<String> = (0..all.len()).map(|i| format!("m{i}")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        named(&mut s, 1, &all, &names);
        named(&mut s, 1, &[key(1), key(ME)], &["", ""]);
        let stored: i64 = s
            .conn
            .query_row(
                "SELECT count(*) FROM room_member_names WHERE room = 'r'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        // The two current members the creator once named (an empty name keeps the old one),
        // plus the bounded former members.
        assert_eq!(stored, 2 + MAX_FORMER_NAMES);
    }

    #[test]
    fn a_room_that_does_not_list_us_or_comes_from_a_stranger_is_never_created() {
        let mut s = with_contacts();
        assert_eq!(
            announce(&mut s, 1, "Free crypto", &[1, 2], None),
            RoomAnnouncement::Ignored(RoomIgnored::NotListed)
        );
        // A stranger (key 9 is no contact) listing us is ignored too.
        assert_eq!(
            announce(&mut s, 9, "Free crypto", &[9, ME], None),
            RoomAnnouncement::Ignored(RoomIgnored::NotAContact)
        );
        // A sender announcing a room on someone else's behalf is not believed.
        assert_eq!(
            announce(&mut s, 1, "x", &[1, 2, ME], Some(2)),
            RoomAnnouncement::Ignored(RoomIgnored::NotCreator)
        );
        assert_eq!(
            announce(&mut s, 1, "x", &[2, ME], None),
            RoomAnnouncement::Ignored(RoomIgnored::SenderNotListed)
        );
        assert_eq!(s.room("r").unwrap(), None);
        assert!(s.list_rooms().unwrap().is_empty());
    }

    #[test]
    fn only_the_creator_changes_a_room_and_each_change_is_a_diff() {
        let mut s = with_contacts();
        let RoomAnnouncement::Created(room) = announce(&mut s, 1, "team", &[1, 2, ME], Some(1))
        else {
            panic!("not created")
        };
        assert_eq!(room.creator, Some(key(1)));
        // A member that is not the creator adds a key it controls: ignored.
        assert_eq!(
            announce(&mut s, 2, "team", &[1, 2, 9, ME], None),
            RoomAnnouncement::Ignored(RoomIgnored::NotCreator)
        );
        assert_eq!(
            announce(&mut s, 2, "team", &[1, 2, 9, ME], Some(1)),
            RoomAnnouncement::Ignored(RoomIgnored::NotCreator),
            "claiming to speak for the creator changes nothing"
        );
        assert!(!s.is_room_member("r", &key(9)).unwrap());
        // A repeat is unchanged and records nothing.
        assert_eq!(
            announce(&mut s, 1, "team", &[1, 2, ME], None),
            RoomAnnouncement::Unchanged
        );
        assert!(s.room_changes("r").unwrap().is_empty());
        // The creator adds 3, removes 2 and renames.
        let RoomAnnouncement::Changed { room, change } =
            announce(&mut s, 1, "team 2", &[1, 3, ME], Some(1))
        else {
            panic!("not changed")
        };
        assert_eq!(room.members, vec![key(ME), key(1), key(3)]);
        assert_eq!(change.added, vec![key(3)]);
        assert_eq!(change.removed, vec![key(2)]);
        assert_eq!(change.name.as_deref(), Some("team 2"));
        assert_eq!(change.by, key(1));
        assert_eq!(s.room_changes("r").unwrap(), vec![change]);
    }

    #[test]
    fn removed_from_a_room_it_stays_readable_and_ignores_later_announcements() {
        let mut s = with_contacts();
        announce(&mut s, 1, "team", &[1, 2, ME], None);
        let RoomAnnouncement::Changed { room, change } = announce(&mut s, 1, "team", &[1, 2], None)
        else {
            panic!("not changed")
        };
        assert_eq!(change.removed, vec![key(ME)]);
        assert!(!room.members.contains(&key(ME)));
        assert_eq!(
            announce(&mut s, 1, "team", &[1, 2, 3], None),
            RoomAnnouncement::Ignored(RoomIgnored::NoLongerMember)
        );
        assert!(s.room("r").unwrap().is_some(), "kept, read-only");
    }

    #[test]
    fn our_own_rooms_change_only_from_our_ui_with_contacts() {
        let mut s = with_contacts();
        let me = key(ME);
        let room = s.create_own_room(&me, "r", "ours", &[key(1)], 5).unwrap();
        assert_eq!(room.creator, Some(me));
        assert_eq!(room.members, vec![me, key(1)]);
        // Someone else's announcement for our room is ignored, member or not.
        assert_eq!(
            announce(&mut s, 1, "hijack", &[1, 9, ME], None),
            RoomAnnouncement::Ignored(RoomIgnored::NotCreator)
        );
        let (room, change) = s
            .change_own_room(&me, "r", Some("renamed"), &[key(2)], &[key(1)], 6)
            .unwrap()
            .unwrap();
        assert_eq!(room.members, vec![me, key(2)]);
        assert_eq!((change.added, change.removed), (vec![key(2)], vec![key(1)]));
        assert_eq!(change.name.as_deref(), Some("renamed"));
        assert_eq!(
            s.change_own_room(&me, "r", None, &[key(2)], &[], 7)
                .unwrap(),
            None,
            "nothing differs"
        );
        assert!(matches!(
            s.change_own_room(&me, "r", None, &[key(9)], &[], 8),
            Err(StoreError::Invalid(_))
        ));
        assert!(s.change_own_room(&me, "r", None, &[], &[me], 8).is_err());
        assert!(s.change_own_room(&key(2), "r", None, &[], &[], 8).is_err());
        assert!(s.change_own_room(&me, "none", None, &[], &[], 8).is_err());
        assert_eq!(s.room_members("r").unwrap(), vec![me, key(2)]);
    }

    #[test]
    fn a_change_is_placed_after_the_newest_message_and_changes_are_bounded() {
        let mut s = with_contacts();
        let me = key(ME);
        s.create_own_room(&me, "r", "ours", &[key(1)], 5).unwrap();
        let msg = super::super::ChatMessage {
            conversation: super::super::Conversation::Room("r".into()),
            sender: key(1),
            id: "m".into(),
            text: "t".into(),
            sent_at: 1,
            received_at: 1,
            reply_to: None,
        };
        s.insert_incoming(&msg).unwrap();
        let seq = s.message(&key(1), "m").unwrap().unwrap().seq;
        let (_, change) = s
            .change_own_room(&me, "r", Some("n0"), &[], &[], 6)
            .unwrap()
            .unwrap();
        assert_eq!(change.after_seq, seq);
        for i in 1..=MAX_ROOM_CHANGES + 5 {
            s.change_own_room(&me, "r", Some(&format!("n{i}")), &[], &[], 6)
                .unwrap();
        }
        let changes = s.room_changes("r").unwrap();
        assert_eq!(changes.len() as i64, MAX_ROOM_CHANGES);
        assert_eq!(
            changes.last().unwrap().name.as_deref(),
            Some(format!("n{}", MAX_ROOM_CHANGES + 5).as_str())
        );
    }

    #[test]
    fn a_room_from_before_version_3_gets_its_creator_from_the_first_change() {
        let mut s = with_contacts();
        // create_room is the earlier path: no creator recorded, like a migrated room.
        s.create_room("r", "old", &[key(ME), key(1), key(2)], 1)
            .unwrap();
        assert_eq!(s.room("r").unwrap().unwrap().creator, None);
        // A non-member cannot claim it.
        assert_eq!(
            announce(&mut s, 3, "grab", &[1, 2, 3, ME], None),
            RoomAnnouncement::Ignored(RoomIgnored::NotCreator)
        );
        // The first member to announce it fixes the creator; then only it may change it.
        assert_eq!(
            announce(&mut s, 1, "old", &[1, 2, ME], None),
            RoomAnnouncement::Unchanged
        );
        assert_eq!(s.room("r").unwrap().unwrap().creator, Some(key(1)));
        assert_eq!(
            announce(&mut s, 2, "mine", &[1, 2, ME], None),
            RoomAnnouncement::Ignored(RoomIgnored::NotCreator)
        );
        assert!(s
            .change_own_room(&key(ME), "r", Some("x"), &[], &[], 2)
            .is_err());
        // Our own first change of a legacy room makes it ours instead.
        s.create_room("q", "old2", &[key(ME), key(1)], 1).unwrap();
        s.change_own_room(&key(ME), "q", Some("new"), &[], &[], 2)
            .unwrap()
            .unwrap();
        assert_eq!(s.room("q").unwrap().unwrap().creator, Some(key(ME)));
    }
}
