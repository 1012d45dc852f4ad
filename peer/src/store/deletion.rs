//! Deleting messages on this device (PROTOCOL.md §8.5): one message, or a whole conversation's
//! history. Nothing is sent to anyone; the other side keeps its copy.
//!
//! Deleted text must not linger in the files (SECURITY.md):
//! * `PRAGMA secure_delete = ON` (set at open) makes SQLite overwrite deleted content with
//!   zeros instead of leaving it in free space of the page;
//! * the search index removes the message's trigrams at once (FTS5 `secure-delete`, schema
//!   version 4), and its outbox rows go with it (`ON DELETE CASCADE`), so a queued message is
//!   no longer sent;
//! * in WAL mode the pages as they were before the delete stay in the `-wal` file until it is
//!   checkpointed and overwritten, so a delete marks the store for a checkpoint that truncates
//!   the WAL to zero bytes; the store thread runs it right after the transaction commits
//!   ([`Store::scrub_if_needed`], called by `crate::persist`).

use crypto_core::PublicKey;
use rusqlite::params;

use super::conversation::Conversation;
use super::error::{Result, StoreError};
use super::Store;

impl Store {
    /// Deletes the messages with sender-chosen `id` in `conversation` (from `sender` only,
    /// when given; ids are unique per sender). Returns how many were deleted.
    pub fn delete_message(
        &mut self,
        conversation: &Conversation,
        id: &str,
        sender: Option<&PublicKey>,
    ) -> Result<usize> {
        let (kind, conv_id) = conversation.to_sql();
        let deleted = match sender {
            Some(sender) => self.conn.execute(
                "DELETE FROM messages
                 WHERE conv_kind = ?1 AND conv_id = ?2 AND msg_id = ?3 AND sender = ?4",
                params![kind, conv_id, id, sender.to_base64()],
            )?,
            None => self.conn.execute(
                "DELETE FROM messages WHERE conv_kind = ?1 AND conv_id = ?2 AND msg_id = ?3",
                params![kind, conv_id, id],
            )?,
        };
        self.scrub_pending |= deleted > 0;
        Ok(deleted)
    }

    /// Deletes every message of `conversation` and its recorded changes (a room's, and the
    /// disappearing-message timer's: the rest of its timeline). The contact or room itself
    /// stays. Returns how many messages were deleted; a conversation with nothing to delete
    /// that is no contact's or room of ours is refused (a mistyped id, not an empty history).
    pub fn delete_conversation(&mut self, conversation: &Conversation) -> Result<usize> {
        let known = match conversation {
            Conversation::Everyone => true,
            Conversation::Peer(key) => self.contact(key)?.is_some(),
            Conversation::Room(id) => self.room(id)?.is_some(),
        };
        let (kind, conv_id) = conversation.to_sql();
        let tx = self.conn.savepoint()?;
        let deleted = tx.execute(
            "DELETE FROM messages WHERE conv_kind = ?1 AND conv_id = ?2",
            params![kind, conv_id],
        )?;
        let mut changes = match conversation {
            Conversation::Room(id) => {
                tx.execute("DELETE FROM room_changes WHERE room = ?1", [id])?
            }
            _ => 0,
        };
        // Its timer lines go too; the timer itself stays (`timers.rs`).
        changes += tx.execute(
            "DELETE FROM timer_changes WHERE conv_kind = ?1 AND conv_id = ?2",
            params![kind, conv_id],
        )?;
        if !known && deleted + changes == 0 {
            return Err(StoreError::Invalid(format!(
                "no conversation {} here: not a contact, a room or a history",
                conversation.ui_id()
            )));
        }
        tx.commit()?;
        self.scrub_pending |= deleted + changes > 0;
        Ok(deleted)
    }

    /// Tells `listener` the keys of files whose rows were deleted, after each commit.
    pub fn set_file_trash_listener(&mut self, listener: super::FileTrashListener) {
        self.file_trash_listener = Some(listener);
    }

    /// After a delete has committed: checkpoints the WAL into the database and truncates it,
    /// so the pages written before the delete are gone from the `-wal` file too. Does nothing
    /// when no delete is pending or while a transaction is open (the next call does it).
    pub fn scrub_if_needed(&mut self) {
        if !self.scrub_pending || self.in_group() {
            return;
        }
        self.scrub_pending = false;
        // A deleted file message takes its files on disk with it (`files.rs`).
        match self.empty_file_trash() {
            Ok(gone) if !gone.is_empty() => {
                if let Some(listener) = self.file_trash_listener.as_mut() {
                    listener(gone);
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!("cannot delete the files of deleted messages: {e}"),
        }
        let result: rusqlite::Result<(i64, i64, i64)> =
            self.conn
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                });
        match result {
            Ok((0, _, _)) => {}
            Ok(_) => tracing::warn!("the checkpoint after a delete could not finish"),
            Err(e) => tracing::warn!("the checkpoint after a delete failed: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::contacts::tests::key;
    use super::super::messages::ChatMessage;
    use super::*;

    fn put(s: &mut Store, conv: Conversation, from: u8, id: &str, text: &str) {
        s.insert_incoming(&ChatMessage {
            conversation: conv,
            sender: key(from),
            id: id.into(),
            text: text.into(),
            sent_at: 1,
            received_at: 2,
            reply_to: None,
        })
        .unwrap();
    }

    /// Every byte of the database and its WAL.
    fn file_bytes(dir: &std::path::Path) -> Vec<u8> {
        let mut all = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            all.extend(std::fs::read(entry.unwrap().path()).unwrap());
        }
        all
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    #[test]
    fn deleted_text_leaves_the_files_and_the_index() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Store::open(dir.path().join("p.db")).unwrap();
        let conv = Conversation::Peer(key(1));
        for i in 0..30 {
            put(
                &mut s,
                conv.clone(),
                1,
                &format!("k{i}"),
                &format!("kept message {i}"),
            );
        }
        put(
            &mut s,
            conv.clone(),
            1,
            "gone",
            "the word xylophonequartz is secret",
        );
        put(
            &mut s,
            Conversation::Everyone,
            2,
            "gone",
            "same id, other sender",
        );
        // Indexed, so the index has something to forget.
        assert!(!s.index_backlog(usize::MAX).unwrap());
        s.scrub_if_needed();
        assert!(contains(&file_bytes(dir.path()), b"xylophonequartz"));
        assert_eq!(s.delete_message(&conv, "gone", Some(&key(1))).unwrap(), 1);
        s.scrub_if_needed();
        assert!(!contains(&file_bytes(dir.path()), b"xylophonequartz"));
        // The index forgot it; the other sender's message with the same id is still there.
        assert!(s.search("xylophone", None, 10).unwrap().hits.is_empty());
        assert_eq!(s.search("other sender", None, 10).unwrap().hits.len(), 1);
        // Its trigrams are gone from the index's own pages (FTS5 secure-delete), not only
        // hidden by a delete marker.
        let index_has: i64 = s
            .conn
            .query_row(
                "SELECT count(*) FROM messages_fts_data WHERE instr(block, 'xyl') > 0",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(index_has, 0);
        assert_eq!(s.delete_message(&conv, "gone", None).unwrap(), 0);
        s.close().unwrap();
        assert!(!contains(&file_bytes(dir.path()), b"xylophonequartz"));
    }

    #[test]
    fn a_conversation_goes_with_its_outbox_and_room_changes() {
        let mut s = Store::open_in_memory().unwrap();
        let me = key(9);
        let bob = key(1);
        let conv = Conversation::Peer(bob);
        put(&mut s, conv.clone(), 1, "in1", "from bob");
        s.enqueue(
            &ChatMessage {
                conversation: conv.clone(),
                sender: me,
                id: "out1".into(),
                text: "to bob, queued".into(),
                sent_at: 3,
                received_at: 3,
                reply_to: None,
            },
            &[bob],
        )
        .unwrap();
        // One indexed, one still waiting for the index: both leave it.
        assert!(!s.index_backlog(usize::MAX).unwrap());
        put(&mut s, Conversation::Everyone, 1, "e1", "elsewhere");
        put(&mut s, conv.clone(), 1, "in2", "bob again");
        assert_eq!(s.pending_for(&bob).unwrap().len(), 1);
        assert_eq!(s.delete_conversation(&conv).unwrap(), 3);
        assert!(s.history(&conv, None, 10).unwrap().is_empty());
        assert!(s.pending_for(&bob).unwrap().is_empty(), "not sent any more");
        assert_eq!(
            s.history(&Conversation::Everyone, None, 10).unwrap().len(),
            1
        );
        assert!(s.search("bob", None, 10).unwrap().hits.is_empty());
        assert_eq!(s.search("elsewhere", None, 10).unwrap().hits.len(), 1);
        let (indexed, waiting): (i64, i64) = s
            .conn
            .query_row(
                "SELECT (SELECT count(*) FROM messages_fts_docsize),
                        (SELECT count(*) FROM messages
                         WHERE seq > (SELECT indexed_to FROM fts_state))",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(
            (indexed, waiting),
            (1, 0),
            "only the message left is indexed"
        );
    }

    #[test]
    fn an_unknown_conversation_is_refused_but_an_empty_known_one_is_not() {
        let mut s = Store::open_in_memory().unwrap();
        let me = key(9);
        let err = s
            .delete_conversation(&Conversation::Peer(key(4)))
            .unwrap_err();
        assert!(
            matches!(&err, StoreError::Invalid(text) if text.contains("not a contact")),
            "{err}"
        );
        assert!(s
            .delete_conversation(&Conversation::Room("nope".into()))
            .is_err());
        assert_eq!(s.delete_conversation(&Conversation::Everyone).unwrap(), 0);
        s.create_own_room(&me, "r1", "club", &[key(1)], 1).unwrap();
        assert_eq!(
            s.delete_conversation(&Conversation::Room("r1".into()))
                .unwrap(),
            0
        );
        // A stranger's history (no contact) can still be deleted.
        put(&mut s, Conversation::Peer(key(5)), 1, "m", "hello");
        assert_eq!(
            s.delete_conversation(&Conversation::Peer(key(5))).unwrap(),
            1
        );
    }

    #[test]
    fn a_room_loses_its_messages_and_timeline_but_stays() {
        let mut s = Store::open_in_memory().unwrap();
        let me = key(9);
        s.create_own_room(&me, "r1", "club", &[key(1)], 1).unwrap();
        let room = Conversation::Room("r1".into());
        put(&mut s, room.clone(), 1, "x", "in the club");
        s.change_own_room(&me, "r1", Some("renamed"), &[], &[], 2)
            .unwrap()
            .expect("a change");
        assert_eq!(s.room_changes("r1").unwrap().len(), 1);
        assert_eq!(s.delete_conversation(&room).unwrap(), 1);
        assert!(s.history(&room, None, 10).unwrap().is_empty());
        assert!(s.room_changes("r1").unwrap().is_empty());
        let kept = s.room("r1").unwrap().expect("the room stays");
        assert_eq!((kept.name.as_str(), kept.members.len()), ("renamed", 2));
    }
}
