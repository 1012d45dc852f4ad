//! `p2p-chat chat HOST:PORT` against a UI-driven peer, and the other subcommands.

mod common;

use std::process::Stdio;

use common::{Peer, BIN, EVENT_TIMEOUT};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;

#[tokio::test]
async fn terminal_chat_talks_to_a_ui_peer_both_ways() {
    let alice = Peer::start("alice");
    let mut ua = alice.ui().await;
    let mut chat = Command::new(BIN)
        .args([
            "chat",
            &format!("127.0.0.1:{}", alice.p2p_port),
            "--name",
            "terminal tom",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn chat");
    let connected = ua.wait_type("peer_connected").await;
    assert_eq!(connected["name"], "terminal tom");
    let tom = connected["peer_id"].as_str().unwrap().to_string();
    // The terminal chat dialled A: to A it is a message request until accepted.
    ua.accept_request(&tom).await;

    let mut stdin = chat.stdin.take().unwrap();
    stdin.write_all(b"hello from the terminal\n").await.unwrap();
    let got = ua.hear("hello from the terminal").await;
    assert_eq!(got["name"], "terminal tom");
    assert_eq!(got["conversation"], "everyone");

    ua.say("hello terminal, \u{1b}[31mred?", Some(&tom)).await;
    let mut stdout = BufReader::new(chat.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(EVENT_TIMEOUT, stdout.next_line())
        .await
        .expect("chat printed nothing")
        .unwrap()
        .unwrap();
    // The escape character is shown escaped, never sent to the terminal raw.
    assert_eq!(line, "alice: hello terminal, \\u{1b}[31mred?");

    stdin.write_all(b"bye\n").await.unwrap();
    drop(stdin);
    let status = tokio::time::timeout(EVENT_TIMEOUT, chat.wait())
        .await
        .expect("chat did not exit after EOF")
        .unwrap();
    assert!(status.success(), "{status:?}");
    ua.hear("bye").await;
    let gone = ua.wait_type("peer_disconnected").await;
    assert_eq!(gone["peer_id"], tom.as_str());
}

#[tokio::test]
async fn terminal_chat_from_a_script() {
    let alice = Peer::start("alice");
    let mut ua = alice.ui().await;
    let output = Command::new(BIN)
        .args([
            "chat",
            &format!("127.0.0.1:{}", alice.p2p_port),
            "--name",
            "script",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map(|mut child| {
            let mut stdin = child.stdin.take().unwrap();
            tokio::spawn(async move {
                stdin.write_all(b"one\ntwo\n").await.unwrap();
            });
            child
        })
        .unwrap()
        .wait_with_output();
    let output = tokio::time::timeout(EVENT_TIMEOUT, output)
        .await
        .unwrap()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("connected to alice"));
    ua.hear("one").await;
    ua.hear("two").await;
}

#[tokio::test]
async fn terminal_chat_fails_cleanly_when_nobody_listens() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let output = Command::new(BIN)
        .args(["chat", &format!("127.0.0.1:{port}")])
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot connect"));
}

#[tokio::test]
async fn id_prints_a_stable_identity_from_the_data_dir() {
    let dir = std::env::temp_dir().join(format!("p2p-chat-id-{}", rand::random::<u64>()));
    let run = || {
        std::process::Command::new(BIN)
            .args(["id", "--data-dir", dir.to_str().unwrap()])
            .output()
            .unwrap()
    };
    let first = run();
    let second = run();
    assert!(first.status.success());
    let text = String::from_utf8_lossy(&first.stdout).to_string();
    assert!(text.contains("public key:"), "{text}");
    assert!(text.contains("fingerprint:"), "{text}");
    assert_eq!(first.stdout, second.stdout);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("identity.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let _ = std::fs::remove_dir_all(&dir);
    let ephemeral = std::process::Command::new(BIN)
        .args(["id", "--ephemeral"])
        .output()
        .unwrap();
    assert!(ephemeral.status.success());
    assert_ne!(ephemeral.stdout, first.stdout);
}

#[tokio::test]
async fn vectors_subcommand_passes_and_writes_parity() {
    let out = std::env::temp_dir().join(format!("p2p-chat-parity-{}.json", rand::random::<u64>()));
    let output = std::process::Command::new(BIN)
        .args(["vectors", "--parity-out", out.to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(output.status.success(), "{text}");
    // Every suite of the one list (tests/vectors/MANIFEST.json), and the self-test.
    let manifest = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/vectors/MANIFEST.json"
    ))
    .unwrap();
    let suites = crypto_core::vectors::manifest::suites(&manifest).unwrap();
    assert_eq!(suites.len(), 11);
    for suite in &suites {
        let line = format!("{:<24} {}: ", suite.kind.name(), suite.path);
        assert!(text.contains(&line), "{line:?} missing from {text}");
    }
    assert!(text.contains("self-test"), "self-test missing from {text}");
    assert!(text.contains(" 0 failed"), "{text}");
    let parity: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert!(parity["keys"].is_array());
    let _ = std::fs::remove_file(&out);

    let bad_dir = std::process::Command::new(BIN)
        .args(["vectors", "--dir", "/nonexistent"])
        .output()
        .unwrap();
    assert!(!bad_dir.status.success());
}
