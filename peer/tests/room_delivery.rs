//! Per-member delivery of room messages (PROTOCOL.md §8.1, `delivery` and `history`), with real
//! processes and real SQLite: a member who is away keeps the message "delivered to 1 of 2"
//! (across a restart of the sender) until it comes back, and a member the sender has never met
//! stays queued instead of being counted as reached (and is named as the room's creator knows it).

mod common;
mod store_common;

use std::collections::BTreeMap;

use common::{Peer, Three, Ui};
use serde_json::{json, Value};
use store_common::{full_history, start_in, tempdir};

/// Each recipient of our message `id` in `room` and its state, as `history` reports them.
async fn recipients(ui: &mut Ui, room: &str, id: &str) -> BTreeMap<String, String> {
    let history = full_history(ui, room).await;
    let entry = history
        .iter()
        .find(|m| m["id"] == id)
        .unwrap_or_else(|| panic!("{id} not in the history of {room}: {history:?}"));
    assert_eq!(entry["direction"], "out");
    entry["recipients"]
        .as_array()
        .unwrap_or_else(|| panic!("no recipients in {entry}"))
        .iter()
        .map(|r| {
            (
                r["peer_id"].as_str().unwrap().to_owned(),
                r["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn states(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, s)| ((*k).to_owned(), (*s).to_owned()))
        .collect()
}

/// Waits for the `delivery` of `id` that names `member` delivered; returns it.
async fn member_delivered(ui: &mut Ui, id: &str, member: &str) -> Value {
    ui.wait_for(&format!("{member} acknowledging {id}"), |e| {
        e["type"] == "delivery"
            && e["id"] == id
            && e["peer_id"] == member
            && e["peer_state"] == "delivered"
    })
    .await
}

/// Creates a room from `ui` with these members and waits for its id.
async fn create_room(ui: &mut Ui, name: &str, members: &[&str]) -> String {
    ui.send(json!({"action": "create_room", "name": name, "members": members}))
        .await;
    let room = ui.wait_type("room").await;
    room["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn an_absent_member_keeps_the_message_at_one_of_two_across_a_restart_until_it_is_back() {
    let (da, dc) = (tempdir(), tempdir());
    let mut a = start_in("alice", da.path(), 0, &[]);
    let b = Peer::start("bob");
    let mut c = start_in("carol", dc.path(), 0, &[]);
    let (a_port, c_port) = (a.p2p_port, c.p2p_port);
    let (b_key, c_key) = (b.public_key.clone(), c.public_key.clone());
    let mut ua = a.ui().await;
    let mut ub = b.ui().await;
    let mut uc = c.ui().await;
    ua.connect_peer(b.p2p_port, &b_key).await;
    ua.connect_peer(c_port, &c_key).await;
    // Alice dialled them: to each she is a request until accepted (PROTOCOL.md §8.2).
    ub.accept_request(&a.public_key).await;
    uc.accept_request(&a.public_key).await;
    let room = create_room(&mut ua, "trip", &[&b_key, &c_key]).await;
    for ui in [&mut ub, &mut uc] {
        ui.wait_for("the room", |e| {
            e["type"] == "room" && e["id"] == room.as_str()
        })
        .await;
    }

    // Carol stops; Alice writes to the room: Bob has it, Carol waits.
    drop(uc);
    assert!(c.terminate().success());
    ua.wait_for("carol gone", |e| {
        e["type"] == "peer_disconnected" && e["peer_id"] == c_key.as_str()
    })
    .await;
    let sent = ua.say("while carol is away", Some(&room)).await;
    assert_eq!(sent["state"], "queued");
    let id = sent["id"].as_str().unwrap().to_owned();
    ub.hear("while carol is away").await;
    let bob = member_delivered(&mut ua, &id, &b_key).await;
    assert_eq!(bob["state"], "sent", "one of two is not delivered: {bob}");
    assert_eq!(
        recipients(&mut ua, &room, &id).await,
        states(&[(&b_key, "delivered"), (&c_key, "queued")])
    );

    // Alice restarts: the count is read back from her database, still 1 of 2.
    drop(ua);
    assert!(a.terminate().success());
    let a = start_in("alice", da.path(), a_port, &[]);
    let mut ua = a.ui().await;
    assert_eq!(
        recipients(&mut ua, &room, &id).await,
        states(&[(&b_key, "delivered"), (&c_key, "queued")])
    );
    let shown = full_history(&mut ua, &room).await;
    let entry = shown.iter().find(|m| m["id"] == id.as_str()).unwrap();
    assert_eq!(entry["state"], "sent");

    // Carol comes back, and her peer dials its contacts — Alice — by itself at start
    // (PROTOCOL.md §7.3; before her page is even open, so the message is looked for in her
    // history, not as a live event): the session up, Alice's outbox flushes to Carol: 2 of 2.
    let c = start_in("carol", dc.path(), c_port, &[]);
    let mut uc = c.ui().await;
    let carol = member_delivered(&mut ua, &id, &c_key).await;
    assert_eq!(carol["state"], "delivered", "{carol}");
    let at_carol = full_history(&mut uc, &room).await;
    assert!(
        at_carol.iter().any(|m| m["text"] == "while carol is away"),
        "{at_carol:?}"
    );
    assert_eq!(
        recipients(&mut ua, &room, &id).await,
        states(&[(&b_key, "delivered"), (&c_key, "delivered")])
    );

    // And that too survives a restart.
    drop(ua);
    let mut a = a;
    assert!(a.terminate().success());
    let a = start_in("alice", da.path(), a_port, &[]);
    let mut ua = a.ui().await;
    assert_eq!(
        recipients(&mut ua, &room, &id).await,
        states(&[(&b_key, "delivered"), (&c_key, "delivered")])
    );
}

#[tokio::test]
async fn a_member_never_met_stays_queued_and_is_not_counted_as_reached() {
    // Alice knows Bob and Carol; Bob and Carol have never met.
    let Three {
        a,
        b,
        c,
        mut ua,
        mut ub,
        mut uc,
    } = Three::start().await;
    ua.connect_peer(b.p2p_port, &b.public_key).await;
    ua.connect_peer(c.p2p_port, &c.public_key).await;
    ub.accept_request(&a.public_key).await;
    uc.accept_request(&a.public_key).await;
    let room = create_room(&mut ua, "three", &[&b.public_key, &c.public_key]).await;
    for (ui, other, other_name) in [(&mut ub, &c, "carol"), (&mut uc, &b, "bob")] {
        let learnt = ui
            .wait_for("the room", |e| {
                e["type"] == "room" && e["id"] == room.as_str()
            })
            .await;
        // The member never met is named as Alice knows it (the `names` of her announcement).
        assert_eq!(learnt["names"][&other.public_key], other_name, "{learnt}");
        assert_eq!(learnt["names"][&a.public_key], "alice", "{learnt}");
    }

    let sent = ub.say("from bob", Some(&room)).await;
    let id = sent["id"].as_str().unwrap().to_owned();
    ua.hear("from bob").await;
    let alice = member_delivered(&mut ub, &id, &a.public_key).await;
    assert_eq!(alice["state"], "sent", "Carol has not got it: {alice}");
    assert_eq!(
        recipients(&mut ub, &room, &id).await,
        states(&[(&a.public_key, "delivered"), (&c.public_key, "queued")])
    );
    // A direct message is not a room message: no per-member fields.
    let direct = ub.say("just alice", Some(&a.public_key)).await;
    let direct_id = direct["id"].as_str().unwrap().to_owned();
    let done = ub
        .wait_for("direct delivered", |e| {
            e["type"] == "delivery" && e["id"] == direct_id.as_str() && e["state"] == "delivered"
        })
        .await;
    assert!(done.get("peer_id").is_none(), "{done}");
    let history = full_history(&mut ub, &a.public_key).await;
    assert!(history.iter().all(|m| m.get("recipients").is_none()));
    drop(c);
}
