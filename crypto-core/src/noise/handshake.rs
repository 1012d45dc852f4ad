//! The XX handshake (Noise §7.5) as six typed states, three per role.
//!
//! Initiator: [`InitiatorStart`] → `write_message_1` → [`InitiatorAwaitMessage2`] →
//! `read_message_2` → [`InitiatorSendMessage3`] → `write_message_3` → [`Transport`].
//!
//! Responder: [`ResponderStart`] → `read_message_1` → [`ResponderSendMessage2`] →
//! `write_message_2` → [`ResponderAwaitMessage3`] → `read_message_3` → [`Transport`].
//!
//! Every step consumes the state, so a failed step leaves nothing to misuse: the connection ends.

use alloc::vec::Vec;

use rand_core::{OsRng, RngCore};
use x25519_dalek::StaticSecret;
use zeroize::Zeroizing;

use super::cipherstate::CipherError;
use super::symmetricstate::SymmetricState;
use super::transport::Transport;
use super::{MAX_MESSAGE_LEN, PROLOGUE, PROTOCOL_NAME};
use crate::keys::{Identity, PublicKey, KEY_LEN};
use crate::primitives::{x25519_with, LowOrderPoint, TAG_LEN};
use crate::text::{write_parts, Decimal};

/// Why a handshake step failed. Any of these ends the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The message is shorter than the pattern's tokens require.
    TooShort {
        /// Which of the three messages.
        step: u8,
        /// Minimum length for that step.
        min: usize,
        /// Length received.
        got: usize,
    },
    /// The message (or the one a payload would produce) exceeds Noise's 65,535 bytes.
    MessageTooLarge,
    /// A Diffie-Hellman result was all zeros: the peer sent a low-order point.
    LowOrderPoint,
    /// An encrypted static key or payload failed authentication (wrong prologue, tampering, or a
    /// peer speaking another protocol).
    DecryptionFailed,
    /// The remote static key is not a canonical X25519 encoding (bit 255 set, or not below
    /// 2^255 − 19): accepting it would give one secret key several peer ids.
    NonCanonicalStaticKey,
    /// Message 1 carried a payload; p2p-chat's is always empty (PROTOCOL.md §3).
    UnexpectedPayload,
    /// A frame announced a handshake step other than the one expected next.
    UnexpectedStep {
        /// The step this side waits for.
        expected: u8,
        /// The step received.
        got: u8,
    },
}

// Display by hand rather than thiserror's `write!`: see `crate::text`.
impl core::fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::TooShort { step, min, got } => write_parts(
                f,
                &[
                    "handshake message ",
                    Decimal::new(*step).as_str(),
                    " too short: need at least ",
                    Decimal::of_usize(*min).as_str(),
                    " bytes, got ",
                    Decimal::of_usize(*got).as_str(),
                ],
            ),
            Self::MessageTooLarge => f.write_str("handshake message exceeds 65535 bytes"),
            Self::LowOrderPoint => {
                f.write_str("low-order public key in handshake (all-zero Diffie-Hellman result)")
            }
            Self::DecryptionFailed => f.write_str("handshake decryption failed"),
            Self::NonCanonicalStaticKey => {
                f.write_str("non-canonical static public key in handshake")
            }
            Self::UnexpectedPayload => f.write_str("handshake message 1 carries a payload"),
            Self::UnexpectedStep { expected, got } => write_parts(
                f,
                &[
                    "handshake step ",
                    Decimal::new(*got).as_str(),
                    " out of order (expected ",
                    Decimal::new(*expected).as_str(),
                    ")",
                ],
            ),
        }
    }
}

impl core::error::Error for HandshakeError {}

impl From<LowOrderPoint> for HandshakeError {
    fn from(_: LowOrderPoint) -> Self {
        Self::LowOrderPoint
    }
}

impl From<CipherError> for HandshakeError {
    fn from(_: CipherError) -> Self {
        Self::DecryptionFailed
    }
}

/// What every state carries: the symmetric state, our keys and (once seen) the remote's.
struct Core {
    symmetric: SymmetricState,
    local_static: Identity,
    local_ephemeral: StaticSecret,
    local_ephemeral_public: PublicKey,
}

impl Core {
    fn new(identity: &Identity, prologue: &[u8], ephemeral: [u8; KEY_LEN]) -> Self {
        let ephemeral = Zeroizing::new(ephemeral);
        let local_ephemeral = StaticSecret::from(*ephemeral);
        let local_ephemeral_public =
            PublicKey::from_bytes(x25519_dalek::PublicKey::from(&local_ephemeral).to_bytes());
        let mut symmetric = SymmetricState::new(PROTOCOL_NAME.as_bytes());
        symmetric.mix_hash(prologue);
        Self {
            symmetric,
            local_static: identity.clone(),
            local_ephemeral,
            local_ephemeral_public,
        }
    }

    fn random_ephemeral() -> [u8; KEY_LEN] {
        let mut bytes = [0u8; KEY_LEN];
        OsRng.fill_bytes(&mut bytes);
        bytes
    }

    /// Token `e` when writing.
    fn write_e(&mut self, out: &mut Vec<u8>) {
        let public = *self.local_ephemeral_public.as_bytes();
        out.extend_from_slice(&public);
        self.symmetric.mix_hash(&public);
    }

    /// Token `e` when reading: returns the remote ephemeral key.
    fn read_e(&mut self, bytes: &[u8]) -> PublicKey {
        let mut key = [0u8; KEY_LEN];
        key.copy_from_slice(&bytes[..KEY_LEN]);
        self.symmetric.mix_hash(&key);
        PublicKey::from_bytes(key)
    }

    /// Token `s` when writing (always encrypted in XX, since a key is mixed by then).
    fn write_s(&mut self, out: &mut Vec<u8>) {
        let public = *self.local_static.public_key().as_bytes();
        self.symmetric.encrypt_and_hash(&public, out);
    }

    /// Token `s` when reading: 32 bytes of key plus the 16-byte tag.
    fn read_s(&mut self, bytes: &[u8]) -> Result<PublicKey, HandshakeError> {
        let key = self
            .symmetric
            .decrypt_and_hash(&bytes[..KEY_LEN + TAG_LEN])?;
        let key = PublicKey::from_slice(&key).map_err(|_| HandshakeError::DecryptionFailed)?;
        if !is_canonical(key.as_bytes()) {
            return Err(HandshakeError::NonCanonicalStaticKey);
        }
        Ok(key)
    }

    fn mix_dh_ephemeral(&mut self, remote: &PublicKey) -> Result<(), HandshakeError> {
        let shared = x25519_with(&self.local_ephemeral, remote.as_bytes())?;
        self.symmetric.mix_key(shared.as_ref());
        Ok(())
    }

    fn mix_dh_static(&mut self, remote: &PublicKey) -> Result<(), HandshakeError> {
        let shared = self.local_static.diffie_hellman(remote)?;
        self.symmetric.mix_key(shared.as_ref());
        Ok(())
    }

    fn write_payload(
        &mut self,
        payload: &[u8],
        mut out: Vec<u8>,
    ) -> Result<Vec<u8>, HandshakeError> {
        let tag = if self.symmetric.has_key() { TAG_LEN } else { 0 };
        if out.len() + payload.len() + tag > MAX_MESSAGE_LEN {
            return Err(HandshakeError::MessageTooLarge);
        }
        self.symmetric.encrypt_and_hash(payload, &mut out);
        Ok(out)
    }
}

/// Whether `key`, little-endian, is below 2^255 − 19 (the field prime), i.e. the one encoding of
/// its point. Public keys computed by X25519 always are; only a hand-made key is not.
fn is_canonical(key: &[u8; KEY_LEN]) -> bool {
    // Compare from the most significant byte: p = 0x7fff…ffed.
    const P: [u8; KEY_LEN] = {
        let mut p = [0xff; KEY_LEN];
        p[0] = 0xed;
        p[KEY_LEN - 1] = 0x7f;
        p
    };
    for i in (0..KEY_LEN).rev() {
        if key[i] != P[i] {
            return key[i] < P[i];
        }
    }
    false
}

fn check_len(step: u8, message: &[u8], min: usize) -> Result<(), HandshakeError> {
    if message.len() > MAX_MESSAGE_LEN {
        return Err(HandshakeError::MessageTooLarge);
    }
    if message.len() < min {
        return Err(HandshakeError::TooShort {
            step,
            min,
            got: message.len(),
        });
    }
    Ok(())
}

/// The side that opened the connection, before sending message 1.
pub struct InitiatorStart(Core);

/// The initiator after sending `-> e`, waiting for message 2.
pub struct InitiatorAwaitMessage2(Core);

/// The initiator after reading `<- e, ee, s, es`; knows the responder's static key.
pub struct InitiatorSendMessage3 {
    core: Core,
    remote_ephemeral: PublicKey,
    remote_static: PublicKey,
}

/// The side that accepted the connection, waiting for message 1.
pub struct ResponderStart {
    core: Core,
    /// False for p2p-chat (message 1's payload must be empty, PROTOCOL.md §3); true for the
    /// published Noise vectors, which put payloads in every message.
    message_1_payload_allowed: bool,
}

/// The responder after reading `-> e`, about to send message 2.
pub struct ResponderSendMessage2 {
    core: Core,
    remote_ephemeral: PublicKey,
}

/// The responder after sending `<- e, ee, s, es`, waiting for message 3.
pub struct ResponderAwaitMessage3(Core);

impl InitiatorStart {
    /// A p2p-chat initiator: prologue `p2p-chat/1`, a fresh random ephemeral key.
    pub fn new(identity: &Identity) -> Self {
        Self(Core::new(identity, PROLOGUE, Core::random_ephemeral()))
    }

    /// For known-answer tests only: a chosen prologue and a fixed ephemeral secret. A fixed
    /// ephemeral key destroys forward secrecy; never use this for a real session.
    pub fn new_with_fixed_ephemeral_for_test_vectors_only(
        identity: &Identity,
        prologue: &[u8],
        ephemeral_secret: [u8; KEY_LEN],
    ) -> Self {
        Self(Core::new(identity, prologue, ephemeral_secret))
    }

    /// Writes message 1 (`-> e`, then the payload in clear — nothing is secret yet).
    pub fn write_message_1(
        mut self,
        payload: &[u8],
    ) -> Result<(InitiatorAwaitMessage2, Vec<u8>), HandshakeError> {
        let mut out = Vec::with_capacity(KEY_LEN + payload.len());
        self.0.write_e(&mut out);
        let out = self.0.write_payload(payload, out)?;
        Ok((InitiatorAwaitMessage2(self.0), out))
    }
}

impl InitiatorAwaitMessage2 {
    /// Reads message 2 (`<- e, ee, s, es`); returns the responder's decrypted payload.
    pub fn read_message_2(
        mut self,
        message: &[u8],
    ) -> Result<(InitiatorSendMessage3, Vec<u8>), HandshakeError> {
        check_len(2, message, KEY_LEN + KEY_LEN + TAG_LEN + TAG_LEN)?;
        let remote_ephemeral = self.0.read_e(message);
        self.0.mix_dh_ephemeral(&remote_ephemeral)?;
        let remote_static = self.0.read_s(&message[KEY_LEN..])?;
        self.0.mix_dh_ephemeral(&remote_static)?;
        let payload = self
            .0
            .symmetric
            .decrypt_and_hash(&message[2 * KEY_LEN + TAG_LEN..])?;
        Ok((
            InitiatorSendMessage3 {
                core: self.0,
                remote_ephemeral,
                remote_static,
            },
            payload,
        ))
    }
}

impl InitiatorSendMessage3 {
    /// The responder's authenticated static key (its identity), known before we reveal ours.
    pub fn remote_static(&self) -> &PublicKey {
        &self.remote_static
    }

    /// Writes message 3 (`-> s, se`) and finishes: the handshake becomes a [`Transport`].
    pub fn write_message_3(
        mut self,
        payload: &[u8],
    ) -> Result<(Transport, Vec<u8>), HandshakeError> {
        let mut out = Vec::with_capacity(KEY_LEN + 2 * TAG_LEN + payload.len());
        self.core.write_s(&mut out);
        let shared = self
            .core
            .local_static
            .diffie_hellman(&self.remote_ephemeral)?;
        self.core.symmetric.mix_key(shared.as_ref());
        let out = self.core.write_payload(payload, out)?;
        let hash = self.core.symmetric.handshake_hash();
        let (to_responder, to_initiator) = self.core.symmetric.split();
        Ok((
            Transport::new(to_responder, to_initiator, self.remote_static, hash),
            out,
        ))
    }
}

impl ResponderStart {
    /// A p2p-chat responder: prologue `p2p-chat/1`, a fresh random ephemeral key.
    pub fn new(identity: &Identity) -> Self {
        Self {
            core: Core::new(identity, PROLOGUE, Core::random_ephemeral()),
            message_1_payload_allowed: false,
        }
    }

    /// For known-answer tests only; see [`InitiatorStart::new_with_fixed_ephemeral_for_test_vectors_only`].
    pub fn new_with_fixed_ephemeral_for_test_vectors_only(
        identity: &Identity,
        prologue: &[u8],
        ephemeral_secret: [u8; KEY_LEN],
    ) -> Self {
        Self {
            core: Core::new(identity, prologue, ephemeral_secret),
            message_1_payload_allowed: true,
        }
    }

    /// Reads message 1 (`-> e`); returns its clear payload, which for a responder made by
    /// [`ResponderStart::new`] must be empty ([`HandshakeError::UnexpectedPayload`] otherwise).
    pub fn read_message_1(
        mut self,
        message: &[u8],
    ) -> Result<(ResponderSendMessage2, Vec<u8>), HandshakeError> {
        check_len(1, message, KEY_LEN)?;
        if message.len() > KEY_LEN && !self.message_1_payload_allowed {
            return Err(HandshakeError::UnexpectedPayload);
        }
        let remote_ephemeral = self.core.read_e(message);
        let payload = self.core.symmetric.decrypt_and_hash(&message[KEY_LEN..])?;
        Ok((
            ResponderSendMessage2 {
                core: self.core,
                remote_ephemeral,
            },
            payload,
        ))
    }
}

impl ResponderSendMessage2 {
    /// Writes message 2 (`<- e, ee, s, es`). Note that XX reveals our static key to whoever
    /// connected, before they have authenticated.
    pub fn write_message_2(
        mut self,
        payload: &[u8],
    ) -> Result<(ResponderAwaitMessage3, Vec<u8>), HandshakeError> {
        let mut out = Vec::with_capacity(2 * KEY_LEN + 2 * TAG_LEN + payload.len());
        self.core.write_e(&mut out);
        self.core.mix_dh_ephemeral(&self.remote_ephemeral)?;
        self.core.write_s(&mut out);
        self.core.mix_dh_static(&self.remote_ephemeral)?;
        let out = self.core.write_payload(payload, out)?;
        Ok((ResponderAwaitMessage3(self.core), out))
    }
}

impl ResponderAwaitMessage3 {
    /// Reads message 3 (`-> s, se`) and finishes: returns the [`Transport`] (which knows the
    /// initiator's authenticated static key) and the initiator's payload.
    pub fn read_message_3(
        mut self,
        message: &[u8],
    ) -> Result<(Transport, Vec<u8>), HandshakeError> {
        check_len(3, message, KEY_LEN + TAG_LEN + TAG_LEN)?;
        let remote_static = self.0.read_s(message)?;
        self.0.mix_dh_ephemeral(&remote_static)?;
        let payload = self
            .0
            .symmetric
            .decrypt_and_hash(&message[KEY_LEN + TAG_LEN..])?;
        let hash = self.0.symmetric.handshake_hash();
        let (to_responder, to_initiator) = self.0.symmetric.split();
        Ok((
            Transport::new(to_initiator, to_responder, remote_static, hash),
            payload,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> Identity {
        Identity::from_secret_bytes([0x11; 32])
    }

    fn bob() -> Identity {
        Identity::from_secret_bytes([0x22; 32])
    }

    /// Message 3 as an honest initiator would write it, but with `s` replaced by `static_key`
    /// (same secret, so `se` still matches).
    fn message_3_with_static(static_key: [u8; KEY_LEN]) -> Result<Transport, HandshakeError> {
        let (await2, m1) = InitiatorStart::new(&alice()).write_message_1(b"")?;
        let (send2, _) = ResponderStart::new(&bob()).read_message_1(&m1)?;
        let (await3, m2) = send2.write_message_2(b"")?;
        let (mut send3, _) = await2.read_message_2(&m2)?;
        let mut m3 = Vec::new();
        send3.core.symmetric.encrypt_and_hash(&static_key, &mut m3);
        let shared = send3
            .core
            .local_static
            .diffie_hellman(&send3.remote_ephemeral)?;
        send3.core.symmetric.mix_key(shared.as_ref());
        send3.core.symmetric.encrypt_and_hash(b"", &mut m3);
        Ok(await3.read_message_3(&m3)?.0)
    }

    #[test]
    fn a_static_key_with_bit_255_set_is_refused() {
        let honest = *alice().public_key().as_bytes();
        let transport = message_3_with_static(honest).unwrap();
        assert_eq!(transport.remote_static(), alice().public_key());
        // X25519 ignores bit 255: the same secret, a second encoding, a second peer id.
        let mut twin = honest;
        twin[KEY_LEN - 1] |= 0x80;
        assert_eq!(
            message_3_with_static(twin).err(),
            Some(HandshakeError::NonCanonicalStaticKey)
        );
    }

    #[test]
    fn canonical_means_below_the_field_prime() {
        let mut p = [0xff; KEY_LEN];
        p[0] = 0xed;
        p[KEY_LEN - 1] = 0x7f;
        assert!(!is_canonical(&p));
        let mut below = p;
        below[0] = 0xec;
        assert!(is_canonical(&below));
        let mut above = p;
        above[0] = 0xee;
        assert!(!is_canonical(&above));
        assert!(is_canonical(&[0; KEY_LEN]));
        assert!(!is_canonical(&[0xff; KEY_LEN]));
        assert!(is_canonical(alice().public_key().as_bytes()));
    }

    #[test]
    fn message_1_must_have_an_empty_payload() {
        let (_, m1) = InitiatorStart::new(&alice())
            .write_message_1(b"hello")
            .unwrap();
        assert_eq!(
            ResponderStart::new(&bob()).read_message_1(&m1).err(),
            Some(HandshakeError::UnexpectedPayload)
        );
        // The published vectors' responders still accept one.
        let (_, payload) = ResponderStart::new_with_fixed_ephemeral_for_test_vectors_only(
            &bob(),
            PROLOGUE,
            [7; 32],
        )
        .read_message_1(&m1)
        .unwrap();
        assert_eq!(payload, b"hello");
    }
}
