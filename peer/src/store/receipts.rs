//! Read receipts in the database (PROTOCOL.md §8.10, schema version 9).
//!
//! * Ours: [`Store::mark_read`] records how far we have read each sender's messages in a
//!   conversation and which receipts that makes owed (`read_positions`); the node sends them
//!   and [`Store::receipt_sent`] settles them, or [`Store::owed_receipts_for`] finds them
//!   again when the sender's next session comes up. One row per (conversation, sender): a
//!   newer read replaces an older one, so only the newest position is ever sent.
//! * Theirs: [`Store::apply_read_receipt`] takes a `read` payload naming one of our messages,
//!   only from a recipient of that message in a direct chat or a room, and moves that reader's
//!   mark forward (`read_marks`, never back); [`Store::read_marks_of`] gives the marks for
//!   `history`.

use std::collections::HashMap;

use crypto_core::PublicKey;
use rusqlite::{params, OptionalExtension};

use super::conversation::Conversation;
use super::error::Result;
use super::messages::MessageKey;
use super::{key_at, to_sql_time, Store};

/// A sender's newest message we have just read in a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadPosition {
    /// Whose messages.
    pub sender: PublicKey,
    /// The newest of them we read (what the receipt names).
    pub msg_id: String,
    /// Whether the receipt is owed (the caller's rule: settings on and a contact).
    pub owed: bool,
}

/// A receipt that moved a reader's mark on our messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadUpdate {
    /// The conversation of the message it names.
    pub conversation: Conversation,
    /// Our message it names: read, with every earlier one of ours there.
    pub msg_id: String,
}

impl Store {
    /// We read `conversation` up to message `upto` (any message of it, ours included): for
    /// each other sender with messages up to there newer than we had read of theirs, records
    /// the newest, owed when `owe(sender, store)` says so. `Ok(None)`: `upto` is not a message
    /// of this conversation (or it is "everyone", which has no receipts).
    pub fn mark_read(
        &mut self,
        conversation: &Conversation,
        upto: &MessageKey,
        me: &PublicKey,
        owe: impl Fn(&PublicKey, &Store) -> Result<bool>,
    ) -> Result<Option<Vec<ReadPosition>>> {
        if *conversation == Conversation::Everyone {
            return Ok(None);
        }
        let Some(message) = self.quoted(conversation, upto)? else {
            return Ok(None);
        };
        let (kind, conv_id) = conversation.to_sql();
        // Everything up to the newest position already recorded was read before.
        let read_before: i64 = self
            .conn
            .prepare_cached(
                "SELECT coalesce(max(up_to_seq), 0) FROM read_positions
                 WHERE conv_kind = ?1 AND conv_id = ?2",
            )?
            .query_row(params![kind, conv_id], |r| r.get(0))?;
        if message.seq <= read_before {
            return Ok(Some(Vec::new()));
        }
        let newest: Vec<(PublicKey, i64, String)> = {
            // SQLite takes the bare columns of the row holding max(seq).
            let mut stmt = self.conn.prepare_cached(
                "SELECT sender, max(seq), msg_id FROM messages
                 WHERE conv_kind = ?1 AND conv_id = ?2 AND seq > ?3 AND seq <= ?4
                   AND direction = 'in' AND sender != ?5
                 GROUP BY sender",
            )?;
            let rows = stmt.query_map(
                params![kind, conv_id, read_before, message.seq, me.to_base64()],
                |r| Ok((key_at(r, 0)?, r.get(1)?, r.get(2)?)),
            )?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        let mut positions = Vec::with_capacity(newest.len());
        for (sender, seq, msg_id) in newest {
            let owed = owe(&sender, self)?;
            self.conn
                .prepare_cached(
                    "INSERT INTO read_positions (conv_kind, conv_id, sender, up_to_seq, msg_id, owed)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT (conv_kind, conv_id, sender) DO UPDATE SET
                         up_to_seq = excluded.up_to_seq, msg_id = excluded.msg_id,
                         owed = excluded.owed
                     WHERE excluded.up_to_seq > read_positions.up_to_seq",
                )?
                .execute(params![kind, conv_id, sender.to_base64(), seq, msg_id, owed])?;
            positions.push(ReadPosition {
                sender,
                msg_id,
                owed,
            });
        }
        Ok(Some(positions))
    }

    /// The receipts still owed to `sender`: (conversation, the message id each names).
    pub fn owed_receipts_for(&self, sender: &PublicKey) -> Result<Vec<(Conversation, String)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT conv_kind, conv_id, msg_id FROM read_positions
             WHERE sender = ?1 AND owed = 1",
        )?;
        let rows = stmt.query_map([sender.to_base64()], |r| {
            Ok((Conversation::from_row(r, 0, 1)?, r.get(2)?))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The receipt naming `msg_id` went to `sender` (or is no longer wanted): not owed any
    /// more. A newer position recorded meanwhile stays owed.
    pub fn receipt_sent(
        &mut self,
        conversation: &Conversation,
        sender: &PublicKey,
        msg_id: &str,
    ) -> Result<()> {
        let (kind, conv_id) = conversation.to_sql();
        self.conn
            .prepare_cached(
                "UPDATE read_positions SET owed = 0
                 WHERE conv_kind = ?1 AND conv_id = ?2 AND sender = ?3 AND msg_id = ?4",
            )?
            .execute(params![kind, conv_id, sender.to_base64(), msg_id])?;
        Ok(())
    }

    /// A `read` receipt from `reader` naming our message `msg_id`: taken only if that message
    /// is ours, in a direct chat with `reader` or in a room, and was sent to `reader`; then
    /// `reader` has read it and every earlier message of ours there. `Ok(None)` when it names
    /// nothing of that kind or moves nothing (an older or repeated receipt).
    pub fn apply_read_receipt(
        &mut self,
        reader: &PublicKey,
        msg_id: &str,
        now: u64,
    ) -> Result<Option<ReadUpdate>> {
        let reader_text = reader.to_base64();
        let ours: Option<(i64, Conversation)> = self
            .conn
            .prepare_cached(
                "SELECT m.seq, m.conv_kind, m.conv_id FROM messages m
                 WHERE m.direction = 'out' AND m.msg_id = ?1
                   AND EXISTS (SELECT 1 FROM outbox o WHERE o.message = m.seq AND o.recipient = ?2)",
            )?
            .query_row(params![msg_id, reader_text], |r| {
                Ok((r.get(0)?, Conversation::from_row(r, 1, 2)?))
            })
            .optional()?;
        let Some((seq, conversation)) = ours else {
            return Ok(None);
        };
        match &conversation {
            Conversation::Peer(key) if key == reader => {}
            Conversation::Room(_) => {}
            _ => return Ok(None),
        }
        let (kind, conv_id) = conversation.to_sql();
        let moved = self
            .conn
            .prepare_cached(
                "INSERT INTO read_marks (conv_kind, conv_id, reader, up_to_seq, read_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (conv_kind, conv_id, reader) DO UPDATE SET
                     up_to_seq = excluded.up_to_seq, read_at = excluded.read_at
                 WHERE excluded.up_to_seq > read_marks.up_to_seq",
            )?
            .execute(params![kind, conv_id, reader_text, seq, to_sql_time(now)])?;
        Ok((moved == 1).then(|| ReadUpdate {
            conversation,
            msg_id: msg_id.to_owned(),
        }))
    }

    /// How far each reader has read our messages in `conversation`: reader → our newest
    /// `seq` it read.
    pub fn read_marks_of(&self, conversation: &Conversation) -> Result<HashMap<PublicKey, i64>> {
        if *conversation == Conversation::Everyone {
            return Ok(HashMap::new());
        }
        let (kind, conv_id) = conversation.to_sql();
        let mut stmt = self.conn.prepare_cached(
            "SELECT reader, up_to_seq FROM read_marks WHERE conv_kind = ?1 AND conv_id = ?2",
        )?;
        let rows = stmt.query_map(params![kind, conv_id], |r| Ok((key_at(r, 0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::super::contacts::tests::key;
    use super::super::messages::ChatMessage;
    use super::*;

    fn message(conversation: Conversation, sender: u8, id: &str, at: u64) -> ChatMessage {
        ChatMessage {
            conversation,
            sender: key(sender),
            id: id.into(),
            text: format!("text of {id}"),
            sent_at: at,
            received_at: at,
            reply_to: None,
        }
    }

    fn incoming(conversation: Conversation, from: u8, id: &str, at: u64) -> ChatMessage {
        message(conversation, from, id, at)
    }

    fn outgoing(conversation: Conversation, id: &str, at: u64) -> ChatMessage {
        message(conversation, 0, id, at)
    }

    fn mk(sender: u8, id: &str) -> MessageKey {
        MessageKey {
            sender: key(sender),
            id: id.into(),
        }
    }

    #[test]
    fn our_reads_record_each_senders_newest_once_and_owe_it() {
        let mut s = Store::open_in_memory().unwrap();
        let room = Conversation::Room("r".into());
        for (from, id) in [(1, "a1"), (2, "b1"), (1, "a2"), (2, "b2"), (1, "a3")] {
            s.insert_incoming(&incoming(room.clone(), from, id, 10))
                .unwrap();
        }
        let me = key(0);
        // Read up to b2: Alice's newest there is a2, Bob's b2; Bob's receipt is not owed.
        let read = s
            .mark_read(&room, &mk(2, "b2"), &me, |k, _| Ok(*k == key(1)))
            .unwrap()
            .unwrap();
        let mut read: Vec<_> = read
            .into_iter()
            .map(|p| (p.sender, p.msg_id, p.owed))
            .collect();
        read.sort_by_key(|r| r.1.clone());
        assert_eq!(
            read,
            vec![(key(1), "a2".into(), true), (key(2), "b2".into(), false)]
        );
        // Again, or an older one: nothing new.
        assert_eq!(
            s.mark_read(&room, &mk(2, "b2"), &me, |_, _| Ok(true))
                .unwrap(),
            Some(vec![])
        );
        assert_eq!(
            s.mark_read(&room, &mk(1, "a1"), &me, |_, _| Ok(true))
                .unwrap(),
            Some(vec![])
        );
        // Further: only Alice has newer messages.
        let read = s
            .mark_read(&room, &mk(1, "a3"), &me, |_, _| Ok(true))
            .unwrap()
            .unwrap();
        assert_eq!(read.len(), 1);
        assert_eq!((read[0].sender, read[0].msg_id.as_str()), (key(1), "a3"));
        // One receipt owed to Alice, naming the newest.
        assert_eq!(
            s.owed_receipts_for(&key(1)).unwrap(),
            vec![(room.clone(), "a3".to_owned())]
        );
        assert_eq!(s.owed_receipts_for(&key(2)).unwrap(), vec![]);
        // Settling an older one leaves the newer owed; settling the newest clears it.
        s.receipt_sent(&room, &key(1), "a2").unwrap();
        assert_eq!(s.owed_receipts_for(&key(1)).unwrap().len(), 1);
        s.receipt_sent(&room, &key(1), "a3").unwrap();
        assert_eq!(s.owed_receipts_for(&key(1)).unwrap(), vec![]);
        // A message of another conversation, or "everyone": refused.
        let other = Conversation::Peer(key(1));
        assert_eq!(
            s.mark_read(&other, &mk(1, "a3"), &me, |_, _| Ok(true))
                .unwrap(),
            None
        );
        assert_eq!(
            s.mark_read(&Conversation::Everyone, &mk(1, "a3"), &me, |_, _| Ok(true))
                .unwrap(),
            None
        );
    }

    #[test]
    fn a_receipt_counts_only_from_a_recipient_and_only_forward() {
        let mut s = Store::open_in_memory().unwrap();
        let bob = key(2);
        let chat = Conversation::Peer(bob);
        s.enqueue(&outgoing(chat.clone(), "m1", 1), &[bob]).unwrap();
        s.enqueue(&outgoing(chat.clone(), "m2", 2), &[bob]).unwrap();
        let room = Conversation::Room("r".into());
        s.enqueue(&outgoing(room.clone(), "r1", 3), &[bob, key(3)])
            .unwrap();
        // Carol was not sent m2, and an unknown id names nothing.
        assert_eq!(s.apply_read_receipt(&key(3), "m2", 5).unwrap(), None);
        assert_eq!(s.apply_read_receipt(&bob, "nope", 5).unwrap(), None);
        let update = s.apply_read_receipt(&bob, "m2", 5).unwrap().unwrap();
        assert_eq!(update.conversation, chat);
        // Older or repeated: no change.
        assert_eq!(s.apply_read_receipt(&bob, "m1", 6).unwrap(), None);
        assert_eq!(s.apply_read_receipt(&bob, "m2", 6).unwrap(), None);
        let marks = s.read_marks_of(&chat).unwrap();
        assert_eq!(marks.len(), 1);
        assert!(marks[&bob] >= 2);
        // In a room each member has its own mark.
        assert!(s.apply_read_receipt(&key(3), "r1", 7).unwrap().is_some());
        let marks = s.read_marks_of(&room).unwrap();
        assert_eq!(marks.keys().copied().collect::<Vec<_>>(), vec![key(3)]);
    }
}
