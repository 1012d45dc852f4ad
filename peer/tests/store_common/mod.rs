//! Helpers for the persistence tests: peers with a data directory (restartable on the same
//! port), history paging, collecting events.
#![allow(dead_code)]

use std::collections::HashSet;
use std::path::Path;

use serde_json::{json, Value};

use crate::common::{loopback_args, Peer, Ui, BIN};

/// Starts a peer keeping its state in `dir`, on `port` (0 = any), redialling fast.
pub fn start_in(name: &str, dir: &Path, port: u16, extra: &[&str]) -> Peer {
    let mut args = loopback_args(port);
    args.extend([
        "--data-dir".into(),
        dir.display().to_string(),
        "--name".into(),
        name.into(),
        "--redial-base-ms".into(),
        "100".into(),
    ]);
    args.extend(extra.iter().map(|s| s.to_string()));
    Peer::start_args(&args)
}

/// Runs the daemon on `dir` (loopback, free ports) to its exit, for the start-ups that must be
/// refused: the process is expected to stop by itself, so it is waited for, not killed.
pub fn run_to_exit(dir: &Path) -> std::process::Output {
    std::process::Command::new(BIN)
        .args(loopback_args(0))
        .arg("--data-dir")
        .arg(dir)
        .output()
        .expect("run p2p-chat")
}

/// Alice in `da` and Bob in `db`, Alice's UI open and her session to Bob up, so each has
/// pinned the other's key — B accepted A's request — (the starting point of the trust and delivery tests).
pub async fn alice_connected_to_bob(da: &Path, db: &Path) -> (Peer, Peer, Ui) {
    let a = start_in("alice", da, 0, &[]);
    let b = start_in("bob", db, 0, &[]);
    let mut ua = a.ui().await;
    let mut ub = b.ui().await;
    ua.connect_peer(b.p2p_port, &b.public_key).await;
    // A dialled B, so B is A's contact; to B, A is a message request until accepted.
    ub.wait_for("peer_connected on B", |e| e["type"] == "peer_connected")
        .await;
    ub.accept_request(&a.public_key).await;
    (a, b, ua)
}

/// Every message of `conversation`, oldest first, paging with `before`.
pub async fn full_history(ui: &mut Ui, conversation: &str) -> Vec<Value> {
    let mut all: Vec<Value> = Vec::new();
    let mut before: Option<i64> = None;
    loop {
        let mut action =
            json!({"action": "load_history", "conversation": conversation, "limit": 500});
        if let Some(b) = before {
            action["before"] = json!(b);
        }
        ui.send(action).await;
        let page = ui
            .wait_for("history", |e| {
                assert_ne!(e["type"], "error", "load_history failed: {e}");
                e["type"] == "history" && e["conversation"] == conversation
            })
            .await;
        let messages = page["messages"].as_array().cloned().unwrap_or_default();
        let first = messages.first().and_then(|m| m["seq"].as_i64());
        let mut merged = messages;
        merged.extend(all);
        all = merged;
        if page["has_more"] != true {
            return all;
        }
        before = first;
    }
}

/// The ids of a history, asserting none repeats.
pub fn unique_ids(history: &[Value]) -> HashSet<String> {
    let mut ids = HashSet::new();
    for m in history {
        let id = m["id"].as_str().expect("id").to_owned();
        assert!(ids.insert(id.clone()), "message {id} stored twice");
    }
    ids
}

/// A fresh temporary directory.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}
