//! Replies and reactions between real processes (PROTOCOL.md §5, §8.6): a reply shows the
//! quoted text from the receiver's own history (never text from the payload), a reaction is
//! toggled, one per person per message, and in a room it reaches every member through the
//! outbox, also a member that was offline; a reaction to a message the receiver does not hold,
//! or one that is too long, is dropped.

mod common;
mod store_common;

use common::{Pair, SnowClient, Three, Ui};
use serde_json::{json, Value};
use store_common::full_history;

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

async fn react(ui: &mut Ui, from: &str, id: &str, emoji: &str) -> Value {
    ui.send(json!({"action": "react", "from": from, "id": id, "emoji": emoji}))
        .await;
    ui.wait_for("our reaction", |e| {
        assert_ne!(e["type"], "error", "react failed: {e}");
        e["type"] == "reaction" && e["by"] == "me"
    })
    .await
}

async fn reaction_from(ui: &mut Ui, by: &str) -> Value {
    ui.wait_for("a reaction", |e| e["type"] == "reaction" && e["by"] == by)
        .await
}

fn message<'a>(history: &'a [Value], text: &str) -> &'a Value {
    history
        .iter()
        .find(|m| m["text"] == text)
        .unwrap_or_else(|| panic!("no message {text:?} in {history:?}"))
}

#[tokio::test]
async fn a_reply_quotes_local_text_and_a_reaction_toggles() {
    let Pair {
        a,
        b,
        mut ua,
        mut ub,
    } = Pair::new().await;
    let sent = ua.say("the original words", Some(&b.public_key)).await;
    let original = sent["id"].as_str().unwrap().to_owned();
    ub.hear("the original words").await;

    // Bob replies: both sides show the quoted text from their own history.
    ub.send(
        json!({"action": "send_message", "to": a.public_key, "text": "my reply",
        "reply_to": {"from": a.public_key, "id": original}}),
    )
    .await;
    let mine = ub
        .wait_for("message_sent", |e| {
            assert_ne!(e["type"], "error", "{e}");
            e["type"] == "message_sent"
        })
        .await;
    assert_eq!(
        mine["reply_to"],
        json!({"from": a.public_key, "id": original, "text": "the original words", "name": "alice"})
    );
    let heard = ua.hear("my reply").await;
    assert_eq!(
        heard["reply_to"],
        json!({"from": "me", "id": original, "text": "the original words", "name": "alice"})
    );
    // A reply to a message that is not in this conversation is refused.
    ub.send(
        json!({"action": "send_message", "to": a.public_key, "text": "x",
        "reply_to": {"from": "me", "id": "no-such-message"}, "req": 9}),
    )
    .await;
    let refused = ub.wait_type("error").await;
    assert_eq!(refused["req"], 9);
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("not in this conversation"),
        "{refused}"
    );

    // Bob reacts 👍, then 👍 again (withdrawn), then 🎉: Alice sees each change.
    let own = react(&mut ub, &a.public_key, &original, "👍").await;
    assert_eq!(own["emoji"], "👍");
    assert_eq!(own["conversation"], a.public_key.as_str());
    let seen = reaction_from(&mut ua, &b.public_key).await;
    assert_eq!(
        (
            &seen["from"],
            &seen["id"],
            &seen["emoji"],
            &seen["conversation"]
        ),
        (
            &json!("me"),
            &json!(original),
            &json!("👍"),
            &json!(b.public_key)
        )
    );
    let own = react(&mut ub, &a.public_key, &original, "👍").await;
    assert_eq!(own["emoji"], Value::Null);
    assert_eq!(
        reaction_from(&mut ua, &b.public_key).await["emoji"],
        Value::Null
    );
    react(&mut ub, &a.public_key, &original, "🎉").await;
    assert_eq!(reaction_from(&mut ua, &b.public_key).await["emoji"], "🎉");
    // Alice reacts to her own message too: two people, one reaction each.
    react(&mut ua, "me", &original, "❤️").await;
    assert_eq!(reaction_from(&mut ub, &a.public_key).await["emoji"], "❤️");

    // History on both sides: the reactions and the reply's quote.
    for (ui, conv, alice, bob) in [
        (&mut ua, b.public_key.as_str(), "me", b.public_key.as_str()),
        (&mut ub, a.public_key.as_str(), a.public_key.as_str(), "me"),
    ] {
        let history = full_history(ui, conv).await;
        let first = message(&history, "the original words");
        let mut reactions = first["reactions"].as_array().unwrap().clone();
        reactions.sort_by_key(|r| r["by"].as_str().unwrap().to_owned());
        let mut expected = vec![
            json!({"by": bob, "emoji": "🎉"}),
            json!({"by": alice, "emoji": "❤️"}),
        ];
        expected.sort_by_key(|r| r["by"].as_str().unwrap().to_owned());
        assert_eq!(reactions, expected);
        let reply = message(&history, "my reply");
        assert_eq!(reply["reply_to"]["text"], "the original words");
        assert_eq!(reply["reply_to"]["from"], alice);
        assert!(reply.get("reactions").is_none());
    }

    // Bad reactions are refused with an error, never sent.
    for (emoji, id) in [
        ("", original.as_str()),
        ("too long 😀😀😀😀😀😀😀😀", original.as_str()),
        ("👍", "unknown"),
    ] {
        ub.send(json!({"action": "react", "from": a.public_key, "id": id, "emoji": emoji}))
            .await;
        let e = ub.wait_type("error").await;
        assert_eq!(e["action"], "react", "{e}");
    }
}

/// A test client that dialled Bob, so it can write any payload to him; Bob's reply to it
/// makes it a contact (PROTOCOL.md §8.2).
async fn accepted_client(b: &common::Peer, ub: &mut Ui) -> SnowClient {
    let snow = SnowClient::connect(b.p2p_port, json!({"name": "snow", "listen_port": 1})).await;
    let key = snow.public_key.clone();
    ub.wait_for("the client's session", |e| {
        e["type"] == "peer_connected" && e["peer_id"] == key.as_str()
    })
    .await;
    snow
}

/// Reads payloads until the `ack` of `id`.
async fn acked(snow: &mut SnowClient, id: &str) {
    loop {
        let payload = tokio::time::timeout(common::EVENT_TIMEOUT, snow.recv_payload())
            .await
            .expect("an ack");
        if payload["kind"] == "ack" && payload["id"] == id {
            return;
        }
    }
}

#[tokio::test]
async fn forged_quotes_show_local_text_and_reactions_to_unknown_messages_are_dropped() {
    let b = common::Peer::start("bob");
    let mut ub = b.ui().await;
    let mut snow = accepted_client(&b, &mut ub).await;
    let key = snow.public_key.clone();
    let sent = ub.say("what bob really said", Some(&key)).await;
    let bobs = sent["id"].as_str().unwrap().to_owned();

    // A reply carrying made-up quoted text: Bob shows his own text, not the payload's.
    snow.send_payload(
        &json!({"kind": "chat", "id": "q1", "text": "quoting you", "sent_at": now_ms(),
        "reply_from": b.public_key, "reply_id": bobs, "reply_text": "words bob never said",
        "quote": {"text": "words bob never said"}}),
    )
    .await;
    let heard = ub.hear("quoting you").await;
    assert_eq!(
        heard["reply_to"],
        json!({"from": "me", "id": bobs, "text": "what bob really said", "name": "bob"})
    );
    assert!(!heard.to_string().contains("never said"));
    // Quoting a message Bob does not have: shown without text.
    snow.send_payload(
        &json!({"kind": "chat", "id": "q2", "text": "quoting nothing", "sent_at": now_ms(),
        "reply_from": b.public_key, "reply_id": "never-sent"}),
    )
    .await;
    let heard = ub.hear("quoting nothing").await;
    assert_eq!(heard["reply_to"]["text"], Value::Null);
    assert_eq!(heard["reply_to"]["id"], "never-sent");

    // A reaction to a message Bob does not hold: acknowledged (so it is not resent), dropped,
    // no event. One that is too long is not even acknowledged. Then a good one is shown, first.
    snow.send_payload(
        &json!({"kind": "reaction", "id": "r-unknown", "msg_from": b.public_key,
        "msg_id": "never-sent", "emoji": "👍", "sent_at": now_ms()}),
    )
    .await;
    acked(&mut snow, "r-unknown").await;
    snow.send_payload(
        &json!({"kind": "reaction", "id": "r-long", "msg_from": b.public_key,
        "msg_id": bobs, "emoji": "😀".repeat(9), "sent_at": now_ms()}),
    )
    .await;
    snow.send_payload(
        &json!({"kind": "reaction", "id": "r-good", "msg_from": b.public_key,
        "msg_id": bobs, "emoji": "👍", "sent_at": now_ms()}),
    )
    .await;
    let shown = reaction_from(&mut ub, &key).await;
    assert_eq!(
        (&shown["id"], &shown["emoji"]),
        (&json!(bobs), &json!("👍"))
    );
    acked(&mut snow, "r-good").await;
    // An older reaction arriving late changes nothing; a newer withdrawal does.
    snow.send_payload(
        &json!({"kind": "reaction", "id": "r-old", "msg_from": b.public_key,
        "msg_id": bobs, "emoji": "😡", "sent_at": 1}),
    )
    .await;
    acked(&mut snow, "r-old").await;
    let history = full_history(&mut ub, &key).await;
    assert_eq!(
        message(&history, "what bob really said")["reactions"],
        json!([{"by": key, "emoji": "👍"}])
    );
    assert_eq!(
        message(&history, "quoting you")["reply_to"]["text"],
        "what bob really said"
    );
    assert!(
        !b.log().contains("what bob really said"),
        "no message text in logs"
    );
}

#[tokio::test]
async fn in_a_room_replies_and_reactions_reach_every_member_also_one_that_was_offline() {
    let Three {
        a,
        b,
        c,
        mut ua,
        mut ub,
        mut uc,
    } = Three::meshed().await;
    ua.send(
        json!({"action": "create_room", "name": "trip", "members": [b.public_key, c.public_key]}),
    )
    .await;
    let room = ua.wait_type("room").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    ub.wait_type("room").await;
    uc.wait_type("room").await;
    let sent = ua.say("where do we meet?", Some(&room)).await;
    let question = sent["id"].as_str().unwrap().to_owned();
    ub.hear("where do we meet?").await;
    uc.hear("where do we meet?").await;

    // Carol goes offline (from Bob's side); Bob replies and reacts meanwhile.
    ub.send(json!({"action": "disconnect_peer", "peer_id": c.public_key}))
        .await;
    ub.wait_for("carol gone", |e| {
        e["type"] == "peer_disconnected" && e["peer_id"] == c.public_key.as_str()
    })
    .await;
    ub.send(
        json!({"action": "send_message", "to": room, "text": "at the station",
        "reply_to": {"from": a.public_key, "id": question}}),
    )
    .await;
    react(&mut ub, &a.public_key, &question, "👍").await;
    let heard = ua.hear("at the station").await;
    assert_eq!(heard["reply_to"]["text"], "where do we meet?");
    let seen = reaction_from(&mut ua, &b.public_key).await;
    assert_eq!(
        (&seen["conversation"], &seen["emoji"]),
        (&json!(room), &json!("👍"))
    );

    // Carol back: the outbox brings her the reply and the reaction, once.
    // (Bob also redials her on his own, as he owes her a message; either dial may win.)
    ub.send(json!({"action": "connect_peer", "ip": "127.0.0.1", "port": c.p2p_port, "peer_id": c.public_key}))
        .await;
    let heard = uc.hear("at the station").await;
    assert_eq!(heard["conversation"], room.as_str());
    assert_eq!(heard["reply_to"]["text"], "where do we meet?");
    assert_eq!(heard["reply_to"]["from"], a.public_key.as_str());
    let seen = reaction_from(&mut uc, &b.public_key).await;
    assert_eq!(
        (&seen["id"], &seen["emoji"]),
        (&json!(question), &json!("👍"))
    );
    let history = full_history(&mut uc, &room).await;
    assert_eq!(
        message(&history, "where do we meet?")["reactions"],
        json!([{"by": b.public_key, "emoji": "👍"}])
    );
    assert_eq!(
        history
            .iter()
            .filter(|m| m["text"] == "at the station")
            .count(),
        1
    );
}

#[tokio::test]
async fn only_the_sender_edits_or_deletes_for_everyone_and_an_early_edit_waits_for_its_message() {
    let Pair {
        a,
        b,
        mut ua,
        mut ub,
    } = Pair::new().await;
    let sent = ua.say("helo wrld", Some(&b.public_key)).await;
    let id = sent["id"].as_str().unwrap().to_owned();
    ub.hear("helo wrld").await;

    // Alice edits: both sides see the new text; Bob keeps the history of it.
    ua.send(json!({"action": "edit_message", "id": id, "text": "hello world"}))
        .await;
    let own = ua.wait_type("message_edited").await;
    assert_eq!(
        (&own["from"], &own["text"]),
        (&json!("me"), &json!("hello world"))
    );
    let seen = ub.wait_type("message_edited").await;
    assert_eq!(
        (
            &seen["from"],
            &seen["id"],
            &seen["text"],
            &seen["conversation"]
        ),
        (
            &json!(a.public_key),
            &json!(id),
            &json!("hello world"),
            &json!(a.public_key)
        )
    );
    // Bob cannot edit or delete Alice's message from his page.
    for action in [
        json!({"action": "edit_message", "id": id, "text": "mine now"}),
        json!({"action": "delete_for_everyone", "id": id}),
    ] {
        ub.send(action).await;
        let e = ub.wait_type("error").await;
        assert!(
            e["message"]
                .as_str()
                .unwrap()
                .contains("no message of yours"),
            "{e}"
        );
    }

    // A third party naming Alice's message id edits nothing (it can only name its own), and
    // its edit sent before its own message is applied when the message arrives. (Bob accepts
    // it first: a stranger's edits are not even read, PROTOCOL.md §8.2.)
    let mut snow = SnowClient::connect(b.p2p_port, json!({"name": "snow", "listen_port": 1})).await;
    let key = snow.public_key.clone();
    ub.wait_for("the client's session", |e| {
        e["type"] == "peer_connected" && e["peer_id"] == key.as_str()
    })
    .await;
    ub.accept_request(&key).await;
    snow.send_payload(
        &json!({"kind": "edit", "id": "f1", "msg_id": id, "text": "forged", "sent_at": now_ms()}),
    )
    .await;
    acked(&mut snow, "f1").await;
    snow.send_payload(&json!({"kind": "edit", "id": "f2", "msg_id": "s1", "text": "edited early", "sent_at": now_ms()}))
        .await;
    acked(&mut snow, "f2").await;
    snow.send_payload(
        &json!({"kind": "chat", "id": "s1", "text": "the original", "sent_at": now_ms() - 1000}),
    )
    .await;
    ub.hear("the original").await;
    let early = ub.wait_type("message_edited").await;
    assert_eq!(
        (&early["id"], &early["text"], &early["from"]),
        (&json!("s1"), &json!("edited early"), &json!(key))
    );
    let history = full_history(&mut ub, &a.public_key).await;
    let edited = message(&history, "hello world");
    assert!(edited["edited_at"].as_u64().is_some(), "{edited}");
    assert!(history.iter().all(|m| m["text"] != "forged"));

    // Alice deletes it for everyone: gone on both sides, the row says so; not twice.
    ua.send(json!({"action": "delete_for_everyone", "id": id}))
        .await;
    ua.wait_type("message_unsent").await;
    let gone = ub.wait_type("message_unsent").await;
    assert_eq!(
        (&gone["from"], &gone["id"]),
        (&json!(a.public_key), &json!(id))
    );
    let history = full_history(&mut ub, &a.public_key).await;
    let row = history.iter().find(|m| m["id"] == id.as_str()).unwrap();
    assert_eq!((&row["text"], &row["unsent"]), (&json!(""), &json!(true)));
    ua.send(json!({"action": "delete_for_everyone", "id": id}))
        .await;
    assert_eq!(ua.wait_type("error").await["action"], "delete_for_everyone");
    // A reply to the deleted message quotes nothing of it.
    ub.send(
        json!({"action": "send_message", "to": a.public_key, "text": "what was it?",
        "reply_to": {"from": a.public_key, "id": id}}),
    )
    .await;
    assert_eq!(
        ub.wait_type("message_sent").await["reply_to"]["text"],
        Value::Null
    );
    assert_eq!(
        ua.hear("what was it?").await["reply_to"]["text"],
        Value::Null
    );
    assert!(!b.log().contains("hello world") && !b.log().contains("edited early"));
}

/// Every event up to and including the first that matches.
async fn events_until(ui: &mut Ui, what: &str, matches: impl Fn(&Value) -> bool) -> Vec<Value> {
    let seen = std::cell::RefCell::new(Vec::new());
    ui.wait_for(what, |e| {
        seen.borrow_mut().push(e.clone());
        matches(e)
    })
    .await;
    seen.into_inner()
}

fn count(events: &[Value], kind: &str, id: &str) -> usize {
    events
        .iter()
        .filter(|e| e["type"] == kind && e["id"] == id)
        .count()
}

#[tokio::test]
async fn a_forged_delete_changes_nothing_and_an_early_amendment_waits_a_bounded_time() {
    // Bob holds an early edit or delete for 1.5 s instead of 24 hours.
    let Pair {
        a,
        b,
        mut ua,
        mut ub,
    } = Pair::with_b_args(&["--early-amendment-ms", "1500"]).await;
    let sent = ua.say("alice's words", Some(&b.public_key)).await;
    let id = sent["id"].as_str().unwrap().to_owned();
    ub.hear("alice's words").await;
    let mut snow = accepted_client(&b, &mut ub).await;
    let key = snow.public_key.clone();
    ub.accept_request(&key).await;

    // A contact deleting Alice's message by its id deletes nothing: it names its own message
    // of that id, which does not exist (and is held, then dropped).
    snow.send_payload(&json!({"kind": "delete", "id": "fd1", "msg_id": id, "sent_at": now_ms()}))
        .await;
    acked(&mut snow, "fd1").await;
    snow.chat("after the forged delete").await;
    let events = events_until(&mut ub, "the marker", |e| {
        e["text"] == "after the forged delete"
    })
    .await;
    assert!(
        events
            .iter()
            .all(|e| e["type"] != "message_unsent" && e["type"] != "message_edited"),
        "{events:?}"
    );
    let history = full_history(&mut ub, &a.public_key).await;
    let kept = message(&history, "alice's words");
    assert!(kept.get("unsent").is_none(), "{kept}");

    // A delete before its message: kept, applied when the message comes.
    snow.send_payload(&json!({"kind": "delete", "id": "d2", "msg_id": "s2", "sent_at": now_ms()}))
        .await;
    acked(&mut snow, "d2").await;
    snow.send_payload(
        &json!({"kind": "chat", "id": "s2", "text": "soon gone", "sent_at": now_ms() - 1000}),
    )
    .await;
    ub.hear("soon gone").await;
    let gone = ub.wait_type("message_unsent").await;
    assert_eq!(
        (&gone["id"], &gone["from"], &gone["conversation"]),
        (&json!("s2"), &json!(key), &json!(key))
    );

    // An edit whose message comes after the hold time: dropped, the message stays as sent.
    snow.send_payload(
        &json!({"kind": "edit", "id": "e3", "msg_id": "s3", "text": "too late", "sent_at": now_ms()}),
    )
    .await;
    acked(&mut snow, "e3").await;
    tokio::time::sleep(std::time::Duration::from_millis(2000)).await;
    snow.send_payload(
        &json!({"kind": "chat", "id": "s3", "text": "as first written", "sent_at": now_ms()}),
    )
    .await;
    snow.chat("after the late message").await;
    let events = events_until(&mut ub, "the marker", |e| {
        e["text"] == "after the late message"
    })
    .await;
    assert_eq!(count(&events, "peer_message", "s3"), 1, "{events:?}");
    assert_eq!(count(&events, "message_edited", "s3"), 0, "{events:?}");
    let history = full_history(&mut ub, &key).await;
    let late = message(&history, "as first written");
    assert!(late.get("edited_at").is_none(), "{late}");
    assert_eq!(
        history.iter().find(|m| m["id"] == "s2").unwrap()["unsent"],
        true
    );
    assert!(history.iter().all(|m| m["text"] != "too late"));
}

#[tokio::test]
async fn in_a_room_edits_deletes_and_reactions_reach_an_offline_member_once() {
    // Alice redials slowly, so Carol stays offline until the test connects them again.
    let a = common::Peer::start_with("alice", &["--redial-base-ms", "60000"]);
    let b = common::Peer::start("bob");
    let c = common::Peer::start("carol");
    let (mut ua, mut ub, mut uc) = (a.ui().await, b.ui().await, c.ui().await);
    ua.connect_peer(b.p2p_port, &b.public_key).await;
    ua.connect_peer(c.p2p_port, &c.public_key).await;
    ub.connect_peer(c.p2p_port, &c.public_key).await;
    ub.accept_request(&a.public_key).await;
    uc.accept_request(&a.public_key).await;
    uc.accept_request(&b.public_key).await;
    ua.send(
        json!({"action": "create_room", "name": "plans", "members": [b.public_key, c.public_key]}),
    )
    .await;
    let room = ua.wait_type("room").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    ub.wait_type("room").await;
    uc.wait_type("room").await;
    let q1 = ua.say("first draft", Some(&room)).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let q2 = ua.say("wrong chat, sorry", Some(&room)).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for ui in [&mut ub, &mut uc] {
        ui.hear("first draft").await;
        ui.hear("wrong chat, sorry").await;
    }

    // Carol offline (for Alice); Alice edits, deletes and reacts; Bob sees each at once.
    ua.send(json!({"action": "disconnect_peer", "peer_id": c.public_key}))
        .await;
    ua.wait_for("carol gone", |e| {
        e["type"] == "peer_disconnected" && e["peer_id"] == c.public_key.as_str()
    })
    .await;
    ua.send(json!({"action": "edit_message", "id": q1, "text": "final plan"}))
        .await;
    ua.wait_type("message_edited").await;
    ua.send(json!({"action": "delete_for_everyone", "id": q2}))
        .await;
    ua.wait_type("message_unsent").await;
    react(&mut ua, "me", &q1, "🎉").await;
    let seen = events_until(&mut ub, "bob's reaction", |e| e["type"] == "reaction").await;
    assert_eq!(count(&seen, "message_edited", &q1), 1, "{seen:?}");
    assert_eq!(count(&seen, "message_unsent", &q2), 1, "{seen:?}");

    // Back online: Carol gets each, once, and her history says so.
    ua.send(json!({"action": "connect_peer", "ip": "127.0.0.1", "port": c.p2p_port, "peer_id": c.public_key}))
        .await;
    let mut events = events_until(&mut uc, "the edit, the delete and the reaction", {
        let (q1, q2) = (q1.clone(), q2.clone());
        let seen = std::cell::RefCell::new((false, false, false));
        move |e| {
            let mut s = seen.borrow_mut();
            s.0 |= e["type"] == "message_edited" && e["id"] == q1.as_str();
            s.1 |= e["type"] == "message_unsent" && e["id"] == q2.as_str();
            s.2 |= e["type"] == "reaction" && e["id"] == q1.as_str();
            s.0 && s.1 && s.2
        }
    })
    .await;
    let edited = events
        .iter()
        .find(|e| e["type"] == "message_edited")
        .unwrap();
    assert_eq!(
        (&edited["text"], &edited["from"], &edited["conversation"]),
        (&json!("final plan"), &json!(a.public_key), &json!(room))
    );
    // A second session: nothing is sent again. (Alice's new room chat goes after a pause, so
    // anything resent from the outbox would be shown before it.)
    ua.send(json!({"action": "disconnect_peer", "peer_id": c.public_key}))
        .await;
    uc.wait_for("alice gone", |e| {
        e["type"] == "peer_disconnected" && e["peer_id"] == a.public_key.as_str()
    })
    .await;
    ua.send(json!({"action": "connect_peer", "ip": "127.0.0.1", "port": c.p2p_port, "peer_id": c.public_key}))
        .await;
    uc.wait_for("alice back", |e| {
        e["type"] == "peer_connected" && e["peer_id"] == a.public_key.as_str()
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    ua.say("see you there", Some(&room)).await;
    events.extend(events_until(&mut uc, "the marker", |e| e["text"] == "see you there").await);
    assert_eq!(count(&events, "message_edited", &q1), 1, "{events:?}");
    assert_eq!(count(&events, "message_unsent", &q2), 1, "{events:?}");
    assert_eq!(count(&events, "reaction", &q1), 1, "{events:?}");
    let history = full_history(&mut uc, &room).await;
    let first = history.iter().find(|m| m["id"] == q1.as_str()).unwrap();
    assert_eq!(first["text"], "final plan");
    assert!(first["edited_at"].as_u64().is_some());
    assert_eq!(
        first["reactions"],
        json!([{"by": a.public_key, "emoji": "🎉"}])
    );
    let second = history.iter().find(|m| m["id"] == q2.as_str()).unwrap();
    assert_eq!(
        (&second["text"], &second["unsent"]),
        (&json!(""), &json!(true))
    );
    assert_eq!(history.iter().filter(|m| m["id"] == q1.as_str()).count(), 1);
}
