//! A fast built-in self-test: a few known answers from the specifications, the cacophony XX
//! vector, the safety-number vector of PROTOCOL.md, and a live Noise handshake and transport
//! round-trip with fresh keys. The page runs it on load; `p2p-chat vectors` runs it natively.

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use crate::encoding::from_hex;
use crate::keys::{Identity, PublicKey};
use crate::noise::{InitiatorStart, ResponderStart};
use crate::primitives::{aes256gcm_open, aes256gcm_seal, hkdf_sha256, sha256, x25519};
use crate::text::concat;
use crate::vectors::{run, VectorKind};

/// The cacophony `Noise_XX_25519_AESGCM_SHA256` entry, embedded so the self-test needs no files.
const XX_VECTOR: &str = include_str!("selftest_xx.json");

/// One named known-answer check.
type Check = fn() -> Result<(), String>;

/// The outcome of [`self_test`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SelfTestReport {
    /// Checks that passed.
    pub passed: u32,
    /// Checks that failed.
    pub failed: u32,
    /// The names of failed checks with the reason.
    pub failures: Vec<String>,
}

impl SelfTestReport {
    /// `{"passed":…,"failed":…,"failures":[…]}`, for the wasm façade and the CLI.
    pub fn to_json(&self) -> String {
        let mut out = String::new();
        crate::json::ObjectWriter::new(&mut out)
            .number("passed", self.passed.into())
            .number("failed", self.failed.into())
            .strings("failures", &self.failures)
            .finish();
        out
    }
}

/// Runs every built-in check.
pub fn self_test() -> SelfTestReport {
    let checks: [(&str, Check); 7] = [
        ("x25519 rfc7748 6.1", x25519_known_answer),
        ("hkdf-sha256 rfc5869 A.1", hkdf_known_answer),
        ("aes-256-gcm spec tc14", aes_gcm_known_answer),
        ("sha-256 fips180 abc", sha256_known_answer),
        ("noise xx cacophony", cacophony_xx),
        ("safety number vector", safety_number_vector),
        ("noise xx round trip", noise_round_trip),
    ];
    let mut report = SelfTestReport::default();
    for (name, check) in checks {
        match check() {
            Ok(()) => report.passed += 1,
            Err(why) => {
                report.failed += 1;
                report.failures.push(concat(&[name, ": ", &why]));
            }
        }
    }
    report
}

/// The bytes of a hex constant. The constants below are well-formed; a typo shows up as a
/// failing check, not a panic.
fn unhex(text: &str) -> Vec<u8> {
    from_hex(text).unwrap_or_default()
}

/// A 32-byte hex constant.
fn unhex32(text: &str) -> [u8; 32] {
    unhex(text).try_into().unwrap_or([0; 32])
}

/// An error's message, for a failed check.
fn why<E: core::fmt::Display>(error: E) -> String {
    error.to_string()
}

fn check(what: &str, ok: bool) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(concat(&[what, " mismatch"]))
    }
}

fn x25519_known_answer() -> Result<(), String> {
    let alice = unhex32("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
    let bob_public = unhex32("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
    let want = unhex("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
    let got = x25519(&alice, &bob_public).map_err(why)?;
    check("shared secret", got[..] == want)
}

fn hkdf_known_answer() -> Result<(), String> {
    let ikm = [0x0b; 22];
    let salt = unhex("000102030405060708090a0b0c");
    let info = unhex("f0f1f2f3f4f5f6f7f8f9");
    let want = unhex(
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865",
    );
    let okm = hkdf_sha256(&salt, &ikm, &info, 42).map_err(why)?;
    check("okm", *okm == want)
}

fn aes_gcm_known_answer() -> Result<(), String> {
    let key = [0u8; 32];
    let iv = [0u8; 12];
    let want = unhex("cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919");
    let sealed = aes256gcm_seal(&key, &iv, &[], &[0u8; 16]);
    check("ct||tag", sealed == want)?;
    let opened = aes256gcm_open(&key, &iv, &[], &sealed).map_err(why)?;
    check("plaintext", opened == [0u8; 16])
}

fn sha256_known_answer() -> Result<(), String> {
    let want = unhex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    check("digest", sha256(b"abc")[..] == want)
}

fn cacophony_xx() -> Result<(), String> {
    let report = run(VectorKind::Cacophony, XX_VECTOR).map_err(why)?;
    if report.passed == 1 && report.failed == 0 {
        Ok(())
    } else {
        let mut failures = String::from("cacophony vector failed");
        for failure in &report.failures {
            failures.push_str("; ");
            failures.push_str(failure);
        }
        Err(failures)
    }
}

/// One fingerprint computation (the costly part of the self-test: 5,200 SHA-512 rounds), then
/// the safety number composed from the vector's two fingerprints. Together they cover every step
/// of `safety_number` while hashing once instead of three times: the self-test runs when the
/// page loads, before the wasm code is optimised (BENCHMARKS.md: ≤ 50 ms). Order independence is
/// checked by the unit and property tests.
fn safety_number_vector() -> Result<(), String> {
    let vector = crate::parity::SAFETY_NUMBER_VECTOR;
    let a = PublicKey::from_base64(vector.key_a).map_err(why)?;
    check(
        "fingerprint a",
        crate::fingerprint(&a) == vector.fingerprint_a,
    )?;
    let digits = |grouped: &str| grouped.chars().filter(|c| *c != ' ').collect::<String>();
    check(
        "safety number",
        crate::fingerprint::safety_number_from_digits(
            &digits(vector.fingerprint_b),
            &digits(vector.fingerprint_a),
        ) == vector.safety_number,
    )
}

fn noise_round_trip() -> Result<(), String> {
    let alice = Identity::generate();
    let bob = Identity::generate();
    let e = why::<crate::HandshakeError>;
    let (alice_hs, m1) = InitiatorStart::new(&alice)
        .write_message_1(b"")
        .map_err(e)?;
    let (bob_hs, _) = ResponderStart::new(&bob).read_message_1(&m1).map_err(e)?;
    let (bob_hs, m2) = bob_hs.write_message_2(b"bob").map_err(e)?;
    let (alice_hs, p2) = alice_hs.read_message_2(&m2).map_err(e)?;
    let (mut alice_t, m3) = alice_hs.write_message_3(b"alice").map_err(e)?;
    let (mut bob_t, p3) = bob_hs.read_message_3(&m3).map_err(e)?;
    check("payloads", p2 == b"bob" && p3 == b"alice")?;
    check(
        "authenticated keys",
        alice_t.remote_static() == bob.public_key() && bob_t.remote_static() == alice.public_key(),
    )?;
    check(
        "handshake hash",
        alice_t.handshake_hash() == bob_t.handshake_hash(),
    )?;
    let t = why::<crate::TransportError>;
    // Built at run time: a 1,000-byte constant would be 1,000 bytes of the wasm bundle.
    let long = alloc::vec![0xAB; 1000];
    for text in [&b"hello"[..], b"", &long] {
        let sealed = alice_t.seal(text).map_err(t)?;
        check(
            "a->b",
            bob_t.open(&sealed.nonce, &sealed.ciphertext).map_err(t)? == text,
        )?;
        let sealed = bob_t.seal(text).map_err(t)?;
        check(
            "b->a",
            alice_t.open(&sealed.nonce, &sealed.ciphertext).map_err(t)? == text,
        )?;
    }
    let replay = alice_t.seal(b"once").map_err(t)?;
    bob_t.open(&replay.nonce, &replay.ciphertext).map_err(t)?;
    check(
        "replay rejected",
        bob_t.open(&replay.nonce, &replay.ciphertext).is_err(),
    )
}
