//! Key-change bookkeeping for trust on first use (SECURITY.md §3, "First contact").
//!
//! When a pinned contact's address or name answers with another key, the node holds the
//! session and records a [`KeyChange`]. The record survives restarts, so "nothing is sent until
//! the user decides" holds across them too. Accepting makes the new key the contact (unverified,
//! since the old verification was of the old key) and moves what was waiting for the old key
//! to the new one; rejecting leaves everything as it was and remembers the answer so the same
//! impostor reconnecting does not prompt again.

use crypto_core::PublicKey;
use rusqlite::{params, Connection, OptionalExtension, Row};

use super::contacts::{contact_from_row, CONTACT_COLUMNS};
use super::error::{Result, StoreError};
use super::{from_sql_time, key_at, to_sql_time, Contact, Store};

/// Where a key change stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyChangeState {
    /// Waiting for the user; the session stays held.
    Pending,
    /// The user accepted the new key.
    Accepted,
    /// The user rejected the new key.
    Rejected,
}

impl KeyChangeState {
    fn as_sql(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Accepted => "accepted",
            Self::Rejected => "rejected",
        }
    }

    fn from_sql(text: &str) -> Self {
        match text {
            "accepted" => Self::Accepted,
            "rejected" => Self::Rejected,
            // The CHECK constraint admits nothing else; erring towards "ask" is the safe side.
            _ => Self::Pending,
        }
    }
}

/// A different key seen for a pinned contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyChange {
    /// Row id, used to accept or reject.
    pub id: i64,
    /// The pinned contact's key.
    pub old_key: PublicKey,
    /// The key that answered instead.
    pub new_key: PublicKey,
    /// Name the new key announced.
    pub name: String,
    /// Address it answered from.
    pub address: Option<String>,
    /// When first detected, Unix ms.
    pub detected_at: u64,
    /// The user's answer so far.
    pub state: KeyChangeState,
    /// When answered, Unix ms.
    pub resolved_at: Option<u64>,
}

const COLUMNS: &str = "id, old_key, new_key, name, address, detected_at, state, resolved_at";

fn change_from_row(row: &Row<'_>) -> rusqlite::Result<KeyChange> {
    Ok(KeyChange {
        id: row.get(0)?,
        old_key: key_at(row, 1)?,
        new_key: key_at(row, 2)?,
        name: row.get(3)?,
        address: row.get(4)?,
        detected_at: from_sql_time(row.get(5)?),
        state: KeyChangeState::from_sql(&row.get::<_, String>(6)?),
        resolved_at: row.get::<_, Option<i64>>(7)?.map(from_sql_time),
    })
}

fn change_by_id(tx: &Connection, id: i64) -> Result<KeyChange> {
    tx.query_row(
        &format!("SELECT {COLUMNS} FROM key_changes WHERE id = ?1"),
        [id],
        change_from_row,
    )
    .optional()?
    .ok_or_else(|| StoreError::Invalid(format!("no key change with id {id}")))
}

impl Store {
    /// Records that `new_key` answered where the pinned contact `old_key` was expected.
    /// Idempotent per (old, new): a repeat returns the existing record, whatever its state, so
    /// the node can close silently on an already rejected key instead of asking again.
    pub fn record_key_change(
        &mut self,
        old_key: &PublicKey,
        new_key: &PublicKey,
        name: &str,
        address: Option<&str>,
        now: u64,
    ) -> Result<KeyChange> {
        let tx = self.conn.savepoint()?;
        tx.execute(
            "INSERT INTO key_changes (old_key, new_key, name, address, detected_at)
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (old_key, new_key) DO NOTHING",
            params![
                old_key.to_base64(),
                new_key.to_base64(),
                name,
                address,
                to_sql_time(now)
            ],
        )?;
        let change = tx.query_row(
            &format!("SELECT {COLUMNS} FROM key_changes WHERE old_key = ?1 AND new_key = ?2"),
            params![old_key.to_base64(), new_key.to_base64()],
            change_from_row,
        )?;
        tx.commit()?;
        Ok(change)
    }

    /// Key changes still waiting for the user, oldest first (to re-raise after a restart).
    pub fn pending_key_changes(&self) -> Result<Vec<KeyChange>> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {COLUMNS} FROM key_changes WHERE state = 'pending' ORDER BY id"
        ))?;
        let rows = stmt.query_map([], change_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The user accepted the new key. In one transaction: the new key becomes a pinned,
    /// unverified contact with the old one's port; the old contact is marked replaced,
    /// unverified and unpinned; the direct conversation and undelivered direct/"everyone"
    /// messages move to the new key (room queues are left alone: membership is the room's
    /// business). Accepting twice returns the same contact.
    pub fn accept_key_change(&mut self, id: i64, now: u64) -> Result<Contact> {
        let tx = self.conn.savepoint()?;
        let change = change_by_id(&tx, id)?;
        let (old, new) = (change.old_key.to_base64(), change.new_key.to_base64());
        match change.state {
            KeyChangeState::Rejected => {
                return Err(StoreError::Invalid(format!("key change {id} was rejected")))
            }
            KeyChangeState::Accepted => {}
            KeyChangeState::Pending => {
                tx.execute(
                    "INSERT INTO contacts (public_key, name, last_address, listen_port,
                         first_seen, last_seen)
                     SELECT ?2, ?3, ?4, listen_port, ?5, ?5 FROM contacts WHERE public_key = ?1
                     ON CONFLICT (public_key) DO UPDATE SET verified = 0, pinned = 1,
                         replaced_by = NULL, name = excluded.name,
                         last_address = excluded.last_address",
                    params![old, new, change.name, change.address, to_sql_time(now)],
                )?;
                tx.execute(
                    "UPDATE contacts SET replaced_by = ?2, verified = 0, pinned = 0
                     WHERE public_key = ?1",
                    params![old, new],
                )?;
                tx.execute(
                    "UPDATE messages SET conv_id = ?2 WHERE conv_kind = 'peer' AND conv_id = ?1",
                    params![old, new],
                )?;
                tx.execute(
                    "UPDATE OR IGNORE outbox SET recipient = ?2
                     WHERE recipient = ?1 AND state < 2 AND message IN
                         (SELECT seq FROM messages WHERE conv_kind IN ('peer', 'everyone'))",
                    params![old, new],
                )?;
                // The disappearing-message timer of the chat goes with it, and our setting is
                // owed to the new key (`timers.rs`).
                tx.execute(
                    "UPDATE OR REPLACE timers SET conv_id = ?2
                     WHERE conv_kind = 'peer' AND conv_id = ?1",
                    params![old, new],
                )?;
                tx.execute(
                    "UPDATE timer_changes SET conv_id = ?2 WHERE conv_kind = 'peer' AND conv_id = ?1",
                    params![old, new],
                )?;
                tx.execute(
                    "UPDATE OR REPLACE timer_outbox SET recipient = ?2, conv_id = ?2
                     WHERE recipient = ?1 AND conv_kind = 'peer' AND conv_id = ?1",
                    params![old, new],
                )?;
                tx.execute(
                    "UPDATE key_changes SET state = ?2, resolved_at = ?3 WHERE id = ?1",
                    params![id, KeyChangeState::Accepted.as_sql(), to_sql_time(now)],
                )?;
            }
        }
        let contact = tx.query_row(
            &format!("SELECT {CONTACT_COLUMNS} FROM contacts WHERE public_key = ?1"),
            [&new],
            contact_from_row,
        )?;
        tx.commit()?;
        Ok(contact)
    }

    /// The user rejected the new key: nothing else changes. Rejecting twice is fine;
    /// rejecting an accepted change is refused.
    pub fn reject_key_change(&mut self, id: i64, now: u64) -> Result<KeyChange> {
        let tx = self.conn.savepoint()?;
        let change = change_by_id(&tx, id)?;
        if change.state == KeyChangeState::Accepted {
            return Err(StoreError::Invalid(format!("key change {id} was accepted")));
        }
        tx.execute(
            "UPDATE key_changes SET state = 'rejected', resolved_at = coalesce(resolved_at, ?2)
             WHERE id = ?1",
            params![id, to_sql_time(now)],
        )?;
        let change = change_by_id(&tx, id)?;
        tx.commit()?;
        Ok(change)
    }
}

#[cfg(test)]
mod tests {
    use super::super::contacts::tests::key;
    use super::super::{ChatMessage, Conversation, Delivery};
    use super::*;

    fn store_with_verified_alice() -> Store {
        let mut s = Store::open_in_memory().unwrap();
        s.mark_seen(&key(1), "alice", "127.0.0.1:6001", 6001, 10)
            .unwrap();
        s.set_verified(&key(1), true).unwrap();
        s
    }

    #[test]
    fn recording_is_idempotent_and_survives_as_pending() {
        let mut s = store_with_verified_alice();
        let a = s
            .record_key_change(&key(1), &key(2), "alice", Some("127.0.0.1:6001"), 50)
            .unwrap();
        let b = s
            .record_key_change(&key(1), &key(2), "alice", Some("127.0.0.1:6001"), 60)
            .unwrap();
        assert_eq!(a, b, "a repeat returns the first record");
        assert_eq!(a.state, KeyChangeState::Pending);
        assert_eq!(s.pending_key_changes().unwrap(), vec![a]);
    }

    #[test]
    fn accepting_moves_trust_history_and_queue_to_the_new_key() {
        let mut s = store_with_verified_alice();
        let me = key(100);
        let direct = ChatMessage {
            conversation: Conversation::Peer(key(1)),
            sender: me,
            id: "m1".into(),
            text: "hi".into(),
            sent_at: 20,
            received_at: 20,
            reply_to: None,
        };
        s.enqueue(&direct, &[key(1)]).unwrap();
        let room = ChatMessage {
            conversation: Conversation::Room("r".into()),
            id: "m2".into(),
            ..direct.clone()
        };
        s.enqueue(&room, &[key(1)]).unwrap();
        s.set_own_timer(&Conversation::Peer(key(1)), &me, 3600, 30, "t1", &[key(1)])
            .unwrap()
            .expect("a timer");

        let change = s
            .record_key_change(&key(1), &key(2), "alice", Some("127.0.0.1:6001"), 50)
            .unwrap();
        let new = s.accept_key_change(change.id, 60).unwrap();
        assert_eq!(new.public_key, key(2));
        assert!(!new.verified && new.pinned);
        assert_eq!(new.listen_port, Some(6001));
        let old = s.contact(&key(1)).unwrap().unwrap();
        assert_eq!(old.replaced_by, Some(key(2)));
        assert!(
            !old.verified && !old.pinned,
            "a replaced key is no longer verified"
        );
        // The address now belongs to the new key.
        assert_eq!(
            s.contact_by_address("127.0.0.1:6001")
                .unwrap()
                .unwrap()
                .public_key,
            key(2)
        );
        // Direct conversation and its queue follow the person; the room queue does not.
        let hist = s.history(&Conversation::Peer(key(2)), None, 10).unwrap();
        assert_eq!(hist.len(), 1);
        let ids: Vec<_> = s
            .pending_for(&key(2))
            .unwrap()
            .into_iter()
            .map(|p| p.id)
            .collect();
        assert_eq!(ids, ["m1"]);
        assert_eq!(s.pending_for(&key(1)).unwrap().len(), 1);
        assert_eq!(s.delivery("m1").unwrap(), Some(Delivery::Queued));
        // So do the chat's disappearing-message timer, its line and our setting still owed.
        let moved = Conversation::Peer(key(2));
        assert_eq!(s.timer(&moved).unwrap().map(|t| t.seconds), Some(3600));
        assert_eq!(s.timer_changes(&moved).unwrap().len(), 1);
        let owed = s.pending_timers_for(&key(2)).unwrap();
        assert_eq!((owed.len(), &owed[0].conversation), (1, &moved));
        assert!(s.pending_timers_for(&key(1)).unwrap().is_empty());
        // Idempotent; and a decided change cannot be rejected afterwards.
        assert_eq!(s.accept_key_change(change.id, 70).unwrap(), new);
        assert!(s.reject_key_change(change.id, 80).is_err());
        assert!(s.pending_key_changes().unwrap().is_empty());
    }

    #[test]
    fn rejecting_changes_nothing_but_is_remembered() {
        let mut s = store_with_verified_alice();
        let change = s
            .record_key_change(&key(1), &key(3), "mallory", None, 50)
            .unwrap();
        let rejected = s.reject_key_change(change.id, 55).unwrap();
        assert_eq!(rejected.state, KeyChangeState::Rejected);
        assert_eq!(rejected.resolved_at, Some(55));
        let alice = s.contact(&key(1)).unwrap().unwrap();
        assert!(alice.verified && alice.pinned && alice.replaced_by.is_none());
        assert_eq!(s.contact(&key(3)).unwrap(), None);
        // The impostor coming back gets the stored answer, not a new prompt.
        let again = s
            .record_key_change(&key(1), &key(3), "mallory", None, 90)
            .unwrap();
        assert_eq!(again.state, KeyChangeState::Rejected);
        assert!(s.accept_key_change(change.id, 95).is_err());
        assert!(s.accept_key_change(12345, 95).is_err(), "unknown id");
    }
}
