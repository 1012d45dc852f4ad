//! Guaranteed delivery across kill -9 (real processes, real SQLite).

mod common;
mod store_common;

use std::collections::HashSet;

use serde_json::json;
use store_common::{alice_connected_to_bob, full_history, start_in, tempdir, unique_ids};

#[tokio::test]
async fn messages_queued_before_the_sender_is_killed_are_delivered_exactly_once() {
    let (da, db) = (tempdir(), tempdir());
    let (mut a, mut b, mut ua) = alice_connected_to_bob(da.path(), db.path()).await;
    let (a_key, b_key) = (a.public_key.clone(), b.public_key.clone());
    let (a_port, b_port) = (a.p2p_port, b.p2p_port);
    // B goes offline; A queues five messages for it.
    b.kill();
    ua.wait_type("peer_disconnected").await;
    let mut ids = HashSet::new();
    for i in 0..5 {
        let sent = ua.say(&format!("queued {i}"), Some(&b_key)).await;
        assert_eq!(sent["state"], "queued");
        assert_eq!(sent["recipients"], json!([b_key]));
        ids.insert(sent["id"].as_str().unwrap().to_owned());
    }
    let history = full_history(&mut ua, &b_key).await;
    assert!(
        history.iter().all(|m| m["state"] == "queued"),
        "{history:?}"
    );
    // The sender dies without warning, then both come back.
    drop(ua);
    a.kill();
    let a = start_in("alice", da.path(), a_port, &[]);
    let mut ua = a.ui().await;
    let _b = start_in("bob", db.path(), b_port, &[]);
    // A redials B by itself and delivers everything.
    let mut delivered = HashSet::new();
    while delivered.len() < ids.len() {
        let e = ua
            .wait_for("delivered", |e| {
                e["type"] == "delivery" && e["state"] == "delivered"
            })
            .await;
        let id = e["id"].as_str().unwrap().to_owned();
        assert!(ids.contains(&id), "unknown id {id}");
        assert!(delivered.insert(id), "delivered twice: {e}");
    }
    let mut ub = _b.ui().await;
    let got = full_history(&mut ub, &a_key).await;
    assert_eq!(unique_ids(&got), ids);
    assert!(got
        .iter()
        .all(|m| m["direction"] == "in" && m["from"] == a_key.as_str()));
    let sent = full_history(&mut ua, &b_key).await;
    assert!(sent.iter().all(|m| m["state"] == "delivered"), "{sent:?}");
}

#[tokio::test]
async fn killing_the_receiver_mid_stream_loses_nothing_delivered_and_shows_nothing_twice() {
    const N: usize = 1000;
    let (da, db) = (tempdir(), tempdir());
    let a = start_in("alice", da.path(), 0, &[]);
    let mut b = start_in("bob", db.path(), 0, &[]);
    let (a_key, b_key) = (a.public_key.clone(), b.public_key.clone());
    let b_port = b.p2p_port;
    let mut ua = a.ui().await;
    let mut ub = b.ui().await;
    ua.connect_peer(b_port, &b_key).await;
    ub.wait_type("peer_connected").await;
    // A dialled B: to B, A is a message request until accepted.
    ub.accept_request(&a_key).await;

    // A separate window on A only watches events, read by its own task.
    let mut watch = a.ui().await;
    let (tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    let watcher = tokio::spawn(async move {
        loop {
            let e = watch.next().await;
            if tx.send(e).is_err() {
                return;
            }
        }
    });
    let sender = tokio::spawn(async move {
        for i in 0..N {
            ua.send(json!({"action": "send_message", "text": format!("m{i}"), "to": b_key}))
                .await;
        }
        ua
    });
    // Kill B after it has shown a third of the stream.
    let mut shown_before = HashSet::new();
    while shown_before.len() < N / 3 {
        let e = ub.wait_type("peer_message").await;
        assert!(
            shown_before.insert(e["id"].as_str().unwrap().to_owned()),
            "shown twice: {e}"
        );
    }
    drop(ub);
    b.kill();
    let mut queued = HashSet::new();
    let mut delivered_before_restart = HashSet::new();
    let drain =
        |e: serde_json::Value, queued: &mut HashSet<String>, delivered: &mut HashSet<String>| {
            assert_ne!(e["type"], "error", "{e}");
            if e["type"] == "message_sent" {
                queued.insert(e["id"].as_str().unwrap().to_owned());
            }
            if e["type"] == "delivery" && e["state"] == "delivered" {
                assert!(
                    delivered.insert(e["id"].as_str().unwrap().to_owned()),
                    "delivered twice: {e}"
                );
            }
        };
    while queued.len() < N {
        let e = tokio::time::timeout(common::EVENT_TIMEOUT, events.recv())
            .await
            .expect("events from A")
            .expect("watcher");
        drain(e, &mut queued, &mut delivered_before_restart);
    }
    let mut ua = sender.await.unwrap();
    let b = start_in("bob", db.path(), b_port, &[]);
    let mut ub = b.ui().await;
    let mut delivered = delivered_before_restart.clone();
    let mut shown_after = HashSet::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(120);
    while delivered.len() < N {
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} delivered",
            delivered.len()
        );
        tokio::select! {
            e = events.recv() => drain(e.expect("watcher"), &mut queued, &mut delivered),
            e = ub.next() => {
                if e["type"] == "peer_message" {
                    assert!(shown_after.insert(e["id"].as_str().unwrap().to_owned()), "shown twice: {e}");
                }
            }
        }
    }
    watcher.abort();
    let history = full_history(&mut ub, &a_key).await;
    let stored = unique_ids(&history);
    assert_eq!(stored, queued, "every message is stored exactly once");
    assert!(delivered_before_restart.is_subset(&stored));
    assert!(
        shown_before.is_disjoint(&shown_after),
        "a message was shown twice"
    );
    let sent = full_history(&mut ua, &b.public_key).await;
    assert_eq!(sent.len(), N);
    assert!(sent.iter().all(|m| m["state"] == "delivered"));
}
