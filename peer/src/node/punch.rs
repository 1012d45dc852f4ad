//! Hole punching (PROTOCOL.md §7.2): once an introduction is accepted, both sides dial each
//! other's hints at the same moment from their listening ports. Behind two home routers the
//! first SYN out of each router opens it for the other's, and the two SYNs meet (a TCP
//! simultaneous open) or one reaches the other's listener; either way one TCP connection
//! results, and the Noise handshake on it runs as on any other, bound to the introduced key.
//!
//! Who sends message 1: the introduced side (the one that accepted) at once; the side that
//! asked waits [`ROLE_WAIT`] for it and sends its own only if none came — its connection then
//! reached the other's listener, which waits as every listener does. A key with an
//! introduction under way is also let in through our listener as if we had dialled it
//! ([`Punches::is_expected`]), and the session counts as ours (a contact) on both sides.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crypto_core::PublicKey;
use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::sync::oneshot;

use super::driver::Opened;
use super::trust::Expect;
use super::{lock, ConnectError, Node};
use crate::event::PeerInfo;

/// How long each side keeps trying to connect (the kernel resends an unanswered SYN after
/// 1 s and 3 s).
pub(super) const PUNCH_CONNECT: Duration = Duration::from_secs(5);

/// How long the asking side waits for message 1 before sending its own.
pub(super) const ROLE_WAIT: Duration = Duration::from_secs(2);

/// How long an introduction lets its key's connections count as ours.
const EXPECT_FOR: Duration = Duration::from_secs(30);

/// Introductions under way at once (each holds an entry until it ends or expires).
const MAX_EXPECTED: usize = 64;

/// Hints dialled per punch.
pub(super) const MAX_HINTS: usize = 8;

/// Which end of the punch we are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PunchRole {
    /// We were introduced and accepted: we send message 1.
    Introduced,
    /// We asked: we wait for message 1, then send our own.
    Asker,
}

/// The keys with an introduction under way, until when.
#[derive(Default)]
pub(super) struct Punches {
    expected: Mutex<HashMap<PublicKey, Instant>>,
}

impl Punches {
    /// An introduction with `key` starts; false when too many are under way.
    pub(super) fn expect(&self, key: PublicKey) -> bool {
        let now = Instant::now();
        let mut expected = lock(&self.expected);
        expected.retain(|_, until| *until > now);
        if expected.len() >= MAX_EXPECTED && !expected.contains_key(&key) {
            return false;
        }
        expected.insert(key, now + EXPECT_FOR);
        true
    }

    /// Whether `key` has an introduction under way.
    pub(super) fn is_expected(&self, key: &PublicKey) -> bool {
        lock(&self.expected)
            .get(key)
            .is_some_and(|until| *until > Instant::now())
    }

    /// The introduction with `key` ended.
    pub(super) fn done(&self, key: &PublicKey) {
        lock(&self.expected).remove(key);
    }
}

impl Node {
    /// Dials `peer` at every hint at once from our listening port and runs the handshake,
    /// bound to `peer`'s key, on the first connection that comes up. Returns the session
    /// (also when it came in through our listener meanwhile).
    pub(super) async fn punch(
        &self,
        peer: PublicKey,
        hints: Vec<SocketAddr>,
        role: PunchRole,
    ) -> Result<PeerInfo, ConnectError> {
        let port = self.inner.addresses.port();
        let mut dials: FuturesUnordered<_> = hints
            .into_iter()
            .take(MAX_HINTS)
            .map(|hint| async move {
                (
                    hint,
                    crate::reach::dial::connect_from_port(hint, port, PUNCH_CONNECT).await,
                )
            })
            .collect();
        let mut last_error = None;
        while let Some((hint, result)) = dials.next().await {
            match result {
                Ok(stream) => {
                    drop(dials);
                    tracing::info!(%hint, peer = %peer.to_base64(), ?role, "punched through");
                    return self.run_punched(stream, hint, peer, role).await;
                }
                Err(source) => {
                    tracing::debug!(%hint, "punch dial failed: {source}");
                    last_error = Some(ConnectError::Connect {
                        addr: hint,
                        cause: source,
                    });
                }
            }
            if let Some(info) = self.inner.sessions.info(&peer) {
                // Its own punch reached our listener first.
                return Ok(info);
            }
        }
        // Every dial failed — perhaps because the other side's punch reached our listener and
        // took this very four-tuple: give that handshake time to finish.
        let until = Instant::now() + ROLE_WAIT + Duration::from_secs(1);
        while Instant::now() < until {
            if let Some(info) = self.inner.sessions.info(&peer) {
                return Ok(info);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(last_error.unwrap_or(ConnectError::Resolve("no address to dial".into())))
    }

    async fn run_punched(
        &self,
        stream: tokio::net::TcpStream,
        addr: SocketAddr,
        peer: PublicKey,
        role: PunchRole,
    ) -> Result<PeerInfo, ConnectError> {
        let opened = match role {
            PunchRole::Introduced => Opened::PunchInitiator,
            PunchRole::Asker => Opened::PunchResponder,
        };
        let (ready_tx, ready_rx) = oneshot::channel();
        let node = self.clone();
        tokio::spawn(async move {
            node.run_connection(
                stream,
                addr,
                opened,
                None,
                Some(ready_tx),
                Expect::Introduced(peer),
            )
            .await;
        });
        match ready_rx.await {
            Ok(Err(ConnectError::Refused { .. })) | Err(_)
                if self.inner.sessions.contains(&peer) =>
            {
                // A duplicate of a session that came up the other way: that one stands.
                self.inner
                    .sessions
                    .info(&peer)
                    .ok_or(ConnectError::TaskEnded { addr })
            }
            Ok(result) => result,
            Err(_) => Err(ConnectError::TaskEnded { addr }),
        }
    }
}
