//! All of p2p-chat's cryptography, and nothing else.
//!
//! This crate is compiled twice: natively into the peer and to WebAssembly for the page, so that
//! the browser computes fingerprints, safety numbers and test vectors itself instead of trusting
//! the daemon. It is sans-IO: no sockets, tasks, clocks or files — bytes in, bytes out.
//!
//! * [`keys`] — static identity keys and public keys (base64 on the wire).
//! * [`fingerprint`] — the human-comparable fingerprint of one key and the safety number of a pair.
//! * [`noise`] — `Noise_XX_25519_AESGCM_SHA256` as typed state machines, ending in a [`noise::Transport`].
//! * [`introduce`] — the tag an introduction names the key it wants by, instead of the key.
//! * [`wire`] — the JSON frames and payloads peers exchange (one definition for every crate).
//! * [`merkle`] — the Merkle tree over a file's chunks that lets a receiver check each chunk.
//! * [`primitives`] — thin wrappers over the RustCrypto/dalek primitives, the only place they are called.
//! * [`vectors`] / [`selftest`] — known-answer runners shared by tests, the CLI and the page.
#![no_std]
#![forbid(unsafe_code)]
#![warn(
    missing_docs,
    clippy::std_instead_of_core,
    clippy::alloc_instead_of_core
)]

extern crate alloc;

pub mod encoding;
pub mod fingerprint;
pub mod introduce;
pub mod json;
pub mod keys;
pub mod merkle;
pub mod noise;
pub mod parity;
pub mod primitives;
pub mod selftest;
mod text;
pub mod vectors;
pub mod wire;

pub use fingerprint::{fingerprint, safety_number};
pub use keys::{Identity, KeyError, PublicKey};
pub use noise::{HandshakeError, Transport, TransportError, TransportReceiver, TransportSender};
