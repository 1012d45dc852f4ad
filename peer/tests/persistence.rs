//! What survives a restart (real processes, real SQLite in a temporary data directory).

mod common;
mod store_common;

use common::assert_same_set;
use serde_json::{json, Value};
use store_common::{full_history, run_to_exit, start_in, tempdir, unique_ids};

fn texts(history: &[Value]) -> Vec<(String, String, String)> {
    history
        .iter()
        .map(|m| {
            (
                m["text"].as_str().unwrap_or_default().to_owned(),
                m["direction"].as_str().unwrap_or_default().to_owned(),
                m["from"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn restart_keeps_identity_history_contacts_verified_flags_and_rooms() {
    let (da, db) = (tempdir(), tempdir());
    let mut a = start_in("alice", da.path(), 0, &[]);
    let mut b = start_in("bob", db.path(), 0, &[]);
    let (a_key, b_key) = (a.public_key.clone(), b.public_key.clone());
    let (a_fp, b_fp) = (a.fingerprint.clone(), b.fingerprint.clone());
    let (a_port, b_port) = (a.p2p_port, b.p2p_port);
    let mut ua = a.ui().await;
    let mut ub = b.ui().await;
    ua.connect_peer(b.p2p_port, &b_key).await;
    ub.wait_type("peer_connected").await;

    let sent = ua.say("hello bob", Some(&b_key)).await;
    assert_eq!(sent["state"], "queued");
    let id = sent["id"].as_str().unwrap().to_owned();
    ub.hear("hello bob").await;
    ua.wait_for("delivered", |e| {
        e["type"] == "delivery" && e["id"] == id.as_str() && e["state"] == "delivered"
    })
    .await;
    ub.say("hi alice", Some(&a_key)).await;
    ua.hear("hi alice").await;

    ua.send(json!({"action": "set_verified", "peer_id": b_key, "verified": true}))
        .await;
    ua.wait_type("peer_verified").await;

    ua.send(json!({"action": "create_room", "name": "the club", "members": [b_key]}))
        .await;
    let room = ua.wait_type("room").await;
    let room_id = room["id"].as_str().unwrap().to_owned();
    assert!(room_id.starts_with("room:"), "{room}");
    let learnt = ub.wait_type("room").await;
    assert_eq!(learnt["id"], room_id.as_str());
    assert_eq!(learnt["name"], "the club");
    ua.say("in the club", Some(&room_id)).await;
    let got = ub.hear("in the club").await;
    assert_eq!(got["conversation"], room_id.as_str());

    let before_a = full_history(&mut ua, &b_key).await;
    let before_b = full_history(&mut ub, &a_key).await;
    assert_eq!(before_a.len(), 2);
    drop((ua, ub));
    assert!(a.terminate().success());
    assert!(b.terminate().success());

    let a = start_in("alice", da.path(), a_port, &[]);
    let b = start_in("bob", db.path(), b_port, &[]);
    assert_eq!(
        (a.public_key.as_str(), a.fingerprint.as_str()),
        (a_key.as_str(), a_fp.as_str())
    );
    assert_eq!(
        (b.public_key.as_str(), b.fingerprint.as_str()),
        (b_key.as_str(), b_fp.as_str())
    );
    let mut ua = a.ui().await;
    let contacts = ua.wait_type("contacts").await;
    let bob = contacts["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["peer_id"] == b_key.as_str())
        .cloned()
        .expect("bob is still a contact");
    assert_eq!(bob["verified"], true, "{bob}");
    assert_eq!(bob["name"], "bob");
    let room = ua.wait_type("room").await;
    assert_eq!(room["id"], room_id.as_str());
    assert_eq!(room["name"], "the club");
    assert_same_set(&room["members"], &[&a_key, &b_key]);

    let after_a = full_history(&mut ua, &b_key).await;
    assert_eq!(texts(&after_a), texts(&before_a));
    assert_eq!(
        texts(&after_a),
        vec![
            ("hello bob".into(), "out".into(), "me".into()),
            ("hi alice".into(), "in".into(), b_key.clone()),
        ]
    );
    assert_eq!(after_a[0]["state"], "delivered");
    unique_ids(&after_a);
    let room_a = full_history(&mut ua, &room_id).await;
    assert_eq!(
        texts(&room_a),
        vec![("in the club".into(), "out".into(), "me".into())]
    );

    let mut ub = b.ui().await;
    let contacts = ub.wait_type("contacts").await;
    assert!(contacts["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["peer_id"] == a_key.as_str() && c["name"] == "alice"));
    ub.wait_type("room").await;
    let after_b = full_history(&mut ub, &a_key).await;
    assert_eq!(texts(&after_b), texts(&before_b));
    let room_b = full_history(&mut ub, &room_id).await;
    assert_eq!(
        texts(&room_b),
        vec![("in the club".into(), "in".into(), a_key.clone())]
    );
}

#[tokio::test]
async fn a_garbage_database_is_a_clear_error_not_a_panic() {
    let dir = tempdir();
    std::fs::write(
        dir.path().join("p2p-chat.db"),
        b"this is not an SQLite database, just some garbage bytes ....................".repeat(64),
    )
    .unwrap();
    let output = run_to_exit(dir.path());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot open the database"), "{stderr}");
    assert!(
        stderr.contains("corrupt or not a p2p-chat database"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        output.stdout.is_empty(),
        "nothing listens: {:?}",
        output.stdout
    );
}

#[tokio::test]
async fn a_second_daemon_on_the_same_data_directory_is_refused() {
    let dir = tempdir();
    let _first = start_in("one", dir.path(), 0, &[]);
    let output = run_to_exit(dir.path());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("locked by another process"), "{stderr}");
}

/// Group commit: a burst of chats arriving in one write is stored in one go, acknowledged in
/// arrival order, and every acknowledged chat survives `kill -9` (acks follow the commit).
#[tokio::test]
async fn a_burst_is_acked_in_order_and_every_acked_chat_survives_kill_9() {
    use common::SnowClient;
    use tokio::io::AsyncWriteExt;

    const BURST: usize = 600;
    let dir = tempdir();
    let mut b = start_in("bob", dir.path(), 0, &[]);
    let mut client =
        SnowClient::connect(b.p2p_port, json!({"name": "burst", "listen_port": 0})).await;
    let sender = client.public_key.clone();
    // An inbound new key is a message request (which keeps only 100 messages): accept it.
    b.ui().await.accept_request(&sender).await;
    let mut lines = String::new();
    let mut ids = Vec::new();
    for i in 0..BURST {
        let id = format!("burst-{i:04}");
        let payload = json!({"kind": "chat", "id": id, "text": format!("message {i}"), "sent_at": 1_700_000_000_000u64 + i as u64});
        lines.push_str(&client.seal_line(i as u64, payload.to_string().as_bytes()));
        ids.push(id);
    }
    client.send_counter = BURST as u64;
    client.writer.write_all(lines.as_bytes()).await.unwrap();

    let mut acked = Vec::new();
    while acked.len() < BURST {
        let payload = client.recv_payload().await;
        assert_eq!(payload["kind"], "ack", "{payload}");
        acked.push(payload["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(acked, ids, "acks come back in arrival order, one per chat");

    b.kill();
    let b = start_in("bob", dir.path(), 0, &[]);
    let mut ub = b.ui().await;
    let history = full_history(&mut ub, &sender).await;
    let stored: Vec<String> = history
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        stored, ids,
        "every acknowledged chat is on disk, in arrival order"
    );
}
