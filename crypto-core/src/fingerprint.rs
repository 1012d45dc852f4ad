//! Human-comparable key fingerprints and the 60-digit safety number (PROTOCOL.md §6).
//!
//! In the manner of Signal's numeric fingerprint: a key's 30 digits come from SHA-512 iterated
//! 5,200 times over a version, the key and an identifier; the safety number of two keys is their
//! two 30-digit fingerprints sorted and concatenated, so both sides compute the same 60 digits.
//! The iteration makes a second key with a chosen fingerprint costly to search for.

use alloc::string::String;
use alloc::vec::Vec;

use sha2::{Digest, Sha512};

use crate::keys::PublicKey;
use crate::primitives::constant_time_eq;

/// Format version, the first two bytes hashed.
pub const FINGERPRINT_VERSION: [u8; 2] = [0x00, 0x00];
/// The stable identifier hashed with every key.
pub const FINGERPRINT_IDENTIFIER: &[u8] = b"p2p-chat";
/// SHA-512 iterations per key.
pub const FINGERPRINT_ITERATIONS: usize = 5_200;
/// Digits per key.
pub const FINGERPRINT_DIGITS: usize = 30;

/// The 30 digits of one key, ungrouped.
pub fn fingerprint_digits(key: &PublicKey) -> String {
    let mut digest: Vec<u8> = Vec::with_capacity(64 + 32);
    digest.extend_from_slice(&FINGERPRINT_VERSION);
    digest.extend_from_slice(key.as_bytes());
    digest.extend_from_slice(FINGERPRINT_IDENTIFIER);
    for _ in 0..FINGERPRINT_ITERATIONS {
        let mut hasher = Sha512::new();
        hasher.update(&digest);
        hasher.update(key.as_bytes());
        digest.clear();
        digest.extend_from_slice(&hasher.finalize());
    }
    let mut digits = String::with_capacity(FINGERPRINT_DIGITS);
    for chunk in digest[..30].chunks_exact(5) {
        let value = chunk.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)) % 100_000;
        push_padded(&mut digits, value);
    }
    digits
}

/// A key's fingerprint as shown to people: 30 digits in 6 groups of 5, e.g.
/// `05870 66124 ...`.
pub fn fingerprint(key: &PublicKey) -> String {
    group_digits(&fingerprint_digits(key))
}

/// The safety number of two keys: 60 digits in 12 groups of 5. The same whichever side computes
/// it (the two halves are sorted).
pub fn safety_number(ours: &PublicKey, theirs: &PublicKey) -> String {
    safety_number_from_digits(&fingerprint_digits(ours), &fingerprint_digits(theirs))
}

/// The safety number of two keys given their ungrouped fingerprint digits: the smaller first,
/// grouped. Split out so the self-test can check the composition without hashing twice more.
pub fn safety_number_from_digits(a: &str, b: &str) -> String {
    let (first, second) = if a <= b { (a, b) } else { (b, a) };
    let mut joined = String::with_capacity(2 * FINGERPRINT_DIGITS);
    joined.push_str(first);
    joined.push_str(second);
    group_digits(&joined)
}

/// Compares two displayed numbers in constant time, ignoring spaces.
pub fn numbers_match(a: &str, b: &str) -> bool {
    let strip = |s: &str| s.bytes().filter(|b| *b != b' ').collect::<Vec<u8>>();
    constant_time_eq(&strip(a), &strip(b))
}

/// Groups digits in fives separated by single spaces.
pub fn group_digits(digits: &str) -> String {
    let mut out = String::with_capacity(digits.len() + digits.len() / 5);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && i % 5 == 0 {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

fn push_padded(out: &mut String, value: u64) {
    let mut buf = [b'0'; 5];
    let mut v = value;
    for slot in buf.iter_mut().rev() {
        *slot = b'0' + (v % 10) as u8;
        v /= 10;
    }
    out.extend(buf.iter().map(|&b| char::from(b)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_and_symmetry() {
        let a = PublicKey::from_bytes([1; 32]);
        let b = PublicKey::from_bytes([2; 32]);
        let fa = fingerprint(&a);
        assert_eq!(fa.len(), 35);
        assert_eq!(fa.split(' ').count(), 6);
        let ab = safety_number(&a, &b);
        assert_eq!(ab, safety_number(&b, &a));
        let (da, db) = (fingerprint_digits(&a), fingerprint_digits(&b));
        assert_eq!(safety_number_from_digits(&da, &db), ab);
        assert_eq!(safety_number_from_digits(&db, &da), ab);
        assert_eq!(ab.split(' ').count(), 12);
        assert_eq!(ab.chars().filter(char::is_ascii_digit).count(), 60);
        assert!(numbers_match(&ab, &ab.replace(' ', "")));
        assert!(!numbers_match(&ab, &safety_number(&a, &a)));
    }

    #[test]
    fn padding() {
        let mut s = String::new();
        push_padded(&mut s, 42);
        assert_eq!(s, "00042");
    }
}
