//! Where others can reach us: the port we listen on and the addresses worth dialling, each
//! with its kind, best first (`crate::reach`). The port is set when the listener binds; the
//! list from this computer's interfaces and the router mapping (whenever `crate::reach` learns
//! more) and from the addresses our contacts report seeing us at (PROTOCOL.md §7.1). Read by
//! hellos, `info`, invites and the `addresses` payload (`announce`).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::RwLock;

use crate::reach::{AddressKind, ReachAddress};

/// Observed addresses kept (newest first): a home computer has one or two (IPv4 behind its
/// router, perhaps a second router's); more would only be stale ones.
pub(super) const MAX_OBSERVED: usize = 4;

#[derive(Default)]
struct Lists {
    /// From this computer's interfaces and the router mapping (`crate::reach`).
    found: Vec<ReachAddress>,
    /// What contacts saw us connect from, newest first.
    observed: Vec<ReachAddress>,
    /// Both, in preference order: what we give out.
    all: Vec<ReachAddress>,
}

impl Lists {
    fn rebuild(&mut self) {
        let mut all = self.found.clone();
        all.extend(self.observed.iter().copied());
        self.all = crate::reach::ordered(all);
    }
}

/// Our own reachability.
#[derive(Default)]
pub(super) struct OwnAddresses {
    listen_port: AtomicU16,
    /// Whether ordinary dials leave from the listening port (`crate::reach::dial`): only when
    /// listening on a non-loopback address, where routers and observed addresses exist.
    reuse_port: AtomicBool,
    lists: RwLock<Lists>,
}

impl OwnAddresses {
    /// The P2P port (0 before `listen`).
    pub(super) fn port(&self) -> u16 {
        self.listen_port.load(Ordering::Relaxed)
    }

    /// The listener is bound at `local`.
    pub(super) fn set_listening(&self, local: SocketAddr) {
        self.listen_port.store(local.port(), Ordering::Relaxed);
        self.reuse_port
            .store(!local.ip().to_canonical().is_loopback(), Ordering::Relaxed);
    }

    /// The local port ordinary dials leave from, if they share the listening port.
    pub(super) fn dial_port(&self) -> Option<u16> {
        self.reuse_port
            .load(Ordering::Relaxed)
            .then(|| self.port())
            .filter(|p| *p != 0)
    }

    /// Where others can dial us, best first.
    pub(super) fn dial_addresses(&self) -> Vec<ReachAddress> {
        self.lists.read().map(|l| l.all.clone()).unwrap_or_default()
    }

    /// Our router mappings now (to tell a session that came in through one).
    pub(super) fn mapped(&self) -> Vec<SocketAddr> {
        self.dial_addresses()
            .into_iter()
            .filter(|a| a.kind == AddressKind::Mapped)
            .map(|a| a.address)
            .collect()
    }

    /// Replaces what `crate::reach` found; returns the list it replaced if it changed.
    fn set_found(&self, found: Vec<ReachAddress>) -> Option<Vec<ReachAddress>> {
        let mut lists = self.lists.write().ok()?;
        let found = crate::reach::ordered(found);
        if lists.found == found {
            return None;
        }
        let before = std::mem::replace(&mut lists.found, found);
        lists.rebuild();
        Some(before)
    }

    /// A contact saw us at `address`; true if that changed the list. Loopback, unspecified
    /// and already-listed addresses are not added.
    pub(super) fn add_observed(&self, address: SocketAddr) -> bool {
        let ip = address.ip().to_canonical();
        if ip.is_loopback() || ip.is_unspecified() || ip.is_multicast() || address.port() == 0 {
            return false;
        }
        let address = SocketAddr::new(ip, address.port());
        let Ok(mut lists) = self.lists.write() else {
            return false;
        };
        if lists.found.iter().any(|a| a.address == address)
            || lists.observed.first().is_some_and(|a| a.address == address)
        {
            return false;
        }
        lists.observed.retain(|a| a.address != address);
        lists.observed.insert(
            0,
            ReachAddress {
                address,
                kind: AddressKind::Observed,
            },
        );
        lists.observed.truncate(MAX_OBSERVED);
        lists.rebuild();
        true
    }

    /// The host and port an invite names: the best address, else 127.0.0.1 on our port.
    pub(super) fn invite_target(&self) -> (String, u16) {
        crate::reach::invite_target(&self.dial_addresses(), self.port())
    }
}

impl super::Node {
    /// Where others can dial us (best first): shown in `info`, named by invites, sent to
    /// contacts. Set by `listen` from this computer's interfaces and by `crate::reach`
    /// whenever it learns more (a router mapping, an interface change). A change after the
    /// first is a network change: every connected contact is told (PROTOCOL.md §7.1) and every
    /// other contact dialled again (§7.3).
    pub fn set_addresses(&self, addresses: Vec<ReachAddress>) {
        let Some(before) = self.inner.addresses.set_found(addresses) else {
            return;
        };
        self.emit(self.info());
        if !before.is_empty() {
            tracing::info!("our addresses changed: telling our contacts");
            self.announce_addresses();
            self.network_changed();
        }
    }

    /// A contact saw us at `address` (PROTOCOL.md §7.1): a new one is listed and announced.
    pub(super) fn observed_at(&self, address: SocketAddr) {
        if self.inner.addresses.add_observed(address) {
            tracing::info!(%address, "a contact sees us at a new address");
            self.emit(self.info());
            self.announce_addresses();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str, kind: AddressKind) -> ReachAddress {
        ReachAddress {
            address: text.parse().unwrap(),
            kind,
        }
    }

    #[test]
    fn observed_addresses_come_after_the_others_newest_first_and_bounded() {
        let own = OwnAddresses::default();
        assert!(own
            .set_found(vec![at("192.168.1.10:6000", AddressKind::Lan)])
            .is_some());
        assert!(own
            .set_found(vec![at("192.168.1.10:6000", AddressKind::Lan)])
            .is_none());
        for i in 1..=6u8 {
            assert!(own.add_observed(format!("11.0.0.{i}:6000").parse().unwrap()));
        }
        assert!(
            !own.add_observed("11.0.0.6:6000".parse().unwrap()),
            "already first"
        );
        assert!(!own.add_observed("127.0.0.1:6000".parse().unwrap()));
        assert!(
            !own.add_observed("192.168.1.10:6000".parse().unwrap()),
            "listed"
        );
        assert!(!own.add_observed("[::ffff:127.0.0.1]:6000".parse().unwrap()));
        let list = own.dial_addresses();
        assert_eq!(list[0], at("192.168.1.10:6000", AddressKind::Lan));
        let observed: Vec<String> = list[1..].iter().map(|a| a.address.to_string()).collect();
        assert_eq!(
            observed,
            [
                "11.0.0.6:6000",
                "11.0.0.5:6000",
                "11.0.0.4:6000",
                "11.0.0.3:6000"
            ]
        );
        // Seen again: back to the front.
        assert!(own.add_observed("11.0.0.4:6000".parse().unwrap()));
        assert_eq!(own.dial_addresses()[1].address.to_string(), "11.0.0.4:6000");
    }

    #[test]
    fn dials_share_the_port_only_when_listening_beyond_loopback() {
        let own = OwnAddresses::default();
        own.set_listening("127.0.0.1:6000".parse().unwrap());
        assert_eq!(own.dial_port(), None);
        own.set_listening("[::]:6001".parse().unwrap());
        assert_eq!(own.dial_port(), Some(6001));
    }
}
