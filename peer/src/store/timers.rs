//! Disappearing messages (PROTOCOL.md §5 `timer`, §8.8): a timer per conversation, its
//! changes in the timeline, our settings owed to recipients, and the sweep that deletes
//! expired messages.
//!
//! * **Expiry is fixed at insert** (`messages.rs`): a message stored while its conversation
//!   has a timer gets `expires_at` = its `received_at` (our clock; for our own messages the
//!   send time) plus the timer. Changing the timer later changes no stored message's expiry,
//!   so a message sent before a timer was set stays.
//! * **Concurrent changes**: the setting with the later `set_at` wins, equal times are broken
//!   by the larger key (bytewise, as in PROTOCOL.md §7), so every side ends with the same
//!   setting whatever order the changes arrive in. A losing or repeated setting changes
//!   nothing and adds no timeline line. Our own change uses `set_at` = max(now, current + 1),
//!   so it always wins locally, even over a setting from a clock running ahead.
//! * **Deleting** goes the way of `deletion.rs` (secure_delete, the search index's triggers,
//!   the WAL checkpoint), in batches of [`SWEEP_BATCH`] so a week's backlog after a long
//!   downtime does not hold the store thread.

use crypto_core::PublicKey;
use rusqlite::{params, OptionalExtension, Row};

use super::conversation::Conversation;
use super::error::{Result, StoreError};
use super::{from_sql_time, key_at, to_sql_time, Store};

/// The longest timer a peer accepts on the wire: one year (the page offers up to a week).
pub const MAX_TIMER_SECONDS: u64 = 365 * 24 * 60 * 60;

/// Timeline lines kept per conversation; older ones are dropped.
pub const MAX_TIMER_CHANGES: usize = 256;

/// Expired messages deleted per sweep step.
pub const SWEEP_BATCH: usize = 512;

/// Told the messages each sweep deleted (installed by the node, called on the store thread).
pub type ExpiryListener = Box<dyn FnMut(Vec<ExpiredMessage>) + Send>;

/// A conversation's current timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timer {
    /// Seconds each message lives; 0 = off.
    pub seconds: u64,
    /// When it was set (the setter's clock), Unix ms.
    pub set_at: u64,
    /// Who set it.
    pub by: PublicKey,
}

/// One accepted setting, for the conversation's timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimerChange {
    /// The conversation.
    pub conversation: Conversation,
    /// Who set it.
    pub by: PublicKey,
    /// The new timer in seconds; 0 = off.
    pub seconds: u64,
    /// When it was set, Unix ms.
    pub set_at: u64,
    /// The newest message `seq` when it was applied: it goes after that message in history.
    pub after_seq: i64,
}

/// What a received setting did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimerUpdate {
    /// It is the conversation's timer now.
    Changed(TimerChange),
    /// The current setting is as new or newer (a repeat, or the loser of concurrent changes).
    Stale,
}

/// Our setting still owed to one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingTimer {
    /// The conversation.
    pub conversation: Conversation,
    /// The payload's id (its `ack` clears the row).
    pub id: String,
    /// Seconds; 0 = off.
    pub seconds: u64,
    /// When we set it, Unix ms.
    pub set_at: u64,
    /// The newest message `seq` when we set it: sent after the messages queued before it.
    pub after_seq: i64,
}

impl PendingTimer {
    /// The `timer` payload (PROTOCOL.md §5).
    pub fn to_payload(&self) -> crypto_core::wire::Payload {
        crypto_core::wire::Payload::Timer {
            id: self.id.clone(),
            seconds: self.seconds,
            set_at: self.set_at,
            room: match &self.conversation {
                Conversation::Room(id) => Some(id.clone()),
                _ => None,
            },
        }
    }
}

/// A message the sweep deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiredMessage {
    /// Its conversation.
    pub conversation: Conversation,
    /// Its sender-chosen id.
    pub id: String,
    /// Who wrote it (our own key for our messages).
    pub sender: PublicKey,
}

/// Only direct conversations and rooms have timers.
fn timer_sql(conversation: &Conversation) -> Result<(&'static str, String)> {
    match conversation {
        Conversation::Everyone => Err(StoreError::Invalid(
            "\"everyone\" has no disappearing-message timer".into(),
        )),
        other => Ok(other.to_sql()),
    }
}

/// Whether setting (`set_at`, `by`) beats `current`: later wins, ties go to the larger key.
fn wins(set_at: u64, by: &PublicKey, current: Option<&Timer>) -> bool {
    current.is_none_or(|c| (set_at, by.as_bytes()) > (c.set_at, c.by.as_bytes()))
}

fn change_from_row(row: &Row<'_>) -> rusqlite::Result<TimerChange> {
    Ok(TimerChange {
        conversation: Conversation::from_row(row, 0, 1)?,
        by: key_at(row, 2)?,
        seconds: from_sql_time(row.get(3)?),
        set_at: from_sql_time(row.get(4)?),
        after_seq: row.get(5)?,
    })
}

impl Store {
    /// Sets how long one timer second lasts in ms (tests shorten it; at least 1).
    pub fn set_timer_unit_ms(&mut self, unit_ms: u64) {
        self.timer_unit_ms = i64::try_from(unit_ms.max(1)).unwrap_or(1000);
    }

    /// Installs the function told about every sweep's deleted messages.
    pub fn set_expiry_listener(&mut self, listener: ExpiryListener) {
        self.expiry_listener = Some(listener);
    }

    /// The current timer of `conversation`, if one was ever set.
    pub fn timer(&self, conversation: &Conversation) -> Result<Option<Timer>> {
        let (kind, id) = timer_sql(conversation)?;
        Ok(self
            .conn
            .prepare_cached(
                "SELECT seconds, set_at, set_by FROM timers WHERE conv_kind = ?1 AND conv_id = ?2",
            )?
            .query_row(params![kind, id], |r| {
                Ok(Timer {
                    seconds: from_sql_time(r.get(0)?),
                    set_at: from_sql_time(r.get(1)?),
                    by: key_at(r, 2)?,
                })
            })
            .optional()?)
    }

    /// The seconds of every conversation whose timer is on (for listings).
    pub fn active_timers(&self) -> Result<std::collections::HashMap<Conversation, u64>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT conv_kind, conv_id, seconds FROM timers WHERE seconds > 0")?;
        let rows = stmt.query_map([], |r| {
            Ok((Conversation::from_row(r, 0, 1)?, from_sql_time(r.get(2)?)))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Applies a setting by `by` (received, or ours) under the conflict rule (module docs),
    /// recording a timeline line when it changed the timer.
    pub fn apply_timer(
        &mut self,
        conversation: &Conversation,
        by: &PublicKey,
        seconds: u64,
        set_at: u64,
    ) -> Result<TimerUpdate> {
        if seconds > MAX_TIMER_SECONDS {
            return Err(StoreError::Invalid(format!(
                "a timer may be at most {MAX_TIMER_SECONDS} seconds"
            )));
        }
        let (kind, id) = timer_sql(conversation)?;
        let current = self.timer(conversation)?;
        if !wins(set_at, by, current.as_ref()) {
            return Ok(TimerUpdate::Stale);
        }
        let tx = self.conn.savepoint()?;
        tx.execute(
            "INSERT INTO timers (conv_kind, conv_id, seconds, set_at, set_by)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (conv_kind, conv_id) DO UPDATE
             SET seconds = excluded.seconds, set_at = excluded.set_at, set_by = excluded.set_by",
            params![
                kind,
                id,
                to_sql_time(seconds),
                to_sql_time(set_at),
                by.to_base64()
            ],
        )?;
        let after_seq: i64 =
            tx.query_row("SELECT coalesce(max(seq), 0) FROM messages", [], |r| {
                r.get(0)
            })?;
        // A new setting equal to the old one in effect (a repeat by someone else) still moves
        // `set_at` forward, but the timeline only says what changed.
        let shown =
            current.is_none_or(|c| c.seconds != seconds) && !(current.is_none() && seconds == 0);
        if shown {
            tx.execute(
                "INSERT INTO timer_changes (conv_kind, conv_id, by_key, seconds, set_at, after_seq)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    kind,
                    id,
                    by.to_base64(),
                    to_sql_time(seconds),
                    to_sql_time(set_at),
                    after_seq
                ],
            )?;
            tx.execute(
                "DELETE FROM timer_changes WHERE conv_kind = ?1 AND conv_id = ?2 AND id NOT IN
                     (SELECT id FROM timer_changes WHERE conv_kind = ?1 AND conv_id = ?2
                      ORDER BY id DESC LIMIT ?3)",
                params![kind, id, MAX_TIMER_CHANGES as i64],
            )?;
        }
        tx.commit()?;
        if !shown {
            return Ok(TimerUpdate::Stale);
        }
        Ok(TimerUpdate::Changed(TimerChange {
            conversation: conversation.clone(),
            by: *by,
            seconds,
            set_at,
            after_seq,
        }))
    }

    /// Our user set the timer of `conversation`: applied with `set_at` = max(`now`, the
    /// current one's plus 1) and owed to every one of `recipients` as payload `msg_id`
    /// (replacing an older setting still owed). `None` when the timer already has that value.
    pub fn set_own_timer(
        &mut self,
        conversation: &Conversation,
        me: &PublicKey,
        seconds: u64,
        now: u64,
        msg_id: &str,
        recipients: &[PublicKey],
    ) -> Result<Option<TimerChange>> {
        let current = self.timer(conversation)?;
        if current.map_or(0, |c| c.seconds) == seconds {
            return Ok(None);
        }
        let set_at = current.map_or(now, |c| now.max(c.set_at.saturating_add(1)));
        let (kind, id) = timer_sql(conversation)?;
        // The setting and what it owes commit together (`apply_timer` takes its own savepoint
        // inside this one).
        self.atomically(|s| {
            let change = match s.apply_timer(conversation, me, seconds, set_at)? {
                TimerUpdate::Changed(change) => change,
                TimerUpdate::Stale => return Ok(None),
            };
            let mut row = s.conn.prepare_cached(
                "INSERT INTO timer_outbox (recipient, conv_kind, conv_id, msg_id, seconds,
                     set_at, after_seq) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (recipient, conv_kind, conv_id) DO UPDATE
                 SET msg_id = excluded.msg_id, seconds = excluded.seconds,
                     set_at = excluded.set_at, after_seq = excluded.after_seq",
            )?;
            for key in recipients {
                row.execute(params![
                    key.to_base64(),
                    kind,
                    id,
                    msg_id,
                    to_sql_time(seconds),
                    to_sql_time(set_at),
                    change.after_seq
                ])?;
            }
            Ok(Some(change))
        })
    }

    /// The timeline lines of `conversation`, oldest first.
    pub fn timer_changes(&self, conversation: &Conversation) -> Result<Vec<TimerChange>> {
        let Ok((kind, id)) = timer_sql(conversation) else {
            return Ok(Vec::new());
        };
        let mut stmt = self.conn.prepare_cached(
            "SELECT conv_kind, conv_id, by_key, seconds, set_at, after_seq FROM timer_changes
             WHERE conv_kind = ?1 AND conv_id = ?2 ORDER BY id",
        )?;
        let rows = stmt.query_map(params![kind, id], change_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The timeline lines of `scope` (or of every conversation), in history order: by the
    /// message each follows, then as they were applied (`p2p-chat export`).
    pub fn timer_changes_in(&self, scope: Option<&Conversation>) -> Result<Vec<TimerChange>> {
        if let Some(conversation) = scope {
            return self.timer_changes(conversation);
        }
        let mut stmt = self.conn.prepare_cached(
            "SELECT conv_kind, conv_id, by_key, seconds, set_at, after_seq FROM timer_changes
             ORDER BY after_seq, id",
        )?;
        let rows = stmt.query_map([], change_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Our settings still owed to `peer`, in the order they were set.
    pub fn pending_timers_for(&self, peer: &PublicKey) -> Result<Vec<PendingTimer>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT conv_kind, conv_id, msg_id, seconds, set_at, after_seq FROM timer_outbox
             WHERE recipient = ?1 ORDER BY after_seq, set_at",
        )?;
        let rows = stmt.query_map([peer.to_base64()], |r| {
            Ok(PendingTimer {
                conversation: Conversation::from_row(r, 0, 1)?,
                id: r.get(2)?,
                seconds: from_sql_time(r.get(3)?),
                set_at: from_sql_time(r.get(4)?),
                after_seq: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// `peer` acknowledged our setting `id`: no longer owed. Whether it was.
    pub fn timer_acked(&mut self, peer: &PublicKey, id: &str) -> Result<bool> {
        Ok(self
            .conn
            .prepare_cached("DELETE FROM timer_outbox WHERE recipient = ?1 AND msg_id = ?2")?
            .execute(params![peer.to_base64(), id])?
            > 0)
    }

    /// When the next stored message expires, Unix ms (one seek in `messages_by_expiry`).
    pub fn next_expiry(&self) -> Result<Option<u64>> {
        Ok(self
            .conn
            .prepare_cached("SELECT min(expires_at) FROM messages WHERE expires_at IS NOT NULL")?
            .query_row([], |r| r.get::<_, Option<i64>>(0))?
            .map(from_sql_time))
    }

    /// Deletes up to [`SWEEP_BATCH`] messages expired at `now` (as a local delete,
    /// `deletion.rs`) and tells the expiry listener. Returns how many were deleted.
    pub fn sweep_expired(&mut self, now: u64) -> Result<usize> {
        let expired: Vec<ExpiredMessage> = {
            let mut stmt = self.conn.prepare_cached(
                "DELETE FROM messages WHERE seq IN
                     (SELECT seq FROM messages WHERE expires_at IS NOT NULL AND expires_at <= ?1
                      ORDER BY expires_at LIMIT ?2)
                 RETURNING conv_kind, conv_id, msg_id, sender",
            )?;
            let rows = stmt.query_map(params![to_sql_time(now), SWEEP_BATCH as i64], |r| {
                Ok(ExpiredMessage {
                    conversation: Conversation::from_row(r, 0, 1)?,
                    id: r.get(2)?,
                    sender: key_at(r, 3)?,
                })
            })?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        let deleted = expired.len();
        if deleted > 0 {
            self.scrub_pending = true;
            if let Some(listener) = self.expiry_listener.as_mut() {
                listener(expired);
            }
        }
        Ok(deleted)
    }
}

#[cfg(test)]
mod tests {
    use super::super::contacts::tests::key;
    use super::super::messages::ChatMessage;
    use super::*;

    fn chat(conv: &Conversation, from: u8, id: &str, at: u64) -> ChatMessage {
        ChatMessage {
            conversation: conv.clone(),
            sender: key(from),
            id: id.into(),
            text: format!("text of {id}"),
            sent_at: at,
            received_at: at,
            reply_to: None,
        }
    }

    #[test]
    fn later_setting_wins_ties_go_to_the_larger_key_and_repeats_add_no_line() {
        let mut s = Store::open_in_memory().unwrap();
        let conv = Conversation::Peer(key(1));
        let change = s.apply_timer(&conv, &key(1), 3600, 100).unwrap();
        assert!(matches!(
            change,
            TimerUpdate::Changed(TimerChange { seconds: 3600, .. })
        ));
        // Older, and the same again: nothing.
        assert_eq!(
            s.apply_timer(&conv, &key(2), 300, 99).unwrap(),
            TimerUpdate::Stale
        );
        assert_eq!(
            s.apply_timer(&conv, &key(1), 3600, 100).unwrap(),
            TimerUpdate::Stale
        );
        // Same time: the larger key wins, the smaller loses.
        assert_eq!(
            s.apply_timer(&conv, &key(0), 300, 100).unwrap(),
            TimerUpdate::Stale
        );
        assert!(matches!(
            s.apply_timer(&conv, &key(2), 300, 100).unwrap(),
            TimerUpdate::Changed(_)
        ));
        let t = s.timer(&conv).unwrap().unwrap();
        assert_eq!((t.seconds, t.set_at, t.by), (300, 100, key(2)));
        assert_eq!(s.timer_changes(&conv).unwrap().len(), 2);
        assert!(s
            .apply_timer(&Conversation::Everyone, &key(1), 1, 1)
            .is_err());
        assert!(s
            .apply_timer(&conv, &key(1), MAX_TIMER_SECONDS + 1, 500)
            .is_err());
    }

    #[test]
    fn expiry_is_fixed_at_insert_and_the_sweep_deletes_only_expired_messages() {
        let mut s = Store::open_in_memory().unwrap();
        s.set_timer_unit_ms(1);
        let conv = Conversation::Peer(key(1));
        s.insert_incoming(&chat(&conv, 1, "before", 1000)).unwrap();
        s.apply_timer(&conv, &key(1), 300, 1).unwrap();
        s.insert_incoming(&chat(&conv, 1, "after", 1000)).unwrap();
        s.insert_incoming(&chat(&Conversation::Everyone, 1, "elsewhere", 1000))
            .unwrap();
        assert_eq!(s.next_expiry().unwrap(), Some(1300));
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = seen.clone();
        s.set_expiry_listener(Box::new(move |gone| sink.lock().unwrap().extend(gone)));
        assert_eq!(s.sweep_expired(1299).unwrap(), 0);
        assert_eq!(s.sweep_expired(1300).unwrap(), 1);
        assert_eq!(
            *seen.lock().unwrap(),
            [ExpiredMessage {
                conversation: conv.clone(),
                id: "after".into(),
                sender: key(1)
            }]
        );
        let left: Vec<String> = s
            .history(&conv, None, 10)
            .unwrap()
            .into_iter()
            .map(|m| m.message.id)
            .collect();
        assert_eq!(left, ["before"]);
        assert_eq!(s.next_expiry().unwrap(), None);
        // Turning it off: new messages stay.
        s.apply_timer(&conv, &key(1), 0, 2).unwrap();
        s.insert_incoming(&chat(&conv, 1, "off", 1000)).unwrap();
        assert_eq!(s.next_expiry().unwrap(), None);
    }

    #[test]
    fn our_message_that_expires_while_queued_is_never_sent_and_leaves_the_index() {
        let mut s = Store::open_in_memory().unwrap();
        s.set_timer_unit_ms(1);
        let (me, bob) = (key(9), key(1));
        let conv = Conversation::Peer(bob);
        s.apply_timer(&conv, &me, 300, 1).unwrap();
        let mut ours = chat(&conv, 9, "queued", 5_000);
        ours.text = "the word zanzibarquokka".into();
        s.enqueue(&ours, &[bob]).unwrap();
        assert!(!s.index_backlog(usize::MAX).unwrap());
        assert_eq!(s.pending_for(&bob).unwrap().len(), 1);
        assert_eq!(s.sweep_expired(5_300).unwrap(), 1);
        assert!(s.pending_for(&bob).unwrap().is_empty(), "not sent any more");
        assert!(s.search("zanzibar", None, 10).unwrap().hits.is_empty());
    }

    #[test]
    fn our_setting_always_wins_locally_and_is_owed_until_acknowledged() {
        let mut s = Store::open_in_memory().unwrap();
        let me = key(9);
        let room = Conversation::Room("r1".into());
        // A member's clock far ahead set it first.
        s.apply_timer(&room, &key(1), 300, 10_000).unwrap();
        let change = s
            .set_own_timer(&room, &me, 3600, 5, "t1", &[key(1), key(2)])
            .unwrap()
            .expect("a change");
        assert_eq!(change.set_at, 10_001);
        assert_eq!(
            s.set_own_timer(&room, &me, 3600, 6, "t2", &[key(1)])
                .unwrap(),
            None
        );
        let owed = s.pending_timers_for(&key(2)).unwrap();
        assert_eq!(owed.len(), 1);
        assert_eq!((owed[0].id.as_str(), owed[0].seconds), ("t1", 3600));
        // A newer setting replaces the one still owed.
        s.set_own_timer(&room, &me, 0, 7, "t3", &[key(1), key(2)])
            .unwrap()
            .expect("a change");
        let owed = s.pending_timers_for(&key(2)).unwrap();
        assert_eq!((owed.len(), owed[0].id.as_str()), (1, "t3"));
        assert!(!s.timer_acked(&key(2), "t1").unwrap());
        assert!(s.timer_acked(&key(2), "t3").unwrap());
        assert!(s.pending_timers_for(&key(2)).unwrap().is_empty());
        assert_eq!(s.pending_timers_for(&key(1)).unwrap().len(), 1);
    }

    /// What the timer lookup adds to every insert (`cargo test -p peer --lib
    /// store::timers::tests::insert_cost -- --ignored --nocapture`): the statement of
    /// `messages.rs` against the same insert without the subquery, with no timer set and with
    /// one, 100,000 chats each, in one transaction as the store thread's groups are.
    #[test]
    #[ignore = "a measurement, not a check"]
    fn insert_cost() {
        const PLAIN: &str = "INSERT INTO messages (conv_kind, conv_id, sender, msg_id, text,
                 sent_at, received_at, direction) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'in')
             ON CONFLICT (sender, msg_id) DO NOTHING";
        let n = 100_000;
        let run = |mode: &str| -> f64 {
            let mut s = Store::open_in_memory().unwrap();
            let conv = Conversation::Peer(key(1));
            if mode == "timer on" {
                s.apply_timer(&conv, &key(1), 3600, 1).unwrap();
            }
            s.begin_group().unwrap();
            let started = std::time::Instant::now();
            for i in 0..n {
                let m = ChatMessage {
                    text: format!("message {i} with about a hundred bytes of ordinary chat text, give or take {}", i * 7919),
                    ..chat(&conv, 1, &format!("m{i}"), 1_000 + i as u64)
                };
                if mode == "no subquery" {
                    let (kind, id) = m.conversation.to_sql();
                    s.conn
                        .prepare_cached(PLAIN)
                        .unwrap()
                        .execute(params![kind, id, m.sender.to_base64(), m.id, m.text, 1, 2])
                        .unwrap();
                } else {
                    s.insert_incoming(&m).unwrap();
                }
            }
            let per = started.elapsed().as_secs_f64() * 1e6 / n as f64;
            s.commit_group().unwrap();
            per
        };
        for round in 0..2 {
            for mode in ["no subquery", "timer off", "timer on"] {
                println!("round {round}: insert {mode}: {:.2} us/chat", run(mode));
            }
        }
    }

    #[test]
    fn the_timeline_of_a_conversation_is_bounded() {
        let mut s = Store::open_in_memory().unwrap();
        let conv = Conversation::Peer(key(1));
        for i in 0..(MAX_TIMER_CHANGES as u64 + 10) {
            s.apply_timer(&conv, &key(1), 300 + (i % 2), 10 + i)
                .unwrap();
        }
        let changes = s.timer_changes(&conv).unwrap();
        assert_eq!(changes.len(), MAX_TIMER_CHANGES);
        assert_eq!(
            changes.last().unwrap().set_at,
            10 + MAX_TIMER_CHANGES as u64 + 9
        );
    }
}
