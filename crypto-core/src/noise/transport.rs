//! The two CipherStates returned by `Split()`, with p2p-chat's transport rules (PROTOCOL.md §4):
//! every frame carries its 12-byte nonce, and a receiver accepts exactly the next counter, so a
//! replayed, dropped or reordered frame is an error that ends the session.

use alloc::string::String;
use alloc::vec::Vec;

use super::cipherstate::{CipherError, CipherState};
use super::MAX_PLAINTEXT_LEN;
use crate::encoding;
use crate::keys::PublicKey;
use crate::primitives::NONCE_LEN;
use crate::text::{write_parts, Decimal};
use crate::wire::{DataFrameRef, Frame, BINARY_FRAME_HEADER, BINARY_FRAME_MARK};

/// Why sealing or opening a transport message failed. Every variant on the receiving side ends
/// the session.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportError {
    /// Authentication failed: tampered ciphertext or a different key.
    DecryptionFailed,
    /// The frame's nonce is not the next counter (replayed, dropped or reordered frame).
    WrongNonce {
        /// The counter this side expects next.
        expected: u64,
        /// The counter the frame carried, if it was a well-formed nonce at all.
        got: Option<u64>,
    },
    /// The counter reached 2^64 − 1, which Noise reserves.
    NonceExhausted,
    /// The plaintext exceeds 65,519 bytes (or the ciphertext 65,535).
    MessageTooLarge {
        /// Offending length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The nonce or ciphertext field is not valid base64.
    BadBase64,
}

// Display by hand rather than thiserror's `write!`: see `crate::text`.
impl core::fmt::Display for TransportError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::DecryptionFailed => f.write_str("transport decryption failed"),
            Self::WrongNonce { expected, .. } => write_parts(
                f,
                &[
                    "wrong nonce: expected counter ",
                    Decimal::new(*expected).as_str(),
                ],
            ),
            Self::NonceExhausted => f.write_str("nonce counter exhausted"),
            Self::MessageTooLarge { len, max } => write_parts(
                f,
                &[
                    "message too large: ",
                    Decimal::of_usize(*len).as_str(),
                    " bytes (max ",
                    Decimal::of_usize(*max).as_str(),
                    ")",
                ],
            ),
            Self::BadBase64 => f.write_str("bad base64 in data frame"),
        }
    }
}

impl core::error::Error for TransportError {}

impl From<super::cipherstate::NonceExhausted> for TransportError {
    fn from(_: super::cipherstate::NonceExhausted) -> Self {
        Self::NonceExhausted
    }
}

impl From<CipherError> for TransportError {
    fn from(error: CipherError) -> Self {
        match error {
            CipherError::DecryptionFailed => Self::DecryptionFailed,
            CipherError::NonceExhausted => Self::NonceExhausted,
        }
    }
}

/// A sealed transport message: the nonce that was used and `ciphertext || tag`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedMessage {
    /// 4 zero bytes, then the 64-bit big-endian counter.
    pub nonce: [u8; NONCE_LEN],
    /// AES-256-GCM ciphertext followed by the 16-byte tag.
    pub ciphertext: Vec<u8>,
}

/// The sending half of a session, owned by the connection's writer.
pub struct TransportSender {
    cipher: CipherState,
}

/// The receiving half of a session, owned by the connection's reader.
pub struct TransportReceiver {
    cipher: CipherState,
}

/// An established session: both directions, the remote's authenticated static key and the
/// handshake hash.
pub struct Transport {
    sender: TransportSender,
    receiver: TransportReceiver,
    remote_static: PublicKey,
    handshake_hash: [u8; 32],
}

impl Transport {
    pub(crate) fn new(
        send: CipherState,
        receive: CipherState,
        remote_static: PublicKey,
        handshake_hash: [u8; 32],
    ) -> Self {
        Self {
            sender: TransportSender { cipher: send },
            receiver: TransportReceiver { cipher: receive },
            remote_static,
            handshake_hash,
        }
    }

    /// The remote's static key, authenticated by the handshake.
    pub fn remote_static(&self) -> &PublicKey {
        &self.remote_static
    }

    /// The final handshake hash `h`; equal on both sides of an honest session.
    pub fn handshake_hash(&self) -> &[u8; 32] {
        &self.handshake_hash
    }

    /// Seals one message (see [`TransportSender::seal`]).
    pub fn seal(&mut self, plaintext: &[u8]) -> Result<SealedMessage, TransportError> {
        self.sender.seal(plaintext)
    }

    /// Seals one message as a complete line (see [`TransportSender::seal_to_line`]).
    pub fn seal_to_line(
        &mut self,
        plaintext: &[u8],
        line: &mut String,
    ) -> Result<(), TransportError> {
        self.sender.seal_to_line(plaintext, line)
    }

    /// Opens a parsed `data` frame (see [`TransportReceiver::open_frame`]).
    pub fn open_frame(&mut self, frame: &DataFrameRef<'_>) -> Result<Vec<u8>, TransportError> {
        self.receiver.open_frame(frame)
    }

    /// Opens a binary frame's ciphertext (see [`TransportReceiver::open_binary`]).
    pub fn open_binary(&mut self, ciphertext: &[u8]) -> Result<Vec<u8>, TransportError> {
        self.receiver.open_binary(ciphertext)
    }

    /// Opens one message (see [`TransportReceiver::open`]).
    pub fn open(&mut self, nonce: &[u8], ciphertext: &[u8]) -> Result<Vec<u8>, TransportError> {
        self.receiver.open(nonce, ciphertext)
    }

    /// Separates the directions so a reader task and a writer task can each own one.
    pub fn into_halves(self) -> (TransportSender, TransportReceiver) {
        (self.sender, self.receiver)
    }
}

/// A plaintext must fit one Noise message with its tag.
fn check_plaintext_len(plaintext: &[u8]) -> Result<(), TransportError> {
    if plaintext.len() > MAX_PLAINTEXT_LEN {
        return Err(TransportError::MessageTooLarge {
            len: plaintext.len(),
            max: MAX_PLAINTEXT_LEN,
        });
    }
    Ok(())
}

impl TransportSender {
    /// Encrypts with the next counter.
    pub fn seal(&mut self, plaintext: &[u8]) -> Result<SealedMessage, TransportError> {
        check_plaintext_len(plaintext)?;
        let mut ciphertext = Vec::with_capacity(plaintext.len() + crate::primitives::TAG_LEN);
        ciphertext.extend_from_slice(plaintext);
        let nonce = self.cipher.encrypt_in_place(&[], &mut ciphertext)?;
        Ok(SealedMessage { nonce, ciphertext })
    }

    /// Seals and appends one complete `data` frame line (JSON + `\n`) to `line`: the hot path of
    /// the peer's writer, with no intermediate allocations beyond `line` itself.
    pub fn seal_to_line(
        &mut self,
        plaintext: &[u8],
        line: &mut String,
    ) -> Result<(), TransportError> {
        let sealed = self.seal(plaintext)?;
        line.push_str("{\"type\":\"data\",\"nonce\":\"");
        encoding::to_base64_into(&sealed.nonce, line);
        line.push_str("\",\"ciphertext\":\"");
        encoding::to_base64_into(&sealed.ciphertext, line);
        line.push_str("\"}\n");
        Ok(())
    }

    /// Seals and appends one binary `data` frame (PROTOCOL.md §4.1) to `out`: the mark, the
    /// ciphertext's length as 16 bits big-endian, then `ciphertext || tag`. No text encoding,
    /// so bulk payloads (file chunks) cost only the cipher; the nonce is implicit, being the
    /// next counter, which is the only one a receiver accepts anyway.
    pub fn seal_to_binary(
        &mut self,
        plaintext: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), TransportError> {
        check_plaintext_len(plaintext)?;
        // Sealed where it is sent from: no intermediate buffer, one copy of the plaintext.
        let frame_start = out.len();
        out.reserve(BINARY_FRAME_HEADER + plaintext.len() + crate::primitives::TAG_LEN);
        out.push(BINARY_FRAME_MARK);
        out.extend_from_slice(&[0, 0]);
        let body = out.len();
        out.extend_from_slice(plaintext);
        if let Err(e) = self.cipher.encrypt_tail_in_place(&[], out, body) {
            out.truncate(frame_start);
            return Err(e.into());
        }
        // The length of what was sealed, tag included (at most 65,535: checked above).
        let len = u16::try_from(out.len() - body).unwrap_or(u16::MAX);
        out[frame_start + 1..body].copy_from_slice(&len.to_be_bytes());
        Ok(())
    }

    /// Seals into a [`Frame::Data`] value.
    pub fn seal_frame(&mut self, plaintext: &[u8]) -> Result<Frame<'static>, TransportError> {
        let sealed = self.seal(plaintext)?;
        Ok(Frame::Data {
            nonce: encoding::to_base64(&sealed.nonce).into(),
            ciphertext: encoding::to_base64(&sealed.ciphertext).into(),
        })
    }

    /// The counter the next message will use.
    pub fn counter(&self) -> u64 {
        self.cipher.counter()
    }
}

impl TransportReceiver {
    /// Decrypts a message whose nonce must be exactly the next counter. Nothing advances on
    /// failure.
    pub fn open(&mut self, nonce: &[u8], ciphertext: &[u8]) -> Result<Vec<u8>, TransportError> {
        self.check_nonce(nonce)?;
        self.open_checked(ciphertext.to_vec())
    }

    /// Decodes and opens a parsed `data` frame. The nonce is checked before the ciphertext is
    /// even decoded, so replays are rejected cheaply.
    pub fn open_frame(&mut self, frame: &DataFrameRef<'_>) -> Result<Vec<u8>, TransportError> {
        let nonce = encoding::from_base64(frame.nonce).map_err(|_| TransportError::BadBase64)?;
        self.check_nonce(&nonce)?;
        let mut buffer = Vec::with_capacity(frame.ciphertext.len() / 4 * 3);
        encoding::from_base64_into(frame.ciphertext.as_bytes(), &mut buffer)
            .map_err(|_| TransportError::BadBase64)?;
        self.open_checked(buffer)
    }

    /// Opens the `ciphertext || tag` of a binary `data` frame (PROTOCOL.md §4.1), whose nonce
    /// is implicitly the next counter.
    pub fn open_binary(&mut self, ciphertext: &[u8]) -> Result<Vec<u8>, TransportError> {
        self.open_checked(ciphertext.to_vec())
    }

    /// Opens like [`TransportReceiver::open_binary`], decrypting in `buffer` (cleared first)
    /// rather than in a new allocation: a caller that recycles its buffers keeps their pages.
    pub fn open_binary_in(
        &mut self,
        ciphertext: &[u8],
        mut buffer: Vec<u8>,
    ) -> Result<Vec<u8>, TransportError> {
        buffer.clear();
        buffer.extend_from_slice(ciphertext);
        self.open_checked(buffer)
    }

    fn open_checked(&mut self, mut buffer: Vec<u8>) -> Result<Vec<u8>, TransportError> {
        if buffer.len() > super::MAX_MESSAGE_LEN {
            return Err(TransportError::MessageTooLarge {
                len: buffer.len(),
                max: super::MAX_MESSAGE_LEN,
            });
        }
        self.cipher.decrypt_in_place(&[], &mut buffer)?;
        Ok(buffer)
    }

    /// The counter the next accepted message must carry.
    pub fn counter(&self) -> u64 {
        self.cipher.counter()
    }

    fn check_nonce(&self, nonce: &[u8]) -> Result<(), TransportError> {
        let expected = self.cipher.counter();
        let got = <[u8; NONCE_LEN]>::try_from(nonce)
            .ok()
            .filter(|n| n[..4] == [0, 0, 0, 0])
            .map(|n| {
                let mut counter = [0u8; 8];
                counter.copy_from_slice(&n[4..]);
                u64::from_be_bytes(counter)
            });
        if got != Some(expected) {
            return Err(TransportError::WrongNonce { expected, got });
        }
        Ok(())
    }
}

#[cfg(test)]
impl TransportSender {
    pub(crate) fn set_counter_for_tests(&mut self, counter: u64) {
        self.cipher.set_counter_for_tests(counter);
    }
}

#[cfg(test)]
impl TransportReceiver {
    pub(crate) fn set_counter_for_tests(&mut self, counter: u64) {
        self.cipher.set_counter_for_tests(counter);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::noise::{InitiatorStart, ResponderStart};
    use crate::Identity;

    fn session() -> (Transport, Transport) {
        let (await2, m1) = InitiatorStart::new(&Identity::generate())
            .write_message_1(b"")
            .unwrap();
        let (send2, _) = ResponderStart::new(&Identity::generate())
            .read_message_1(&m1)
            .unwrap();
        let (await3, m2) = send2.write_message_2(b"").unwrap();
        let (send3, _) = await2.read_message_2(&m2).unwrap();
        let (initiator, m3) = send3.write_message_3(b"").unwrap();
        let (responder, _) = await3.read_message_3(&m3).unwrap();
        (initiator, responder)
    }

    /// Counter 2^64 − 1 is reserved: the last usable counter is 2^64 − 2, after which both the
    /// sender and the receiver refuse, and nothing advances.
    #[test]
    fn the_max_nonce_is_reserved_on_both_sides() {
        let (initiator, responder) = session();
        let (mut sender, _) = initiator.into_halves();
        let (_, mut receiver) = responder.into_halves();
        sender.set_counter_for_tests(u64::MAX - 1);
        receiver.set_counter_for_tests(u64::MAX - 1);

        let last = sender.seal(b"last").unwrap();
        assert_eq!(
            last.nonce,
            [0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe]
        );
        assert_eq!(
            receiver.open(&last.nonce, &last.ciphertext).unwrap(),
            b"last"
        );
        assert_eq!(sender.counter(), u64::MAX);
        assert_eq!(receiver.counter(), u64::MAX);

        assert_eq!(
            sender.seal(b"one more"),
            Err(TransportError::NonceExhausted)
        );
        let mut line = String::new();
        assert_eq!(
            sender.seal_to_line(b"x", &mut line),
            Err(TransportError::NonceExhausted)
        );
        assert!(line.is_empty());
        assert_eq!(sender.counter(), u64::MAX);

        // A frame claiming the reserved counter is refused before any decryption.
        let max_nonce = [0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
        assert_eq!(
            receiver.open(&max_nonce, &last.ciphertext),
            Err(TransportError::NonceExhausted)
        );
        assert_eq!(receiver.counter(), u64::MAX);
    }

    /// A binary frame is the mark, the length and `ciphertext || tag`, and shares the counter
    /// with line frames: a session may mix them, and each is opened only as the next one.
    #[test]
    fn binary_frames_share_the_counter_with_lines() {
        let (initiator, responder) = session();
        let (mut sender, _) = initiator.into_halves();
        let (_, mut receiver) = responder.into_halves();

        let mut out = Vec::new();
        sender.seal_to_binary(b"first\n\x00", &mut out).unwrap();
        assert_eq!(out[0], BINARY_FRAME_MARK);
        let len = usize::from(u16::from_be_bytes([out[1], out[2]]));
        assert_eq!(len, 7 + crate::primitives::TAG_LEN);
        assert_eq!(out.len(), BINARY_FRAME_HEADER + len);
        assert_eq!(
            receiver.open_binary(&out[BINARY_FRAME_HEADER..]).unwrap(),
            b"first\n\x00"
        );

        let mut line = String::new();
        sender.seal_to_line(b"second", &mut line).unwrap();
        let frame = Frame::parse(line.trim_end().as_bytes()).unwrap();
        assert_eq!(
            receiver.open_frame(&frame.as_data().unwrap()).unwrap(),
            b"second"
        );

        // A replayed binary frame is opened with the next counter, so it fails to decrypt and
        // nothing advances.
        assert_eq!(
            receiver.open_binary(&out[BINARY_FRAME_HEADER..]),
            Err(TransportError::DecryptionFailed)
        );
        assert_eq!(receiver.counter(), 2);

        let mut third = Vec::new();
        sender.seal_to_binary(b"third", &mut third).unwrap();
        let mut tampered = third.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert_eq!(
            receiver.open_binary(&tampered[BINARY_FRAME_HEADER..]),
            Err(TransportError::DecryptionFailed)
        );
        assert_eq!(
            receiver.open_binary(&third[BINARY_FRAME_HEADER..5]),
            Err(TransportError::DecryptionFailed),
            "shorter than a tag"
        );
        assert_eq!(
            receiver.open_binary(&third[BINARY_FRAME_HEADER..]).unwrap(),
            b"third"
        );

        // Appended after what `out` already holds (the writer batches frames), which stays.
        let mut batch = Vec::from(&b"earlier frames"[..]);
        sender.seal_to_binary(b"fourth", &mut batch).unwrap();
        let fourth = batch.split_off(b"earlier frames".len());
        assert_eq!(batch, b"earlier frames");
        // Opened in a recycled buffer: its old contents go, its allocation stays.
        let recycled = Vec::from(&b"old bytes, longer than the message"[..]);
        let at = recycled.as_ptr();
        let opened = receiver
            .open_binary_in(&fourth[BINARY_FRAME_HEADER..], recycled)
            .unwrap();
        assert_eq!(opened, b"fourth");
        assert_eq!(opened.as_ptr(), at);
    }

    #[test]
    fn a_binary_frame_holds_the_largest_plaintext_and_no_more() {
        let (initiator, _) = session();
        let (mut sender, _) = initiator.into_halves();
        let mut out = Vec::new();
        sender
            .seal_to_binary(&alloc::vec![7u8; MAX_PLAINTEXT_LEN], &mut out)
            .unwrap();
        assert_eq!(&out[1..3], &[0xff, 0xff]);
        let mut more = Vec::new();
        assert!(matches!(
            sender.seal_to_binary(&alloc::vec![7u8; MAX_PLAINTEXT_LEN + 1], &mut more),
            Err(TransportError::MessageTooLarge { .. })
        ));
        assert!(more.is_empty());
    }
}
