//! Identity keys: a static X25519 key pair per peer, its public half as base64 on the wire.

use alloc::string::String;
use core::fmt;

use rand_core::{CryptoRng, OsRng, RngCore};
use x25519_dalek::StaticSecret;
use zeroize::Zeroizing;

use crate::encoding::{from_base64, to_base64};
use crate::primitives::{self, LowOrderPoint};
use crate::text::{write_parts, Decimal};

/// Length in bytes of an X25519 key.
pub const KEY_LEN: usize = 32;

/// Length of a public key in standard base64 (`ceil(32 / 3) * 4`).
pub const PUBLIC_KEY_BASE64_LEN: usize = 44;

/// A public key could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyError {
    /// The text is not standard base64.
    BadBase64,
    /// The key decoded to the wrong number of bytes.
    WrongLength {
        /// Always [`KEY_LEN`].
        expected: usize,
        /// What was given.
        got: usize,
    },
}

/// An X25519 public key: a peer's identity, and the `peer_id` of the UI protocol in base64.
///
/// Not secret, so ordinary equality and ordering are fine; the ordering is what the duplicate
/// session rule compares.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublicKey([u8; KEY_LEN]);

impl PublicKey {
    /// Wraps raw key bytes.
    pub const fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Self(bytes)
    }

    /// Checks the length of a byte slice.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, KeyError> {
        let array: [u8; KEY_LEN] = bytes.try_into().map_err(|_| KeyError::WrongLength {
            expected: KEY_LEN,
            got: bytes.len(),
        })?;
        Ok(Self(array))
    }

    /// Parses the 44-character standard base64 form.
    pub fn from_base64(text: &str) -> Result<Self, KeyError> {
        let bytes = from_base64(text).map_err(|_| KeyError::BadBase64)?;
        Self::from_slice(&bytes)
    }

    /// The 44-character standard base64 form used on the wire and in the UI protocol.
    pub fn to_base64(&self) -> String {
        to_base64(&self.0)
    }

    /// The raw bytes.
    pub const fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

// Display by hand rather than thiserror's `write!`: see `crate::text`.
impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadBase64 => f.write_str("public key is not valid base64"),
            Self::WrongLength { expected, got } => write_parts(
                f,
                &[
                    "public key must be ",
                    Decimal::of_usize(*expected).as_str(),
                    " bytes, got ",
                    Decimal::of_usize(*got).as_str(),
                ],
            ),
        }
    }
}

impl core::error::Error for KeyError {}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_parts(f, &["PublicKey(", &self.to_base64(), ")"])
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_base64())
    }
}

/// A peer's long-term static key pair. The secret is zeroized on drop and never printed.
#[derive(Clone)]
pub struct Identity {
    secret: StaticSecret,
    public: PublicKey,
}

impl Identity {
    /// A fresh key pair from the operating system's (or, in wasm, the browser's) CSPRNG.
    pub fn generate() -> Self {
        Self::generate_with(&mut OsRng)
    }

    /// A fresh key pair from the given CSPRNG.
    pub fn generate_with<R: RngCore + CryptoRng>(rng: &mut R) -> Self {
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        rng.fill_bytes(bytes.as_mut());
        Self::from_secret_bytes(*bytes)
    }

    /// Restores a key pair from its 32 secret bytes (as stored in the identity key file).
    pub fn from_secret_bytes(bytes: [u8; KEY_LEN]) -> Self {
        let secret = StaticSecret::from(bytes);
        let public = PublicKey(x25519_dalek::PublicKey::from(&secret).to_bytes());
        Self { secret, public }
    }

    /// The secret bytes, for writing the identity key file. Zeroized when dropped.
    pub fn secret_bytes(&self) -> Zeroizing<[u8; KEY_LEN]> {
        Zeroizing::new(self.secret.to_bytes())
    }

    /// The public half.
    pub const fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// X25519 with a remote public key; an all-zero result (low-order point) is an error.
    pub(crate) fn diffie_hellman(
        &self,
        remote: &PublicKey,
    ) -> Result<Zeroizing<[u8; KEY_LEN]>, LowOrderPoint> {
        primitives::x25519_with(&self.secret, remote.as_bytes())
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("public", &self.public)
            .field("secret", &"<redacted>")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    #[test]
    fn base64_round_trip_and_errors() {
        let id = Identity::generate();
        let text = id.public_key().to_base64();
        assert_eq!(text.len(), PUBLIC_KEY_BASE64_LEN);
        assert_eq!(PublicKey::from_base64(&text).unwrap(), *id.public_key());
        assert_eq!(PublicKey::from_base64("!!"), Err(KeyError::BadBase64));
        assert_eq!(
            PublicKey::from_base64("aGk="),
            Err(KeyError::WrongLength {
                expected: 32,
                got: 2
            })
        );
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let id = Identity::from_secret_bytes([7u8; 32]);
        let shown = format!("{id:?}");
        assert!(shown.contains("<redacted>"));
        assert!(!shown.contains(&crate::encoding::to_base64(&[7u8; 32])));
        assert!(!shown.contains("7, 7"));
    }

    #[test]
    fn restoring_from_secret_gives_the_same_public_key() {
        let id = Identity::generate();
        let again = Identity::from_secret_bytes(*id.secret_bytes());
        assert_eq!(id.public_key(), again.public_key());
    }
}
