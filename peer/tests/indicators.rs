//! Typing indicators and read receipts between real processes (PROTOCOL.md §5 `typing` and
//! `read`, §8.10): both off until turned on, reciprocal (off with someone: nothing sent to them
//! and nothing of theirs shown), per contact or for everyone; typing rate-limited on the wire
//! and bounded on receipt (one UI event per change, however many payloads); receipts sent for
//! what the page says was read, one naming the newest message, later to a contact that was
//! offline, in a room to each sender for its own messages; a message request gets neither and
//! its are ignored.

mod common;
mod store_common;

use std::time::{Duration, Instant};

use common::{Pair, Peer, SnowClient, Three, Ui};
use peer::node::{TYPING_EXPIRY, TYPING_MIN_START_GAP, TYPING_RESEND};
use serde_json::{json, Value};
use store_common::full_history;

/// Sends `set_indicators` with `fields` and waits for the `indicators` event it causes.
async fn set(ui: &mut Ui, fields: Value) -> Value {
    let mut action = json!({"action": "set_indicators"});
    for (k, v) in fields.as_object().unwrap() {
        action[k] = v.clone();
    }
    ui.send(action).await;
    ui.wait_for("indicators", |e| {
        assert_ne!(e["type"], "error", "set_indicators failed: {e}");
        e["type"] == "indicators"
    })
    .await
}

async fn typing(ui: &mut Ui, conversation: &str, active: bool) {
    ui.send(json!({"action": "typing", "conversation": conversation, "active": active}))
        .await;
}

async fn mark_read(ui: &mut Ui, conversation: &str, from: &str, id: &str) {
    ui.send(json!({"action": "mark_read", "conversation": conversation, "from": from, "id": id}))
        .await;
}

/// Every event up to and including the first that matches.
async fn events_until(ui: &mut Ui, what: &str, matches: impl Fn(&Value) -> bool) -> Vec<Value> {
    let seen = std::cell::RefCell::new(Vec::new());
    ui.wait_for(what, |e| {
        assert_ne!(e["type"], "error", "while waiting for {what}: {e}");
        seen.borrow_mut().push(e.clone());
        matches(e)
    })
    .await;
    seen.into_inner()
}

/// Reads the client's payloads up to the chat with `text` (acknowledging nothing).
async fn payloads_until_chat(snow: &mut SnowClient, text: &str) -> Vec<Value> {
    let mut seen = Vec::new();
    loop {
        let payload = tokio::time::timeout(common::EVENT_TIMEOUT, snow.recv_payload())
            .await
            .unwrap_or_else(|_| panic!("no chat {text:?}; got {seen:?}"));
        let done = payload["kind"] == "chat" && payload["text"] == text;
        seen.push(payload);
        if done {
            return seen;
        }
    }
}

fn typing_payloads(payloads: &[Value]) -> Vec<bool> {
    payloads
        .iter()
        .filter(|p| p["kind"] == "typing")
        .map(|p| p["active"].as_bool().unwrap())
        .collect()
}

fn typing_events(events: &[Value], peer: &str) -> Vec<bool> {
    events
        .iter()
        .filter(|e| e["type"] == "typing" && e["peer_id"] == peer)
        .map(|e| e["active"].as_bool().unwrap())
        .collect()
}

fn read_events(events: &[Value]) -> Vec<&Value> {
    events.iter().filter(|e| e["type"] == "read").collect()
}

/// A test client that dialled Bob and was accepted: a contact that can write any payload.
async fn contact_client(b: &Peer, ub: &mut Ui) -> SnowClient {
    let snow = SnowClient::connect(b.p2p_port, json!({"name": "snow", "listen_port": 1})).await;
    let key = snow.public_key.clone();
    ub.wait_for("the client's session", |e| {
        e["type"] == "peer_connected" && e["peer_id"] == key.as_str()
    })
    .await;
    ub.accept_request(&key).await;
    snow
}

#[tokio::test]
async fn typing_is_opt_in_reciprocal_rate_limited_bounded_and_never_for_a_request() {
    let b = Peer::start("bob");
    let mut ub = b.ui().await;
    // A fresh page is told both are off, with no overrides.
    let greeting = b
        .ui()
        .await
        .wait_for("indicators", |e| e["type"] == "indicators")
        .await;
    assert_eq!(
        greeting,
        json!({"type": "indicators", "typing": false, "read_receipts": false, "contacts": {}})
    );
    let mut snow = contact_client(&b, &mut ub).await;
    let key = snow.public_key.clone();

    // Off by default: Bob's typing is not sent, the contact's is not shown.
    typing(&mut ub, &key, true).await;
    ub.say("marker 1", Some(&key)).await;
    let seen = payloads_until_chat(&mut snow, "marker 1").await;
    assert_eq!(typing_payloads(&seen), Vec::<bool>::new(), "{seen:?}");
    snow.send_payload(&json!({"kind": "typing", "active": true}))
        .await;
    snow.chat("marker 2").await;
    let events = events_until(&mut ub, "marker 2", |e| e["text"] == "marker 2").await;
    assert_eq!(typing_events(&events, &key), Vec::<bool>::new());

    // On for everyone: 20 "typing" from the page within the window give one start, then the
    // stop; a start goes again only TYPING_RESEND after the last one.
    let on = set(&mut ub, json!({"typing": true})).await;
    assert_eq!(
        (&on["typing"], &on["read_receipts"]),
        (&json!(true), &json!(false))
    );
    let window = Instant::now();
    for _ in 0..20 {
        typing(&mut ub, &key, true).await;
    }
    typing(&mut ub, &key, false).await;
    typing(&mut ub, &key, false).await;
    typing(&mut ub, &key, true).await;
    ub.say("marker 3", Some(&key)).await;
    let seen = payloads_until_chat(&mut snow, "marker 3").await;
    let sent = typing_payloads(&seen);
    // The last start is sent only if the window had passed by then (a very slow machine).
    assert!(
        sent == [true, false] || (sent == [true, false, true] && window.elapsed() >= TYPING_RESEND),
        "{seen:?}"
    );
    tokio::time::sleep(TYPING_RESEND.saturating_sub(window.elapsed())).await;
    typing(&mut ub, &key, true).await;
    ub.say("marker 4", Some(&key)).await;
    let seen = payloads_until_chat(&mut snow, "marker 4").await;
    assert_eq!(typing_payloads(&seen), vec![true], "{seen:?}");
    assert!(
        seen.iter()
            .any(|p| p == &json!({"kind": "typing", "active": true})),
        "the wire form of PROTOCOL.md §5: {seen:?}"
    );

    // The contact floods 400 starts and stops: Bob's page gets one start and one stop.
    for i in 0..400 {
        snow.send_payload(&json!({"kind": "typing", "active": i % 2 == 0}))
            .await;
    }
    snow.chat("marker 5").await;
    let events = events_until(&mut ub, "marker 5", |e| e["text"] == "marker 5").await;
    assert_eq!(
        typing_events(&events, &key),
        vec![true, false],
        "{events:?}"
    );
    let shown = events.iter().find(|e| e["type"] == "typing").unwrap();
    assert_eq!(
        shown,
        &json!({"type": "typing", "conversation": key, "peer_id": key, "active": true})
    );

    // A start with no stop ends by itself after TYPING_EXPIRY; a chat ends it at once.
    tokio::time::sleep(TYPING_MIN_START_GAP).await;
    snow.send_payload(&json!({"kind": "typing", "active": true}))
        .await;
    let started = ub
        .wait_for("typing on", |e| {
            e["type"] == "typing" && e["active"] == true
        })
        .await;
    assert_eq!(started["peer_id"], key.as_str());
    let since = Instant::now();
    ub.wait_for("typing off", |e| {
        e["type"] == "typing" && e["active"] == false
    })
    .await;
    assert!(
        since.elapsed() >= TYPING_EXPIRY - Duration::from_secs(1),
        "stopped after {:?}, before the expiry",
        since.elapsed()
    );
    tokio::time::sleep(TYPING_MIN_START_GAP).await;
    snow.send_payload(&json!({"kind": "typing", "active": true}))
        .await;
    ub.wait_for("typing on", |e| {
        e["type"] == "typing" && e["active"] == true
    })
    .await;
    snow.chat("marker 6").await;
    let events = events_until(&mut ub, "typing off", |e| {
        e["type"] == "typing" && e["active"] == false
    })
    .await;
    assert!(
        events.iter().all(|e| e["text"] != "marker 6"),
        "the stop comes before the chat is shown"
    );
    ub.hear("marker 6").await;

    // Off for this contact only (reciprocal): Bob sends none and shows none of theirs.
    let off = set(&mut ub, json!({"peer_id": key, "typing": false})).await;
    assert_eq!(off["typing"], true);
    assert_eq!(
        off["contacts"][&key],
        json!({"typing": false, "read_receipts": null})
    );
    typing(&mut ub, &key, true).await;
    ub.say("marker 7", Some(&key)).await;
    let seen = payloads_until_chat(&mut snow, "marker 7").await;
    assert_eq!(typing_payloads(&seen), Vec::<bool>::new(), "{seen:?}");
    tokio::time::sleep(TYPING_MIN_START_GAP).await;
    snow.send_payload(&json!({"kind": "typing", "active": true}))
        .await;
    snow.chat("marker 8").await;
    let events = events_until(&mut ub, "marker 8", |e| e["text"] == "marker 8").await;
    assert_eq!(typing_events(&events, &key), Vec::<bool>::new());

    // A message request: its typing and receipts are ignored, and it gets no typing of ours
    // (typing is on for everyone).
    let mut stranger =
        SnowClient::connect(b.p2p_port, json!({"name": "stranger", "listen_port": 1})).await;
    let skey = stranger.public_key.clone();
    ub.wait_for("the request", |e| {
        e["type"] == "peer_connected" && e["peer_id"] == skey.as_str()
    })
    .await;
    typing(&mut ub, &skey, true).await;
    stranger
        .send_payload(&json!({"kind": "typing", "active": true}))
        .await;
    stranger.chat("hello from a stranger").await;
    let events = events_until(&mut ub, "the request's chat", |e| {
        e["text"] == "hello from a stranger"
    })
    .await;
    assert_eq!(typing_events(&events, &skey), Vec::<bool>::new());
    ub.accept_request(&skey).await;
    ub.say("marker 9", Some(&skey)).await;
    let seen = payloads_until_chat(&mut stranger, "marker 9").await;
    assert_eq!(typing_payloads(&seen), Vec::<bool>::new(), "{seen:?}");

    // Bad actions get an error.
    for bad in [
        json!({"action": "typing", "conversation": "everyone", "active": true}),
        json!({"action": "set_indicators", "peer_id": "x", "typing": true}),
        json!({"action": "set_indicators"}),
    ] {
        ub.send(bad.clone()).await;
        let e = ub.wait_type("error").await;
        assert!(e["action"].is_string(), "{bad}: {e}");
    }
    let not_contact = crypto_core::Identity::generate().public_key().to_base64();
    ub.send(json!({"action": "set_indicators", "peer_id": not_contact, "typing": true}))
        .await;
    assert!(ub.wait_type("error").await["message"]
        .as_str()
        .unwrap()
        .contains("not a contact"));
}

#[tokio::test]
async fn read_receipts_are_opt_in_reciprocal_name_the_newest_and_reach_a_contact_later() {
    let Pair {
        a,
        b,
        mut ua,
        mut ub,
    } = Pair::new().await;
    let (ak, bk) = (a.public_key.clone(), b.public_key.clone());
    let mut ids = Vec::new();
    for text in ["m1", "m2", "m3"] {
        ids.push(
            ua.say(text, Some(&bk)).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
        ub.hear(text).await;
    }

    // Off on both sides: Bob's reading sends nothing.
    mark_read(&mut ub, &ak, &ak, &ids[2]).await;
    ub.say("b1", Some(&ak)).await;
    let events = events_until(&mut ua, "b1", |e| e["text"] == "b1").await;
    assert!(read_events(&events).is_empty(), "{events:?}");

    // Bob turns them on, Alice has not: Bob's receipt goes, Alice does not take it.
    set(&mut ub, json!({"read_receipts": true})).await;
    ids.push(
        ua.say("m4", Some(&bk)).await["id"]
            .as_str()
            .unwrap()
            .to_owned(),
    );
    ub.hear("m4").await;
    mark_read(&mut ub, &ak, &ak, &ids[3]).await;
    ub.say("b2", Some(&ak)).await;
    let events = events_until(&mut ua, "b2", |e| e["text"] == "b2").await;
    assert!(read_events(&events).is_empty(), "{events:?}");

    // Both on: reading up to m6 (Bob's own reply after it too) gives Alice one `read` naming
    // m6, the newest: m1 to m6 are read.
    set(&mut ua, json!({"read_receipts": true})).await;
    for text in ["m5", "m6"] {
        ids.push(
            ua.say(text, Some(&bk)).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
        ub.hear(text).await;
    }
    let b3 = ub.say("b3", Some(&ak)).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    mark_read(&mut ub, &ak, "me", &b3).await;
    // Again: already read, nothing new goes.
    mark_read(&mut ub, &ak, &ak, &ids[5]).await;
    ub.say("b4", Some(&ak)).await;
    let events = events_until(&mut ua, "b4", |e| e["text"] == "b4").await;
    let reads = read_events(&events);
    assert_eq!(reads.len(), 1, "{events:?}");
    assert_eq!(
        (
            &reads[0]["conversation"],
            &reads[0]["peer_id"],
            &reads[0]["id"]
        ),
        (&json!(bk), &json!(bk), &json!(ids[5]))
    );
    assert!(reads[0]["read_at"].as_u64().is_some());
    let history = full_history(&mut ua, &bk).await;
    for m in history.iter().filter(|m| m["direction"] == "out") {
        assert_eq!(m["read_by"], json!([bk]), "{m}");
    }
    let theirs = full_history(&mut ub, &ak).await;
    assert!(
        theirs.iter().all(|m| m.get("read_by").is_none()),
        "Alice sent Bob no receipts"
    );

    // Bob turns them off for Alice only: no receipt for m7.
    set(&mut ub, json!({"peer_id": ak, "read_receipts": false})).await;
    ids.push(
        ua.say("m7", Some(&bk)).await["id"]
            .as_str()
            .unwrap()
            .to_owned(),
    );
    ub.hear("m7").await;
    mark_read(&mut ub, &ak, &ak, &ids[6]).await;
    ub.say("b5", Some(&ak)).await;
    let events = events_until(&mut ua, "b5", |e| e["text"] == "b5").await;
    assert!(read_events(&events).is_empty(), "{events:?}");

    // On again for her; she goes offline before Bob reads m8: the receipt waits and reaches
    // her when her next session comes up.
    set(&mut ub, json!({"peer_id": ak, "read_receipts": null})).await;
    ids.push(
        ua.say("m8", Some(&bk)).await["id"]
            .as_str()
            .unwrap()
            .to_owned(),
    );
    ub.hear("m8").await;
    ub.send(json!({"action": "disconnect_peer", "peer_id": ak}))
        .await;
    ub.wait_for("alice gone", |e| {
        e["type"] == "peer_disconnected" && e["peer_id"] == ak.as_str()
    })
    .await;
    mark_read(&mut ub, &ak, &ak, &ids[7]).await;
    ua.connect_peer(b.p2p_port, &bk).await;
    let read = ua
        .wait_for("the late receipt", |e| e["type"] == "read")
        .await;
    assert_eq!(read["id"], ids[7].as_str());

    // A message that is not in that conversation: an error.
    mark_read(&mut ub, &ak, &ak, "no-such-message").await;
    assert_eq!(ub.wait_type("error").await["action"], "mark_read");

    // Alice turns hers off: the read marks are no longer shown to her either.
    set(&mut ua, json!({"read_receipts": false})).await;
    let history = full_history(&mut ua, &bk).await;
    assert!(history.iter().all(|m| m.get("read_by").is_none()));
}

#[tokio::test]
async fn a_forged_receipt_or_one_from_a_request_changes_nothing() {
    let Pair {
        a,
        b,
        mut ua,
        mut ub,
    } = Pair::new().await;
    let bk = b.public_key.clone();
    set(&mut ua, json!({"read_receipts": true})).await;
    let to_bob = ua.say("for bob only", Some(&bk)).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    ub.hear("for bob only").await;
    // A contact of Alice's that was never sent that message names it: ignored.
    let mut snow = SnowClient::connect(a.p2p_port, json!({"name": "snow", "listen_port": 1})).await;
    let key = snow.public_key.clone();
    ua.wait_for("its session", |e| {
        e["type"] == "peer_connected" && e["peer_id"] == key.as_str()
    })
    .await;
    // Still a request: its receipt is ignored too.
    snow.send_payload(&json!({"kind": "read", "msg_id": to_bob}))
        .await;
    let request_chat = snow.chat("request marker").await;
    let events = events_until(&mut ua, "request marker", |e| e["text"] == "request marker").await;
    assert!(read_events(&events).is_empty(), "{events:?}");
    // A request's messages are in no chat to mark read (so it never gets a receipt).
    for conversation in [key.clone(), format!("request:{key}")] {
        mark_read(&mut ua, &conversation, &key, &request_chat).await;
        assert_eq!(ua.wait_type("error").await["action"], "mark_read");
    }
    ua.accept_request(&key).await;
    snow.send_payload(&json!({"kind": "read", "msg_id": to_bob}))
        .await;
    snow.send_payload(&json!({"kind": "read", "msg_id": "never-sent"}))
        .await;
    snow.chat("contact marker").await;
    let events = events_until(&mut ua, "contact marker", |e| e["text"] == "contact marker").await;
    assert!(read_events(&events).is_empty(), "{events:?}");
    let history = full_history(&mut ua, &bk).await;
    assert!(history.iter().all(|m| m.get("read_by").is_none()));
    // Now a contact, it gets Alice's receipt in the wire form of PROTOCOL.md §5, one naming
    // the newest of its messages — the only one it ever got (its payloads are read from the
    // start of its session).
    let chats = full_history(&mut ua, &key).await;
    let newest = chats.last().unwrap()["id"].as_str().unwrap().to_owned();
    mark_read(&mut ua, &key, &key, &newest).await;
    ua.say("after reading", Some(&key)).await;
    let seen = payloads_until_chat(&mut snow, "after reading").await;
    let receipts: Vec<&Value> = seen.iter().filter(|p| p["kind"] == "read").collect();
    assert_eq!(
        receipts,
        vec![&json!({"kind": "read", "msg_id": newest})],
        "{seen:?}"
    );
}

#[tokio::test]
async fn in_a_room_each_sender_gets_its_own_receipt_and_typing_reaches_every_member() {
    let Three {
        a,
        b,
        c,
        mut ua,
        mut ub,
        mut uc,
    } = Three::meshed().await;
    for ui in [&mut ua, &mut ub, &mut uc] {
        set(ui, json!({"typing": true, "read_receipts": true})).await;
    }
    ua.send(json!({"action": "create_room", "name": "trip", "members": [b.public_key]}))
        .await;
    let room = ua.wait_type("room").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    ub.wait_type("room").await;
    // A message from before Carol was in the room; then Alice adds her.
    let r0 = ua.say("before carol", Some(&room)).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    ub.hear("before carol").await;
    ua.send(json!({"action": "change_room", "room": room, "add": [c.public_key]}))
        .await;
    for ui in [&mut ub, &mut uc] {
        ui.wait_for("the room with carol", |e| {
            e["type"] == "room"
                && e["id"] == room.as_str()
                && e["members"].as_array().unwrap().len() == 3
        })
        .await;
    }

    // Bob types in the room: Alice and Carol see it, in the room.
    typing(&mut ub, &room, true).await;
    for ui in [&mut ua, &mut uc] {
        let e = ui.wait_type("typing").await;
        assert_eq!(
            e,
            json!({"type": "typing", "conversation": room, "peer_id": b.public_key, "active": true})
        );
    }
    typing(&mut ub, &room, false).await;
    for ui in [&mut ua, &mut uc] {
        assert_eq!(ui.wait_type("typing").await["active"], false);
    }
    let r1 = ua.say("alice asks", Some(&room)).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    ub.hear("alice asks").await;
    uc.hear("alice asks").await;
    let r2 = uc.say("carol answers", Some(&room)).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    ub.hear("carol answers").await;
    ua.hear("carol answers").await;

    // Bob reads the room up to Carol's answer: Alice gets a receipt for hers, Carol for hers.
    mark_read(&mut ub, &room, &c.public_key, &r2).await;
    let read = ua.wait_type("read").await;
    assert_eq!(
        (&read["conversation"], &read["peer_id"], &read["id"]),
        (&json!(room), &json!(b.public_key), &json!(r1))
    );
    let read = uc.wait_type("read").await;
    assert_eq!(
        (&read["conversation"], &read["peer_id"], &read["id"]),
        (&json!(room), &json!(b.public_key), &json!(r2))
    );
    // Alice's history: her message went to Bob and Carol; Bob has read it, Carol not yet.
    let history = full_history(&mut ua, &room).await;
    let before = history.iter().find(|m| m["id"] == r0.as_str()).unwrap();
    assert_eq!(before["read_by"], json!([b.public_key]));
    let asked = history.iter().find(|m| m["id"] == r1.as_str()).unwrap();
    assert_eq!(asked["read_by"], json!([b.public_key]));
    assert_eq!(asked["recipients"].as_array().unwrap().len(), 2);
    // Carol reads too: now both.
    mark_read(&mut uc, &room, "me", &r2).await;
    let read = ua.wait_type("read").await;
    assert_eq!(
        (&read["peer_id"], &read["id"]),
        (&json!(c.public_key), &json!(r1))
    );
    let history = full_history(&mut ua, &room).await;
    let asked = history.iter().find(|m| m["id"] == r1.as_str()).unwrap();
    let mut readers: Vec<&str> = asked["read_by"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    readers.sort_unstable();
    let mut expected = vec![b.public_key.as_str(), c.public_key.as_str()];
    expected.sort_unstable();
    assert_eq!(readers, expected);
    // Carol's mark covers the message from before she was added, which she never got.
    let before = history.iter().find(|m| m["id"] == r0.as_str()).unwrap();
    assert_eq!(before["read_by"], json!([b.public_key]));

    // A contact of Carol's that is not in the room: its typing there is not shown.
    let mut snow = contact_client(&c, &mut uc).await;
    let key = snow.public_key.clone();
    let bare_room = room.trim_start_matches("room:");
    snow.send_payload(&json!({"kind": "typing", "active": true, "room": bare_room}))
        .await;
    snow.chat("outsider marker").await;
    let events = events_until(&mut uc, "outsider marker", |e| {
        e["text"] == "outsider marker"
    })
    .await;
    assert_eq!(typing_events(&events, &key), Vec::<bool>::new());
    drop(a);
}
