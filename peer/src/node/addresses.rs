//! Where others can reach us: the port we listen on and the addresses worth dialling, each
//! with its kind, best first (`crate::reach`). The port is set when the listener binds; the
//! list first from this computer's interfaces, then whenever the router mapping changes. Read
//! by hellos, `info` and invites. Addresses learned per contact and hole punching belong here.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::RwLock;

use crate::reach::ReachAddress;

/// Our own reachability.
#[derive(Default)]
pub(super) struct OwnAddresses {
    listen_port: AtomicU16,
    dial_addresses: RwLock<Vec<ReachAddress>>,
}

impl OwnAddresses {
    /// The P2P port (0 before `listen`).
    pub(super) fn port(&self) -> u16 {
        self.listen_port.load(Ordering::Relaxed)
    }

    /// The listener is bound at `local`.
    pub(super) fn set_listening(&self, local: SocketAddr) {
        self.listen_port.store(local.port(), Ordering::Relaxed);
    }

    /// Where others can dial us, best first.
    pub(super) fn dial_addresses(&self) -> Vec<ReachAddress> {
        self.dial_addresses
            .read()
            .map(|a| a.clone())
            .unwrap_or_default()
    }

    fn set(&self, addresses: Vec<ReachAddress>) {
        if let Ok(mut slot) = self.dial_addresses.write() {
            *slot = crate::reach::ordered(addresses);
        }
    }

    /// The host and port an invite names: the best address, else 127.0.0.1 on our port.
    pub(super) fn invite_target(&self) -> (String, u16) {
        crate::reach::invite_target(&self.dial_addresses(), self.port())
    }
}

impl super::Node {
    /// Where others can dial us (best first): shown in `info`, named by invites. Set by
    /// `listen` from this computer's interfaces and by `crate::reach` whenever it learns more.
    pub fn set_addresses(&self, addresses: Vec<ReachAddress>) {
        self.inner.addresses.set(addresses);
        self.emit(self.info());
    }
}
