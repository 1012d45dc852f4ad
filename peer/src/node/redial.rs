//! Redialling contacts we owe messages to, at their last dialable address and expecting their
//! key (another key answering there is a key change, `trust`), with capped
//! exponential backoff per contact; a contact whose session comes up is forgotten (its next
//! absence starts again at the base delay). Other ways to reach a contact belong here and in
//! `addresses`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crypto_core::PublicKey;

use super::{lock, Node};
use crate::store;

/// Longest backoff between redials of a contact we owe messages to.
pub const REDIAL_CAP: Duration = Duration::from_secs(300);

/// Default first redial delay (doubles per failure up to [`REDIAL_CAP`]).
pub const REDIAL_BASE: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy)]
struct Backoff {
    next: Instant,
    delay: Duration,
}

/// When each owed contact may be dialled next.
#[derive(Default)]
pub(super) struct Redial {
    backoff: Mutex<HashMap<PublicKey, Backoff>>,
}

impl Redial {
    /// `key` is connected: its next absence starts at the base delay again.
    pub(super) fn forget(&self, key: &PublicKey) {
        lock(&self.backoff).remove(key);
    }

    /// Whether `key` may be dialled at `now`; if so, the next attempt is pushed back.
    fn due(&self, key: PublicKey, now: Instant, base: Duration) -> bool {
        let mut backoff = lock(&self.backoff);
        let entry = backoff.entry(key).or_insert(Backoff {
            next: now,
            delay: base,
        });
        if now < entry.next {
            return false;
        }
        entry.next = now + entry.delay;
        entry.delay = (entry.delay * 2).min(REDIAL_CAP);
        true
    }
}

impl Node {
    /// Redials contacts we owe messages to, with capped exponential backoff starting at
    /// `base`. Runs until the process ends.
    pub fn start_redial(&self, base: Duration) {
        let node = self.clone();
        let base = base.max(Duration::from_millis(10));
        let tick = (base / 2).clamp(Duration::from_millis(10), Duration::from_secs(1));
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(tick).await;
                let owed = node
                    .store()
                    .call(|s| -> store::Result<Vec<(PublicKey, Option<String>)>> {
                        let mut out = Vec::new();
                        for key in s.peers_with_pending()? {
                            let address = s
                                .contact(&key)?
                                .filter(|c| c.replaced_by.is_none() && c.listen_port != Some(0))
                                .and_then(|c| c.last_address);
                            out.push((key, address));
                        }
                        Ok(out)
                    })
                    .await;
                let Ok(Ok(owed)) = owed else { continue };
                let now = Instant::now();
                for (key, address) in owed {
                    let Some(addr) = address.and_then(|a| a.parse::<SocketAddr>().ok()) else {
                        continue;
                    };
                    if node.inner.sessions.contains(&key) {
                        continue;
                    }
                    if !node.inner.redial.due(key, now, base) {
                        continue;
                    }
                    let node = node.clone();
                    tokio::spawn(async move {
                        // Every redial expects the contact's key (PROTOCOL.md §8.3).
                        if let Err(e) = node.connect_expecting(addr, Some(key)).await {
                            tracing::debug!("redial failed: {e}");
                        }
                    });
                }
            }
        });
    }
}
