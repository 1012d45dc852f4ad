//! Names that stay (real processes, real SQLite): our own name is saved and sent on change, a
//! contact's name is never replaced by an empty one, a local nickname outlives the contact's
//! renames and a restart, and failed dials carry a typed `code` (PROTOCOL.md §5, §8, §8.1).

mod common;
mod store_common;

use common::Ui;
use serde_json::{json, Value};
use store_common::{start_in, tempdir};

/// The contact `key` in the next `contacts` listing that satisfies `ok`.
async fn contact_where(ui: &mut Ui, key: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let listing = ui
        .wait_for("contacts", |e| {
            e["type"] == "contacts"
                && e["contacts"]
                    .as_array()
                    .is_some_and(|cs| cs.iter().any(|c| c["peer_id"] == key && ok(c)))
        })
        .await;
    listing["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["peer_id"] == key)
        .cloned()
        .unwrap()
}

#[tokio::test]
async fn names_survive_a_restart_on_both_sides_renames_reach_the_other_side_and_nicknames_stay() {
    let (da, db) = (tempdir(), tempdir());
    let mut a = start_in("alice", da.path(), 0, &[]);
    let mut b = start_in("bob", db.path(), 0, &[]);
    let (a_key, b_key) = (a.public_key.clone(), b.public_key.clone());
    let (a_port, b_port) = (a.p2p_port, b.p2p_port);
    let mut ua = a.ui().await;
    let mut ub = b.ui().await;
    ua.connect_peer(b_port, &b_key).await;
    ub.wait_type("peer_connected").await;
    // Alice dialled Bob: to Bob she is a message request until he accepts (PROTOCOL.md §8.2).
    ub.accept_request(&a_key).await;

    // Alice gives Bob a nickname; Bob renames himself while connected.
    ua.send(json!({"action": "set_nickname", "peer_id": b_key, "nickname": "Bobby (work)"}))
        .await;
    let bob = contact_where(&mut ua, &b_key, |c| c["nickname"] == "Bobby (work)").await;
    assert_eq!(bob["name"], "Bobby (work)", "{bob}");
    assert_eq!(bob["own_name"], "bob", "{bob}");
    ub.send(json!({"action": "set_name", "name": "Robert"}))
        .await;
    let renamed = ua.wait_type("peer_renamed").await;
    assert_eq!(renamed["peer_id"], b_key.as_str());
    assert_eq!(renamed["name"], "Robert");
    assert_eq!(renamed["confusable_with"], json!([]));
    let bob = contact_where(&mut ua, &b_key, |c| c["own_name"] == "Robert").await;
    assert_eq!(bob["name"], "Bobby (work)", "the nickname stays: {bob}");

    // Alice renames herself: Bob sees it at once, under her new name.
    ua.send(json!({"action": "set_name", "name": "Alice B"}))
        .await;
    let alice = contact_where(&mut ub, &a_key, |c| c["name"] == "Alice B").await;
    assert_eq!(alice["nickname"], Value::Null);

    drop((ua, ub));
    assert!(a.terminate().success());
    assert!(b.terminate().success());

    // Restarted without --name: both keep their saved names, and the handshake renames nobody.
    let a = start_in("", da.path(), a_port, &[]);
    let b = start_in("", db.path(), b_port, &[]);
    // `Peer::ui` reads the greeting's `info` itself: read it here to see the saved name.
    let mut ua = Ui::connect(a.web_port, &a.token, Some(&a.origin()), None)
        .await
        .expect("websocket");
    let info = ua.next().await;
    assert_eq!(
        (&info["type"], &info["name"]),
        (&json!("info"), &json!("Alice B")),
        "{info}"
    );
    let mut ub = Ui::connect(b.web_port, &b.token, Some(&b.origin()), None)
        .await
        .expect("websocket");
    let info = ub.next().await;
    assert_eq!(
        (&info["type"], &info["name"]),
        (&json!("info"), &json!("Robert")),
        "{info}"
    );
    // Both redial their contact at start (PROTOCOL.md §7.3): a `connect_peer` here would race
    // those dials, and its refusal as a duplicate could come as an `error` at any later point.
    ua.wait_for("Bob back", |e| {
        e["type"] == "peer_connected" && e["peer_id"] == b_key.as_str()
    })
    .await;
    let seen = ub.wait_type("peer_connected").await;
    assert_eq!(seen["name"], "Alice B", "the saved name is in the hello");
    let bob = contact_where(&mut ua, &b_key, |c| c["online"] == true).await;
    assert_eq!(
        (&bob["name"], &bob["own_name"], &bob["nickname"]),
        (
            &json!("Bobby (work)"),
            &json!("Robert"),
            &json!("Bobby (work)")
        ),
        "{bob}"
    );
    let alice = contact_where(&mut ub, &a_key, |c| c["online"] == true).await;
    assert_eq!(alice["name"], "Alice B", "{alice}");

    // A session's end moves last_seen to that moment.
    let before = alice["last_seen"].as_u64().unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    ua.send(json!({"action": "disconnect_peer", "peer_id": b_key}))
        .await;
    let alice = contact_where(&mut ub, &a_key, |c| c["online"] == false).await;
    let after = alice["last_seen"].as_u64().unwrap();
    assert!(after >= before + 300, "last_seen {before} -> {after}");

    // A nickname only goes on a contact: our own key is none.
    ua.send(json!({"action": "set_nickname", "peer_id": a_key, "nickname": "me"}))
        .await;
    let err = ua.wait_type("error").await;
    assert_eq!(err["action"], "set_nickname", "{err}");
}

#[tokio::test]
async fn failed_dials_carry_a_typed_code_and_the_address() {
    let dir = tempdir();
    let a = start_in("alice", dir.path(), 0, &[]);
    let mut ua = a.ui().await;
    // A port nobody listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    ua.send(json!({"action": "connect_peer", "ip": "127.0.0.1", "port": port}))
        .await;
    let err = ua.wait_type("error").await;
    assert_eq!(err["code"], "connection_refused", "{err}");
    assert_eq!(err["address"], format!("127.0.0.1:{port}"));

    // Something that answers, but not with the handshake.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        if let Ok((mut socket, _)) = listener.accept().await {
            let _ = socket.write_all(b"HTTP/1.1 200 OK\r\n\r\nhello\n").await;
            tokio::time::sleep(std::time::Duration::from_secs(5)).await;
        }
    });
    ua.send(json!({"action": "connect_peer", "ip": "127.0.0.1", "port": port}))
        .await;
    let err = ua.wait_type("error").await;
    assert_eq!(err["code"], "not_a_peer", "{err}");

    // A peer we are already connected to.
    let b = common::Peer::start("bob");
    ua.connect_peer(b.p2p_port, &b.public_key).await;
    ua.send(json!({"action": "connect_peer", "ip": "127.0.0.1", "port": b.p2p_port}))
        .await;
    let err = ua.wait_type("error").await;
    assert_eq!(err["code"], "already_connected", "{err}");
    assert_eq!(err["address"], format!("127.0.0.1:{}", b.p2p_port));
}

#[tokio::test]
async fn a_nickname_confusable_with_another_contact_is_reported_with_the_save() {
    let common::Three {
        a: _a,
        b,
        c,
        mut ua,
        ub,
        uc,
    } = common::Three::meshed().await;
    drop((ub, uc));
    let (b_key, c_key) = (b.public_key.clone(), c.public_key.clone());
    // Carol's nickname "b\u{043e}b" (Cyrillic о) looks like Bob's own name "bob".
    ua.send(json!({"action": "set_nickname", "peer_id": c_key, "nickname": "  b\u{043e}b "}))
        .await;
    let saved = ua.wait_type("nickname_set").await;
    assert_eq!(saved["peer_id"], c_key.as_str());
    assert_eq!(saved["nickname"], "b\u{043e}b", "cleaned as saved");
    assert_eq!(saved["confusable_with"], json!([b_key]));
    contact_where(&mut ua, &c_key, |c| c["nickname"] == "b\u{043e}b").await;

    // A name that looks like nobody else's: no warning.
    ua.send(json!({"action": "set_nickname", "peer_id": c_key, "nickname": "Carol (work)"}))
        .await;
    let saved = ua.wait_type("nickname_set").await;
    assert_eq!(saved["confusable_with"], json!([]));

    // Cleared: null, and the contact shows its own name again.
    ua.send(json!({"action": "set_nickname", "peer_id": c_key, "nickname": ""}))
        .await;
    let cleared = ua.wait_type("nickname_set").await;
    assert_eq!(cleared["nickname"], Value::Null);
    assert_eq!(cleared["confusable_with"], json!([]));
    contact_where(&mut ua, &c_key, |c| {
        c["nickname"].is_null() && c["name"] == "carol"
    })
    .await;
}
