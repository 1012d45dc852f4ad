//! Files and pictures between real peers (PROTOCOL.md §5.1, §8.9): sizes from empty to 200 MiB
//! arrive byte-identical, limits refuse with a clear `error`, hostile names land cleaned, a room
//! file reaches every member, downloads need the token in a header, and deleting a message
//! deletes its file.

mod common;
mod files_common;
mod store_common;

use std::time::{Duration, Instant};

use common::{Peer, Ui};
use files_common::*;
use serde_json::{json, Value};
use store_common::{start_in, tempdir};

/// Alice (dialler) and Bob with data directories, each the other's contact.
async fn pair(
    da: &std::path::Path,
    db: &std::path::Path,
    b_args: &[&str],
) -> (Peer, Peer, Ui, Ui) {
    let a = start_in("alice", da, 0, &[]);
    let b = start_in("bob", db, 0, b_args);
    let mut ua = a.ui().await;
    let mut ub = b.ui().await;
    ua.connect_peer(b.p2p_port, &b.public_key).await;
    ub.wait_for("peer_connected on B", |e| e["type"] == "peer_connected")
        .await;
    ub.accept_request(&a.public_key).await;
    (a, b, ua, ub)
}

#[tokio::test]
async fn files_of_0_1_and_1_mib_plus_1_bytes_arrive_byte_identical() {
    let (da, db, src) = (tempdir(), tempdir(), tempdir());
    let (a, b, mut ua, mut ub) = pair(da.path(), db.path(), &[]).await;
    for (size, name) in [(0usize, "empty.bin"), (1, "one.bin"), ((1 << 20) + 1, "mib.bin")] {
        let path = src.path().join(name);
        std::fs::write(&path, pattern(size, size as u64 + 7)).unwrap();
        let sent = send_upload(&a, &mut ua, &path, name, &b.public_key).await;
        let id = sent["id"].as_str().unwrap().to_owned();
        assert_eq!(sent["file"]["size"], size);
        assert_eq!(sent["file"]["sha256"], sha256_file(&path));
        assert_eq!(sent["text"], name);
        // Bob is told of the file, then has it whole; Alice hears that he verified it.
        let offered = ub
            .wait_for("the offer on B", |e| e["type"] == "peer_message" && e["id"] == id.as_str())
            .await;
        assert_eq!(offered["file"]["name"], name);
        assert_eq!(offered["conversation"], a.public_key.as_str());
        wait_state(&mut ub, &id, "complete", Duration::from_secs(30)).await;
        // The offer's ack (delivered) comes only with the whole file verified.
        ua.wait_for("delivered", |e| {
            e["type"] == "delivery" && e["id"] == id.as_str() && e["state"] == "delivered"
        })
        .await;
        wait_state(&mut ua, &id, "complete", Duration::from_secs(30)).await;
        let landed = received(db.path(), name);
        assert_eq!(std::fs::read(&landed).unwrap(), std::fs::read(&path).unwrap());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&landed).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{name}");
        }
        // The page downloads it with the token in a header.
        let key = offered["file"]["key"].as_str().unwrap();
        let got = download(&b, key).await;
        assert_eq!(got.status, 200, "{}", got.head);
        assert_eq!(got.body, std::fs::read(&path).unwrap());
        assert!(got.head.to_ascii_lowercase().contains("content-disposition: attachment"));
    }
    // History shows both sides' file messages with their states.
    ub.send(json!({"action": "load_history", "conversation": a.public_key}))
        .await;
    let history = ub.wait_type("history").await;
    let files: Vec<&Value> = history["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["file"].is_object())
        .collect();
    assert_eq!(files.len(), 3);
    assert!(files.iter().all(|m| m["file"]["state"] == "complete"));
}

#[tokio::test]
async fn a_200_mib_file_arrives_byte_identical_through_send_file() {
    let (da, db, src) = (tempdir(), tempdir(), tempdir());
    let (a, b, _ua, mut ub) = pair(da.path(), db.path(), &[]).await;
    let path = src.path().join("big.bin");
    write_pattern_file(&path, 200 << 20, 42);
    let started = Instant::now();
    // Handed to Alice's running peer through its local API.
    let out = tokio::process::Command::new(common::BIN)
        .args(["send-file", &format!("127.0.0.1:{}", b.p2p_port)])
        .arg(&path)
        .arg("--data-dir")
        .arg(da.path())
        .output()
        .await
        .unwrap();
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "send-file failed: {stderr}");
    assert!(stderr.contains("verified by the receiver"), "{stderr}");
    assert!(stderr.contains("handing big.bin to the peer running"), "{stderr}");
    let offered = ub
        .wait_for("the offer", |e| e["type"] == "peer_message" && e["file"].is_object())
        .await;
    assert_eq!(offered["file"]["size"], 200u64 << 20);
    assert_eq!(sha256_file(&received(db.path(), "big.bin")), sha256_file(&path));
    eprintln!("200 MiB through send-file and the running peer in {took:?}");
    drop(a);
}

/// Bob on 127.0.0.2:P behind a counting relay on 127.0.0.1:P: Alice dials the relay, so the
/// address she keeps for Bob (the IP she dialled, the port he announces) is the relay's, and
/// every later dial of hers goes through it too.
async fn relayed_pair(
    da: &std::path::Path,
    db: &std::path::Path,
) -> (Peer, Peer, Ui, Ui, CountingRelay) {
    let b = start_bob_at(db, 0);
    let relay = CountingRelay::start_at(b.p2p_port, ("127.0.0.2", b.p2p_port)).await;
    let a = start_in("alice", da, 0, &[]);
    let mut ua = a.ui().await;
    let mut ub = b.ui().await;
    ua.connect_peer(relay.port, &b.public_key).await;
    ub.wait_for("peer_connected on B", |e| e["type"] == "peer_connected")
        .await;
    ub.accept_request(&a.public_key).await;
    (a, b, ua, ub, relay)
}

/// Bob keeping his state in `dir`, listening on 127.0.0.2 (`port` 0: any).
fn start_bob_at(dir: &std::path::Path, port: u16) -> Peer {
    let port = port.to_string();
    let args: Vec<String> = [
        "--host",
        "127.0.0.2",
        "--port",
        &port,
        "--web-port",
        "0",
        "--data-dir",
        &dir.display().to_string(),
        "--name",
        "bob",
        "--redial-base-ms",
        "100",
    ]
    .map(String::from)
    .to_vec();
    Peer::start_args(&args)
}

/// Wire bytes of `file_bytes` of chunks: base64 of the sealed chunk (its header with a proof
/// of up to 17 hashes, 0x00, the bytes, the tag) in a `data` frame.
fn wire_bytes(file_bytes: u64) -> u64 {
    file_bytes * 136 / 100
}

const KILL_TEST_SIZE: u64 = 128 << 20;

#[tokio::test]
async fn kill_9_of_the_sender_at_half_resumes_without_resending_verified_chunks() {
    let (da, db, src) = (tempdir(), tempdir(), tempdir());
    let (mut a, b, mut ua, mut ub, relay) = relayed_pair(da.path(), db.path()).await;
    let path = src.path().join("half.bin");
    write_pattern_file(&path, KILL_TEST_SIZE, 9);
    let sent = send_upload(&a, &mut ua, &path, "half.bin", &b.public_key).await;
    let id = sent["id"].as_str().unwrap().to_owned();
    let half = wait_bytes(&mut ub, &id, KILL_TEST_SIZE * 2 / 5, Duration::from_secs(60)).await;
    a.kill();
    let at_kill = half["bytes"].as_u64().unwrap();
    assert!(at_kill < KILL_TEST_SIZE, "killed before the end");
    // Back on the same port and data directory: it redials Bob (through the relay) and
    // offers the file again; Bob asks from what he verified.
    let a_port = a.p2p_port;
    let _a = start_in("alice", da.path(), a_port, &[]);
    wait_state(&mut ub, &id, "complete", Duration::from_secs(90)).await;
    assert_eq!(sha256_file(&received(db.path(), "half.bin")), sha256_file(&path));
    b.wait_for_log("resuming a received file at").await;
    let sent_bytes = relay.forward_bytes();
    eprintln!(
        "sender killed at {at_kill} of {KILL_TEST_SIZE} bytes; {sent_bytes} bytes crossed the relay"
    );
    // Everything once, plus at most the window and the chunks in flight at the kill; a
    // restart from zero would add another {at_kill} bytes.
    assert!(sent_bytes >= wire_bytes(KILL_TEST_SIZE) * 99 / 100, "{sent_bytes}");
    assert!(
        sent_bytes <= wire_bytes(KILL_TEST_SIZE + (3 << 20)) + (64 << 10),
        "{sent_bytes} bytes: verified chunks were sent again"
    );
}

#[tokio::test]
async fn kill_9_of_the_receiver_at_half_resumes_without_resending_verified_chunks() {
    let (da, db, src) = (tempdir(), tempdir(), tempdir());
    let (a, mut b, mut ua, mut ub, relay) = relayed_pair(da.path(), db.path()).await;
    let path = src.path().join("half.bin");
    write_pattern_file(&path, KILL_TEST_SIZE, 10);
    let sent = send_upload(&a, &mut ua, &path, "half.bin", &b.public_key).await;
    let id = sent["id"].as_str().unwrap().to_owned();
    let half = wait_bytes(&mut ub, &id, KILL_TEST_SIZE * 2 / 5, Duration::from_secs(60)).await;
    b.kill();
    drop(ub);
    let at_kill = half["bytes"].as_u64().unwrap();
    assert!(at_kill < KILL_TEST_SIZE, "killed before the end");
    let b_port = b.p2p_port;
    let b = start_bob_at(db.path(), b_port);
    wait_state(&mut ua, &id, "complete", Duration::from_secs(90)).await;
    assert_eq!(sha256_file(&received(db.path(), "half.bin")), sha256_file(&path));
    b.wait_for_log("resuming a received file at").await;
    let sent_bytes = relay.forward_bytes();
    eprintln!(
        "receiver killed at {at_kill} of {KILL_TEST_SIZE} bytes; {sent_bytes} bytes crossed the relay"
    );
    assert!(sent_bytes >= wire_bytes(KILL_TEST_SIZE) * 99 / 100, "{sent_bytes}");
    assert!(
        sent_bytes <= wire_bytes(KILL_TEST_SIZE + (3 << 20)) + (64 << 10),
        "{sent_bytes} bytes: verified chunks were sent again"
    );
    // No partial file or leaves are left behind.
    let partial = std::fs::read_dir(db.path().join("files/partial")).unwrap().count();
    assert_eq!(partial, 0);
}
