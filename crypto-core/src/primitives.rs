//! The only place the RustCrypto/dalek primitives are called. Everything above — Noise, the
//! fingerprints, the vector runners — goes through these wrappers, so the outside test vectors
//! check exactly the code the protocol uses.

use alloc::vec::Vec;

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha512};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// AES-GCM tag length in bytes.
pub const TAG_LEN: usize = 16;
/// AES-GCM nonce length in bytes.
pub const NONCE_LEN: usize = 12;

/// X25519 gave the all-zero output: the remote key is a low-order point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("Diffie-Hellman with a low-order point (all-zero shared secret)")]
pub struct LowOrderPoint;

/// AES-GCM authentication failed: wrong key, nonce, associated data, or tampered ciphertext.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("decryption failed (authentication tag mismatch)")]
pub struct DecryptionFailed;

/// HKDF was asked for more than 255 hash lengths of output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("HKDF-SHA256 output is limited to 8160 bytes")]
pub struct HkdfOutputTooLong;

/// X25519 (RFC 7748) of a secret scalar and a public u-coordinate. Rejects an all-zero result,
/// as Noise requires, in constant time.
pub fn x25519(secret: &[u8; 32], public: &[u8; 32]) -> Result<Zeroizing<[u8; 32]>, LowOrderPoint> {
    x25519_with(&x25519_dalek::StaticSecret::from(*secret), public)
}

/// [`x25519`] with an already-wrapped secret, so callers never copy the scalar out.
pub(crate) fn x25519_with(
    secret: &x25519_dalek::StaticSecret,
    public: &[u8; 32],
) -> Result<Zeroizing<[u8; 32]>, LowOrderPoint> {
    let shared = secret.diffie_hellman(&x25519_dalek::PublicKey::from(*public));
    let out = Zeroizing::new(shared.to_bytes());
    if bool::from(out.ct_eq(&[0u8; 32])) {
        return Err(LowOrderPoint);
    }
    Ok(out)
}

/// X25519 of a secret with the base point: the public key.
pub fn x25519_base(secret: &[u8; 32]) -> [u8; 32] {
    let secret = x25519_dalek::StaticSecret::from(*secret);
    x25519_dalek::PublicKey::from(&secret).to_bytes()
}

/// HKDF-SHA256 (RFC 5869): extract with `salt`, expand to `len` bytes with `info`.
pub fn hkdf_sha256(
    salt: &[u8],
    ikm: &[u8],
    info: &[u8],
    len: usize,
) -> Result<Zeroizing<Vec<u8>>, HkdfOutputTooLong> {
    let hk = hkdf::Hkdf::<Sha256>::new(Some(salt), ikm);
    let mut okm = Zeroizing::new(alloc::vec![0u8; len]);
    hk.expand(info, &mut okm).map_err(|_| HkdfOutputTooLong)?;
    Ok(okm)
}

/// HKDF-SHA256 extract only (the PRK), for RFC 5869's intermediate values.
pub fn hkdf_sha256_extract(salt: &[u8], ikm: &[u8]) -> Zeroizing<[u8; 32]> {
    let (prk, _) = hkdf::Hkdf::<Sha256>::extract(Some(salt), ikm);
    Zeroizing::new(prk.into())
}

/// The two-output HKDF of the Noise spec (§4.3): `HKDF(ck, ikm, 2)` = RFC 5869 with salt `ck`
/// and empty info, 64 bytes split in two.
pub(crate) fn noise_hkdf2(
    chaining_key: &[u8; 32],
    ikm: &[u8],
) -> (Zeroizing<[u8; 32]>, Zeroizing<[u8; 32]>) {
    let hk = hkdf::Hkdf::<Sha256>::new(Some(chaining_key), ikm);
    let mut okm = Zeroizing::new([0u8; 64]);
    // 64 bytes is far below HKDF's 8160-byte limit, so expand cannot fail.
    let _ = hk.expand(&[], okm.as_mut());
    let mut first = Zeroizing::new([0u8; 32]);
    let mut second = Zeroizing::new([0u8; 32]);
    first.copy_from_slice(&okm[..32]);
    second.copy_from_slice(&okm[32..]);
    (first, second)
}

/// HMAC-SHA256.
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so new_from_slice cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// Constant-time comparison of two byte strings (lengths are not secret).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// SHA-256.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// SHA-256 of the concatenation of `parts`, without copying them together (a Merkle leaf is
/// `0x00 ‖ chunk`, PROTOCOL.md §5.1).
pub fn sha256_parts(parts: &[&[u8]]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// SHA-256 over data that arrives in pieces (a whole file, chunk by chunk).
#[derive(Clone, Default)]
pub struct Sha256Stream(Sha256);

impl Sha256Stream {
    /// An empty stream.
    pub fn new() -> Self {
        Self(Sha256::new())
    }

    /// Hashes the next piece.
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    /// The digest of everything given.
    pub fn finish(self) -> [u8; 32] {
        self.0.finalize().into()
    }
}

impl core::fmt::Debug for Sha256Stream {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Sha256Stream")
    }
}

/// SHA-512.
pub fn sha512(data: &[u8]) -> [u8; 64] {
    Sha512::digest(data).into()
}

/// An AES-256-GCM key with its expanded key schedule, kept so each message does not re-key.
/// The schedule is zeroized on drop (the `aes` crate's `zeroize` feature).
#[derive(Clone)]
pub struct AeadKey(Aes256Gcm);

impl AeadKey {
    /// Expands a 256-bit key.
    pub fn new(key: &[u8; 32]) -> Self {
        Self(Aes256Gcm::new(key.into()))
    }

    /// Encrypts `buffer` in place and appends the 16-byte tag: `buffer` becomes `ct || tag`.
    pub fn seal_in_place(&self, nonce: &[u8; NONCE_LEN], aad: &[u8], buffer: &mut Vec<u8>) {
        self.seal_tail_in_place(nonce, aad, buffer, 0);
    }

    /// Encrypts `buffer[from..]` in place and appends the tag; the bytes before `from` (a
    /// frame's header, say) are left as they are.
    pub fn seal_tail_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buffer: &mut Vec<u8>,
        from: usize,
    ) {
        let tag = self
            .0
            .encrypt_in_place_detached(Nonce::from_slice(nonce), aad, &mut buffer[from..])
            // Only fails past GCM's 64 GiB plaintext limit, far beyond Noise's 65,535 bytes.
            .unwrap_or_else(|_| unreachable!());
        buffer.extend_from_slice(&tag);
    }

    /// Opens `ct || tag` in place; on success `buffer` holds the plaintext. On failure the
    /// buffer's contents are unspecified and must be discarded.
    pub fn open_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buffer: &mut Vec<u8>,
    ) -> Result<(), DecryptionFailed> {
        if buffer.len() < TAG_LEN {
            return Err(DecryptionFailed);
        }
        let split = buffer.len() - TAG_LEN;
        let tag = Tag::clone_from_slice(&buffer[split..]);
        buffer.truncate(split);
        self.0
            .decrypt_in_place_detached(Nonce::from_slice(nonce), aad, buffer, &tag)
            .map_err(|_| DecryptionFailed)
    }
}

/// One-shot AES-256-GCM encryption: returns `ct || tag`.
pub fn aes256gcm_seal(
    key: &[u8; 32],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    plaintext: &[u8],
) -> Vec<u8> {
    let mut buffer = Vec::with_capacity(plaintext.len() + TAG_LEN);
    buffer.extend_from_slice(plaintext);
    AeadKey::new(key).seal_in_place(nonce, aad, &mut buffer);
    buffer
}

/// One-shot AES-256-GCM decryption of `ct || tag`.
pub fn aes256gcm_open(
    key: &[u8; 32],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    ciphertext_and_tag: &[u8],
) -> Result<Vec<u8>, DecryptionFailed> {
    let mut buffer = ciphertext_and_tag.to_vec();
    AeadKey::new(key).open_in_place(nonce, aad, &mut buffer)?;
    Ok(buffer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn x25519_rejects_the_zero_point() {
        assert_eq!(x25519(&[1u8; 32], &[0u8; 32]), Err(LowOrderPoint));
    }

    #[test]
    fn aead_round_trip_and_tamper() {
        let key = [3u8; 32];
        let nonce = [0u8; 12];
        let sealed = aes256gcm_seal(&key, &nonce, b"ad", b"hello");
        assert_eq!(
            aes256gcm_open(&key, &nonce, b"ad", &sealed).unwrap(),
            b"hello"
        );
        let mut bad = sealed.clone();
        bad[0] ^= 1;
        assert_eq!(
            aes256gcm_open(&key, &nonce, b"ad", &bad),
            Err(DecryptionFailed)
        );
        assert_eq!(
            aes256gcm_open(&key, &nonce, b"ad", &sealed[..3]),
            Err(DecryptionFailed)
        );
    }

    #[test]
    fn hkdf_limit() {
        assert!(hkdf_sha256(b"s", b"k", b"i", 8160).is_ok());
        assert_eq!(
            hkdf_sha256(b"s", b"k", b"i", 8161).unwrap_err(),
            HkdfOutputTooLong
        );
    }
}
