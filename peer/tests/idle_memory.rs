//! Measurement, not a pass/fail test of speed: resident memory per idle session.
//! Run with `cargo test -p peer --release --test idle_memory -- --ignored --nocapture`.

mod common;

use common::{Peer, SnowClient};
use serde_json::json;

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
#[ignore = "measurement; run explicitly"]
async fn idle_session_memory() {
    let n: usize = std::env::var("IDLE_SESSIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let peer = Peer::start("idle");
    let mut ui = peer.ui().await;
    let pid = peer.child.id();
    // Warm up: one session, so one-time allocations are not counted.
    let mut warm = SnowClient::connect(peer.p2p_port, json!({"name": "warm"})).await;
    warm.chat("warm").await;
    warm.recv_payload().await;
    ui.hear("warm").await;
    let before = rss_kib(pid);
    let mut clients = Vec::with_capacity(n);
    for i in 0..n {
        let mut c = SnowClient::connect(peer.p2p_port, json!({"name": format!("c{i}")})).await;
        // One message each so every session has used its buffers once.
        c.chat("x").await;
        c.recv_payload().await;
        clients.push(c);
    }
    // The last session is live once its ack arrived; let the UI drain its events.
    ui.send(json!({"action": "set_name", "name": "done"})).await;
    ui.wait_for("info", |e| e["type"] == "info" && e["name"] == "done")
        .await;
    let after = rss_kib(pid);
    let per = (after.saturating_sub(before)) * 1024 / n as u64;
    println!("{n} idle sessions: RSS {before} KiB -> {after} KiB, {per} bytes per session");
}
