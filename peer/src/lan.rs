//! Which of this machine's addresses another computer can dial: the "your address" the page
//! shows and the host an invite names. Listening on every interface (`0.0.0.0`, the default)
//! the bound address says nothing useful, so the address of the interface that routes to the
//! wider network is used.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};

/// Documentation addresses (RFC 5737 TEST-NET-2, RFC 3849) used only to pick a route.
const PROBE_V4: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1)), 9);
const PROBE_V6: SocketAddr = SocketAddr::new(
    IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
    9,
);

/// The local address of the route to `probe`. Connecting a UDP socket sends nothing; the
/// kernel only chooses the interface. `None` without such a route (or when it is loopback).
fn routed_address(probe: SocketAddr) -> Option<IpAddr> {
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

/// The hosts others can dial when we listen on `local`: that address itself, or — listening
/// on every interface — the routed IPv4 address (and IPv6 when listening on `::`). Empty when
/// no route exists (then only this computer can reach us, at 127.0.0.1).
pub fn dialable_hosts(local: IpAddr) -> Vec<IpAddr> {
    if !local.is_unspecified() {
        return vec![local];
    }
    let mut hosts: Vec<IpAddr> = routed_address(PROBE_V4).into_iter().collect();
    if local.is_ipv6() {
        hosts.extend(routed_address(PROBE_V6));
    }
    hosts
}

/// The host an invite names: the first dialable host, else 127.0.0.1 (only this computer).
pub fn invite_host(hosts: &[IpAddr]) -> String {
    hosts
        .first()
        .map_or_else(|| "127.0.0.1".to_owned(), ToString::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_specific_address_is_its_own_answer() {
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(dialable_hosts(ip), vec![ip]);
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(dialable_hosts(ip), vec![ip]);
    }

    #[test]
    fn every_interface_yields_routed_non_loopback_addresses_only() {
        for host in dialable_hosts(IpAddr::V4(Ipv4Addr::UNSPECIFIED)) {
            assert!(
                host.is_ipv4() && !host.is_loopback() && !host.is_unspecified(),
                "{host}"
            );
        }
        for host in dialable_hosts(IpAddr::V6(Ipv6Addr::UNSPECIFIED)) {
            assert!(!host.is_loopback() && !host.is_unspecified(), "{host}");
        }
    }
}
