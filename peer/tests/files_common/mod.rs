//! Helpers for the file tests (PROTOCOL.md §5.1, §8.11): uploads and downloads over raw HTTP,
//! generated file contents, waiting for a transfer's `file_progress`, and a TCP relay that
//! counts the bytes between two peers (so a test can tell whether verified chunks were sent
//! twice).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::common::{Peer, Ui, EVENT_TIMEOUT};

/// Deterministic pseudo-random bytes (xorshift), fast enough for hundreds of MiB.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 8);
    let mut x = seed | 1;
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Writes `len` pattern bytes to `path` in 8 MiB pieces (never the whole file in memory).
pub fn write_pattern_file(path: &Path, len: u64, seed: u64) {
    use std::io::Write;
    let mut file = std::fs::File::create(path).expect("create");
    let mut left = len;
    let mut piece_seed = seed;
    while left > 0 {
        let n = left.min(8 << 20) as usize;
        file.write_all(&pattern(n, piece_seed)).expect("write");
        piece_seed = piece_seed.wrapping_mul(6364136223846793005).wrapping_add(1);
        left -= n as u64;
    }
    file.sync_all().expect("sync");
}

/// SHA-256 of a file, hex, read in pieces.
pub fn sha256_file(path: &Path) -> String {
    use sha2::Digest;
    use std::io::Read;
    let mut file = std::fs::File::open(path).expect("open");
    let mut hasher = sha2::Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buffer).expect("read");
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A raw HTTP/1.1 response: status, head, body.
pub struct HttpResponse {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

/// Sends one request (`body` streamed from `upload` when given) and reads the whole response.
pub async fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    upload: Option<&Path>,
) -> HttpResponse {
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let length = upload.map_or(0, |p| std::fs::metadata(p).expect("upload").len());
    let mut head =
        format!("{method} {path} HTTP/1.1\r\nConnection: close\r\nContent-Length: {length}\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        head.push_str(&format!("Host: 127.0.0.1:{port}\r\n"));
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.expect("write");
    if let Some(upload) = upload {
        let mut file = tokio::fs::File::open(upload).await.expect("open upload");
        let mut buffer = vec![0u8; 1 << 20];
        loop {
            let n = file.read(&mut buffer).await.expect("read upload");
            if n == 0 {
                break;
            }
            if stream.write_all(&buffer[..n]).await.is_err() {
                // The server may refuse and close before the body is sent.
                break;
            }
        }
    }
    let mut response = Vec::new();
    let _ = tokio::time::timeout(EVENT_TIMEOUT * 4, stream.read_to_end(&mut response)).await;
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(response.len());
    let head = String::from_utf8_lossy(&response[..split]).to_string();
    let mut body = response[(split + 4).min(response.len())..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    HttpResponse { status, head, body }
}

fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(line_end) = body.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size = usize::from_str_radix(
            std::str::from_utf8(&body[..line_end]).unwrap_or("0").trim(),
            16,
        )
        .unwrap_or(0);
        if size == 0 {
            return out;
        }
        let start = line_end + 2;
        out.extend_from_slice(&body[start..start + size]);
        body = &body[start + size + 2..];
    }
}

/// Uploads `path` to `peer` (token header, same Origin); returns the upload id.
pub async fn upload(peer: &Peer, path: &Path) -> String {
    let origin = peer.origin();
    let response = http(
        peer.web_port,
        "POST",
        "/files",
        &[("X-P2P-Chat-Token", &peer.token), ("Origin", &origin)],
        Some(path),
    )
    .await;
    assert_eq!(response.status, 201, "{}", response.head);
    let answer: Value = serde_json::from_slice(&response.body).expect("upload JSON");
    answer["upload"].as_str().expect("upload id").to_owned()
}

/// Uploads `path` and sends it to `to` (a peer_id or `room:<id>`); returns the `message_sent`.
pub async fn send_upload(peer: &Peer, ui: &mut Ui, path: &Path, name: &str, to: &str) -> Value {
    let id = upload(peer, path).await;
    ui.send(json!({"action": "send_file", "upload": id, "name": name, "to": to, "req": "send"}))
        .await;
    ui.wait_for("message_sent with a file", |e| {
        assert!(
            !(e["type"] == "error" && e["req"] == "send"),
            "send_file failed: {e}"
        );
        e["type"] == "message_sent" && e["file"].is_object()
    })
    .await
}

/// Waits (up to `limit`) for the `file_progress` of message `id` in `state`.
pub async fn wait_state(ui: &mut Ui, id: &str, state: &str, limit: Duration) -> Value {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let event = tokio::time::timeout(left, ui.next())
            .await
            .unwrap_or_else(|_| panic!("no file_progress {state} for {id} within {limit:?}"));
        if std::env::var_os("FILES_TEST_TRACE").is_some() {
            eprintln!("event: {event}");
        }
        if event["type"] == "file_progress" && event["id"] == id && event["state"] == state {
            return event;
        }
    }
}

/// Waits for the `file_progress` of message `id` whose `bytes` reach `at_least`.
pub async fn wait_bytes(ui: &mut Ui, id: &str, at_least: u64, limit: Duration) -> Value {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let event = tokio::time::timeout(left, ui.next())
            .await
            .unwrap_or_else(|_| panic!("{id} never reached {at_least} bytes within {limit:?}"));
        if event["type"] == "file_progress"
            && event["id"] == id
            && event["bytes"].as_u64().unwrap_or(0) >= at_least
        {
            return event;
        }
    }
}

/// Where a peer with data directory `dir` keeps received file `name`.
pub fn received(dir: &Path, name: &str) -> PathBuf {
    dir.join("files").join("received").join(name)
}

/// GET /files/<key> with the token header.
pub async fn download(peer: &Peer, key: &str) -> HttpResponse {
    http(
        peer.web_port,
        "GET",
        &format!("/files/{key}"),
        &[("X-P2P-Chat-Token", &peer.token)],
        None,
    )
    .await
}

/// A TCP relay on a free loopback port to `target`, counting the bytes each way. Every
/// connection through it is relayed; it runs until the test ends.
pub struct CountingRelay {
    pub port: u16,
    /// Bytes from the dialling side to `target`.
    pub forward: Arc<AtomicU64>,
    /// Bytes back.
    pub backward: Arc<AtomicU64>,
}

impl CountingRelay {
    /// A relay on a free port to `127.0.0.1:target`.
    pub async fn start(target: u16) -> CountingRelay {
        Self::start_at(0, ("127.0.0.1", target)).await
    }

    /// A relay on `127.0.0.1:port` to `target`.
    pub async fn start_at(port: u16, target: (&'static str, u16)) -> CountingRelay {
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind relay");
        let port = listener.local_addr().expect("addr").port();
        let forward = Arc::new(AtomicU64::new(0));
        let backward = Arc::new(AtomicU64::new(0));
        let (f, b) = (forward.clone(), backward.clone());
        tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let Ok(outbound) = TcpStream::connect(target).await else {
                    continue;
                };
                let (f, b) = (f.clone(), b.clone());
                tokio::spawn(async move {
                    let (ri, wi) = inbound.into_split();
                    let (ro, wo) = outbound.into_split();
                    tokio::join!(pump(ri, wo, f), pump(ro, wi, b));
                });
            }
        });
        CountingRelay {
            port,
            forward,
            backward,
        }
    }

    pub fn forward_bytes(&self) -> u64 {
        self.forward.load(Ordering::Relaxed)
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    count: Arc<AtomicU64>,
) {
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                count.fetch_add(n as u64, Ordering::Relaxed);
                if to.write_all(&buffer[..n]).await.is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown().await;
}
