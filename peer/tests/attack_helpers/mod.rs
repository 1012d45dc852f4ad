//! Helpers for the attack tests of the admission, trust, rooms and local-hardening rules
//! (PROTOCOL.md §9–§12, SECURITY.md): a PROTOCOL.md endpoint on crypto-core in either role,
//! connections from chosen loopback source addresses, counting which of many sockets the peer
//! has closed, and the peer's resident memory.
#![allow(dead_code)]

use std::io::Read;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crypto_core::noise::{InitiatorStart, ResponderStart};
use crypto_core::wire::{Frame, Hello, AGENT};
use crypto_core::{encoding, Identity, PublicKey, Transport, TransportReceiver, TransportSender};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

use crate::common::EVENT_TIMEOUT;

/// A hello with this name and claimed listen port.
pub fn hello(name: &str, listen_port: u16) -> Hello {
    Hello {
        name: name.to_owned(),
        listen_port,
        agent: AGENT.to_owned(),
        binary_frames: false,
    }
}

/// A TCP connection to `127.0.0.1:port` whose source address is `from` (any 127/8 address
/// works on Linux loopback, so one test can play many remote addresses).
pub async fn connect_from(from: IpAddr, port: u16) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .bind(SocketAddr::new(from, 0))
        .expect("bind a loopback source address");
    socket
        .connect(SocketAddr::from(([127, 0, 0, 1], port)))
        .await
        .expect("connect")
}

/// `127.0.0.n`.
pub fn loopback(n: u8) -> IpAddr {
    IpAddr::from([127, 0, 0, n])
}

/// A silent connection (never sends a byte) as a non-blocking std socket, so many can be
/// checked for "closed by the peer" without a task each.
pub async fn silent_from(from: IpAddr, port: u16) -> std::net::TcpStream {
    let stream = connect_from(from, port).await.into_std().expect("into_std");
    stream.set_nonblocking(true).expect("nonblocking");
    stream
}

/// Whether the peer has closed this silent socket (EOF or reset); it never sends us data
/// before message 1, so any byte read is also a failure of the test's assumptions.
pub fn closed_by_peer(stream: &mut std::net::TcpStream) -> bool {
    let mut byte = [0u8; 1];
    match stream.read(&mut byte) {
        Ok(0) => true,
        Ok(_) => panic!("the peer sent data on a silent connection"),
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => false,
        Err(_) => true,
    }
}

/// How many of `streams` the peer has not closed.
pub fn still_open(streams: &mut [std::net::TcpStream]) -> usize {
    let mut open = 0;
    for stream in streams.iter_mut() {
        if !closed_by_peer(stream) {
            open += 1;
        }
    }
    open
}

/// Waits (bounded by `EVENT_TIMEOUT`) until at most `at_most` of `streams` are still open;
/// panics with the count otherwise.
pub async fn wait_until_open_at_most(streams: &mut [std::net::TcpStream], at_most: usize) {
    let deadline = tokio::time::Instant::now() + EVENT_TIMEOUT;
    loop {
        let open = still_open(streams);
        if open <= at_most {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{open} of {} connections still held open by the peer, expected at most {at_most}",
            streams.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Resident memory of a process, `field` of /proc/PID/status (`VmRSS`, `VmHWM`), in KiB.
pub fn proc_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

// ---------------------------------------------------------------------------------------------
// A PROTOCOL.md endpoint on crypto-core.

/// An established session driven by the test.
pub struct CoreConn {
    pub reader: BufReader<OwnedReadHalf>,
    pub writer: OwnedWriteHalf,
    pub sender: TransportSender,
    pub receiver: TransportReceiver,
    pub remote: PublicKey,
    pub hello: Hello,
}

/// The next line without its `\n`; `None` at EOF or on a reset.
pub async fn read_line(reader: &mut BufReader<OwnedReadHalf>) -> Option<Vec<u8>> {
    let mut line = Vec::new();
    let n = tokio::time::timeout(EVENT_TIMEOUT, reader.read_until(b'\n', &mut line))
        .await
        .expect("timed out reading a line")
        .ok()?;
    if n == 0 {
        return None;
    }
    if line.last() == Some(&b'\n') {
        line.pop();
    }
    Some(line)
}

pub async fn read_handshake(reader: &mut BufReader<OwnedReadHalf>, step: u8) -> Vec<u8> {
    let line = read_line(reader).await.expect("handshake line");
    match Frame::parse(&line).expect("frame") {
        Frame::Handshake { step: s, message } if s == step => {
            encoding::from_base64(&message).expect("base64")
        }
        other => panic!("expected handshake step {step}, got {other:?}"),
    }
}

/// Initiates over `stream` as `identity`, sending `hello` in message 3.
pub async fn core_initiate(stream: TcpStream, identity: &Identity, hello: &Hello) -> CoreConn {
    try_core_initiate(stream, identity, hello)
        .await
        .expect("the peer closed the connection during the handshake")
}

/// [`core_initiate`], `None` if the peer closes before answering message 1.
pub async fn try_core_initiate(
    stream: TcpStream,
    identity: &Identity,
    hello: &Hello,
) -> Option<CoreConn> {
    let (read, mut writer) = stream.into_split();
    let mut reader = BufReader::new(read);
    let (await2, m1) = InitiatorStart::new(identity)
        .write_message_1(&[])
        .expect("message 1");
    writer
        .write_all(&Frame::handshake(1, &m1).to_line())
        .await
        .ok()?;
    let line = read_line(&mut reader).await?;
    let m2 = match Frame::parse(&line).expect("frame") {
        Frame::Handshake { step: 2, message } => encoding::from_base64(&message).expect("base64"),
        other => panic!("expected handshake step 2, got {other:?}"),
    };
    let (send3, payload) = await2.read_message_2(&m2).expect("message 2");
    let remote_hello = Hello::parse(&payload).expect("hello");
    let (transport, m3) = send3.write_message_3(&hello.to_bytes()).expect("message 3");
    writer
        .write_all(&Frame::handshake(3, &m3).to_line())
        .await
        .ok()?;
    Some(CoreConn::new(reader, writer, transport, remote_hello))
}

/// Answers one connection on `listener` as `identity`, sending `hello` in message 2.
pub async fn core_respond(listener: &TcpListener, identity: &Identity, hello: &Hello) -> CoreConn {
    let (stream, _) = tokio::time::timeout(EVENT_TIMEOUT * 2, listener.accept())
        .await
        .expect("nobody dialled")
        .expect("accept");
    let (read, mut writer) = stream.into_split();
    let mut reader = BufReader::new(read);
    let m1 = read_handshake(&mut reader, 1).await;
    let (send2, _) = ResponderStart::new(identity)
        .read_message_1(&m1)
        .expect("message 1");
    let (await3, m2) = send2.write_message_2(&hello.to_bytes()).expect("message 2");
    writer
        .write_all(&Frame::handshake(2, &m2).to_line())
        .await
        .expect("write 2");
    let m3 = read_handshake(&mut reader, 3).await;
    let (transport, payload) = await3.read_message_3(&m3).expect("message 3");
    let remote_hello = Hello::parse(&payload).expect("hello");
    CoreConn::new(reader, writer, transport, remote_hello)
}

impl CoreConn {
    fn new(
        reader: BufReader<OwnedReadHalf>,
        writer: OwnedWriteHalf,
        transport: Transport,
        hello: Hello,
    ) -> CoreConn {
        let remote = *transport.remote_static();
        let (sender, receiver) = transport.into_halves();
        CoreConn {
            reader,
            writer,
            sender,
            receiver,
            remote,
            hello,
        }
    }

    /// Seals one plaintext into a data-frame line (with its `\n`).
    pub fn seal(&mut self, plaintext: &[u8]) -> String {
        let mut line = String::new();
        self.sender
            .seal_to_line(plaintext, &mut line)
            .expect("seal");
        line
    }

    /// Sends one JSON payload.
    pub async fn send(&mut self, payload: &Value) {
        let line = self.seal(payload.to_string().as_bytes());
        self.writer
            .write_all(line.as_bytes())
            .await
            .expect("send payload");
    }

    /// Sends a chat (optionally in a room); returns its id.
    pub async fn chat(&mut self, text: &str, room: Option<&str>) -> String {
        let id = format!("core-{}", rand::random::<u64>());
        let mut payload = serde_json::json!({"kind": "chat", "id": id, "text": text, "sent_at": 1});
        if let Some(room) = room {
            payload["room"] = Value::from(room);
        }
        self.send(&payload).await;
        id
    }

    /// The next payload, or `None` when the session ended.
    pub async fn recv(&mut self) -> Option<Value> {
        let line = read_line(&mut self.reader).await?;
        let frame = Frame::parse(&line).ok()?;
        let data = frame.as_data()?;
        let plaintext = self.receiver.open_frame(&data).ok()?;
        Some(serde_json::from_slice(&plaintext).expect("payload JSON"))
    }

    /// Reads payloads until one matches (skipping acks and others); `None` if the session ends.
    pub async fn recv_until(&mut self, matches: impl Fn(&Value) -> bool) -> Option<Value> {
        loop {
            let payload = self.recv().await?;
            if matches(&payload) {
                return Some(payload);
            }
        }
    }
}

/// A listener on a free loopback port.
pub async fn listener() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    (listener, port)
}

/// Answers one connection on `listener` with messages 1 and 2 as `identity` (hello in message
/// 2), then returns what the dialler wrote next: `Some(line)` if it sent message 3 (its static
/// key and hello), `None` if it closed first, as a dialler expecting another key must.
pub async fn answer_and_wait_for_message_3(
    listener: &TcpListener,
    identity: &Identity,
    hello: &Hello,
) -> Option<Vec<u8>> {
    let (stream, _) = tokio::time::timeout(EVENT_TIMEOUT * 2, listener.accept())
        .await
        .expect("nobody dialled")
        .expect("accept");
    let (read, mut writer) = stream.into_split();
    let mut reader = BufReader::new(read);
    let m1 = read_handshake(&mut reader, 1).await;
    let (send2, _) = ResponderStart::new(identity)
        .read_message_1(&m1)
        .expect("message 1");
    let (_await3, m2) = send2.write_message_2(&hello.to_bytes()).expect("message 2");
    writer
        .write_all(&Frame::handshake(2, &m2).to_line())
        .await
        .expect("write 2");
    read_line(&mut reader).await
}

/// CPU time (user + system) spent so far by the threads of process `pid` named `comm`, in
/// milliseconds (from /proc/PID/task/*/stat, in clock ticks of 10 ms).
pub fn threads_cpu_ms(pid: u32, comm: &str) -> u64 {
    let mut ticks = 0;
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("/proc/PID/task");
    for task in tasks.flatten() {
        let name = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if name.trim_end() != comm {
            continue;
        }
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        // Fields after the parenthesised name: state is field 3, utime 14, stime 15.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<u64>().ok());
        ticks += field(14).unwrap_or(0) + field(15).unwrap_or(0);
    }
    ticks * 10
}
