//! Attacker-chosen `data` frames against an established session: nothing may panic and nothing
//! the honest sender did not seal may open.
#![no_main]

#[path = "common.rs"]
mod common;

use crypto_core::wire::Frame;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (bool, Vec<u8>, Vec<u8>)| {
    let (as_line, nonce, ciphertext) = input;
    let (_initiator, mut responder) = common::session();
    if as_line {
        // Whole frame line from the fuzzer.
        let mut line = nonce;
        line.extend_from_slice(&ciphertext);
        if let Ok(frame) = Frame::parse(&line) {
            if let Some(data) = frame.as_data() {
                assert!(responder.open_frame(&data).is_err(), "forged frame opened");
            }
        }
    } else {
        assert!(
            responder.open(&nonce, &ciphertext).is_err(),
            "forged envelope opened"
        );
    }
});
