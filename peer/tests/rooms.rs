//! A room of three over pairwise sessions (real processes).

mod common;
mod store_common;

use std::collections::BTreeSet;

use common::{assert_same_set, Peer, Three};
use serde_json::{json, Value};
use store_common::full_history;

/// (sender key, id, text) of every message, with "me" replaced by the owner's key.
fn canonical(history: &[Value], me: &str) -> BTreeSet<(String, String, String)> {
    history
        .iter()
        .map(|m| {
            let from = m["from"].as_str().unwrap();
            (
                if from == "me" { me } else { from }.to_owned(),
                m["id"].as_str().unwrap().to_owned(),
                m["text"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_room_of_three_learns_its_members_and_shares_one_history() {
    let Three {
        a,
        b,
        c,
        mut ua,
        mut ub,
        mut uc,
    } = Three::meshed().await;

    ua.send(
        json!({"action": "create_room", "name": "three", "members": [b.public_key, c.public_key]}),
    )
    .await;
    let room = ua.wait_type("room").await;
    let id = room["id"].as_str().unwrap().to_owned();
    for ui in [&mut ub, &mut uc] {
        let learnt = ui.wait_type("room").await;
        assert_eq!(learnt["id"], id.as_str());
        assert_eq!(learnt["name"], "three");
        assert_same_set(
            &learnt["members"],
            &[&a.public_key, &b.public_key, &c.public_key],
        );
    }

    for (speaker, text) in [(0, "from alice"), (1, "from bob"), (2, "from carol")] {
        let (me, others): (&mut common::Ui, Vec<&mut common::Ui>) = match speaker {
            0 => (&mut ua, vec![&mut ub, &mut uc]),
            1 => (&mut ub, vec![&mut ua, &mut uc]),
            _ => (&mut uc, vec![&mut ua, &mut ub]),
        };
        let sent = me.say(text, Some(&id)).await;
        assert_eq!(sent["conversation"], id.as_str());
        assert_eq!(sent["recipients"].as_array().unwrap().len(), 2);
        let msg_id = sent["id"].as_str().unwrap().to_owned();
        for other in others {
            let got = other.hear(text).await;
            assert_eq!(got["conversation"], id.as_str());
            assert_eq!(got["id"], msg_id.as_str());
        }
        me.wait_for("delivered to both", |e| {
            e["type"] == "delivery" && e["id"] == msg_id.as_str() && e["state"] == "delivered"
        })
        .await;
    }
    let ha = canonical(&full_history(&mut ua, &id).await, &a.public_key);
    let hb = canonical(&full_history(&mut ub, &id).await, &b.public_key);
    let hc = canonical(&full_history(&mut uc, &id).await, &c.public_key);
    assert_eq!(ha.len(), 3);
    assert_eq!(ha, hb);
    assert_eq!(hb, hc);

    // With one member offline a room message is "sent" (it reached the other), not
    // "delivered" (carol still owes an ack).
    let mut c = c;
    c.kill();
    ua.wait_for("carol gone", |e| {
        e["type"] == "peer_disconnected" && e["peer_id"] == c.public_key.as_str()
    })
    .await;
    let sent = ua.say("while carol is away", Some(&id)).await;
    let away_id = sent["id"].as_str().unwrap().to_owned();
    ub.hear("while carol is away").await;
    ua.wait_for("sent", |e| {
        assert!(
            !(e["type"] == "delivery" && e["id"] == away_id.as_str() && e["state"] == "delivered"),
            "delivered with a member offline: {e}"
        );
        e["type"] == "delivery" && e["id"] == away_id.as_str() && e["state"] == "sent"
    })
    .await;
    let history = full_history(&mut ua, &id).await;
    assert_eq!(history.len(), 4);
    let last = history.last().unwrap();
    assert_eq!(last["id"], away_id.as_str());
    assert_eq!(last["state"], "sent");
}

#[tokio::test]
async fn room_messages_from_non_members_are_not_shown() {
    let a = Peer::start("alice");
    let b = Peer::start("bob");
    let mut ua = a.ui().await;
    ua.connect_peer(b.p2p_port, &b.public_key).await;
    ua.send(json!({"action": "create_room", "name": "solo", "members": []}))
        .await;
    let room = ua.wait_type("room").await;
    let id = room["id"]
        .as_str()
        .unwrap()
        .trim_start_matches("room:")
        .to_owned();
    // B is no member: a chat claiming the room is dropped, a direct one still arrives.
    let mut client = common::SnowClient::connect(a.p2p_port, json!({"name": "mallory"})).await;
    client
        .send_payload(
            &json!({"kind": "chat", "id": "x1", "text": "sneaky", "sent_at": 1, "room": id}),
        )
        .await;
    client.chat("plain hello").await;
    let got = ua.wait_type("peer_message").await;
    assert_eq!(got["text"], "plain hello");
    let history = full_history(&mut ua, &format!("room:{id}")).await;
    assert!(history.is_empty(), "{history:?}");
}
