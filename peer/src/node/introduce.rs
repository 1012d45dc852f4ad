//! Introductions through a mutual contact, with no relay (PROTOCOL.md §7.2).
//!
//! * **Asking** (A wants B): A sends `introduce` to a contact C connected to both, waits for
//!   `introduce_result`, and on `accepted` punches (`punch`) to the hints it carries.
//! * **Introducing** (C): only for a contact's session, only to a contact C has a session
//!   with, within a rate per asker and in all; C passes `introduction` on to B and B's
//!   `introduce_answer` back to A, remembering (in memory, for 30 s) only who asked what —
//!   nothing is stored, and no chat ever goes through C.
//! * **Being introduced** (B): only from a contact's session, within a rate per introducer
//!   and in all; B accepts only when A is a contact of B's or shares a room with B, then
//!   punches to A's hints at once.
//!
//! Every address in these payloads is a dial hint. It reaches a contact's address list only
//! through `Store::record_reached`, after a session with that very key succeeded there.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crypto_core::introduce::introduction_tag;
use crypto_core::wire::{Payload, WireAddress};
use crypto_core::PublicKey;
use tokio::sync::oneshot;

use super::announce::{dialable_hint, wire_list};
use super::punch::{PunchRole, MAX_HINTS};
use super::{lock, ConnectError, Node};
use crate::event::{Event, PeerInfo};
use crate::reach::AddressKind;
use crate::store::KeyStanding;

/// How long an asker waits for the introducer's answer.
pub const ASK_TIMEOUT: Duration = Duration::from_secs(10);

/// How long an introducer remembers who asked for whom (B's answer must come by then).
const FORWARD_FOR: Duration = Duration::from_secs(30);

/// Introductions an introducer passes on at once.
const MAX_FORWARDING: usize = 256;

/// Our own questions waiting for an answer.
const MAX_ASKED: usize = 64;

/// Contacts asked in turn when none is named.
pub const MAX_INTRODUCERS: usize = 4;

/// An introducer passes on at most this many introductions per asker: a burst of 4, then one
/// per 15 s.
pub const ASKER_RATE: Rate = Rate {
    burst: 4.0,
    per_second: 1.0 / 15.0,
};

/// …and this many in all: a burst of 16, then one per 2 s.
pub const INTRODUCER_RATE: Rate = Rate {
    burst: 16.0,
    per_second: 0.5,
};

/// A peer answers at most this many introductions per introducer (burst 4, one per 15 s)…
pub const INTRODUCED_RATE: Rate = Rate {
    burst: 4.0,
    per_second: 1.0 / 15.0,
};

/// …and this many in all (burst 8, one per 5 s).
pub const ANSWER_RATE: Rate = Rate {
    burst: 8.0,
    per_second: 0.2,
};

/// Keys tracked by one rate before the fullest buckets are forgotten.
const MAX_TRACKED: usize = 1024;

/// A token bucket's shape.
#[derive(Debug, Clone, Copy)]
pub struct Rate {
    /// Tokens when full.
    pub burst: f64,
    /// Tokens added per second.
    pub per_second: f64,
}

/// Token buckets per key, plus one for all keys together.
struct Buckets {
    each: Rate,
    all: Rate,
    keys: HashMap<PublicKey, (f64, Instant)>,
    total: (f64, Instant),
}

impl Buckets {
    fn new(each: Rate, all: Rate) -> Self {
        Self {
            each,
            all,
            keys: HashMap::new(),
            total: (all.burst, Instant::now()),
        }
    }

    fn refill(bucket: &mut (f64, Instant), rate: Rate, now: Instant) {
        let gained = now.saturating_duration_since(bucket.1).as_secs_f64() * rate.per_second;
        *bucket = ((bucket.0 + gained).min(rate.burst), now);
    }

    /// Takes a token from `key`'s bucket and from the shared one; false if either is empty.
    fn take(&mut self, key: PublicKey, now: Instant) -> bool {
        if self.keys.len() >= MAX_TRACKED && !self.keys.contains_key(&key) {
            let oldest = self.keys.iter().min_by_key(|(_, b)| b.1).map(|(k, _)| *k);
            if let Some(oldest) = oldest {
                self.keys.remove(&oldest);
            }
        }
        let each = self.each;
        let bucket = self.keys.entry(key).or_insert((each.burst, now));
        Self::refill(bucket, each, now);
        Self::refill(&mut self.total, self.all, now);
        if bucket.0 < 1.0 || self.total.0 < 1.0 {
            return false;
        }
        bucket.0 -= 1.0;
        self.total.0 -= 1.0;
        true
    }
}

/// What the introducer answered.
#[derive(Debug)]
struct Answer {
    outcome: String,
    hints: Vec<WireAddress>,
}

struct Asked {
    /// The key we want.
    peer: PublicKey,
    /// The target's tag as sent (`crypto_core::introduce`).
    tag: String,
    via: PublicKey,
    reply: oneshot::Sender<Answer>,
}

/// Why an introduction did not give a session.
#[derive(Debug, thiserror::Error)]
pub enum IntroduceError {
    /// No connected contact could be asked.
    #[error("no contact is connected who could introduce you")]
    NoIntroducer,
    /// Every contact asked answered something other than `accepted`; the last answer.
    #[error("no introduction: {0}")]
    Refused(&'static str),
    /// The introduction was accepted but no connection came up.
    #[error("introduced, but no connection came through: {0}")]
    Punch(ConnectError),
    /// Named ourselves.
    #[error("that is our own key")]
    OwnKey,
}

/// An introduction passed on, waiting for its answer.
struct Forwarded {
    target: PublicKey,
    tag: String,
    until: Instant,
}

/// The introduction state kept in memory.
pub(super) struct Introductions {
    asked: Mutex<HashMap<String, Asked>>,
    /// As introducer: (asker, id) → (target, the asker's tag for it, until when).
    forwarding: Mutex<HashMap<(PublicKey, String), Forwarded>>,
    as_introducer: Mutex<Buckets>,
    as_introduced: Mutex<Buckets>,
}

impl Default for Introductions {
    fn default() -> Self {
        Self {
            asked: Mutex::default(),
            forwarding: Mutex::default(),
            as_introducer: Mutex::new(Buckets::new(ASKER_RATE, INTRODUCER_RATE)),
            as_introduced: Mutex::new(Buckets::new(INTRODUCED_RATE, ANSWER_RATE)),
        }
    }
}

/// The outcome names of PROTOCOL.md §7.2, as the UI's `introduction.state` spells them.
fn outcome_state(outcome: &str) -> &'static str {
    match outcome {
        "accepted" => "accepted",
        "declined" => "declined",
        "not_connected" => "not_connected",
        "refused" => "refused",
        "busy" => "busy",
        _ => "failed",
    }
}

impl Node {
    /// Where the introducer sees `key` and its hello's port there, then `own` (what it says
    /// itself): the hints passed on about it.
    fn hints_about(&self, key: &PublicKey, own: &[WireAddress]) -> Vec<WireAddress> {
        let mut hints = Vec::new();
        if let (Some((_, link)), Some(info)) =
            (self.inner.sessions.link(key), self.inner.sessions.info(key))
        {
            let observed = |address: SocketAddr| WireAddress {
                address: address.to_string(),
                kind: AddressKind::Observed.as_str().to_owned(),
            };
            hints.push(observed(link.remote));
            if info.listen_port != 0 && info.listen_port != link.remote.port() {
                hints.push(observed(SocketAddr::new(
                    link.remote.ip(),
                    info.listen_port,
                )));
            }
        }
        hints.extend(own.iter().cloned());
        hints.truncate(crypto_core::wire::MAX_WIRE_ADDRESSES);
        hints
    }

    /// The hints an introducer sent, as addresses we would dial.
    fn dial_hints(&self, introducer: &PublicKey, hints: &[WireAddress]) -> Vec<SocketAddr> {
        let loopback = self
            .inner
            .sessions
            .link(introducer)
            .is_some_and(|(_, l)| l.remote.ip().to_canonical().is_loopback());
        let mut out: Vec<SocketAddr> = Vec::new();
        for hint in hints {
            if let Some(address) = dialable_hint(&hint.address, loopback) {
                if !out.contains(&address) {
                    out.push(address);
                }
            }
        }
        out.truncate(MAX_HINTS);
        out
    }

    fn send_payload(&self, to: PublicKey, payload: Payload) {
        let node = self.clone();
        tokio::spawn(async move {
            node.push(&to, payload.to_bytes().into()).await;
        });
    }

    fn emit_introduction(&self, peer: &PublicKey, via: Option<&PublicKey>, state: &'static str) {
        self.emit(Event::Introduction {
            peer_id: peer.to_base64(),
            via: via.map(PublicKey::to_base64),
            state,
        });
    }

    /// Contacts connected now who could introduce us to `peer`, room co-members of `peer`
    /// first (they are the likeliest to be connected to it), at most [`MAX_INTRODUCERS`].
    async fn introducers_for(&self, peer: PublicKey) -> Vec<PublicKey> {
        let mut connected = self
            .inner
            .sessions
            .keys_where(|shared| !shared.is_stranger());
        connected.retain(|k| *k != peer);
        if connected.len() > 1 {
            let candidates = connected.clone();
            let sharing = self
                .store()
                .call(move |s| {
                    candidates
                        .into_iter()
                        .filter(|c| s.shares_room(c, &peer).unwrap_or(false))
                        .collect::<Vec<_>>()
                })
                .await
                .unwrap_or_default();
            connected.sort_by_key(|k| !sharing.contains(k));
        }
        connected.truncate(MAX_INTRODUCERS);
        connected
    }

    /// Whether some connected contact could introduce us to `peer`.
    pub(super) fn could_be_introduced(&self, peer: &PublicKey) -> bool {
        self.inner
            .sessions
            .keys_where(|shared| !shared.is_stranger())
            .iter()
            .any(|k| k != peer)
    }

    /// Asks for an introduction to `peer` — through `via`, or through each connected contact
    /// in turn (at most [`MAX_INTRODUCERS`]) until one is accepted — and punches through to
    /// it. Every UI learns how it goes (`introduction`).
    pub async fn introduce(
        &self,
        peer: PublicKey,
        via: Option<PublicKey>,
    ) -> Result<PeerInfo, IntroduceError> {
        if peer == self.inner.public {
            return Err(IntroduceError::OwnKey);
        }
        if let Some(info) = self.inner.sessions.info(&peer) {
            return Ok(info);
        }
        let introducers = match via {
            Some(via) => vec![via],
            None => self.introducers_for(peer).await,
        };
        if introducers.is_empty() {
            self.emit_introduction(&peer, None, "no_introducer");
            return Err(IntroduceError::NoIntroducer);
        }
        let mut last = "no_introducer";
        for via in introducers {
            if via == peer || via == self.inner.public {
                continue;
            }
            self.emit_introduction(&peer, Some(&via), "asked");
            let answer = self.ask(peer, via).await;
            let state = answer
                .as_ref()
                .map_or("no_answer", |a| outcome_state(&a.outcome));
            self.emit_introduction(&peer, Some(&via), state);
            last = state;
            let Some(answer) = answer.filter(|_| state == "accepted") else {
                if state == "declined" {
                    // The person said no; asking someone else would not change that.
                    break;
                }
                continue;
            };
            let hints = self.dial_hints(&via, &answer.hints);
            tracing::info!(
                peer = %peer.to_base64(),
                via = %via.to_base64(),
                hints = hints.len(),
                "introduction accepted: punching"
            );
            let punched = self.punch(peer, hints, PunchRole::Asker).await;
            self.inner.punches.done(&peer);
            return match punched {
                Ok(info) => {
                    self.emit_introduction(&peer, Some(&via), "connected");
                    Ok(info)
                }
                Err(e) => {
                    self.emit_introduction(&peer, Some(&via), "failed");
                    Err(IntroduceError::Punch(e))
                }
            };
        }
        self.inner.punches.done(&peer);
        self.emit_introduction(&peer, None, last);
        Err(IntroduceError::Refused(last))
    }

    /// Sends one `introduce` to `via` and waits for its answer.
    async fn ask(&self, peer: PublicKey, via: PublicKey) -> Option<Answer> {
        let id = self.inner.outbox.message_id();
        let (reply, answer) = oneshot::channel();
        {
            let mut asked = lock(&self.inner.introductions.asked);
            asked.retain(|_, a| !a.reply.is_closed());
            if asked.len() >= MAX_ASKED {
                return None;
            }
            asked.insert(
                id.clone(),
                Asked {
                    peer,
                    tag: introduction_tag(&self.inner.public, &peer),
                    via,
                    reply,
                },
            );
        }
        // Its punch may reach our listener before the answer reaches us.
        self.inner.punches.expect(peer);
        let payload = Payload::Introduce {
            id: id.clone(),
            peer: introduction_tag(&self.inner.public, &peer),
            addresses: wire_list(&self.inner.addresses.dial_addresses()),
        };
        let answer = if self.push(&via, payload.to_bytes().into()).await {
            tokio::time::timeout(ASK_TIMEOUT, answer).await.ok()?.ok()
        } else {
            None
        };
        lock(&self.inner.introductions.asked).remove(&id);
        answer
    }

    /// As introducer: `asker` (the session's key; `stranger`, that session's mark) asks to be
    /// introduced to the key whose tag is `peer`.
    pub(super) fn receive_introduce(
        &self,
        asker: PublicKey,
        stranger: bool,
        id: String,
        peer: String,
        addresses: Vec<WireAddress>,
    ) {
        let answer = |outcome: &str| Payload::IntroduceResult {
            id: id.clone(),
            peer: peer.clone(),
            outcome: outcome.to_owned(),
            addresses: Vec::new(),
        };
        if stranger {
            // Introductions are for contacts: a stranger cannot use us to probe who we know.
            self.send_payload(asker, answer("refused"));
            return;
        }
        let now = Instant::now();
        // The rate first: everything after it costs a hash per session.
        if !lock(&self.inner.introductions.as_introducer).take(asker, now) {
            tracing::info!(asker = %asker.to_base64(), "introduction refused: over the rate");
            self.send_payload(asker, answer("busy"));
            return;
        }
        // Only a contact we hold a session with can be the one meant; the tag tells which.
        let target = self
            .inner
            .sessions
            .keys_where(|shared| !shared.is_stranger())
            .into_iter()
            .find(|k| *k != asker && introduction_tag(&asker, k) == peer);
        let Some(target) = target else {
            self.send_payload(asker, answer("not_connected"));
            return;
        };
        {
            let mut forwarding = lock(&self.inner.introductions.forwarding);
            forwarding.retain(|_, f| f.until > now);
            if forwarding.len() >= MAX_FORWARDING {
                drop(forwarding);
                self.send_payload(asker, answer("busy"));
                return;
            }
            forwarding.insert(
                (asker, id.clone()),
                Forwarded {
                    target,
                    tag: peer.clone(),
                    until: now + FORWARD_FOR,
                },
            );
        }
        tracing::info!(
            asker = %asker.to_base64(),
            peer = %target.to_base64(),
            "introducing"
        );
        self.send_payload(
            target,
            Payload::Introduction {
                id,
                peer: asker.to_base64(),
                addresses: self.hints_about(&asker, &addresses),
            },
        );
    }

    /// As introducer: `answerer` (the session's key) answers the introduction `id` of `peer`.
    pub(super) fn receive_introduce_answer(
        &self,
        answerer: PublicKey,
        id: String,
        peer: String,
        accept: bool,
        addresses: Vec<WireAddress>,
    ) {
        let Ok(asker) = PublicKey::from_base64(&peer) else {
            return;
        };
        let forwarded = lock(&self.inner.introductions.forwarding).remove(&(asker, id.clone()));
        let tag = match forwarded {
            Some(f) if f.target == answerer && f.until > Instant::now() => f.tag,
            Some(entry) => {
                // Not the one asked: the question stays open for the right answerer.
                lock(&self.inner.introductions.forwarding).insert((asker, id), entry);
                return;
            }
            None => return,
        };
        let (outcome, addresses) = if accept {
            ("accepted", self.hints_about(&answerer, &addresses))
        } else {
            ("declined", Vec::new())
        };
        self.send_payload(
            asker,
            Payload::IntroduceResult {
                id,
                peer: tag,
                outcome: outcome.to_owned(),
                addresses,
            },
        );
    }

    /// As asker: the answer to our `introduce` `id`, from the contact we asked only.
    pub(super) fn receive_introduce_result(
        &self,
        introducer: PublicKey,
        id: String,
        peer: String,
        outcome: String,
        addresses: Vec<WireAddress>,
    ) {
        let mut asked = lock(&self.inner.introductions.asked);
        let matches = asked
            .get(&id)
            .is_some_and(|a| a.via == introducer && a.tag == peer);
        if !matches {
            // Not asked, not of this contact, or about someone else: a forged answer changes
            // nothing and makes us dial nothing.
            tracing::info!(from = %introducer.to_base64(), "ignoring an introduction result we did not ask for");
            return;
        }
        if let Some(waiting) = asked.remove(&id) {
            let _ = waiting.reply.send(Answer {
                outcome,
                hints: addresses,
            });
        }
    }

    /// As the one introduced: `introducer` (the session's key, a contact's: a stranger's
    /// introduction is dropped as it arrives) passes on `asker`'s wish to be connected to us.
    /// We accept only a contact of ours or a room co-member, and dial it at once.
    pub(super) async fn receive_introduction(
        &self,
        introducer: PublicKey,
        id: String,
        asker: String,
        addresses: Vec<WireAddress>,
    ) {
        let answer = |accept: bool, addresses: Vec<WireAddress>| Payload::IntroduceAnswer {
            id: id.clone(),
            peer: asker.clone(),
            accept,
            addresses,
        };
        let Ok(key) = PublicKey::from_base64(&asker) else {
            self.send_payload(introducer, answer(false, Vec::new()));
            return;
        };
        let within_rate =
            lock(&self.inner.introductions.as_introduced).take(introducer, Instant::now());
        let me = self.inner.public;
        // Both asking for each other at once: the smaller key's question goes on, so the two
        // punches do not cross with opposite roles on one four-tuple (PROTOCOL.md §7.2).
        let crossing = me.as_bytes() < key.as_bytes()
            && lock(&self.inner.introductions.asked)
                .values()
                .any(|a| a.peer == key && !a.reply.is_closed());
        let welcome = within_rate
            && !crossing
            && key != me
            && self
                .store()
                .call(move |s| -> crate::store::Result<bool> {
                    Ok(match s.key_standing(&key)? {
                        KeyStanding::Blocked => false,
                        KeyStanding::Contact => true,
                        KeyStanding::Request | KeyStanding::Unknown => s.shares_room(&me, &key)?,
                    })
                })
                .await
                .is_ok_and(|r| r.unwrap_or(false));
        if !welcome || !self.inner.punches.expect(key) {
            tracing::info!(
                asker = %asker,
                within_rate,
                crossing,
                "introduction declined"
            );
            self.send_payload(introducer, answer(false, Vec::new()));
            return;
        }
        let hints = self.dial_hints(&introducer, &addresses);
        self.send_payload(
            introducer,
            answer(true, wire_list(&self.inner.addresses.dial_addresses())),
        );
        tracing::info!(asker = %asker, hints = hints.len(), "introduction accepted: punching");
        let node = self.clone();
        tokio::spawn(async move {
            if let Err(e) = node.punch(key, hints, PunchRole::Introduced).await {
                tracing::info!("punch to an introduced peer failed: {e}");
            }
            node.inner.punches.done(&key);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_limit_each_key_and_all_keys_together() {
        let start = Instant::now();
        let mut buckets = Buckets::new(ASKER_RATE, INTRODUCER_RATE);
        let a = *crypto_core::Identity::generate().public_key();
        let taken = (0..10).filter(|_| buckets.take(a, start)).count();
        assert_eq!(taken, 4, "a burst of 4 per asker");
        assert!(
            buckets.take(a, start + Duration::from_secs(15)),
            "then one per 15 s"
        );
        assert!(!buckets.take(a, start + Duration::from_secs(15)));
        // Many askers share the introducer's own bucket (16, then one per 2 s).
        let mut all = Buckets::new(ASKER_RATE, INTRODUCER_RATE);
        let keys: Vec<PublicKey> = (0..40)
            .map(|_| *crypto_core::Identity::generate().public_key())
            .collect();
        let taken = keys.iter().filter(|k| all.take(**k, start)).count();
        assert_eq!(taken, 16);
    }
}
