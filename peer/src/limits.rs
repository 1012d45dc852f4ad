//! Resource limits of a running peer (SECURITY.md "Limits"): how many sessions and pending
//! handshakes it holds, how fast one IP address may start handshakes, and the process's
//! open-file limit. The UI's own limits (WebSocket message size, UI clients) live in
//! [`crate::ui::UiLimits`].

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Default cap on live sessions (BENCHMARKS.md measures 10,000 idle sessions on one peer).
pub const DEFAULT_MAX_SESSIONS: usize = 10_000;
/// Default cap on inbound handshakes in progress at once.
pub const DEFAULT_MAX_PENDING_HANDSHAKES: usize = 1024;
/// Default sustained inbound handshakes per second from one IP address.
pub const DEFAULT_HANDSHAKE_RATE: f64 = 20.0;
/// Default burst of inbound handshakes from one IP address.
pub const DEFAULT_HANDSHAKE_BURST: u32 = 50;
pub use crate::admission::{DEFAULT_MAX_PENDING_PER_IP, DEFAULT_MAX_STRANGER_SESSIONS_PER_IP};

/// Default interval after which a session that has written nothing writes a `keepalive`.
pub const DEFAULT_KEEPALIVE: Duration = Duration::from_secs(60);
/// Default idle timeout of a stranger's session (no chat, room or owed ack received).
pub const DEFAULT_STRANGER_IDLE: Duration = Duration::from_secs(5 * 60);
/// Default idle timeout of a contact's session (nothing at all received).
pub const DEFAULT_CONTACT_IDLE: Duration = Duration::from_secs(15 * 60);
/// Default deadline for a line whose first byte has arrived, after the handshake.
pub const DEFAULT_LINE_DEADLINE: Duration = Duration::from_secs(30);
/// Default payloads per second one session may deliver (and its burst).
pub const DEFAULT_PAYLOAD_RATE: u32 = 200_000;
/// Default payloads of one session that may wait for the store at once.
pub const DEFAULT_STORE_BACKLOG: usize = 1024;
/// Default bytes of one session's payloads that may wait for the store at once: the reader
/// goes on while the store works, so what it holds meanwhile is bounded by size too.
pub const DEFAULT_STORE_BACKLOG_BYTES: usize = 256 * 1024;
/// Default payloads per second a stranger's session (a message request, PROTOCOL.md §8.2) may
/// deliver: a person writing, not a flood of events the page cannot keep up with.
pub const DEFAULT_STRANGER_PAYLOAD_RATE: u32 = 100;
/// Default burst of a stranger's session above its rate.
pub const DEFAULT_STRANGER_PAYLOAD_BURST: u32 = 1_000;

/// Timers and rates of an established session (PROTOCOL.md §9.2).
#[derive(Debug, Clone, Copy)]
pub struct SessionLimits {
    /// Write a `keepalive` after this long without writing anything.
    pub keepalive: Duration,
    /// Close a stranger's session after this long without a chat, room or owed ack.
    pub stranger_idle: Duration,
    /// Close a contact's session after this long without receiving anything.
    pub contact_idle: Duration,
    /// Close a session whose unfinished line began this long ago.
    pub line_deadline: Duration,
    /// Payloads per second (token bucket, burst the same); reading pauses beyond it.
    pub payload_rate: u32,
    /// Payloads that may wait for the store at once; reading pauses beyond it.
    pub store_backlog: usize,
    /// Bytes of payloads that may wait for the store at once; reading pauses beyond it.
    pub store_backlog_bytes: usize,
    /// Payloads per second while the remote is a stranger, on top of `payload_rate`.
    pub stranger_payload_rate: u32,
    /// The burst of `stranger_payload_rate`.
    pub stranger_payload_burst: u32,
}

impl Default for SessionLimits {
    fn default() -> Self {
        Self {
            keepalive: DEFAULT_KEEPALIVE,
            stranger_idle: DEFAULT_STRANGER_IDLE,
            contact_idle: DEFAULT_CONTACT_IDLE,
            line_deadline: DEFAULT_LINE_DEADLINE,
            payload_rate: DEFAULT_PAYLOAD_RATE,
            store_backlog: DEFAULT_STORE_BACKLOG,
            store_backlog_bytes: DEFAULT_STORE_BACKLOG_BYTES,
            stranger_payload_rate: DEFAULT_STRANGER_PAYLOAD_RATE,
            stranger_payload_burst: DEFAULT_STRANGER_PAYLOAD_BURST,
        }
    }
}

/// The node's limits.
#[derive(Debug, Clone)]
pub struct NodeLimits {
    /// Live sessions at most; a handshake completing beyond this is refused (closed).
    pub max_sessions: usize,
    /// Inbound handshakes in progress at most; a newcomer beyond this evicts the oldest
    /// pending handshake of the address holding the most (PROTOCOL.md §9.1).
    pub max_pending_handshakes: usize,
    /// Per-IP token bucket for inbound connections; `None` disables it.
    pub handshake_rate: Option<RateSpec>,
    /// Whether the per-IP rate also applies to loopback addresses (off by default: local
    /// tests and benchmarks open thousands of connections from 127.0.0.1).
    pub rate_limit_loopback: bool,
    /// Pending handshakes one address may hold (PROTOCOL.md §9.1).
    pub max_pending_per_ip: usize,
    /// Strangers' sessions one address may hold (PROTOCOL.md §9.1).
    pub max_stranger_sessions_per_ip: usize,
    /// Timers and rates of established sessions.
    pub session: SessionLimits,
    /// Events queued for the UI clients: one further behind than this gets `resync`
    /// (PROTOCOL.md §8).
    pub event_capacity: usize,
}

/// Default events queued for UI clients.
pub const DEFAULT_EVENT_CAPACITY: usize = 4096;

impl Default for NodeLimits {
    fn default() -> Self {
        Self {
            max_sessions: DEFAULT_MAX_SESSIONS,
            max_pending_handshakes: DEFAULT_MAX_PENDING_HANDSHAKES,
            handshake_rate: Some(RateSpec {
                per_second: DEFAULT_HANDSHAKE_RATE,
                burst: DEFAULT_HANDSHAKE_BURST,
            }),
            rate_limit_loopback: false,
            max_pending_per_ip: DEFAULT_MAX_PENDING_PER_IP,
            max_stranger_sessions_per_ip: DEFAULT_MAX_STRANGER_SESSIONS_PER_IP,
            session: SessionLimits::default(),
            event_capacity: DEFAULT_EVENT_CAPACITY,
        }
    }
}

/// A token bucket's parameters.
#[derive(Debug, Clone, Copy)]
pub struct RateSpec {
    /// Tokens added per second.
    pub per_second: f64,
    /// Bucket size (the most connections accepted back to back).
    pub burst: u32,
}

/// Buckets kept before idle (full) ones are pruned.
const MAX_TRACKED_IPS: usize = 4096;

/// Per-IP token buckets for inbound connections.
pub struct RateLimiter {
    spec: Option<RateSpec>,
    loopback: bool,
    buckets: Mutex<HashMap<IpAddr, (f64, Instant)>>,
}

impl RateLimiter {
    /// A limiter for these limits.
    pub fn new(limits: &NodeLimits) -> Self {
        Self {
            spec: limits.handshake_rate,
            loopback: limits.rate_limit_loopback,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `ip`; false means "over the rate, refuse this connection".
    pub fn allow(&self, ip: IpAddr) -> bool {
        self.allow_at(ip, Instant::now())
    }

    fn allow_at(&self, ip: IpAddr, now: Instant) -> bool {
        let Some(spec) = self.spec else {
            return true;
        };
        let ip = bucket_of(ip);
        if is_exempt(ip, self.loopback) {
            return true;
        }
        let burst = f64::from(spec.burst.max(1));
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if buckets.len() >= MAX_TRACKED_IPS && !buckets.contains_key(&ip) {
            // Forget buckets that have refilled; they carry no information.
            buckets.retain(|_, (tokens, last)| {
                *tokens + now.saturating_duration_since(*last).as_secs_f64() * spec.per_second
                    < burst
            });
            if buckets.len() >= MAX_TRACKED_IPS {
                // Still full of throttled addresses: forget the one seen longest ago rather
                // than grow or refuse the newcomer (refusing would let 4,096 throttled
                // addresses lock every new one out). The forgotten address gains at most
                // one burst.
                let oldest = buckets
                    .iter()
                    .min_by_key(|(_, (_, last))| *last)
                    .map(|(ip, _)| *ip);
                if let Some(oldest) = oldest {
                    buckets.remove(&oldest);
                }
            }
        }
        let (tokens, last) = buckets.entry(ip).or_insert((burst, now));
        let refill = now.saturating_duration_since(*last).as_secs_f64() * spec.per_second;
        *tokens = (*tokens + refill).min(burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The bucket an address counts against: IPv4 (also IPv4-mapped IPv6, as seen by a listener on
/// `::`) by address, IPv6 by its /64 prefix, since one host usually holds a whole /64.
pub(crate) fn bucket_of(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) if !v6.is_loopback() => {
            let mut segments = v6.segments();
            segments[4..].fill(0);
            IpAddr::from(segments)
        }
        other => other,
    }
}

/// Whether a bucket is exempt from the per-address limits: loopback, unless
/// `--rate-limit-loopback` (`limit_loopback`) says to count it like any other address.
pub(crate) fn is_exempt(bucket: IpAddr, limit_loopback: bool) -> bool {
    bucket.is_loopback() && !limit_loopback
}

/// Raises the soft open-file limit to the hard limit (10,000 sessions need 10,000+
/// descriptors; the usual soft default is 1,024) and logs the result.
pub fn raise_nofile_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => tracing::info!("open-file limit: {limit}"),
        Err(e) => tracing::warn!("cannot raise the open-file limit: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn limiter(loopback: bool) -> RateLimiter {
        RateLimiter::new(&NodeLimits {
            handshake_rate: Some(RateSpec {
                per_second: 2.0,
                burst: 3,
            }),
            rate_limit_loopback: loopback,
            ..NodeLimits::default()
        })
    }

    #[test]
    fn bucket_allows_the_burst_then_the_rate() {
        let l = limiter(false);
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let other: IpAddr = "192.0.2.8".parse().unwrap();
        let t0 = Instant::now();
        assert!((0..3).all(|_| l.allow_at(ip, t0)));
        assert!(!l.allow_at(ip, t0));
        assert!(l.allow_at(other, t0), "buckets are per address");
        assert!(l.allow_at(ip, t0 + Duration::from_millis(500)));
        assert!(!l.allow_at(ip, t0 + Duration::from_millis(600)));
    }

    #[test]
    fn loopback_is_exempt_unless_asked() {
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let t0 = Instant::now();
        let exempt = limiter(false);
        assert!((0..100).all(|_| exempt.allow_at(ip, t0)));
        let limited = limiter(true);
        assert_eq!((0..100).filter(|_| limited.allow_at(ip, t0)).count(), 3);
    }

    #[test]
    fn mapped_ipv4_and_ipv6_prefixes_share_buckets() {
        let t0 = Instant::now();
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        assert!((0..100).all(|_| limiter(false).allow_at(mapped, t0)));
        let l = limiter(false);
        let hosts = ["2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:aa::3"];
        let allowed = hosts
            .iter()
            .chain(&hosts)
            .filter(|h| l.allow_at(h.parse().unwrap(), t0))
            .count();
        assert_eq!(allowed, 3, "one /64 is one bucket");
        assert!(l.allow_at("2001:db8:1:3::1".parse().unwrap(), t0));
    }

    #[test]
    fn the_table_stays_bounded() {
        let l = limiter(false);
        let t0 = Instant::now();
        for i in 0..(MAX_TRACKED_IPS as u32 + 100) {
            let ip = IpAddr::from((0x0a00_0000u32 + i).to_be_bytes());
            let _ = l.allow_at(ip, t0);
        }
        assert!(l.buckets.lock().unwrap().len() <= MAX_TRACKED_IPS);
    }

    #[test]
    fn a_table_full_of_throttled_addresses_still_admits_a_newcomer() {
        let l = limiter(false);
        let t0 = Instant::now();
        // Every tracked address spends its whole burst, so none has refilled.
        for i in 0..MAX_TRACKED_IPS as u32 {
            let ip = IpAddr::from((0x0a00_0000u32 + i).to_be_bytes());
            while l.allow_at(ip, t0) {}
        }
        assert_eq!(l.buckets.lock().unwrap().len(), MAX_TRACKED_IPS);
        assert!(l.allow_at("192.0.2.7".parse().unwrap(), t0));
        assert!(l.buckets.lock().unwrap().len() <= MAX_TRACKED_IPS);
    }
}
