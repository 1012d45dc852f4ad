//! Attacks on trust (PROTOCOL.md §8.2, §8.3, SECURITY.md "Verifying a contact"): a contact is
//! its key, not its name or the port it claims. A different key answering a dial that expected
//! a contact's key raises `key_changed`, whatever name it gives; an inbound new key is a new
//! person (a message request), never a "change", and a name equal or confusable with a
//! contact's is flagged; two keys behind one address are two people; an invite's key is
//! compared before our message 3 (our static key and hello) is written. Real processes.

mod attack_helpers;
mod common;
mod store_common;

use attack_helpers::{
    answer_and_wait_for_message_3, connect_from, core_initiate, hello, listener, loopback,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::Peer;
use crypto_core::Identity;
use serde_json::{json, Value};
use store_common::{alice_connected_to_bob, tempdir};
use tokio::net::TcpListener;

/// What a dialler that expected another key wrote after message 2, for the failure message.
fn shown(line: &Option<Vec<u8>>) -> String {
    line.as_ref()
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_look_alike_answering_a_redial_to_a_verified_contact_raises_key_changed() {
    let (da, db) = (tempdir(), tempdir());
    let (_a, mut b, mut ua) = alice_connected_to_bob(da.path(), db.path()).await;
    let (bob_key, bob_port) = (b.public_key.clone(), b.p2p_port);
    ua.send(json!({"action": "set_verified", "peer_id": bob_key, "verified": true}))
        .await;
    ua.wait_type("peer_verified").await;
    b.kill();
    ua.wait_type("peer_disconnected").await;
    // A message owed to Bob makes A redial Bob's address.
    ua.say("for bob only", Some(&bob_key)).await;

    // Someone else answers at Bob's address, as "bob" plus a zero-width space, claiming
    // listen_port 1, so neither the name nor the self-reported address matches.
    let impostor = Identity::generate();
    let impostor_key = impostor.public_key().to_base64();
    let listener = TcpListener::bind(("127.0.0.1", bob_port))
        .await
        .expect("take over bob's port");
    let answered = tokio::spawn(async move {
        answer_and_wait_for_message_3(&listener, &impostor, &hello("bob\u{200b}", 1)).await
    });
    let change = ua
        .wait_for("key_changed", |e| {
            assert!(
                !(e["type"] == "peer_connected" && e["peer_id"] == impostor_key.as_str()),
                "another key answered a dial to bob's address and was shown as a new peer: {e}"
            );
            e["type"] == "key_changed"
        })
        .await;
    assert_eq!(change["peer_id"], bob_key.as_str());
    assert_eq!(change["new_key"], impostor_key.as_str());
    assert_eq!(change["was_verified"], true);
    assert_eq!(change["address"], format!("127.0.0.1:{bob_port}"));
    // The dial expected Bob's key: A saw another one in message 2 and closed without writing
    // message 3, so neither its static key nor its hello reached the impostor.
    let after_message_2 = answered.await.expect("impostor");
    assert!(
        after_message_2.is_none(),
        "A wrote {} to a key that is not bob's",
        shown(&after_message_2)
    );
    // Nothing goes to the other key while the change is unresolved.
    let sent = ua.broadcast_recipients("to everyone").await;
    assert_eq!(sent, json!([]));
}

/// Waits for the `request` of `key`, failing on a `key_changed` (an inbound key is never a
/// change) and on a `contacts` listing that already counts it as a contact.
async fn expect_request(ui: &mut common::Ui, key: &str) -> Value {
    ui.wait_for("request", |e| {
        assert_ne!(
            e["type"], "key_changed",
            "an inbound new key was taken for a key change: {e}"
        );
        if e["type"] == "contacts" {
            assert!(
                e["contacts"]
                    .as_array()
                    .is_some_and(|list| list.iter().all(|c| c["peer_id"] != key)),
                "an inbound new key became a contact: {e}"
            );
        }
        e["type"] == "request" && e["peer_id"] == key
    })
    .await
}

#[tokio::test]
async fn an_inbound_key_using_a_contacts_name_or_a_look_alike_is_a_flagged_request_not_a_key_change(
) {
    let a = Peer::start("alice");
    let b = Peer::start("bob");
    let mut ua = a.ui().await;
    ua.connect_peer(b.p2p_port, &b.public_key).await;
    ua.send(json!({"action": "set_verified", "peer_id": b.public_key, "verified": true}))
        .await;
    ua.wait_type("peer_verified").await;
    // Exactly "bob"; another case with a zero-width space; Cyrillic "о" (U+043E); "b" + a
    // right-to-left override. Each is equal or confusable with the contact "bob".
    let look_alikes = ["bob", "BOB\u{200b}", "b\u{043e}b", "\u{202e}bob"];
    let mut held = Vec::new();
    for (i, name) in look_alikes.iter().enumerate() {
        let id = Identity::generate();
        let key = id.public_key().to_base64();
        let conn = core_initiate(
            connect_from(loopback(10 + i as u8), a.p2p_port).await,
            &id,
            &hello(name, 0),
        )
        .await;
        let request = expect_request(&mut ua, &key).await;
        assert_eq!(
            request["confusable_with"],
            json!([b.public_key]),
            "name {name:?}: {request}"
        );
        held.push(conn);
    }
    // A name like no contact's is a plain request.
    let carol = Identity::generate();
    let carol_key = carol.public_key().to_base64();
    let _carol = core_initiate(
        connect_from(loopback(20), a.p2p_port).await,
        &carol,
        &hello("carol", 0),
    )
    .await;
    let request = expect_request(&mut ua, &carol_key).await;
    assert_eq!(request["confusable_with"], json!([]), "{request}");
    // Bob is untouched: still a verified contact, still connected.
    ua.send(json!({"action": "list_contacts"})).await;
    let contacts = ua.wait_type("contacts").await;
    let bob = contacts["contacts"]
        .as_array()
        .expect("contacts")
        .iter()
        .find(|c| c["peer_id"] == b.public_key.as_str())
        .cloned()
        .expect("bob is a contact");
    assert_eq!(bob["verified"], true);
    assert_eq!(bob["online"], true);
}

#[tokio::test]
async fn two_keys_behind_one_address_claiming_the_same_port_are_two_people() {
    let a = Peer::start("alice");
    let mut ua = a.ui().await;
    let mut people = Vec::new();
    for name in ["xavier", "yvonne"] {
        let id = Identity::generate();
        let key = id.public_key().to_base64();
        // Same source address, same claimed listen_port.
        let conn = core_initiate(
            connect_from(loopback(1), a.p2p_port).await,
            &id,
            &hello(name, 7000),
        )
        .await;
        let request = expect_request(&mut ua, &key).await;
        assert_eq!(request["name"], name);
        people.push((key, conn));
    }
    // Neither is held: both are heard, each in its own request.
    for (i, (key, conn)) in people.iter_mut().enumerate() {
        let text = format!("person {i} behind one NAT");
        conn.chat(&text, None).await;
        let heard = ua.hear(&text).await;
        assert_eq!(heard["peer_id"], key.as_str());
        assert_eq!(heard["conversation"], format!("request:{key}"));
    }
}

#[tokio::test]
async fn an_invite_answered_by_another_key_never_receives_our_message_3() {
    let a = Peer::start("alice");
    let mut ua = a.ui().await;
    let invited = Identity::generate();
    let (listener, port) = listener().await;
    let invite = format!(
        "p2p-chat://127.0.0.1:{port}/{}",
        URL_SAFE_NO_PAD.encode(invited.public_key().as_bytes())
    );
    // The impostor answers honestly with its own key, then waits for message 3, which would
    // carry A's static key and hello.
    let impostor = tokio::spawn(async move {
        answer_and_wait_for_message_3(&listener, &Identity::generate(), &hello("bob", 0)).await
    });
    ua.send(json!({"action": "connect_invite", "invite": invite, "req": 1}))
        .await;
    let error = ua
        .wait_for("error", |e| {
            assert_ne!(e["type"], "peer_connected", "{e}");
            e["type"] == "error"
        })
        .await;
    assert_eq!(error["action"], "connect_invite");
    assert!(
        error["message"].as_str().unwrap_or("").contains("invite"),
        "{error}"
    );
    let after_message_2 = impostor.await.expect("impostor");
    assert!(
        after_message_2.is_none(),
        "A wrote {} to a peer whose key is not the invite's",
        shown(&after_message_2)
    );
}
