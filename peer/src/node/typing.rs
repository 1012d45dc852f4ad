//! Typing indicators (PROTOCOL.md §5 `typing`, §8.10): never stored, never acknowledged.
//!
//! * **Sending** is rate-limited per conversation: a `typing` start goes out at most once per
//!   [`TYPING_RESEND`] (the page asks again while the user keeps typing, so a start also
//!   refreshes the other side), and a stop only after a start. Only to contacts with a live
//!   session for whom typing indicators are on; never to a message request.
//! * **Receiving** is bounded so a peer cannot flood the page: a start less than
//!   [`TYPING_MIN_START_GAP`] after the last one taken from that sender in that conversation is
//!   ignored, a sender is tracked in at most [`MAX_TYPING_PER_SENDER`] conversations, and the
//!   page gets one `typing` event per change of state — on when a start is taken while off;
//!   off on a stop, on the sender's chat in that conversation, at the end of its session, or
//!   [`TYPING_EXPIRY`] after its last start. A start in a room counts only if the room lists
//!   us and the sender; any start counts only if typing indicators are on with its sender.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use crypto_core::wire::Payload;
use crypto_core::PublicKey;
use tokio::time::Instant;

use super::reactions::Reply;
use super::{lock, Node};
use crate::event::Event;
use crate::persist::StoreBatch;
use crate::session::Outgoing;
use crate::store::{Conversation, Indicator};

/// A start goes out at most this often per conversation.
pub const TYPING_RESEND: Duration = Duration::from_secs(3);
/// A start taken less than this long after the previous one from the same sender in the same
/// conversation is ignored (below [`TYPING_RESEND`], for jitter on the way).
pub const TYPING_MIN_START_GAP: Duration = Duration::from_secs(2);
/// A sender shown typing is shown as stopped this long after its last start.
pub const TYPING_EXPIRY: Duration = Duration::from_secs(7);
/// Conversations one sender can be shown typing in at once; starts for more are ignored.
pub const MAX_TYPING_PER_SENDER: usize = 8;
/// Our conversations whose last typing state we remember (the oldest is forgotten).
const MAX_TYPING_SENT: usize = 256;

/// What we last sent in one conversation.
struct Sent {
    last_start: Instant,
    active: bool,
}

/// What one sender is doing in one conversation, as far as we took it.
struct Seen {
    conversation: Conversation,
    active: bool,
    /// The page was told it is typing (so it must be told when it stops).
    shown: bool,
    last_start: Instant,
    expires: Instant,
    /// Changes with every start taken and every stop, so a late check or timer of an earlier
    /// start changes nothing.
    generation: u64,
}

/// Both sides' state.
#[derive(Default)]
pub(super) struct Typing {
    sent: Mutex<HashMap<Conversation, Sent>>,
    seen: Mutex<HashMap<PublicKey, Vec<Seen>>>,
    generations: AtomicU64,
}

/// What a received `typing` changed.
enum Change {
    /// A start was taken while off: to be shown once checked.
    Start(u64),
    /// It was shown and stopped: the page is told.
    Stop,
}

impl Typing {
    fn generation(&self) -> u64 {
        self.generations.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Whether our `typing` of `active` in `conversation` goes on the wire now.
    fn should_send(&self, conversation: &Conversation, active: bool, now: Instant) -> bool {
        let mut sent = lock(&self.sent);
        if let Some(state) = sent.get_mut(conversation) {
            return if active {
                if now.duration_since(state.last_start) < TYPING_RESEND {
                    return false;
                }
                state.last_start = now;
                state.active = true;
                true
            } else {
                std::mem::replace(&mut state.active, false)
            };
        }
        if !active {
            return false;
        }
        if sent.len() >= MAX_TYPING_SENT {
            let oldest = sent
                .iter()
                .min_by_key(|(_, s)| (s.active, s.last_start))
                .map(|(c, _)| c.clone());
            if let Some(oldest) = oldest {
                sent.remove(&oldest);
            }
        }
        sent.insert(
            conversation.clone(),
            Sent {
                last_start: now,
                active: true,
            },
        );
        true
    }

    /// Takes a received `typing` from `peer`: the change it makes, if any.
    fn take(
        &self,
        peer: PublicKey,
        conversation: Conversation,
        active: bool,
        now: Instant,
    ) -> Option<Change> {
        let mut seen = lock(&self.seen);
        let entries = seen.entry(peer).or_default();
        let position = entries.iter().position(|e| e.conversation == conversation);
        match (position, active) {
            (Some(i), true) => {
                let entry = &mut entries[i];
                if now.duration_since(entry.last_start) < TYPING_MIN_START_GAP {
                    return None;
                }
                entry.last_start = now;
                entry.expires = now + TYPING_EXPIRY;
                if entry.active {
                    return None; // still typing: only the expiry moves
                }
                entry.active = true;
                entry.generation = self.generation();
                Some(Change::Start(entry.generation))
            }
            (Some(i), false) => stop(&mut entries[i], self.generation()),
            (None, true) => {
                if entries.len() >= MAX_TYPING_PER_SENDER {
                    let idle = entries.iter().position(|e| !e.active)?;
                    entries.swap_remove(idle);
                }
                let generation = self.generation();
                entries.push(Seen {
                    conversation,
                    active: true,
                    shown: false,
                    last_start: now,
                    expires: now + TYPING_EXPIRY,
                    generation,
                });
                Some(Change::Start(generation))
            }
            (None, false) => None,
        }
    }

    /// The checked start `generation` is shown if it is still the current state.
    fn show(&self, peer: &PublicKey, conversation: &Conversation, generation: u64) -> bool {
        let mut seen = lock(&self.seen);
        let Some(entry) = seen
            .get_mut(peer)
            .and_then(|v| v.iter_mut().find(|e| e.conversation == *conversation))
        else {
            return false;
        };
        if entry.active && entry.generation == generation {
            entry.shown = true;
            true
        } else {
            false
        }
    }

    /// A start that failed its check: off again, without an event.
    fn drop_start(&self, peer: &PublicKey, conversation: &Conversation, generation: u64) {
        let mut seen = lock(&self.seen);
        if let Some(entry) = seen
            .get_mut(peer)
            .and_then(|v| v.iter_mut().find(|e| e.conversation == *conversation))
        {
            if entry.generation == generation {
                entry.active = false;
            }
        }
    }
}

/// Turns `entry` off: `Stop` if the page was shown it typing.
fn stop(entry: &mut Seen, generation: u64) -> Option<Change> {
    if !entry.active {
        return None;
    }
    entry.active = false;
    entry.generation = generation;
    std::mem::replace(&mut entry.shown, false).then_some(Change::Stop)
}

impl Node {
    /// Our user is typing (`active`) or stopped in `conversation` (a contact's chat or a room):
    /// sent when the rate limit allows, to those with typing indicators on.
    pub async fn typing(&self, conversation: Conversation, active: bool) {
        let (recipients, room) = match &conversation {
            Conversation::Peer(key) => (vec![*key], None),
            Conversation::Room(id) => {
                let room_id = id.clone();
                let me = self.inner.public;
                let members = self
                    .store()
                    .call(move |s| s.room_members(&room_id))
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .unwrap_or_default();
                if !members.contains(&me) {
                    return;
                }
                let others = members.into_iter().filter(|k| *k != me).collect();
                (others, Some(id.clone()))
            }
            Conversation::Everyone => return,
        };
        let mut ready = Vec::with_capacity(recipients.len());
        for key in recipients {
            // A live session that is not a message request is a contact's (PROTOCOL.md §8.2).
            if self.is_online(&key)
                && !self.inner.sessions.is_stranger(&key)
                && self.indicator_on(Indicator::Typing, &key).await
            {
                ready.push(key);
            }
        }
        // The window is spent only by a start that goes to someone, so a start nobody got
        // neither delays the next one nor leads to a stop on its own.
        let now = Instant::now();
        if ready.is_empty() {
            if !active {
                self.inner.typing.should_send(&conversation, false, now);
            }
            return;
        }
        if !self.inner.typing.should_send(&conversation, active, now) {
            return;
        }
        let payload: Outgoing = Payload::Typing { active, room }.to_bytes().into();
        for key in ready {
            self.push_to_contact(&key, payload.clone()).await;
        }
    }

    /// A `typing` payload from contact `peer` (strangers' are dropped before this).
    pub(super) fn receive_typing(
        &self,
        peer: PublicKey,
        batch: &Mutex<StoreBatch>,
        active: bool,
        room: Option<String>,
    ) -> Reply {
        let conversation = room
            .clone()
            .map_or(Conversation::Peer(peer), Conversation::Room);
        let change = self
            .inner
            .typing
            .take(peer, conversation.clone(), active, Instant::now())?;
        let generation = match change {
            Change::Stop => {
                self.emit_typing(&peer, &conversation, false);
                return None;
            }
            Change::Start(generation) => generation,
        };
        // In a direct chat the check needs no store: done at once when the settings are at
        // hand, so a start and the stop right behind it are shown in their order.
        if room.is_none() {
            if let Some(on) = self.indicator_on_now(Indicator::Typing, &peer) {
                self.show_start(peer, conversation, generation, on);
                return None;
            }
        }
        // Checked only for a start taken, so a flood of starts costs no store work.
        let me = self.inner.public;
        let member = room.map(|id| {
            lock(batch).call(move |s| {
                s.is_room_member(&id, &me).unwrap_or(false)
                    && s.is_room_member(&id, &peer).unwrap_or(false)
            })
        });
        let node = self.clone();
        Some(Box::pin(async move {
            let in_room = match member {
                Some(check) => check.await.unwrap_or(false),
                None => true,
            };
            let on = in_room && node.indicator_on(Indicator::Typing, &peer).await;
            node.show_start(peer, conversation, generation, on);
            None
        }))
    }

    /// The checked start `generation`: shown (`allowed`, and still the current state) or off
    /// again without an event.
    fn show_start(
        &self,
        peer: PublicKey,
        conversation: Conversation,
        generation: u64,
        allowed: bool,
    ) {
        let typing = &self.inner.typing;
        if !allowed {
            typing.drop_start(&peer, &conversation, generation);
        } else if typing.show(&peer, &conversation, generation) {
            self.emit_typing(&peer, &conversation, true);
            self.expire_typing(peer, conversation, generation);
        }
    }

    /// Turns the start `generation` off once [`TYPING_EXPIRY`] passed without another start.
    fn expire_typing(&self, peer: PublicKey, conversation: Conversation, generation: u64) {
        let node = self.clone();
        tokio::spawn(async move {
            loop {
                let deadline = {
                    let mut seen = lock(&node.inner.typing.seen);
                    let Some(entry) = seen
                        .get_mut(&peer)
                        .and_then(|v| v.iter_mut().find(|e| e.conversation == conversation))
                    else {
                        return;
                    };
                    if !entry.active || entry.generation != generation {
                        return;
                    }
                    if entry.expires <= Instant::now() {
                        let next = node.inner.typing.generation();
                        let stopped = stop(entry, next).is_some();
                        drop(seen);
                        if stopped {
                            node.emit_typing(&peer, &conversation, false);
                        }
                        return;
                    }
                    entry.expires
                };
                tokio::time::sleep_until(deadline).await;
            }
        });
    }

    /// `peer`'s chat in `conversation` arrived: it is no longer typing there.
    pub(super) fn typing_ends_with_chat(&self, peer: &PublicKey, conversation: &Conversation) {
        let stopped = {
            let mut seen = lock(&self.inner.typing.seen);
            let next = self.inner.typing.generation();
            seen.get_mut(peer)
                .and_then(|v| v.iter_mut().find(|e| e.conversation == *conversation))
                .and_then(|entry| stop(entry, next))
                .is_some()
        };
        if stopped {
            self.emit_typing(peer, conversation, false);
        }
    }

    /// `peer`'s session ended: wherever it was shown typing, it stops.
    pub(super) fn typing_session_ended(&self, peer: &PublicKey) {
        let entries = lock(&self.inner.typing.seen)
            .remove(peer)
            .unwrap_or_default();
        for entry in entries {
            if entry.active && entry.shown {
                self.emit_typing(peer, &entry.conversation, false);
            }
        }
    }

    fn emit_typing(&self, peer: &PublicKey, conversation: &Conversation, active: bool) {
        self.emit(Event::Typing {
            conversation: conversation.ui_id(),
            peer_id: peer.to_base64(),
            active,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> PublicKey {
        let mut bytes = [0u8; 32];
        bytes[0] = n;
        PublicKey::from_bytes(bytes)
    }

    #[test]
    fn we_send_a_start_at_most_every_few_seconds_and_a_stop_only_after_a_start() {
        let typing = Typing::default();
        let chat = Conversation::Peer(key(1));
        let t0 = Instant::now();
        assert!(
            !typing.should_send(&chat, false, t0),
            "no stop before a start"
        );
        assert!(typing.should_send(&chat, true, t0));
        for ms in [1, 500, 2_999] {
            assert!(!typing.should_send(&chat, true, t0 + Duration::from_millis(ms)));
        }
        assert!(typing.should_send(&chat, false, t0 + Duration::from_millis(3_000)));
        assert!(!typing.should_send(&chat, false, t0 + Duration::from_millis(3_001)));
        assert!(typing.should_send(&chat, true, t0 + Duration::from_millis(3_002)));
        // Another conversation has its own window.
        let room = Conversation::Room("r".into());
        assert!(typing.should_send(&room, true, t0 + Duration::from_millis(3_003)));
    }

    #[test]
    fn a_flood_of_starts_and_stops_gives_one_change_per_state_change_and_is_bounded() {
        let typing = Typing::default();
        let chat = Conversation::Peer(key(1));
        let t0 = Instant::now();
        let mut changes = 0;
        // 10,000 payloads in 10 s, starts and stops mixed: a start counts at most every 2 s.
        for i in 0..10_000u64 {
            let at = t0 + Duration::from_millis(i);
            if let Some(change) = typing.take(key(1), chat.clone(), i % 2 == 0, at) {
                changes += 1;
                if let Change::Start(generation) = change {
                    assert!(typing.show(&key(1), &chat, generation));
                }
            }
        }
        assert!(changes <= 10, "{changes} changes");
        assert!(changes >= 2, "starts after the gap still count");
        // At most MAX_TYPING_PER_SENDER conversations at once.
        for n in 0..(MAX_TYPING_PER_SENDER as u8 + 4) {
            let _ = typing.take(key(2), Conversation::Room(format!("r{n}")), true, t0);
        }
        assert_eq!(lock(&typing.seen)[&key(2)].len(), MAX_TYPING_PER_SENDER);
    }
}
