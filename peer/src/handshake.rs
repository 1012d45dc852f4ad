//! Drives crypto-core's typed Noise XX states over a framed connection (PROTOCOL.md §3).
//!
//! The caller wraps [`initiate`] / [`respond`] in the 10-second deadline; these functions only
//! move frames. Any violation — wrong step, a data frame, bad base64, a message that does not
//! decrypt — is an error and the connection is dropped by the caller.

use crypto_core::noise::{InitiatorStart, ResponderStart};
use crypto_core::wire::{clean_name, Frame, FrameError, Hello};
use crypto_core::{encoding, HandshakeError, Identity, PublicKey, Transport};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use crate::framing::{LineError, LineReader};

/// A finished handshake.
pub struct Established {
    /// Both cipher directions and the remote's authenticated static key.
    pub transport: Transport,
    /// The remote's hello (name, listen port, agent); defaults if it sent none or garbage.
    pub hello: Hello,
}

impl Established {
    /// The remote's static key.
    pub fn remote(&self) -> PublicKey {
        *self.transport.remote_static()
    }
}

/// Why a handshake failed. The message is what gets logged as the close reason.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeFailure {
    /// The line layer failed (oversize line, socket error, truncated line).
    #[error("{0}")]
    Line(#[from] LineError),
    /// The other side closed before the handshake finished.
    #[error("connection closed during the handshake")]
    Closed,
    /// Not a frame.
    #[error("{0}")]
    Frame(#[from] FrameError),
    /// A data frame before the handshake finished.
    #[error("data frame before the handshake finished")]
    DataBeforeHandshake,
    /// A handshake frame with the wrong step.
    #[error("handshake step {got} out of order (expected {expected})")]
    UnexpectedStep {
        /// Step this side waited for.
        expected: u8,
        /// Step received.
        got: u8,
    },
    /// The `message` field is not valid base64.
    #[error("bad base64 in handshake message")]
    BadBase64,
    /// Noise rejected a message.
    #[error("{0}")]
    Noise(#[from] HandshakeError),
    /// Socket write error.
    #[error("write error: {0}")]
    Write(std::io::Error),
    /// The dial expected another key; message 3 was not written (PROTOCOL.md §3).
    #[error("another key answered: expected {expected}, got {got}")]
    UnexpectedKey {
        /// The key the dial expected.
        expected: Box<PublicKey>,
        /// The key that answered in message 2 (authenticated).
        got: Box<PublicKey>,
        /// The name that key announced in message 2.
        name: String,
    },
    /// The deadline passed.
    #[error("handshake not finished within {0} ms")]
    Timeout(u128),
    /// The other side of a punched connection is not the key it was opened for (PROTOCOL.md
    /// §7.2).
    #[error("not the introduced key")]
    NotIntroduced,
}

async fn send_step<W: AsyncWrite + Unpin>(
    writer: &mut W,
    step: u8,
    message: &[u8],
) -> Result<(), HandshakeFailure> {
    let line = Frame::handshake(step, message).to_line();
    writer
        .write_all(&line)
        .await
        .map_err(HandshakeFailure::Write)?;
    writer.flush().await.map_err(HandshakeFailure::Write)
}

async fn read_step<R: AsyncRead + Unpin>(
    reader: &mut LineReader<R>,
    expected: u8,
) -> Result<Vec<u8>, HandshakeFailure> {
    let line = reader.next_line().await?.ok_or(HandshakeFailure::Closed)?;
    match Frame::parse(line)? {
        Frame::Handshake { step, message } if step == expected => {
            encoding::from_base64(&message).map_err(|_| HandshakeFailure::BadBase64)
        }
        Frame::Handshake { step, .. } => Err(HandshakeFailure::UnexpectedStep {
            expected,
            got: step,
        }),
        Frame::Data { .. } => Err(HandshakeFailure::DataBeforeHandshake),
    }
}

/// A hello from an authenticated payload; a malformed one is logged and replaced by defaults
/// (it is authenticated, so it is not an attack on the session).
fn parse_hello(payload: &[u8]) -> Hello {
    if payload.is_empty() {
        return Hello::parse(b"{}").unwrap_or_else(|_| empty_hello());
    }
    Hello::parse(payload).unwrap_or_else(|e| {
        tracing::debug!("ignoring malformed hello: {e}");
        empty_hello()
    })
}

fn empty_hello() -> Hello {
    Hello {
        name: String::new(),
        listen_port: 0,
        agent: String::new(),
        binary_frames: false,
    }
}

/// Runs the initiator side: message 1 out, 2 in, 3 out. With `expected`, a responder whose
/// static key (learnt from message 2) is another fails with
/// [`HandshakeFailure::UnexpectedKey`] before message 3 — which carries our static key and
/// hello — is written.
pub async fn initiate<R, W>(
    reader: &mut LineReader<R>,
    writer: &mut W,
    identity: &Identity,
    hello: &Hello,
    expected: Option<&PublicKey>,
) -> Result<Established, HandshakeFailure>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let (await2, message1) = InitiatorStart::new(identity).write_message_1(&[])?;
    send_step(writer, 1, &message1).await?;
    let message2 = read_step(reader, 2).await?;
    let (send3, payload) = await2.read_message_2(&message2)?;
    let remote_hello = parse_hello(&payload);
    if let Some(expected) = expected {
        if send3.remote_static() != expected {
            return Err(HandshakeFailure::UnexpectedKey {
                expected: Box::new(*expected),
                got: Box::new(*send3.remote_static()),
                name: clean_name(&remote_hello.name),
            });
        }
    }
    let (transport, message3) = send3.write_message_3(&hello.to_bytes())?;
    send_step(writer, 3, &message3).await?;
    Ok(Established {
        transport,
        hello: remote_hello,
    })
}

/// Runs the responder side: message 1 in, 2 out, 3 in.
pub async fn respond<R, W>(
    reader: &mut LineReader<R>,
    writer: &mut W,
    identity: &Identity,
    hello: &Hello,
) -> Result<Established, HandshakeFailure>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let message1 = read_step(reader, 1).await?;
    let (send2, _payload) = ResponderStart::new(identity).read_message_1(&message1)?;
    let (await3, message2) = send2.write_message_2(&hello.to_bytes())?;
    send_step(writer, 2, &message2).await?;
    let message3 = read_step(reader, 3).await?;
    let (transport, payload) = await3.read_message_3(&message3)?;
    Ok(Established {
        transport,
        hello: parse_hello(&payload),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Both halves of one side of a fresh in-memory session.
    pub(crate) fn transport_pair() -> (crypto_core::TransportSender, crypto_core::TransportReceiver)
    {
        let a = Identity::generate();
        let b = Identity::generate();
        let (i1, m1) = InitiatorStart::new(&a).write_message_1(&[]).unwrap();
        let (r1, _) = ResponderStart::new(&b).read_message_1(&m1).unwrap();
        let (r2, m2) = r1.write_message_2(&[]).unwrap();
        let (i2, _) = i1.read_message_2(&m2).unwrap();
        let (t, m3) = i2.write_message_3(&[]).unwrap();
        let _ = r2.read_message_3(&m3).unwrap();
        t.into_halves()
    }

    fn hello(name: &str) -> Hello {
        Hello {
            name: name.into(),
            listen_port: 7,
            agent: crypto_core::wire::AGENT.into(),
            binary_frames: false,
        }
    }

    #[tokio::test]
    async fn both_sides_agree_over_a_duplex_pipe() {
        let (a, b) = tokio::io::duplex(4096);
        let (ar, mut aw) = tokio::io::split(a);
        let (br, mut bw) = tokio::io::split(b);
        let alice = Identity::generate();
        let bob = Identity::generate();
        let (alice_pub, bob_pub) = (*alice.public_key(), *bob.public_key());
        let i = tokio::spawn(async move {
            initiate(
                &mut LineReader::new(ar),
                &mut aw,
                &alice,
                &hello("alice"),
                None,
            )
            .await
        });
        let r = tokio::spawn(async move {
            respond(&mut LineReader::new(br), &mut bw, &bob, &hello("bob")).await
        });
        let (i, r) = (i.await.unwrap().unwrap(), r.await.unwrap().unwrap());
        assert_eq!(i.remote(), bob_pub);
        assert_eq!(r.remote(), alice_pub);
        assert_eq!(i.hello.name, "bob");
        assert_eq!(r.hello.name, "alice");
        assert_eq!(i.transport.handshake_hash(), r.transport.handshake_hash());
    }

    #[tokio::test]
    async fn data_before_handshake_is_rejected() {
        let input: &[u8] =
            b"{\"type\":\"data\",\"nonce\":\"AAAAAAAAAAAAAAAA\",\"ciphertext\":\"\"}\n";
        let mut sink = Vec::new();
        let err = respond(
            &mut LineReader::new(input),
            &mut sink,
            &Identity::generate(),
            &hello("x"),
        )
        .await
        .err()
        .unwrap();
        assert!(matches!(err, HandshakeFailure::DataBeforeHandshake));
    }
}
