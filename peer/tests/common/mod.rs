//! Test harness: real `p2p-chat` processes on free ports, their WebSocket UI, raw HTTP, and a
//! Noise client built on `snow` (not crypto-core) that speaks PROTOCOL.md directly.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader as TokioBufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

/// How long any single expected event may take.
pub const EVENT_TIMEOUT: Duration = Duration::from_secs(15);

pub const BIN: &str = env!("CARGO_BIN_EXE_p2p-chat");

/// The binary `Peer` starts: [`BIN`], or `P2P_CHAT_TEST_BIN` when set, so an attack test can
/// be run against an older build to show that it fails there (SECURITY.md §7).
pub fn peer_binary() -> String {
    std::env::var("P2P_CHAT_TEST_BIN").unwrap_or_else(|_| BIN.to_owned())
}

/// A running peer process; killed on drop.
pub struct Peer {
    pub child: Child,
    pub p2p_port: u16,
    pub web_port: u16,
    pub token: String,
    pub public_key: String,
    pub fingerprint: String,
    stdout: BufReader<ChildStdout>,
    log: PathBuf,
}

fn temp_path(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!(
        "p2p-chat-test-{}-{tag}-{}",
        std::process::id(),
        rand::random::<u32>()
    ))
}

/// `--host 127.0.0.1 --port PORT --web-port 0`: every test peer listens on loopback only, with
/// the UI on a free port (and the P2P port free too when `port` is 0).
pub fn loopback_args(port: u16) -> Vec<String> {
    let port = port.to_string();
    ["--host", "127.0.0.1", "--port", &port, "--web-port", "0"]
        .map(String::from)
        .to_vec()
}

impl Peer {
    /// Starts `p2p-chat --port 0 --web-port 0 --ephemeral --name NAME`.
    pub fn start(name: &str) -> Peer {
        Peer::start_with(name, &[])
    }

    /// Same, with extra arguments.
    pub fn start_with(name: &str, extra: &[&str]) -> Peer {
        let mut args = loopback_args(0);
        args.extend(["--ephemeral", "--name", name].map(String::from));
        args.extend(extra.iter().map(|s| s.to_string()));
        Peer::start_args(&args)
    }

    /// Starts the binary with exactly these arguments.
    pub fn start_args(args: &[String]) -> Peer {
        Peer::start_args_env(args, &[])
    }

    /// Same, with extra environment variables (the hidden test-only settings, e.g.
    /// `P2P_CHAT_HANDSHAKE_TIMEOUT_MS`).
    pub fn start_args_env(args: &[String], env: &[(&str, &str)]) -> Peer {
        let log = temp_path("log");
        let log_file = std::fs::File::create(&log).expect("log file");
        let mut child = Command::new(peer_binary())
            .args(args)
            .envs(env.iter().copied())
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .expect("spawn p2p-chat");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut lines = Vec::new();
        for _ in 0..3 {
            let mut line = String::new();
            stdout.read_line(&mut line).expect("read stdout");
            assert!(
                !line.is_empty(),
                "p2p-chat exited early: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            lines.push(line.trim_end().to_string());
        }
        let p2p = lines[0]
            .strip_prefix("p2p-chat P2P: listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {:?}", lines[0]));
        let p2p_port = p2p.rsplit(':').next().unwrap().parse().unwrap();
        let ui = lines[1]
            .strip_prefix("p2p-chat UI: http://127.0.0.1:")
            .unwrap_or_else(|| panic!("unexpected second line {:?}", lines[1]));
        let (port, token) = ui.split_once("/?token=").expect("token in UI line");
        let identity = lines[2]
            .strip_prefix("p2p-chat identity: ")
            .expect("identity line");
        let (public_key, fingerprint) = identity.split_once(" fingerprint ").expect("fingerprint");
        Peer {
            child,
            p2p_port,
            web_port: port.parse().unwrap(),
            token: token.to_string(),
            public_key: public_key.to_string(),
            fingerprint: fingerprint.to_string(),
            stdout,
            log,
        }
    }

    /// The peer's stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits (polling the log file, bounded) until the peer has logged `needle`.
    pub async fn wait_for_log(&self, needle: &str) {
        let deadline = std::time::Instant::now() + EVENT_TIMEOUT;
        while !self.log().contains(needle) {
            assert!(
                std::time::Instant::now() < deadline,
                "{needle:?} never logged:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Opens the UI WebSocket with the right token and Origin and reads the greeting `info`.
    pub async fn ui(&self) -> Ui {
        let mut ui = Ui::connect(self.web_port, &self.token, Some(&self.origin()), None)
            .await
            .expect("websocket");
        let info = ui.next().await;
        assert_eq!(info["type"], "info", "{info}");
        assert_eq!(info["public_key"], self.public_key.as_str());
        assert_eq!(info["fingerprint"], self.fingerprint.as_str());
        assert_eq!(info["p2p_port"], self.p2p_port);
        assert!(info["agent"]
            .as_str()
            .unwrap_or_default()
            .starts_with("p2p-chat/"));
        ui
    }

    pub fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.web_port)
    }

    /// Sends SIGKILL and waits.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM (to this child only, by pid) and waits up to `EVENT_TIMEOUT` for the exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        let deadline = std::time::Instant::now() + EVENT_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no exit after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// True while the process runs.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!(
                "---- p2p-chat log (port {}) ----\n{}",
                self.p2p_port,
                self.log()
            );
        }
        let _ = std::fs::remove_file(&self.log);
    }
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

/// A UI WebSocket client.
pub struct Ui {
    ws: Ws,
}

impl Ui {
    /// Connects to `/ws?token=` with the given Origin and (optionally) a forged Host header.
    /// Returns the HTTP status on refusal.
    pub async fn connect(
        port: u16,
        token: &str,
        origin: Option<&str>,
        host: Option<&str>,
    ) -> Result<Ui, u16> {
        let url = format!("ws://127.0.0.1:{port}/ws?token={token}");
        let mut request = url.into_client_request().expect("request");
        if let Some(origin) = origin {
            request
                .headers_mut()
                .insert("origin", origin.parse().expect("origin"));
        }
        if let Some(host) = host {
            request
                .headers_mut()
                .insert("host", host.parse().expect("host"));
        }
        match tokio_tungstenite::connect_async(request).await {
            Ok((ws, _)) => Ok(Ui { ws }),
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                Err(response.status().as_u16())
            }
            Err(e) => panic!("websocket error: {e}"),
        }
    }

    /// Connects to `/ws?token=` with exactly these extra headers.
    pub async fn connect_with_headers(
        port: u16,
        token: &str,
        headers: &[(&'static str, &str)],
    ) -> Result<Ui, u16> {
        let url = format!("ws://127.0.0.1:{port}/ws?token={token}");
        let mut request = url.into_client_request().expect("request");
        for (name, value) in headers {
            request
                .headers_mut()
                .insert(*name, value.parse().expect("header"));
        }
        match tokio_tungstenite::connect_async(request).await {
            Ok((ws, _)) => Ok(Ui { ws }),
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                Err(response.status().as_u16())
            }
            Err(e) => panic!("websocket error: {e}"),
        }
    }

    pub async fn send(&mut self, action: Value) {
        self.send_text(&action.to_string()).await;
    }

    pub async fn send_text(&mut self, text: &str) {
        self.ws
            .send(Message::Text(text.to_string().into()))
            .await
            .expect("ws send");
    }

    /// The next event (panics after the timeout or if the socket closes).
    pub async fn next(&mut self) -> Value {
        loop {
            let msg = tokio::time::timeout(EVENT_TIMEOUT, self.ws.next())
                .await
                .expect("timed out waiting for an event")
                .expect("websocket closed")
                .expect("websocket error");
            match msg {
                Message::Text(text) => {
                    return serde_json::from_str(text.as_str()).expect("event JSON")
                }
                Message::Close(_) => panic!("websocket closed by the peer"),
                _ => continue,
            }
        }
    }

    /// Skips events until one matches.
    pub async fn wait_for(&mut self, what: &str, matches: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + EVENT_TIMEOUT;
        loop {
            let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
            let event = tokio::time::timeout(remaining, self.next())
                .await
                .unwrap_or_else(|_| panic!("timed out waiting for {what}"));
            if matches(&event) {
                return event;
            }
        }
    }

    /// Waits for an event of `type`.
    pub async fn wait_type(&mut self, kind: &str) -> Value {
        self.wait_for(kind, |e| e["type"] == kind).await
    }

    /// Dials `port` on 127.0.0.1 and waits for the resulting `peer_connected` for `peer_id`.
    pub async fn connect_peer(&mut self, port: u16, peer_id: &str) -> Value {
        self.send(json!({"action": "connect_peer", "ip": "127.0.0.1", "port": port}))
            .await;
        self.wait_for("peer_connected", |e| {
            assert_ne!(e["type"], "error", "connect_peer failed: {e}");
            e["type"] == "peer_connected" && e["peer_id"] == peer_id
        })
        .await
    }

    /// Accepts the message request of `peer_id` (an inbound new key, PROTOCOL.md §8.2) and
    /// waits until it is a contact.
    pub async fn accept_request(&mut self, peer_id: &str) {
        self.send(json!({"action": "accept_request", "peer_id": peer_id}))
            .await;
        self.wait_for("request_resolved", |e| {
            assert_ne!(e["type"], "error", "accept_request failed: {e}");
            e["type"] == "request_resolved" && e["peer_id"] == peer_id
        })
        .await;
    }

    /// Sends a message and waits for our own `message_sent`.
    pub async fn say(&mut self, text: &str, to: Option<&str>) -> Value {
        let mut action = json!({"action": "send_message", "text": text});
        if let Some(to) = to {
            action["to"] = json!(to);
        }
        self.send(action).await;
        self.wait_for("message_sent", |e| {
            assert_ne!(e["type"], "error", "send_message failed: {e}");
            e["type"] == "message_sent" && e["text"] == text
        })
        .await
    }

    /// Sends `text` to everyone; who it went to. A message to everyone with no contact
    /// connected is refused ("nobody is connected"): that is no one, `[]`.
    pub async fn broadcast_recipients(&mut self, text: &str) -> Value {
        self.send(json!({"action": "send_message", "text": text}))
            .await;
        let answer = self
            .wait_for("message_sent or its refusal", |e| {
                (e["type"] == "message_sent" && e["text"] == text)
                    || (e["type"] == "error" && e["action"] == "send_message")
            })
            .await;
        if answer["type"] == "error" {
            let message = answer["message"].as_str().unwrap_or("");
            assert!(message.contains("nobody is connected"), "{answer}");
            return json!([]);
        }
        answer["recipients"].clone()
    }

    /// Waits for a `peer_message` with this text.
    pub async fn hear(&mut self, text: &str) -> Value {
        self.wait_for(&format!("peer_message {text:?}"), |e| {
            e["type"] == "peer_message" && e["text"] == text
        })
        .await
    }
}

/// Two peers with a live session (A dialled B), both UIs open.
pub struct Pair {
    pub a: Peer,
    pub b: Peer,
    pub ua: Ui,
    pub ub: Ui,
}

impl Pair {
    pub async fn new() -> Pair {
        Pair::with_b_args(&[]).await
    }

    pub async fn with_b_args(extra: &[&str]) -> Pair {
        let a = Peer::start("alice");
        let b = Peer::start_with("bob", extra);
        let mut ua = a.ui().await;
        let mut ub = b.ui().await;
        let info = ua.connect_peer(b.p2p_port, &b.public_key).await;
        assert_eq!(info["name"], "bob");
        let seen = ub
            .wait_for("peer_connected on B", |e| e["type"] == "peer_connected")
            .await;
        assert_eq!(seen["peer_id"], a.public_key.as_str());
        // A dialled B, so B is A's contact; to B, A is a message request until accepted.
        ub.accept_request(&a.public_key).await;
        Pair { a, b, ua, ub }
    }

    /// Proves the A–B session still carries messages both ways.
    pub async fn check_alive(&mut self, tag: &str) {
        let ab = format!("a->b after {tag} {}", rand::random::<u32>());
        self.ua.say(&ab, Some(&self.b.public_key)).await;
        let got = self.ub.hear(&ab).await;
        assert_eq!(got["name"], "alice");
        let ba = format!("b->a after {tag} {}", rand::random::<u32>());
        self.ub.say(&ba, Some(&self.a.public_key)).await;
        self.ua.hear(&ba).await;
        assert!(self.b.is_running(), "peer B died");
    }
}

/// Alice, Bob and Carol (ephemeral), each with a UI open; no sessions unless asked for.
pub struct Three {
    pub a: Peer,
    pub b: Peer,
    pub c: Peer,
    pub ua: Ui,
    pub ub: Ui,
    pub uc: Ui,
}

impl Three {
    pub async fn start() -> Three {
        let a = Peer::start("alice");
        let b = Peer::start("bob");
        let c = Peer::start("carol");
        let ua = a.ui().await;
        let ub = b.ui().await;
        let uc = c.ui().await;
        Three {
            a,
            b,
            c,
            ua,
            ub,
            uc,
        }
    }

    /// Started, then fully meshed: A dials B and C, B dials C.
    pub async fn meshed() -> Three {
        let mut t = Three::start().await;
        t.ua.connect_peer(t.b.p2p_port, &t.b.public_key).await;
        t.ua.connect_peer(t.c.p2p_port, &t.c.public_key).await;
        t.ub.connect_peer(t.c.p2p_port, &t.c.public_key).await;
        // Whoever was dialled accepts the dialler's message request (PROTOCOL.md §8.2).
        t.ub.accept_request(&t.a.public_key).await;
        t.uc.accept_request(&t.a.public_key).await;
        t.uc.accept_request(&t.b.public_key).await;
        t
    }
}

/// Asserts that a JSON array of strings holds exactly `expected`, in any order (the protocol
/// fixes no order for room members or recipients).
pub fn assert_same_set(list: &Value, expected: &[&str]) {
    let mut got: Vec<&str> = list
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {list}"))
        .iter()
        .map(|v| v.as_str().unwrap_or_else(|| panic!("not a string: {v}")))
        .collect();
    got.sort_unstable();
    let mut expected = expected.to_vec();
    expected.sort_unstable();
    assert_eq!(got, expected);
}

/// A plain HTTP/1.1 GET over raw TCP; returns (status, raw head).
pub async fn http_get(port: u16, path: &str, host: &str, extra: &[(&str, &str)]) -> (u16, String) {
    http_request(port, "GET", path, host, extra).await
}

/// Any method, no body.
pub async fn http_request(
    port: u16,
    method: &str,
    path: &str,
    host: &str,
    extra: &[(&str, &str)],
) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Length: 0\r\n"
    );
    for (k, v) in extra {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = Vec::new();
    tokio::time::timeout(EVENT_TIMEOUT, stream.read_to_end(&mut response))
        .await
        .expect("http timeout")
        .expect("read");
    let text = String::from_utf8_lossy(&response).to_string();
    let head = text
        .split("\r\n\r\n")
        .next()
        .unwrap_or_default()
        .to_string();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head)
}

/// Reads until the connection ends (EOF or reset); panics if it stays open past `limit`.
/// Returns how many bytes the peer sent before closing.
pub async fn expect_closed(
    stream: &mut (impl tokio::io::AsyncRead + Unpin),
    limit: Duration,
) -> usize {
    let mut total = 0;
    let mut buf = [0u8; 4096];
    let result = tokio::time::timeout(limit, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => total += n,
            }
        }
    })
    .await;
    assert!(result.is_ok(), "connection still open after {limit:?}");
    total
}

// ---------------------------------------------------------------------------------------------
// The independent Noise client.

pub const NOISE_PARAMS: &str = "Noise_XX_25519_AESGCM_SHA256";
pub const PROLOGUE: &[u8] = b"p2p-chat/1";

/// A PROTOCOL.md client on `snow`, with explicit nonces so tests can replay and reorder.
pub struct SnowClient {
    pub reader: TokioBufReader<OwnedReadHalf>,
    pub writer: OwnedWriteHalf,
    pub transport: snow::StatelessTransportState,
    pub send_counter: u64,
    pub recv_counter: u64,
    pub remote_hello: Value,
    pub public_key: String,
}

pub fn b64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

pub fn unb64(text: &str) -> Vec<u8> {
    B64.decode(text).expect("base64 from the peer")
}

pub fn handshake_line(step: u8, message: &[u8]) -> String {
    format!(
        "{}\n",
        json!({"type": "handshake", "step": step, "message": b64(message)})
    )
}

/// The 12-byte nonce of PROTOCOL.md §4.
pub fn nonce_bytes(counter: u64) -> [u8; 12] {
    let mut nonce = [0u8; 12];
    nonce[4..].copy_from_slice(&counter.to_be_bytes());
    nonce
}

pub async fn read_json_line(reader: &mut TokioBufReader<OwnedReadHalf>) -> Value {
    let mut line = String::new();
    let n = tokio::time::timeout(EVENT_TIMEOUT, reader.read_line(&mut line))
        .await
        .expect("timed out reading a line")
        .expect("read line");
    assert!(n > 0, "connection closed while a line was expected");
    serde_json::from_str(line.trim_end()).expect("line is JSON")
}

/// The first two handshake messages as initiator; returns the state awaiting message 3.
pub async fn snow_first_half(
    port: u16,
) -> (
    snow::HandshakeState,
    TokioBufReader<OwnedReadHalf>,
    OwnedWriteHalf,
    Value,
    String,
) {
    let builder = snow::Builder::new(NOISE_PARAMS.parse().expect("params"));
    let keypair = builder.generate_keypair().expect("keypair");
    let mut hs = snow::Builder::new(NOISE_PARAMS.parse().expect("params"))
        .prologue(PROLOGUE)
        .local_private_key(&keypair.private)
        .build_initiator()
        .expect("initiator");
    let stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let (read, mut writer) = stream.into_split();
    let mut reader = TokioBufReader::new(read);
    let mut buf = vec![0u8; 65_535];
    let n = hs.write_message(&[], &mut buf).expect("message 1");
    writer
        .write_all(handshake_line(1, &buf[..n]).as_bytes())
        .await
        .expect("send 1");
    let frame = read_json_line(&mut reader).await;
    assert_eq!(frame["type"], "handshake");
    assert_eq!(frame["step"], 2);
    let message2 = unb64(frame["message"].as_str().expect("message"));
    let mut payload = vec![0u8; 65_535];
    let n = hs
        .read_message(&message2, &mut payload)
        .expect("message 2 decrypts");
    let hello: Value = serde_json::from_slice(&payload[..n]).expect("hello JSON");
    (hs, reader, writer, hello, b64(&keypair.public))
}

impl SnowClient {
    /// Connects and completes the handshake, sending `hello` in message 3.
    pub async fn connect(port: u16, hello: Value) -> SnowClient {
        let (mut hs, reader, mut writer, remote_hello, public_key) = snow_first_half(port).await;
        let mut buf = vec![0u8; 65_535];
        let n = hs
            .write_message(hello.to_string().as_bytes(), &mut buf)
            .expect("message 3");
        writer
            .write_all(handshake_line(3, &buf[..n]).as_bytes())
            .await
            .expect("send 3");
        let transport = hs.into_stateless_transport_mode().expect("transport");
        SnowClient {
            reader,
            writer,
            transport,
            send_counter: 0,
            recv_counter: 0,
            remote_hello,
            public_key,
        }
    }

    /// Seals `plaintext` with an explicit counter: `ciphertext || tag`.
    pub fn seal(&self, counter: u64, plaintext: &[u8]) -> Vec<u8> {
        let mut buf = vec![0u8; plaintext.len() + 16];
        let n = self
            .transport
            .write_message(counter, plaintext, &mut buf)
            .expect("seal");
        buf.truncate(n);
        buf
    }

    /// Seals `plaintext` with an explicit counter into a data-frame line.
    pub fn seal_line(&self, counter: u64, plaintext: &[u8]) -> String {
        let sealed = self.seal(counter, plaintext);
        format!(
            "{}\n",
            json!({"type": "data", "nonce": b64(&nonce_bytes(counter)), "ciphertext": b64(&sealed)})
        )
    }

    /// Opens `ciphertext || tag` with the next receive counter, as a JSON payload.
    pub fn open_next(&mut self, ciphertext: &[u8]) -> Value {
        let mut out = vec![0u8; ciphertext.len()];
        let n = self
            .transport
            .read_message(self.recv_counter, ciphertext, &mut out)
            .expect("decrypt");
        self.recv_counter += 1;
        serde_json::from_slice(&out[..n]).expect("payload JSON")
    }

    /// Sends a payload with the next counter.
    pub async fn send_payload(&mut self, payload: &Value) -> String {
        let line = self.seal_line(self.send_counter, payload.to_string().as_bytes());
        self.send_counter += 1;
        self.writer
            .write_all(line.as_bytes())
            .await
            .expect("send data");
        line
    }

    /// Sends a chat payload; returns its id.
    pub async fn chat(&mut self, text: &str) -> String {
        let id = format!("snow-{}", rand::random::<u32>());
        let sent_at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        self.send_payload(&json!({"kind": "chat", "id": id, "text": text, "sent_at": sent_at}))
            .await;
        id
    }

    /// Reads and opens the next data frame, checking its nonce is the next counter.
    /// The next payload, skipping `addresses` (sent on every contact's session when it comes up
    /// and whenever the peer's addresses change, PROTOCOL.md §7.1: tests that want it use
    /// [`SnowClient::recv_any_payload`]).
    pub async fn recv_payload(&mut self) -> Value {
        loop {
            let payload = self.recv_any_payload().await;
            if payload["kind"] != "addresses" {
                return payload;
            }
        }
    }

    /// The next payload, whatever its kind.
    pub async fn recv_any_payload(&mut self) -> Value {
        let frame = read_json_line(&mut self.reader).await;
        assert_eq!(frame["type"], "data", "{frame}");
        let nonce = unb64(frame["nonce"].as_str().expect("nonce"));
        assert_eq!(
            nonce,
            nonce_bytes(self.recv_counter),
            "nonce layout / counter"
        );
        let ciphertext = unb64(frame["ciphertext"].as_str().expect("ciphertext"));
        self.open_next(&ciphertext)
    }
}
