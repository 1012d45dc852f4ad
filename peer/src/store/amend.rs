//! Edits and deletes for everyone (PROTOCOL.md §8.7). Only a message's sender can amend it:
//! a received amendment names a message **of the session's own key** (the payload has no
//! sender field), so a forged edit of someone else's message finds nothing to change. An edit
//! keeps the replaced text on this device (`message_edits`); a delete empties the text and drops
//! the edits and reactions, keeping the row so a retransmission of the original is recognised.
//! Amendments that arrive before their message are held, bounded, and applied when it arrives.

use crypto_core::PublicKey;
use rusqlite::{params, OptionalExtension};

use super::error::{Result, StoreError};
use super::messages::{MessageDirection, StoredMessage};
use super::{from_sql_time, key_at, to_sql_time, Store};

/// Held early amendments per sender; the oldest goes first.
pub const MAX_EARLY_PER_SENDER: usize = 64;
/// Held early amendments in total.
pub const MAX_EARLY: usize = 1024;
/// How long an early amendment waits for its message (24 h), then it is dropped.
pub const EARLY_MAX_AGE_MS: u64 = 24 * 60 * 60 * 1000;

/// What the store knows of `early_amendments` without asking it. Every chat received asks
/// whether an amendment waits for it, and nearly always none waits for any: knowing that saves
/// a statement on the ack path. Only `None` skips the table, and it is forgotten whenever an
/// amendment is held and whenever a group transaction begins or commits (`Store::begin_group`,
/// `Store::commit_group`; the store thread begins a new group after SQLite rolled one back),
/// so a rollback that brings a held amendment back is never missed. Jobs run outside a group
/// commit statement by statement, so nothing of theirs is rolled back later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum HeldAmendments {
    /// Ask the table.
    Unknown,
    /// The table was empty when last asked, and nothing was held since.
    None,
}

/// An edit (with the new text) or a delete for everyone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Amend {
    /// The new text.
    Edit(String),
    /// Delete for everyone.
    Delete,
}

impl Amend {
    fn kind(&self) -> &'static str {
        match self {
            Amend::Edit(_) => "edit",
            Amend::Delete => "delete",
        }
    }

    fn text(&self) -> &str {
        match self {
            Amend::Edit(text) => text,
            Amend::Delete => "",
        }
    }

    fn from_sql(kind: &str, text: String) -> Self {
        if kind == "delete" {
            Amend::Delete
        } else {
            Amend::Edit(text)
        }
    }
}

/// What a received amendment did.
#[derive(Debug, Clone, PartialEq, Eq)]
// One per received amendment, consumed at once.
#[allow(clippy::large_enum_variant)]
pub enum AmendOutcome {
    /// Applied: the message as it is now.
    Applied(StoredMessage),
    /// Nothing changed: older than the last edit, or the message is already deleted.
    Unchanged,
    /// The message is not here (yet): held until it arrives (or the bounds drop it).
    Held,
}

/// One of our amendments still owed to a recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingAmendment {
    /// The amendment's id (what the `ack` names).
    pub id: String,
    /// Our message it amends.
    pub msg_id: String,
    /// Edit or delete.
    pub amend: Amend,
    /// When we amended it.
    pub sent_at: u64,
}

impl PendingAmendment {
    /// The `edit` or `delete` payload (PROTOCOL.md §5).
    pub fn to_payload(&self) -> crypto_core::wire::Payload {
        use crypto_core::wire::Payload;
        match &self.amend {
            Amend::Edit(text) => Payload::Edit {
                id: self.id.clone(),
                msg_id: self.msg_id.clone(),
                text: text.clone(),
                sent_at: self.sent_at,
            },
            Amend::Delete => Payload::Delete {
                id: self.id.clone(),
                msg_id: self.msg_id.clone(),
                sent_at: self.sent_at,
            },
        }
    }
}

impl Store {
    /// How long an early amendment is held (tests shorten [`EARLY_MAX_AGE_MS`]; at least 1 ms).
    pub fn set_early_amendment_max_ms(&mut self, ms: u64) {
        self.early_max_age_ms = ms.max(1);
    }

    /// An amendment from `sender` of its own message `msg_id`, received at `now`.
    pub fn apply_amendment(
        &mut self,
        sender: &PublicKey,
        msg_id: &str,
        amend: &Amend,
        sent_at: u64,
        now: u64,
    ) -> Result<AmendOutcome> {
        let Some(message) = self.message(sender, msg_id)? else {
            self.hold(sender, msg_id, amend, sent_at, now)?;
            return Ok(AmendOutcome::Held);
        };
        if message.direction != MessageDirection::Incoming {
            return Ok(AmendOutcome::Unchanged);
        }
        self.amend_row(message, amend, sent_at, now)
    }

    /// A message from `sender` just arrived: applies the amendment held for it, if any.
    pub fn apply_held_amendment(
        &mut self,
        sender: &PublicKey,
        msg_id: &str,
        now: u64,
    ) -> Result<Option<StoredMessage>> {
        // Runs for every chat received, on the ack path. Nearly always nothing is held, and
        // the store knows it without a statement (`Store::none_held`); otherwise one cached
        // index seek, and the delete only when something is held for this message.
        if self.none_held()? {
            return Ok(None);
        }
        let sender_text = sender.to_base64();
        let held: Option<(String, String, i64, i64)> = self
            .conn
            .prepare_cached(
                "SELECT kind, text, sent_at, received_at FROM early_amendments
                 WHERE sender = ?1 AND msg_id = ?2",
            )?
            .query_row(params![sender_text, msg_id], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .optional()?;
        let Some((kind, text, sent_at, received_at)) = held else {
            return Ok(None);
        };
        self.conn.execute(
            "DELETE FROM early_amendments WHERE sender = ?1 AND msg_id = ?2",
            params![sender_text, msg_id],
        )?;
        if now.saturating_sub(from_sql_time(received_at)) > self.early_max_age_ms {
            return Ok(None);
        }
        let Some(message) = self.message(sender, msg_id)? else {
            return Ok(None);
        };
        let amend = Amend::from_sql(&kind, text);
        match self.amend_row(message, &amend, from_sql_time(sent_at), now)? {
            AmendOutcome::Applied(m) => Ok(Some(m)),
            _ => Ok(None),
        }
    }

    /// Our own edit or delete of our message `msg_id`: applied here and queued for everyone
    /// who was sent the message. `None` if it is not our message, or already deleted.
    pub fn amend_own(
        &mut self,
        me: &PublicKey,
        msg_id: &str,
        amend: &Amend,
        amend_id: &str,
        now: u64,
    ) -> Result<Option<(StoredMessage, Vec<PublicKey>)>> {
        let Some(message) = self.message(me, msg_id)? else {
            return Ok(None);
        };
        if message.direction != MessageDirection::Outgoing || message.unsent {
            return Ok(None);
        }
        let seq = message.seq;
        let tx = self.conn.savepoint()?;
        if *amend == Amend::Delete {
            // Never sent: it never will be. Sent but not acknowledged: settled; the delete
            // goes to that recipient instead (PROTOCOL.md §8.7).
            tx.execute("DELETE FROM outbox WHERE message = ?1 AND state = 0", [seq])?;
            tx.execute("UPDATE outbox SET state = 2 WHERE message = ?1", [seq])?;
        }
        let recipients: Vec<PublicKey> = {
            let mut stmt = tx.prepare("SELECT recipient FROM outbox WHERE message = ?1")?;
            let rows = stmt.query_map([seq], |r| key_at(r, 0))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        let amendment: i64 = tx.query_row(
            "INSERT INTO amendments (message, kind, amend_id, text, sent_at)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (message) DO UPDATE SET kind = excluded.kind,
                 amend_id = excluded.amend_id, text = excluded.text, sent_at = excluded.sent_at
             RETURNING seq",
            params![seq, amend.kind(), amend_id, amend.text(), to_sql_time(now)],
            |r| r.get(0),
        )?;
        tx.execute("DELETE FROM amend_outbox WHERE amendment = ?1", [amendment])?;
        for key in &recipients {
            tx.execute(
                "INSERT INTO amend_outbox (recipient, amendment) VALUES (?1, ?2)",
                params![key.to_base64(), amendment],
            )?;
        }
        tx.commit()?;
        let edited_at = message.edited_at.map_or(now, |at| at.max(now));
        match self.amend_row(message, amend, edited_at, now)? {
            AmendOutcome::Applied(m) => Ok(Some((m, recipients))),
            _ => Err(StoreError::Invalid("the message cannot be changed".into())),
        }
    }

    /// The texts message `seq` had before its edits, oldest first.
    pub fn edit_history(&self, seq: i64) -> Result<Vec<(String, u64)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT text, replaced_at FROM message_edits WHERE message = ?1 ORDER BY rowid",
        )?;
        let rows = stmt.query_map([seq], |r| Ok((r.get(0)?, from_sql_time(r.get(1)?))))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Our amendments still owed to `peer`, oldest first.
    pub fn pending_amendments_for(&self, peer: &PublicKey) -> Result<Vec<PendingAmendment>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT a.amend_id, m.msg_id, a.kind, a.text, a.sent_at
             FROM amend_outbox o JOIN amendments a ON a.seq = o.amendment
             JOIN messages m ON m.seq = a.message
             WHERE o.recipient = ?1 ORDER BY a.seq",
        )?;
        let rows = stmt.query_map([peer.to_base64()], |r| {
            Ok(PendingAmendment {
                id: r.get(0)?,
                msg_id: r.get(1)?,
                amend: Amend::from_sql(r.get_ref(2)?.as_str()?, r.get(3)?),
                sent_at: from_sql_time(r.get(4)?),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// `peer` acknowledged our amendment `id`.
    pub(super) fn amendment_delivered(&mut self, peer: &PublicKey, id: &str) -> Result<bool> {
        let removed = self
            .conn
            .prepare_cached(
                "DELETE FROM amend_outbox WHERE recipient = ?1 AND amendment IN
                     (SELECT seq FROM amendments WHERE amend_id = ?2)",
            )?
            .execute(params![peer.to_base64(), id])?;
        Ok(removed > 0)
    }

    /// Applies `amend` (made at `sent_at` by the sender's clock) to a stored message.
    fn amend_row(
        &mut self,
        message: StoredMessage,
        amend: &Amend,
        sent_at: u64,
        now: u64,
    ) -> Result<AmendOutcome> {
        if message.unsent || message.edited_at.is_some_and(|at| at > sent_at) {
            return Ok(AmendOutcome::Unchanged);
        }
        if let Amend::Edit(text) = amend {
            if *text == message.message.text {
                return Ok(AmendOutcome::Unchanged);
            }
        }
        let seq = message.seq;
        // The change and the read of the changed message land together: a change committed
        // but not read back would go unanswered, and its repetition would then find nothing
        // to change and never reach the UI.
        let after = self.atomically(|s| {
            match amend {
                Amend::Edit(text) => {
                    s.conn.execute(
                        "INSERT INTO message_edits (message, text, replaced_at) VALUES (?1, ?2, ?3)",
                        params![seq, message.message.text, to_sql_time(now)],
                    )?;
                    s.conn.execute(
                        "UPDATE messages SET text = ?2, edited_at = ?3 WHERE seq = ?1",
                        params![seq, text, to_sql_time(sent_at)],
                    )?;
                }
                Amend::Delete => {
                    s.conn
                        .execute("DELETE FROM message_edits WHERE message = ?1", [seq])?;
                    s.conn.execute(
                        "DELETE FROM reactions WHERE msg_sender = ?1 AND msg_id = ?2",
                        params![message.message.sender.to_base64(), message.message.id],
                    )?;
                    s.conn.execute(
                        "UPDATE messages SET text = '', unsent = 1, edited_at = NULL WHERE seq = ?1",
                        [seq],
                    )?;
                }
            }
            s.message(&message.message.sender, &message.message.id)?
                .ok_or_else(|| StoreError::Invalid("the message vanished".into()))
        })?;
        // A deleted or replaced text is scrubbed from the files like a local delete.
        self.scrub_pending = true;
        Ok(AmendOutcome::Applied(after))
    }

    /// Whether an edit or delete may be waiting for some message (`false` is certain; `true`
    /// means "look"): costs a statement at most once per group.
    pub fn may_hold_amendments(&mut self) -> Result<bool> {
        Ok(!self.none_held()?)
    }

    /// Whether no early amendment is held: asked of the table once (an `EXISTS`) and then
    /// remembered until something is held again or a group transaction begins or commits
    /// ([`HeldAmendments`]).
    fn none_held(&mut self) -> Result<bool> {
        if self.held_amendments == HeldAmendments::Unknown {
            let any: bool = self
                .conn
                .prepare_cached("SELECT EXISTS (SELECT 1 FROM early_amendments)")?
                .query_row([], |r| r.get(0))?;
            if any {
                return Ok(false);
            }
            self.held_amendments = HeldAmendments::None;
        }
        Ok(true)
    }

    /// Keeps an early amendment (the newest per message), within the bounds.
    fn hold(
        &mut self,
        sender: &PublicKey,
        msg_id: &str,
        amend: &Amend,
        sent_at: u64,
        now: u64,
    ) -> Result<()> {
        let sender_text = sender.to_base64();
        self.held_amendments = HeldAmendments::Unknown;
        let tx = self.conn.savepoint()?;
        tx.execute(
            "DELETE FROM early_amendments WHERE received_at < ?1",
            [to_sql_time(now.saturating_sub(self.early_max_age_ms))],
        )?;
        tx.execute(
            "INSERT INTO early_amendments (sender, msg_id, kind, text, sent_at, received_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (sender, msg_id) DO UPDATE SET kind = excluded.kind,
                 text = excluded.text, sent_at = excluded.sent_at,
                 received_at = excluded.received_at
             WHERE excluded.sent_at >= early_amendments.sent_at AND early_amendments.kind = 'edit'",
            params![
                sender_text,
                msg_id,
                amend.kind(),
                amend.text(),
                to_sql_time(sent_at),
                to_sql_time(now)
            ],
        )?;
        tx.execute(
            "DELETE FROM early_amendments WHERE rowid IN (
                 SELECT rowid FROM early_amendments WHERE sender = ?1
                 ORDER BY received_at DESC LIMIT -1 OFFSET ?2)",
            params![sender_text, MAX_EARLY_PER_SENDER as i64],
        )?;
        tx.execute(
            "DELETE FROM early_amendments WHERE rowid IN (
                 SELECT rowid FROM early_amendments ORDER BY received_at DESC LIMIT -1 OFFSET ?1)",
            [MAX_EARLY as i64],
        )?;
        tx.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::contacts::tests::key;
    use super::super::{ChatMessage, Conversation};
    use super::*;

    fn chat(sender: u8, id: &str, text: &str) -> ChatMessage {
        ChatMessage {
            conversation: Conversation::Peer(key(sender)),
            sender: key(sender),
            id: id.into(),
            text: text.into(),
            sent_at: 1,
            received_at: 1,
            reply_to: None,
        }
    }

    #[test]
    fn a_held_amendment_is_found_after_the_store_knew_none_and_after_a_rollback() {
        let mut s = Store::open_in_memory().unwrap();
        let edit = |t: &str| Amend::Edit(t.into());
        // Nothing held: the store learns it, then an amendment is held after all.
        assert_eq!(s.apply_held_amendment(&key(1), "m0", 1).unwrap(), None);
        assert_eq!(
            s.apply_amendment(&key(1), "m1", &edit("edited"), 10, 11)
                .unwrap(),
            AmendOutcome::Held
        );
        // A group applies it, learns that nothing is held any more, and is rolled back, as
        // SQLite does on a full disk: the held amendment is back.
        s.begin_group().unwrap();
        s.insert_incoming(&chat(1, "m1", "original")).unwrap();
        let applied = s.apply_held_amendment(&key(1), "m1", 12).unwrap().unwrap();
        assert_eq!(applied.message.text, "edited");
        assert_eq!(s.apply_held_amendment(&key(1), "m2", 12).unwrap(), None);
        s.abort_group_for_test();
        assert!(s.commit_group().is_err(), "the group was rolled back");
        // The message comes again: the amendment still applies.
        assert!(s.insert_incoming(&chat(1, "m1", "original")).unwrap());
        let applied = s.apply_held_amendment(&key(1), "m1", 13).unwrap().unwrap();
        assert_eq!(applied.message.text, "edited");
        assert_eq!(
            s.message(&key(1), "m1").unwrap().unwrap().message.text,
            "edited"
        );
    }

    /// A store failure after an edit's change (here, reading the changed message back) must
    /// not leave it changed: unanswered, the edit comes again, and only then is it applied,
    /// with its event.
    #[test]
    fn an_edit_that_cannot_be_read_back_is_not_applied_and_applies_when_it_comes_again() {
        let mut s = Store::open_in_memory().unwrap();
        s.insert_incoming(&chat(1, "m1", "original")).unwrap();
        // The read-back fails: the edited message's sender is no longer a key.
        s.execute_for_test(&format!(
            "CREATE TEMP TRIGGER unreadable AFTER UPDATE OF text ON messages BEGIN
                 UPDATE messages SET sender = '{}' WHERE seq = NEW.seq;
             END;",
            "!".repeat(44)
        ));
        let edit = Amend::Edit("edited".into());
        assert!(s.apply_amendment(&key(1), "m1", &edit, 10, 11).is_err());
        s.execute_for_test("DROP TRIGGER unreadable");
        assert_eq!(
            s.message(&key(1), "m1").unwrap().unwrap().message.text,
            "original",
            "changed unanswered"
        );
        match s.apply_amendment(&key(1), "m1", &edit, 10, 12).unwrap() {
            AmendOutcome::Applied(m) => assert_eq!(m.message.text, "edited"),
            other => panic!("the repeated edit was not applied: {other:?}"),
        }
    }

    #[test]
    fn only_the_sender_amends_its_message_and_edits_keep_their_history() {
        let mut s = Store::open_in_memory().unwrap();
        s.insert_incoming(&chat(1, "m1", "first")).unwrap();
        let edit = |t: &str| Amend::Edit(t.into());
        assert!(
            matches!(s.apply_amendment(&key(1), "m1", &edit("second"), 10, 11).unwrap(), AmendOutcome::Applied(m) if m.message.text == "second" && m.edited_at == Some(10))
        );
        // Another key naming the same id amends nothing of key 1's (it is held as its own).
        assert_eq!(
            s.apply_amendment(&key(2), "m1", &edit("forged"), 20, 21)
                .unwrap(),
            AmendOutcome::Held
        );
        assert_eq!(
            s.message(&key(1), "m1").unwrap().unwrap().message.text,
            "second"
        );
        // An older edit arriving late changes nothing.
        assert_eq!(
            s.apply_amendment(&key(1), "m1", &edit("stale"), 5, 22)
                .unwrap(),
            AmendOutcome::Unchanged
        );
        let seq = s.message(&key(1), "m1").unwrap().unwrap().seq;
        assert_eq!(s.edit_history(seq).unwrap(), [("first".to_owned(), 11)]);
        // Delete: text, history gone; final.
        assert!(
            matches!(s.apply_amendment(&key(1), "m1", &Amend::Delete, 30, 31).unwrap(), AmendOutcome::Applied(m) if m.unsent && m.message.text.is_empty())
        );
        assert!(s.edit_history(seq).unwrap().is_empty());
        assert_eq!(
            s.apply_amendment(&key(1), "m1", &edit("back"), 40, 41)
                .unwrap(),
            AmendOutcome::Unchanged
        );
        // The original retransmitted: still recognised, not shown again.
        assert!(!s.insert_incoming(&chat(1, "m1", "first")).unwrap());
    }

    #[test]
    fn an_early_amendment_is_applied_when_its_message_arrives_and_bounded_otherwise() {
        let mut s = Store::open_in_memory().unwrap();
        assert_eq!(
            s.apply_amendment(&key(1), "m1", &Amend::Edit("later text".into()), 10, 100)
                .unwrap(),
            AmendOutcome::Held
        );
        s.insert_incoming(&chat(1, "m1", "original")).unwrap();
        let applied = s.apply_held_amendment(&key(1), "m1", 200).unwrap().unwrap();
        assert_eq!(applied.message.text, "later text");
        // Too old by the time the message comes: dropped.
        s.apply_amendment(&key(1), "m2", &Amend::Delete, 10, 100)
            .unwrap();
        s.insert_incoming(&chat(1, "m2", "kept")).unwrap();
        assert_eq!(
            s.apply_held_amendment(&key(1), "m2", 100 + EARLY_MAX_AGE_MS + 1)
                .unwrap(),
            None
        );
        assert_eq!(
            s.message(&key(1), "m2").unwrap().unwrap().message.text,
            "kept"
        );
        // Per sender, only the newest MAX_EARLY_PER_SENDER are kept.
        for i in 0..(MAX_EARLY_PER_SENDER + 10) {
            s.apply_amendment(
                &key(3),
                &format!("x{i}"),
                &Amend::Delete,
                1,
                1000 + i as u64,
            )
            .unwrap();
        }
        let held: i64 = s
            .conn
            .query_row(
                "SELECT count(*) FROM early_amendments WHERE sender = ?1",
                [key(3).to_base64()],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(held as usize, MAX_EARLY_PER_SENDER);
        let oldest_kept: Option<String> = s
            .conn
            .query_row(
                "SELECT msg_id FROM early_amendments WHERE msg_id = 'x0'",
                [],
                |r| r.get(0),
            )
            .optional()
            .unwrap();
        assert_eq!(oldest_kept, None);
    }

    #[test]
    fn our_delete_settles_the_outbox_and_is_queued_for_those_who_got_it() {
        let mut s = Store::open_in_memory().unwrap();
        let me = key(0);
        let m = ChatMessage {
            sender: me,
            ..chat(1, "o1", "oops")
        };
        s.enqueue(&m, &[key(1), key(2)]).unwrap();
        s.mark_sent(&key(1), "o1").unwrap();
        let (after, to) = s
            .amend_own(&me, "o1", &Amend::Delete, "d1", 50)
            .unwrap()
            .unwrap();
        assert!(after.unsent);
        assert_eq!(to, [key(1)], "key 2 never got it, so it gets nothing");
        assert!(
            s.pending_for(&key(1)).unwrap().is_empty(),
            "the chat is not resent"
        );
        assert!(s.pending_for(&key(2)).unwrap().is_empty());
        let owed = s.pending_amendments_for(&key(1)).unwrap();
        assert_eq!((owed.len(), owed[0].id.as_str()), (1, "d1"));
        assert_eq!(
            s.peers_with_pending().unwrap(),
            [key(1)],
            "redialled for the delete"
        );
        s.mark_delivered(&key(1), "d1").unwrap();
        assert!(s.pending_amendments_for(&key(1)).unwrap().is_empty());
        assert!(s.peers_with_pending().unwrap().is_empty());
        assert_eq!(
            s.amend_own(&me, "o1", &Amend::Edit("x".into()), "e1", 60)
                .unwrap(),
            None
        );
        assert_eq!(
            s.amend_own(&me, "nope", &Amend::Delete, "e2", 60).unwrap(),
            None
        );
    }
}
