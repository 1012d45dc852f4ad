//! Log lines a remote party can cause at the rate it can write: a payload we ignore, a
//! connection refused before it costs anything. Each would otherwise be one `info` line per
//! frame — a peer writing ignored reactions as fast as we read them fills the journal or disk
//! (SECURITY.md §5). These go through one process-wide budget: at `info` while it lasts
//! ([`BURST`] lines, refilled at [`PER_SECOND`]), at `debug` beyond it, and the first line
//! after a dry spell says how many were not shown.

use std::fmt::Arguments;
use std::sync::Mutex;
use std::time::Instant;

/// Lines shown at once after a quiet period.
const BURST: f64 = 20.0;
/// Lines shown per second under a flood.
const PER_SECOND: f64 = 1.0;

struct Budget {
    tokens: f64,
    since: Option<Instant>,
    held_back: u64,
}

static BUDGET: Mutex<Budget> = Mutex::new(Budget {
    tokens: BURST,
    since: None,
    held_back: 0,
});

/// Takes a line from the budget: `Some(n)` with the lines held back since the last one shown,
/// or `None` when it is spent (the line is counted as held back).
fn take() -> Option<u64> {
    let mut budget = BUDGET
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let now = Instant::now();
    if let Some(since) = budget.since {
        let earned = now.saturating_duration_since(since).as_secs_f64() * PER_SECOND;
        budget.tokens = (budget.tokens + earned).min(BURST);
    }
    budget.since = Some(now);
    if budget.tokens >= 1.0 {
        budget.tokens -= 1.0;
        Some(std::mem::take(&mut budget.held_back))
    } else {
        budget.held_back += 1;
        None
    }
}

/// Something `peer` (a `peer_id`, or an address) sent or did was ignored or refused: `what`
/// says which, at `info` while the budget lasts, else at `debug`.
pub fn ignored(peer: &dyn std::fmt::Display, what: Arguments<'_>) {
    match take() {
        Some(0) => tracing::info!(%peer, "{what}"),
        Some(held_back) => {
            tracing::info!(%peer, "{what} ({held_back} similar lines were not logged)")
        }
        None => tracing::debug!(%peer, "{what}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_is_cut_to_the_burst_and_the_next_line_counts_what_was_held_back() {
        // The budget is process-wide (other tests may spend some of it too): at most the burst
        // is shown, and everything else is counted.
        let shown = (0..1_000).filter(|_| take().is_some()).count();
        assert!(shown <= BURST as usize + 2, "{shown}");
        std::thread::sleep(std::time::Duration::from_millis(1_100));
        let held = take().expect("a line after a second");
        assert!(held >= (1_000 - shown) as u64, "{held}");
        ignored(&"test", format_args!("a line"));
    }
}
