//! Every chat message in both directions, and conversation history.
//!
//! A message is identified by (sender key, sender-chosen id), PROTOCOL §5, so a retransmission
//! after a lost `ack` is recognised here and never shown twice. History pages by `seq`, the
//! local arrival order, because `sent_at` comes from other people's clocks.

use crypto_core::PublicKey;
use rusqlite::{params, OptionalExtension, Row};

use super::conversation::{Conversation, Delivery};
use super::error::{Result, StoreError};
use super::{from_sql_time, key_at, to_sql_time, Store};

/// Whether we received or sent a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageDirection {
    /// From a peer.
    Incoming,
    /// From our own UI.
    Outgoing,
}

/// A message to store: received from a peer ([`Store::insert_incoming`]) or accepted from the
/// UI ([`Store::enqueue`], with `sender` our own key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMessage {
    /// Where it is filed.
    pub conversation: Conversation,
    /// Who wrote it.
    pub sender: PublicKey,
    /// Sender-chosen id, 1-64 characters.
    pub id: String,
    /// The text.
    pub text: String,
    /// Sender's clock, Unix ms.
    pub sent_at: u64,
    /// Our clock when we stored it, Unix ms.
    pub received_at: u64,
    /// The message this one replies to, as the sender named it (PROTOCOL.md §5). What it
    /// quotes is read from our own history ([`Store::quoted`]), never from the payload.
    pub reply_to: Option<MessageKey>,
}

/// A message named by its sender and the sender's id: unique (PROTOCOL.md §5).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MessageKey {
    /// Who wrote it.
    pub sender: PublicKey,
    /// The sender's id, 1-64 characters.
    pub id: String,
}

impl MessageKey {
    /// The wire form (`reply_from`/`reply_id`, `msg_from`/`msg_id`).
    pub fn to_wire(&self) -> crypto_core::wire::MessageRef {
        crypto_core::wire::MessageRef {
            from: self.sender.to_base64(),
            id: self.id.clone(),
        }
    }

    /// The key a received payload names; `None` if `from` is not a public key.
    pub fn from_wire(r: &crypto_core::wire::MessageRef) -> Option<Self> {
        Some(Self {
            sender: PublicKey::from_base64(&r.from).ok()?,
            id: r.id.clone(),
        })
    }
}

impl ChatMessage {
    /// The `chat` payload that sends this message (PROTOCOL.md §5).
    pub fn to_payload(&self) -> crypto_core::wire::Payload {
        self.conversation
            .chat_payload(&self.id, &self.text, self.sent_at, self.reply_to.as_ref())
    }
}

/// A stored message with its local position and, for our own messages, delivery state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    /// Local order; pass as `before` to page further back.
    pub seq: i64,
    /// Who wrote it and what it says.
    pub message: ChatMessage,
    /// Received or sent.
    pub direction: MessageDirection,
    /// For outgoing messages the least advanced state over all recipients
    /// (see [`Store::delivery`]); `None` for incoming ones.
    pub delivery: Option<Delivery>,
    /// When its sender last edited it (its text is the edited one), PROTOCOL.md §8.7.
    pub edited_at: Option<u64>,
    /// Its sender deleted it for everyone: the text is empty.
    pub unsent: bool,
}

pub(super) const COLUMNS: &str =
    "m.seq, m.conv_kind, m.conv_id, m.sender, m.msg_id, m.text, m.sent_at, \
     m.received_at, m.direction, (SELECT min(o.state) FROM outbox o WHERE o.message = m.seq), \
     m.reply_from, m.reply_id, m.edited_at, m.unsent";

pub(super) fn stored_from_row(row: &Row<'_>) -> rusqlite::Result<StoredMessage> {
    Ok(StoredMessage {
        seq: row.get(0)?,
        message: ChatMessage {
            conversation: Conversation::from_row(row, 1, 2)?,
            sender: key_at(row, 3)?,
            id: row.get(4)?,
            text: row.get(5)?,
            sent_at: from_sql_time(row.get(6)?),
            received_at: from_sql_time(row.get(7)?),
            reply_to: match row.get::<_, Option<String>>(11)? {
                Some(id) if row.get_ref(10)?.as_str_or_null()?.is_some() => Some(MessageKey {
                    sender: key_at(row, 10)?,
                    id,
                }),
                _ => None,
            },
        },
        direction: match row.get_ref(8)?.as_str()? {
            "out" => MessageDirection::Outgoing,
            _ => MessageDirection::Incoming,
        },
        delivery: row.get::<_, Option<i64>>(9)?.map(Delivery::from_sql),
        edited_at: row.get::<_, Option<i64>>(12)?.map(from_sql_time),
        unsent: row.get(13)?,
    })
}

/// The insert of [`insert`]: runs for every chat, on the ack path.
const INSERT: &str = "INSERT INTO messages (conv_kind, conv_id, sender, msg_id, text, sent_at,
         received_at, direction, reply_from, reply_id, expires_at)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10,
         (SELECT ?7 + t.seconds * ?11 FROM timers t
          WHERE t.conv_kind = ?1 AND t.conv_id = ?2 AND t.seconds > 0))
     ON CONFLICT (sender, msg_id) DO NOTHING";

/// Inserts one message row; `Ok(None)` if (sender, id) already exists. A conversation with a
/// disappearing-message timer gives the message its expiry now: `received_at` plus the timer's
/// seconds of `unit_ms` each (1,000 but in tests; `timers.rs`).
pub(super) fn insert(
    conn: &rusqlite::Connection,
    msg: &ChatMessage,
    direction: MessageDirection,
    unit_ms: i64,
) -> Result<Option<i64>> {
    if msg.id.is_empty() || msg.id.chars().count() > crypto_core::wire::MAX_ID_CHARS {
        return Err(StoreError::Invalid(
            "message id must be 1-64 characters".into(),
        ));
    }
    let (kind, conv_id) = msg.conversation.to_sql();
    // ON CONFLICT names the unique key: unlike INSERT OR IGNORE it does not also swallow
    // CHECK or NOT NULL violations, which would hide our own bugs.
    // Cached: this runs for every chat received or sent, and parsing the SQL each time cost
    // more than the insert itself. No RETURNING: SQLite buffers RETURNING rows in an
    // ephemeral table it opens and closes per statement, which cost as much again.
    let inserted = conn.prepare_cached(INSERT)?.execute(params![
        kind,
        conv_id,
        msg.sender.to_base64(),
        msg.id,
        msg.text,
        to_sql_time(msg.sent_at),
        to_sql_time(msg.received_at),
        match direction {
            MessageDirection::Incoming => "in",
            MessageDirection::Outgoing => "out",
        },
        msg.reply_to.as_ref().map(|r| r.sender.to_base64()),
        msg.reply_to.as_ref().map(|r| r.id.as_str()),
        unit_ms,
    ])?;
    // `seq` is the rowid, so the insert's rowid is the new message's `seq`.
    Ok((inserted == 1).then(|| conn.last_insert_rowid()))
}

impl Store {
    /// Stores a message received from a peer. Returns `true` if it is new, `false` if
    /// (sender, id) was already stored (a retransmission: acknowledge it, do not show it).
    /// Once this returns the message is on disk, so it is safe to send the `ack`.
    pub fn insert_incoming(&mut self, msg: &ChatMessage) -> Result<bool> {
        Ok(self.insert_incoming_seq(msg)?.is_some())
    }

    /// [`Store::insert_incoming`], returning the new message's `seq` (`None`: a
    /// retransmission, already stored).
    pub fn insert_incoming_seq(&mut self, msg: &ChatMessage) -> Result<Option<i64>> {
        insert(
            &self.conn,
            msg,
            MessageDirection::Incoming,
            self.timer_unit_ms,
        )
    }

    /// Up to `limit` messages of `conversation` older than `before` (a `seq`; `None` for the
    /// newest), returned oldest first so the page can append them in order.
    pub fn history(
        &self,
        conversation: &Conversation,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<StoredMessage>> {
        let (kind, conv_id) = conversation.to_sql();
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM messages m
             WHERE m.conv_kind = ?1 AND m.conv_id = ?2 AND m.seq < ?3
             ORDER BY m.seq DESC LIMIT ?4"
        ))?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = stmt.query_map(
            params![kind, conv_id, before.unwrap_or(i64::MAX), limit],
            stored_from_row,
        )?;
        let mut page: Vec<StoredMessage> = rows.collect::<rusqlite::Result<_>>()?;
        page.reverse();
        Ok(page)
    }

    /// The text a reply quotes: message `quoted` if we have it **in the same conversation**
    /// (a reply cannot pull text from another chat into this one); `None` otherwise.
    pub fn quoted(
        &self,
        conversation: &Conversation,
        quoted: &MessageKey,
    ) -> Result<Option<StoredMessage>> {
        Ok(self
            .message(&quoted.sender, &quoted.id)?
            .filter(|m| m.message.conversation == *conversation))
    }

    /// One message by (sender, id).
    pub fn message(&self, sender: &PublicKey, id: &str) -> Result<Option<StoredMessage>> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM messages m WHERE m.sender = ?1 AND m.msg_id = ?2"),
                params![sender.to_base64(), id],
                stored_from_row,
            )
            .optional()?)
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::super::contacts::tests::key;
    use super::*;

    pub fn incoming(conv: Conversation, from: u8, id: &str, at: u64) -> ChatMessage {
        ChatMessage {
            conversation: conv,
            sender: key(from),
            id: id.into(),
            text: format!("text of {id}"),
            sent_at: at,
            received_at: at + 1,
            reply_to: None,
        }
    }

    #[test]
    fn retransmissions_are_recognised_by_sender_and_id() {
        let mut s = Store::open_in_memory().unwrap();
        let m = incoming(Conversation::Peer(key(1)), 1, "x", 10);
        assert!(s.insert_incoming(&m).unwrap());
        assert!(!s.insert_incoming(&m).unwrap());
        // Even if the copy differs, the first stored version wins.
        let altered = ChatMessage {
            text: "changed".into(),
            ..m.clone()
        };
        assert!(!s.insert_incoming(&altered).unwrap());
        let stored = s.message(&key(1), "x").unwrap().unwrap();
        assert_eq!(stored.message, m);
        assert_eq!(
            (stored.direction, stored.delivery),
            (MessageDirection::Incoming, None)
        );
        // The same id from another sender is a different message.
        assert!(s
            .insert_incoming(&incoming(Conversation::Peer(key(2)), 2, "x", 10))
            .unwrap());
        assert_eq!(
            s.history(&Conversation::Peer(key(1)), None, 10)
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn invalid_ids_are_refused() {
        let mut s = Store::open_in_memory().unwrap();
        let empty = incoming(Conversation::Everyone, 1, "", 1);
        assert!(matches!(
            s.insert_incoming(&empty),
            Err(StoreError::Invalid(_))
        ));
        let long = incoming(Conversation::Everyone, 1, &"i".repeat(65), 1);
        assert!(matches!(
            s.insert_incoming(&long),
            Err(StoreError::Invalid(_))
        ));
        let max = incoming(Conversation::Everyone, 1, &"é".repeat(64), 1);
        assert!(s.insert_incoming(&max).unwrap(), "64 characters is allowed");
    }

    #[test]
    fn history_is_per_conversation_and_pages_backwards_in_arrival_order() {
        let mut s = Store::open_in_memory().unwrap();
        for i in 0..25u64 {
            // sent_at deliberately out of order: paging must follow arrival, not peers' clocks.
            let m = incoming(
                Conversation::Room("r1".into()),
                1,
                &format!("m{i}"),
                1000 - i,
            );
            s.insert_incoming(&m).unwrap();
            s.insert_incoming(&incoming(Conversation::Everyone, 2, &format!("e{i}"), i))
                .unwrap();
        }
        let room = Conversation::Room("r1".into());
        let newest = s.history(&room, None, 10).unwrap();
        let ids: Vec<_> = newest.iter().map(|m| m.message.id.clone()).collect();
        assert_eq!(ids, (15..25).map(|i| format!("m{i}")).collect::<Vec<_>>());
        let older = s.history(&room, Some(newest[0].seq), 10).unwrap();
        assert_eq!(older.first().unwrap().message.id, "m5");
        let oldest = s.history(&room, Some(older[0].seq), 10).unwrap();
        assert_eq!(oldest.len(), 5);
        assert!(s
            .history(&room, Some(oldest[0].seq), 10)
            .unwrap()
            .is_empty());
        assert!(s
            .history(&Conversation::Room("other".into()), None, 10)
            .unwrap()
            .is_empty());
        assert_eq!(
            s.history(&Conversation::Everyone, None, 100).unwrap().len(),
            25
        );
        assert!(s.history(&room, None, 0).unwrap().is_empty());
    }

    #[test]
    fn extreme_times_and_unusual_text_round_trip() {
        let mut s = Store::open_in_memory().unwrap();
        let m = ChatMessage {
            text: "nul \0 emoji 🦀 <b>html</b> '; DROP TABLE messages; --".into(),
            sent_at: u64::MAX,
            ..incoming(Conversation::Everyone, 3, "t", 0)
        };
        s.insert_incoming(&m).unwrap();
        let back = s.message(&key(3), "t").unwrap().unwrap().message;
        assert_eq!(back.text, m.text);
        assert_eq!(back.sent_at, i64::MAX as u64, "clamped, not wrapped");
    }

    /// SQLite checks an `IN` list of three or more constants through a temporary B-tree built
    /// for each row; the insert of every chat must not (schema version 14).
    #[test]
    fn the_insert_of_a_chat_builds_no_temporary_table() {
        let s = Store::open_in_memory().unwrap();
        let opcodes: Vec<String> = s
            .conn
            .prepare(&format!("EXPLAIN {INSERT}"))
            .unwrap()
            .query_map(
                rusqlite::params_from_iter([rusqlite::types::Null; 11]),
                |r| r.get(1),
            )
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert!(opcodes.iter().any(|op| op == "Insert"), "{opcodes:?}");
        assert!(
            !opcodes.iter().any(|op| op == "OpenEphemeral"),
            "{opcodes:?}"
        );
    }

    /// What a group commit costs as the in-memory history grows (`cargo test -p peer --lib
    /// store::messages::tests::commit_cost -- --ignored --nocapture`): the ephemeral store
    /// ([`Store::open_in_memory`], a `memdb` file) beside the same schema in SQLite's
    /// `:memory:`, groups of 13 chats of ~100 B as the store thread commits them under load,
    /// the two filled step by step in turn.
    #[test]
    #[ignore = "a measurement, not a check"]
    fn commit_cost() {
        let memory = rusqlite::Connection::open_in_memory().unwrap();
        let mut stores = [
            ("memdb (ours)", Store::open_in_memory().unwrap()),
            (
                ":memory:",
                Store::init(memory, Store::DEFAULT_BUSY_TIMEOUT, false).unwrap(),
            ),
        ];
        const GROUP: usize = 13;
        const GROUPS_PER_STEP: usize = 4_000;
        let mut next = [0u64; 2];
        for step in 1..=8 {
            for (which, (name, store)) in stores.iter_mut().enumerate() {
                let (mut inserting, mut committing) = (Duration::ZERO, Duration::ZERO);
                for _ in 0..GROUPS_PER_STEP {
                    let started = Instant::now();
                    store.begin_group().unwrap();
                    for _ in 0..GROUP {
                        let i = next[which];
                        next[which] += 1;
                        let m = ChatMessage {
                            text: format!(
                                "message {i} with about a hundred bytes of chat text, give or take {}",
                                i * 7919
                            ),
                            ..incoming(Conversation::Peer(key(1)), 1, &format!("m{i}"), i)
                        };
                        store.insert_incoming(&m).unwrap();
                    }
                    let inserted = Instant::now();
                    store.commit_group().unwrap();
                    inserting += inserted - started;
                    committing += inserted.elapsed();
                }
                println!(
                    "{name:>12} at {:>7} chats: insert {:5.2} us/chat, commit {:6.2} us/group",
                    step * GROUP * GROUPS_PER_STEP,
                    inserting.as_secs_f64() * 1e6 / (GROUP * GROUPS_PER_STEP) as f64,
                    committing.as_secs_f64() * 1e6 / GROUPS_PER_STEP as f64,
                );
            }
        }
    }
}
