//! Keeping contacts connected, as a state machine per contact with no sockets and no clock of
//! its own (the node drives it, `node/redial.rs`): PROTOCOL.md §7.3.
//!
//! ```text
//!            want                     due (a dial slot is free)
//!  (absent) ──────► Waiting{at} ─────────────────────────────► Dialling
//!                      ▲  ▲                                      │   │
//!   failed: backoff ×2 │  │ direct dials failed,                 │   │ a session came up
//!   (capped, jittered) │  └──── nobody to introduce us ──────────┘   ▼
//!                      │                                          Connected
//!                      └── Introducing ◄── direct dials failed,      │
//!                                          a contact could introduce │ lost (not closed by
//!                                                                    ▼ the other side)
//!                                                             Waiting{now + base}
//! ```
//!
//! Bounded: at most `max_in_flight` contacts are being dialled or introduced at once, each
//! contact waits at least its backoff between attempts (doubling from `base` to `cap`, with
//! ±10 % jitter so contacts that failed together do not retry together), and a round that
//! wants many contacts at once (a start, a network change) spreads their first attempts over a
//! window that grows with their number — no dialling storm after a restart with thousands of
//! contacts.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// The first-attempt window per contact wanted in one round: 1,000 contacts spread their first
/// dials over 20 s, 10,000 over the [`MAX_SPREAD`].
pub const SPREAD_PER_CONTACT: Duration = Duration::from_millis(20);

/// The widest first-attempt window of one round.
pub const MAX_SPREAD: Duration = Duration::from_secs(60);

/// Where one contact stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Wanted: the next attempt may start at this instant.
    Waiting(Instant),
    /// Its known addresses are being dialled.
    Dialling,
    /// The direct dials failed; a mutual contact is asked to introduce us.
    Introducing,
    /// A session is up.
    Connected,
}

/// What the caller should do after the direct dials of a contact failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterDial {
    /// Ask a mutual contact for an introduction (the slot stays taken).
    Introduce,
    /// Nothing more now: the contact waits for its next attempt.
    Wait,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    phase: Phase,
    /// The backoff after the next failure.
    delay: Duration,
}

/// The plan for every contact we want a session with.
#[derive(Debug)]
pub struct KeepPlan<K> {
    entries: HashMap<K, Entry>,
    in_flight: usize,
    max_in_flight: usize,
    base: Duration,
    cap: Duration,
    rng: u64,
}

impl<K: Copy + Eq + Hash> KeepPlan<K> {
    /// An empty plan: backoff from `base` to `cap`, at most `max_in_flight` attempts at once,
    /// jitter from a generator seeded with `seed`.
    pub fn new(base: Duration, cap: Duration, max_in_flight: usize, seed: u64) -> Self {
        Self {
            entries: HashMap::new(),
            in_flight: 0,
            max_in_flight: max_in_flight.max(1),
            base: base.max(Duration::from_millis(1)),
            cap: cap.max(base),
            rng: seed | 1,
        }
    }

    /// A uniform fraction in [0, 1) (xorshift64*: jitter needs no better).
    fn fraction(&mut self) -> f64 {
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        let x = self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d);
        (x >> 11) as f64 / (1u64 << 53) as f64
    }

    /// `delay` ± 10 %.
    fn jittered(&mut self, delay: Duration) -> Duration {
        delay.mul_f64(0.9 + 0.2 * self.fraction())
    }

    /// The phase of `key`, if it is wanted or connected.
    pub fn phase(&self, key: &K) -> Option<Phase> {
        self.entries.get(key).map(|e| e.phase)
    }

    /// Contacts being dialled or introduced now.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Wants a session with each of `keys` (a start, a network change): each one not connected
    /// or already being tried gets its first attempt somewhere in a window that grows with
    /// the number of keys, and its backoff starts again at the base.
    pub fn want_all(&mut self, keys: &[K], now: Instant) {
        let spread =
            (SPREAD_PER_CONTACT * keys.len().min(u32::MAX as usize) as u32).min(MAX_SPREAD);
        let base = self.base;
        for key in keys {
            let at = now + spread.mul_f64(self.fraction());
            let entry = self.entries.entry(*key).or_insert(Entry {
                phase: Phase::Waiting(at),
                delay: base,
            });
            if let Phase::Waiting(when) = entry.phase {
                entry.phase = Phase::Waiting(when.min(at));
                entry.delay = base;
            }
        }
    }

    /// Wants a session with `key` from `at` on (a contact we owe messages to), unless it is
    /// already wanted, being tried or connected: its backoff is never cut short this way.
    pub fn want_at(&mut self, key: K, at: Instant) {
        let base = self.base;
        self.entries.entry(key).or_insert(Entry {
            phase: Phase::Waiting(at),
            delay: base,
        });
    }

    /// A session with `key` came up.
    pub fn connected(&mut self, key: K) {
        let base = self.base;
        let entry = self.entries.entry(key).or_insert(Entry {
            phase: Phase::Connected,
            delay: base,
        });
        if matches!(entry.phase, Phase::Dialling | Phase::Introducing) {
            self.in_flight -= 1;
        }
        entry.phase = Phase::Connected;
        entry.delay = base;
    }

    /// `key`'s session failed (idle timeout, a broken connection): it is wanted again after
    /// the base delay.
    pub fn lost(&mut self, key: K, now: Instant) {
        let at = now + self.jittered(self.base);
        if let Some(entry) = self.entries.get_mut(&key) {
            if entry.phase == Phase::Connected {
                entry.phase = Phase::Waiting(at);
            }
            return;
        }
        self.want_at(key, at);
    }

    /// `key` is no longer wanted (its session was closed by either side on purpose, it was
    /// blocked or replaced). An attempt under way finishes, then changes nothing.
    pub fn forget(&mut self, key: &K) {
        if let Some(entry) = self.entries.remove(key) {
            if matches!(entry.phase, Phase::Dialling | Phase::Introducing) {
                self.in_flight -= 1;
            }
        }
    }

    /// The contacts whose attempt starts now, as many as free slots allow (earliest first);
    /// they move to [`Phase::Dialling`].
    pub fn due(&mut self, now: Instant) -> Vec<K> {
        let free = self.max_in_flight.saturating_sub(self.in_flight);
        if free == 0 {
            return Vec::new();
        }
        let mut ready: Vec<(Instant, K)> = self
            .entries
            .iter()
            .filter_map(|(key, e)| match e.phase {
                Phase::Waiting(at) if at <= now => Some((at, *key)),
                _ => None,
            })
            .collect();
        ready.sort_by_key(|(at, _)| *at);
        ready.truncate(free);
        for (_, key) in &ready {
            if let Some(entry) = self.entries.get_mut(key) {
                entry.phase = Phase::Dialling;
            }
        }
        self.in_flight += ready.len();
        ready.into_iter().map(|(_, key)| key).collect()
    }

    /// When the next waiting contact becomes due (for the driver's sleep).
    pub fn next_due(&self) -> Option<Instant> {
        self.entries
            .values()
            .filter_map(|e| match e.phase {
                Phase::Waiting(at) => Some(at),
                _ => None,
            })
            .min()
    }

    /// Every direct dial of `key` failed. With `can_introduce` (another contact is connected
    /// and could introduce us) the contact moves to [`Phase::Introducing`]; otherwise it waits
    /// out its backoff.
    pub fn dial_failed(&mut self, key: K, now: Instant, can_introduce: bool) -> AfterDial {
        match self.entries.get_mut(&key) {
            Some(entry) if entry.phase == Phase::Dialling => {
                if can_introduce {
                    entry.phase = Phase::Introducing;
                    return AfterDial::Introduce;
                }
            }
            _ => return AfterDial::Wait,
        }
        self.back_off(key, now);
        AfterDial::Wait
    }

    /// The introduction for `key` did not give a session.
    pub fn introduction_failed(&mut self, key: K, now: Instant) {
        if self.phase(&key) == Some(Phase::Introducing) {
            self.back_off(key, now);
        }
    }

    fn back_off(&mut self, key: K, now: Instant) {
        let cap = self.cap;
        let Some(delay) = self.entries.get(&key).map(|e| e.delay) else {
            return;
        };
        let wait = self.jittered(delay);
        if let Some(entry) = self.entries.get_mut(&key) {
            entry.phase = Phase::Waiting(now + wait);
            entry.delay = (delay * 2).min(cap);
            self.in_flight -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: Duration = Duration::from_secs(1);
    const CAP: Duration = Duration::from_secs(300);

    fn plan(slots: usize) -> KeepPlan<u32> {
        KeepPlan::new(BASE, CAP, slots, 7)
    }

    #[test]
    fn a_contact_goes_from_wanted_to_dialled_to_connected() {
        let now = Instant::now();
        let mut p = plan(4);
        p.want_at(1, now);
        assert_eq!(p.due(now), vec![1]);
        assert_eq!(p.phase(&1), Some(Phase::Dialling));
        assert_eq!(p.in_flight(), 1);
        assert!(p.due(now).is_empty(), "one attempt at a time per contact");
        p.connected(1);
        assert_eq!(p.phase(&1), Some(Phase::Connected));
        assert_eq!(p.in_flight(), 0);
        // Wanting a connected contact changes nothing.
        p.want_all(&[1], now);
        assert_eq!(p.phase(&1), Some(Phase::Connected));
        // A failed session makes it wanted after about the base delay.
        p.lost(1, now);
        let Some(Phase::Waiting(at)) = p.phase(&1) else {
            panic!("{:?}", p.phase(&1))
        };
        assert!(at >= now + BASE.mul_f64(0.9) && at <= now + BASE.mul_f64(1.1));
        p.forget(&1);
        assert_eq!(p.phase(&1), None);
    }

    #[test]
    fn failures_back_off_doubling_to_the_cap_with_jitter() {
        let mut now = Instant::now();
        let mut p = plan(4);
        p.want_at(1, now);
        let mut waits = Vec::new();
        for _ in 0..12 {
            let due = p.due(now);
            assert_eq!(due, vec![1]);
            assert_eq!(p.dial_failed(1, now, false), AfterDial::Wait);
            let Some(Phase::Waiting(at)) = p.phase(&1) else {
                panic!()
            };
            waits.push(at - now);
            assert!(p.due(now).is_empty(), "not before its backoff");
            now = at;
        }
        let nominal = |i: u32| (BASE * 2u32.pow(i)).min(CAP);
        for (i, wait) in waits.iter().enumerate() {
            let n = nominal(i as u32);
            assert!(
                *wait >= n.mul_f64(0.9) && *wait <= n.mul_f64(1.1),
                "{i}: {wait:?}"
            );
        }
        assert!(waits.last().unwrap() >= &CAP.mul_f64(0.9));
        assert_eq!(p.in_flight(), 0);
    }

    #[test]
    fn a_failed_dial_tries_an_introduction_before_backing_off() {
        let now = Instant::now();
        let mut p = plan(1);
        p.want_at(1, now);
        p.want_at(2, now);
        assert_eq!(p.due(now).len(), 1);
        let first = if p.phase(&1) == Some(Phase::Dialling) {
            1
        } else {
            2
        };
        assert_eq!(p.dial_failed(first, now, true), AfterDial::Introduce);
        assert_eq!(p.phase(&first), Some(Phase::Introducing));
        assert!(
            p.due(now).is_empty(),
            "the introduction still holds the slot"
        );
        p.introduction_failed(first, now);
        assert!(matches!(p.phase(&first), Some(Phase::Waiting(_))));
        assert_eq!(p.due(now).len(), 1, "the other contact gets the slot");
    }

    #[test]
    fn thousands_of_contacts_are_dialled_a_few_at_a_time_spread_over_a_window() {
        let start = Instant::now();
        let mut p = plan(8);
        let keys: Vec<u32> = (0..10_000).collect();
        p.want_all(&keys, start);
        // Their first attempts are spread: only a small share is due in the first second.
        let mut due_in_first_second = 0;
        let mut t = start;
        let mut dialled = 0;
        let mut peak = 0;
        while t <= start + MAX_SPREAD + Duration::from_secs(1) {
            let due = p.due(t);
            peak = peak.max(p.in_flight());
            if t < start + Duration::from_secs(1) {
                due_in_first_second += due.len();
            }
            dialled += due.len();
            for key in due {
                p.connected(key);
            }
            t += Duration::from_millis(10);
        }
        assert!(peak <= 8, "at most 8 attempts at once, saw {peak}");
        assert_eq!(dialled, 10_000, "every contact was tried within the window");
        assert!(
            due_in_first_second < 400,
            "no storm: {due_in_first_second} started in the first second"
        );
    }

    #[test]
    fn a_network_change_brings_waiting_contacts_forward_and_resets_their_backoff() {
        let now = Instant::now();
        let mut p = plan(4);
        p.want_at(1, now);
        for _ in 0..6 {
            let _ = p.due(now + Duration::from_secs(10_000));
            p.dial_failed(1, now, false);
        }
        let Some(Phase::Waiting(late)) = p.phase(&1) else {
            panic!()
        };
        assert!(late > now + Duration::from_secs(30));
        p.want_all(&[1], now);
        let Some(Phase::Waiting(soon)) = p.phase(&1) else {
            panic!()
        };
        assert!(soon <= now + SPREAD_PER_CONTACT);
        assert_eq!(p.due(soon), vec![1]);
        p.dial_failed(1, soon, false);
        let Some(Phase::Waiting(next)) = p.phase(&1) else {
            panic!()
        };
        assert!(
            next <= soon + BASE.mul_f64(1.1),
            "backoff starts again at the base"
        );
    }

    #[test]
    fn forgetting_during_an_attempt_frees_its_slot_and_late_results_change_nothing() {
        let now = Instant::now();
        let mut p = plan(1);
        p.want_at(1, now);
        assert_eq!(p.due(now), vec![1]);
        p.forget(&1);
        assert_eq!(p.in_flight(), 0);
        assert_eq!(p.dial_failed(1, now, true), AfterDial::Wait);
        p.introduction_failed(1, now);
        assert_eq!(p.phase(&1), None);
        assert_eq!(p.in_flight(), 0);
    }
}
