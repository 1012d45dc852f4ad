//! One WebSocket client: checks the upgrade, then translates actions into node calls and node
//! events into JSON text messages.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::{broadcast, mpsc};

use super::actions::{self, Action};
use super::security;
use super::AppState;
use crate::event::Event;
use crate::node::{ConnectError, Target};
use crate::store::Amend;

/// WebSocket close code for a message over the size limit (RFC 6455 §7.4.1).
const CLOSE_TOO_BIG: u16 = 1009;
/// WebSocket close code for any other protocol error.
const CLOSE_PROTOCOL_ERROR: u16 = 1002;

/// `GET /ws?token=…`: 403 unless token and Origin are right (Host was checked by the guard),
/// 503 when `max_clients` UI clients are already connected.
pub async fn upgrade(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let token = query.get("token").map(String::as_str);
    if let Err(why) = security::check_websocket(&state.config, &headers, token) {
        tracing::info!("refused WebSocket: {why}");
        return (StatusCode::FORBIDDEN, "forbidden\n").into_response();
    }
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    let Ok(slot) = state.config.client_slots.clone().try_acquire_owned() else {
        tracing::warn!(
            "refused WebSocket: {} UI clients already connected",
            state.config.limits.max_clients
        );
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "too many UI clients; close another window of this page\n",
        )
            .into_response();
    };
    let max = state.config.limits.max_message;
    upgrade
        .max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| async move {
            client(socket, state).await;
            drop(slot);
        })
}

/// Serialises an event, filling in a peer's fingerprint on the way (see `fingerprints`).
fn to_message(node: &crate::node::Node, event: &Event) -> Option<Message> {
    let filled = node.with_fingerprint(event);
    serde_json::to_string(filled.as_ref().unwrap_or(event))
        .ok()
        .map(|text| Message::Text(text.into()))
}

/// Most replies (errors, `history`, `invite`, listings) waiting for one client (PROTOCOL.md §8).
const REPLY_QUEUE: usize = 64;

/// The queue of replies meant for one client. Errors never wait for room: while the queue is
/// full they are dropped and counted, so a client that floods bad actions cannot make its own
/// action reader wait for the writer (PROTOCOL.md §8). Other replies wait, which only slows
/// that client's reading, never its writing.
#[derive(Clone)]
struct Replies {
    queue: mpsc::Sender<Event>,
    dropped: Arc<AtomicU64>,
}

impl Replies {
    async fn send(&self, event: Event) {
        if matches!(event, Event::Error { .. }) {
            if let Err(mpsc::error::TrySendError::Full(_)) = self.queue.try_send(event) {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        } else {
            // Fails only when the client is gone, and then nobody needs the reply.
            let _ = self.queue.send(event).await;
        }
    }
}

async fn client(socket: WebSocket, state: AppState) {
    let node = state.node.clone();
    let mut shutdown = state.shutdown.clone();
    let (mut sink, mut stream) = socket.split();
    // Subscribe before taking the snapshot so nothing falls between the two.
    let mut events = node.subscribe();
    let (direct_tx, mut direct_rx) = mpsc::channel::<Event>(REPLY_QUEUE);
    let dropped = Arc::new(AtomicU64::new(0));
    let replies = Replies {
        queue: direct_tx,
        dropped: dropped.clone(),
    };
    let mut greeting = vec![node.info()];
    greeting.extend(node.peers().into_iter().map(Event::PeerConnected));
    greeting.extend(node.greeting_events().await);
    greeting.push(node.requests_event().await);
    for event in &greeting {
        if let Some(msg) = to_message(&node, event) {
            if sink.send(msg).await.is_err() {
                return;
            }
        }
    }
    tracing::debug!("UI client connected");
    // Reading actions and writing events run side by side, so neither waits for the other.
    let reader = async {
        loop {
            match stream.next().await {
                Some(Ok(Message::Text(text))) => handle(&state, text.as_str(), &replies).await,
                Some(Ok(Message::Binary(_))) => {
                    replies
                        .send(Event::error(
                            "binary messages are not supported",
                            None,
                            None,
                        ))
                        .await
                }
                Some(Ok(Message::Close(_))) | None => return None,
                Some(Err(e)) => {
                    // An oversized message or a protocol error; say which in the close frame
                    // (the socket may be gone already).
                    tracing::info!("UI client error: {e}");
                    return Some(if is_too_big(e) {
                        CloseFrame {
                            code: CLOSE_TOO_BIG,
                            reason: "message too big".into(),
                        }
                    } else {
                        CloseFrame {
                            code: CLOSE_PROTOCOL_ERROR,
                            reason: "protocol error".into(),
                        }
                    });
                }
                Some(Ok(_)) => {}
            }
        }
    };
    let writer = async {
        loop {
            let (outgoing, direct) = tokio::select! {
                event = events.recv() => match event {
                    Ok(Event::ContactsChanged) => (node.contacts_event().await, false),
                    Ok(event) if event.is_for_ui() => (event, false),
                    Ok(_) => continue,
                    Err(broadcast::error::RecvError::Lagged(n)) => (Event::Status {
                        message: format!("this window fell behind: {n} events were dropped"),
                    }, false),
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                Some(event) = direct_rx.recv() => (event, true),
                _ = shutdown.changed() => return,
            };
            if let Some(msg) = to_message(&node, &outgoing) {
                if sink.send(msg).await.is_err() {
                    return;
                }
            }
            // Errors are dropped only while the queue is full, so it holds replies then and
            // this runs again once they are written.
            if direct && direct_rx.is_empty() {
                let n = dropped.swap(0, Ordering::Relaxed);
                if n > 0 {
                    let status = Event::Status {
                        message: format!(
                            "{n} error replies were dropped: this window sent actions faster than their errors could be written"
                        ),
                    };
                    if let Some(msg) = to_message(&node, &status) {
                        if sink.send(msg).await.is_err() {
                            return;
                        }
                    }
                }
            }
        }
    };
    let close = tokio::select! {
        close = reader => close,
        () = writer => None,
    };
    let _ = sink.send(Message::Close(close)).await;
    tracing::debug!("UI client disconnected");
}

/// Whether a WebSocket read failed because a message or control frame exceeded its limit
/// (as opposed to any other protocol error).
fn is_too_big(error: axum::Error) -> bool {
    use tungstenite::error::{CapacityError, ProtocolError};
    match error.into_inner().downcast::<tungstenite::Error>() {
        Ok(e) => matches!(
            *e,
            tungstenite::Error::Capacity(CapacityError::MessageTooLong { .. })
                | tungstenite::Error::Protocol(ProtocolError::ControlFrameTooBig)
        ),
        Err(_) => false,
    }
}

/// Runs one action; errors go to this client only.
async fn handle(state: &AppState, text: &str, reply: &Replies) {
    let (action, req) = match actions::parse(text) {
        Ok(parsed) => parsed,
        Err(e) => {
            reply
                .send(Event::Error {
                    message: e.message,
                    action: e.action,
                    req: e.req,
                    code: None,
                    address: None,
                })
                .await;
            return;
        }
    };
    let node = &state.node;
    let error = |message: String, action: &str| Event::error(message, Some(action), req.clone());
    match action {
        Action::ConnectPeer { ip, port, peer_id } => {
            // Dialling can take seconds; never block this client's loop on it.
            let node = node.clone();
            let reply = reply.clone();
            tokio::spawn(async move {
                let target = format!("{ip}:{port}");
                let addr = match tokio::net::lookup_host((ip.as_str(), port)).await {
                    Ok(mut addrs) => addrs.next(),
                    Err(_) => None,
                };
                let result = match addr {
                    Some(addr) => node.connect_expecting(addr, peer_id).await.map(drop),
                    None => Err(ConnectError::Resolve(target)),
                };
                if let Err(e) = result {
                    reply.send(Event::dial_error(&e, "connect_peer", req)).await;
                }
            });
        }
        Action::SendMessage { text, to, reply_to } => {
            let target = to.map_or(Target::Everyone, Target::Peer);
            let reply_to = reply_to.map(|r| node.message_key(r.from, r.id));
            if let Err(e) = node.send_reply(&text, target, reply_to).await {
                reply.send(error(e.to_string(), "send_message")).await;
            }
        }
        Action::EditMessage { id, text } => {
            if let Err(e) = node.amend(id, Amend::Edit(text)).await {
                reply.send(error(e.to_string(), "edit_message")).await;
            }
        }
        Action::DeleteForEveryone { id } => {
            if let Err(e) = node.amend(id, Amend::Delete).await {
                reply
                    .send(error(e.to_string(), "delete_for_everyone"))
                    .await;
            }
        }
        Action::React { to, emoji } => {
            if let Err(e) = node.react(node.message_key(to.from, to.id), emoji).await {
                reply.send(error(e.to_string(), "react")).await;
            }
        }
        Action::SetName { name } => node.set_name(&name),
        Action::SetVerified { peer_id, verified } => node.set_verified(peer_id, verified),
        Action::DisconnectPeer { peer_id } => {
            if !node.disconnect(&peer_id, "disconnected by the user") {
                reply
                    .send(error(
                        "not connected to that peer".into(),
                        "disconnect_peer",
                    ))
                    .await;
            }
        }
        Action::SendToRoom {
            text,
            room,
            reply_to,
        } => {
            let reply_to = reply_to.map(|r| node.message_key(r.from, r.id));
            if let Err(e) = node.send_reply(&text, Target::Room(room), reply_to).await {
                reply.send(error(e.to_string(), "send_message")).await;
            }
        }
        Action::LoadHistory {
            conversation,
            before,
            limit,
        } => {
            let event = node
                .history(conversation, before, limit)
                .await
                .unwrap_or_else(|e| error(e.to_string(), "load_history"));
            reply.send(event).await;
        }
        Action::ResolveKeyChange { change_id, accept } => {
            if let Err(e) = node.resolve_key_change(change_id, accept).await {
                let name = if accept {
                    "accept_key_change"
                } else {
                    "reject_key_change"
                };
                reply.send(error(e.to_string(), name)).await;
            }
        }
        Action::GetInvite => {
            let event = node
                .invite_event()
                .unwrap_or_else(|e| error(e.to_string(), "get_invite"));
            reply.send(event).await;
        }
        Action::ConnectInvite { invite } => {
            let node = node.clone();
            let reply = reply.clone();
            tokio::spawn(async move {
                if let Err(e) = node.connect_invite(&invite).await {
                    reply
                        .send(Event::dial_error(&e, "connect_invite", req))
                        .await;
                }
            });
        }
        Action::CreateRoom { name, members } => {
            if let Err(e) = node.create_room(&name, members).await {
                reply.send(error(e.to_string(), "create_room")).await;
            }
        }
        Action::ChangeRoom {
            room,
            name,
            add,
            remove,
        } => {
            if let Err(e) = node.change_room(&room, name.as_deref(), add, remove).await {
                let _ = reply.send(error(e.to_string(), "change_room")).await;
            }
        }
        Action::SetNickname { peer_id, nickname } => {
            if let Err(e) = node.set_nickname(peer_id, nickname).await {
                let _ = reply.send(error(e.to_string(), "set_nickname")).await;
            }
        }
        Action::ListContacts => {
            reply.send(node.contacts_event().await).await;
        }
        Action::ListRequests => {
            let _ = reply.send(node.requests_event().await).await;
        }
        Action::AcceptRequest { peer_id } => {
            if let Err(e) = node.accept_request(peer_id).await {
                let _ = reply.send(error(e.to_string(), "accept_request")).await;
            }
        }
        Action::SetBlocked { peer_id, blocked } => {
            if let Err(e) = node.set_blocked(peer_id, blocked).await {
                let name = if blocked {
                    "block_peer"
                } else {
                    "unblock_peer"
                };
                let _ = reply.send(error(e.to_string(), name)).await;
            }
        }
        Action::LoadRequestHistory {
            peer_id,
            before,
            limit,
        } => {
            let event = node
                .request_history(peer_id, before, limit)
                .await
                .unwrap_or_else(|e| error(e.to_string(), "load_history"));
            let _ = reply.send(event).await;
        }
        Action::SetTimer {
            conversation,
            seconds,
        } => {
            if let Err(e) = node.set_timer(conversation, seconds).await {
                reply.send(error(e.to_string(), "set_timer")).await;
            }
        }
        Action::History(action) => {
            if let Some(event) = super::history_actions::run(node, action, req).await {
                reply.send(event).await;
            }
        }
        Action::Reach(action) => {
            // An introduction can take seconds; never block this client's loop on it.
            let node = node.clone();
            let reply = reply.clone();
            tokio::spawn(async move {
                if let Some(event) = super::reach_actions::run(&node, action, req).await {
                    reply.send(event).await;
                }
            });
        }
    }
}
