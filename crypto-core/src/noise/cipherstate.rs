//! `CipherState` (Noise §5.1): a key and a 64-bit nonce counter, AES-256-GCM with the nonce
//! encoded as 4 zero bytes followed by the counter in big-endian (§12.4).

use alloc::vec::Vec;

use crate::primitives::{AeadKey, DecryptionFailed, NONCE_LEN};

/// The counter reached 2^64 − 1, which Noise reserves: the session must end (§5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("nonce counter exhausted")]
pub struct NonceExhausted;

/// A Noise CipherState. Without a key (early in a handshake) it passes plaintext through.
#[derive(Clone, Default)]
pub struct CipherState {
    key: Option<AeadKey>,
    counter: u64,
}

impl CipherState {
    /// `InitializeKey(k)`: sets the key and resets the counter.
    pub fn with_key(key: &[u8; 32]) -> Self {
        Self {
            key: Some(AeadKey::new(key)),
            counter: 0,
        }
    }

    /// `HasKey()`.
    pub fn has_key(&self) -> bool {
        self.key.is_some()
    }

    /// The counter the next encryption or decryption will use.
    pub fn counter(&self) -> u64 {
        self.counter
    }

    /// The 96-bit AES-GCM nonce for a counter value.
    pub fn nonce_bytes(counter: u64) -> [u8; NONCE_LEN] {
        let mut nonce = [0u8; NONCE_LEN];
        nonce[4..].copy_from_slice(&counter.to_be_bytes());
        nonce
    }

    fn next_nonce(&self) -> Result<[u8; NONCE_LEN], NonceExhausted> {
        if self.counter == u64::MAX {
            return Err(NonceExhausted);
        }
        Ok(Self::nonce_bytes(self.counter))
    }

    /// `EncryptWithAd(ad, plaintext)` in place: `buffer` becomes `ct || tag` (or stays plaintext
    /// without a key). Returns the nonce used.
    pub fn encrypt_in_place(
        &mut self,
        ad: &[u8],
        buffer: &mut Vec<u8>,
    ) -> Result<[u8; NONCE_LEN], NonceExhausted> {
        self.encrypt_tail_in_place(ad, buffer, 0)
    }

    /// [`CipherState::encrypt_in_place`] of `buffer[from..]` only: what comes before `from`
    /// stays as it is.
    pub fn encrypt_tail_in_place(
        &mut self,
        ad: &[u8],
        buffer: &mut Vec<u8>,
        from: usize,
    ) -> Result<[u8; NONCE_LEN], NonceExhausted> {
        let nonce = self.next_nonce()?;
        if let Some(key) = &self.key {
            key.seal_tail_in_place(&nonce, ad, buffer, from);
            self.counter += 1;
        }
        Ok(nonce)
    }

    /// `DecryptWithAd(ad, ciphertext)` in place. A failed decryption does not advance the
    /// counter (§5.1), so the state is unchanged by forged input.
    pub fn decrypt_in_place(&mut self, ad: &[u8], buffer: &mut Vec<u8>) -> Result<(), CipherError> {
        let nonce = self.next_nonce().map_err(|_| CipherError::NonceExhausted)?;
        if let Some(key) = &self.key {
            key.open_in_place(&nonce, ad, buffer)
                .map_err(|DecryptionFailed| CipherError::DecryptionFailed)?;
            self.counter += 1;
        }
        Ok(())
    }
}

/// Why a CipherState could not decrypt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CipherError {
    /// Authentication failed.
    #[error("decryption failed")]
    DecryptionFailed,
    /// The reserved nonce 2^64 − 1 was reached.
    #[error("nonce counter exhausted")]
    NonceExhausted,
}

#[cfg(test)]
impl CipherState {
    /// Test hook: jump the counter (to reach the reserved nonce without 2^64 messages).
    pub(crate) fn set_counter_for_tests(&mut self, counter: u64) {
        self.counter = counter;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonce_layout_is_four_zero_bytes_then_big_endian_counter() {
        assert_eq!(
            CipherState::nonce_bytes(0x0102),
            [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2]
        );
    }

    #[test]
    fn failed_decryption_does_not_advance_and_max_nonce_is_reserved() {
        let mut sender = CipherState::with_key(&[1; 32]);
        let mut receiver = CipherState::with_key(&[1; 32]);
        let mut msg = b"x".to_vec();
        sender.encrypt_in_place(b"", &mut msg).unwrap();
        let mut forged = msg.clone();
        forged[0] ^= 0x80;
        assert_eq!(
            receiver.decrypt_in_place(b"", &mut forged),
            Err(CipherError::DecryptionFailed)
        );
        assert_eq!(receiver.counter(), 0);
        receiver.decrypt_in_place(b"", &mut msg).unwrap();
        assert_eq!(msg, b"x");
        sender.set_counter_for_tests(u64::MAX);
        assert_eq!(
            sender.encrypt_in_place(b"", &mut b"y".to_vec()),
            Err(NonceExhausted)
        );
    }
}
