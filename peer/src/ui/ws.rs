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

/// The header of the local API token (PROTOCOL.md §8.11).
pub const API_TOKEN_HEADER: &str = "x-p2p-chat-api-token";

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
    // The local API token (PROTOCOL.md §8.11): only a non-browser client can send the header.
    let api = match headers.get(API_TOKEN_HEADER) {
        None => false,
        Some(given) => {
            let given = given.to_str().unwrap_or_default();
            if !state
                .config
                .api_token
                .as_deref()
                .is_some_and(|t| security::token_matches(t, given))
            {
                tracing::info!("refused WebSocket: wrong local API token");
                return (StatusCode::FORBIDDEN, "forbidden\n").into_response();
            }
            true
        }
    };
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
            client(socket, state, api).await;
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

/// Most events written to a client with one flush.
const WRITE_BATCH: usize = 256;

/// What a client is sent on connect after `info` (and again after a `resync`): every live
/// session, the contacts, rooms, held key changes and requests (PROTOCOL.md §8, §8.1).
async fn snapshot(node: &crate::node::Node) -> Vec<Event> {
    let mut events: Vec<Event> = node.peers().into_iter().map(Event::PeerConnected).collect();
    events.extend(node.greeting_events().await);
    events.push(node.requests_event().await);
    events.push(node.nearby_event());
    events.push(node.indicators_event().await);
    events
}

/// A broadcast event as this client gets it: `Some(None)` skips it (internal), `None` ends
/// the client (the node is gone). A lag becomes `resync` (PROTOCOL.md §8).
async fn for_this_client(
    node: &crate::node::Node,
    event: Result<Event, broadcast::error::RecvError>,
) -> Option<Option<Event>> {
    match event {
        Ok(Event::ContactsChanged) => Some(Some(node.contacts_event().await)),
        Ok(event) if event.is_for_ui() => Some(Some(event)),
        Ok(_) => Some(None),
        Err(broadcast::error::RecvError::Lagged(n)) => {
            tracing::info!("a UI client fell behind by {n} events; it resyncs");
            Some(Some(Event::Resync { dropped: n }))
        }
        Err(broadcast::error::RecvError::Closed) => None,
    }
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

async fn client(socket: WebSocket, state: AppState, api: bool) {
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
    // `info` first, before the greeting reads the store: it is what tells the page its peer
    // is up, so it never waits for a listing of ten thousand contacts.
    if let Some(msg) = to_message(&node, &node.info()) {
        if sink.send(msg).await.is_err() {
            return;
        }
    }
    for event in &snapshot(&node).await {
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
                Some(Ok(Message::Text(text))) => handle(&state, text.as_str(), &replies, api).await,
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
            let (first, direct) = tokio::select! {
                event = events.recv() => match for_this_client(&node, event).await {
                    Some(Some(event)) => (event, false),
                    Some(None) => continue,
                    None => return,
                },
                Some(event) = direct_rx.recv() => (event, true),
                _ = shutdown.changed() => return,
            };
            // Whatever else is ready goes into the same write: one flush for a burst, not
            // one per event (a flood of chats is ~150,000 events a second).
            let mut batch = vec![first];
            while batch.len() < WRITE_BATCH {
                match events.try_recv() {
                    Ok(event) => match for_this_client(&node, Ok(event)).await {
                        Some(Some(event)) => batch.push(event),
                        Some(None) => {}
                        None => return,
                    },
                    Err(broadcast::error::TryRecvError::Lagged(n)) => {
                        batch.push(Event::Resync { dropped: n });
                    }
                    Err(broadcast::error::TryRecvError::Empty) => break,
                    Err(broadcast::error::TryRecvError::Closed) => return,
                }
            }
            while batch.len() < WRITE_BATCH {
                match direct_rx.try_recv() {
                    Ok(event) => batch.push(event),
                    Err(_) => break,
                }
            }
            for event in batch {
                let resync = matches!(event, Event::Resync { .. });
                if let Some(msg) = to_message(&node, &event) {
                    if sink.feed(msg).await.is_err() {
                        return;
                    }
                }
                if resync {
                    // What this window missed is unknown: the connect snapshot again, after
                    // which the page reloads what it shows from history (PROTOCOL.md §8).
                    for event in std::iter::once(node.info()).chain(snapshot(&node).await) {
                        if let Some(msg) = to_message(&node, &event) {
                            if sink.feed(msg).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            }
            if sink.flush().await.is_err() {
                return;
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
async fn handle(state: &AppState, text: &str, reply: &Replies, api: bool) {
    let (action, req) = match actions::parse_for(text, api) {
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
        Action::ConnectNearby { peer_id } => {
            let node = node.clone();
            let reply = reply.clone();
            tokio::spawn(async move {
                if let Err(e) = node.connect_nearby(peer_id).await {
                    let address = match &e {
                        crate::node::NearbyError::Dial(dial) => dial.address(),
                        crate::node::NearbyError::NotNearby => None,
                    };
                    reply
                        .send(Event::Error {
                            message: e.to_string(),
                            action: Some("connect_nearby".into()),
                            req,
                            code: Some(e.code()),
                            address,
                        })
                        .await;
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
            after,
        } => {
            let page = match after {
                Some(after) => node.history_after(conversation, after, limit).await,
                None => node.history(conversation, before, limit).await,
            };
            let event = page.unwrap_or_else(|e| error(e.to_string(), "load_history"));
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
        Action::Indicators(action) => {
            if let Some(event) = super::indicator_actions::run(node, action, req).await {
                reply.send(event).await;
            }
        }
        Action::File(action) => {
            // Hashing a large file takes a while: never hold this client's actions for it.
            let node = node.clone();
            let reply = reply.clone();
            tokio::spawn(async move {
                if let Some(event) = super::file_actions::run(&node, action, req).await {
                    reply.send(event).await;
                }
            });
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
