//! Files from the command line (PROTOCOL.md §8.11, README): the terminal chat receives into a
//! directory, and `p2p-chat send-file` works without a running peer, waits for the receiver's
//! verification, says where it stopped on Ctrl-C, and resumes when run again after being
//! killed or interrupted.

mod common;
mod files_common;
mod store_common;

use std::process::Stdio;
use std::time::Duration;

use common::{BIN, EVENT_TIMEOUT};
use files_common::{
    received, send_upload, sha256_file, wait_bytes, wait_state, write_pattern_file,
};
use store_common::{start_in, tempdir};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

#[tokio::test]
async fn the_terminal_chat_receives_files_into_a_directory() {
    let (da, into, src) = (tempdir(), tempdir(), tempdir());
    let a = start_in("alice", da.path(), 0, &[]);
    let mut ua = a.ui().await;
    let mut chat = Command::new(BIN)
        .args([
            "chat",
            &format!("127.0.0.1:{}", a.p2p_port),
            "--name",
            "tom",
            "--files-dir",
        ])
        .arg(into.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let connected = ua.wait_type("peer_connected").await;
    let tom = connected["peer_id"].as_str().unwrap().to_owned();
    ua.accept_request(&tom).await;
    let path = src.path().join("notes \u{1b}[2J.txt");
    std::fs::write(&path, b"for the terminal").unwrap();
    let sent = send_upload(&a, &mut ua, &path, "notes \u{1b}[2J.txt", &tom).await;
    wait_state(
        &mut ua,
        sent["id"].as_str().unwrap(),
        "complete",
        Duration::from_secs(15),
    )
    .await;
    // Cleaned name, in the directory itself.
    let landed = into.path().join("notes [2J.txt");
    assert_eq!(std::fs::read(&landed).unwrap(), b"for the terminal");
    let mut stdout = BufReader::new(chat.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(EVENT_TIMEOUT, stdout.next_line())
        .await
        .expect("chat printed nothing")
        .unwrap()
        .unwrap();
    assert_eq!(line, "alice: [file notes [2J.txt (16 bytes)]");
    let _ = chat.kill().await;
}

#[tokio::test]
async fn send_file_without_a_running_peer_resumes_when_run_again() {
    let (da, db, src) = (tempdir(), tempdir(), tempdir());
    // Alice and Bob meet once (Bob accepts Alice), then Alice's peer stops.
    let mut a = start_in("alice", da.path(), 0, &[]);
    let b = start_in("bob", db.path(), 0, &[]);
    let mut ua = a.ui().await;
    let mut ub = b.ui().await;
    ua.connect_peer(b.p2p_port, &b.public_key).await;
    ub.accept_request(&a.public_key).await;
    drop(ua);
    assert!(a.terminate().success());
    let path = src.path().join("resume.bin");
    let size: u64 = 160 << 20;
    write_pattern_file(&path, size, 3);
    let send_file = || {
        let mut cmd = Command::new(BIN);
        cmd.args(["send-file", &format!("127.0.0.1:{}", b.p2p_port)])
            .arg(&path)
            .arg("--data-dir")
            .arg(da.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        cmd
    };
    let mut first = send_file().spawn().unwrap();
    let offer = ub
        .wait_for("the offer", |e| {
            e["type"] == "peer_message" && e["file"].is_object()
        })
        .await;
    let id = offer["id"].as_str().unwrap().to_owned();
    wait_bytes(&mut ub, &id, size / 4, Duration::from_secs(60)).await;
    first.kill().await.unwrap();
    // Run again, and stop it with Ctrl-C: it says where the transfer stands and how to go on.
    let second = send_file().spawn().unwrap();
    wait_bytes(&mut ub, &id, size / 2, Duration::from_secs(60)).await;
    let pid = second.id().unwrap().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap()
        .success());
    let out = tokio::time::timeout(Duration::from_secs(30), second.wait_with_output())
        .await
        .expect("send-file did not stop at Ctrl-C")
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("resume.bin: interrupted; the receiver has verified")
            && stderr.contains(&format!("of {size} bytes; run the command again to resume")),
        "{stderr}"
    );
    // Run again: the same transfer (same message) continues where Bob stands.
    let out = tokio::time::timeout(Duration::from_secs(120), send_file().output())
        .await
        .expect("send-file did not finish")
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("verified by the receiver"), "{stderr}");
    wait_state(&mut ub, &id, "complete", Duration::from_secs(30)).await;
    assert_eq!(
        sha256_file(&received(db.path(), "resume.bin")),
        sha256_file(&path)
    );
    b.wait_for_log("resuming a received file at").await;
    // One message for the file on Bob's side, not two.
    let history = store_common::full_history(&mut ub, &a.public_key).await;
    assert_eq!(history.iter().filter(|m| m["file"].is_object()).count(), 1);
}
