//! Attacks on the local side (SECURITY.md "Secrets at rest", "The local UI's defences",
//! PROTOCOL.md §8): an existing data directory left readable by others, a UI client flooding
//! bad actions in one write, and bidirectional-override characters in the terminal chat.
//! Real processes.
//!
//! Each test is written against the rule it names.

mod common;
mod store_common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;

use common::{Peer, BIN, EVENT_TIMEOUT};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use store_common::{start_in, tempdir};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// The data directory is 0700 and everything in it private too: directories (the files
/// area, README "Files and pictures") 0700, files (identity, database, its WAL) 0600.
fn assert_private(dir: &Path) {
    let dir_mode = mode(dir);
    assert_eq!(
        dir_mode,
        0o700,
        "data directory {} is {dir_mode:o}",
        dir.display()
    );
    let mut names = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(next) = todo.pop() {
        for entry in std::fs::read_dir(&next).expect("read_dir") {
            let path = entry.expect("entry").path();
            let name = path
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let entry_mode = mode(&path);
            if path.is_dir() {
                assert_eq!(entry_mode, 0o700, "directory {name} is {entry_mode:o}");
                todo.push(path);
            } else {
                assert_eq!(
                    entry_mode, 0o600,
                    "{name} in the data directory is {entry_mode:o}"
                );
            }
            names.push(name);
        }
    }
    for expected in ["identity.key", "p2p-chat.db", "p2p-chat.db-wal"] {
        assert!(
            names.iter().any(|n| n == expected),
            "no {expected} in {names:?}"
        );
    }
}

#[tokio::test]
async fn an_existing_data_directory_and_its_database_are_made_private() {
    let parent = tempdir();
    let dir = parent.path().join("existing");
    std::fs::create_dir(&dir).expect("mkdir");
    set_mode(&dir, 0o755);
    let bob = Peer::start("bob");
    let mut alice = start_in("alice", &dir, 0, &[]);
    let mut ua = alice.ui().await;
    // A contact and a message, so the database and its WAL have been written.
    ua.connect_peer(bob.p2p_port, &bob.public_key).await;
    ua.say("written to the database", Some(&bob.public_key))
        .await;
    assert_private(&dir);

    // As an earlier version left them: everything readable by others. A restart fixes it.
    alice.kill();
    set_mode(&dir, 0o755);
    for entry in std::fs::read_dir(&dir).expect("read_dir") {
        let path = entry.expect("entry").path();
        set_mode(&path, if path.is_dir() { 0o755 } else { 0o644 });
    }
    let alice = start_in("alice", &dir, 0, &[]);
    let mut ua = alice.ui().await;
    // Bob is a contact now: the redialler reconnects (a `connect_peer` would race it into a
    // duplicate session).
    ua.wait_for("peer_connected to bob", |e| {
        e["type"] == "peer_connected" && e["peer_id"] == bob.public_key
    })
    .await;
    ua.say("written again", Some(&bob.public_key)).await;
    assert_private(&dir);
}

#[tokio::test]
async fn twenty_thousand_bad_actions_in_one_write_leave_the_ui_client_answering() {
    const BAD: usize = 20_000;
    let b = Peer::start("bob");
    let mut other = b.ui().await;
    let url = format!("ws://127.0.0.1:{}/ws?token={}", b.web_port, b.token);
    let mut request = url.into_client_request().expect("request");
    request
        .headers_mut()
        .insert("origin", b.origin().parse().expect("origin"));
    let (ws, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("websocket");
    let (mut sink, mut stream) = ws.split();
    // Written in one go (buffered, one flush), while this test keeps reading the replies.
    let writer = tokio::spawn(async move {
        for i in 0..BAD {
            let bad = json!({"action": "no_such_action", "req": i}).to_string();
            sink.feed(Message::Text(bad.into())).await.expect("feed");
        }
        let later = json!({"action": "set_name", "name": "still answering"}).to_string();
        sink.feed(Message::Text(later.into())).await.expect("feed");
        sink.flush().await.expect("flush");
        sink
    });
    let mut errors = 0usize;
    loop {
        let message = tokio::time::timeout(EVENT_TIMEOUT, stream.next())
            .await
            .unwrap_or_else(|_| {
                panic!("the UI client stopped answering after {errors} error events")
            })
            .expect("websocket closed")
            .expect("websocket error");
        let Message::Text(text) = message else {
            continue;
        };
        let event: Value = serde_json::from_str(text.as_str()).expect("event JSON");
        match event["type"].as_str() {
            Some("error") => errors += 1,
            Some("info") if event["name"] == "still answering" => break,
            _ => {}
        }
    }
    assert!(errors > 0, "no error event for {BAD} unknown actions");
    let _sink = writer.await.expect("writer");
    // The other client was not stalled either.
    other
        .wait_for("info", |e| {
            e["type"] == "info" && e["name"] == "still answering"
        })
        .await;
}

#[tokio::test]
async fn the_terminal_chat_escapes_bidi_overrides_in_names_and_text() {
    const BIDI: [char; 12] = [
        '\u{202a}', '\u{202b}', '\u{202c}', '\u{202d}', '\u{202e}', '\u{2066}', '\u{2067}',
        '\u{2068}', '\u{2069}', '\u{200e}', '\u{200f}', '\u{061c}',
    ];
    let alice = Peer::start("alice");
    let mut ua = alice.ui().await;
    ua.send(json!({"action": "set_name", "name": "ali\u{202e}ecila"}))
        .await;
    ua.wait_for("info", |e| {
        e["type"] == "info" && e["name"] == "ali\u{202e}ecila"
    })
    .await;
    let mut chat = Command::new(BIN)
        .args([
            "chat",
            &format!("127.0.0.1:{}", alice.p2p_port),
            "--name",
            "tom",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn chat");
    let connected = ua.wait_type("peer_connected").await;
    let tom = connected["peer_id"].as_str().expect("peer_id").to_owned();
    // "invoice_\u{202e}fdp.exe" shows as "invoice_exe.pdf" on a bidi terminal.
    let text: String = format!(
        "invoice_\u{202e}fdp.exe {}",
        BIDI.iter().collect::<String>()
    );
    ua.say(&text, Some(&tom)).await;
    let mut stdout = BufReader::new(chat.stdout.take().expect("stdout")).lines();
    let line = tokio::time::timeout(EVENT_TIMEOUT, stdout.next_line())
        .await
        .expect("chat printed nothing")
        .expect("read")
        .expect("a line");
    assert!(
        !line.chars().any(|c| BIDI.contains(&c)),
        "a bidi formatting character reached the terminal raw: {line:?}"
    );
    let escaped: String = BIDI
        .iter()
        .map(|c| c.escape_unicode().to_string())
        .collect();
    // The name may be shown escaped or with the override removed; the text is escaped.
    assert!(line.starts_with("ali"), "{line:?}");
    assert!(
        line.ends_with(&format!(": invoice_\\u{{202e}}fdp.exe {escaped}")),
        "{line:?}"
    );
    drop(chat.stdin.take());
}
