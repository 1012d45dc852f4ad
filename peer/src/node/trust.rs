//! Trust on first use (SECURITY.md): which keys the user knows, which new key is held because
//! a pinned contact's address or name answered with it, the verified flag, and invites (a
//! dial that must reach the invite's key). Runs after the handshake and before registration,
//! so a held or refused key never reaches the user. Binding trust to keys only, message
//! requests from strangers and nicknames belong here.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Mutex;

use crypto_core::wire::{clean_name, Hello};
use crypto_core::PublicKey;

use super::registry::Refusal;
use super::{lock, ConnectError, Node};
use crate::event::{now_ms, Event, PeerInfo};
use crate::invite::{self, Invite, QrError};
use crate::persist::StoreUnavailable;
use crate::store::{self, KeyChangeState, StoreError};

/// A session held because its key differs from a pinned contact's.
#[derive(Debug, Clone, Copy)]
struct Held {
    change_id: i64,
    old_key: PublicKey,
}

/// What the trust check decided about a finished handshake.
pub(super) enum Admission {
    /// A contact (new or known); `verified` from the store. `stranger`: a key that reached
    /// us (not one we dialled) and was not a contact before this session, so the per-address
    /// cap on strangers' sessions and their shorter idle timeout apply (PROTOCOL.md §9).
    Normal { verified: bool, stranger: bool },
    /// Held for the user's decision.
    Held(Event),
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

/// Why no invite could be made.
#[derive(Debug, thiserror::Error)]
pub enum InviteError {
    /// The QR code could not be rendered.
    #[error(transparent)]
    Qr(#[from] QrError),
}

/// The trust state kept in memory (the contacts themselves are in the store).
#[derive(Default)]
pub(super) struct Trust {
    /// New key → the key change it is held for.
    held: Mutex<HashMap<PublicKey, Held>>,
    /// Local address of an outbound connection made with an invite → the key it must reach.
    expected: Mutex<HashMap<SocketAddr, PublicKey>>,
    /// Keys the user marked verified (mirrors the store, read on every `peer_connected`).
    verified: Mutex<HashSet<PublicKey>>,
}

impl Trust {
    /// Whether `key`'s session is held for a key-change decision.
    pub(super) fn is_held(&self, key: &PublicKey) -> bool {
        lock(&self.held).contains_key(key)
    }

    /// The keys whose sessions are held.
    pub(super) fn held_keys(&self) -> HashSet<PublicKey> {
        lock(&self.held).keys().copied().collect()
    }

    /// Whether a held session claims to replace `old_key` (so `old_key` is not redialled).
    pub(super) fn is_replacing(&self, old_key: &PublicKey) -> bool {
        lock(&self.held).values().any(|h| h.old_key == *old_key)
    }

    /// `key`'s session ended: forget its hold; true if it was held.
    pub(super) fn release(&self, key: &PublicKey) -> bool {
        lock(&self.held).remove(key).is_some()
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

    /// Remembers that the outbound connection from `local` must reach `key`.
    pub(super) fn expect(&self, local: SocketAddr, key: PublicKey) {
        lock(&self.expected).insert(local, key);
    }
}

impl Node {
    /// Trust on first use, after the handshake and before the session is registered: an
    /// invite's key must match; a pinned contact's address or name answering with another key
    /// holds the session; a rejected key is refused; anyone else becomes (or stays) a contact.
    pub(super) async fn admit(
        &self,
        remote: PublicKey,
        hello: &Hello,
        addr: SocketAddr,
        local: Option<SocketAddr>,
    ) -> Result<Admission, Refusal> {
        let trust = &self.inner.trust;
        if let Some(local) = local {
            let expected = lock(&trust.expected).remove(&local);
            if let Some(expected) = expected {
                if expected != remote {
                    return Err(Refusal::InviteKeyMismatch {
                        addr,
                        got: remote.to_base64(),
                        expected: expected.to_base64(),
                    });
                }
            }
        }
        if remote == self.inner.public {
            return Ok(Admission::Normal {
                verified: false,
                stranger: false,
            });
        }
        let inbound = local.is_none();
        let name = clean_name(&hello.name);
        let port = hello.listen_port;
        let dialable = store::dialable_address(addr.ip(), port);
        let now = now_ms();
        let verdict = self
            .store()
            .call(move |s| -> store::Result<Result<Admission, Refusal>> {
                let address = dialable.as_deref().unwrap_or("");
                let by_name = (!name.is_empty()).then_some(name.as_str());
                if let Some(old) = s.key_conflict(&remote, address, by_name)? {
                    let change = s.record_key_change(
                        &old.public_key,
                        &remote,
                        &name,
                        dialable.as_deref(),
                        now,
                    )?;
                    match change.state {
                        KeyChangeState::Rejected => return Ok(Err(Refusal::RejectedKey)),
                        KeyChangeState::Pending => {
                            return Ok(Ok(Admission::Held(Event::KeyChanged {
                                change_id: change.id,
                                peer_id: old.public_key.to_base64(),
                                new_key: remote.to_base64(),
                                name: change.name,
                                address: change.address,
                                was_verified: old.verified,
                            })))
                        }
                        KeyChangeState::Accepted => {}
                    }
                }
                let (contact, is_new) = s.mark_seen(&remote, &name, address, port, now)?;
                Ok(Ok(Admission::Normal {
                    verified: contact.verified,
                    stranger: inbound && is_new,
                }))
            })
            .await;
        let admission = match verdict {
            Ok(Ok(result)) => result?,
            Ok(Err(e)) => {
                tracing::warn!("contact bookkeeping failed: {e}");
                Admission::Normal {
                    verified: false,
                    stranger: inbound,
                }
            }
            Err(e) => {
                tracing::warn!("{e}");
                Admission::Normal {
                    verified: false,
                    stranger: inbound,
                }
            }
        };
        match &admission {
            Admission::Normal { verified, .. } => trust.set_verified_flag(remote, *verified),
            Admission::Held(Event::KeyChanged {
                change_id, peer_id, ..
            }) => {
                if let Ok(old_key) = PublicKey::from_base64(peer_id) {
                    lock(&trust.held).insert(
                        remote,
                        Held {
                            change_id: *change_id,
                            old_key,
                        },
                    );
                }
            }
            Admission::Held(_) => {}
        }
        Ok(admission)
    }

    /// Accepts or rejects a held key change.
    pub async fn resolve_key_change(
        &self,
        change_id: i64,
        accept: bool,
    ) -> Result<(), KeyChangeError> {
        let now = now_ms();
        let new_key = self
            .store()
            .call(move |s| -> store::Result<PublicKey> {
                if accept {
                    Ok(s.accept_key_change(change_id, now)?.public_key)
                } else {
                    Ok(s.reject_key_change(change_id, now)?.new_key)
                }
            })
            .await??;
        let trust = &self.inner.trust;
        let held = {
            let mut held = lock(&trust.held);
            match held.get(&new_key) {
                Some(h) if h.change_id == change_id => held.remove(&new_key),
                _ => None,
            }
        };
        if accept {
            if let Some(h) = held {
                trust.set_verified_flag(h.old_key, false);
            }
            trust.set_verified_flag(new_key, false);
            if let Some(mut info) = self.inner.sessions.info(&new_key) {
                info.verified = false;
                self.emit(Event::PeerConnected(info));
                self.session_online(new_key);
            }
        } else if held.is_some() {
            self.disconnect(&new_key, "key change rejected by the user");
        }
        self.emit_contacts();
        Ok(())
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

    /// Dials an invite's address and refuses any key but the invite's.
    pub async fn connect_invite(&self, invite: &Invite) -> Result<PeerInfo, ConnectError> {
        let addr = tokio::net::lookup_host((invite.host.as_str(), invite.port))
            .await
            .ok()
            .and_then(|mut a| a.next())
            .ok_or_else(|| ConnectError::Resolve(invite.host.clone()))?;
        self.connect_expecting(addr, Some(invite.key)).await
    }
}
