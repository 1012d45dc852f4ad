//! The `addresses` payload (PROTOCOL.md §5, §7.1): on every contact's session when it comes
//! up, and on every one again when our addresses change, we say where we can be dialled and
//! where we see the other side. What a contact says is believed only about itself: its list
//! goes into its own address list (`Store::record_announced_addresses`, bounded), and where it
//! sees *us* joins our observed addresses. Strangers' announcements are ignored, and ours are
//! not sent to them (a request learns no LAN address of ours).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;

use crypto_core::wire::{Payload, WireAddress};
use crypto_core::PublicKey;

use super::registry::Link;
use super::{lock, Node};
use crate::event::{now_ms, ConnectionDirection, Event, Reached};
use crate::reach::AddressKind;
use crate::session::Outgoing;

/// Message requests whose `addresses` payload is held until the user accepts them (then it is
/// applied as if just received) or their session ends: at most this many, the oldest dropped.
const MAX_HELD: usize = 256;

/// One held announcement: its arrival order, the `observed` and the address list.
type Held = (u64, Option<String>, Vec<WireAddress>);

/// The last `addresses` payload of live message requests' sessions (PROTOCOL.md §7.1): nothing
/// of it is used unless the request becomes a contact while its session lasts.
#[derive(Default)]
pub(super) struct HeldAnnouncements {
    held: Mutex<HashMap<PublicKey, Held>>,
}

impl HeldAnnouncements {
    fn hold(&self, key: PublicKey, observed: Option<String>, list: Vec<WireAddress>) {
        let mut held = lock(&self.held);
        let order = held.values().map(|h| h.0).max().map_or(0, |n| n + 1);
        if held.len() >= MAX_HELD && !held.contains_key(&key) {
            let oldest = held.iter().min_by_key(|(_, h)| h.0).map(|(k, _)| *k);
            if let Some(oldest) = oldest {
                held.remove(&oldest);
            }
        }
        held.insert(key, (order, observed, list));
    }

    /// Takes what `key` announced while it was a stranger (its session ended or it was
    /// accepted).
    pub(super) fn take(&self, key: &PublicKey) -> Option<(Option<String>, Vec<WireAddress>)> {
        lock(&self.held).remove(key).map(|(_, o, l)| (o, l))
    }
}

/// An address a peer sent, if it is one we would dial: a real `ip:port` (no host names, no
/// port 0, no unspecified or multicast address), loopback only when `link_is_loopback` (the
/// other side is on this computer, so its loopback is ours too).
pub(super) fn dialable_hint(text: &str, link_is_loopback: bool) -> Option<SocketAddr> {
    let address: SocketAddr = text.parse().ok()?;
    let ip = address.ip().to_canonical();
    let usable = match ip {
        IpAddr::V4(v4) => !(v4.is_unspecified() || v4.is_multicast() || v4.is_broadcast()),
        IpAddr::V6(v6) => !(v6.is_unspecified() || v6.is_multicast()),
    };
    (usable && address.port() != 0 && (link_is_loopback || !ip.is_loopback()))
        .then(|| SocketAddr::new(ip, address.port()))
}

/// Our addresses as a wire list.
pub(super) fn wire_list(list: &[crate::reach::ReachAddress]) -> Vec<WireAddress> {
    list.iter()
        .take(crypto_core::wire::MAX_WIRE_ADDRESSES)
        .map(|a| WireAddress {
            address: a.address.to_string(),
            kind: a.kind.as_str().to_owned(),
        })
        .collect()
}

impl Node {
    /// The `addresses` payload for a session whose remote we see at `observed`.
    fn addresses_payload(&self, observed: SocketAddr) -> Outgoing {
        Payload::Addresses {
            observed: Some(observed.to_string()),
            addresses: wire_list(&self.inner.addresses.dial_addresses()),
        }
        .to_bytes()
        .into()
    }

    /// A contact's session came up: ours go out, and what it announced while it was a message
    /// request (if it was one) is taken now.
    pub(super) fn exchange_addresses(&self, peer: PublicKey) {
        self.send_addresses(peer);
        if let Some((observed, list)) = self.inner.held_announcements.take(&peer) {
            self.receive_addresses(peer, false, observed, list);
        }
    }

    /// Sends our addresses on `peer`'s session, if that is a contact's.
    pub(super) fn send_addresses(&self, peer: PublicKey) {
        let Some((_, link)) = self.inner.sessions.link(&peer) else {
            return;
        };
        let payload = self.addresses_payload(link.remote);
        let node = self.clone();
        tokio::spawn(async move {
            node.push_to_contact(&peer, payload).await;
        });
    }

    /// Our addresses changed: every connected contact is told.
    pub(super) fn announce_addresses(&self) {
        for key in self.inner.sessions.keys_where(|s| !s.is_stranger()) {
            self.send_addresses(key);
        }
    }

    /// A contact's `addresses` payload, received on its own authenticated session
    /// (`stranger`: that session's mark when it arrived).
    pub(super) fn receive_addresses(
        &self,
        peer: PublicKey,
        stranger: bool,
        observed: Option<String>,
        list: Vec<WireAddress>,
    ) {
        if stranger {
            // Believed only if the user accepts the request while this session lasts.
            self.inner.held_announcements.hold(peer, observed, list);
            return;
        }
        let Some((direction, link)) = self.inner.sessions.link(&peer) else {
            return;
        };
        let loopback = link.remote.ip().to_canonical().is_loopback();
        let theirs: Vec<(SocketAddr, AddressKind)> = list
            .iter()
            .filter_map(|a| {
                let kind = AddressKind::parse(&a.kind)?;
                Some((dialable_hint(&a.address, loopback)?, kind))
            })
            .collect();
        let observed = observed.and_then(|o| dialable_hint(&o, loopback));
        self.mark_reached(peer, direction, link, &theirs, observed);
        // Where it sees us is one of our addresses only if the connection is ours on our
        // listening port (it dialled us, or we dialled from that port): a dial from another
        // port shows a mapping nobody else can use.
        let ours_on_listen_port = direction == ConnectionDirection::Inbound
            || link.local_port == self.inner.addresses.port();
        if let Some(observed) = observed.filter(|_| ours_on_listen_port) {
            self.observed_at(observed);
        }
        if theirs.is_empty() {
            return;
        }
        let now = now_ms();
        self.store().exec(move |s| {
            let texts: Vec<(String, AddressKind)> = theirs
                .iter()
                .map(|(address, kind)| (address.to_string(), *kind))
                .collect();
            let list: Vec<(&str, AddressKind)> =
                texts.iter().map(|(a, k)| (a.as_str(), *k)).collect();
            if let Err(e) = s.record_announced_addresses(&peer, &list, now) {
                tracing::warn!("cannot record a contact's addresses: {e}");
            }
        });
    }

    /// Tells the UI a session came through a router mapping, once its announcement shows it:
    /// we dialled an address it calls `mapped`, or it dialled us at one of our mappings.
    fn mark_reached(
        &self,
        peer: PublicKey,
        direction: ConnectionDirection,
        link: Link,
        theirs: &[(SocketAddr, AddressKind)],
        observed: Option<SocketAddr>,
    ) {
        let through_mapping = match direction {
            ConnectionDirection::Outbound => theirs
                .iter()
                .any(|(a, k)| *k == AddressKind::Mapped && *a == link.remote),
            ConnectionDirection::Inbound => {
                observed.is_some_and(|o| self.inner.addresses.mapped().contains(&o))
            }
        };
        let Some(current) = self.inner.sessions.info(&peer) else {
            return;
        };
        if !through_mapping || current.reached != Reached::Direct {
            return;
        }
        if let Some(info) = self.inner.sessions.set_reached(&peer, Reached::Mapped) {
            self.emit(Event::PeerConnected(info));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_real_addresses_are_dial_hints_and_loopback_only_from_this_computer() {
        assert_eq!(
            dialable_hint("11.0.0.1:6000", false),
            Some("11.0.0.1:6000".parse().unwrap())
        );
        assert_eq!(
            dialable_hint("[::ffff:10.0.0.1]:6000", false),
            Some("10.0.0.1:6000".parse().unwrap())
        );
        for bad in [
            "example.com:6000",
            "11.0.0.1:0",
            "0.0.0.0:6000",
            "[::]:6000",
            "224.0.0.1:6000",
            "255.255.255.255:6000",
            "11.0.0.1",
            "",
        ] {
            assert_eq!(dialable_hint(bad, true), None, "{bad}");
        }
        assert_eq!(dialable_hint("127.0.0.1:6000", false), None);
        assert_eq!(
            dialable_hint("127.0.0.1:6000", true),
            Some("127.0.0.1:6000".parse().unwrap())
        );
    }
}
