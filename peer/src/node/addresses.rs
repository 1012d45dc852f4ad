//! Where others can reach us: the port we listen on, the `host:port`s worth dialling
//! (`crate::lan`) and the host put in our invites. Set when the listener binds, read by
//! hellos, `info` and invites. Addresses learned per contact and hole punching belong here.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::RwLock;

/// Our own reachability.
pub(super) struct OwnAddresses {
    listen_port: AtomicU16,
    dial_addresses: RwLock<Vec<String>>,
    invite_host: RwLock<String>,
}

impl Default for OwnAddresses {
    fn default() -> Self {
        Self {
            listen_port: AtomicU16::new(0),
            dial_addresses: RwLock::new(Vec::new()),
            invite_host: RwLock::new("127.0.0.1".into()),
        }
    }
}

impl OwnAddresses {
    /// The P2P port (0 before `listen`).
    pub(super) fn port(&self) -> u16 {
        self.listen_port.load(Ordering::Relaxed)
    }

    /// The listener is bound at `local`; `hosts` are the addresses of ours worth dialling.
    pub(super) fn set_listening(&self, local: SocketAddr, hosts: &[IpAddr]) {
        self.listen_port.store(local.port(), Ordering::Relaxed);
        self.set_invite_host(&crate::lan::invite_host(hosts));
        if let Ok(mut addresses) = self.dial_addresses.write() {
            *addresses = hosts
                .iter()
                .map(|ip| SocketAddr::new(*ip, local.port()).to_string())
                .collect();
        }
    }

    /// `host:port` others can dial us at.
    pub(super) fn dial_addresses(&self) -> Vec<String> {
        self.dial_addresses
            .read()
            .map(|a| a.clone())
            .unwrap_or_default()
    }

    /// The host put in our invites.
    pub(super) fn invite_host(&self) -> String {
        self.invite_host
            .read()
            .map(|h| h.clone())
            .unwrap_or_else(|_| "127.0.0.1".into())
    }

    pub(super) fn set_invite_host(&self, host: &str) {
        if let Ok(mut slot) = self.invite_host.write() {
            *slot = host.to_owned();
        }
    }
}

impl super::Node {
    /// The host put in our invites (by default the first dialable host, see `crate::lan`).
    pub fn set_invite_host(&self, host: &str) {
        self.inner.addresses.set_invite_host(host);
    }
}
