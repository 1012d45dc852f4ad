//! Interoperability with an implementation we did not write: the `snow` crate (0.9) speaking
//! `Noise_XX_25519_AESGCM_SHA256` with p2p-chat's prologue, in both roles, through the handshake
//! (hello payloads in messages 2 and 3) and transport messages of many sizes in both directions.
//!
//! snow keeps its own transport nonce counter; crypto-core's `open` takes the 12-byte nonce the
//! wire frame carries (4 zero bytes + big-endian counter), so the tests build it from snow's
//! counter — which also checks that the two counters stay in step.

use crypto_core::noise::{
    InitiatorStart, ResponderStart, MAX_PLAINTEXT_LEN, PROLOGUE, PROTOCOL_NAME,
};
use crypto_core::wire::{Frame, Hello};
use crypto_core::{HandshakeError, Identity, PublicKey, Transport, TransportError};

/// Transport sizes exercised each way: empty, around the AES block and GCM tag sizes, a chat
/// message, 16 KiB, and the largest plaintext Noise allows.
const SIZES: &[usize] = &[0, 1, 15, 16, 17, 100, 1000, 4096, 16_384, 65_519];

const BUF_LEN: usize = 65_535;

fn params() -> snow::params::NoiseParams {
    PROTOCOL_NAME.parse().expect("snow knows the protocol name")
}

/// A static key pair made by snow itself, so crypto-core never sees how it was generated.
fn snow_keypair() -> snow::Keypair {
    snow::Builder::new(params())
        .generate_keypair()
        .expect("snow generates a key pair")
}

fn snow_state(keys: &snow::Keypair, prologue: &[u8], initiator: bool) -> snow::HandshakeState {
    let builder = snow::Builder::new(params())
        .local_private_key(&keys.private)
        .prologue(prologue);
    build(builder, initiator)
}

/// A snow state with a fixed static and ephemeral key (for byte-identical transcripts).
fn snow_fixed_state(
    secret: &[u8; 32],
    ephemeral: &[u8; 32],
    initiator: bool,
) -> snow::HandshakeState {
    let builder = snow::Builder::new(params())
        .local_private_key(secret)
        .fixed_ephemeral_key_for_testing_only(ephemeral)
        .prologue(PROLOGUE);
    build(builder, initiator)
}

fn build(builder: snow::Builder<'_>, initiator: bool) -> snow::HandshakeState {
    if initiator {
        builder.build_initiator().expect("snow initiator")
    } else {
        builder.build_responder().expect("snow responder")
    }
}

/// snow writes its next handshake message (number `step`) carrying `payload`.
fn snow_write(snow: &mut snow::HandshakeState, payload: &[u8], step: u8) -> Vec<u8> {
    let mut buf = vec![0u8; BUF_LEN];
    let n = snow
        .write_message(payload, &mut buf)
        .unwrap_or_else(|e| panic!("snow writes message {step}: {e}"));
    buf.truncate(n);
    buf
}

/// snow reads handshake message `step`; returns its payload.
fn snow_read(snow: &mut snow::HandshakeState, message: &[u8], step: u8) -> Vec<u8> {
    let mut payload = vec![0u8; BUF_LEN];
    let n = snow
        .read_message(message, &mut payload)
        .unwrap_or_else(|e| panic!("snow reads message {step}: {e}"));
    payload.truncate(n);
    payload
}

fn hello(name: &str, port: u16) -> Hello {
    Hello {
        name: name.into(),
        listen_port: port,
        agent: crypto_core::wire::AGENT.into(),
        binary_frames: false,
    }
}

/// Deterministic, size-dependent filler so each message's content differs.
fn message(size: usize, salt: u8) -> Vec<u8> {
    (0..size)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(salt))
        .collect()
}

/// The nonce a data frame carries for `counter`.
fn nonce(counter: u64) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[4..].copy_from_slice(&counter.to_be_bytes());
    n
}

fn flip(bytes: &[u8], index: usize, bit: u8) -> Vec<u8> {
    let mut out = bytes.to_vec();
    out[index] ^= 1 << bit;
    out
}

/// crypto-core initiator ↔ snow responder, up to the end of the handshake.
struct CoreInitiatorSession {
    core: Transport,
    snow: snow::TransportState,
}

fn core_initiator_vs_snow_responder() -> CoreInitiatorSession {
    let core_id = Identity::generate();
    let snow_keys = snow_keypair();
    let mut snow = snow_state(&snow_keys, PROLOGUE, false);

    // -> e (empty payload)
    let (await2, m1) = InitiatorStart::new(&core_id).write_message_1(b"").unwrap();
    assert_eq!(m1.len(), 32, "message 1 is just the ephemeral key");
    assert!(snow_read(&mut snow, &m1, 1).is_empty());

    // <- e, ee, s, es (hello)
    let hello2 = hello("snow responder", 6001);
    let (send3, p2) = await2
        .read_message_2(&snow_write(&mut snow, &hello2.to_bytes(), 2))
        .expect("crypto-core reads snow's message 2");
    assert_eq!(Hello::parse(&p2).unwrap(), hello2);
    assert_eq!(
        send3.remote_static().as_bytes().as_slice(),
        snow_keys.public.as_slice()
    );

    // -> s, se (hello)
    let hello3 = hello("crypto-core initiator", 6000);
    let (core, m3) = send3.write_message_3(&hello3.to_bytes()).unwrap();
    assert_eq!(Hello::parse(&snow_read(&mut snow, &m3, 3)).unwrap(), hello3);

    established(snow, core, &core_id, &snow_keys)
}

/// snow initiator ↔ crypto-core responder, up to the end of the handshake.
fn snow_initiator_vs_core_responder() -> CoreInitiatorSession {
    let core_id = Identity::generate();
    let snow_keys = snow_keypair();
    let mut snow = snow_state(&snow_keys, PROLOGUE, true);

    let (send2, p1) = ResponderStart::new(&core_id)
        .read_message_1(&snow_write(&mut snow, b"", 1))
        .expect("crypto-core reads snow's message 1");
    assert!(p1.is_empty());

    let hello2 = hello("crypto-core responder", 6001);
    let (await3, m2) = send2.write_message_2(&hello2.to_bytes()).unwrap();
    assert_eq!(Hello::parse(&snow_read(&mut snow, &m2, 2)).unwrap(), hello2);

    let hello3 = hello("snow initiator", 6000);
    let (core, p3) = await3
        .read_message_3(&snow_write(&mut snow, &hello3.to_bytes(), 3))
        .expect("crypto-core reads snow's message 3");
    assert_eq!(Hello::parse(&p3).unwrap(), hello3);

    established(snow, core, &core_id, &snow_keys)
}

/// The checks that end either handshake, whoever initiated: both sides finished with the same
/// handshake hash, each holding the other's static key; then the pair in transport mode.
fn established(
    snow: snow::HandshakeState,
    core: Transport,
    core_id: &Identity,
    snow_keys: &snow::Keypair,
) -> CoreInitiatorSession {
    assert!(snow.is_handshake_finished());
    assert_eq!(snow.get_handshake_hash(), core.handshake_hash().as_slice());
    assert_eq!(
        snow.get_remote_static(),
        Some(core_id.public_key().as_bytes().as_slice())
    );
    assert_eq!(
        core.remote_static().as_bytes().as_slice(),
        snow_keys.public.as_slice()
    );
    CoreInitiatorSession {
        core,
        snow: snow.into_transport_mode().unwrap(),
    }
}

/// Exchanges every size in both directions, interleaved, checking content and counters.
fn exchange_transport(session: &mut CoreInitiatorSession) {
    let mut buf = vec![0u8; BUF_LEN];
    let mut out = vec![0u8; BUF_LEN];
    for (i, &size) in SIZES.iter().enumerate() {
        // crypto-core → snow
        let plain = message(size, i as u8);
        let expected_counter = session.snow.receiving_nonce();
        let sealed = session.core.seal(&plain).unwrap();
        assert_eq!(
            sealed.nonce,
            nonce(expected_counter),
            "sender nonce = receiver's counter"
        );
        assert_eq!(sealed.ciphertext.len(), size + 16);
        let n = session
            .snow
            .read_message(&sealed.ciphertext, &mut out)
            .unwrap_or_else(|e| panic!("snow opens crypto-core's {size}-byte message: {e}"));
        assert_eq!(&out[..n], plain.as_slice());

        // snow → crypto-core, twice per size so the counters diverge from the other direction.
        for round in 0..2u8 {
            let plain = message(size, 100 + i as u8 + round);
            let counter = session.snow.sending_nonce();
            let n = session.snow.write_message(&plain, &mut buf).unwrap();
            assert_eq!(n, size + 16);
            let opened = session
                .core
                .open(&nonce(counter), &buf[..n])
                .unwrap_or_else(|e| panic!("crypto-core opens snow's {size}-byte message: {e}"));
            assert_eq!(opened, plain);
        }
    }
    assert_eq!(session.snow.receiving_nonce(), SIZES.len() as u64);
    assert_eq!(session.snow.sending_nonce(), 2 * SIZES.len() as u64);

    // One over the limit: crypto-core refuses to seal it (snow would refuse too).
    let too_big = vec![0u8; MAX_PLAINTEXT_LEN + 1];
    assert!(matches!(
        session.core.seal(&too_big),
        Err(TransportError::MessageTooLarge {
            len: 65_520,
            max: 65_519
        })
    ));
    assert!(session.snow.write_message(&too_big, &mut buf).is_err());
}

#[test]
fn crypto_core_initiator_with_snow_responder() {
    let mut session = core_initiator_vs_snow_responder();
    exchange_transport(&mut session);
}

#[test]
fn snow_initiator_with_crypto_core_responder() {
    let mut session = snow_initiator_vs_core_responder();
    exchange_transport(&mut session);
}

/// The real wire path: snow's ciphertext in a `data` frame line, parsed and opened by
/// crypto-core; crypto-core's sealed line parsed back into bytes for snow.
#[test]
fn data_frame_lines_carry_snow_traffic() {
    let session = core_initiator_vs_snow_responder();
    let (mut sender, mut receiver) = session.core.into_halves();
    let mut snow = session.snow;
    let mut buf = vec![0u8; BUF_LEN];
    for size in [0, 100, 65_519] {
        let plain = message(size, 7);
        let counter = snow.sending_nonce();
        let n = snow.write_message(&plain, &mut buf).unwrap();
        let line = Frame::Data {
            nonce: base64(&nonce(counter)).into(),
            ciphertext: base64(&buf[..n]).into(),
        }
        .to_line();
        assert!(line.len() <= crypto_core::wire::MAX_LINE_BYTES);
        let frame = Frame::parse(line.trim_ascii_end()).unwrap();
        let opened = receiver.open_frame(&frame.as_data().unwrap()).unwrap();
        assert_eq!(opened, plain);

        let mut line = String::new();
        sender.seal_to_line(&plain, &mut line).unwrap();
        assert!(line.ends_with('\n'));
        let frame = Frame::parse(line.trim_end().as_bytes()).unwrap();
        let data = frame.as_data().unwrap();
        assert_eq!(unbase64(data.nonce), nonce(snow.receiving_nonce()));
        let mut out = vec![0u8; BUF_LEN];
        let n = snow
            .read_message(&unbase64(data.ciphertext), &mut out)
            .unwrap();
        assert_eq!(&out[..n], plain.as_slice());
    }
}

fn base64(bytes: &[u8]) -> String {
    crypto_core::encoding::to_base64(bytes)
}

fn unbase64(text: &str) -> Vec<u8> {
    crypto_core::encoding::from_base64(text).unwrap()
}

/// With the same static and ephemeral keys, crypto-core and snow produce byte-identical
/// handshake messages, hashes and transport ciphertexts (against each other and themselves).
#[test]
fn fixed_keys_give_byte_identical_transcripts() {
    let si = [0x11u8; 32];
    let sr = [0x22u8; 32];
    let ei = [0x33u8; 32];
    let er = [0x44u8; 32];
    let p2 = hello("responder", 2).to_bytes();
    let p3 = hello("initiator", 3).to_bytes();

    // crypto-core on both sides.
    let id_i = Identity::from_secret_bytes(si);
    let id_r = Identity::from_secret_bytes(sr);
    let (a2, m1) =
        InitiatorStart::new_with_fixed_ephemeral_for_test_vectors_only(&id_i, PROLOGUE, ei)
            .write_message_1(b"")
            .unwrap();
    let (r2, _) =
        ResponderStart::new_with_fixed_ephemeral_for_test_vectors_only(&id_r, PROLOGUE, er)
            .read_message_1(&m1)
            .unwrap();
    let (r3, m2) = r2.write_message_2(&p2).unwrap();
    let (i3, _) = a2.read_message_2(&m2).unwrap();
    let (mut ti, m3) = i3.write_message_3(&p3).unwrap();
    let (mut tr, _) = r3.read_message_3(&m3).unwrap();
    let c1 = ti.seal(b"to responder").unwrap().ciphertext;
    let c2 = tr.seal(b"to initiator").unwrap().ciphertext;

    // snow on both sides, same keys.
    let mut buf = vec![0u8; BUF_LEN];
    let mut payload = vec![0u8; BUF_LEN];
    let mut si_state = snow_fixed_state(&si, &ei, true);
    let mut sr_state = snow_fixed_state(&sr, &er, false);
    let n = si_state.write_message(b"", &mut buf).unwrap();
    assert_eq!(&buf[..n], m1.as_slice(), "message 1");
    sr_state.read_message(&buf[..n], &mut payload).unwrap();
    let n = sr_state.write_message(&p2, &mut buf).unwrap();
    assert_eq!(&buf[..n], m2.as_slice(), "message 2");
    si_state.read_message(&buf[..n], &mut payload).unwrap();
    let n = si_state.write_message(&p3, &mut buf).unwrap();
    assert_eq!(&buf[..n], m3.as_slice(), "message 3");
    sr_state.read_message(&buf[..n], &mut payload).unwrap();
    assert_eq!(
        si_state.get_handshake_hash(),
        ti.handshake_hash().as_slice()
    );
    assert_eq!(
        sr_state.get_handshake_hash(),
        tr.handshake_hash().as_slice()
    );
    let mut si_t = si_state.into_transport_mode().unwrap();
    let mut sr_t = sr_state.into_transport_mode().unwrap();
    let n = si_t.write_message(b"to responder", &mut buf).unwrap();
    assert_eq!(
        &buf[..n],
        c1.as_slice(),
        "first initiator → responder ciphertext"
    );
    let n = sr_t.write_message(b"to initiator", &mut buf).unwrap();
    assert_eq!(
        &buf[..n],
        c2.as_slice(),
        "first responder → initiator ciphertext"
    );
}

#[test]
fn snow_with_another_prologue_makes_crypto_core_fail() {
    // snow responder with another prologue: crypto-core fails reading message 2.
    for other in [&b"p2p-chat/2"[..], b"", b"p2p-chat/1 "] {
        let snow_keys = snow_keypair();
        let mut snow = snow_state(&snow_keys, other, false);
        let (await2, m1) = InitiatorStart::new(&Identity::generate())
            .write_message_1(b"")
            .unwrap();
        snow_read(&mut snow, &m1, 1);
        let m2 = snow_write(&mut snow, &hello("x", 1).to_bytes(), 2);
        assert_eq!(
            await2.read_message_2(&m2).err(),
            Some(HandshakeError::DecryptionFailed),
            "prologue {other:?}"
        );
    }

    // snow initiator with another prologue: message 1 carries nothing authenticated, so the
    // mismatch shows at message 2 — which snow cannot open, so no valid message 3 can exist;
    // crypto-core rejects the best snow can then produce (a message 3 from a fresh handshake).
    let snow_keys = snow_keypair();
    let mut snow = snow_state(&snow_keys, b"p2p-chat/0", true);
    let mut buf = vec![0u8; BUF_LEN];
    let mut payload = vec![0u8; BUF_LEN];
    let (send2, _) = ResponderStart::new(&Identity::generate())
        .read_message_1(&snow_write(&mut snow, b"", 1))
        .unwrap();
    let (await3, m2) = send2.write_message_2(&hello("x", 1).to_bytes()).unwrap();
    assert!(
        snow.read_message(&m2, &mut payload).is_err(),
        "snow rejects message 2"
    );
    let mut other = snow_state(&snow_keys, b"p2p-chat/0", true);
    let mut responder = snow_state(&snow_keypair(), b"p2p-chat/0", false);
    let n = other.write_message(b"", &mut buf).unwrap();
    responder.read_message(&buf[..n], &mut payload).unwrap();
    let n = responder.write_message(b"", &mut buf).unwrap();
    other.read_message(&buf[..n], &mut payload).unwrap();
    let n = other.write_message(b"", &mut buf).unwrap();
    assert_eq!(
        await3.read_message_3(&buf[..n]).err(),
        Some(HandshakeError::DecryptionFailed)
    );
}

#[test]
fn tampered_handshake_messages_fail() {
    // crypto-core initiator: flipping any byte of message 1 (in flight to snow) or of snow's
    // message 2 makes crypto-core's read of message 2 fail; flipping any byte of message 3 makes
    // snow fail.
    let mut positions_checked = 0;
    for step in 1..=3u8 {
        for index in 0.. {
            let core_id = Identity::generate();
            let mut snow = snow_state(&snow_keypair(), PROLOGUE, false);
            let (await2, mut m1) = InitiatorStart::new(&core_id).write_message_1(b"").unwrap();
            if step == 1 {
                if index >= m1.len() {
                    break;
                }
                m1 = flip(&m1, index, (index % 8) as u8);
            }
            snow_read(&mut snow, &m1, 1);
            let mut m2 = snow_write(&mut snow, &hello("s", 1).to_bytes(), 2);
            if step == 2 {
                if index >= m2.len() {
                    break;
                }
                m2 = flip(&m2, index, (index % 8) as u8);
            }
            let result = await2.read_message_2(&m2);
            if step <= 2 {
                let err = result.err().expect("tampered handshake accepted");
                // Flipping a bit of a public key can, very rarely, hit a low-order point.
                assert!(
                    matches!(
                        err,
                        HandshakeError::DecryptionFailed | HandshakeError::LowOrderPoint
                    ),
                    "step {step} byte {index}: {err:?}"
                );
                positions_checked += 1;
                continue;
            }
            let (send3, _) = result.unwrap();
            let (_, m3) = send3.write_message_3(&hello("c", 2).to_bytes()).unwrap();
            if index >= m3.len() {
                break;
            }
            let m3 = flip(&m3, index, (index % 8) as u8);
            assert!(
                snow.read_message(&m3, &mut vec![0u8; BUF_LEN]).is_err(),
                "step 3 byte {index}"
            );
            positions_checked += 1;
        }
    }

    // crypto-core responder: every byte of snow's message 3.
    for index in 0.. {
        let mut snow = snow_state(&snow_keypair(), PROLOGUE, true);
        let (send2, _) = ResponderStart::new(&Identity::generate())
            .read_message_1(&snow_write(&mut snow, b"", 1))
            .unwrap();
        let (await3, m2) = send2.write_message_2(&hello("c", 1).to_bytes()).unwrap();
        snow_read(&mut snow, &m2, 2);
        let m3 = snow_write(&mut snow, &hello("s", 2).to_bytes(), 3);
        if index >= m3.len() {
            break;
        }
        let m3 = flip(&m3, index, (index % 8) as u8);
        assert_eq!(
            await3.read_message_3(&m3).err(),
            Some(HandshakeError::DecryptionFailed),
            "crypto-core responder, message 3 byte {index}"
        );
        positions_checked += 1;
    }
    assert!(positions_checked > 300, "{positions_checked}");
}

#[test]
fn tampered_transport_messages_fail_both_ways() {
    for mut session in [
        core_initiator_vs_snow_responder(),
        snow_initiator_vs_core_responder(),
    ] {
        let mut buf = vec![0u8; BUF_LEN];
        let mut out = vec![0u8; BUF_LEN];
        for size in [0usize, 100, 16_384] {
            // snow → crypto-core: flips in the ciphertext start/middle/end and the tag; then the
            // genuine message still opens.
            let plain = message(size, 1);
            let counter = session.snow.sending_nonce();
            let n = session.snow.write_message(&plain, &mut buf).unwrap();
            for index in [0, n / 2, n.saturating_sub(17), n - 16, n - 1] {
                let forged = flip(&buf[..n], index, (index % 8) as u8);
                assert_eq!(
                    session.core.open(&nonce(counter), &forged),
                    Err(TransportError::DecryptionFailed),
                    "size {size} byte {index}"
                );
            }
            assert_eq!(
                session.core.open(&nonce(counter), &buf[..n - 1]),
                Err(TransportError::DecryptionFailed),
                "truncated"
            );
            assert_eq!(
                session.core.open(&nonce(counter), &buf[..n]).unwrap(),
                plain
            );

            // crypto-core → snow: snow rejects the forgery and still accepts the genuine one.
            let sealed = session.core.seal(&plain).unwrap();
            let forged = flip(&sealed.ciphertext, sealed.ciphertext.len() / 2, 3);
            assert!(session.snow.read_message(&forged, &mut out).is_err());
            let n = session
                .snow
                .read_message(&sealed.ciphertext, &mut out)
                .unwrap();
            assert_eq!(&out[..n], plain.as_slice());
        }
    }
}

/// A message snow sealed for the other direction (same counter) must not open.
#[test]
fn directions_use_different_keys() {
    let mut session = core_initiator_vs_snow_responder();
    let mut snow_initiator_side = snow_initiator_vs_core_responder();
    let mut buf = vec![0u8; BUF_LEN];
    // A ciphertext from an unrelated session, right counter: rejected.
    let n = snow_initiator_side
        .snow
        .write_message(b"hi", &mut buf)
        .unwrap();
    assert_eq!(
        session.core.open(&nonce(0), &buf[..n]),
        Err(TransportError::DecryptionFailed)
    );
    // Our own sealed message reflected back at us: rejected.
    let sealed = session.core.seal(b"echo").unwrap();
    assert_eq!(
        session.core.open(&sealed.nonce, &sealed.ciphertext),
        Err(TransportError::DecryptionFailed)
    );
    let _: &PublicKey = session.core.remote_static();
}
