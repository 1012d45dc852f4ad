//! Trust bound to keys (PROTOCOL.md §8.2, §8.3; SECURITY.md): a contact *is* its key. Names
//! and self-reported ports never decide who someone is, so this module never compares them to
//! decide; it only flags an inbound stranger whose name looks like a contact's.
//!
//! * A key we dialled is a contact at once; an inbound key that is not a contact is a
//!   stranger and its session a message request (kept bounded by the store, shown only in
//!   its request) until the user accepts it, replies to it or blocks it.
//! * A key change is raised only by a dial that expected a contact's key at an address that
//!   contact gave us and was answered by another key; the handshake stops before message 3
//!   (`crate::handshake::initiate`), so no session with the other key exists.
//! * Blocked keys are closed right after the handshake, before any payload is read.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use crypto_core::wire::{clean_name, Hello};
use crypto_core::PublicKey;

use super::registry::Refusal;
use super::{lock, ConnectError, Node};
use crate::event::{now_ms, Event, PeerInfo, RequestInfo};
use crate::invite::{self, Invite, QrError};
use crate::persist::StoreUnavailable;
use crate::store::{self, dialable_address, KeyChangeState, KeyStanding, Request, RequestSeen};
use crate::store::{Store, StoreError};

/// How often unaccepted requests are checked for expiry (PROTOCOL.md §8.2: 30 days idle).
const REQUEST_EXPIRY_CHECK: Duration = Duration::from_secs(3600);

/// Why a dial expects a key, which decides what another key answering means (§8.3).
#[derive(Debug, Clone, Copy)]
pub(super) enum Expect {
    /// Any key may answer.
    Anyone,
    /// A contact's key (or a key the user named): another key is a key change if the address
    /// is one that contact gave us, else a failed dial.
    Contact(PublicKey),
    /// An invite's key: another key is an error for the dial.
    Invite(PublicKey),
    /// The key an introduction was for (PROTOCOL.md §7.2): another key is a failed punch,
    /// never a key change (the address came from a third party).
    Introduced(PublicKey),
}

impl Expect {
    pub(super) fn key(&self) -> Option<&PublicKey> {
        match self {
            Expect::Anyone => None,
            Expect::Contact(key) | Expect::Invite(key) | Expect::Introduced(key) => Some(key),
        }
    }
}

/// What the trust check decided about a finished handshake.
// One per handshake, consumed at once.
#[allow(clippy::large_enum_variant)]
pub(super) enum Admission {
    /// A contact (new or known); `verified` from the store. `confusable_with`: when it is new
    /// or its hello renamed it, the other contacts whose names its name looks like (a dialled
    /// look-alike, or a contact renaming itself by reconnecting, is flagged like a stranger).
    Contact {
        verified: bool,
        confusable_with: Vec<String>,
    },
    /// A stranger: its session is a message request.
    Request {
        /// Contacts whose names are equal or confusable with the stranger's.
        confusable_with: Vec<String>,
        /// The `request` event to emit once the session is registered.
        event: Event,
    },
}

/// Why a key change could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum KeyChangeError {
    /// The store refused (e.g. no such pending change).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The store thread did not answer.
    #[error(transparent)]
    Unavailable(#[from] StoreUnavailable),
}

/// Why a request could not be accepted, or a key not (un)blocked.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// The store refused (e.g. no request from that key).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The store thread did not answer.
    #[error(transparent)]
    Unavailable(#[from] StoreUnavailable),
}

/// Why no invite could be made.
#[derive(Debug, thiserror::Error)]
pub enum InviteError {
    /// The QR code could not be rendered.
    #[error(transparent)]
    Qr(#[from] QrError),
}

/// The trust state kept in memory (contacts, requests and blocks are in the store).
#[derive(Default)]
pub(super) struct Trust {
    /// Keys admitted as message requests whose session is being registered or live (bounded
    /// by the session limit): how an admission of the same key as a contact (our dial) knows
    /// a request was promoted. Whether a live session *is* a stranger's is its own mark
    /// (`Registry::is_stranger`), never this set.
    strangers: Mutex<HashSet<PublicKey>>,
    /// Keys the user marked verified (mirrors the store, read on every `peer_connected`).
    verified: Mutex<HashSet<PublicKey>>,
}

impl Trust {
    /// `key`'s request session was registered.
    pub(super) fn admitted_as_request(&self, key: PublicKey) {
        lock(&self.strangers).insert(key);
    }

    /// `key`'s session ended (or it became a contact): it is no longer a live request.
    pub(super) fn release(&self, key: &PublicKey) -> bool {
        lock(&self.strangers).remove(key)
    }

    pub(super) fn is_verified(&self, key: &PublicKey) -> bool {
        lock(&self.verified).contains(key)
    }

    pub(super) fn verified_keys(&self) -> HashSet<PublicKey> {
        lock(&self.verified).clone()
    }

    fn set_verified_flag(&self, key: PublicKey, verified: bool) {
        let mut set = lock(&self.verified);
        if verified {
            set.insert(key);
        } else {
            set.remove(&key);
        }
    }
}

/// What kind of address a dial reached a contact at (for its address list).
fn reached_kind(addr: SocketAddr) -> store::AddressKind {
    match addr.ip() {
        std::net::IpAddr::V6(_) => store::AddressKind::Ipv6,
        std::net::IpAddr::V4(v4) if v4.is_private() || v4.is_loopback() || v4.is_link_local() => {
            store::AddressKind::Lan
        }
        std::net::IpAddr::V4(_) => store::AddressKind::Observed,
    }
}

/// The `request` event of a stored request (no fingerprint: the page computes it, PROTOCOL.md §8.2).
pub(super) fn request_info(request: &Request, confusable_with: Vec<String>) -> RequestInfo {
    RequestInfo {
        peer_id: request.public_key.to_base64(),
        name: request.name.clone(),
        fingerprint: String::new(),
        address: request.last_address.clone(),
        first_seen: request.first_seen,
        last_seen: request.last_seen,
        messages: request.messages,
        confusable_with,
    }
}

impl Node {
    /// After the handshake and before the session is registered: a blocked key is refused; a
    /// key we dialled (`ours`: also a punch, or a key with an introduction under way), or a
    /// contact, is a contact; any other inbound key is a message request.
    pub(super) async fn admit(
        &self,
        remote: PublicKey,
        hello: &Hello,
        addr: SocketAddr,
        ours: bool,
        room_for_stranger: bool,
    ) -> Result<Admission, Refusal> {
        if remote == self.inner.public {
            return Ok(Admission::Contact {
                verified: false,
                confusable_with: Vec::new(),
            });
        }
        let name = clean_name(&hello.name);
        let port = hello.listen_port;
        let dialable = dialable_address(addr.ip(), port).unwrap_or_default();
        let dialled = ours;
        let now = now_ms();
        type Verdict = Result<((Admission, Vec<PublicKey>), bool), Refusal>;
        let node = self.clone();
        // Whether a live session is a request is decided here, on the store thread, so a
        // simultaneous inbound session from a key we are dialling cannot be left marked as a
        // stranger after the dial made it a contact.
        let verdict = self
            .store()
            .call(move |s| -> store::Result<Verdict> {
                let dialled = dialled.then_some(addr);
                let verdict = node.judge(
                    s,
                    remote,
                    &name,
                    &dialable,
                    port,
                    (addr, dialled),
                    room_for_stranger,
                    now,
                )?;
                let strangers = &node.inner.trust.strangers;
                let promoted = match &verdict {
                    Ok((Admission::Request { .. }, _)) => {
                        lock(strangers).insert(remote);
                        false
                    }
                    Ok((Admission::Contact { .. }, _)) => lock(strangers).remove(&remote),
                    Err(_) => false,
                };
                Ok(verdict.map(|v| (v, promoted)))
            })
            .await;
        let ((admission, evicted), promoted) = match verdict {
            Ok(Ok(result)) => result?,
            Ok(Err(e)) => {
                tracing::warn!("contact bookkeeping failed: {e}");
                return Err(Refusal::Unavailable);
            }
            Err(e) => {
                tracing::warn!("{e}");
                return Err(Refusal::Unavailable);
            }
        };
        for key in evicted {
            self.emit(Event::RequestResolved {
                peer_id: key.to_base64(),
                outcome: "expired",
            });
        }
        if let Admission::Contact { verified, .. } = &admission {
            self.inner.trust.set_verified_flag(remote, *verified);
        }
        let contact = matches!(admission, Admission::Contact { .. });
        if contact && (promoted || self.inner.sessions.is_stranger(&remote)) {
            // A live request session from this key (a simultaneous dial in the other
            // direction) is now a contact's; it may be the one the duplicate rule keeps.
            self.promote_live_session(remote);
        }
        Ok(admission)
    }

    /// Decides on the store thread what a finished handshake is: blocked, a contact, or a
    /// (new or known) message request.
    #[allow(clippy::too_many_arguments)]
    fn judge(
        &self,
        s: &mut Store,
        remote: PublicKey,
        name: &str,
        dialable: &str,
        port: u16,
        (source, dialled): (SocketAddr, Option<SocketAddr>),
        room_for_stranger: bool,
        now: u64,
    ) -> store::Result<Result<(Admission, Vec<PublicKey>), Refusal>> {
        let standing = s.key_standing(&remote)?;
        if standing == KeyStanding::Blocked {
            return Ok(Err(Refusal::Blocked));
        }
        if dialled.is_some() || standing == KeyStanding::Contact {
            let before = s.contact(&remote)?.map(|c| c.name);
            let (contact, _) = s.mark_seen(&remote, name, dialable, port, now)?;
            let renamed = before.as_deref() != Some(contact.name.as_str());
            let confusable_with = if renamed && !contact.name.is_empty() {
                s.confusable_contacts(&contact.name, Some(&remote))?
            } else {
                Vec::new()
            };
            if let Some(addr) = dialled {
                // A key we dialled is a contact at once; a request from it is
                // accepted (its messages move into the conversation).
                if standing == KeyStanding::Request {
                    s.accept_request(&remote, now)?;
                }
                s.record_reached(&remote, &addr.to_string(), reached_kind(addr), now)?;
            }
            return Ok(Ok((
                Admission::Contact {
                    verified: contact.verified,
                    confusable_with,
                },
                Vec::new(),
            )));
        }
        if !room_for_stranger {
            // Its address has its share of strangers' sessions: refused before anything is
            // recorded, so it evicts no one's request (PROTOCOL.md §9.1).
            return Ok(Err(Refusal::TooManyFromAddress));
        }
        // Counted per address as the rate limiter does (IPv6 by /64), for fair eviction.
        let source = crate::limits::bucket_of(source.ip()).to_string();
        let (request, evicted) =
            match s.record_request(&remote, name, dialable, port, &source, now)? {
                RequestSeen::New { request, evicted } => (request, evicted),
                RequestSeen::Known(request) => (request, Vec::new()),
                RequestSeen::Blocked => return Ok(Err(Refusal::Blocked)),
                RequestSeen::IsContact => {
                    let (contact, _) = s.mark_seen(&remote, name, dialable, port, now)?;
                    return Ok(Ok((
                        Admission::Contact {
                            verified: contact.verified,
                            confusable_with: Vec::new(),
                        },
                        Vec::new(),
                    )));
                }
            };
        let confusable_with = s.confusable_contacts(&request.name, None)?;
        let event = Event::Request(request_info(&request, confusable_with.clone()));
        Ok(Ok((
            Admission::Request {
                confusable_with,
                event,
            },
            evicted,
        )))
    }

    /// A dial expecting `expected` at `addr` was answered by `got` (which announced `name`)
    /// and closed before message 3. Raises `key_changed` when `expected` is a contact and
    /// `addr` is an address that contact gave us; otherwise it was only a failed dial.
    pub(super) async fn key_mismatch(
        &self,
        expected: PublicKey,
        got: PublicKey,
        name: String,
        addr: SocketAddr,
    ) {
        let now = now_ms();
        let address = addr.to_string();
        let raised = self
            .store()
            .call(move |s| -> store::Result<Option<Event>> {
                let Some(contact) = s.contact(&expected)?.filter(|c| c.replaced_by.is_none())
                else {
                    return Ok(None);
                };
                // Only an address where this contact's key worked before: one it merely
                // announced (or that it left long ago) may be someone else's by now.
                let given = contact.last_address.as_deref() == Some(address.as_str())
                    || s.contact_addresses(&expected)?
                        .iter()
                        .any(|a| a.address == address && a.last_worked.is_some());
                if !given {
                    return Ok(None);
                }
                // One unresolved change per contact: while the user has not answered one,
                // other keys answering there are failed dials, so whoever holds the address
                // cannot pile up warnings (PROTOCOL.md §8.3).
                let other_pending = s
                    .pending_key_changes()?
                    .iter()
                    .any(|c| c.old_key == expected && c.new_key != got);
                if other_pending {
                    return Ok(None);
                }
                let change = s.record_key_change(&expected, &got, &name, Some(&address), now)?;
                if change.state != KeyChangeState::Pending {
                    return Ok(None);
                }
                Ok(Some(Event::KeyChanged {
                    change_id: change.id,
                    peer_id: expected.to_base64(),
                    new_key: got.to_base64(),
                    name: change.name,
                    address: change.address,
                    was_verified: contact.verified,
                }))
            })
            .await;
        match raised {
            Ok(Ok(Some(event))) => self.emit(event),
            Ok(Ok(None)) => {}
            Ok(Err(e)) => tracing::warn!("cannot record a key change: {e}"),
            Err(e) => tracing::warn!("{e}"),
        }
    }

    /// Accepts or rejects a key change.
    pub async fn resolve_key_change(
        &self,
        change_id: i64,
        accept: bool,
    ) -> Result<(), KeyChangeError> {
        let now = now_ms();
        let (new_key, address) = self
            .store()
            .call(move |s| -> store::Result<(PublicKey, Option<String>)> {
                if accept {
                    let contact = s.accept_key_change(change_id, now)?;
                    Ok((contact.public_key, contact.last_address))
                } else {
                    Ok((s.reject_key_change(change_id, now)?.new_key, None))
                }
            })
            .await??;
        if accept {
            self.inner.trust.set_verified_flag(new_key, false);
            // What was owed to the old key now waits for the new one, and the user wants to
            // talk to it: dial it at once where it answered, expecting the new key.
            self.keep_forget(&new_key);
            if let Some(addr) = address.and_then(|a| a.parse::<SocketAddr>().ok()) {
                let node = self.clone();
                tokio::spawn(async move {
                    if let Err(e) = node.connect_expecting(addr, Some(new_key)).await {
                        tracing::info!(%addr, "dialling an accepted new key failed: {e}");
                    }
                });
            }
        }
        self.emit_contacts();
        Ok(())
    }

    /// The user accepted `peer`'s request (or replied to it): it becomes a contact and its
    /// messages move to the conversation `peer_id`.
    pub async fn accept_request(&self, peer: PublicKey) -> Result<(), RequestError> {
        let now = now_ms();
        let contact = self
            .store()
            .call(move |s| s.accept_request(&peer, now))
            .await??;
        self.inner.trust.release(&peer);
        self.inner.trust.set_verified_flag(peer, contact.verified);
        self.promote_live_session(peer);
        Ok(())
    }

    /// `peer`'s request became a contact: every UI learns it, and a live session gets what a
    /// contact's session gets (its rooms and backlog, a contact's idle timeout) and leaves its
    /// address's stranger count (PROTOCOL.md §9.1).
    fn promote_live_session(&self, peer: PublicKey) {
        let live = self.inner.sessions.promote(&peer);
        self.emit(Event::RequestResolved {
            peer_id: peer.to_base64(),
            outcome: "accepted",
        });
        if live {
            self.live_session_became_a_contacts(peer);
        }
        self.emit_contacts();
    }

    /// A session just registered asks the store once more what its key is. Our own dial to
    /// it, or the user's accepting it, may have made a request's key a contact between the
    /// session's admission and its registration, when there was no live session to promote;
    /// without this it would stay a request's session and nothing owed to the contact would
    /// be written on it. And a block that came in that gap found no session to close.
    pub(super) async fn recheck_session(&self, remote: PublicKey, conn_id: u64) {
        let standing = match self.store().call(move |s| s.key_standing(&remote)).await {
            Ok(Ok(standing)) => standing,
            _ => return,
        };
        if self.inner.sessions.conn_id(&remote) != Some(conn_id) {
            // Gone or replaced: the newer session has a check of its own.
            return;
        }
        match standing {
            KeyStanding::Blocked => {
                self.disconnect(&remote, "blocked");
            }
            // Whoever clears the session's stranger mark first acts on it: this check or
            // `promote_live_session`.
            KeyStanding::Contact if self.inner.sessions.promote(&remote) => {
                self.inner.trust.release(&remote);
                self.live_session_became_a_contacts(remote);
                self.emit_contacts();
            }
            _ => {}
        }
    }

    /// What a contact's session gets at its start: every UI sees it as a contact's, and it
    /// reads its rooms and backlog.
    fn live_session_became_a_contacts(&self, peer: PublicKey) {
        if let Some(mut info) = self.inner.sessions.info(&peer) {
            info.contact = true;
            info.confusable_with = Vec::new();
            info.verified = self.inner.trust.is_verified(&peer);
            self.emit(Event::PeerConnected(info));
            self.session_online(peer);
        }
    }

    /// Blocks (or unblocks) `peer`: a blocked key's session is closed, its request deleted,
    /// and its later handshakes are closed before any payload is read.
    pub async fn set_blocked(&self, peer: PublicKey, blocked: bool) -> Result<(), RequestError> {
        let now = now_ms();
        let had_request = self
            .store()
            .call(move |s| {
                if blocked {
                    s.block_key(&peer, now)
                } else {
                    s.unblock_key(&peer).map(|_| false)
                }
            })
            .await??;
        if blocked {
            self.disconnect(&peer, "blocked by the user");
        }
        if had_request {
            self.emit(Event::RequestResolved {
                peer_id: peer.to_base64(),
                outcome: "blocked",
            });
        }
        self.emit(Event::Blocked {
            peer_id: peer.to_base64(),
            blocked,
        });
        self.emit_contacts();
        Ok(())
    }

    /// The `requests` event.
    pub async fn requests_event(&self) -> Event {
        let listed = self
            .store()
            .call(|s| -> store::Result<Vec<RequestInfo>> {
                let mut out = Vec::new();
                for request in s.list_requests()? {
                    let confusable = s.confusable_contacts(&request.name, None)?;
                    out.push(request_info(&request, confusable));
                }
                Ok(out)
            })
            .await;
        // No fingerprints: up to 1,000 of them would hold a runtime thread for seconds at
        // every greeting; the page computes the one it shows (PROTOCOL.md §8.2).
        let requests = match listed {
            Ok(Ok(list)) => list,
            Ok(Err(e)) => {
                tracing::warn!("cannot list requests: {e}");
                Vec::new()
            }
            Err(_) => Vec::new(),
        };
        Event::Requests { requests }
    }

    /// Expires unaccepted requests now and then every hour (PROTOCOL.md §8.2). Runs until the
    /// process ends.
    pub fn start_request_expiry(&self) {
        let node = self.clone();
        tokio::spawn(async move {
            loop {
                let expired = node.store().call(|s| s.expire_requests(now_ms())).await;
                if let Ok(Ok(keys)) = expired {
                    for key in keys {
                        node.emit(Event::RequestResolved {
                            peer_id: key.to_base64(),
                            outcome: "expired",
                        });
                    }
                }
                tokio::time::sleep(REQUEST_EXPIRY_CHECK).await;
            }
        });
    }

    /// Marks a contact verified (or not), persistently; every UI gets `peer_verified` once
    /// the flag is on disk.
    pub fn set_verified(&self, peer: PublicKey, verified: bool) {
        self.inner.trust.set_verified_flag(peer, verified);
        let node = self.clone();
        self.store().exec(move |s| {
            if let Err(e) = s.set_verified(&peer, verified) {
                tracing::warn!("cannot store the verified flag: {e}");
            }
            node.emit(Event::PeerVerified {
                peer_id: peer.to_base64(),
                verified,
            });
            node.emit(Event::ContactsChanged);
        });
    }

    /// Our invite string and its QR code.
    pub fn invite_event(&self) -> Result<Event, InviteError> {
        let (host, port) = self.inner.addresses.invite_target();
        let invite = Invite {
            host,
            port,
            key: self.inner.public,
        }
        .to_uri();
        let qr_svg = invite::qr_svg(&invite)?;
        Ok(Event::Invite { invite, qr_svg })
    }

    /// Dials an invite's address and refuses any key but the invite's (before message 3).
    pub async fn connect_invite(&self, invite: &Invite) -> Result<PeerInfo, ConnectError> {
        let addr = tokio::net::lookup_host((invite.host.as_str(), invite.port))
            .await
            .ok()
            .and_then(|mut a| a.next())
            .ok_or_else(|| ConnectError::Resolve(invite.host.clone()))?;
        self.connect_invite_at(addr, invite.key).await
    }

    /// Dials an invite's resolved address: any key but `key` is refused before message 3.
    pub async fn connect_invite_at(
        &self,
        addr: SocketAddr,
        key: PublicKey,
    ) -> Result<PeerInfo, ConnectError> {
        self.dial(addr, Expect::Invite(key)).await
    }
}
