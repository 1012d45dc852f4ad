//! The load client: a PROTOCOL.md peer built on crypto-core (handshake, sealed chat frames,
//! opened acks), the same frame shapes without encryption for the floor, the floor's minimal
//! server, and snow's in-memory handshake for the handshake baseline. Data frames are binary
//! (PROTOCOL.md §4.1) as between peers of this version, or JSON lines as an earlier version
//! writes them (`--line-frames`); the floor answers each frame in the kind it came in.

use std::net::SocketAddr;

use anyhow::{anyhow, bail, Context, Result};
use crypto_core::noise::InitiatorStart;
use crypto_core::wire::{
    DataFrameRef, Frame, Hello, Payload, AGENT, BINARY_FRAME_HEADER, BINARY_FRAME_MARK,
};
use crypto_core::{encoding, Identity, TransportReceiver, TransportSender};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};

/// Reads one line (without `\n`) into `buf`; Ok(false) on EOF.
pub async fn read_line(reader: &mut BufReader<OwnedReadHalf>, buf: &mut Vec<u8>) -> Result<bool> {
    buf.clear();
    let n = reader.read_until(b'\n', buf).await?;
    if n == 0 {
        return Ok(false);
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
    } else {
        bail!("connection closed mid-line");
    }
    Ok(true)
}

/// A data frame read by [`read_frame`]: a JSON line, or a binary frame's `ciphertext || tag`.
pub enum FrameKind {
    Line,
    Binary,
}

/// Reads the next frame, either kind (PROTOCOL.md §4.1), into `buf` (a line without its `\n`,
/// or a binary frame's ciphertext); `Ok(None)` on EOF.
pub async fn read_frame(
    reader: &mut BufReader<OwnedReadHalf>,
    buf: &mut Vec<u8>,
) -> Result<Option<FrameKind>> {
    let first = match reader.fill_buf().await?.first() {
        None => return Ok(None),
        Some(&b) => b,
    };
    if first != BINARY_FRAME_MARK {
        return Ok(read_line(reader, buf).await?.then_some(FrameKind::Line));
    }
    let mut header = [0u8; BINARY_FRAME_HEADER];
    reader.read_exact(&mut header).await?;
    let len = usize::from(u16::from_be_bytes([header[1], header[2]]));
    buf.clear();
    buf.resize(len, 0);
    reader.read_exact(buf).await?;
    Ok(Some(FrameKind::Binary))
}

/// Seals plaintexts into `data` frames, binary or lines: crypto-core's transport, or the
/// floor's stand-in with identical frame shapes and sizes (plaintext plus a 16-byte all-zero
/// stand-in for the tag; in a line also the 12-byte nonce with the counter, both base64) and no
/// cryptography. `line` is kept between frames, so a line costs no allocation of its own.
pub enum Sealer {
    Noise {
        tx: Box<TransportSender>,
        line: String,
    },
    Plain {
        counter: u64,
        scratch: Vec<u8>,
        line: String,
    },
}

/// Opens received `data` frames (the counterpart of [`Sealer`]).
pub enum Opener {
    Noise(Box<TransportReceiver>),
    Plain { counter: u64 },
}

fn nonce(counter: u64) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[4..].copy_from_slice(&counter.to_be_bytes());
    n
}

impl Sealer {
    pub fn noise(tx: TransportSender) -> Sealer {
        Sealer::Noise {
            tx: Box::new(tx),
            line: String::new(),
        }
    }

    pub fn plain() -> Sealer {
        Sealer::Plain {
            counter: 0,
            scratch: Vec::new(),
            line: String::new(),
        }
    }

    /// Appends one sealed frame to `out`: binary (PROTOCOL.md §4.1) or a JSON line.
    pub fn seal_to(&mut self, plaintext: &[u8], binary: bool, out: &mut Vec<u8>) -> Result<()> {
        match self {
            Sealer::Noise { tx, .. } if binary => tx.seal_to_binary(plaintext, out)?,
            Sealer::Noise { tx, line } => {
                line.clear();
                tx.seal_to_line(plaintext, line)?;
                out.extend_from_slice(line.as_bytes());
            }
            Sealer::Plain {
                counter,
                scratch,
                line,
            } => {
                scratch.clear();
                scratch.extend_from_slice(plaintext);
                scratch.extend_from_slice(&[0u8; 16]);
                if binary {
                    let len = u16::try_from(scratch.len()).context("frame too long")?;
                    out.push(BINARY_FRAME_MARK);
                    out.extend_from_slice(&len.to_be_bytes());
                    out.extend_from_slice(scratch);
                } else {
                    line.clear();
                    line.push_str("{\"type\":\"data\",\"nonce\":\"");
                    encoding::to_base64_into(&nonce(*counter), line);
                    line.push_str("\",\"ciphertext\":\"");
                    encoding::to_base64_into(scratch, line);
                    line.push_str("\"}\n");
                    out.extend_from_slice(line.as_bytes());
                }
                *counter += 1;
            }
        }
        Ok(())
    }
}

impl Opener {
    /// Opens a frame read by [`read_frame`].
    pub fn open_any(&mut self, kind: &FrameKind, buf: &[u8]) -> Result<Vec<u8>> {
        match kind {
            FrameKind::Line => {
                let frame = Frame::parse(buf)?;
                let data = frame.as_data().context("not a data frame")?;
                self.open(&data)
            }
            FrameKind::Binary => match self {
                Opener::Noise(rx) => Ok(rx.open_binary(buf)?),
                Opener::Plain { counter } => {
                    if buf.len() < 16 {
                        bail!("short frame");
                    }
                    *counter += 1;
                    Ok(buf[..buf.len() - 16].to_vec())
                }
            },
        }
    }

    pub fn open(&mut self, frame: &DataFrameRef<'_>) -> Result<Vec<u8>> {
        match self {
            Opener::Noise(rx) => Ok(rx.open_frame(frame)?),
            Opener::Plain { counter } => {
                let n = encoding::from_base64(frame.nonce).map_err(|_| anyhow!("bad nonce"))?;
                if n != nonce(*counter) {
                    bail!("wrong nonce");
                }
                let mut buf = Vec::with_capacity(frame.ciphertext.len() / 4 * 3);
                encoding::from_base64_into(frame.ciphertext.as_bytes(), &mut buf)
                    .map_err(|_| anyhow!("bad base64"))?;
                if buf.len() < 16 {
                    bail!("short frame");
                }
                buf.truncate(buf.len() - 16);
                *counter += 1;
                Ok(buf)
            }
        }
    }
}

/// One connection after the handshake (or a plain one for the floor).
pub struct Conn {
    pub reader: BufReader<OwnedReadHalf>,
    pub writer: OwnedWriteHalf,
    pub sealer: Sealer,
    pub opener: Opener,
    /// Whether this side writes binary data frames (the other side offered them).
    pub binary: bool,
}

async fn write_step(w: &mut OwnedWriteHalf, step: u8, message: &[u8]) -> Result<()> {
    w.write_all(&Frame::handshake(step, message).to_line())
        .await?;
    Ok(())
}

/// TCP connect and the initiator side of Noise XX (PROTOCOL.md §3) with a fresh hello that
/// offers binary frames when `binary` (then both sides write them: the peer always offers).
pub async fn connect_noise(
    addr: SocketAddr,
    identity: &Identity,
    read_capacity: usize,
    binary: bool,
) -> Result<Conn> {
    let stream = TcpStream::connect(addr).await.context("connect")?;
    stream.set_nodelay(true)?;
    let (r, mut w) = stream.into_split();
    let mut reader = BufReader::with_capacity(read_capacity, r);
    let (await2, m1) = InitiatorStart::new(identity).write_message_1(&[])?;
    write_step(&mut w, 1, &m1).await?;
    let mut line = Vec::with_capacity(256);
    if !read_line(&mut reader, &mut line).await? {
        bail!("closed before message 2");
    }
    let m2 = match Frame::parse(&line)? {
        Frame::Handshake { step: 2, message } => {
            encoding::from_base64(&message).map_err(|_| anyhow!("bad base64"))?
        }
        other => bail!("expected handshake step 2, got {other:?}"),
    };
    let (send3, peer_hello) = await2.read_message_2(&m2)?;
    let peer_reads_binary = Hello::parse(&peer_hello).is_ok_and(|h| h.binary_frames);
    // No name: every load client is a new person with a new key, and a shared name would (rightly)
    // look like one contact's key changing — held by trust on first use (PROTOCOL.md §8.1).
    let hello = Hello {
        name: String::new(),
        listen_port: 0,
        agent: AGENT.into(),
        binary_frames: binary,
    };
    let (transport, m3) = send3.write_message_3(&hello.to_bytes())?;
    write_step(&mut w, 3, &m3).await?;
    let (tx, rx) = transport.into_halves();
    Ok(Conn {
        reader,
        writer: w,
        sealer: Sealer::noise(tx),
        opener: Opener::Noise(Box::new(rx)),
        binary: binary && peer_reads_binary,
    })
}

/// A plain connection (the floor has no handshake) writing binary frames or lines.
pub async fn connect_plain(addr: SocketAddr, read_capacity: usize, binary: bool) -> Result<Conn> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (r, w) = stream.into_split();
    Ok(Conn {
        reader: BufReader::with_capacity(read_capacity, r),
        writer: w,
        sealer: Sealer::plain(),
        opener: Opener::Plain { counter: 0 },
        binary,
    })
}

/// A chat payload's bytes (the same serialisation the peer uses).
pub fn chat_payload(id: &str, text: &str) -> Vec<u8> {
    Payload::Chat {
        id: id.to_owned(),
        text: text.to_owned(),
        sent_at: 1_764_000_000_000,
        room: None,
        broadcast: false,
        reply_to: None,
    }
    .to_bytes()
}

/// The `kind` and `id` of a received payload.
pub fn payload_kind(plaintext: &[u8]) -> Result<(&'static str, String, Option<String>)> {
    match Payload::parse(plaintext)? {
        Payload::Ack { id } => Ok(("ack", id, None)),
        Payload::Chat { id, text, .. } => Ok(("chat", id, Some(text))),
        _ => Ok(("other", String::new(), None)),
    }
}

impl Conn {
    /// Sends one payload.
    pub async fn send(&mut self, plaintext: &[u8]) -> Result<()> {
        let mut out = Vec::new();
        self.sealer.seal_to(plaintext, self.binary, &mut out)?;
        self.writer.write_all(&out).await?;
        Ok(())
    }

    /// Receives and opens the next data frame, either kind.
    pub async fn recv(&mut self, buf: &mut Vec<u8>) -> Result<Vec<u8>> {
        let Some(kind) = read_frame(&mut self.reader, buf).await? else {
            bail!("closed by the peer");
        };
        self.opener.open_any(&kind, buf)
    }

    /// Sends a chat and waits for its ack (PROTOCOL.md §5): proves the session is registered.
    pub async fn chat_acked(&mut self, id: &str, text: &str) -> Result<()> {
        self.send(&chat_payload(id, text)).await?;
        let mut line = Vec::new();
        loop {
            let plaintext = self.recv(&mut line).await?;
            let (kind, got, _) = payload_kind(&plaintext)?;
            if kind == "ack" && got == id {
                return Ok(());
            }
        }
    }
}

/// The floor: a minimal tokio server in this process. Per frame: parse it (a line: serde and
/// base64; a binary frame: its header), parse the chat payload, answer an ack frame of the
/// same kind; answers to frames already buffered are written together (as the peer's writer
/// batches).
pub async fn floor_server() -> Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let _ = floor_conn(stream).await;
            });
        }
    });
    Ok(addr)
}

async fn floor_conn(stream: TcpStream) -> Result<()> {
    stream.set_nodelay(true)?;
    let (r, mut w) = stream.into_split();
    let mut reader = BufReader::with_capacity(64 * 1024, r);
    let mut opener = Opener::Plain { counter: 0 };
    let mut sealer = Sealer::plain();
    let mut buf = Vec::new();
    let mut out = Vec::new();
    loop {
        let Some(kind) = read_frame(&mut reader, &mut buf).await? else {
            return Ok(());
        };
        let plaintext = opener.open_any(&kind, &buf)?;
        if let Payload::Chat { id, .. } = Payload::parse(&plaintext)? {
            let ack = Payload::Ack { id }.to_bytes();
            sealer.seal_to(&ack, matches!(kind, FrameKind::Binary), &mut out)?;
        }
        if reader.buffer().is_empty() || out.len() >= 64 * 1024 {
            w.write_all(&out).await?;
            out.clear();
        }
    }
}

/// snow's full in-memory XX handshake (both sides, hello payloads, fresh ephemerals): the
/// crypto floor the handshake figure is compared with (BENCHMARKS.md).
pub struct SnowPair {
    params: snow::params::NoiseParams,
    initiator_key: Vec<u8>,
    responder_key: Vec<u8>,
    hello: Vec<u8>,
    buf: Vec<u8>,
    payload: Vec<u8>,
}

impl SnowPair {
    pub fn new() -> Result<SnowPair> {
        let params: snow::params::NoiseParams = "Noise_XX_25519_AESGCM_SHA256".parse()?;
        let i = snow::Builder::new(params.clone()).generate_keypair()?;
        let r = snow::Builder::new(params.clone()).generate_keypair()?;
        Ok(SnowPair {
            params,
            initiator_key: i.private,
            responder_key: r.private,
            hello: Hello {
                name: String::new(),
                listen_port: 0,
                agent: AGENT.into(),
                binary_frames: false,
            }
            .to_bytes(),
            buf: vec![0u8; 65_535],
            payload: vec![0u8; 65_535],
        })
    }

    /// One complete handshake.
    pub fn handshake(&mut self) -> Result<()> {
        let mut i = snow::Builder::new(self.params.clone())
            .prologue(b"p2p-chat/1")
            .local_private_key(&self.initiator_key)
            .build_initiator()?;
        let mut r = snow::Builder::new(self.params.clone())
            .prologue(b"p2p-chat/1")
            .local_private_key(&self.responder_key)
            .build_responder()?;
        let n = i.write_message(&[], &mut self.buf)?;
        r.read_message(&self.buf[..n], &mut self.payload)?;
        let n = r.write_message(&self.hello, &mut self.buf)?;
        i.read_message(&self.buf[..n], &mut self.payload)?;
        let n = i.write_message(&self.hello, &mut self.buf)?;
        r.read_message(&self.buf[..n], &mut self.payload)?;
        let _ = i.into_transport_mode()?;
        let _ = r.into_transport_mode()?;
        Ok(())
    }
}
