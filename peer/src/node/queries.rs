//! What the UI asks the node for: the `info` event, the live peers, the contact list
//! (coalesced into one `contacts_changed` per burst), the greeting a new UI client gets and
//! pages of history (PROTOCOL.md §9). Read-only over the other modules' state and the store.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crypto_core::wire::AGENT;
use crypto_core::PublicKey;

use super::rooms::room_event;
use super::Node;
use crate::event::{
    ContactInfo, Event, HistoryEntry, HistoryMessage, PeerInfo, ReactionInfo, RecipientState,
    RoomChangeInfo,
};
use crate::persist::StoreUnavailable;
use crate::store::{self, Conversation, Store, StoreError};

/// How long contact-list changes are gathered into one `contacts` event.
const CONTACTS_COALESCE: Duration = Duration::from_millis(100);

/// Largest `limit` of `load_history`.
pub const MAX_HISTORY_PAGE: usize = 500;

/// Why a page of history could not be read.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// The store failed.
    #[error("cannot read history: {0}")]
    Read(StoreError),
    /// The store thread did not answer.
    #[error(transparent)]
    Unavailable(StoreUnavailable),
}

/// Whether a coalesced `contacts_changed` is already scheduled (see [`Node::emit_contacts`]).
#[derive(Default)]
pub(super) struct ContactsNotice {
    scheduled: AtomicBool,
}

impl Node {
    /// The `info` event describing us.
    pub fn info(&self) -> Event {
        Event::Info {
            public_key: self.inner.public_b64.clone(),
            fingerprint: self.inner.fingerprint.clone(),
            name: self.name(),
            p2p_port: self.inner.addresses.port(),
            addresses: self.inner.addresses.dial_addresses(),
            agent: AGENT.to_owned(),
        }
    }

    /// Every live session, as `peer_connected` payloads (`contact` false for a request).
    pub fn peers(&self) -> Vec<PeerInfo> {
        let verified = self.inner.trust.verified_keys();
        // `contact` is kept with the session's stranger mark (`Registry::promote`).
        self.inner
            .sessions
            .infos()
            .into_iter()
            .map(|(key, info)| PeerInfo {
                verified: verified.contains(&key),
                confusable_with: if info.contact {
                    Vec::new()
                } else {
                    info.confusable_with
                },
                ..info
            })
            .collect()
    }

    fn contacts_from(&self, s: &Store) -> Event {
        let contacts = match s.list_contacts() {
            Ok(list) => list,
            Err(e) => {
                tracing::warn!("cannot list contacts: {e}");
                Vec::new()
            }
        };
        let timers = s.active_timers().unwrap_or_else(|e| {
            tracing::warn!("cannot read the timers: {e}");
            HashMap::new()
        });
        Event::Contacts {
            contacts: contacts
                .into_iter()
                .filter(|c| c.replaced_by.is_none())
                .map(|c| ContactInfo {
                    peer_id: c.public_key.to_base64(),
                    online: self.is_online(&c.public_key),
                    name: c.shown_name().to_owned(),
                    own_name: c.name,
                    nickname: c.nickname,
                    last_address: c.last_address,
                    first_seen: c.first_seen,
                    last_seen: c.last_seen,
                    verified: c.verified,
                    timer: timers
                        .get(&Conversation::Peer(c.public_key))
                        .copied()
                        .unwrap_or(0),
                })
                .collect(),
        }
    }

    /// Tells every UI that the contact list changed, at most once per [`CONTACTS_COALESCE`];
    /// each UI client then lists the contacts itself (`contacts_event`). A burst of handshakes
    /// used to list every contact once per handshake into the event ring — quadratic work and
    /// a ring of ever larger listings (3.5 GiB RSS at 10,000 sessions in the load bench).
    pub fn emit_contacts(&self) {
        if !self.has_subscribers() {
            return;
        }
        let scheduled = &self.inner.contacts_notice.scheduled;
        if scheduled.swap(true, Ordering::AcqRel) {
            return; // the scheduled listing runs later and sees this change too
        }
        let node = self.clone();
        let list = move || {
            node.inner
                .contacts_notice
                .scheduled
                .store(false, Ordering::Release);
            node.emit(Event::ContactsChanged);
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    tokio::time::sleep(CONTACTS_COALESCE).await;
                    list();
                });
            }
            Err(_) => list(),
        }
    }

    /// The `contacts` event.
    pub async fn contacts_event(&self) -> Event {
        let node = self.clone();
        self.store()
            .call(move |s| node.contacts_from(s))
            .await
            .unwrap_or(Event::Contacts {
                contacts: Vec::new(),
            })
    }

    /// What a UI gets on connect after `info` and the `peer_connected` snapshot: `contacts`,
    /// one `room` per room, one `key_changed` per unresolved change (then `requests`, added
    /// by the caller).
    pub async fn greeting_events(&self) -> Vec<Event> {
        let node = self.clone();
        let me = self.inner.public;
        let result = self
            .store()
            .call(move |s| -> store::Result<Vec<Event>> {
                let mut events = vec![node.contacts_from(s)];
                events.extend(s.list_rooms()?.iter().map(|r| room_event(r, &me)));
                for change in s.pending_key_changes()? {
                    let was_verified = s.contact(&change.old_key)?.is_some_and(|c| c.verified);
                    events.push(Event::KeyChanged {
                        change_id: change.id,
                        peer_id: change.old_key.to_base64(),
                        new_key: change.new_key.to_base64(),
                        name: change.name,
                        address: change.address,
                        was_verified,
                    });
                }
                Ok(events)
            })
            .await;
        match result {
            Ok(Ok(events)) => events,
            Ok(Err(e)) => {
                tracing::warn!("cannot read the store: {e}");
                Vec::new()
            }
            Err(_) => Vec::new(),
        }
    }

    /// One page of history. In a room, the page also holds the room's recorded changes that
    /// fall between its messages (PROTOCOL.md §8.4), each once across pages: a change goes
    /// after the message it was applied after, so a page takes the changes applied after its
    /// first message (after any, on the oldest page) and before the next page's first.
    pub async fn history(
        &self,
        conversation: Conversation,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Event, HistoryError> {
        let limit = limit.clamp(1, MAX_HISTORY_PAGE);
        let conv = conversation.clone();
        let me = self.inner.public;
        let my_name = self.name();
        let result = self
            .store()
            .call(
                move |s| -> store::Result<(Vec<HistoryEntry>, bool, Option<u64>)> {
                    let mut page = s.history(&conv, before, limit + 1)?;
                    let has_more = page.len() > limit;
                    if has_more {
                        page.remove(0);
                    }
                    // Timer lines are placed like room changes (below).
                    let from = page.first().filter(|_| has_more).map(|m| m.seq);
                    let timers = s
                        .timer_changes(&conv)?
                        .into_iter()
                        .filter(|c| from.is_none_or(|f| c.after_seq >= f))
                        .filter(|c| before.is_none_or(|b| c.after_seq < b))
                        .collect();
                    let timer = super::timers::timer_of(s, &conv)?;
                    let changes = match &conv {
                        Conversation::Room(id) => {
                            let from = page.first().filter(|_| has_more).map(|m| m.seq);
                            s.room_changes(id)?
                                .into_iter()
                                .filter(|c| from.is_none_or(|f| c.after_seq >= f))
                                .filter(|c| before.is_none_or(|b| c.after_seq < b))
                                .collect()
                        }
                        _ => Vec::new(),
                    };
                    Ok((
                        entries(s, page, changes, timers, &me, &my_name)?,
                        has_more,
                        timer,
                    ))
                },
            )
            .await;
        match result {
            Ok(Ok((messages, has_more, timer))) => Ok(Event::History {
                conversation: conversation.ui_id(),
                messages,
                has_more,
                around: None,
                has_newer: None,
                timer,
                after: None,
                before,
            }),
            Ok(Err(e)) => Err(HistoryError::Read(e)),
            Err(e) => Err(HistoryError::Unavailable(e)),
        }
    }

    /// One page of history newer than `after` (a `seq`), oldest first: how a page holding
    /// only a window of a conversation moves forward (PROTOCOL.md §8.1). Room changes and
    /// timer lines go with the message they follow, as in [`Node::history`]; the page also
    /// takes those after message `after` itself (a page already holding them shows them once).
    pub async fn history_after(
        &self,
        conversation: Conversation,
        after: i64,
        limit: usize,
    ) -> Result<Event, HistoryError> {
        let limit = limit.clamp(1, MAX_HISTORY_PAGE);
        let conv = conversation.clone();
        let me = self.inner.public;
        let my_name = self.name();
        type Page = (Vec<HistoryEntry>, bool, bool, Option<u64>);
        let result = self
            .store()
            .call(move |s| -> store::Result<Page> {
                let mut page = s.messages_after(Some(&conv), after, limit + 1)?;
                let has_newer = page.len() > limit;
                // The first message of the next page, where this page's lines end.
                let next = if has_newer {
                    page.pop().map(|m| m.seq)
                } else {
                    None
                };
                let has_more = !s
                    .history(&conv, Some(after.saturating_add(1)), 1)?
                    .is_empty();
                let keep = |at: i64| at >= after && next.is_none_or(|n| at < n);
                let timers = s
                    .timer_changes(&conv)?
                    .into_iter()
                    .filter(|c| keep(c.after_seq))
                    .collect();
                let changes = match &conv {
                    Conversation::Room(id) => s
                        .room_changes(id)?
                        .into_iter()
                        .filter(|c| keep(c.after_seq))
                        .collect(),
                    _ => Vec::new(),
                };
                let timer = super::timers::timer_of(s, &conv)?;
                Ok((
                    entries(s, page, changes, timers, &me, &my_name)?,
                    has_more,
                    has_newer,
                    timer,
                ))
            })
            .await;
        match result {
            Ok(Ok((messages, has_more, has_newer, timer))) => Ok(Event::History {
                conversation: conversation.ui_id(),
                messages,
                has_more,
                around: None,
                has_newer: Some(has_newer),
                timer,
                after: Some(after),
                before: None,
            }),
            Ok(Err(e)) => Err(HistoryError::Read(e)),
            Err(e) => Err(HistoryError::Unavailable(e)),
        }
    }

    /// One page of a message request's messages (`load_history` of `request:<peer_id>`).
    pub async fn request_history(
        &self,
        peer: PublicKey,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Event, HistoryError> {
        let limit = limit.clamp(1, MAX_HISTORY_PAGE);
        let result = self
            .store()
            .call(
                move |s| -> store::Result<(Vec<store::RequestMessage>, String)> {
                    let page = s.request_history(&peer, before, limit + 1)?;
                    let name = s.request(&peer)?.map(|r| r.name).unwrap_or_default();
                    Ok((page, name))
                },
            )
            .await;
        let (mut page, name) = match result {
            Ok(Ok(found)) => found,
            Ok(Err(e)) => return Err(HistoryError::Read(e)),
            Err(e) => return Err(HistoryError::Unavailable(e)),
        };
        let has_more = page.len() > limit;
        if has_more {
            page.remove(0);
        }
        let peer_id = peer.to_base64();
        let conversation = format!("{}{peer_id}", super::inbound::REQUEST_PREFIX);
        let messages = page
            .into_iter()
            .map(|m| {
                HistoryEntry::Chat(HistoryMessage {
                    seq: m.seq,
                    id: m.id,
                    conversation: conversation.clone(),
                    from: peer_id.clone(),
                    name: name.clone(),
                    text: m.text,
                    sent_at: m.sent_at,
                    received_at: m.received_at,
                    direction: "in",
                    state: None,
                    recipients: None,
                    reply_to: None,
                    reactions: Vec::new(),
                    edited_at: None,
                    unsent: false,
                    read_by: Vec::new(),
                    file: None,
                })
            })
            .collect();
        Ok(Event::History {
            conversation,
            messages,
            has_more,
            around: None,
            has_newer: None,
            timer: None,
            after: None,
            before,
        })
    }
}

/// Who wrote a stored message, as a `history` entry names it: `"me"` and our name, or the
/// sender's key and its contact name (looked up once per key through `names`).
pub(super) fn sender_of(
    s: &Store,
    m: &store::StoredMessage,
    me: &PublicKey,
    my_name: &str,
    names: &mut HashMap<PublicKey, String>,
) -> store::Result<(String, String)> {
    if m.direction == store::MessageDirection::Outgoing || m.message.sender == *me {
        return Ok(("me".to_owned(), my_name.to_owned()));
    }
    let key = m.message.sender;
    let name = match names.get(&key) {
        Some(n) => n.clone(),
        None => {
            let n = s.contact(&key)?.map(|c| c.name).unwrap_or_default();
            names.insert(key, n.clone());
            n
        }
    };
    Ok((key.to_base64(), name))
}

/// A page of stored messages as `history` entries, with the room `changes` and disappearing-
/// message `timers` lines (each in timeline order) that fall between them; lines after the
/// last message go at the end.
pub(super) fn entries(
    s: &Store,
    page: Vec<store::StoredMessage>,
    changes: Vec<store::RoomChange>,
    timers: Vec<store::TimerChange>,
    me: &PublicKey,
    my_name: &str,
) -> store::Result<Vec<HistoryEntry>> {
    let mut names: HashMap<PublicKey, String> = HashMap::new();
    let mut out = Vec::with_capacity(page.len() + changes.len() + timers.len());
    // Both kinds of line, by the message they follow, then by when they happened.
    let mut lines: Vec<(i64, u64, HistoryEntry)> = changes
        .into_iter()
        .map(|c| (c.after_seq, c.at, change_entry(c)))
        .chain(
            timers
                .into_iter()
                .map(|t| (t.after_seq, t.set_at, super::timers::timer_entry(t, me))),
        )
        .collect();
    lines.sort_by_key(|(after, at, _)| (*after, *at));
    let mut changes = lines.into_iter().peekable();
    let read_marks = match page.first() {
        Some(m) => shown_read_marks(s, &m.message.conversation)?,
        None => Vec::new(),
    };
    for m in page {
        let outgoing = m.direction == store::MessageDirection::Outgoing;
        let (from, name) = sender_of(s, &m, me, my_name, &mut names)?;
        let state = outgoing.then(|| {
            store::Delivery::shown(m.delivery, || {
                s.sent_count_up_to(&m.message.id, 1).is_ok_and(|n| n > 0)
            })
            .as_str()
        });
        // Our room message: each member's own state (PROTOCOL.md §8.1), read from the outbox.
        let recipients = match (&m.message.conversation, outgoing) {
            (Conversation::Room(_), true) => Some(
                s.recipient_states(&m.message.id)?
                    .into_iter()
                    .map(|(key, state)| RecipientState {
                        peer_id: key.to_base64(),
                        state: state.as_str(),
                    })
                    .collect(),
            ),
            _ => None,
        };
        while let Some((_, _, line)) = changes.next_if(|(after, _, _)| *after < m.seq) {
            out.push(line);
        }
        let reply_to = match &m.message.reply_to {
            Some(reply) => Some(super::reactions::quote(
                s,
                &m.message.conversation,
                reply,
                me,
                my_name,
                &mut names,
            )?),
            None => None,
        };
        let reactions = s
            .reactions_of(&store::MessageKey {
                sender: m.message.sender,
                id: m.message.id.clone(),
            })?
            .into_iter()
            .map(|r| ReactionInfo {
                by: if r.reactor == *me {
                    "me".into()
                } else {
                    r.reactor.to_base64()
                },
                emoji: r.emoji,
            })
            .collect();
        // Who read our message: a mark at or after it, from someone it was sent to (a room
        // member added later has a mark on later messages only).
        let read_by = if outgoing {
            read_marks
                .iter()
                .filter(|(_, up_to)| *up_to >= m.seq)
                .filter(|(reader, _)| {
                    recipients
                        .as_ref()
                        .is_none_or(|list: &Vec<RecipientState>| {
                            list.iter().any(|r| r.peer_id == *reader)
                        })
                })
                .map(|(reader, _)| reader.clone())
                .collect()
        } else {
            Vec::new()
        };
        out.push(HistoryEntry::Chat(HistoryMessage {
            seq: m.seq,
            id: m.message.id,
            conversation: m.message.conversation.ui_id(),
            from,
            name,
            text: m.message.text,
            sent_at: m.message.sent_at,
            received_at: m.message.received_at,
            direction: if outgoing { "out" } else { "in" },
            state,
            recipients,
            reply_to,
            reactions,
            edited_at: m.edited_at,
            unsent: m.unsent,
            read_by,
            file: super::files::file_info_of(s, m.seq, me)?,
        }));
    }
    out.extend(changes.map(|(_, _, line)| line));
    Ok(out)
}

/// Who has read how far of our messages in `conversation` (peer_id, our newest `seq` read),
/// sorted, leaving out readers with read receipts off: they are reciprocal (PROTOCOL.md §8.10).
fn shown_read_marks(s: &Store, conversation: &Conversation) -> store::Result<Vec<(String, i64)>> {
    let settings = s.indicator_settings()?;
    let mut marks: Vec<(String, i64)> = s
        .read_marks_of(conversation)?
        .into_iter()
        .filter(|(reader, _)| settings.is_on(store::Indicator::ReadReceipts, reader))
        .map(|(reader, up_to)| (reader.to_base64(), up_to))
        .collect();
    marks.sort();
    Ok(marks)
}

/// A recorded room change as a `history` entry.
fn change_entry(change: store::RoomChange) -> HistoryEntry {
    HistoryEntry::RoomChange(RoomChangeInfo {
        seq: change.after_seq,
        by: change.by.to_base64(),
        at: change.at,
        added: change.added.iter().map(PublicKey::to_base64).collect(),
        removed: change.removed.iter().map(PublicKey::to_base64).collect(),
        name: change.name,
    })
}
