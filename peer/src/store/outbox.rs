//! The outbox: guaranteed delivery of our own messages, one row per (recipient, message).
//!
//! [`Store::enqueue`] writes the message and every recipient's row in one transaction, so after
//! it returns (and only then) the UI may be told "queued": a crash can no longer lose it or
//! deliver it to only some recipients. Each recipient moves independently
//! `queued → sent → delivered`; states never move backwards, so a late `mark_sent` after the
//! `ack` or a duplicate `ack` changes nothing.

use std::collections::BTreeSet;

use crypto_core::wire::Payload;
use crypto_core::PublicKey;
use rusqlite::{params, OptionalExtension};

use super::conversation::{Conversation, Delivery};
use super::error::{Result, StoreError};
use super::messages::{insert, ChatMessage, MessageDirection, MessageKey};
use super::{from_sql_time, key_at, Store};

/// A result of [`Store::mark_sent`] / [`Store::mark_delivered`] that changed something.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryUpdate {
    /// The message's aggregate state after the change.
    pub aggregate: Delivery,
    /// Whether the aggregate moved, i.e. whether the UI needs a `delivery` event.
    pub aggregate_changed: bool,
    /// Whether the message was sent in a room: there every member's own state is shown
    /// (PROTOCOL.md §8.1, `delivery`), so each recipient's change is reported, not only the
    /// aggregate's.
    pub in_room: bool,
}

/// A message still owed to one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingMessage {
    /// Local order of the message.
    pub seq: i64,
    /// Our message id.
    pub id: String,
    /// The text.
    pub text: String,
    /// When the UI sent it, Unix ms.
    pub sent_at: u64,
    /// Where it is filed (decides `room` / `broadcast` on the wire).
    pub conversation: Conversation,
    /// `Queued`, or `Sent` if it went out but the `ack` never came (resend it).
    pub state: Delivery,
    /// The message it replies to, if any.
    pub reply_to: Option<MessageKey>,
}

impl PendingMessage {
    /// The `chat` payload to (re)send, PROTOCOL §5.
    pub fn to_payload(&self) -> Payload {
        self.conversation
            .chat_payload(&self.id, &self.text, self.sent_at, self.reply_to.as_ref())
    }
}

/// Who is owed a message, reaction, edit, delete or timer setting. `outbox` is read through
/// its index of undelivered rows (`schema.rs`, version 13): the other tables hold only what is
/// owed, `outbox` holds every message ever sent.
const WHO_IS_OWED: &str = "SELECT recipient FROM outbox WHERE state < 2
     UNION SELECT recipient FROM reaction_outbox
     UNION SELECT recipient FROM amend_outbox
     UNION SELECT recipient FROM timer_outbox
     ORDER BY recipient";

impl Store {
    /// Commits an outgoing message and a `queued` row per recipient, atomically and durably.
    /// Duplicate recipients count once. Returns the message's `seq`. Refuses an empty
    /// recipient list (nothing could ever be delivered) and a reused id.
    pub fn enqueue(&mut self, msg: &ChatMessage, recipients: &[PublicKey]) -> Result<i64> {
        let recipients: BTreeSet<&PublicKey> = recipients.iter().collect();
        if recipients.is_empty() {
            return Err(StoreError::Invalid(
                "a message needs at least one recipient".into(),
            ));
        }
        let tx = self.conn.savepoint()?;
        let seq = insert(&tx, msg, MessageDirection::Outgoing, self.timer_unit_ms)?
            .ok_or_else(|| StoreError::Duplicate(format!("message id {:?}", msg.id)))?;
        {
            let mut row = tx.prepare_cached(
                "INSERT INTO outbox (recipient, message, state) VALUES (?1, ?2, 0)",
            )?;
            for key in recipients {
                row.execute(params![key.to_base64(), seq])?;
            }
        }
        tx.commit()?;
        Ok(seq)
    }

    /// Every chat still owed to `peer` (queued, or sent without an `ack`), oldest first: what
    /// to send when its session comes up. File offers are in `files.rs` (`pending_files_for`).
    pub fn pending_for(&self, peer: &PublicKey) -> Result<Vec<PendingMessage>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT m.seq, m.msg_id, m.text, m.sent_at, m.conv_kind, m.conv_id, o.state,
                 m.reply_from, m.reply_id
             FROM outbox o JOIN messages m ON m.seq = o.message
             WHERE o.recipient = ?1 AND o.state < 2 AND m.unsent = 0
                 AND NOT EXISTS (SELECT 1 FROM files f WHERE f.message = m.seq)
             ORDER BY m.seq",
        )?;
        let rows = stmt.query_map([peer.to_base64()], |row| {
            Ok(PendingMessage {
                seq: row.get(0)?,
                id: row.get(1)?,
                text: row.get(2)?,
                sent_at: from_sql_time(row.get(3)?),
                conversation: Conversation::from_row(row, 4, 5)?,
                state: Delivery::from_sql(row.get(6)?),
                reply_to: match row.get::<_, Option<String>>(8)? {
                    Some(id) if row.get_ref(7)?.as_str_or_null()?.is_some() => Some(MessageKey {
                        sender: key_at(row, 7)?,
                        id,
                    }),
                    _ => None,
                },
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Peers that are owed at least one message, reaction, edit, delete or timer setting
    /// (`timers.rs`): whom to redial.
    pub fn peers_with_pending(&self) -> Result<Vec<PublicKey>> {
        let mut stmt = self.conn.prepare_cached(WHO_IS_OWED)?;
        let rows = stmt.query_map([], |row| key_at(row, 0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Our message `id` was written to `peer`'s session. `None` if nothing changed (unknown
    /// message or recipient, or already sent/delivered).
    pub fn mark_sent(&mut self, peer: &PublicKey, id: &str) -> Result<Option<DeliveryUpdate>> {
        self.advance(peer, id, Delivery::Sent)
    }

    /// `peer` acknowledged our message `id`. Idempotent: a duplicate `ack`, or an `ack` for a
    /// message we never sent it, returns `None`.
    /// An `ack` of one of our reactions (same id space, PROTOCOL.md §5) settles that
    /// reaction's outbox row instead and returns `None` (reactions have no delivery state).
    pub fn mark_delivered(&mut self, peer: &PublicKey, id: &str) -> Result<Option<DeliveryUpdate>> {
        let update = self.advance(peer, id, Delivery::Delivered)?;
        if update.is_none() && !self.reaction_delivered(peer, id)? {
            self.amendment_delivered(peer, id)?;
        }
        Ok(update)
    }

    /// The aggregate delivery state of our message `id`, `None` if there is no such message.
    pub fn delivery(&self, id: &str) -> Result<Option<Delivery>> {
        Ok(aggregate(&self.conn, id)?)
    }

    /// How many recipients of our message `id` have left `queued`, counting no further than
    /// `cap`: reads at most `cap` index entries, so "the first send?" (`cap` 2, answer 1) and
    /// "sent to anyone?" (`cap` 1) cost the same for 2 recipients as for 1,000.
    pub fn sent_count_up_to(&self, id: &str, cap: u32) -> Result<u32> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT count(*) FROM (SELECT 1 FROM outbox o WHERE o.state > 0 AND o.message IN
                     (SELECT seq FROM messages WHERE direction = 'out' AND msg_id = ?1) LIMIT ?2)",
            )?
            .query_row(params![id, cap], |row| row.get(0))?)
    }

    /// Every recipient of our message `id` with its own state, ordered by key.
    pub fn recipient_states(&self, id: &str) -> Result<Vec<(PublicKey, Delivery)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT o.recipient, o.state FROM outbox o JOIN messages m ON m.seq = o.message
             WHERE m.direction = 'out' AND m.msg_id = ?1 ORDER BY o.recipient",
        )?;
        let rows = stmt.query_map([id], |row| {
            Ok((key_at(row, 0)?, Delivery::from_sql(row.get(1)?)))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn advance(
        &mut self,
        peer: &PublicKey,
        id: &str,
        to: Delivery,
    ) -> Result<Option<DeliveryUpdate>> {
        let tx = self.conn.savepoint()?;
        let before = aggregate(&tx, id)?;
        // Cached statements here and in `aggregate`: this runs for every send and every ack.
        let changed = tx
            .prepare_cached(
                "UPDATE outbox SET state = ?3 WHERE recipient = ?1 AND state < ?3 AND message IN
                     (SELECT seq FROM messages WHERE direction = 'out' AND msg_id = ?2)",
            )?
            .execute(params![peer.to_base64(), id, to.to_sql()])?;
        let update = if changed == 0 {
            None
        } else {
            let after = aggregate(&tx, id)?.unwrap_or(to);
            let in_room = tx
                .prepare_cached(
                    "SELECT conv_kind = 'room' FROM messages WHERE direction = 'out' AND msg_id = ?1",
                )?
                .query_row([id], |row| row.get(0))
                .optional()?
                .unwrap_or(false);
            Some(DeliveryUpdate {
                aggregate: after,
                aggregate_changed: before != Some(after),
                in_room,
            })
        };
        tx.commit()?;
        Ok(update)
    }
}

/// Least advanced recipient state of our message `id`: one seek in `outbox_by_message_state`.
fn aggregate(conn: &rusqlite::Connection, id: &str) -> rusqlite::Result<Option<Delivery>> {
    conn.prepare_cached(
        "SELECT (SELECT min(o.state) FROM outbox o WHERE o.message = m.seq)
         FROM messages m WHERE m.direction = 'out' AND m.msg_id = ?1",
    )?
    .query_row([id], |row| row.get::<_, Option<i64>>(0))
    .optional()
    .map(|v| v.flatten().map(Delivery::from_sql))
}

#[cfg(test)]
mod tests {
    use super::super::contacts::tests::key;
    use super::*;

    pub fn outgoing(conv: Conversation, id: &str, at: u64) -> ChatMessage {
        ChatMessage {
            conversation: conv,
            sender: key(0),
            id: id.into(),
            text: format!("text of {id}"),
            sent_at: at,
            received_at: at,
            reply_to: None,
        }
    }

    #[test]
    fn enqueue_commits_one_row_per_distinct_recipient() {
        let mut s = Store::open_in_memory().unwrap();
        let m = outgoing(Conversation::Everyone, "a", 1);
        s.enqueue(&m, &[key(1), key(2), key(1)]).unwrap();
        assert_eq!(
            s.recipient_states("a").unwrap(),
            vec![(key(1), Delivery::Queued), (key(2), Delivery::Queued)]
        );
        assert_eq!(s.delivery("a").unwrap(), Some(Delivery::Queued));
        assert_eq!(s.peers_with_pending().unwrap(), vec![key(1), key(2)]);
        let stored = s.message(&key(0), "a").unwrap().unwrap();
        assert_eq!(
            (stored.direction, stored.delivery),
            (MessageDirection::Outgoing, Some(Delivery::Queued))
        );
    }

    #[test]
    fn first_send_and_aggregate_follow_the_recipients() {
        let mut s = Store::open_in_memory().unwrap();
        let recipients: Vec<_> = (1..=5).map(key).collect();
        s.enqueue(&outgoing(Conversation::Everyone, "b", 1), &recipients)
            .unwrap();
        assert_eq!(s.sent_count_up_to("b", 2).unwrap(), 0);
        s.mark_sent(&key(3), "b").unwrap();
        assert_eq!(s.sent_count_up_to("b", 2).unwrap(), 1);
        s.mark_sent(&key(1), "b").unwrap();
        assert_eq!(s.sent_count_up_to("b", 2).unwrap(), 2);
        s.mark_sent(&key(2), "b").unwrap();
        assert_eq!(
            s.sent_count_up_to("b", 2).unwrap(),
            2,
            "counting stops at the cap"
        );
        assert_eq!(s.sent_count_up_to("b", 5).unwrap(), 3);
        assert!(!s.mark_sent(&key(4), "b").unwrap().unwrap().in_room);
        assert_eq!(s.delivery("b").unwrap(), Some(Delivery::Queued));
        for k in &recipients {
            s.mark_delivered(k, "b").unwrap();
        }
        assert_eq!(s.delivery("b").unwrap(), Some(Delivery::Delivered));
        assert_eq!(s.sent_count_up_to("unknown", 2).unwrap(), 0);
        assert_eq!(s.delivery("unknown").unwrap(), None);
    }

    #[test]
    fn enqueue_refuses_no_recipients_and_reused_ids_without_partial_rows() {
        let mut s = Store::open_in_memory().unwrap();
        let m = outgoing(Conversation::Everyone, "a", 1);
        assert!(matches!(s.enqueue(&m, &[]), Err(StoreError::Invalid(_))));
        assert_eq!(s.delivery("a").unwrap(), None);
        s.enqueue(&m, &[key(1)]).unwrap();
        assert!(matches!(
            s.enqueue(&m, &[key(2)]),
            Err(StoreError::Duplicate(_))
        ));
        assert!(s.pending_for(&key(2)).unwrap().is_empty(), "rolled back");
    }

    #[test]
    fn pending_is_per_peer_in_order_and_includes_unacked_sends() {
        let mut s = Store::open_in_memory().unwrap();
        for i in 0..5 {
            s.enqueue(
                &outgoing(Conversation::Peer(key(1)), &format!("p{i}"), i),
                &[key(1)],
            )
            .unwrap();
        }
        s.enqueue(&outgoing(Conversation::Peer(key(2)), "other", 9), &[key(2)])
            .unwrap();
        s.mark_sent(&key(1), "p1").unwrap();
        s.mark_sent(&key(1), "p2").unwrap();
        s.mark_delivered(&key(1), "p2").unwrap();
        let pending = s.pending_for(&key(1)).unwrap();
        let ids: Vec<_> = pending.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(ids, ["p0", "p1", "p3", "p4"]);
        assert_eq!(
            pending[1].state,
            Delivery::Sent,
            "sent without ack is resent"
        );
    }

    #[test]
    fn states_only_move_forward_and_acks_are_idempotent() {
        let mut s = Store::open_in_memory().unwrap();
        s.enqueue(
            &outgoing(Conversation::Room("r".into()), "m", 1),
            &[key(1), key(2)],
        )
        .unwrap();

        let u = s.mark_sent(&key(1), "m").unwrap().unwrap();
        assert_eq!(
            (u.aggregate, u.aggregate_changed),
            (Delivery::Queued, false)
        );
        let u = s.mark_sent(&key(2), "m").unwrap().unwrap();
        assert_eq!((u.aggregate, u.aggregate_changed), (Delivery::Sent, true));
        assert_eq!(s.mark_sent(&key(2), "m").unwrap(), None, "already sent");
        assert!(u.in_room, "a room message reports each member");

        let u = s.mark_delivered(&key(1), "m").unwrap().unwrap();
        assert_eq!((u.aggregate, u.aggregate_changed), (Delivery::Sent, false));
        assert_eq!(
            s.mark_delivered(&key(1), "m").unwrap(),
            None,
            "duplicate ack"
        );
        assert_eq!(s.mark_sent(&key(1), "m").unwrap(), None, "never backwards");
        let u = s.mark_delivered(&key(2), "m").unwrap().unwrap();
        assert_eq!(
            (u.aggregate, u.aggregate_changed),
            (Delivery::Delivered, true)
        );
        assert_eq!(s.delivery("m").unwrap(), Some(Delivery::Delivered));
        assert!(s.peers_with_pending().unwrap().is_empty());
        // Acks for unknown ids or from non-recipients change nothing.
        assert_eq!(s.mark_delivered(&key(3), "m").unwrap(), None);
        assert_eq!(s.mark_delivered(&key(1), "nope").unwrap(), None);
    }

    #[test]
    fn an_incoming_message_with_our_id_is_not_acked_as_ours() {
        let mut s = Store::open_in_memory().unwrap();
        s.enqueue(&outgoing(Conversation::Peer(key(1)), "same", 1), &[key(1)])
            .unwrap();
        let theirs = ChatMessage {
            sender: key(1),
            ..outgoing(Conversation::Peer(key(1)), "same", 2)
        };
        assert!(s.insert_incoming(&theirs).unwrap());
        assert_eq!(s.recipient_states("same").unwrap().len(), 1);
        assert_eq!(s.delivery("same").unwrap(), Some(Delivery::Queued));
    }

    #[test]
    fn payload_carries_room_and_broadcast_from_the_conversation() {
        let mut s = Store::open_in_memory().unwrap();
        s.enqueue(&outgoing(Conversation::Everyone, "e", 5), &[key(1)])
            .unwrap();
        s.enqueue(
            &outgoing(Conversation::Room("r9".into()), "r", 6),
            &[key(1)],
        )
        .unwrap();
        s.enqueue(&outgoing(Conversation::Peer(key(1)), "d", 7), &[key(1)])
            .unwrap();
        let payloads: Vec<_> = s
            .pending_for(&key(1))
            .unwrap()
            .iter()
            .map(PendingMessage::to_payload)
            .collect();
        let chat = |id: &str, sent_at, room: Option<&str>, broadcast| Payload::Chat {
            id: id.into(),
            text: format!("text of {id}"),
            sent_at,
            room: room.map(Into::into),
            broadcast,
            reply_to: None,
        };
        assert_eq!(
            payloads,
            vec![
                chat("e", 5, None, true),
                chat("r", 6, Some("r9"), false),
                chat("d", 7, None, false)
            ]
        );
        assert_eq!(Delivery::Delivered.as_str(), "delivered");
    }

    #[test]
    fn who_is_owed_reads_only_undelivered_rows() {
        let mut s = Store::open_in_memory().unwrap();
        for i in 0..200 {
            let m = outgoing(Conversation::Everyone, &format!("m{i}"), i);
            s.enqueue(&m, &[key(1), key(2)]).unwrap();
            s.mark_delivered(&key(1), &format!("m{i}")).unwrap();
        }
        assert_eq!(s.peers_with_pending().unwrap(), vec![key(2)]);
        // Asked about once a second: a scan of every row ever sent would grow with history.
        let plan: Vec<String> = s
            .conn
            .prepare(&format!("EXPLAIN QUERY PLAN {WHO_IS_OWED}"))
            .unwrap()
            .query_map([], |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        let outbox = plan
            .iter()
            .find(|step| step.split_whitespace().nth(1) == Some("outbox"))
            .expect("the plan reads outbox");
        assert!(
            outbox.contains("outbox_pending"),
            "outbox is read through the index of undelivered rows, not scanned: {plan:?}"
        );
    }
}
