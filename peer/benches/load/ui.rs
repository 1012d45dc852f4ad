//! The peer's UI WebSocket (PROTOCOL.md §8), as the page uses it.

use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::proc::PeerProc;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;
pub type UiTx = SplitSink<Ws, Message>;
pub type UiRx = SplitStream<Ws>;

/// Opens `/ws?token=` with the right Origin; returns the halves.
pub async fn open(peer: &PeerProc) -> Result<(UiTx, UiRx)> {
    let url = format!("ws://127.0.0.1:{}/ws?token={}", peer.web_port, peer.token);
    let mut request = url.into_client_request()?;
    request.headers_mut().insert(
        "origin",
        format!("http://127.0.0.1:{}", peer.web_port).parse()?,
    );
    // No Nagle, as a browser's sockets: the bench times the peer, not the client's stack.
    let (ws, _) = tokio_tungstenite::connect_async_with_config(request, None, true)
        .await
        .context("websocket")?;
    Ok(ws.split())
}

pub async fn send(tx: &mut UiTx, action: &Value) -> Result<()> {
    tx.send(Message::Text(action.to_string().into())).await?;
    Ok(())
}

/// The next JSON event, or an error after `limit`.
pub async fn next(rx: &mut UiRx, limit: Duration) -> Result<Value> {
    loop {
        let msg = tokio::time::timeout(limit, rx.next())
            .await
            .map_err(|_| anyhow!("no UI event within {limit:?}"))?
            .context("websocket closed")??;
        match msg {
            Message::Text(text) => return Ok(serde_json::from_str(text.as_str())?),
            Message::Close(_) => bail!("websocket closed by the peer"),
            _ => continue,
        }
    }
}

/// Has the peer behind this UI dial `peer` (`connect_peer`) and waits for its `peer_connected`.
pub async fn connect_to(
    tx: &mut UiTx,
    rx: &mut UiRx,
    peer: &PeerProc,
    limit: Duration,
) -> Result<()> {
    let dial = json!({"action": "connect_peer", "ip": "127.0.0.1", "port": peer.p2p_port});
    send(tx, &dial).await?;
    wait_for(rx, limit, |e| {
        e["type"] == "peer_connected" && e["peer_id"] == peer.public_key.as_str()
    })
    .await?;
    Ok(())
}

/// Skips events until `pred` holds.
pub async fn wait_for(
    rx: &mut UiRx,
    limit: Duration,
    pred: impl Fn(&Value) -> bool,
) -> Result<Value> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let event = next(rx, left).await?;
        if event["type"] == "error" && event["req"].is_null() {
            bail!("UI error: {event}");
        }
        if pred(&event) {
            return Ok(event);
        }
    }
}

/// Accepts every message request the peer announces, on a UI connection of its own: the load
/// clients dial in, so to the peer each is a stranger (PROTOCOL.md §8.2) until accepted, and
/// only a contact's chats take the path the throughput and fan-out figures are about. The same
/// connection is the UI window of the ingest figure: it counts every `peer_message` it gets
/// (without parsing it: a substring test keeps this reader ahead of 150,000 events a second)
/// and every sign of a window that fell behind (`resync`, or the older lag `status`).
pub struct AutoAccept {
    accepted: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    shown: std::sync::Arc<std::sync::atomic::AtomicU64>,
    behind: std::sync::Arc<std::sync::atomic::AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl AutoAccept {
    pub async fn start(peer: &PeerProc) -> Result<AutoAccept> {
        use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
        use std::sync::Arc;
        let (mut tx, mut rx) = open(peer).await?;
        let accepted = Arc::new(AtomicUsize::new(0));
        let shown = Arc::new(AtomicU64::new(0));
        let behind = Arc::new(AtomicU64::new(0));
        let (count, shown_w, behind_w) = (accepted.clone(), shown.clone(), behind.clone());
        let task = tokio::spawn(async move {
            while let Some(Ok(msg)) = rx.next().await {
                let Message::Text(text) = msg else {
                    continue;
                };
                let text = text.as_str();
                if text.starts_with("{\"type\":\"peer_message\"") {
                    shown_w.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                if text.starts_with("{\"type\":\"resync\"") || text.contains("fell behind") {
                    behind_w.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                let Ok(event) = serde_json::from_str::<Value>(text) else {
                    continue;
                };
                let keys: Vec<Value> = match event["type"].as_str() {
                    Some("request") => vec![event["peer_id"].clone()],
                    Some("requests") => event["requests"]
                        .as_array()
                        .map(|list| list.iter().map(|r| r["peer_id"].clone()).collect())
                        .unwrap_or_default(),
                    Some("request_resolved") if event["outcome"] == "accepted" => {
                        count.fetch_add(1, Ordering::AcqRel);
                        continue;
                    }
                    _ => continue,
                };
                for key in keys {
                    let action = json!({"action": "accept_request", "peer_id": key});
                    if send(&mut tx, &action).await.is_err() {
                        return;
                    }
                }
            }
        });
        Ok(AutoAccept {
            accepted,
            shown,
            behind,
            task,
        })
    }

    /// `peer_message` events this window has received so far.
    pub fn shown(&self) -> u64 {
        self.shown.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Times this window was told it fell behind (events dropped for it).
    pub fn behind(&self) -> u64 {
        self.behind.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Waits until `n` requests in all have been accepted.
    pub async fn wait(&self, n: usize, limit: Duration) -> Result<()> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let have = self.accepted.load(std::sync::atomic::Ordering::Acquire);
            if have >= n {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                bail!("only {have} of {n} load clients were accepted as contacts");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Waits until the window has shown `n` messages in all (or `limit` passed); returns how
    /// many it has.
    pub async fn wait_shown(&self, n: u64, limit: Duration) -> u64 {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let have = self.shown();
            if have >= n || tokio::time::Instant::now() >= deadline {
                return have;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

impl Drop for AutoAccept {
    fn drop(&mut self) {
        self.task.abort();
    }
}
