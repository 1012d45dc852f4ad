//! `SymmetricState` (Noise §5.2): the chaining key `ck`, the handshake hash `h` and the current
//! CipherState.

use alloc::vec::Vec;

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::cipherstate::{CipherError, CipherState};
use crate::primitives::noise_hkdf2;

/// Noise's SymmetricState for SHA-256.
pub struct SymmetricState {
    chaining_key: Zeroizing<[u8; 32]>,
    hash: [u8; 32],
    cipher: CipherState,
}

impl SymmetricState {
    /// `InitializeSymmetric(protocol_name)`: a name of at most 32 bytes is zero-padded, a longer
    /// one hashed.
    pub fn new(protocol_name: &[u8]) -> Self {
        let mut hash = [0u8; 32];
        if protocol_name.len() <= 32 {
            hash[..protocol_name.len()].copy_from_slice(protocol_name);
        } else {
            hash = Sha256::digest(protocol_name).into();
        }
        Self {
            chaining_key: Zeroizing::new(hash),
            hash,
            cipher: CipherState::default(),
        }
    }

    /// `MixKey(ikm)`.
    pub fn mix_key(&mut self, input_key_material: &[u8]) {
        let (chaining_key, temp_key) = noise_hkdf2(&self.chaining_key, input_key_material);
        self.chaining_key = chaining_key;
        self.cipher = CipherState::with_key(&temp_key);
    }

    /// `MixHash(data)`: `h = SHA-256(h || data)`.
    pub fn mix_hash(&mut self, data: &[u8]) {
        let mut hasher = Sha256::new();
        hasher.update(self.hash);
        hasher.update(data);
        self.hash = hasher.finalize().into();
    }

    /// `EncryptAndHash(plaintext)`, appending the result to `out`.
    pub fn encrypt_and_hash(&mut self, plaintext: &[u8], out: &mut Vec<u8>) {
        let mut buffer = plaintext.to_vec();
        // Handshake CipherStates encrypt at most a few times, far from the reserved nonce.
        let _ = self.cipher.encrypt_in_place(&self.hash, &mut buffer);
        self.mix_hash(&buffer);
        out.extend_from_slice(&buffer);
    }

    /// `DecryptAndHash(ciphertext)`.
    pub fn decrypt_and_hash(&mut self, ciphertext: &[u8]) -> Result<Vec<u8>, CipherError> {
        let mut buffer = ciphertext.to_vec();
        self.cipher.decrypt_in_place(&self.hash, &mut buffer)?;
        self.mix_hash(ciphertext);
        Ok(buffer)
    }

    /// Whether a key has been mixed in yet (decides if a static key is sent encrypted).
    pub fn has_key(&self) -> bool {
        self.cipher.has_key()
    }

    /// The handshake hash `h`, which both sides agree on after the handshake (channel binding).
    pub fn handshake_hash(&self) -> [u8; 32] {
        self.hash
    }

    /// `Split()`: the initiator→responder and responder→initiator CipherStates.
    pub fn split(self) -> (CipherState, CipherState) {
        let (first, second) = noise_hkdf2(&self.chaining_key, &[]);
        (
            CipherState::with_key(&first),
            CipherState::with_key(&second),
        )
    }
}
