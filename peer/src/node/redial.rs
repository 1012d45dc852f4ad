//! Keeping contacts connected (PROTOCOL.md §7.3): the sockets and the store around the plan
//! of `crate::reach::keep`.
//!
//! Every contact (and every room co-member we never met) is wanted when the peer starts and
//! when its network changes; so is a contact we owe messages to, and one whose session failed
//! (not one the other side closed: it dials us when it is back). A wanted key is dialled at
//! every address we know for it, expecting its key (another key answering where it worked
//! before is a key change, `trust`); when none answers and another contact is connected, it is
//! asked to introduce us (`introduce`). Failures back off per key, a few keys at a time.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crypto_core::PublicKey;
use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::sync::Notify;

use super::trust::Expect;
use super::{lock, Node};
use crate::reach::keep::{AfterDial, KeepPlan};
use crate::reach::AddressKind;
use crate::store;

/// Longest backoff between attempts to reach a contact.
pub const REDIAL_CAP: Duration = Duration::from_secs(300);

/// Default first redial delay (doubles per failure up to [`REDIAL_CAP`]).
pub const REDIAL_BASE: Duration = Duration::from_secs(1);

/// Contacts being dialled (or introduced) at once.
pub const MAX_CONCURRENT_DIALS: usize = 8;

/// Between starting the dials of one contact's addresses (best first), unless one fails
/// sooner: the first address that answers wins and the rest are dropped.
const STAGGER: Duration = Duration::from_millis(250);

/// The plan, once `start_redial` made it, and the bell that wakes its loop.
#[derive(Default)]
pub(super) struct Redial {
    plan: Mutex<Option<KeepPlan<PublicKey>>>,
    wake: Notify,
}

impl Redial {
    fn with<R>(&self, f: impl FnOnce(&mut KeepPlan<PublicKey>) -> R) -> Option<R> {
        lock(&self.plan).as_mut().map(f)
    }
}

/// Whether a session end reason says the other side closed it on purpose (it shut down, or
/// its user disconnected us): then it dials us when it wants to (PROTOCOL.md §7.3).
fn closed_by_the_other_side(reason: &str) -> bool {
    reason.starts_with("closed by peer")
}

impl Node {
    /// Keeps contacts connected (PROTOCOL.md §7.3): dials every contact and every room
    /// co-member never met now, every contact owed messages from now on, each with capped
    /// exponential backoff from `base`. Runs until the process ends.
    pub fn start_redial(&self, base: Duration) {
        let base = base.max(Duration::from_millis(10));
        *lock(&self.inner.redial.plan) = Some(KeepPlan::new(
            base,
            REDIAL_CAP,
            MAX_CONCURRENT_DIALS,
            rand::random(),
        ));
        let tick = (base / 2).clamp(Duration::from_millis(10), Duration::from_secs(1));
        let node = self.clone();
        tokio::spawn(async move {
            node.want_everyone().await;
            // Who is owed messages is asked once per tick, not at every wake-up: each ended
            // attempt wakes the loop, and with thousands of contacts offline that would be a
            // store query per refused dial, ahead of the page's requests.
            let mut owed_asked: Option<Instant> = None;
            loop {
                let next = node.inner.redial.with(|p| p.next_due()).flatten();
                let sleep = next.map_or(tick, |at| {
                    at.saturating_duration_since(Instant::now()).min(tick)
                });
                tokio::select! {
                    () = tokio::time::sleep(sleep) => {}
                    () = node.inner.redial.wake.notified() => {}
                }
                if owed_asked.is_none_or(|at| at.elapsed() >= tick) {
                    node.want_owed().await;
                    owed_asked = Some(Instant::now());
                }
                let due = node
                    .inner
                    .redial
                    .with(|p| p.due(Instant::now()))
                    .unwrap_or_default();
                for key in due {
                    let node = node.clone();
                    tokio::spawn(async move { node.keep_attempt(key).await });
                }
            }
        });
    }

    /// Wants every contact and room co-member not connected now (a start, a network change).
    async fn want_everyone(&self) {
        let me = self.inner.public;
        let keys = self
            .store()
            .call(move |s| -> store::Result<Vec<PublicKey>> {
                let mut keys = s.contacts_to_keep()?;
                keys.extend(s.co_members_never_met(&me)?);
                Ok(keys)
            })
            .await;
        let Ok(Ok(mut keys)) = keys else { return };
        keys.retain(|k| !self.inner.sessions.contains(k));
        if keys.is_empty() {
            return;
        }
        tracing::info!(contacts = keys.len(), "dialling our contacts");
        self.inner
            .redial
            .with(|p| p.want_all(&keys, Instant::now()));
        self.inner.redial.wake.notify_one();
    }

    /// Wants every contact we owe messages to (their backoff is never cut short).
    async fn want_owed(&self) {
        let owed = self.store().call(|s| s.peers_with_pending()).await;
        let Ok(Ok(owed)) = owed else { return };
        let now = Instant::now();
        self.inner.redial.with(|p| {
            for key in owed {
                if !self.inner.sessions.contains(&key) {
                    p.want_at(key, now);
                }
            }
        });
    }

    /// Our network changed: every contact not connected is dialled again, soon.
    pub(super) fn network_changed(&self) {
        let node = self.clone();
        tokio::spawn(async move { node.want_everyone().await });
    }

    /// A session with `key` is up.
    pub(super) fn keep_online(&self, key: PublicKey) {
        self.inner.redial.with(|p| p.connected(key));
    }

    /// `key` is not to be redialled (we closed its session on purpose, or it was replaced).
    pub(super) fn keep_forget(&self, key: &PublicKey) {
        self.inner.redial.with(|p| p.forget(key));
    }

    /// `key`'s session ended with `reason`: redialled soon unless the other side closed it.
    pub(super) fn keep_session_ended(&self, key: PublicKey, reason: &str) {
        if closed_by_the_other_side(reason) {
            self.keep_forget(&key);
        } else {
            self.inner.redial.with(|p| p.lost(key, Instant::now()));
            self.inner.redial.wake.notify_one();
        }
    }

    /// One attempt to reach `key`: its addresses, then an introduction.
    async fn keep_attempt(&self, key: PublicKey) {
        let candidates = self
            .store()
            .call(move |s| s.dial_candidates(&key))
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        let addresses: Vec<(SocketAddr, Option<AddressKind>)> = candidates
            .iter()
            .filter_map(|(a, kind)| Some((a.parse::<SocketAddr>().ok()?, *kind)))
            .collect();
        let reached = !addresses.is_empty() && self.dial_any(key, addresses).await;
        if self.inner.sessions.contains(&key) {
            self.keep_online(key);
        } else if reached {
            // The session came up and has already ended (the other side kept an older one, a
            // duplicate): its end decided what comes next (`keep_session_ended`). Marking it
            // online now would leave it "connected" with no session, never dialled again.
        } else {
            let can_introduce = self.could_be_introduced(&key);
            let next = self
                .inner
                .redial
                .with(|p| p.dial_failed(key, Instant::now(), can_introduce));
            if next == Some(AfterDial::Introduce) {
                match self.introduce(key, None).await {
                    Ok(_) => self.keep_online(key),
                    Err(e) => {
                        tracing::debug!(peer = %key.to_base64(), "introduction failed: {e}");
                        self.inner
                            .redial
                            .with(|p| p.introduction_failed(key, Instant::now()));
                    }
                }
            }
        }
        self.inner.redial.wake.notify_one();
    }

    /// Dials `key` at `addresses`, best first, each next one [`STAGGER`] later (or as soon as
    /// one fails); true once a session with `key` is up.
    async fn dial_any(
        &self,
        key: PublicKey,
        addresses: Vec<(SocketAddr, Option<AddressKind>)>,
    ) -> bool {
        let mut pending = addresses.into_iter();
        let mut dials = FuturesUnordered::new();
        loop {
            if let Some((addr, kind)) = pending.next() {
                let node = self.clone();
                dials.push(async move {
                    // Every redial expects the contact's key (PROTOCOL.md §8.3); one to where
                    // the contact was seen behind its router keeps our listening port clear for
                    // a punch (`Node::dial_from`).
                    let from_listening_port = kind != Some(AddressKind::Observed);
                    let result = node
                        .dial_from(addr, Expect::Contact(key), from_listening_port)
                        .await;
                    if let Err(e) = &result {
                        tracing::debug!("redial failed: {e}");
                    }
                    result.is_ok()
                });
            }
            let more = pending.len() > 0;
            let next = if more {
                tokio::time::timeout(STAGGER, dials.next()).await.ok()
            } else {
                Some(dials.next().await)
            };
            match next {
                Some(Some(true)) => return true,
                Some(None) if !more => return self.inner.sessions.contains(&key),
                _ => {}
            }
            if self.inner.sessions.contains(&key) {
                return true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_session_the_other_side_closed_is_left_alone() {
        assert!(closed_by_the_other_side("closed by peer"));
        assert!(!closed_by_the_other_side(
            "idle timeout (900000 ms without a message)"
        ));
        assert!(!closed_by_the_other_side(
            "read error: connection reset by peer"
        ));
    }
}
