//! LAN discovery: announces this peer as `_p2p-chat._tcp.local` with multicast DNS and
//! browses for the others, so people on the same network find each other without typing an
//! address (PROTOCOL.md §8.9). Off with `--no-mdns`, and off whenever the peer listens on
//! loopback only — except under the hidden test option that keeps it on the loopback
//! interface, where nothing leaves the computer.
//!
//! The records are built and read by [`records`] (wire format from `simple-dns`). This file
//! owns the one UDP socket (224.0.0.251:5353, joined on each chosen interface) and the timing:
//! two announcements one second apart at start, then one every [`ANNOUNCE_EVERY`]; a query at
//! start, after 1 s and 3 s, then every [`QUERY_EVERY`]; an answer to others' queries at most
//! once per [`ANSWER_GAP`]; a goodbye (TTL 0) on clean shutdown. What it hears goes into the
//! bounded [`NearbyTable`], and the list is handed on at most once per [`PUBLISH_EVERY`],
//! only when it changed. Why not a complete mDNS daemon crate: the maintained one caches every
//! record it is sent without a bound and reads its socket until it is drained, so a host
//! flooding the LAN could grow its memory at will; here nothing outlives the packet it came in
//! except the bounded table. `peer/tests/mdns_differential.rs` checks this code against that
//! crate (`mdns-sd`) in both directions — its browser resolves our announcement and goodbye,
//! ours lists its registration and drops it on unregister — in a private network namespace.

pub mod records;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use crypto_core::PublicKey;
use socket2::{Domain, Protocol, SockRef, Socket, Type};
use tokio::net::UdpSocket;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::nearby::{NearbyPerson, NearbyTable};
use records::{OwnRecord, Received};

/// The mDNS multicast group and port (RFC 6762).
pub const GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 251);
/// The mDNS port.
pub const PORT: u16 = 5353;
/// Re-announcing at half the TTL keeps us listed everywhere.
pub const ANNOUNCE_EVERY: Duration = Duration::from_secs(60);
/// How often we ask again, after the first three queries.
pub const QUERY_EVERY: Duration = Duration::from_secs(300);
/// Others' queries are answered at most this often (a query flood costs one packet a second).
pub const ANSWER_GAP: Duration = Duration::from_secs(1);
/// Changes to the list are handed on at most this often.
pub const PUBLISH_EVERY: Duration = Duration::from_millis(250);
/// The largest mDNS packet (RFC 6762 §17).
const MAX_PACKET: usize = 9000;

/// What discovery needs from the peer.
pub struct MdnsPeer {
    /// Our key.
    pub key: PublicKey,
    /// Our display name now (read before each announcement; a change is announced at once).
    pub name: Arc<dyn Fn() -> String + Send + Sync>,
    /// Receives the list of people nearby whenever it changes.
    pub publish: Arc<dyn Fn(Vec<NearbyPerson>) + Send + Sync>,
}

/// Options of [`Mdns::start`].
#[derive(Debug, Clone, Copy, Default)]
pub struct MdnsOptions {
    /// `--no-mdns`.
    pub off: bool,
    /// Tests only: announce and browse on the loopback interface alone (127.0.0.1), whatever
    /// the listen address.
    pub loopback_only: bool,
}

/// Running discovery.
pub struct Mdns {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

/// Where discovery runs: the interfaces (by their IPv4 address) it joins the group on and
/// sends from, and the addresses it announces for the listener at `local`. `None` (with the
/// reason) when it must not run.
fn plan(local: SocketAddr, options: MdnsOptions) -> Result<(Vec<Ipv4Addr>, Vec<IpAddr>), String> {
    if options.off {
        return Err("off (--no-mdns)".into());
    }
    if options.loopback_only {
        return Ok((vec![Ipv4Addr::LOCALHOST], vec![Ipv4Addr::LOCALHOST.into()]));
    }
    let ip = local.ip().to_canonical();
    if ip.is_loopback() {
        return Err("off: listening on loopback only".into());
    }
    let announced: Vec<IpAddr> = super::interfaces::local_addresses(local)
        .into_iter()
        .map(|a| a.address.ip())
        .take(records::MAX_ANNOUNCED_ADDRESSES)
        .collect();
    let interfaces: Vec<Ipv4Addr> = netdev::get_interfaces()
        .into_iter()
        .filter(|i| i.is_up() && !i.is_loopback() && i.is_multicast())
        .filter(|i| {
            ip.is_unspecified()
                || i.ipv4.iter().any(|n| IpAddr::V4(n.addr()) == ip)
                || i.ipv6.iter().any(|n| IpAddr::V6(n.addr()) == ip)
        })
        .filter_map(|i| i.ipv4.first().map(|n| n.addr()))
        .collect();
    if interfaces.is_empty() || announced.is_empty() {
        return Err("off: no IPv4 interface with multicast to announce on".into());
    }
    Ok((interfaces, announced))
}

fn open_socket(interfaces: &[Ipv4Addr]) -> std::io::Result<UdpSocket> {
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    // Other mDNS responders on this computer (and other peers) share the port; on Linux
    // SO_REUSEADDR is enough for UDP, and every socket gets each multicast datagram.
    socket.set_reuse_address(true)?;
    socket.set_multicast_loop_v4(true)?;
    socket.set_multicast_ttl_v4(255)?;
    socket.set_nonblocking(true)?;
    socket.bind(&SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), PORT).into())?;
    let mut joined = 0;
    for interface in interfaces {
        match socket.join_multicast_v4(&GROUP, interface) {
            Ok(()) => joined += 1,
            Err(e) => tracing::debug!("mDNS: cannot join the group on {interface}: {e}"),
        }
    }
    if joined == 0 {
        return Err(std::io::Error::other(
            "could not join the mDNS group anywhere",
        ));
    }
    UdpSocket::from_std(socket.into())
}

/// Whether an announced address is worth dialling: not unspecified, multicast, broadcast or
/// link-local (which needs a scope we are not told), and loopback only in the loopback test
/// mode.
fn acceptable(address: &SocketAddr, loopback_only: bool) -> bool {
    let ip = address.ip().to_canonical();
    if ip.is_loopback() {
        return loopback_only;
    }
    match ip {
        IpAddr::V4(v4) => {
            !(v4.is_unspecified() || v4.is_multicast() || v4.is_broadcast() || v4.is_link_local())
        }
        IpAddr::V6(v6) => !(v6.is_unspecified() || v6.is_multicast() || v6.is_unicast_link_local()),
    }
}

impl Mdns {
    /// Starts discovery for the listener bound at `local`, or says in one INFO line why not.
    pub fn start(local: SocketAddr, options: MdnsOptions, peer: MdnsPeer) -> Option<Mdns> {
        let (interfaces, announced) = match plan(local, options) {
            Ok(plan) => plan,
            Err(why) => {
                tracing::info!("LAN discovery (mDNS) {why}");
                return None;
            }
        };
        let socket = match open_socket(&interfaces) {
            Ok(socket) => socket,
            Err(e) => {
                tracing::info!("LAN discovery (mDNS) off: {e}");
                return None;
            }
        };
        tracing::info!(
            "LAN discovery (mDNS): announcing {} on {}",
            records::SERVICE,
            interfaces
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
        let (stop, stopped) = oneshot::channel();
        let service = Service {
            socket,
            interfaces,
            loopback_only: options.loopback_only,
            local,
            announced,
            table: NearbyTable::new(peer.key),
            peer,
        };
        let task = tokio::spawn(service.run(stopped));
        Some(Mdns { stop, task })
    }

    /// Says goodbye on the LAN (so the others forget us now) and stops.
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        let _ = tokio::time::timeout(Duration::from_secs(2), self.task).await;
    }
}

struct Service {
    socket: UdpSocket,
    interfaces: Vec<Ipv4Addr>,
    loopback_only: bool,
    local: SocketAddr,
    announced: Vec<IpAddr>,
    table: NearbyTable,
    peer: MdnsPeer,
}

impl Service {
    fn own(&self, name: String) -> OwnRecord {
        OwnRecord {
            key: self.peer.key,
            name,
            port: self.local.port(),
            addresses: self.announced.clone(),
        }
    }

    /// Sends `packet` to the group from every chosen interface.
    async fn send(&self, packet: &[u8]) {
        for interface in &self.interfaces {
            if let Err(e) = SockRef::from(&self.socket).set_multicast_if_v4(interface) {
                tracing::debug!("mDNS: cannot send from {interface}: {e}");
                continue;
            }
            if let Err(e) = self.socket.send_to(packet, (GROUP, PORT)).await {
                tracing::debug!("mDNS: send from {interface} failed: {e}");
            }
        }
    }

    async fn announce(&self, name: &str, ttl: Duration) {
        match records::announcement(&self.own(name.to_owned()), ttl) {
            Ok(packet) => self.send(&packet).await,
            Err(e) => tracing::debug!("mDNS: cannot build our announcement: {e}"),
        }
    }

    async fn run(mut self, mut stopped: oneshot::Receiver<()>) {
        let mut buf = vec![0u8; MAX_PACKET];
        let mut ticker = tokio::time::interval(PUBLISH_EVERY);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let start = Instant::now();
        // Two announcements one second apart, then one per ANNOUNCE_EVERY.
        let mut next_announce = start;
        let mut announced_once = false;
        let mut queries = [
            start,
            start + Duration::from_secs(1),
            start + Duration::from_secs(3),
        ]
        .into_iter();
        let mut next_query = queries.next().unwrap_or(start);
        let mut last_answer: Option<Instant> = None;
        let mut name = (self.peer.name)();
        let mut dirty = false;
        loop {
            tokio::select! {
                _ = &mut stopped => break,
                received = self.socket.recv_from(&mut buf) => {
                    let Ok((len, from)) = received else {
                        // A failing socket must not spin this task.
                        tokio::time::sleep(PUBLISH_EVERY).await;
                        continue;
                    };
                    match records::parse(&buf[..len]) {
                        Received::Query => {
                            if last_answer.is_none_or(|t| t.elapsed() >= ANSWER_GAP) {
                                last_answer = Some(Instant::now());
                                self.announce(&name, records::TTL).await;
                            }
                        }
                        Received::Announcements(list) => {
                            let now = std::time::Instant::now();
                            for mut a in list {
                                a.addresses.retain(|x| acceptable(x, self.loopback_only));
                                dirty |= self.table.apply(a, from.ip().to_canonical(), now);
                            }
                        }
                        Received::Other => {}
                    }
                }
                _ = ticker.tick() => {
                    let now = Instant::now();
                    dirty |= self.table.expire(std::time::Instant::now());
                    let current = (self.peer.name)();
                    if current != name {
                        name = current;
                        next_announce = now;
                    }
                    if now >= next_announce {
                        if !announced_once {
                            announced_once = true;
                            next_announce = now + Duration::from_secs(1);
                        } else {
                            next_announce = now + ANNOUNCE_EVERY;
                            // Interfaces may have changed since the last announcement.
                            if !self.loopback_only {
                                self.refresh_addresses();
                            }
                        }
                        self.announce(&name, records::TTL).await;
                    }
                    if now >= next_query {
                        next_query = queries.next().unwrap_or(now + QUERY_EVERY);
                        match records::query() {
                            Ok(packet) => self.send(&packet).await,
                            Err(e) => tracing::debug!("mDNS: cannot build a query: {e}"),
                        }
                    }
                    if dirty {
                        dirty = false;
                        (self.peer.publish)(self.table.list());
                    }
                }
            }
        }
        self.announce(&name, Duration::ZERO).await;
        tracing::info!("LAN discovery (mDNS): said goodbye");
    }

    fn refresh_addresses(&mut self) {
        let fresh: Vec<IpAddr> = super::interfaces::local_addresses(self.local)
            .into_iter()
            .map(|a| a.address.ip())
            .take(records::MAX_ANNOUNCED_ADDRESSES)
            .collect();
        if !fresh.is_empty() {
            self.announced = fresh;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_on_loopback_or_when_turned_off_unless_the_test_mode_asks() {
        let on_loopback: SocketAddr = "127.0.0.1:6000".parse().unwrap();
        let everywhere: SocketAddr = "[::]:6000".parse().unwrap();
        let off = MdnsOptions {
            off: true,
            loopback_only: false,
        };
        assert!(plan(everywhere, off).is_err());
        assert!(plan(on_loopback, MdnsOptions::default()).is_err());
        assert!(plan("[::1]:6000".parse().unwrap(), MdnsOptions::default()).is_err());
        let test_mode = MdnsOptions {
            off: false,
            loopback_only: true,
        };
        assert_eq!(
            plan(on_loopback, test_mode).unwrap(),
            (
                vec![Ipv4Addr::LOCALHOST],
                vec![IpAddr::from(Ipv4Addr::LOCALHOST)]
            )
        );
        // The loopback test mode never joins another interface, whatever the listen address.
        assert_eq!(
            plan(everywhere, test_mode).unwrap().0,
            vec![Ipv4Addr::LOCALHOST]
        );
        // And --no-mdns wins over it.
        assert!(plan(
            on_loopback,
            MdnsOptions {
                off: true,
                loopback_only: true
            }
        )
        .is_err());
    }

    #[test]
    fn only_dialable_addresses_are_taken_from_announcements() {
        for text in ["10.9.0.2:6000", "[2001:db8:9::2]:6000", "11.0.0.1:1"] {
            assert!(acceptable(&text.parse().unwrap(), false), "{text}");
        }
        for text in [
            "127.0.0.1:6000",
            "0.0.0.0:6000",
            "224.0.0.251:6000",
            "255.255.255.255:1",
            "169.254.1.1:1",
            "[fe80::1]:1",
            "[::1]:1",
            "[ff02::fb]:1",
        ] {
            assert!(!acceptable(&text.parse().unwrap(), false), "{text}");
        }
        assert!(acceptable(&"127.0.0.1:6000".parse().unwrap(), true));
    }
}
