//! Attacks on rooms (PROTOCOL.md §8.4): a room has a creator; an announcement of a room we
//! are not in is ignored; only the creator changes a room's name or membership, and only over a
//! direct session with us; every change is shown in the room. Real processes, with the attacker
//! on crypto-core.

mod attack_helpers;
mod common;
mod store_common;

use attack_helpers::{connect_from, core_initiate, core_respond, hello, listener, loopback};
use common::{assert_same_set, Peer};
use crypto_core::Identity;
use serde_json::{json, Value};
use store_common::full_history;

/// The `room` events a freshly opened UI is greeted with (PROTOCOL.md §8.1: `contacts`, then one
/// `room` per known room, then the pending key changes; our `list_contacts` answer ends it).
async fn rooms_in_greeting(peer: &Peer) -> Vec<Value> {
    let mut ui = peer.ui().await;
    ui.send(json!({"action": "list_contacts"})).await;
    let mut rooms = Vec::new();
    let mut listings = 0;
    while listings < 2 {
        let event = ui.next().await;
        match event["type"].as_str() {
            Some("room") => rooms.push(event),
            Some("contacts") => listings += 1,
            _ => {}
        }
    }
    rooms
}

#[tokio::test]
async fn a_strangers_room_that_does_not_list_us_is_ignored() {
    let a = Peer::start("alice");
    let mut ua = a.ui().await;
    let mallory = Identity::generate();
    let mallory_key = mallory.public_key().to_base64();
    let mut conn = core_initiate(
        connect_from(loopback(1), a.p2p_port).await,
        &mallory,
        &hello("mallory", 0),
    )
    .await;
    conn.send(&json!({"kind": "room", "id": "free-crypto", "name": "Free crypto", "members": [mallory_key]}))
        .await;
    conn.chat("send 1 coin, get 2 back", Some("free-crypto"))
        .await;
    conn.chat("marker", None).await;
    // Payloads of one session are handled in order: when the marker is shown, the room and
    // its message were handled (and must have been dropped).
    ua.wait_for("marker", |e| {
        assert_ne!(e["type"], "room", "a room we are not in was shown: {e}");
        assert!(
            !(e["type"] == "peer_message" && e["conversation"] == "room:free-crypto"),
            "a message of a room we are not in was shown: {e}"
        );
        e["type"] == "peer_message" && e["text"] == "marker"
    })
    .await;
    assert_eq!(rooms_in_greeting(&a).await, Vec::<Value>::new());
    ua.send(json!({"action": "load_history", "conversation": "room:free-crypto"}))
        .await;
    let history = ua
        .wait_for("history or error", |e| {
            e["type"] == "history" || e["type"] == "error"
        })
        .await;
    assert!(
        history["messages"].as_array().is_none_or(|m| m.is_empty()),
        "{history}"
    );
}

#[tokio::test]
async fn a_member_who_is_not_the_creator_cannot_rewrite_the_member_list() {
    let a = Peer::start("alice");
    let c = Peer::start("carol");
    let mut ua = a.ui().await;
    let mut uc = c.ui().await;
    // Mallory is Alice's contact (Alice dialled her) and a member of Alice's room.
    let mallory_secret: [u8; 32] = rand::random();
    let mallory = Identity::from_secret_bytes(mallory_secret);
    let mallory_key = mallory.public_key().to_base64();
    let (m_listener, m_port) = listener().await;
    let answering =
        tokio::spawn(
            async move { core_respond(&m_listener, &mallory, &hello("mallory", 0)).await },
        );
    ua.connect_peer(m_port, &mallory_key).await;
    let mut to_alice = answering.await.expect("mallory answers");
    ua.connect_peer(c.p2p_port, &c.public_key).await;
    // Alice dialled Carol: to Carol she is a request until accepted (PROTOCOL.md §8.2), and a
    // stranger's announcement never creates a room.
    uc.accept_request(&a.public_key).await;
    ua.send(
        json!({"action": "create_room", "name": "plans", "members": [c.public_key, mallory_key]}),
    )
    .await;
    let room = ua.wait_type("room").await;
    let room_id = room["id"].as_str().expect("id").to_owned();
    let bare_id = room_id.trim_start_matches("room:").to_owned();
    let learnt = uc.wait_type("room").await;
    to_alice
        .recv_until(|p| p["kind"] == "room")
        .await
        .expect("mallory learns the room");

    // Mallory adds a second key of hers, to read everything said in the room from now on.
    let spy = Identity::generate().public_key().to_base64();
    let forged = json!({"kind": "room", "id": bare_id, "name": "plans", "members":
        [a.public_key, c.public_key, mallory_key, spy]});
    to_alice.send(&forged).await;
    to_alice.chat("marker for alice", None).await;
    ua.wait_for("marker", |e| {
        assert_ne!(e["type"], "room", "a non-creator changed the room: {e}");
        e["type"] == "peer_message" && e["text"] == "marker for alice"
    })
    .await;
    // And told directly to Carol, who knows Mallory only as a member of that room.
    let mut to_carol = core_initiate(
        connect_from(loopback(1), c.p2p_port).await,
        &Identity::from_secret_bytes(mallory_secret),
        &hello("mallory", 0),
    )
    .await;
    to_carol.send(&forged).await;
    to_carol.chat("marker for carol", None).await;
    uc.wait_for("marker", |e| {
        assert_ne!(e["type"], "room", "a non-creator changed the room: {e}");
        e["type"] == "peer_message" && e["text"] == "marker for carol"
    })
    .await;
    for peer in [&a, &c] {
        let rooms = rooms_in_greeting(peer).await;
        assert_eq!(rooms.len(), 1);
        assert_same_set(
            &rooms[0]["members"],
            &[&a.public_key, &c.public_key, &mallory_key],
        );
    }
    // Both know who the creator is.
    assert_eq!(room["creator"], a.public_key.as_str(), "{room}");
    assert_eq!(learnt["creator"], a.public_key.as_str(), "{learnt}");

    // The creator can: Alice removes Mallory; Carol sees the change in the room's timeline.
    ua.send(json!({"action": "change_room", "room": room_id, "remove": [mallory_key]}))
        .await;
    let change = uc
        .wait_for("room_change", |e| e["type"] == "room_change")
        .await;
    assert_eq!(change["room"], room_id.as_str());
    assert_eq!(change["by"], a.public_key.as_str());
    assert_eq!(change["removed"], json!([mallory_key]));
    let updated = uc.wait_type("room").await;
    assert_same_set(&updated["members"], &[&a.public_key, &c.public_key]);
    let timeline = full_history(&mut uc, &room_id).await;
    assert!(
        timeline.iter().any(|m| m["kind"] == "room_change"),
        "the change is not in the room's history: {timeline:?}"
    );
}
