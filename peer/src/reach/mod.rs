//! How other computers reach this peer: the addresses it can be dialled at, each tagged with
//! how it was learnt (PROTOCOL.md §8, `info.addresses`), the dual-stack listener, the router
//! port mapping and the small file through which `p2p-chat invite` learns a running peer's
//! addresses.
//!
//! Nothing here sends a packet unless the peer listens on a non-loopback address: port
//! mapping only talks to the default gateway, and only when asked to. LAN discovery
//! ([`mdns`], the bounded list of people nearby in [`nearby`]) multicasts on the LAN only,
//! and only then too (`--no-mdns` turns it off).

pub mod dial;
pub mod interfaces;
pub mod keep;
pub mod listen;
pub mod mdns;
pub mod nearby;
pub mod portmap;
pub mod published;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use listen::bind_listener;

/// How an address was learnt. The order is the order of preference: what `info.addresses`
/// lists first and what an invite names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AddressKind {
    /// The router's external address and port, mapped to us by UPnP-IGD, NAT-PMP or PCP.
    Mapped,
    /// An IPv4 address of one of this computer's interfaces (or the one address it listens on).
    Lan,
    /// An IPv6 address of one of this computer's interfaces (not link-local).
    Ipv6,
    /// The address a connected peer saw us connect from (reported inside a session).
    Observed,
}

impl AddressKind {
    /// The protocol's spelling (`mapped`, `lan`, `ipv6`, `observed`), as serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mapped => "mapped",
            Self::Lan => "lan",
            Self::Ipv6 => "ipv6",
            Self::Observed => "observed",
        }
    }

    /// Parses the protocol's spelling.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "mapped" => Some(Self::Mapped),
            "lan" => Some(Self::Lan),
            "ipv6" => Some(Self::Ipv6),
            "observed" => Some(Self::Observed),
            _ => None,
        }
    }
}

/// One address another computer can dial, with its kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReachAddress {
    /// `ip:port` (`[ipv6]:port`).
    pub address: SocketAddr,
    /// How it was learnt.
    pub kind: AddressKind,
}

/// At most this many addresses are listed (a machine with many interfaces stays readable).
pub const MAX_ADDRESSES: usize = 16;

/// The list in preference order (stable within a kind), without duplicates, bounded.
pub fn ordered(mut list: Vec<ReachAddress>) -> Vec<ReachAddress> {
    list.sort_by_key(|a| a.kind);
    let mut seen = std::collections::HashSet::new();
    list.retain(|a| seen.insert(a.address));
    list.truncate(MAX_ADDRESSES);
    list
}

/// Where an invite points: the most preferred address, else this computer (127.0.0.1) on
/// the listening port.
pub fn invite_target(list: &[ReachAddress], listen_port: u16) -> (String, u16) {
    list.first().map_or_else(
        || ("127.0.0.1".to_owned(), listen_port),
        |a| (a.address.ip().to_string(), a.address.port()),
    )
}

/// Where `p2p-chat invite` points when not given a host: the running peer's best address
/// (its router mapping included) if it published one in `data_dir`, else this computer's
/// interfaces, else 127.0.0.1 — on `port`, or on the mapped external port.
pub fn invite_command_target(data_dir: Option<&std::path::Path>, port: u16) -> (String, u16) {
    let running = data_dir
        .map(|dir| published::read(&dir.join(published::FILE)))
        .unwrap_or_default();
    let list = if running.is_empty() {
        interfaces::local_addresses((std::net::Ipv6Addr::UNSPECIFIED, port).into())
    } else {
        running
    };
    invite_target(&ordered(list), port)
}

/// What the peer is told whenever its list changes.
pub type Publish = Arc<dyn Fn(Vec<ReachAddress>) + Send + Sync>;

/// Options of [`Reach::start`].
pub struct ReachOptions {
    /// Ask the router for a port mapping (`--no-port-mapping` turns it off).
    pub port_mapping: bool,
    /// The data directory, where `p2p-chat invite` finds the current addresses.
    pub data_dir: Option<PathBuf>,
    /// How often the interfaces are listed again to notice a network change (a new Wi-Fi, a
    /// new DHCP lease): [`INTERFACE_POLL`] unless a test shortens it.
    pub interface_poll: std::time::Duration,
}

/// How often the interfaces are listed again by default.
pub const INTERFACE_POLL: std::time::Duration = std::time::Duration::from_secs(10);

/// The running address keeper: the interface addresses (listed again every
/// [`ReachOptions::interface_poll`]) plus, while it lasts, the router mapping.
pub struct Reach {
    mapper: Option<portmap::PortMapper>,
    watcher: Option<tokio::task::JoinHandle<()>>,
    file: Option<PathBuf>,
}

/// What the published list is made of.
#[derive(Default)]
struct Found {
    interfaces: Vec<ReachAddress>,
    mapped: Option<SocketAddr>,
}

impl Found {
    fn list(&self) -> Vec<ReachAddress> {
        let mut list = self.interfaces.clone();
        list.extend(self.mapped.map(|address| ReachAddress {
            address,
            kind: AddressKind::Mapped,
        }));
        ordered(list)
    }
}

impl Reach {
    /// Lists the interface addresses for the listener bound at `local`, publishes them, and —
    /// when listening on a non-loopback address and `options.port_mapping` — starts mapping
    /// the port on the router; every change is published again.
    pub fn start(local: SocketAddr, options: ReachOptions, publish: Publish) -> Reach {
        let found = Arc::new(std::sync::Mutex::new(Found {
            interfaces: interfaces::local_addresses(local),
            mapped: None,
        }));
        let file = options.data_dir.map(|dir| dir.join(published::FILE));
        let announce: Publish = {
            let file = file.clone();
            Arc::new(move |list: Vec<ReachAddress>| {
                if let Some(path) = &file {
                    published::write(path, &list);
                }
                publish(list);
            })
        };
        let republish = {
            let found = Arc::clone(&found);
            let announce = Arc::clone(&announce);
            move || {
                let list = found.lock().map(|f| f.list()).unwrap_or_default();
                announce(list);
            }
        };
        republish();
        let watcher = (!local.ip().to_canonical().is_loopback()).then(|| {
            let found = Arc::clone(&found);
            let republish = republish.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(options.interface_poll);
                tick.tick().await;
                loop {
                    tick.tick().await;
                    let now = interfaces::local_addresses(local);
                    let changed = match found.lock() {
                        Ok(mut f) if f.interfaces != now => {
                            f.interfaces = now;
                            true
                        }
                        _ => false,
                    };
                    if changed {
                        tracing::info!("the network changed: new interface addresses");
                        republish();
                    }
                }
            })
        });
        let mapper = if !options.port_mapping {
            tracing::info!("port mapping off (--no-port-mapping)");
            None
        } else if local.ip().to_canonical().is_loopback() {
            tracing::info!("port mapping off: listening on loopback only");
            None
        } else {
            Some(portmap::PortMapper::spawn(
                local,
                Arc::new(move |mapped: Option<SocketAddr>| {
                    if let Ok(mut f) = found.lock() {
                        f.mapped = mapped;
                    }
                    republish();
                }),
            ))
        };
        Reach {
            mapper,
            watcher,
            file,
        }
    }

    /// Removes the router mapping (if any) and the published address file.
    pub async fn shutdown(self) {
        if let Some(watcher) = &self.watcher {
            watcher.abort();
        }
        if let Some(mapper) = self.mapper {
            mapper.shutdown().await;
        }
        if let Some(path) = &self.file {
            published::remove(path);
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
    fn mapped_comes_first_duplicates_go_and_the_list_is_bounded() {
        let list = ordered(vec![
            at("192.168.1.10:6000", AddressKind::Lan),
            at("[2001:db8::1]:6000", AddressKind::Ipv6),
            at("11.0.0.1:6001", AddressKind::Mapped),
            at("192.168.1.10:6000", AddressKind::Lan),
        ]);
        assert_eq!(
            list,
            vec![
                at("11.0.0.1:6001", AddressKind::Mapped),
                at("192.168.1.10:6000", AddressKind::Lan),
                at("[2001:db8::1]:6000", AddressKind::Ipv6),
            ]
        );
        assert_eq!(invite_target(&list, 6000), ("11.0.0.1".into(), 6001));
        assert_eq!(invite_target(&[], 6000), ("127.0.0.1".into(), 6000));
        let many = (0..100)
            .map(|i| at(&format!("10.0.0.{i}:1"), AddressKind::Lan))
            .collect();
        assert_eq!(ordered(many).len(), MAX_ADDRESSES);
    }

    #[test]
    fn the_page_gets_kind_and_address_strings() {
        let json = serde_json::to_value(at("[2001:db8::1]:6000", AddressKind::Ipv6)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"address": "[2001:db8::1]:6000", "kind": "ipv6"})
        );
        for kind in [
            AddressKind::Mapped,
            AddressKind::Lan,
            AddressKind::Ipv6,
            AddressKind::Observed,
        ] {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
            assert_eq!(AddressKind::parse(kind.as_str()), Some(kind));
        }
    }
}
