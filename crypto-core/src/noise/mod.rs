//! `Noise_XX_25519_AESGCM_SHA256` (Noise Protocol Framework, revision 34) as typed, sans-IO
//! state machines.
//!
//! Files follow the spec's objects: [`cipherstate`] (§5.1), [`symmetricstate`] (§5.2),
//! [`handshake`] (§5.3, specialised to the XX pattern of §7.5) and [`transport`] (what `Split()`
//! returns, plus p2p-chat's strict next-counter rule). Each handshake step consumes its state and
//! returns the next one, so a half-finished handshake cannot be used for traffic and steps cannot
//! be taken out of order.
//!
//! ```text
//! XX:
//!   -> e
//!   <- e, ee, s, es
//!   -> s, se
//! ```

pub mod cipherstate;
pub mod handshake;
pub mod symmetricstate;
pub mod transport;

pub use handshake::{
    HandshakeError, InitiatorAwaitMessage2, InitiatorSendMessage3, InitiatorStart,
    ResponderAwaitMessage3, ResponderSendMessage2, ResponderStart,
};
pub use transport::{SealedMessage, Transport, TransportError, TransportReceiver, TransportSender};

/// The full protocol name, hashed into the initial handshake state.
pub const PROTOCOL_NAME: &str = "Noise_XX_25519_AESGCM_SHA256";

/// p2p-chat's prologue: both sides must use it, or the handshake fails.
pub const PROLOGUE: &[u8] = b"p2p-chat/1";

/// Noise's maximum message length (§3).
pub const MAX_MESSAGE_LEN: usize = 65_535;

/// The largest transport plaintext: the maximum message minus the 16-byte tag.
pub const MAX_PLAINTEXT_LEN: usize = MAX_MESSAGE_LEN - crate::primitives::TAG_LEN;
