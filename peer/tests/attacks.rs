//! Attacks on running peers (SECURITY.md §7): connection floods, slowloris, a man in the
//! middle, cross-session replay, the session / pending-handshake / per-IP limits and the UI's
//! WebSocket limits. Every test drives real `p2p-chat` processes over loopback.

mod common;

use std::time::{Duration, Instant};

use common::{expect_closed, Pair, Peer, SnowClient, Ui, EVENT_TIMEOUT};
use crypto_core::noise::{InitiatorStart, ResponderStart};
use crypto_core::wire::{Frame, Hello, Payload, AGENT};
use crypto_core::{
    encoding, safety_number, Identity, PublicKey, Transport, TransportReceiver, TransportSender,
};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

async fn raw(port: u16) -> TcpStream {
    TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect")
}

/// A connection as a line reader and a writer.
fn split(stream: TcpStream) -> (BufReader<OwnedReadHalf>, OwnedWriteHalf) {
    let (read, writer) = stream.into_split();
    (BufReader::new(read), writer)
}

/// Writes an honest handshake message 1 from a fresh identity: a handshake B has to answer.
async fn send_message_1(writer: &mut OwnedWriteHalf) {
    let (_, m1) = InitiatorStart::new(&Identity::generate())
        .write_message_1(&[])
        .expect("m1");
    writer
        .write_all(&Frame::handshake(1, &m1).to_line())
        .await
        .expect("write m1");
}

// ---------------------------------------------------------------------------------------------
// A PROTOCOL.md endpoint on crypto-core that records every byte it sends.

struct CoreConn {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    sender: TransportSender,
    receiver: TransportReceiver,
    remote: PublicKey,
    hello: Hello,
    /// Every byte written on this connection, in order.
    sent: Vec<u8>,
    /// Where the handshake ends in `sent`.
    handshake_len: usize,
}

fn hello(name: &str) -> Hello {
    Hello {
        name: name.to_owned(),
        listen_port: 0,
        agent: AGENT.to_owned(),
        binary_frames: false,
    }
}

/// The next line (without `\n`); None at EOF.
async fn read_line(reader: &mut BufReader<OwnedReadHalf>) -> Option<Vec<u8>> {
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

async fn read_handshake(reader: &mut BufReader<OwnedReadHalf>, step: u8) -> Vec<u8> {
    let line = read_line(reader).await.expect("handshake line");
    match Frame::parse(&line).expect("frame") {
        Frame::Handshake { step: s, message } if s == step => {
            encoding::from_base64(&message).expect("base64")
        }
        other => panic!("expected handshake step {step}, got {other:?}"),
    }
}

async fn write_recorded(writer: &mut OwnedWriteHalf, sent: &mut Vec<u8>, bytes: &[u8]) {
    sent.extend_from_slice(bytes);
    writer.write_all(bytes).await.expect("write");
}

/// Dials with crypto-core as initiator.
async fn core_initiate(stream: TcpStream, identity: &Identity, name: &str) -> CoreConn {
    let (mut reader, mut writer) = split(stream);
    let mut sent = Vec::new();
    let (await2, m1) = InitiatorStart::new(identity)
        .write_message_1(&[])
        .expect("message 1");
    write_recorded(&mut writer, &mut sent, &Frame::handshake(1, &m1).to_line()).await;
    let m2 = read_handshake(&mut reader, 2).await;
    let (send3, payload) = await2.read_message_2(&m2).expect("message 2");
    let remote_hello = Hello::parse(&payload).expect("hello");
    let (transport, m3) = send3
        .write_message_3(&hello(name).to_bytes())
        .expect("message 3");
    write_recorded(&mut writer, &mut sent, &Frame::handshake(3, &m3).to_line()).await;
    CoreConn::established(reader, writer, sent, transport, remote_hello)
}

/// Answers with crypto-core as responder.
async fn core_respond(stream: TcpStream, identity: &Identity, name: &str) -> CoreConn {
    let (mut reader, mut writer) = split(stream);
    let mut sent = Vec::new();
    let m1 = read_handshake(&mut reader, 1).await;
    let (send2, _) = ResponderStart::new(identity)
        .read_message_1(&m1)
        .expect("message 1");
    let (await3, m2) = send2
        .write_message_2(&hello(name).to_bytes())
        .expect("message 2");
    write_recorded(&mut writer, &mut sent, &Frame::handshake(2, &m2).to_line()).await;
    let m3 = read_handshake(&mut reader, 3).await;
    let (transport, payload) = await3.read_message_3(&m3).expect("message 3");
    let remote_hello = Hello::parse(&payload).expect("hello");
    CoreConn::established(reader, writer, sent, transport, remote_hello)
}

impl CoreConn {
    /// The connection once its handshake is done (by either role): all of `sent` so far is
    /// the handshake.
    fn established(
        reader: BufReader<OwnedReadHalf>,
        writer: OwnedWriteHalf,
        sent: Vec<u8>,
        transport: Transport,
        hello: Hello,
    ) -> CoreConn {
        let remote = *transport.remote_static();
        let (sender, receiver) = transport.into_halves();
        let handshake_len = sent.len();
        CoreConn {
            reader,
            writer,
            sender,
            receiver,
            remote,
            hello,
            sent,
            handshake_len,
        }
    }

    async fn send_payload(&mut self, payload: &Payload) {
        let mut line = String::new();
        self.sender
            .seal_to_line(&payload.to_bytes(), &mut line)
            .expect("seal");
        write_recorded(&mut self.writer, &mut self.sent, line.as_bytes()).await;
    }

    async fn chat(&mut self, text: &str) {
        let payload = Payload::Chat {
            id: format!("core-{}", rand::random::<u32>()),
            text: text.to_owned(),
            sent_at: 1,
            room: None,
            broadcast: false,
            reply_to: None,
        };
        self.send_payload(&payload).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Floods and slow clients.

#[tokio::test]
async fn a_flood_of_silent_sockets_leaves_sessions_and_new_handshakes_working() {
    const FLOOD: usize = 2_000;
    const DEADLINE_MS: u64 = 4_000;
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let deadline = DEADLINE_MS.to_string();
    let mut p = Pair::with_b_args(&[
        "--handshake-timeout-ms",
        &deadline,
        "--max-pending-handshakes",
        "4096",
    ])
    .await;
    let port = p.b.p2p_port;
    let started = Instant::now();
    let mut flood = Vec::with_capacity(FLOOD);
    for _ in 0..FLOOD {
        flood.push(raw(port).await);
    }
    // The honest handshake is accepted after every flood socket (one accept queue), so it
    // completes while all of them are held.
    let mut honest = SnowClient::connect(port, json!({"name": "honest", "listen_port": 0})).await;
    assert_eq!(honest.remote_hello["name"], "bob");
    honest.chat("through the flood").await;
    p.ub.hear("through the flood").await;
    p.check_alive("a flood of silent sockets").await;

    // Each flood socket is closed by B at the handshake deadline, not before.
    let closers: Vec<_> = flood
        .into_iter()
        .map(|mut s| {
            tokio::spawn(async move {
                expect_closed(&mut s, Duration::from_millis(DEADLINE_MS) + EVENT_TIMEOUT).await;
                Instant::now()
            })
        })
        .collect();
    let mut first = None::<Instant>;
    for closer in closers {
        let at = closer.await.expect("closer task");
        first = Some(first.map_or(at, |f| f.min(at)));
    }
    let first = first.expect("flood").duration_since(started);
    assert!(
        first >= Duration::from_millis(DEADLINE_MS * 9 / 10),
        "a flood socket was closed after {first:?}, before the deadline"
    );
    p.check_alive("the flood was reaped").await;
    p.b.wait_for_log(&format!("handshake not finished within {DEADLINE_MS} ms"))
        .await;
}

/// A connection to `127.0.0.1:port` from the source address `127.0.0.n` (any 127/8 address
/// works on Linux loopback, so one test plays several remote addresses).
async fn raw_from(n: u8, port: u16) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind(std::net::SocketAddr::from(([127, 0, 0, n], 0)))
        .expect("bind a loopback source address");
    socket
        .connect(std::net::SocketAddr::from(([127, 0, 0, 1], port)))
        .await
        .expect("connect")
}

/// Whether B still holds this silent connection open (nothing to read, no EOF within 200 ms).
async fn held_open(stream: &mut TcpStream) -> bool {
    let mut byte = [0u8; 1];
    tokio::time::timeout(Duration::from_millis(200), stream.read(&mut byte))
        .await
        .is_err()
}

#[tokio::test]
async fn a_full_pending_table_evicts_the_oldest_handshake_of_the_address_holding_the_most() {
    // The rule changed (PROTOCOL.md §9.1): a newcomer to a full table is never refused; the
    // oldest pending handshake of the address holding the most slots (ties: the address whose
    // oldest entry is oldest) is closed instead. Loopback is exempt from the per-address cap
    // here, so only the table's own fairness acts.
    let b = Peer::start_with("bob", &["--max-pending-handshakes", "10"]);
    let port = b.p2p_port;
    let mut heavy = Vec::new();
    for _ in 0..6 {
        heavy.push(raw_from(5, port).await);
    }
    let mut light = Vec::new();
    for _ in 0..4 {
        light.push(raw_from(6, port).await);
    }
    // The table is full (6 + 4). A newcomer is let in and answered, and the heavy address's
    // oldest handshake is closed at once (the handshake deadline is the default 10 s, so a
    // close within 5 s is the eviction).
    let (mut newcomer_read, mut newcomer) = split(raw_from(7, port).await);
    send_message_1(&mut newcomer).await;
    read_handshake(&mut newcomer_read, 2).await;
    expect_closed(&mut heavy[0], Duration::from_secs(5)).await;
    b.wait_for_log("pending handshake evicted").await;
    // Still 5 + 4 + the newcomer's pending handshake: the next newcomer again takes from the
    // heavy address (5 slots).
    let _second = raw_from(8, port).await;
    expect_closed(&mut heavy[1], Duration::from_secs(5)).await;
    // Now 4 and 4: the tie goes to the address whose oldest entry is oldest, the heavy one.
    let _third = raw_from(9, port).await;
    expect_closed(&mut heavy[2], Duration::from_secs(5)).await;
    // Now 3 and 4: the light address holds the most and loses its oldest.
    let _fourth = raw_from(10, port).await;
    expect_closed(&mut light[0], Duration::from_secs(5)).await;
    for stream in heavy[3..].iter_mut().chain(light[1..].iter_mut()) {
        assert!(
            held_open(stream).await,
            "a handshake was evicted out of turn"
        );
    }
    // Slots come back when handshakes end: with the flood gone, an honest handshake is
    // answered at once.
    drop(heavy);
    drop(light);
    let (mut read, mut write) = split(raw(port).await);
    send_message_1(&mut write).await;
    read_handshake(&mut read, 2).await;
}

#[tokio::test]
async fn slowloris_trickling_one_byte_per_500_ms_is_reaped_at_the_deadline() {
    let mut p = Pair::with_b_args(&["--handshake-timeout-ms", "2500"]).await;
    let port = p.b.p2p_port;
    let started = Instant::now();
    // (1) a step-1 frame trickled byte by byte, never finishing the line;
    let (mut read1, write1) = raw(port).await.into_split();
    let line1 = br#"{"type":"handshake","step":1,"message":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"#.to_vec();
    // (2) an honest message 1, then message 3 trickled the same way.
    let (mut read2, mut write2) = split(raw(port).await);
    send_message_1(&mut write2).await;
    read_handshake(&mut read2, 2).await;
    let line2 = Frame::handshake(3, &[7u8; 64]).to_line();
    for (mut writer, bytes) in [(write1, line1), (write2, line2)] {
        tokio::spawn(async move {
            for &byte in bytes.iter().take(bytes.len() - 1) {
                if writer.write_all(&[byte]).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        });
    }
    expect_closed(&mut read1, Duration::from_secs(10)).await;
    expect_closed(&mut read2, Duration::from_secs(10)).await;
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(2_200),
        "closed before the deadline: {elapsed:?}"
    );
    p.check_alive("slowloris").await;
    p.b.wait_for_log("handshake not finished within 2500 ms")
        .await;
}

// ---------------------------------------------------------------------------------------------
// Man in the middle and replay.

/// Relays every data frame from `from` to `to`, re-encrypting it, and reports each plaintext.
async fn relay(
    mut reader: BufReader<OwnedReadHalf>,
    mut receiver: TransportReceiver,
    mut writer: OwnedWriteHalf,
    mut sender: TransportSender,
    seen: mpsc::UnboundedSender<Vec<u8>>,
) {
    while let Some(line) = read_line(&mut reader).await {
        let Ok(frame) = Frame::parse(&line) else {
            return;
        };
        let Some(data) = frame.as_data() else { return };
        let Ok(plaintext) = receiver.open_frame(&data) else {
            return;
        };
        let mut out = String::new();
        if sender.seal_to_line(&plaintext, &mut out).is_err() {
            return;
        }
        if writer.write_all(out.as_bytes()).await.is_err() {
            return;
        }
        let _ = seen.send(plaintext);
    }
}

/// Mallory in the middle, as `spawn_mitm` starts her.
struct Mitm {
    port: u16,
    /// The key she shows A (answering A's dial) and the one she shows B (dialling B).
    to_a: PublicKey,
    to_b: PublicKey,
    /// Once both handshakes are done: the keys she saw from A and from B.
    remotes: JoinHandle<(PublicKey, PublicKey)>,
}

/// Mallory on a fresh port: answers the first dial with her own key and the name B announces,
/// dials B as `a_name` with another key of hers, then relays both ways, reporting every
/// plaintext she relays to `seen`. Written once for both man-in-the-middle tests.
async fn spawn_mitm(
    b_port: u16,
    a_name: &'static str,
    seen: mpsc::UnboundedSender<Vec<u8>>,
) -> Mitm {
    let m_to_a = Identity::generate();
    let m_to_b = Identity::generate();
    let (to_a, to_b) = (*m_to_a.public_key(), *m_to_b.public_key());
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let remotes = tokio::spawn(async move {
        let (from_a, _) = listener.accept().await.expect("accept");
        let to_b = TcpStream::connect(("127.0.0.1", b_port))
            .await
            .expect("dial B");
        let side_b = core_initiate(to_b, &m_to_b, a_name).await;
        let side_a = core_respond(from_a, &m_to_a, &side_b.hello.name).await;
        let remotes = (side_a.remote, side_b.remote);
        tokio::spawn(relay(
            side_a.reader,
            side_a.receiver,
            side_b.writer,
            side_b.sender,
            seen.clone(),
        ));
        tokio::spawn(relay(
            side_b.reader,
            side_b.receiver,
            side_a.writer,
            side_a.sender,
            seen,
        ));
        remotes
    });
    Mitm {
        port,
        to_a,
        to_b,
        remotes,
    }
}

#[tokio::test]
async fn a_man_in_the_middle_is_invisible_in_content_but_the_safety_numbers_differ() {
    let a = Peer::start("alice");
    let b = Peer::start("bob");
    let mut ua = a.ui().await;
    let mut ub = b.ui().await;
    // Mallory answers A's dial (as "bob") and dials B herself (as "alice"), with her own keys.
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    let mitm = spawn_mitm(b.p2p_port, "alice", seen_tx).await;
    let mitm_a_key = mitm.to_a;
    let on_a = ua.connect_peer(mitm.port, &mitm_a_key.to_base64()).await;
    assert_eq!(on_a["name"], "bob", "Mallory passes B's name on");
    let on_b = ub
        .wait_for("peer_connected on B", |e| e["type"] == "peer_connected")
        .await;
    assert_eq!(on_b["public_key"], mitm.to_b.to_base64().as_str());
    let (a_remote, b_remote) = mitm.remotes.await.expect("mitm");
    assert_eq!(a_remote.to_base64(), a.public_key);
    assert_eq!(b_remote.to_base64(), b.public_key);

    // The chat goes through, decrypted and re-encrypted by Mallory: content alone proves nothing.
    ua.say("meet at noon", Some(&mitm_a_key.to_base64())).await;
    ub.hear("meet at noon").await;
    loop {
        let relayed = tokio::time::timeout(EVENT_TIMEOUT, seen.recv())
            .await
            .expect("Mallory relays")
            .expect("relay open");
        if String::from_utf8_lossy(&relayed).contains("meet at noon") {
            break;
        }
    }

    // What each page computes (PROTOCOL.md: safety_number(info.public_key, peer.public_key)).
    let key = |v: &Value| PublicKey::from_base64(v.as_str().expect("key")).expect("key");
    let own_a = PublicKey::from_base64(&a.public_key).expect("a");
    let own_b = PublicKey::from_base64(&b.public_key).expect("b");
    let shown_on_a = safety_number(&own_a, &key(&on_a["public_key"]));
    let shown_on_b = safety_number(&own_b, &key(&on_b["public_key"]));
    let honest = safety_number(&own_a, &own_b);
    assert_ne!(shown_on_a, shown_on_b, "verification must expose the MITM");
    assert_ne!(shown_on_a, honest);
    assert_ne!(shown_on_b, honest);

    // Without Mallory both pages show the same number.
    let c = Peer::start("carol");
    let mut uc = c.ui().await;
    let direct = ua.connect_peer(c.p2p_port, &c.public_key).await;
    let on_c = uc
        .wait_for("peer_connected on C", |e| e["type"] == "peer_connected")
        .await;
    let own_c = PublicKey::from_base64(&c.public_key).expect("c");
    assert_eq!(
        safety_number(&own_a, &key(&direct["public_key"])),
        safety_number(&own_c, &key(&on_c["public_key"]))
    );
}

#[tokio::test]
async fn a_recorded_session_replayed_on_new_connections_is_rejected() {
    let b = Peer::start("bob");
    let mut ub = b.ui().await;
    let x = Identity::generate();
    let x_id = x.public_key().to_base64();
    // Record a whole honest session: handshake messages 1 and 3 and two chats.
    let mut original = core_initiate(raw(b.p2p_port).await, &x, "xavier").await;
    original.chat("recorded one").await;
    original.chat("recorded two").await;
    ub.hear("recorded one").await;
    ub.hear("recorded two").await;
    let recorded = original.sent.clone();
    let handshake_len = original.handshake_len;
    drop(original);
    ub.wait_for("peer_disconnected", |e| {
        e["type"] == "peer_disconnected" && e["peer_id"] == x_id.as_str()
    })
    .await;

    // (1) The byte-exact recording on a new connection: B answers with a new ephemeral key,
    // so the recorded message 3 cannot decrypt and the connection closes.
    let mut replay = raw(b.p2p_port).await;
    replay.write_all(&recorded).await.expect("replay");
    expect_closed(&mut replay, EVENT_TIMEOUT).await;
    b.wait_for_log("handshake failed").await;

    // (2) A fresh, honest handshake with the same key, then the recorded data frames: they were
    // sealed under the old session's keys, so the first one ends the session.
    let mut fresh = core_initiate(raw(b.p2p_port).await, &x, "xavier").await;
    ub.wait_for("peer_connected", |e| {
        e["type"] == "peer_connected" && e["peer_id"] == x_id.as_str()
    })
    .await;
    fresh
        .writer
        .write_all(&recorded[handshake_len..])
        .await
        .expect("replay data");
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(EVENT_TIMEOUT, fresh.reader.read_to_end(&mut rest))
        .await
        .expect("B must close the session");

    // Nothing replayed reached the UI: the next events are the disconnect and a marker from
    // another client, never "recorded ...".
    let mut marker = core_initiate(raw(b.p2p_port).await, &Identity::generate(), "m").await;
    marker.chat("marker").await;
    ub.wait_for("marker", |e| {
        let replayed =
            e["type"] == "peer_message" && e["text"].as_str().unwrap_or("").starts_with("recorded");
        assert!(!replayed, "a replayed message was delivered: {e}");
        e["type"] == "peer_message" && e["text"] == "marker"
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// Session and rate limits.

#[tokio::test]
async fn sessions_beyond_max_sessions_are_refused_and_existing_ones_continue() {
    let b = Peer::start_with("bob", &["--max-sessions", "3"]);
    let mut ub = b.ui().await;
    let mut clients = Vec::new();
    for i in 0..3 {
        let name = format!("c{i}");
        clients
            .push(SnowClient::connect(b.p2p_port, json!({"name": name, "listen_port": 0})).await);
        let connected = ub
            .wait_for("peer_connected", |e| {
                e["type"] == "peer_connected" && e["name"] == name.as_str()
            })
            .await;
        // Inbound keys are message requests; accepted, they receive "everyone" below.
        ub.send(json!({"action": "accept_request", "peer_id": connected["peer_id"]}))
            .await;
        ub.wait_type("request_resolved").await;
    }
    // A fourth inbound connection is closed before any handshake byte.
    let mut fourth = raw(b.p2p_port).await;
    assert_eq!(expect_closed(&mut fourth, EVENT_TIMEOUT).await, 0);
    b.wait_for_log("session limit reached").await;
    // A dial from B's UI is refused at registration, with an error event.
    let a = Peer::start("alice");
    ub.send(json!({"action": "connect_peer", "ip": "127.0.0.1", "port": a.p2p_port}))
        .await;
    let error = ub.wait_type("error").await;
    assert!(
        error["message"]
            .as_str()
            .unwrap_or("")
            .contains("session limit reached"),
        "{error}"
    );
    // The three sessions still work both ways.
    for (i, client) in clients.iter_mut().enumerate() {
        let text = format!("still here {i}");
        client.chat(&text).await;
        ub.hear(&text).await;
    }
    ub.say("to everyone", None).await;
    for client in &mut clients {
        // Skip the acks of our own chats.
        let mut payload = client.recv_payload().await;
        while payload["kind"] == "ack" {
            payload = client.recv_payload().await;
        }
        assert_eq!(payload["text"], "to everyone");
    }
    // When one leaves, a new one fits.
    drop(clients.pop());
    ub.wait_type("peer_disconnected").await;
    let mut late = SnowClient::connect(b.p2p_port, json!({"name": "late", "listen_port": 0})).await;
    late.chat("late but in").await;
    ub.hear("late but in").await;
}

#[tokio::test]
async fn the_per_ip_handshake_rate_is_enforced_when_asked_for_loopback() {
    let b = Peer::start_with(
        "bob",
        &[
            "--rate-limit-loopback",
            "--handshake-rate",
            "0.5",
            "--handshake-burst",
            "5",
        ],
    );
    let started = Instant::now();
    let mut held = Vec::new();
    for _ in 0..5 {
        held.push(raw(b.p2p_port).await);
    }
    // The burst is spent: back-to-back connections are closed at once.
    let mut refused = 0;
    for _ in 0..10 {
        let mut s = raw(b.p2p_port).await;
        expect_closed(&mut s, Duration::from_secs(5)).await;
        refused += 1;
    }
    assert_eq!(refused, 10);
    b.wait_for_log("handshake rate limit").await;
    // The five within the burst were not: each still completes a handshake.
    assert!(started.elapsed() < Duration::from_secs(9));
    for stream in held {
        let (mut read, mut write) = split(stream);
        send_message_1(&mut write).await;
        read_handshake(&mut read, 2).await;
    }
    // Once a token refills (0.5/s), the same address gets in again.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let mut client =
        SnowClient::connect(b.p2p_port, json!({"name": "later", "listen_port": 0})).await;
    let mut ub = b.ui().await;
    client.chat("after the refill").await;
    ub.hear("after the refill").await;
}

// ---------------------------------------------------------------------------------------------
// The UI's limits.

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

async fn raw_ws(peer: &Peer) -> Ws {
    let url = format!("ws://127.0.0.1:{}/ws?token={}", peer.web_port, peer.token);
    let mut request = url.into_client_request().expect("request");
    request
        .headers_mut()
        .insert("origin", peer.origin().parse().expect("origin"));
    tokio_tungstenite::connect_async(request)
        .await
        .expect("websocket")
        .0
}

#[tokio::test]
async fn an_oversized_websocket_message_closes_that_client_only() {
    // Bob has a contact connected, so a message to everyone has someone to go to.
    let pair = Pair::with_b_args(&["--max-ui-clients", "4"]).await;
    let b = &pair.b;
    let mut other = b.ui().await;
    let mut ws = raw_ws(b).await;
    let big = json!({"action": "send_message", "text": "x".repeat(100 * 1024)}).to_string();
    // The server may close while we are still sending; either way it must close.
    let _ = ws.send(Message::Text(big.into())).await;
    let close = tokio::time::timeout(EVENT_TIMEOUT, async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return None,
            }
        }
    })
    .await
    .expect("the server must close an oversized client");
    if let Some(code) = close {
        assert_eq!(code, 1009, "close code: message too big");
    }
    b.wait_for_log("UI client error").await;
    // The other client and new ones keep working; the largest legitimate text still fits.
    other
        .send(json!({"action": "set_name", "name": "still bob"}))
        .await;
    other
        .wait_for("info", |e| e["type"] == "info" && e["name"] == "still bob")
        .await;
    let mut fresh = b.ui().await;
    let longest = "😀".repeat(16_000);
    fresh
        .send(json!({"action": "send_message", "text": longest}))
        .await;
    let sent = fresh
        .wait_for("message_sent", |e| {
            assert_ne!(e["type"], "error", "{e}");
            e["type"] == "message_sent"
        })
        .await;
    assert_eq!(
        sent["text"].as_str().map(|t| t.chars().count()),
        Some(16_000)
    );
}

#[tokio::test]
async fn ui_clients_beyond_the_limit_get_503_until_one_leaves() {
    let b = Peer::start_with("bob", &["--max-ui-clients", "2"]);
    let first = b.ui().await;
    let _second = b.ui().await;
    let third = Ui::connect(b.web_port, &b.token, Some(&b.origin()), None).await;
    assert_eq!(third.err(), Some(503));
    b.wait_for_log("UI clients already connected").await;
    drop(first);
    // The slot is released when the server sees the close.
    let deadline = Instant::now() + EVENT_TIMEOUT;
    loop {
        match Ui::connect(b.web_port, &b.token, Some(&b.origin()), None).await {
            Ok(mut ui) => {
                assert_eq!(ui.next().await["type"], "info");
                break;
            }
            Err(status) => {
                assert_eq!(status, 503);
                assert!(Instant::now() < deadline, "the slot never came back");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    // Refusals by limit do not weaken the other checks: a wrong token is still 403.
    assert_eq!(
        Ui::connect(b.web_port, "wrong", Some(&b.origin()), None)
            .await
            .err(),
        Some(403)
    );
}

/// The rule changed (PROTOCOL.md §8.3): a key change is raised only by a dial that expected a
/// contact's key at an address that contact gave us (see `attacks_trust.rs` for Mallory at
/// Bob's own address). Here A is lured to Mallory's address: the dial expects Bob's key, so it
/// stops before message 3 and fails, but it is no key change; Mallory's dial to B as "alice"
/// is a new person, a message request flagged as confusable with the contact Alice.
#[tokio::test]
async fn a_man_in_the_middle_between_known_contacts_fails_the_dial_and_is_a_flagged_request() {
    let a = Peer::start("alice");
    let b = Peer::start("bob");
    let mut ua = a.ui().await;
    let mut ub = b.ui().await;
    // First contact, direct: A dials B, so B is A's contact; B accepts A's request.
    ua.connect_peer(b.p2p_port, &b.public_key).await;
    ub.wait_for("peer_connected on B", |e| e["type"] == "peer_connected")
        .await;
    ub.send(json!({"action": "accept_request", "peer_id": a.public_key}))
        .await;
    ub.wait_type("request_resolved").await;
    ua.send(json!({"action": "disconnect_peer", "peer_id": b.public_key}))
        .await;
    ub.wait_type("peer_disconnected").await;
    // Later A dials "bob" again, expecting Bob's key, and reaches Mallory, who dials B as
    // "alice".
    let (unwatched, _) = mpsc::unbounded_channel();
    let mitm = spawn_mitm(b.p2p_port, "alice", unwatched).await;
    ua.send(
        json!({"action": "connect_peer", "ip": "127.0.0.1", "port": mitm.port,
        "peer_id": b.public_key}),
    )
    .await;
    let failed = ua
        .wait_for("the failed dial", |e| {
            assert_ne!(e["type"], "key_changed", "{e}");
            assert_ne!(e["type"], "peer_connected", "{e}");
            e["type"] == "error"
        })
        .await;
    assert_eq!(failed["action"], "connect_peer", "{failed}");
    assert!(
        failed["message"]
            .as_str()
            .unwrap_or("")
            .contains("another key answered"),
        "{failed}"
    );
    let on_b = ub
        .wait_for("request", |e| {
            assert_ne!(e["type"], "key_changed", "{e}");
            e["type"] == "request"
        })
        .await;
    assert_eq!(on_b["peer_id"], mitm.to_b.to_base64().as_str(), "{on_b}");
    assert_eq!(on_b["name"], "alice");
    assert_eq!(on_b["confusable_with"], json!([a.public_key]), "{on_b}");
    // Nothing A sends to "everyone" goes to Mallory, and nothing B sends to "everyone" does:
    // with only Mallory connected, there is nobody to send it to.
    for (ui, text) in [(&mut ua, "for bob only"), (&mut ub, "for alice only")] {
        ui.send(json!({"action": "send_message", "text": text}))
            .await;
        let refused = ui
            .wait_for("the refusal", |e| {
                assert_ne!(e["type"], "message_sent", "sent to Mallory: {e}");
                e["type"] == "error" && e["action"] == "send_message"
            })
            .await;
        assert!(
            refused["message"]
                .as_str()
                .unwrap_or("")
                .contains("nobody is connected"),
            "{refused}"
        );
    }
}
