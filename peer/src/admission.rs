//! Fair admission (PROTOCOL.md §9.1): the table of pending handshakes, shared fairly between
//! addresses, and the per-address count of strangers' established sessions.
//!
//! The pending table never refuses a newcomer. A flood, from one address or many, exempt or
//! not, can only push out its own connections or those of addresses holding at least as many
//! slots, while an honest handshake, which needs one round trip, completes in its slot. The
//! connection driver holds a [`PendingTicket`] for the whole handshake:
//!
//! ```ignore
//! let ticket = pending.admit(peer_addr.ip());
//! tokio::select! {
//!     result = handshake => { drop(ticket); /* … */ }
//!     () = ticket.evicted() => { /* close: EVICTED */ }
//! }
//! ```
//!
//! Addresses are counted in the rate limiter's buckets ([`crate::limits`]): IPv4 (also
//! IPv4-mapped IPv6) by address, IPv6 by /64; loopback is exempt from the per-address caps
//! unless `--rate-limit-loopback`, but never from the table's fairness.

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio_util::sync::CancellationToken;

use crate::limits::{bucket_of, is_exempt};

/// Default `--max-pending-per-ip`.
pub const DEFAULT_MAX_PENDING_PER_IP: usize = 32;
/// Default `--max-stranger-sessions-per-ip`.
pub const DEFAULT_MAX_STRANGER_SESSIONS_PER_IP: usize = 32;
/// Close reason of a pending handshake pushed out by a newcomer.
pub const EVICTED: &str = "pending handshake evicted";
/// Inbound handshakes whose trust check (one store job each, which records a stranger's
/// message request, PROTOCOL.md §8.2) may wait on the store thread at once. A completed
/// handshake waits for one of these places while it still holds its pending slot, so the
/// waiting stays under the handshake deadline and the eviction rules of §9.1, and the store's
/// queue holds at most this many trust checks: a burst of strangers' handshakes queues a
/// bounded amount of work (one group commit) ahead of contacts' chats.
pub const MAX_ADMISSIONS_IN_FLIGHT: usize = 64;

/// The pending-handshake table: at most `capacity` handshakes, at most `per_address` from one
/// non-exempt address. Cloning shares the table.
#[derive(Clone)]
pub struct PendingTable {
    shared: Arc<Mutex<Pending>>,
}

struct Pending {
    capacity: usize,
    per_address: usize,
    limit_loopback: bool,
    next_seq: u64,
    len: usize,
    /// Each address's pending handshakes, oldest first (sequence numbers increase).
    by_address: HashMap<IpAddr, VecDeque<Slot>>,
    /// Every address holding a slot, heaviest first, then the one whose oldest slot is oldest:
    /// the first entry is the one a full table evicts from.
    heaviest: BTreeSet<(Reverse<usize>, u64, IpAddr)>,
}

struct Slot {
    seq: u64,
    evicted: CancellationToken,
}

/// One pending handshake's slot. Dropping it frees the slot; [`PendingTicket::evicted`]
/// resolves when a newcomer took it instead.
pub struct PendingTicket {
    shared: Arc<Mutex<Pending>>,
    address: IpAddr,
    seq: u64,
    evicted: CancellationToken,
}

impl PendingTable {
    /// A table of `capacity` slots (`--max-pending-handshakes`), `per_address` of them at most
    /// for one address (`--max-pending-per-ip`); both at least 1.
    pub fn new(capacity: usize, per_address: usize, limit_loopback: bool) -> Self {
        Self {
            shared: Arc::new(Mutex::new(Pending {
                capacity: capacity.max(1),
                per_address: per_address.max(1),
                limit_loopback,
                next_seq: 0,
                len: 0,
                by_address: HashMap::new(),
                heaviest: BTreeSet::new(),
            })),
        }
    }

    /// Gives a connection from `ip` a slot, evicting first that address's oldest handshake if
    /// it is at its cap, else, if the table is full, the oldest handshake of the address
    /// holding the most slots.
    pub fn admit(&self, ip: IpAddr) -> PendingTicket {
        let address = bucket_of(ip);
        let mut table = lock(&self.shared);
        let own = table.held_by(address);
        if !is_exempt(address, table.limit_loopback) && own >= table.per_address {
            table.evict_oldest_of(address);
        } else if table.len >= table.capacity {
            if let Some(&(_, _, heaviest)) = table.heaviest.first() {
                table.evict_oldest_of(heaviest);
            }
        }
        let seq = table.next_seq;
        table.next_seq += 1;
        let evicted = CancellationToken::new();
        table.update(address, |slots| {
            slots.push_back(Slot {
                seq,
                evicted: evicted.clone(),
            });
        });
        PendingTicket {
            shared: Arc::clone(&self.shared),
            address,
            seq,
            evicted,
        }
    }

    /// Handshakes pending now.
    pub fn len(&self) -> usize {
        lock(&self.shared).len
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Handshakes pending now from `ip`'s address (its /64 for IPv6).
    pub fn pending_from(&self, ip: IpAddr) -> usize {
        lock(&self.shared).held_by(bucket_of(ip))
    }

    /// Addresses holding at least one slot (at most the capacity: memory stays bounded).
    pub fn addresses(&self) -> usize {
        lock(&self.shared).by_address.len()
    }
}

impl Pending {
    fn held_by(&self, address: IpAddr) -> usize {
        self.by_address.get(&address).map_or(0, VecDeque::len)
    }

    /// Changes one address's slots, keeping `len` and the heaviest-first index in step and
    /// forgetting the address once it holds nothing.
    fn update(&mut self, address: IpAddr, change: impl FnOnce(&mut VecDeque<Slot>)) {
        let slots = self.by_address.entry(address).or_default();
        let before = slots.len();
        if let Some(oldest) = slots.front() {
            self.heaviest
                .remove(&(Reverse(before), oldest.seq, address));
        }
        change(slots);
        let after = slots.len();
        match slots.front() {
            Some(oldest) => {
                self.heaviest.insert((Reverse(after), oldest.seq, address));
            }
            None => {
                self.by_address.remove(&address);
            }
        }
        self.len = self.len + after - before;
    }

    fn evict_oldest_of(&mut self, address: IpAddr) {
        self.update(address, |slots| {
            if let Some(oldest) = slots.pop_front() {
                oldest.evicted.cancel();
            }
        });
    }
}

impl PendingTicket {
    /// Resolves once a newcomer has taken this slot: the handshake must then be closed
    /// ([`EVICTED`]). Never resolves while the slot is held.
    pub async fn evicted(&self) {
        self.evicted.cancelled().await;
    }

    /// Whether this slot was taken by a newcomer.
    pub fn is_evicted(&self) -> bool {
        self.evicted.is_cancelled()
    }

    /// The address this slot counts against (an IPv6 address's /64, with the rest zero).
    pub fn address(&self) -> IpAddr {
        self.address
    }
}

impl Drop for PendingTicket {
    fn drop(&mut self) {
        if self.is_evicted() {
            return;
        }
        let seq = self.seq;
        let mut table = lock(&self.shared);
        if !table.by_address.contains_key(&self.address) {
            return;
        }
        table.update(self.address, |slots| {
            if let Ok(index) = slots.binary_search_by_key(&seq, |slot| slot.seq) {
                slots.remove(index);
            }
        });
    }
}

/// A stranger's session beyond `--max-stranger-sessions-per-ip` from its address.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("too many sessions from this address")]
pub struct TooManySessions;

/// Strangers' established sessions per address (PROTOCOL.md §9.1). Contacts are not counted:
/// a session that becomes a contact's drops its [`StrangerSlot`]. Cloning shares the counts.
#[derive(Clone)]
pub struct StrangerSessions {
    shared: Arc<Mutex<HashMap<IpAddr, usize>>>,
    per_address: usize,
    limit_loopback: bool,
}

/// One stranger's session counted against its address; dropping it frees the place.
pub struct StrangerSlot {
    shared: Arc<Mutex<HashMap<IpAddr, usize>>>,
    /// `None` for an exempt address, which is not counted.
    address: Option<IpAddr>,
}

impl StrangerSessions {
    /// At most `per_address` strangers' sessions from one non-exempt address.
    pub fn new(per_address: usize, limit_loopback: bool) -> Self {
        Self {
            shared: Arc::new(Mutex::new(HashMap::new())),
            per_address,
            limit_loopback,
        }
    }

    /// Counts a stranger's session from `ip`, or refuses it when its address already has
    /// `per_address` of them.
    pub fn admit(&self, ip: IpAddr) -> Result<StrangerSlot, TooManySessions> {
        let address = bucket_of(ip);
        if is_exempt(address, self.limit_loopback) {
            return Ok(StrangerSlot {
                shared: Arc::clone(&self.shared),
                address: None,
            });
        }
        let mut counts = lock(&self.shared);
        let count = counts.entry(address).or_insert(0);
        if *count >= self.per_address {
            if *count == 0 {
                counts.remove(&address);
            }
            return Err(TooManySessions);
        }
        *count += 1;
        Ok(StrangerSlot {
            shared: Arc::clone(&self.shared),
            address: Some(address),
        })
    }

    /// Strangers' sessions counted for `ip`'s address.
    pub fn sessions_from(&self, ip: IpAddr) -> usize {
        lock(&self.shared).get(&bucket_of(ip)).copied().unwrap_or(0)
    }

    /// Addresses with at least one counted session.
    pub fn addresses(&self) -> usize {
        lock(&self.shared).len()
    }
}

impl Drop for StrangerSlot {
    fn drop(&mut self) {
        let Some(address) = self.address else {
            return;
        };
        let mut counts = lock(&self.shared);
        if let Some(count) = counts.get_mut(&address) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                counts.remove(&address);
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};
    use std::time::Duration;

    fn v4(last: u8) -> IpAddr {
        IpAddr::from([203, 0, 113, last])
    }

    fn lo(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    fn evicted(tickets: &[PendingTicket]) -> Vec<bool> {
        tickets.iter().map(PendingTicket::is_evicted).collect()
    }

    #[test]
    fn an_address_at_its_cap_pushes_out_its_own_oldest_handshake() {
        let table = PendingTable::new(100, 3, false);
        let mut tickets: Vec<_> = (0..3).map(|_| table.admit(v4(1))).collect();
        let other = table.admit(v4(2));
        assert_eq!(evicted(&tickets), [false, false, false]);
        tickets.push(table.admit(v4(1)));
        assert_eq!(evicted(&tickets), [true, false, false, false]);
        tickets.push(table.admit(v4(1)));
        assert_eq!(evicted(&tickets), [true, true, false, false, false]);
        assert_eq!(table.pending_from(v4(1)), 3);
        assert!(!other.is_evicted(), "another address is never touched");
        assert_eq!(table.len(), 4);
    }

    #[test]
    fn a_full_table_evicts_the_oldest_of_the_heaviest_address() {
        let table = PendingTable::new(6, 100, false);
        let a: Vec<_> = (0..2).map(|_| table.admit(v4(1))).collect();
        let b: Vec<_> = (0..3).map(|_| table.admit(v4(2))).collect();
        let c = table.admit(v4(3));
        assert_eq!(table.len(), 6);
        // A newcomer is admitted; the heaviest address (b, 3 slots) loses its oldest.
        let d = table.admit(v4(4));
        assert_eq!(evicted(&b), [true, false, false]);
        assert_eq!(evicted(&a), [false, false]);
        assert!(!c.is_evicted() && !d.is_evicted());
        assert_eq!(table.len(), 6);
        // a and b now hold 2 each: the tie goes to the address whose oldest slot is oldest (a).
        let e = table.admit(v4(5));
        assert_eq!(evicted(&a), [true, false]);
        assert_eq!(evicted(&b), [true, false, false]);
        // Now b holds 2, everyone else 1: b again.
        let f = table.admit(v4(6));
        assert_eq!(evicted(&b), [true, true, false]);
        assert!(!e.is_evicted() && !f.is_evicted());
        assert_eq!(table.len(), 6);
    }

    #[test]
    fn exempt_loopback_has_no_per_address_cap_but_still_yields_to_newcomers() {
        let table = PendingTable::new(64, 2, false);
        let flood: Vec<_> = (0..64).map(|_| table.admit(lo(1))).collect();
        assert!(flood.iter().all(|t| !t.is_evicted()), "exempt: no cap of 2");
        let honest = table.admit(lo(2));
        assert!(flood[0].is_evicted() && !flood[1].is_evicted());
        let remote = table.admit(v4(9));
        assert!(flood[1].is_evicted());
        assert!(!honest.is_evicted() && !remote.is_evicted());
        assert_eq!(table.len(), 64);
        // With --rate-limit-loopback the cap applies to loopback too.
        let limited = PendingTable::new(64, 2, true);
        let tickets: Vec<_> = (0..3).map(|_| limited.admit(lo(1))).collect();
        assert_eq!(evicted(&tickets), [true, false, false]);
    }

    #[test]
    fn a_flood_from_many_addresses_cannot_shut_out_a_newcomer() {
        let table = PendingTable::new(64, 32, false);
        let mut flood = Vec::new();
        for round in 0..8 {
            for address in 10..50 {
                flood.push((round, table.admit(lo(address))));
            }
        }
        assert_eq!(table.len(), 64);
        for _ in 0..100 {
            let honest = table.admit(lo(3));
            assert!(!honest.is_evicted());
            assert_eq!(table.len(), 64);
            // The honest handshake completes: its slot is freed, and flood keeps coming.
            drop(honest);
            flood.push((9, table.admit(lo(11))));
        }
        assert!(table.pending_from(lo(3)) == 0 && table.len() <= 64);
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_ipv4_as_ipv4() {
        let table = PendingTable::new(100, 2, false);
        let one: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let same_64: IpAddr = "2001:db8:1:2:ffff:1:2:3".parse().unwrap();
        let other_64: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        let a = table.admit(one);
        let b = table.admit(same_64);
        let c = table.admit(other_64);
        assert_eq!(table.pending_from(one), 2);
        let d = table.admit(same_64);
        assert!(a.is_evicted() && !b.is_evicted() && !c.is_evicted() && !d.is_evicted());
        assert_eq!(d.address(), "2001:db8:1:2::".parse::<IpAddr>().unwrap());

        let mapped = IpAddr::V6(Ipv4Addr::new(198, 51, 100, 7).to_ipv6_mapped());
        let plain = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7));
        let m = table.admit(mapped);
        let p = table.admit(plain);
        assert_eq!(table.pending_from(plain), 2);
        assert_eq!(m.address(), plain);
        let q = table.admit(mapped);
        assert!(m.is_evicted() && !p.is_evicted() && !q.is_evicted());
        // An IPv4 neighbour is a different address.
        assert_eq!(table.pending_from(IpAddr::from([198, 51, 100, 8])), 0);
        // IPv6 loopback is exempt like 127.0.0.1.
        let loopback6: Vec<_> = (0..5)
            .map(|_| table.admit(IpAddr::V6(Ipv6Addr::LOCALHOST)))
            .collect();
        assert!(loopback6.iter().all(|t| !t.is_evicted()));
    }

    #[test]
    fn dropping_a_ticket_frees_its_slot_and_forgets_the_address() {
        let table = PendingTable::new(4, 4, false);
        let tickets: Vec<_> = (0..4).map(|i| table.admit(v4(i))).collect();
        assert_eq!((table.len(), table.addresses()), (4, 4));
        drop(tickets);
        assert_eq!((table.len(), table.addresses()), (0, 0));
        // Dropping from the middle keeps the order of the rest.
        let a: Vec<_> = (0..3).map(|_| table.admit(v4(1))).collect();
        let mut a = a.into_iter();
        let (first, second, third) = (a.next().unwrap(), a.next().unwrap(), a.next().unwrap());
        drop(second);
        let b = table.admit(v4(2));
        let c = table.admit(v4(3));
        assert_eq!(table.len(), 4);
        let _d = table.admit(v4(4));
        assert!(first.is_evicted() && !third.is_evicted());
        assert!(!b.is_evicted() && !c.is_evicted());
        // An evicted ticket's drop frees nothing more.
        drop(first);
        assert_eq!(table.len(), 4);
        drop((third, b, c));
        assert_eq!(table.len(), 1);
    }

    #[test]
    fn memory_stays_bounded_under_any_number_of_addresses() {
        let table = PendingTable::new(128, 8, true);
        let mut held = Vec::new();
        for i in 0..100_000u32 {
            let ip = IpAddr::from(Ipv4Addr::from(0x0a00_0000 + i % 5_000));
            held.push(table.admit(ip));
            if held.len() > 1_000 {
                held.drain(..500);
            }
            assert!(table.len() <= 128);
        }
        assert!(table.addresses() <= 128);
        let live = held.iter().filter(|t| !t.is_evicted()).count();
        assert_eq!(live, table.len());
        drop(held);
        assert_eq!((table.len(), table.addresses()), (0, 0));
    }

    #[tokio::test]
    async fn the_owner_is_woken_on_eviction_and_not_before() {
        let table = PendingTable::new(1, 1, false);
        let old = table.admit(v4(1));
        let not_yet = tokio::time::timeout(Duration::from_millis(20), old.evicted()).await;
        assert!(
            not_yet.is_err(),
            "evicted() resolved while the slot was held"
        );
        let waiter = tokio::spawn(async move {
            old.evicted().await;
            old
        });
        tokio::task::yield_now().await;
        let _new = table.admit(v4(2));
        let old = tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("the evicted owner was not woken")
            .expect("join");
        assert!(old.is_evicted());
        // Already evicted: resolves at once, again.
        old.evicted().await;
    }

    #[test]
    fn stranger_sessions_are_capped_per_address() {
        let strangers = StrangerSessions::new(2, false);
        let a = strangers.admit(v4(1)).unwrap();
        let b = strangers.admit(v4(1)).unwrap();
        assert_eq!(strangers.admit(v4(1)).err(), Some(TooManySessions));
        assert_eq!(
            TooManySessions.to_string(),
            "too many sessions from this address"
        );
        let other = strangers.admit(v4(2)).unwrap();
        assert_eq!(strangers.sessions_from(v4(1)), 2);
        drop(a);
        let c = strangers.admit(v4(1)).unwrap();
        drop((b, c, other));
        assert_eq!(strangers.addresses(), 0, "counts are forgotten at zero");
    }

    #[test]
    fn stranger_sessions_group_ipv6_by_64_and_exempt_loopback_unless_asked() {
        let strangers = StrangerSessions::new(1, false);
        let _a = strangers.admit("2001:db8::1".parse().unwrap()).unwrap();
        assert!(strangers.admit("2001:db8::2:1".parse().unwrap()).is_err());
        assert!(strangers.admit("2001:db8:0:1::1".parse().unwrap()).is_ok());
        let mapped = IpAddr::V6(Ipv4Addr::new(192, 0, 2, 1).to_ipv6_mapped());
        let _m = strangers.admit(mapped).unwrap();
        assert!(strangers.admit(IpAddr::from([192, 0, 2, 1])).is_err());
        let exempt: Vec<_> = (0..10).map(|_| strangers.admit(lo(1)).unwrap()).collect();
        assert_eq!(strangers.sessions_from(lo(1)), 0);
        drop(exempt);
        let limited = StrangerSessions::new(1, true);
        let _l = limited.admit(lo(1)).unwrap();
        assert!(limited.admit(lo(1)).is_err());
        assert!(limited.admit(lo(2)).is_ok());
    }

    #[test]
    fn a_zero_cap_refuses_every_stranger_from_a_counted_address() {
        let strangers = StrangerSessions::new(0, false);
        assert!(strangers.admit(v4(1)).is_err());
        assert_eq!(strangers.addresses(), 0);
        assert!(strangers.admit(lo(1)).is_ok());
    }
}
