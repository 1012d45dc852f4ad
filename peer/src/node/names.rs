//! Display names: ours (saved in the data directory, sent to connected contacts when it
//! changes), the ones contacts announce in a `name` payload (PROTOCOL.md §5) and the local
//! nicknames only our user sets. A name is only what the other side says about itself, so a
//! renamed contact goes through the same confusable-name check as a new one
//! ([`confusable_contacts`], PROTOCOL.md §8.3), and an empty name never replaces a stored one.

use crypto_core::wire::{clean_name, Payload};
use crypto_core::PublicKey;

use super::Node;
use crate::event::Event;
use crate::store::{self, Store};

/// Why a nickname could not be set.
#[derive(Debug, thiserror::Error)]
pub enum NicknameError {
    /// No contact has that key (a message request or a stranger).
    #[error("no contact with that peer id")]
    NotAContact,
    /// The store did not answer.
    #[error("cannot save the nickname: {0}")]
    Unavailable(#[from] crate::persist::StoreUnavailable),
    /// The store refused the write.
    #[error("cannot save the nickname: {0}")]
    Store(#[from] crate::store::StoreError),
}

/// The contacts other than `key` whose announced name or nickname is equal or confusable with
/// `name` (PROTOCOL.md §8.3's `confusable_with`), as peer_ids: the one check for a new
/// contact's name, a rename and a message request (an index in the store, `name_index.rs`).
pub(super) fn confusable_contacts(
    s: &Store,
    key: &PublicKey,
    name: &str,
) -> store::Result<Vec<String>> {
    s.confusable_contacts(name, Some(key))
}

impl Node {
    /// Changes our display name: saved in the data directory, sent to every connected peer
    /// (a `name` payload; the next hellos carry it too) and told to every UI (`info`).
    pub fn set_name(&self, name: &str) {
        let name = clean_name(name);
        if let Ok(mut current) = self.inner.name.write() {
            *current = name.clone();
        }
        let saved = name.clone();
        self.store().exec(move |s| {
            if let Err(e) = s.set_own_name(&saved) {
                tracing::warn!("cannot save our name: {e}");
            }
        });
        self.emit(self.info());
        let payload = Payload::Name { name }.to_bytes();
        let node = self.clone();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                for key in node.inner.sessions.keys() {
                    node.push(&key, payload.clone().into()).await;
                }
            });
        }
    }

    /// A connected peer announced a new name: record it (never an empty one), update its live
    /// session and tell every UI (`peer_renamed`, then `contacts`).
    pub(super) async fn receive_name(&self, peer: PublicKey, name: &str) {
        let name = clean_name(name);
        if name.is_empty() {
            return;
        }
        let stored_name = name.clone();
        let result = self
            .store()
            .call(move |s| -> store::Result<Option<Vec<String>>> {
                match s.rename_contact(&peer, &stored_name)? {
                    Some(_) => Ok(Some(confusable_contacts(s, &peer, &stored_name)?)),
                    None => Ok(None),
                }
            })
            .await;
        let confusable_with = match result {
            Ok(Ok(Some(list))) => list,
            // Not a contact (a message request): its name is only what its hello said.
            Ok(Ok(None)) => return,
            Ok(Err(e)) => {
                tracing::warn!("cannot record a rename: {e}");
                return;
            }
            Err(e) => {
                tracing::warn!("a rename was not recorded: {e}");
                return;
            }
        };
        self.inner.sessions.set_name(&peer, &name);
        self.emit(Event::PeerRenamed {
            peer_id: peer.to_base64(),
            name,
            confusable_with,
        });
        self.emit_contacts();
    }

    /// Sets (or, blank or `None`, clears) our user's nickname for a contact; the remote cannot
    /// change it. Every UI gets `nickname_set` — with the other contacts whose names the new
    /// nickname is confusable with (PROTOCOL.md §8.3), so the page can warn that two contacts
    /// now look alike — and `contacts`.
    pub async fn set_nickname(
        &self,
        key: PublicKey,
        nickname: Option<String>,
    ) -> Result<(), NicknameError> {
        let nickname = nickname.map(|n| clean_name(&n)).filter(|n| !n.is_empty());
        let saved = nickname.clone();
        let found = self
            .store()
            .call(move |s| -> store::Result<Option<Vec<String>>> {
                if !s.set_nickname(&key, saved.as_deref())? {
                    return Ok(None);
                }
                match &saved {
                    Some(n) => confusable_contacts(s, &key, n).map(Some),
                    None => Ok(Some(Vec::new())),
                }
            })
            .await??;
        let Some(confusable_with) = found else {
            return Err(NicknameError::NotAContact);
        };
        self.emit(Event::NicknameSet {
            peer_id: key.to_base64(),
            nickname,
            confusable_with,
        });
        self.emit_contacts();
        Ok(())
    }

    /// A session with `key` ended: "last seen" counts from now (PROTOCOL.md §8.1).
    pub(super) fn record_session_end(&self, key: PublicKey) {
        let now = crate::event::now_ms();
        self.store().exec(move |s| {
            if let Err(e) = s.mark_session_end(&key, now) {
                tracing::warn!("cannot record the end of a session: {e}");
            }
        });
    }
}
