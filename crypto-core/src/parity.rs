//! Deterministic outputs that the native build and the wasm build must reproduce byte for byte:
//! fingerprints, safety numbers and a full Noise transcript for fixed keys. `p2p-chat vectors`
//! writes [`parity_report`] to a file; the node tests compare the wasm build's output with it.

use alloc::string::String;
use alloc::vec::Vec;

use crate::encoding::{to_base64, to_hex};
use crate::json::ObjectWriter;
use crate::keys::{Identity, PublicKey};
use crate::noise::{InitiatorStart, ResponderStart, PROLOGUE};
use crate::primitives::sha256;
use crate::text::Decimal;
use crate::wire::{Frame, Hello, Payload};

/// The fingerprint and safety-number vector of PROTOCOL.md §6. The keys are Alice's and Bob's
/// public keys from RFC 7748 §6.1.
pub struct SafetyNumberVector {
    /// First key, base64.
    pub key_a: &'static str,
    /// Second key, base64.
    pub key_b: &'static str,
    /// `fingerprint(key_a)`.
    pub fingerprint_a: &'static str,
    /// `fingerprint(key_b)`.
    pub fingerprint_b: &'static str,
    /// `safety_number(key_a, key_b)` = `safety_number(key_b, key_a)`.
    pub safety_number: &'static str,
}

/// See [`SafetyNumberVector`].
pub const SAFETY_NUMBER_VECTOR: SafetyNumberVector = SafetyNumberVector {
    key_a: "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=",
    key_b: "3p7bfXt9wbTTW2HC7OQ1Nz+DQ8hbeGdNrfx+FG+IK08=",
    fingerprint_a: "49981 80161 59512 42587 45774 20904",
    fingerprint_b: "62737 58485 83238 39271 32535 85718",
    safety_number: "49981 80161 59512 42587 45774 20904 62737 58485 83238 39271 32535 85718",
};

struct Transcript {
    handshake: Vec<String>,
    handshake_hash: String,
    transport: Vec<String>,
}

/// A fixed identity, derived from a label so anyone can regenerate it.
fn fixed_secret(label: &str) -> [u8; 32] {
    sha256(label.as_bytes())
}

/// The parity report as compact JSON (keys in a fixed order).
pub fn parity_report() -> String {
    let identities: Vec<Identity> = (0..4u8)
        .map(|i| {
            let label = crate::text::concat(&["p2p-chat parity key ", Decimal::new(i).as_str()]);
            Identity::from_secret_bytes(fixed_secret(&label))
        })
        .collect();
    let mut out = String::new();
    let mut report = ObjectWriter::new(&mut out);
    report.raw("keys", |out| {
        out.push('[');
        for (i, id) in identities.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            ObjectWriter::new(out)
                .string("public_key", &id.public_key().to_base64())
                .string("fingerprint", &crate::fingerprint(id.public_key()))
                .finish();
        }
        out.push(']');
    });
    report.raw("pairs", |out| {
        out.push('[');
        for (i, a) in identities.iter().enumerate() {
            for (j, b) in identities.iter().enumerate() {
                if i + j > 0 {
                    out.push(',');
                }
                ObjectWriter::new(out)
                    .string("a", &a.public_key().to_base64())
                    .string("b", &b.public_key().to_base64())
                    .string(
                        "safety_number",
                        &crate::safety_number(a.public_key(), b.public_key()),
                    )
                    .finish();
            }
        }
        out.push(']');
    });
    let transcript = transcript(&identities[0], &identities[1]);
    report.raw("transcript", |out| {
        ObjectWriter::new(out)
            .strings("handshake", &transcript.handshake)
            .string("handshake_hash", &transcript.handshake_hash)
            .strings("transport", &transcript.transport)
            .finish();
    });
    report.finish();
    out
}

fn transcript(initiator: &Identity, responder: &Identity) -> Transcript {
    let mut handshake = Vec::new();
    let mut transport = Vec::new();
    let hello = |name: &str| Hello {
        name: name.into(),
        listen_port: 6000,
        agent: "p2p-chat/parity".into(),
        binary_frames: false,
    };
    let mut run = || -> Option<[u8; 32]> {
        let i = InitiatorStart::new_with_fixed_ephemeral_for_test_vectors_only(
            initiator,
            PROLOGUE,
            fixed_secret("parity initiator ephemeral"),
        );
        let r = ResponderStart::new_with_fixed_ephemeral_for_test_vectors_only(
            responder,
            PROLOGUE,
            fixed_secret("parity responder ephemeral"),
        );
        let (i, m1) = i.write_message_1(b"").ok()?;
        let (r, _) = r.read_message_1(&m1).ok()?;
        let (r, m2) = r.write_message_2(&hello("responder").to_bytes()).ok()?;
        let (i, _) = i.read_message_2(&m2).ok()?;
        let (mut it, m3) = i.write_message_3(&hello("initiator").to_bytes()).ok()?;
        let (mut rt, _) = r.read_message_3(&m3).ok()?;
        handshake.extend([to_base64(&m1), to_base64(&m2), to_base64(&m3)]);
        for n in 0..4u64 {
            let chat = Payload::Chat {
                id: crate::text::concat(&["m", Decimal::new(n).as_str()]),
                text: "héllo ✓".into(),
                sent_at: 1_700_000_000_000 + n,
                room: None,
                broadcast: n == 3,
                reply_to: None,
            };
            let (sender, receiver) = if n % 2 == 0 {
                (&mut it, &mut rt)
            } else {
                (&mut rt, &mut it)
            };
            let mut line = String::new();
            sender.seal_to_line(&chat.to_bytes(), &mut line).ok()?;
            let line = line.trim_end_matches('\n');
            // Only frames the other side accepts go into the transcript.
            let frame = Frame::parse(line.as_bytes()).ok()?;
            receiver.open_frame(&frame.as_data()?).ok()?;
            transport.push(line.into());
        }
        Some(*it.handshake_hash())
    };
    let hash = run().map(|h| to_hex(&h)).unwrap_or_default();
    Transcript {
        handshake,
        handshake_hash: hash,
        transport,
    }
}

impl PublicKey {
    /// Convenience for vectors: the key's fingerprint.
    pub fn fingerprint(&self) -> String {
        crate::fingerprint(self)
    }
}
