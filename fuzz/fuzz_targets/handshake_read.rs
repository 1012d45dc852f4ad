//! Attacker-chosen bytes as each handshake message a peer reads, in both roles, at every step,
//! after honest earlier steps. Nothing may panic, and forged messages 2 and 3 (which carry
//! authenticated static keys) must never be accepted from mutated bytes.
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (u8, Vec<u8>)| {
    let (step, message) = input;
    match step % 3 {
        // Responder reads message 1: any 32+ bytes are a valid (unauthenticated) ephemeral key,
        // but the responder must then still be able to write message 2 or refuse cleanly.
        0 => {
            if let Ok((resp, _)) = common::responder().read_message_1(&message) {
                let _ = resp.write_message_2(b"{}");
            }
        }
        // Initiator reads message 2. Anyone can build a valid message 2 by doing the key
        // agreement (XX authenticates the responder only to the key it presents), but mutated
        // bytes cannot: acceptance here would mean an authentication bypass.
        1 => {
            let (init, _) = common::after_message_1();
            assert!(
                init.read_message_2(&message).is_err(),
                "forged message 2 accepted"
            );
        }
        // Responder reads message 3.
        _ => {
            let resp = common::responder_awaiting_message_3();
            if resp.read_message_3(&message).is_ok() {
                panic!("forged message 3 accepted");
            }
        }
    }
});
