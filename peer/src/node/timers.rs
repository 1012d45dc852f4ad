//! Disappearing messages (PROTOCOL.md §5 `timer`, §8.8): setting a conversation's timer,
//! announcing it through the timer outbox, believing a received one, and telling every UI
//! when the store's sweep deleted expired messages.
//!
//! Who may set a timer: either side of a direct conversation, and **any current member** of a
//! room. Unlike membership (which decides who reads a room, so only its creator changes it,
//! PROTOCOL.md §8.4), a timer only asks the others to delete what they already have; any
//! member can keep or delete its own copy anyway, so letting every member ask gives nobody
//! power they lacked. A stranger (message request, PROTOCOL.md §8.2) never sets one: its
//! `timer` payloads are ignored and not acknowledged, so its peer offers them again later, and
//! they count only once it is a contact.

use std::pin::Pin;

use crypto_core::wire::Payload;
use crypto_core::PublicKey;

use super::Node;
use crate::event::{now_ms, Event, HistoryEntry, TimerChangeInfo};
use crate::persist::{StoreBatch, StoreUnavailable};
use crate::session::Outgoing;
use crate::store::{self, Conversation, Store, StoreError, TimerUpdate, MAX_TIMER_SECONDS};

/// The settings the UI may choose (PROTOCOL.md §8.8): off, 5 minutes, 1 hour, 1 day, 1 week.
pub const TIMER_PRESETS: [u64; 5] = [0, 300, 3_600, 86_400, 604_800];

/// A received setting whose `set_at` is further ahead of our clock than this is not taken
/// yet (nor acknowledged): otherwise a clock years ahead would win every later change.
pub const MAX_TIMER_CLOCK_AHEAD_MS: u64 = 10 * 60 * 1000;

/// Why `set_timer` failed.
#[derive(Debug, thiserror::Error)]
pub enum TimerError {
    /// Not one of [`TIMER_PRESETS`].
    #[error("seconds must be one of 0, 300, 3600, 86400, 604800")]
    BadSeconds,
    /// "everyone" or a request: no timer there.
    #[error("only a contact's chat or a room has a disappearing-message timer")]
    NoTimerHere,
    /// A peer that is not (or no longer) a contact.
    #[error("not a contact")]
    NotContact,
    /// A room we are not in.
    #[error("no room {0:?} that we are in")]
    NoRoom(String),
    /// The store failed.
    #[error("message store: {0}")]
    Store(#[from] StoreError),
    /// The store thread did not answer.
    #[error(transparent)]
    Unavailable(#[from] StoreUnavailable),
}

/// The seconds of `conversation`'s timer for a `history` event: `None` where there is none.
pub(super) fn timer_of(s: &Store, conversation: &Conversation) -> store::Result<Option<u64>> {
    if *conversation == Conversation::Everyone {
        return Ok(None);
    }
    Ok(Some(s.timer(conversation)?.map_or(0, |t| t.seconds)))
}

fn who(key: &PublicKey, me: &PublicKey) -> String {
    if key == me {
        "me".to_owned()
    } else {
        key.to_base64()
    }
}

/// A timer line as a `history` entry.
pub(super) fn timer_entry(change: store::TimerChange, me: &PublicKey) -> HistoryEntry {
    HistoryEntry::Timer(TimerChangeInfo {
        seq: change.after_seq,
        by: who(&change.by, me),
        seconds: change.seconds,
        set_at: change.set_at,
    })
}

/// The `timer` event for an accepted setting.
fn timer_event(change: &store::TimerChange, me: &PublicKey) -> Event {
    Event::Timer {
        conversation: change.conversation.ui_id(),
        seconds: change.seconds,
        by: who(&change.by, me),
        set_at: change.set_at,
    }
}

type Reply = Pin<Box<dyn std::future::Future<Output = Option<Outgoing>> + Send>>;

impl Node {
    /// Tells every UI about messages the store's sweep deleted (`message_deleted` with
    /// `reason: "expired"`). The listener holds only the event channel, not the node, so the
    /// store thread still ends when the node is dropped.
    pub fn start_timers(&self) {
        let events = self.inner.events.clone();
        let me = self.inner.public;
        self.store().exec(move |s| {
            s.set_expiry_listener(Box::new(move |gone| {
                for m in gone {
                    let _ = events.send(Event::MessageDeleted {
                        conversation: m.conversation.ui_id(),
                        id: m.id,
                        from: Some(who(&m.sender, &me)),
                        reason: Some("expired"),
                    });
                }
            }));
        });
    }

    /// Our user sets `conversation`'s timer: stored (winning over the current setting), owed
    /// to every other side through the timer outbox, written now to those whose session read
    /// its backlog, and shown to every UI (`timer`). Setting the value it already has changes
    /// nothing and sends nothing.
    pub async fn set_timer(
        &self,
        conversation: Conversation,
        seconds: u64,
    ) -> Result<(), TimerError> {
        if !TIMER_PRESETS.contains(&seconds) {
            return Err(TimerError::BadSeconds);
        }
        let me = self.inner.public;
        let id = self.inner.outbox.message_id();
        let node = self.clone();
        let conv = conversation.clone();
        let msg_id = id.clone();
        let done = self
            .store()
            .call(move |s| -> Result<_, TimerError> {
                let recipients: Vec<PublicKey> = match &conv {
                    Conversation::Everyone => return Err(TimerError::NoTimerHere),
                    Conversation::Peer(key) => {
                        if s.contact(key)?.is_none_or(|c| c.replaced_by.is_some()) {
                            return Err(TimerError::NotContact);
                        }
                        vec![*key]
                    }
                    Conversation::Room(room) => {
                        let members = s.room_members(room)?;
                        if !members.contains(&me) {
                            return Err(TimerError::NoRoom(room.clone()));
                        }
                        members.into_iter().filter(|k| *k != me).collect()
                    }
                };
                let Some(change) =
                    s.set_own_timer(&conv, &me, seconds, now_ms(), &msg_id, &recipients)?
                else {
                    return Ok(None);
                };
                // As for chats (`sending`): written now only to sessions that read their
                // backlog; the others get it from the outbox.
                let direct = node.inner.outbox.ready_among(&recipients);
                Ok(Some((change, direct)))
            })
            .await??;
        let Some((change, direct)) = done else {
            return Ok(());
        };
        self.emit(timer_event(&change, &me));
        let payload: Outgoing = Payload::Timer {
            id: id.clone(),
            seconds: change.seconds,
            set_at: change.set_at,
            room: match &conversation {
                Conversation::Room(room) => Some(room.clone()),
                _ => None,
            },
        }
        .to_bytes()
        .into();
        for key in direct {
            self.push_chat(&key, &id, payload.clone()).await;
        }
        Ok(())
    }

    /// A contact's `timer` payload (a stranger's never gets here: `inbound`): believed for
    /// our direct conversation with `peer`, or for a room both of us are current members of;
    /// acknowledged once stored (or found stale), so its peer stops offering it.
    pub(super) fn receive_timer(
        &self,
        batch: &mut StoreBatch,
        peer: PublicKey,
        (id, seconds, set_at, room): (String, u64, u64, Option<String>),
    ) -> Option<Reply> {
        let peer_id = peer.to_base64();
        if seconds > MAX_TIMER_SECONDS {
            crate::remote_log::ignored(
                &peer_id,
                format_args!("ignoring a timer longer than a year"),
            );
            return None;
        }
        if set_at > now_ms().saturating_add(MAX_TIMER_CLOCK_AHEAD_MS) {
            // Not acknowledged: offered again at a later session, by when our clocks may agree.
            crate::remote_log::ignored(
                &peer_id,
                format_args!("ignoring a timer set in the future"),
            );
            return None;
        }
        let me = self.inner.public;
        let conversation = match room {
            Some(room) => Conversation::Room(room),
            None => Conversation::Peer(peer),
        };
        let stored = batch.call(move |s| -> store::Result<Option<TimerUpdate>> {
            if let Conversation::Room(room) = &conversation {
                if !s.is_room_member(room, &me)? || !s.is_room_member(room, &peer)? {
                    return Ok(None);
                }
            }
            s.apply_timer(&conversation, &peer, seconds, set_at)
                .map(Some)
        });
        let node = self.clone();
        Some(Box::pin(async move {
            match stored.await {
                Ok(Ok(Some(TimerUpdate::Changed(change)))) => {
                    node.emit(timer_event(&change, &me));
                }
                Ok(Ok(Some(TimerUpdate::Stale))) => {}
                Ok(Ok(None)) => {
                    crate::remote_log::ignored(
                        &peer_id,
                        format_args!("ignoring a room timer from a non-member"),
                    );
                }
                Ok(Err(e)) => {
                    tracing::warn!(peer = %peer_id, "cannot store a timer: {e}");
                    return None;
                }
                Err(e) => {
                    tracing::warn!(peer = %peer_id, "a timer was not stored: {e}");
                    return None;
                }
            }
            Some(super::inbound::ack(id))
        }))
    }
}
