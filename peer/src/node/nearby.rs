//! People nearby (PROTOCOL.md §8.9): the list LAN discovery (`crate::reach::mdns`) hands
//! over, kept here for UI clients that connect later and for `connect_nearby`, which dials an
//! entry's announced addresses expecting its key. The list is bounded where it is made
//! (`crate::reach::nearby`).

use std::sync::RwLock;

use crypto_core::PublicKey;

use super::{ConnectError, Node};
use crate::event::{Event, PeerInfo};
use crate::reach::nearby::NearbyPerson;

/// The latest list.
#[derive(Default)]
pub(super) struct Nearby {
    people: RwLock<Vec<NearbyPerson>>,
}

/// Why `connect_nearby` did not connect.
#[derive(Debug, thiserror::Error)]
pub enum NearbyError {
    /// No one nearby announces that key (any more).
    #[error("nobody nearby announces that key now")]
    NotNearby,
    /// Every announced address failed; the last failure.
    #[error(transparent)]
    Dial(#[from] ConnectError),
}

impl NearbyError {
    /// The `code` of the `error` event (PROTOCOL.md §8.9).
    pub fn code(&self) -> &'static str {
        match self {
            NearbyError::NotNearby => "not_nearby",
            NearbyError::Dial(e) => e.code(),
        }
    }
}

/// Failures that another of the entry's addresses would not change.
fn stops_trying(error: &ConnectError) -> bool {
    matches!(
        error.code(),
        "already_connected" | "own_key" | "blocked" | "session_limit" | "unavailable"
    )
}

impl Node {
    /// LAN discovery's new list: kept, and sent to every UI client as `nearby`.
    pub fn set_nearby(&self, people: Vec<NearbyPerson>) {
        if let Ok(mut slot) = self.inner.nearby.people.write() {
            slot.clone_from(&people);
        }
        self.emit(Event::Nearby { people });
    }

    /// The `nearby` event with the current list (a new UI client's greeting).
    pub fn nearby_event(&self) -> Event {
        let people = self
            .inner
            .nearby
            .people
            .read()
            .map(|p| p.clone())
            .unwrap_or_default();
        Event::Nearby { people }
    }

    /// Dials the person nearby announcing `key`, at each announced address in turn, expecting
    /// that key (another key answering is refused before message 3, PROTOCOL.md §8.3). Like
    /// every dial of ours, the key becomes a contact once the session is up.
    pub async fn connect_nearby(&self, key: PublicKey) -> Result<PeerInfo, NearbyError> {
        let wanted = key.to_base64();
        let addresses = self
            .inner
            .nearby
            .people
            .read()
            .ok()
            .and_then(|people| {
                people
                    .iter()
                    .find(|p| p.peer_id == wanted)
                    .map(|p| p.addresses.clone())
            })
            .ok_or(NearbyError::NotNearby)?;
        let mut last = None;
        for address in addresses {
            match self.connect_expecting(address, Some(key)).await {
                Ok(info) => return Ok(info),
                Err(e) if stops_trying(&e) => return Err(e.into()),
                Err(e) => last = Some(e),
            }
        }
        Err(last.map_or(NearbyError::NotNearby, NearbyError::Dial))
    }
}
