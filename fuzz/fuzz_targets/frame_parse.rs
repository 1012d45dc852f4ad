//! Arbitrary lines through every parser a peer applies to untrusted bytes: frames, hellos,
//! payloads and public keys. None may panic; a parsed frame must re-serialise to a line that
//! parses to the same frame.
#![no_main]

use crypto_core::wire::{Frame, Hello, Payload};
use crypto_core::PublicKey;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(frame) = Frame::parse(data) {
        let line = frame.to_line();
        let again = Frame::parse(&line[..line.len() - 1]).expect("re-serialised frame parses");
        assert_eq!(frame, again);
    }
    let _ = Hello::parse(data);
    if let Ok(payload) = Payload::parse(data) {
        assert_eq!(Payload::parse(&payload.to_bytes()).as_ref(), Ok(&payload));
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(key) = PublicKey::from_base64(text) {
            assert_eq!(key.to_base64(), text);
        }
    }
});
