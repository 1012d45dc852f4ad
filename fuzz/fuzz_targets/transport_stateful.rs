//! Two endpoints of one session and a hostile network between them that drops, duplicates,
//! reorders and corrupts frames. The receiver must accept exactly the frames it is owed, in the
//! order they were sent, each once, never a corrupted one — and a rejection must not stop it
//! from accepting the correct next frame. Frames are delivered as lines (nonce sent) or as
//! binary frames (nonce implicit, PROTOCOL.md §4.1), in any mix.
#![no_main]

#[path = "common.rs"]
mod common;

use arbitrary::Arbitrary;
use crypto_core::noise::SealedMessage;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Action {
    Send(u8),
    /// As a line (nonce sent) or a binary frame (nonce implicit).
    DeliverFront { binary: bool },
    DropFront,
    DuplicateFront,
    SwapFront,
    Corrupt { index: u8, bit: u16 },
    Reply(u8),
}

fuzz_target!(|actions: Vec<Action>| {
    let (mut alice, mut bob) = common::session();
    // (seq, frame on the wire, frame as sealed)
    let mut network: Vec<(u64, SealedMessage, SealedMessage)> = Vec::new();
    let mut sent = 0u64;
    let mut accepted = 0u64;
    for action in actions.into_iter().take(256) {
        match action {
            Action::Send(len) => {
                let payload = vec![sent as u8; usize::from(len)];
                let sealed = alice.seal(&payload).expect("seal");
                network.push((sent, sealed.clone(), sealed));
                sent += 1;
            }
            Action::DeliverFront { binary } => {
                if network.is_empty() {
                    continue;
                }
                let (seq, frame, original) = network.remove(0);
                let (corrupted, opened) = if binary {
                    // A binary frame carries no nonce: only its ciphertext can be corrupted.
                    (
                        frame.ciphertext != original.ciphertext,
                        bob.open_binary(&frame.ciphertext),
                    )
                } else {
                    (frame != original, bob.open(&frame.nonce, &frame.ciphertext))
                };
                match opened {
                    Ok(plain) => {
                        assert!(!corrupted, "corrupted frame accepted (binary: {binary})");
                        assert_eq!(seq, accepted, "frame accepted out of order (binary: {binary})");
                        assert!(plain.iter().all(|b| *b == seq as u8), "wrong plaintext");
                        accepted += 1;
                    }
                    Err(_) => assert!(
                        corrupted || seq != accepted,
                        "owed frame rejected (binary: {binary})"
                    ),
                }
            }
            Action::DropFront => {
                if !network.is_empty() {
                    network.remove(0);
                }
            }
            Action::DuplicateFront => {
                if let Some(first) = network.first().cloned() {
                    network.insert(0, first);
                }
            }
            Action::SwapFront => {
                if network.len() >= 2 {
                    network.swap(0, 1);
                }
            }
            Action::Corrupt { index, bit } => {
                let at = usize::from(index) % network.len().max(1);
                if let Some(entry) = network.get_mut(at) {
                    let total_bits = (entry.1.ciphertext.len() + 12) * 8;
                    let bit = usize::from(bit) % total_bits;
                    if bit < 96 {
                        entry.1.nonce[bit / 8] ^= 1 << (bit % 8);
                    } else {
                        let b = bit - 96;
                        entry.1.ciphertext[b / 8] ^= 1 << (b % 8);
                    }
                }
            }
            Action::Reply(len) => {
                // The other direction is independent and keeps working.
                let sealed = bob.seal(&vec![7; usize::from(len)]).expect("seal");
                assert!(alice.open(&sealed.nonce, &sealed.ciphertext).is_ok());
            }
        }
    }
});
