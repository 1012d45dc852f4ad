//! Reactions (PROTOCOL.md §5, §8.6): one emoji per person per message, replaced by that
//! person's newer reaction, withdrawn with an empty one.
//!
//! A received reaction is kept only for a message we hold, from someone who can see that
//! message: the other side of a direct chat, a current member of the room (while we are one),
//! a contact in "everyone". Anything else is dropped, so a remote party can add at most one
//! row per message it can see. Our own reactions also get a row per recipient in
//! `reaction_outbox` until acknowledged, so offline recipients get them later, once.

use std::collections::BTreeSet;

use crypto_core::PublicKey;
use rusqlite::{params, OptionalExtension};

use super::conversation::Conversation;
use super::error::Result;
use super::messages::MessageKey;
use super::{from_sql_time, key_at, to_sql_time, Store};

/// One person's current reaction to a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reaction {
    /// Who reacted.
    pub reactor: PublicKey,
    /// The emoji (never empty: withdrawn reactions are not listed).
    pub emoji: String,
    /// The reactor's clock when it reacted, Unix ms.
    pub sent_at: u64,
}

/// What a received reaction did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReactionOutcome {
    /// Stored: the reactor's reaction to that message in `conversation` is now `emoji`
    /// (empty: withdrawn).
    Changed {
        /// The message's conversation.
        conversation: Conversation,
        /// The new emoji, empty when withdrawn.
        emoji: String,
    },
    /// Nothing changed (a retransmission, the same emoji, or older than what we have).
    Unchanged,
    /// We do not hold that message (or it is a message request's): dropped.
    UnknownMessage,
    /// The reactor cannot see that message: dropped.
    NotAllowed,
}

/// Our own reaction after a toggle, and to whom it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnReaction {
    /// The message's conversation.
    pub conversation: Conversation,
    /// The emoji now, empty when the toggle withdrew it.
    pub emoji: String,
    /// The recipients it was queued for.
    pub recipients: Vec<PublicKey>,
}

/// A reaction of ours still owed to one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingReaction {
    /// The reaction's id (what the `ack` names).
    pub id: String,
    /// The message reacted to.
    pub to: MessageKey,
    /// Emoji, empty when withdrawn.
    pub emoji: String,
    /// When we reacted.
    pub sent_at: u64,
}

impl PendingReaction {
    /// The `reaction` payload (PROTOCOL.md §5).
    pub fn to_payload(&self) -> crypto_core::wire::Payload {
        crypto_core::wire::Payload::Reaction {
            id: self.id.clone(),
            to: self.to.to_wire(),
            emoji: self.emoji.clone(),
            sent_at: self.sent_at,
        }
    }
}

/// Who may react to a message of `conversation` apart from us.
enum Audience {
    Peer(PublicKey),
    Room(String),
    Everyone,
}

impl Store {
    /// Applies a reaction received from `reactor` (`is_contact`: not a stranger) to message
    /// `to`. `me` is our key (to check room membership).
    #[allow(clippy::too_many_arguments)]
    pub fn apply_reaction(
        &mut self,
        me: &PublicKey,
        reactor: &PublicKey,
        is_contact: bool,
        to: &MessageKey,
        emoji: &str,
        reaction_id: &str,
        sent_at: u64,
    ) -> Result<ReactionOutcome> {
        let Some(message) = self.message(&to.sender, &to.id)? else {
            return Ok(ReactionOutcome::UnknownMessage);
        };
        let conversation = message.message.conversation;
        let allowed = match audience(&conversation) {
            Audience::Peer(key) => key == *reactor,
            Audience::Room(room) => {
                self.is_room_member(&room, me)? && self.is_room_member(&room, reactor)?
            }
            Audience::Everyone => is_contact,
        };
        if !allowed {
            return Ok(ReactionOutcome::NotAllowed);
        }
        if upsert(&self.conn, to, reactor, emoji, reaction_id, sent_at)?.is_none() {
            return Ok(ReactionOutcome::Unchanged);
        }
        Ok(ReactionOutcome::Changed {
            conversation,
            emoji: emoji.to_owned(),
        })
    }

    /// Toggles our reaction `emoji` on message `to`: the same emoji again withdraws it, another
    /// replaces it. Queues the new state for the message's audience (`live`: the connected
    /// contacts, for a message in "everyone"). `None` if we do not hold that message or may
    /// not react to it (a room we left).
    pub fn toggle_own_reaction(
        &mut self,
        me: &PublicKey,
        to: &MessageKey,
        emoji: &str,
        reaction_id: &str,
        now: u64,
        live: &[PublicKey],
    ) -> Result<Option<OwnReaction>> {
        let Some(message) = self.message(&to.sender, &to.id)? else {
            return Ok(None);
        };
        let conversation = message.message.conversation;
        let recipients: BTreeSet<PublicKey> = match audience(&conversation) {
            Audience::Peer(key) => [key].into(),
            Audience::Room(room) => {
                let members = self.room_members(&room)?;
                if !members.contains(me) {
                    return Ok(None);
                }
                members.into_iter().collect()
            }
            Audience::Everyone => live.iter().copied().collect(),
        };
        let current: Option<String> = self
            .conn
            .query_row(
                "SELECT emoji FROM reactions WHERE msg_sender = ?1 AND msg_id = ?2 AND reactor = ?3",
                params![to.sender.to_base64(), to.id, me.to_base64()],
                |r| r.get(0),
            )
            .optional()?;
        let emoji = if current.as_deref() == Some(emoji) {
            ""
        } else {
            emoji
        };
        let tx = self.conn.savepoint()?;
        // Our own clock may stand still between two quick toggles: never go back in time.
        let at = current
            .map(|_| -> rusqlite::Result<u64> {
                let last: i64 = tx.query_row(
                    "SELECT sent_at FROM reactions WHERE msg_sender = ?1 AND msg_id = ?2 AND reactor = ?3",
                    params![to.sender.to_base64(), to.id, me.to_base64()],
                    |r| r.get(0),
                )?;
                Ok(now.max(from_sql_time(last)))
            })
            .transpose()?
            .unwrap_or(now);
        let seq = upsert(&tx, to, me, emoji, reaction_id, at)?;
        let recipients: Vec<PublicKey> = recipients.into_iter().filter(|k| k != me).collect();
        if let Some(seq) = seq {
            tx.execute("DELETE FROM reaction_outbox WHERE reaction = ?1", [seq])?;
            let mut row = tx.prepare_cached(
                "INSERT INTO reaction_outbox (recipient, reaction) VALUES (?1, ?2)",
            )?;
            for key in &recipients {
                row.execute(params![key.to_base64(), seq])?;
            }
        }
        tx.commit()?;
        Ok(Some(OwnReaction {
            conversation,
            emoji: emoji.to_owned(),
            recipients,
        }))
    }

    /// The reactions to message `to` (withdrawn ones left out), oldest first.
    pub fn reactions_of(&self, to: &MessageKey) -> Result<Vec<Reaction>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT reactor, emoji, sent_at FROM reactions
             WHERE msg_sender = ?1 AND msg_id = ?2 AND emoji != '' ORDER BY seq",
        )?;
        let rows = stmt.query_map(params![to.sender.to_base64(), to.id], |row| {
            Ok(Reaction {
                reactor: key_at(row, 0)?,
                emoji: row.get(1)?,
                sent_at: from_sql_time(row.get(2)?),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Our reactions still owed to `peer`, oldest first: sent when its session comes up.
    pub fn pending_reactions_for(&self, peer: &PublicKey) -> Result<Vec<PendingReaction>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT r.reaction_id, r.msg_sender, r.msg_id, r.emoji, r.sent_at
             FROM reaction_outbox o JOIN reactions r ON r.seq = o.reaction
             WHERE o.recipient = ?1 ORDER BY r.seq",
        )?;
        let rows = stmt.query_map([peer.to_base64()], |row| {
            Ok(PendingReaction {
                id: row.get(0)?,
                to: MessageKey {
                    sender: key_at(row, 1)?,
                    id: row.get(2)?,
                },
                emoji: row.get(3)?,
                sent_at: from_sql_time(row.get(4)?),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// `peer` acknowledged our reaction `id`: it is no longer owed.
    pub(super) fn reaction_delivered(&mut self, peer: &PublicKey, id: &str) -> Result<bool> {
        let removed = self
            .conn
            .prepare_cached(
                "DELETE FROM reaction_outbox WHERE recipient = ?1 AND reaction IN
                     (SELECT seq FROM reactions WHERE reaction_id = ?2)",
            )?
            .execute(params![peer.to_base64(), id])?;
        Ok(removed > 0)
    }
}

fn audience(conversation: &Conversation) -> Audience {
    match conversation {
        Conversation::Peer(key) => Audience::Peer(*key),
        Conversation::Room(room) => Audience::Room(room.clone()),
        Conversation::Everyone => Audience::Everyone,
    }
}

/// Sets `reactor`'s reaction to `to` unless what is stored is as new or the same; the row's
/// `seq` if it changed.
fn upsert(
    conn: &rusqlite::Connection,
    to: &MessageKey,
    reactor: &PublicKey,
    emoji: &str,
    reaction_id: &str,
    sent_at: u64,
) -> Result<Option<i64>> {
    let seq = conn
        .prepare_cached(
            "INSERT INTO reactions (msg_sender, msg_id, reactor, emoji, reaction_id, sent_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (msg_sender, msg_id, reactor) DO UPDATE SET
                 emoji = excluded.emoji, reaction_id = excluded.reaction_id,
                 sent_at = excluded.sent_at
             WHERE excluded.sent_at >= reactions.sent_at AND excluded.emoji != reactions.emoji
             RETURNING seq",
        )?
        .query_row(
            params![
                to.sender.to_base64(),
                to.id,
                reactor.to_base64(),
                emoji,
                reaction_id,
                to_sql_time(sent_at)
            ],
            |r| r.get(0),
        )
        .optional()?;
    Ok(seq)
}

#[cfg(test)]
mod tests {
    use super::super::contacts::tests::key;
    use super::super::ChatMessage;
    use super::*;

    fn message(s: &mut Store, conversation: Conversation, sender: u8, id: &str) -> MessageKey {
        let m = ChatMessage {
            conversation,
            sender: key(sender),
            id: id.into(),
            text: "hi".into(),
            sent_at: 1,
            received_at: 1,
            reply_to: None,
        };
        s.insert_incoming(&m).unwrap();
        MessageKey {
            sender: key(sender),
            id: id.into(),
        }
    }

    #[test]
    fn one_reaction_per_person_newest_wins_and_only_the_audience_counts() {
        let mut s = Store::open_in_memory().unwrap();
        let me = key(0);
        let m = message(&mut s, Conversation::Peer(key(1)), 1, "m1");
        let changed = |emoji: &str| ReactionOutcome::Changed {
            conversation: Conversation::Peer(key(1)),
            emoji: emoji.into(),
        };
        assert_eq!(
            s.apply_reaction(&me, &key(1), true, &m, "👍", "r1", 10)
                .unwrap(),
            changed("👍")
        );
        // A retransmission, and an older reaction arriving late, change nothing.
        assert_eq!(
            s.apply_reaction(&me, &key(1), true, &m, "👍", "r1", 10)
                .unwrap(),
            ReactionOutcome::Unchanged
        );
        assert_eq!(
            s.apply_reaction(&me, &key(1), true, &m, "😀", "r0", 5)
                .unwrap(),
            ReactionOutcome::Unchanged
        );
        assert_eq!(
            s.apply_reaction(&me, &key(1), true, &m, "🎉", "r2", 11)
                .unwrap(),
            changed("🎉")
        );
        let shown: Vec<_> = s
            .reactions_of(&m)
            .unwrap()
            .into_iter()
            .map(|r| r.emoji)
            .collect();
        assert_eq!(shown, ["🎉"]);
        // Withdrawn: no longer listed.
        assert_eq!(
            s.apply_reaction(&me, &key(1), true, &m, "", "r3", 12)
                .unwrap(),
            changed("")
        );
        assert!(s.reactions_of(&m).unwrap().is_empty());
        // Someone outside this direct chat, and a message we do not hold: dropped, nothing kept.
        assert_eq!(
            s.apply_reaction(&me, &key(2), true, &m, "👍", "x1", 20)
                .unwrap(),
            ReactionOutcome::NotAllowed
        );
        let unknown = MessageKey {
            sender: key(1),
            id: "nope".into(),
        };
        assert_eq!(
            s.apply_reaction(&me, &key(1), true, &unknown, "👍", "x2", 20)
                .unwrap(),
            ReactionOutcome::UnknownMessage
        );
        let rows: i64 = s
            .conn
            .query_row("SELECT count(*) FROM reactions", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 1);
        // "everyone": contacts only.
        let e = message(&mut s, Conversation::Everyone, 1, "e1");
        assert_eq!(
            s.apply_reaction(&me, &key(3), false, &e, "👍", "y1", 1)
                .unwrap(),
            ReactionOutcome::NotAllowed
        );
        assert!(matches!(
            s.apply_reaction(&me, &key(3), true, &e, "👍", "y1", 1)
                .unwrap(),
            ReactionOutcome::Changed { .. }
        ));
    }

    #[test]
    fn our_toggle_is_queued_until_acknowledged_and_goes_with_the_message() {
        let mut s = Store::open_in_memory().unwrap();
        let me = key(0);
        let m = message(&mut s, Conversation::Peer(key(1)), 1, "m1");
        let own = s
            .toggle_own_reaction(&me, &m, "👍", "a1", 10, &[])
            .unwrap()
            .unwrap();
        assert_eq!(
            (own.emoji.as_str(), own.recipients.as_slice()),
            ("👍", &[key(1)][..])
        );
        let pending = s.pending_reactions_for(&key(1)).unwrap();
        assert_eq!(pending.len(), 1);
        // Owed a reaction only: still redialled.
        assert_eq!(s.peers_with_pending().unwrap(), [key(1)]);
        assert_eq!(
            (pending[0].id.as_str(), pending[0].emoji.as_str()),
            ("a1", "👍")
        );
        // The same emoji again withdraws it, at the same millisecond: only the newest is owed.
        let own = s
            .toggle_own_reaction(&me, &m, "👍", "a2", 10, &[])
            .unwrap()
            .unwrap();
        assert_eq!(own.emoji, "");
        let pending = s.pending_reactions_for(&key(1)).unwrap();
        assert_eq!(
            pending.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(),
            ["a2"]
        );
        assert!(
            !s.reaction_delivered(&key(1), "a1").unwrap(),
            "the old id is not owed"
        );
        s.mark_delivered(&key(1), "a2").unwrap();
        assert!(s.pending_reactions_for(&key(1)).unwrap().is_empty());
        assert!(s.peers_with_pending().unwrap().is_empty());
        // Deleting the message deletes its reactions.
        s.toggle_own_reaction(&me, &m, "🎉", "a3", 11, &[])
            .unwrap()
            .unwrap();
        s.delete_message(&Conversation::Peer(key(1)), "m1", Some(&key(1)))
            .unwrap();
        assert!(s.reactions_of(&m).unwrap().is_empty());
        assert!(s.pending_reactions_for(&key(1)).unwrap().is_empty());
        let unknown = MessageKey {
            sender: key(1),
            id: "nope".into(),
        };
        assert_eq!(
            s.toggle_own_reaction(&me, &unknown, "👍", "a4", 12, &[])
                .unwrap(),
            None
        );
    }
}
