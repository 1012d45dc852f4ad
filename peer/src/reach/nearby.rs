//! People nearby: the peers announcing themselves on this computer's LAN (mDNS,
//! `super::mdns`). Any host on the LAN can write into this table, so it is bounded: at most
//! [`MAX_NEARBY`] people, at most [`MAX_PER_SOURCE`] of them announced from one sending
//! address, [`MAX_PERSON_ADDRESSES`] addresses each; an entry goes when its announcement says
//! goodbye or is not refreshed within its TTL (at most [`MAX_TTL`]), and a newcomer beyond a
//! cap pushes out the entry heard from longest ago. A flood of announcements therefore costs a
//! fixed amount of memory, whatever it holds (SECURITY.md).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use crypto_core::PublicKey;
use serde::Serialize;

/// People kept at most.
pub const MAX_NEARBY: usize = 32;
/// People kept at most whose latest announcement came from one address.
pub const MAX_PER_SOURCE: usize = 4;
/// Addresses kept per person at most.
pub const MAX_PERSON_ADDRESSES: usize = 6;
/// An announcement is believed for its TTL, but never longer than this.
pub const MAX_TTL: Duration = Duration::from_secs(300);

/// One received announcement of a peer (`ttl` zero: it says goodbye).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announcement {
    /// The key it names.
    pub key: PublicKey,
    /// Its display name (cleaned; untrusted text).
    pub name: String,
    /// Where it says it listens.
    pub addresses: Vec<SocketAddr>,
    /// How long to believe it.
    pub ttl: Duration,
}

/// One person nearby as the page gets it (PROTOCOL.md §8.9).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NearbyPerson {
    /// The announced key, standard base64 like every `peer_id`.
    pub peer_id: String,
    /// The announced name (untrusted text).
    pub name: String,
    /// Where it says it listens, most recently announced first.
    pub addresses: Vec<SocketAddr>,
}

struct Entry {
    name: String,
    addresses: Vec<SocketAddr>,
    source: IpAddr,
    heard: Instant,
    expires: Instant,
}

/// The table of people nearby.
pub struct NearbyTable {
    own: PublicKey,
    entries: HashMap<PublicKey, Entry>,
}

impl NearbyTable {
    /// An empty table that ignores announcements of `own` (our own key).
    pub fn new(own: PublicKey) -> Self {
        Self {
            own,
            entries: HashMap::new(),
        }
    }

    /// How many people it holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether it holds nobody.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Takes in an announcement sent from `source`; returns whether the list changed.
    pub fn apply(&mut self, a: Announcement, source: IpAddr, now: Instant) -> bool {
        if a.key == self.own {
            return false;
        }
        if a.ttl.is_zero() {
            // A goodbye counts only from where the entry was last announced.
            let goes = self.entries.get(&a.key).is_some_and(|e| e.source == source);
            return goes && self.entries.remove(&a.key).is_some();
        }
        if a.addresses.is_empty() {
            return false;
        }
        let expires = now + a.ttl.min(MAX_TTL);
        if let Some(entry) = self.entries.get_mut(&a.key) {
            // The same sender replaces its addresses. Another sender's (a peer whose address
            // changed, or someone else claiming its key) go first, at most half of them, and
            // the earlier ones stay behind: a dial tries them in order and expects the key.
            let mut addresses = a.addresses;
            if entry.source != source {
                addresses.truncate(MAX_PERSON_ADDRESSES / 2);
                addresses.extend(entry.addresses.iter().copied());
            }
            let mut seen = std::collections::HashSet::new();
            addresses.retain(|x| seen.insert(*x));
            addresses.truncate(MAX_PERSON_ADDRESSES);
            let changed = entry.name != a.name || entry.addresses != addresses;
            entry.name = a.name;
            entry.addresses = addresses;
            entry.source = source;
            entry.heard = now;
            entry.expires = expires;
            return changed;
        }
        let from_source = self.entries.values().filter(|e| e.source == source).count();
        if from_source >= MAX_PER_SOURCE {
            self.evict_oldest(|e| e.source == source);
        }
        if self.entries.len() >= MAX_NEARBY {
            self.evict_oldest(|_| true);
        }
        let mut addresses = a.addresses;
        addresses.truncate(MAX_PERSON_ADDRESSES);
        self.entries.insert(
            a.key,
            Entry {
                name: a.name,
                addresses,
                source,
                heard: now,
                expires,
            },
        );
        true
    }

    fn evict_oldest(&mut self, which: impl Fn(&Entry) -> bool) {
        let oldest = self
            .entries
            .iter()
            .filter(|(_, e)| which(e))
            .min_by_key(|(_, e)| e.heard)
            .map(|(k, _)| *k);
        if let Some(key) = oldest {
            self.entries.remove(&key);
        }
    }

    /// Forgets every entry whose TTL ran out; returns whether any went.
    pub fn expire(&mut self, now: Instant) -> bool {
        let before = self.entries.len();
        self.entries.retain(|_, e| e.expires > now);
        self.entries.len() != before
    }

    /// Everyone nearby, by name then key.
    pub fn list(&self) -> Vec<NearbyPerson> {
        let mut list: Vec<NearbyPerson> = self
            .entries
            .iter()
            .map(|(key, e)| NearbyPerson {
                peer_id: key.to_base64(),
                name: e.name.clone(),
                addresses: e.addresses.clone(),
            })
            .collect();
        list.sort_by(|a, b| (&a.name, &a.peer_id).cmp(&(&b.name, &b.peer_id)));
        list
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u32) -> PublicKey {
        let mut bytes = [0u8; 32];
        bytes[..4].copy_from_slice(&n.to_be_bytes());
        bytes[31] = 1;
        PublicKey::from_bytes(bytes)
    }

    fn announce(n: u32, name: &str, addr: &str, ttl: u64) -> Announcement {
        Announcement {
            key: key(n),
            name: name.into(),
            addresses: vec![addr.parse().unwrap()],
            ttl: Duration::from_secs(ttl),
        }
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn entries_come_change_say_goodbye_and_expire() {
        let now = Instant::now();
        let mut table = NearbyTable::new(key(0));
        assert!(!table.apply(announce(0, "me", "10.0.0.1:1", 120), ip("10.0.0.1"), now));
        assert!(table.apply(
            announce(1, "bob", "10.0.0.2:6000", 120),
            ip("10.0.0.2"),
            now
        ));
        assert!(!table.apply(
            announce(1, "bob", "10.0.0.2:6000", 120),
            ip("10.0.0.2"),
            now
        ));
        assert!(table.apply(
            announce(1, "robert", "10.0.0.2:6000", 120),
            ip("10.0.0.2"),
            now
        ));
        assert_eq!(table.list()[0].name, "robert");
        // A goodbye from another address is not believed; from the announcer it is.
        assert!(!table.apply(announce(1, "", "10.0.0.2:6000", 0), ip("10.0.0.66"), now));
        assert!(table.apply(announce(1, "", "10.0.0.2:6000", 0), ip("10.0.0.2"), now));
        assert!(table.is_empty());
        assert!(table.apply(
            announce(2, "carol", "10.0.0.3:6000", 120),
            ip("10.0.0.3"),
            now
        ));
        assert!(!table.expire(now + Duration::from_secs(119)));
        assert!(table.expire(now + Duration::from_secs(120)));
        assert!(table.is_empty());
        // A huge TTL is believed for MAX_TTL only.
        table.apply(
            announce(3, "dave", "10.0.0.4:6000", 1 << 31),
            ip("10.0.0.4"),
            now,
        );
        assert!(table.expire(now + MAX_TTL));
    }

    #[test]
    fn a_flood_from_one_address_keeps_only_its_newest_few() {
        let mut now = Instant::now();
        let mut table = NearbyTable::new(key(0));
        table.apply(
            announce(1, "bob", "10.0.0.2:6000", 120),
            ip("10.0.0.2"),
            now,
        );
        for n in 100..10_100 {
            now += Duration::from_millis(1);
            table.apply(announce(n, "x", "10.0.0.66:1", 4500), ip("10.0.0.66"), now);
        }
        assert_eq!(table.len(), 1 + MAX_PER_SOURCE);
        assert!(table.list().iter().any(|p| p.name == "bob"));
        let kept: Vec<_> = table.list().into_iter().filter(|p| p.name == "x").collect();
        assert_eq!(kept.len(), MAX_PER_SOURCE);
    }

    #[test]
    fn a_flood_from_many_addresses_is_capped_and_pushes_out_the_oldest() {
        let mut now = Instant::now();
        let mut table = NearbyTable::new(key(0));
        for n in 1..=10_000u32 {
            now += Duration::from_millis(1);
            let source = format!("10.{}.{}.{}", n >> 16, (n >> 8) & 255, n & 255);
            table.apply(
                announce(n, "x", &format!("{source}:1"), 120),
                ip(&source),
                now,
            );
            assert!(table.len() <= MAX_NEARBY);
        }
        assert_eq!(table.len(), MAX_NEARBY);
        // The newest ones are kept.
        let newest = key(10_000).to_base64();
        assert!(table.list().iter().any(|p| p.peer_id == newest));
    }

    #[test]
    fn another_sender_cannot_push_an_entrys_addresses_out() {
        let now = Instant::now();
        let mut table = NearbyTable::new(key(0));
        table.apply(
            announce(1, "bob", "10.0.0.2:6000", 120),
            ip("10.0.0.2"),
            now,
        );
        let mut forged = announce(1, "bob", "10.0.0.66:6000", 120);
        forged
            .addresses
            .extend((1..20).map(|i| format!("10.0.1.{i}:1").parse::<SocketAddr>().unwrap()));
        table.apply(forged, ip("10.0.0.66"), now);
        let addresses = &table.list()[0].addresses;
        assert_eq!(addresses.len(), MAX_PERSON_ADDRESSES / 2 + 1);
        assert!(addresses.contains(&"10.0.0.2:6000".parse().unwrap()));
        // Bob's own announcement puts his address first again.
        table.apply(
            announce(1, "bob", "10.0.0.2:6000", 120),
            ip("10.0.0.2"),
            now,
        );
        assert_eq!(
            table.list()[0].addresses[0],
            "10.0.0.2:6000".parse().unwrap()
        );
    }
}
