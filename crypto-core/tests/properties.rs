//! Property tests (proptest) of crypto-core's public API: random payloads round-trip through the
//! handshake and the transport; any single bit flip is rejected; replayed, dropped and reordered
//! frames are rejected without disturbing the session; safety numbers are order-independent and
//! distinguish pairs; the parsers never panic on arbitrary input.
//!
//! The reserved maximum nonce cannot be reached from here (its test hook is `#[cfg(test)]`
//! inside the crate); it is covered by unit tests in `src/noise/cipherstate.rs` and
//! `src/noise/transport.rs`.

use proptest::prelude::*;
use proptest::sample::Index;

use crypto_core::noise::{InitiatorStart, ResponderStart};
use crypto_core::wire::{Frame, Hello, Payload, MAX_NAME_CHARS};
use crypto_core::{
    fingerprint, safety_number, HandshakeError, Identity, PublicKey, Transport, TransportError,
};

/// A full in-memory crypto-core handshake with the given payloads for messages 2 and 3 (message
/// 1's is always empty, PROTOCOL.md §3); returns both transports (initiator's, responder's) and
/// the payloads each side received.
fn handshake_with(
    initiator: &Identity,
    responder: &Identity,
    p2: &[u8],
    p3: &[u8],
) -> (Transport, Transport, [Vec<u8>; 3]) {
    let (await2, m1) = InitiatorStart::new(initiator).write_message_1(b"").unwrap();
    let (send2, got1) = ResponderStart::new(responder).read_message_1(&m1).unwrap();
    let (await3, m2) = send2.write_message_2(p2).unwrap();
    let (send3, got2) = await2.read_message_2(&m2).unwrap();
    let (ti, m3) = send3.write_message_3(p3).unwrap();
    let (tr, got3) = await3.read_message_3(&m3).unwrap();
    (ti, tr, [got1, got2, got3])
}

fn session() -> (Transport, Transport) {
    let (ti, tr, _) = handshake_with(&Identity::generate(), &Identity::generate(), b"", b"");
    (ti, tr)
}

fn nonce(counter: u64) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[4..].copy_from_slice(&counter.to_be_bytes());
    n
}

fn flip_bit(bytes: &[u8], bit: usize) -> Vec<u8> {
    let mut out = bytes.to_vec();
    out[bit / 8] ^= 1 << (bit % 8);
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Any payloads (including empty ones) arrive intact in handshake messages 2 and 3, and
    /// both sides agree on the hash and each other's keys; a payload in message 1 is refused
    /// (PROTOCOL.md §3: it must be empty).
    #[test]
    fn handshake_payloads_round_trip_in_messages_2_and_3_and_message_1_must_be_empty(
        p1 in prop::collection::vec(any::<u8>(), 1..600),
        p2 in prop::collection::vec(any::<u8>(), 0..600),
        p3 in prop::collection::vec(any::<u8>(), 0..600),
    ) {
        let a = Identity::generate();
        let b = Identity::generate();
        let (ti, tr, got) = handshake_with(&a, &b, &p2, &p3);
        prop_assert!(got[0].is_empty());
        prop_assert_eq!(&got[1], &p2);
        prop_assert_eq!(&got[2], &p3);
        prop_assert_eq!(ti.handshake_hash(), tr.handshake_hash());
        prop_assert_eq!(ti.remote_static(), b.public_key());
        prop_assert_eq!(tr.remote_static(), a.public_key());
        let (_, m1) = InitiatorStart::new(&a).write_message_1(&p1).unwrap();
        prop_assert_eq!(
            ResponderStart::new(&b).read_message_1(&m1).err(),
            Some(HandshakeError::UnexpectedPayload)
        );
    }

    /// Random messages in random directions, through both the byte API and the frame-line API.
    #[test]
    fn transport_round_trips(
        messages in prop::collection::vec(
            (any::<bool>(), any::<bool>(), prop::collection::vec(any::<u8>(), 0..3000)),
            1..24,
        ),
    ) {
        let (mut ti, mut tr) = session();
        let mut sent = [0u64; 2];
        for (to_responder, as_line, plain) in &messages {
            let (tx, rx) = if *to_responder { (&mut ti, &mut tr) } else { (&mut tr, &mut ti) };
            let opened = if *as_line {
                let mut line = String::new();
                tx.seal_to_line(plain, &mut line).unwrap();
                prop_assert!(line.ends_with('\n'));
                let frame = Frame::parse(line.trim_end().as_bytes()).unwrap();
                rx.open_frame(&frame.as_data().unwrap()).unwrap()
            } else {
                let sealed = tx.seal(plain).unwrap();
                prop_assert_eq!(sealed.nonce, nonce(sent[usize::from(*to_responder)]));
                prop_assert_eq!(sealed.ciphertext.len(), plain.len() + 16);
                rx.open(&sealed.nonce, &sealed.ciphertext).unwrap()
            };
            prop_assert_eq!(&opened, plain);
            sent[usize::from(*to_responder)] += 1;
        }
    }

    /// Flipping any one bit of `ciphertext || tag` is detected; the receiver's counter does not
    /// move, so the genuine frame and the one after it still open.
    #[test]
    fn any_ciphertext_bit_flip_is_rejected(
        plain in prop::collection::vec(any::<u8>(), 0..400),
        earlier in 0u64..4,
        bit in any::<Index>(),
    ) {
        let (mut tx, mut rx) = session();
        for _ in 0..earlier {
            let s = tx.seal(b"earlier").unwrap();
            rx.open(&s.nonce, &s.ciphertext).unwrap();
        }
        let sealed = tx.seal(&plain).unwrap();
        let bit = bit.index(sealed.ciphertext.len() * 8);
        let forged = flip_bit(&sealed.ciphertext, bit);
        prop_assert_eq!(rx.open(&sealed.nonce, &forged), Err(TransportError::DecryptionFailed));
        prop_assert_eq!(rx.into_halves().1.counter(), earlier);
    }

    /// Same property on the responder → initiator direction, checking recovery afterwards.
    #[test]
    fn ciphertext_bit_flip_then_genuine_frame_opens(
        plain in prop::collection::vec(any::<u8>(), 0..400),
        bit in any::<Index>(),
    ) {
        let (mut ti, mut tr) = session();
        let sealed = tr.seal(&plain).unwrap();
        let next = tr.seal(b"next").unwrap();
        let forged = flip_bit(&sealed.ciphertext, bit.index(sealed.ciphertext.len() * 8));
        prop_assert_eq!(ti.open(&sealed.nonce, &forged), Err(TransportError::DecryptionFailed));
        prop_assert_eq!(ti.open(&sealed.nonce, &sealed.ciphertext).unwrap(), plain);
        prop_assert_eq!(ti.open(&next.nonce, &next.ciphertext).unwrap(), b"next".to_vec());
    }

    /// Flipping any one bit of the 12-byte nonce is a wrong nonce; nothing advances.
    #[test]
    fn any_nonce_bit_flip_is_rejected(earlier in 0u64..4, bit in 0usize..96) {
        let (mut tx, mut rx) = session();
        for _ in 0..earlier {
            let s = tx.seal(b"x").unwrap();
            rx.open(&s.nonce, &s.ciphertext).unwrap();
        }
        let sealed = tx.seal(b"hello").unwrap();
        let forged = flip_bit(&sealed.nonce, bit);
        let got = if bit < 32 {
            None
        } else {
            let byte = bit / 8; // 4..12, big-endian counter
            Some(earlier ^ (1u64 << (8 * (11 - byte) + bit % 8)))
        };
        prop_assert_eq!(
            rx.open(&forged, &sealed.ciphertext),
            Err(TransportError::WrongNonce { expected: earlier, got })
        );
        prop_assert_eq!(rx.open(&sealed.nonce, &sealed.ciphertext).unwrap(), b"hello".to_vec());
    }

    /// A model of the strict next-counter rule: deliver frames from a pool of sealed frames in
    /// a random order (replays, skips and reorders galore), sometimes with the nonce rewritten to
    /// the expected one. The receiver accepts exactly the frame with the next counter and its
    /// genuine nonce; every other delivery fails without advancing.
    #[test]
    fn only_the_next_frame_is_ever_accepted(
        deliveries in prop::collection::vec((0u64..6, any::<bool>()), 1..60),
    ) {
        let (mut tx, mut rx) = session();
        let pool: Vec<_> = (0..6u8).map(|i| tx.seal(&[i; 20]).unwrap()).collect();
        let mut expected = 0u64;
        for (index, lie) in deliveries {
            let frame = &pool[index as usize];
            let claimed = if lie { nonce(expected) } else { frame.nonce };
            let result = rx.open(&claimed, &frame.ciphertext);
            if index == expected {
                prop_assert_eq!(result.unwrap(), vec![index as u8; 20]);
                expected += 1;
            } else if lie {
                // Right counter, wrong frame: authentication fails.
                prop_assert_eq!(result, Err(TransportError::DecryptionFailed));
            } else {
                prop_assert_eq!(result, Err(TransportError::WrongNonce { expected, got: Some(index) }));
            }
        }
        let (_, receiver) = rx.into_halves();
        prop_assert_eq!(receiver.counter(), expected);
    }

    /// Garbage nonces and ciphertexts are rejected and never advance the counter.
    #[test]
    fn garbage_is_rejected_without_advancing(
        n in prop::collection::vec(any::<u8>(), 0..16),
        ct in prop::collection::vec(any::<u8>(), 0..100),
    ) {
        let (mut tx, mut rx) = session();
        prop_assert!(rx.open(&n, &ct).is_err());
        let sealed = tx.seal(b"after").unwrap();
        prop_assert_eq!(rx.open(&sealed.nonce, &sealed.ciphertext).unwrap(), b"after".to_vec());
    }

    /// A handshake message of random bytes never gets past message 2 or 3.
    #[test]
    fn random_handshake_messages_are_rejected(
        m2 in prop::collection::vec(any::<u8>(), 0..200),
        m3 in prop::collection::vec(any::<u8>(), 0..200),
    ) {
        let (await2, _) = InitiatorStart::new(&Identity::generate()).write_message_1(b"").unwrap();
        prop_assert!(await2.read_message_2(&m2).is_err());
        let (send2, _) = ResponderStart::new(&Identity::generate())
            .read_message_1(&[9u8; 32])
            .unwrap();
        let (await3, _) = send2.write_message_2(b"").unwrap();
        let err = await3.read_message_3(&m3).err();
        prop_assert!(
            matches!(err, Some(HandshakeError::TooShort { step: 3, .. } | HandshakeError::DecryptionFailed)),
            "{:?}", err
        );
    }
}

// Each fingerprint is 5,200 SHA-512 iterations (slow in a debug build), so few cases here.
proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    /// safety_number(a, b) == safety_number(b, a): 60 digits in 12 groups of 5, made of the two
    /// fingerprints.
    #[test]
    fn safety_number_is_order_independent(a in any::<[u8; 32]>(), b in any::<[u8; 32]>()) {
        let (a, b) = (PublicKey::from_bytes(a), PublicKey::from_bytes(b));
        let ab = safety_number(&a, &b);
        prop_assert_eq!(&ab, &safety_number(&b, &a));
        let groups: Vec<&str> = ab.split(' ').collect();
        prop_assert_eq!(groups.len(), 12);
        prop_assert!(groups.iter().all(|g| g.len() == 5 && g.bytes().all(|c| c.is_ascii_digit())));
        let (fa, fb) = (fingerprint(&a), fingerprint(&b));
        let mut halves = [fa, fb];
        halves.sort();
        prop_assert_eq!(ab, format!("{} {}", halves[0], halves[1]));
    }

    /// Different pairs of keys get different safety numbers.
    #[test]
    fn safety_number_distinguishes_pairs(
        a in any::<[u8; 32]>(),
        b in any::<[u8; 32]>(),
        c in any::<[u8; 32]>(),
        d in any::<[u8; 32]>(),
    ) {
        prop_assume!(a != b && c != d && c != a && c != b);
        let [a, b, c, d] = [a, b, c, d].map(PublicKey::from_bytes);
        let ab = safety_number(&a, &b);
        prop_assert_ne!(&ab, &safety_number(&a, &c));
        prop_assert_ne!(&ab, &safety_number(&c, &d));
    }
}

/// Valid lines whose mutations reach deeper into the parsers than random bytes do.
const SEED_LINES: &[&str] = &[
    r#"{"type":"handshake","step":1,"message":"YWJj"}"#,
    r#"{"type":"data","nonce":"AAAAAAAAAAAAAAAA","ciphertext":"YWJjZA=="}"#,
    r#"{"kind":"chat","id":"m1","text":"hi","sent_at":5,"room":"r","broadcast":true}"#,
    r#"{"kind":"ack","id":"m1"}"#,
    r#"{"kind":"room","id":"r1","name":"n","members":["hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo="]}"#,
    r#"{"name":"  al\u0007ice ","listen_port":6000,"agent":"p2p-chat/0.1.0"}"#,
];

fn mutated_line() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::sample::select(SEED_LINES),
        prop::collection::vec((any::<Index>(), any::<u8>(), 0u8..3), 0..6),
    )
        .prop_map(|(seed, edits)| {
            let mut bytes = seed.as_bytes().to_vec();
            for (at, byte, op) in edits {
                if bytes.is_empty() {
                    bytes.push(byte);
                    continue;
                }
                let i = at.index(bytes.len());
                match op {
                    0 => bytes[i] = byte,
                    1 => bytes.insert(i, byte),
                    _ => {
                        bytes.remove(i);
                    }
                }
            }
            bytes
        })
}

/// JSON objects built from the protocol's field names with values of every JSON type.
fn json_like() -> impl Strategy<Value = String> {
    prop::string::string_regex(
        r#"\{(("type"|"kind"|"id"|"nonce"|"ciphertext"|"step"|"message"|"name"|"listen_port"|"agent"|"text"|"sent_at"|"room"|"broadcast"|"members"|"x"):(-?[0-9]{1,22}(\.[0-9])?|"(data|handshake|chat|ack|room|[a-zA-Z0-9+/=\\ ]{0,12})"|true|false|null|\[("[a-z]{0,3}"|1)?\]|\{\}),?){0,7}\}"#,
    )
    .unwrap()
}

fn check_parsers(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(frame) = Frame::parse(bytes) {
        // Whatever parses re-serialises to a line that parses to the same frame.
        let line = frame.to_line();
        prop_assert_eq!(Frame::parse(&line[..line.len() - 1]).unwrap(), frame);
    }
    if let Ok(payload) = Payload::parse(bytes) {
        match &payload {
            Payload::Chat { id, .. }
            | Payload::Ack { id }
            | Payload::Room { id, .. }
            | Payload::Reaction { id, .. }
            | Payload::Edit { id, .. }
            | Payload::Delete { id, .. } => {
                prop_assert!(!id.is_empty() && id.chars().count() <= 64);
            }
            Payload::Keepalive => {}
            _ => unreachable!("no other payload kinds"),
        }
        prop_assert_eq!(Payload::parse(&payload.to_bytes()).unwrap(), payload);
    }
    if let Ok(hello) = Hello::parse(bytes) {
        prop_assert!(hello.name.chars().count() <= MAX_NAME_CHARS);
        prop_assert!(!hello.name.chars().any(char::is_control));
        prop_assert!(hello.agent.chars().count() <= MAX_NAME_CHARS);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parsers_never_panic_on_random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        check_parsers(&bytes)?;
    }

    #[test]
    fn parsers_never_panic_on_mutated_lines(bytes in mutated_line()) {
        check_parsers(&bytes)?;
    }

    #[test]
    fn parsers_never_panic_on_json_like_objects(text in json_like()) {
        check_parsers(text.as_bytes())?;
    }

    /// Arbitrary strings never panic; whatever decodes is a canonical 44-character encoding.
    #[test]
    fn public_key_from_base64_never_panics(text in any::<String>()) {
        if let Ok(key) = PublicKey::from_base64(&text) {
            prop_assert_eq!(key.to_base64(), text);
        }
    }

    /// Base64-alphabet strings around the right length, so the length and padding checks and
    /// canonical-trailing-bits checks are actually reached.
    #[test]
    fn public_key_from_base64_near_misses(text in "[A-Za-z0-9+/=_-]{40,48}") {
        if let Ok(key) = PublicKey::from_base64(&text) {
            prop_assert_eq!(key.to_base64(), text);
        }
    }

    #[test]
    fn public_key_base64_round_trips(bytes in any::<[u8; 32]>()) {
        let key = PublicKey::from_bytes(bytes);
        let text = key.to_base64();
        prop_assert_eq!(text.len(), 44);
        prop_assert_eq!(PublicKey::from_base64(&text).unwrap(), key);
    }
}

/// The three classic failures, spelled out: each is rejected, and the correct next frame is
/// still accepted afterwards because a failed open does not advance the counter.
#[test]
fn replay_drop_and_reorder_are_rejected_and_the_session_recovers() {
    let (mut tx, mut rx) = session();
    let f: Vec<_> = (0..4u8).map(|i| tx.seal(&[i]).unwrap()).collect();

    assert_eq!(rx.open(&f[0].nonce, &f[0].ciphertext).unwrap(), [0]);
    // Replay of frame 0.
    assert_eq!(
        rx.open(&f[0].nonce, &f[0].ciphertext),
        Err(TransportError::WrongNonce {
            expected: 1,
            got: Some(0)
        })
    );
    // Frame 1 dropped: frame 2 arrives first.
    assert_eq!(
        rx.open(&f[2].nonce, &f[2].ciphertext),
        Err(TransportError::WrongNonce {
            expected: 1,
            got: Some(2)
        })
    );
    // Frame 2 with its nonce rewritten to look like the next one.
    assert_eq!(
        rx.open(&f[1].nonce, &f[2].ciphertext),
        Err(TransportError::DecryptionFailed)
    );
    // The correct next frame is still accepted, then the rest in order.
    assert_eq!(rx.open(&f[1].nonce, &f[1].ciphertext).unwrap(), [1]);
    // Reordered: 3 before 2.
    assert!(rx.open(&f[3].nonce, &f[3].ciphertext).is_err());
    assert_eq!(rx.open(&f[2].nonce, &f[2].ciphertext).unwrap(), [2]);
    assert_eq!(rx.open(&f[3].nonce, &f[3].ciphertext).unwrap(), [3]);
}
