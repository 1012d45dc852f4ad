//! How fast a transfer moves, and how often the UI hears about it (PROTOCOL.md §8.11: at most 4
//! `file_progress` per second per transfer while bytes move, and at every change of state).

use std::time::{Duration, Instant};

/// Least time between two `file_progress` of one transfer while only its bytes change.
pub const EVENT_EVERY: Duration = Duration::from_millis(250);

/// Least time between two writes of a transfer's byte count to the database.
pub const STORE_EVERY: Duration = Duration::from_secs(1);

/// One transfer's meter.
#[derive(Debug)]
pub struct Meter {
    started: Instant,
    last_event: Option<Instant>,
    last_store: Instant,
    /// Bytes and time of the rate's last sample.
    sample: (u64, Instant),
    /// The latest byte count.
    bytes: u64,
    rate: f64,
}

impl Meter {
    /// A meter starting at `bytes` now.
    pub fn new(bytes: u64) -> Self {
        let now = Instant::now();
        Self {
            started: now,
            last_event: None,
            last_store: now,
            sample: (bytes, now),
            bytes,
            rate: 0.0,
        }
    }

    /// Takes a new byte count; returns the rate (bytes/s) if an event is due.
    pub fn update(&mut self, bytes: u64) -> Option<u64> {
        self.bytes = self.bytes.max(bytes);
        let now = Instant::now();
        let (then_bytes, then) = self.sample;
        let dt = now.saturating_duration_since(then).as_secs_f64();
        if dt >= 0.1 {
            let instant = bytes.saturating_sub(then_bytes) as f64 / dt;
            // Smoothed over about a second, so the time left does not jump about.
            let weight = (dt / 1.0).min(1.0);
            self.rate = if self.rate == 0.0 {
                instant
            } else {
                self.rate + (instant - self.rate) * weight
            };
            self.sample = (bytes, now);
        }
        let due = self
            .last_event
            .is_none_or(|at| now.saturating_duration_since(at) >= EVENT_EVERY);
        if due {
            self.last_event = Some(now);
            Some(self.rate())
        } else {
            None
        }
    }

    /// The latest byte count it was given.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The recent rate in bytes per second.
    pub fn rate(&self) -> u64 {
        self.rate.max(0.0) as u64
    }

    /// Whether the byte count should be written to the database now (at most once per
    /// [`STORE_EVERY`]).
    pub fn store_due(&mut self) -> bool {
        let now = Instant::now();
        if now.saturating_duration_since(self.last_store) >= STORE_EVERY {
            self.last_store = now;
            true
        } else {
            false
        }
    }

    /// How long the transfer has run.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}
