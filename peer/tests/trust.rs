//! Trust bound to keys: key changes raised by dials, invites (real processes; PROTOCOL.md §8.3).

mod common;
mod store_common;

use serde_json::json;
use store_common::{alice_connected_to_bob, full_history, start_in, tempdir};

/// The rule changed (PROTOCOL.md §8.3): a key change is raised by a dial that expected the
/// contact's key at the contact's own address — here A's redial — and that dial stops before
/// message 3, so nothing is "held": no session with the new key exists until the user accepts.
#[tokio::test]
async fn a_redial_answered_by_another_key_at_the_contacts_address_raises_key_changed_until_accepted(
) {
    let (da, db, db2) = (tempdir(), tempdir(), tempdir());
    let (a, mut b, mut ua) = alice_connected_to_bob(da.path(), db.path()).await;
    let (old_key, b_port) = (b.public_key.clone(), b.p2p_port);
    ua.send(json!({"action": "set_verified", "peer_id": old_key, "verified": true}))
        .await;
    ua.wait_type("peer_verified").await;
    b.kill();
    ua.wait_type("peer_disconnected").await;
    let sent = ua.say("for bob only", Some(&old_key)).await;
    let id = sent["id"].as_str().unwrap().to_owned();

    // Someone else takes bob's address and name with another key; A redials it.
    let impostor = start_in("bob", db2.path(), b_port, &[]);
    let new_key = impostor.public_key.clone();
    assert_ne!(new_key, old_key);
    let mut ui = impostor.ui().await;
    let change = ua
        .wait_for("key_changed", |e| {
            assert!(
                !(e["type"] == "peer_connected" && e["peer_id"] == new_key.as_str()),
                "{e}"
            );
            e["type"] == "key_changed"
        })
        .await;
    assert_eq!(change["peer_id"], old_key.as_str());
    assert_eq!(change["new_key"], new_key.as_str());
    assert_eq!(change["name"], "bob");
    assert_eq!(change["was_verified"], true);
    assert_eq!(change["address"], format!("127.0.0.1:{b_port}"));
    // Nothing reached the new key: the message stays queued.
    let history = full_history(&mut ua, &old_key).await;
    assert_eq!(history.len(), 1);
    assert_eq!(history[0]["state"], "queued");
    // A page opened now is told about the pending change too.
    let mut late = a.ui().await;
    let again = late.wait_type("key_changed").await;
    assert_eq!(again["change_id"], change["change_id"]);

    // Accepted: the next dial expects the new key, and what was owed moves to it.
    ua.send(json!({"action": "accept_key_change", "change_id": change["change_id"]}))
        .await;
    let got = ui.hear("for bob only").await;
    assert_eq!(got["id"], id.as_str());
    ua.wait_for("delivered", |e| {
        e["type"] == "delivery" && e["id"] == id.as_str() && e["state"] == "delivered"
    })
    .await;
    ua.send(json!({"action": "list_contacts"})).await;
    // Listings are coalesced and pushed as well as answered: take the first one made after the
    // accept (the one that lists the new key), not one still in flight from before it.
    let contacts = ua
        .wait_for("contacts", |e| {
            e["type"] == "contacts"
                && e["contacts"]
                    .as_array()
                    .is_some_and(|l| l.iter().any(|c| c["peer_id"] == new_key.as_str()))
        })
        .await;
    let list = contacts["contacts"].as_array().unwrap();
    let current = list
        .iter()
        .find(|c| c["peer_id"] == new_key.as_str())
        .unwrap();
    assert_eq!(current["verified"], false, "a new key is not verified");
    assert!(list.iter().all(|c| c["peer_id"] != old_key.as_str()));
}

/// The rule changed (PROTOCOL.md §8.3): a rejected (contact, key) fails later dials at that
/// address without asking again, and the same key dialling in is a new person — a message
/// request flagged as confusable with the contact — never a key change.
#[tokio::test]
async fn a_rejected_key_change_is_not_raised_again_and_the_key_dialling_in_is_a_flagged_request() {
    let (da, db, db2) = (tempdir(), tempdir(), tempdir());
    let (a, mut b, mut ua) = alice_connected_to_bob(da.path(), db.path()).await;
    let (old_key, b_port) = (b.public_key.clone(), b.p2p_port);
    b.kill();
    ua.wait_type("peer_disconnected").await;
    ua.say("for bob only", Some(&old_key)).await;
    let impostor = start_in("bob", db2.path(), b_port, &[]);
    let mut ui = impostor.ui().await;
    let change = ua.wait_type("key_changed").await;
    ua.send(json!({"action": "reject_key_change", "change_id": change["change_id"]}))
        .await;
    // A keeps redialling bob's address (it still owes bob a message); each dial is answered
    // by the rejected key and fails silently: no new key_changed, no session.
    let log_before = a.log().matches("another key answered").count();
    let deadline = tokio::time::Instant::now() + common::EVENT_TIMEOUT;
    while a.log().matches("another key answered").count() < log_before + 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "A stopped redialling"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let mut late = a.ui().await;
    late.wait_for("the greeting's requests", |e| {
        assert_ne!(
            e["type"], "key_changed",
            "a rejected change was raised again: {e}"
        );
        e["type"] == "requests"
    })
    .await;
    // The impostor dials A: an inbound new key is a request, flagged, never a change.
    ui.send(json!({"action": "connect_peer", "ip": "127.0.0.1", "port": a.p2p_port}))
        .await;
    let request = ua
        .wait_for("request", |e| {
            assert_ne!(e["type"], "key_changed", "{e}");
            e["type"] == "request"
        })
        .await;
    assert_eq!(request["peer_id"], impostor.public_key.as_str());
    assert_eq!(request["confusable_with"], json!([old_key]), "{request}");
}

#[tokio::test]
async fn invites_connect_to_the_right_key_and_refuse_any_other() {
    let (db, dc) = (tempdir(), tempdir());
    let a = common::Peer::start("alice");
    let b = start_in("bob", db.path(), 0, &[]);
    let c = start_in("carol", dc.path(), 0, &[]);
    // The CLI prints the data directory's identity.
    let out = std::process::Command::new(common::BIN)
        .args([
            "invite",
            "--host",
            "127.0.0.1",
            "--port",
            &b.p2p_port.to_string(),
            "--data-dir",
        ])
        .arg(db.path())
        .output()
        .expect("p2p-chat invite");
    assert!(out.status.success());
    let invite_b = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let key_b64url = invite_b.rsplit('/').next().unwrap();
    assert_eq!(key_b64url.len(), 43);
    assert_eq!(
        invite_b,
        format!("p2p-chat://127.0.0.1:{}/{key_b64url}", b.p2p_port)
    );
    // The page's invite is the same string, with a QR code.
    let mut ub = b.ui().await;
    ub.send(json!({"action": "get_invite"})).await;
    let shown = ub.wait_type("invite").await;
    assert_eq!(shown["invite"], invite_b.as_str());
    assert!(shown["qr_svg"].as_str().unwrap().contains("<svg"));

    let mut ua = a.ui().await;
    ua.send(json!({"action": "connect_invite", "invite": invite_b}))
        .await;
    let connected = ua
        .wait_for("peer_connected", |e| {
            assert_ne!(e["type"], "error", "{e}");
            e["type"] == "peer_connected"
        })
        .await;
    assert_eq!(connected["peer_id"], b.public_key.as_str());

    // C's address with B's key: refused, and C never becomes a contact.
    let wrong = format!("p2p-chat://127.0.0.1:{}/{key_b64url}", c.p2p_port);
    ua.send(json!({"action": "connect_invite", "invite": wrong, "req": 9}))
        .await;
    let error = ua
        .wait_for("error", |e| {
            assert_ne!(e["type"], "peer_connected", "{e}");
            e["type"] == "error"
        })
        .await;
    assert_eq!(error["action"], "connect_invite");
    assert_eq!(error["req"], 9);
    assert!(
        error["message"].as_str().unwrap().contains("invite"),
        "{error}"
    );
    ua.send(json!({"action": "list_contacts"})).await;
    let contacts = ua.wait_type("contacts").await;
    let list = contacts["contacts"].as_array().unwrap();
    assert!(
        list.iter().all(|x| x["peer_id"] != c.public_key.as_str()),
        "{contacts}"
    );

    // The terminal chat accepts the right invite...
    let mut chat = std::process::Command::new(common::BIN)
        .args(["chat", &invite_b])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("p2p-chat chat");
    {
        use std::io::Write;
        let mut stdin = chat.stdin.take().unwrap();
        stdin.write_all(b"hello via invite\n").unwrap();
    }
    let out = chat.wait_with_output().expect("chat exits");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    ub.hear("hello via invite").await;
    // ...and refuses the wrong one.
    let out = std::process::Command::new(common::BIN)
        .args(["chat", &wrong])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("p2p-chat chat");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("invite"), "{stderr}");
}
