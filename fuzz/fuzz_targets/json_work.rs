//! CPU time per input byte of the JSON reader, which runs on the first line of every inbound
//! connection before any cryptography. Work is counted (values parsed, key comparisons), not
//! timed, so a finding is deterministic: no input may cost more than a fixed number of
//! operations per byte, whatever it is and whether it is accepted.
#![no_main]

use crypto_core::json::{Json, Limits};

/// Operations allowed per input byte. Each value takes at least one byte; each member of an
/// object at least four (`"":0`) and costs at most about 2·log2(64) + 1 comparisons.
const MAX_WORK_PER_BYTE: usize = 8;

fn check(data: &[u8]) {
    let Ok(text) = core::str::from_utf8(data) else {
        return;
    };
    for limits in [Limits::WIRE, Limits::FILE] {
        let (_, work) = Json::parse_measured(text, limits);
        let ops = work.values + work.key_comparisons;
        assert!(
            ops <= MAX_WORK_PER_BYTE * (data.len() + 1),
            "{ops} operations for {} bytes: {work:?}",
            data.len()
        );
    }
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| check(data));
