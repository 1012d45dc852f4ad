//! This computer's own addresses, for "your address" and invites. Listening on every interface
//! the bound address says nothing useful, so the interfaces are enumerated (`netdev`): on a LAN
//! with no route to anywhere else there is still a LAN address to give out, and the address of
//! the interface that routes to the wider network (if any) comes first.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};

use super::{AddressKind, ReachAddress};

/// Documentation addresses (RFC 5737 TEST-NET-2, RFC 3849) used only to ask the kernel which
/// interface routes outwards; nothing is sent to them.
const PROBE_V4: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1)), 9);
const PROBE_V6: SocketAddr = SocketAddr::new(
    IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
    9,
);

/// The local address of the route to `probe`. Connecting a UDP socket sends nothing; the
/// kernel only chooses the interface. `None` without such a route (or when it is loopback).
pub fn routed_address(probe: SocketAddr) -> Option<IpAddr> {
    let any: SocketAddr = if probe.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(any).ok()?;
    socket.connect(probe).ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_unspecified() && !ip.is_loopback()).then_some(ip)
}

/// Whether another computer could dial `ip`: not loopback, unspecified, link-local
/// (169.254/16, fe80::/10: only valid with an interface scope) or multicast.
fn dialable(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => !(v4.is_loopback() || v4.is_unspecified() || v4.is_link_local()),
        IpAddr::V6(v6) => {
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_unicast_link_local()
                || v6.is_multicast()
                || v6.to_ipv4_mapped().is_some())
        }
    }
}

fn kind_of(ip: IpAddr) -> AddressKind {
    if ip.is_ipv6() {
        AddressKind::Ipv6
    } else {
        AddressKind::Lan
    }
}

/// Every dialable address of the interfaces that are up: IPv4 always, IPv6 when `with_v6`.
/// The routed address of each family comes first.
pub fn interface_ips(with_v6: bool) -> Vec<IpAddr> {
    let mut ips: Vec<IpAddr> = routed_address(PROBE_V4).into_iter().collect();
    if with_v6 {
        ips.extend(routed_address(PROBE_V6));
    }
    for interface in netdev::get_interfaces() {
        if !interface.is_up() || interface.is_loopback() {
            continue;
        }
        ips.extend(interface.ipv4.iter().map(|net| IpAddr::V4(net.addr())));
        if with_v6 {
            ips.extend(interface.ipv6.iter().map(|net| IpAddr::V6(net.addr())));
        }
    }
    ips.retain(|ip| dialable(*ip));
    let mut seen = std::collections::HashSet::new();
    ips.retain(|ip| seen.insert(*ip));
    ips
}

/// The addresses others can dial when the listener is bound at `local`: that address itself,
/// or — bound to every interface (`0.0.0.0`, or `::` which also takes IPv4) — every interface
/// address. Empty when there is none (then only this computer can reach us, at 127.0.0.1).
pub fn local_addresses(local: SocketAddr) -> Vec<ReachAddress> {
    let port = local.port();
    let ips = if local.ip().is_unspecified() {
        interface_ips(local.is_ipv6())
    } else {
        vec![local.ip()]
    };
    ips.into_iter()
        .map(|ip| ReachAddress {
            address: SocketAddr::new(ip, port),
            kind: kind_of(ip),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_specific_address_is_its_own_answer() {
        for text in ["127.0.0.1:6000", "192.0.2.7:6000", "[2001:db8::5]:7"] {
            let local: SocketAddr = text.parse().unwrap();
            let list = local_addresses(local);
            assert_eq!(list.len(), 1);
            assert_eq!(list[0].address, local);
            assert_eq!(list[0].kind, kind_of(local.ip()));
        }
    }

    #[test]
    fn every_interface_yields_dialable_addresses_only() {
        let v4 = local_addresses((Ipv4Addr::UNSPECIFIED, 6000).into());
        assert!(v4.iter().all(|a| a.kind == AddressKind::Lan), "{v4:?}");
        let both = local_addresses((Ipv6Addr::UNSPECIFIED, 6000).into());
        for a in v4.iter().chain(&both) {
            assert!(
                dialable(a.address.ip()) && a.address.port() == 6000,
                "{a:?}"
            );
        }
        // Listening on `::` takes IPv4 too, so every IPv4 address is still listed.
        for a in &v4 {
            assert!(both.contains(a), "{a:?} missing from {both:?}");
        }
    }

    #[test]
    fn link_local_loopback_and_mapped_addresses_are_not_given_out() {
        for text in [
            "127.0.0.1",
            "169.254.3.4",
            "::1",
            "fe80::1",
            "::ffff:10.0.0.1",
            "0.0.0.0",
        ] {
            assert!(!dialable(text.parse().unwrap()), "{text}");
        }
        for text in ["10.9.0.1", "11.0.0.1", "2001:db8:9::1", "fd00::1"] {
            assert!(dialable(text.parse().unwrap()), "{text}");
        }
    }
}
