//! Search, history around a message, deleting on this device, and the `search` / `export`
//! commands (PROTOCOL.md §8.5): real processes, real SQLite in temporary data directories.

mod common;
mod store_common;

use std::path::Path;
use std::process::Command;

use common::{Ui, BIN};
use serde_json::{json, Value};
use store_common::{full_history, start_in, tempdir};

/// Sends `search` and waits for its `search_results` (or fails on an `error`).
async fn search(ui: &mut Ui, query: &str, conversation: Option<&str>) -> Value {
    let mut action = json!({"action": "search", "query": query});
    if let Some(c) = conversation {
        action["conversation"] = json!(c);
    }
    ui.send(action).await;
    ui.wait_for("search_results", |e| {
        assert_ne!(e["type"], "error", "search failed: {e}");
        e["type"] == "search_results" && e["query"] == query
    })
    .await
}

fn texts(results: &Value) -> Vec<String> {
    results["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["snippet"].as_str().unwrap().to_owned())
        .collect()
}

/// The marked parts of a result's snippet (ranges are UTF-16 offsets).
fn marked(result: &Value) -> Vec<String> {
    let units: Vec<u16> = result["snippet"].as_str().unwrap().encode_utf16().collect();
    result["ranges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let (a, b) = (
                r[0].as_u64().unwrap() as usize,
                r[1].as_u64().unwrap() as usize,
            );
            String::from_utf16(&units[a..b]).unwrap()
        })
        .collect()
}

/// Every byte of every file in `dir` (the database, its WAL, the identity, ...).
fn dir_bytes(dir: &Path) -> Vec<u8> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            all.extend(std::fs::read(path).unwrap_or_default());
        }
    }
    all
}

fn has(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn search_finds_substrings_and_cjk_in_scope_and_opens_around_the_match() {
    let (da, db) = (tempdir(), tempdir());
    let a = start_in("alice", da.path(), 0, &[]);
    let b = start_in("bob", db.path(), 0, &[]);
    let (a_key, b_key) = (a.public_key.clone(), b.public_key.clone());
    let mut ua = a.ui().await;
    let mut ub = b.ui().await;
    ua.connect_peer(b.p2p_port, &b_key).await;
    ub.wait_type("peer_connected").await;
    for i in 0..5 {
        ub.say(&format!("before {i}"), Some(&a_key)).await;
        ua.hear(&format!("before {i}")).await;
    }
    ub.say("say helloworld to me", Some(&a_key)).await;
    ua.hear("say helloworld to me").await;
    ub.say("世の中", Some(&a_key)).await;
    ua.hear("世の中").await;
    for i in 0..5 {
        ub.say(&format!("after {i}"), Some(&a_key)).await;
        ua.hear(&format!("after {i}")).await;
    }
    ua.say("こんにちは世界", None).await;

    // A substring inside a word, marked in the snippet.
    let found = search(&mut ua, "ellowor", None).await;
    assert_eq!(texts(&found), ["say helloworld to me"]);
    let hit = &found["results"][0];
    assert_eq!(hit["conversation"], b_key.as_str());
    assert_eq!(hit["from"], b_key.as_str());
    assert_eq!(hit["name"], "bob");
    assert_eq!(marked(hit), ["ellowor"]);
    assert_eq!(found["more"], false);

    // Japanese: a two-character word and a single character (below the trigram length).
    let world = search(&mut ua, "世界", None).await;
    assert_eq!(texts(&world), ["こんにちは世界"]);
    assert_eq!(world["results"][0]["conversation"], "everyone");
    assert_eq!(world["results"][0]["from"], "me");
    assert_eq!(marked(&world["results"][0]), ["世界"]);
    let one = search(&mut ua, "世", None).await;
    assert_eq!(texts(&one), ["こんにちは世界", "世の中"], "newest first");
    // Scoped to one conversation.
    let scoped = search(&mut ua, "世", Some(&b_key)).await;
    assert_eq!(texts(&scoped), ["世の中"]);
    assert_eq!(scoped["conversation"], b_key.as_str());
    let nothing = search(&mut ua, "helloworld", Some("everyone")).await;
    assert!(nothing["results"].as_array().unwrap().is_empty());

    // Opening a result: the conversation around that message.
    let seq = hit["seq"].as_i64().unwrap();
    ua.send(json!({"action": "history_around", "conversation": b_key, "seq": seq, "limit": 2}))
        .await;
    let page = ua
        .wait_for("history around", |e| {
            assert_ne!(e["type"], "error", "{e}");
            e["type"] == "history" && e["around"] == seq
        })
        .await;
    let shown: Vec<&str> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        shown,
        [
            "before 3",
            "before 4",
            "say helloworld to me",
            "世の中",
            "after 0"
        ]
    );
    assert_eq!(
        (page["has_more"].clone(), page["has_newer"].clone()),
        (json!(true), json!(true))
    );

    // Paging from there: each answer repeats the `before` or `after` it was asked, which is how
    // the page tells it from an answer to a request made for a window it no longer shows.
    let edge = |page: &Value, i: usize| page["messages"][i]["seq"].as_i64().unwrap();
    let (oldest, newest) = (edge(&page, 0), edge(&page, 4));
    ua.send(json!({"action": "load_history", "conversation": b_key, "before": oldest, "limit": 2}))
        .await;
    let older = ua.wait_type("history").await;
    assert_eq!(
        (older["before"].clone(), older.get("after")),
        (json!(oldest), None)
    );
    assert_eq!(
        older["messages"][1]["text"], "before 2",
        "the page just older: {older}"
    );
    ua.send(json!({"action": "load_history", "conversation": b_key, "after": newest, "limit": 2}))
        .await;
    let newer = ua.wait_type("history").await;
    assert_eq!(
        (
            newer["after"].clone(),
            newer.get("before"),
            newer["has_newer"].clone()
        ),
        (json!(newest), None, json!(true))
    );
    assert_eq!(newer["messages"][0]["text"], "after 1", "{newer}");
    ua.send(json!({"action": "load_history", "conversation": b_key}))
        .await;
    let newest_page = ua.wait_type("history").await;
    assert_eq!(
        (newest_page.get("before"), newest_page.get("after")),
        (None, None)
    );

    // Bad input: clear errors naming the action.
    ua.send(json!({"action": "search", "query": "   ", "req": 7}))
        .await;
    let err = ua.wait_type("error").await;
    assert_eq!(
        (err["action"].clone(), err["req"].clone()),
        (json!("search"), json!(7))
    );
    ua.send(json!({"action": "search", "query": "x".repeat(300)}))
        .await;
    assert_eq!(ua.wait_type("error").await["action"], "search");
    ua.send(json!({"action": "history_around", "conversation": "everyone", "seq": seq}))
        .await;
    let err = ua.wait_type("error").await;
    assert_eq!(err["action"], "history_around", "{err}");
}

#[tokio::test]
async fn deleted_messages_leave_the_database_wal_and_index() {
    let (da, db) = (tempdir(), tempdir());
    let a = start_in("alice", da.path(), 0, &[]);
    let b = start_in("bob", db.path(), 0, &[]);
    let (a_key, b_key) = (a.public_key.clone(), b.public_key.clone());
    let mut ua = a.ui().await;
    let mut ub = b.ui().await;
    ua.connect_peer(b.p2p_port, &b_key).await;
    ub.wait_type("peer_connected").await;
    let secret = "the password is quixoticzebrafjord";
    ub.say("an ordinary message", Some(&a_key)).await;
    ub.say(secret, Some(&a_key)).await;
    let heard = ua.hear(secret).await;
    let id = heard["id"].as_str().unwrap().to_owned();
    assert!(
        has(&dir_bytes(da.path()), "quixoticzebrafjord"),
        "the text is on disk before the delete (else this test proves nothing)"
    );
    assert_eq!(
        search(&mut ua, "zebrafjord", None).await["results"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // A second window sees the delete too.
    let mut ua2 = a.ui().await;
    ua.send(json!({"action": "delete_message", "conversation": b_key, "id": id, "from": b_key}))
        .await;
    let deleted = ua
        .wait_for("message_deleted", |e| {
            assert_ne!(e["type"], "error", "{e}");
            e["type"] == "message_deleted"
        })
        .await;
    assert_eq!(
        (
            deleted["conversation"].clone(),
            deleted["id"].clone(),
            deleted["from"].clone()
        ),
        (json!(b_key), json!(id), json!(b_key))
    );
    ua2.wait_type("message_deleted").await;
    // Gone from the files (database and WAL, overwritten and checkpointed), from search and
    // from history; the other message stays.
    assert!(!has(&dir_bytes(da.path()), "quixoticzebrafjord"));
    assert!(search(&mut ua, "zebrafjord", None).await["results"]
        .as_array()
        .unwrap()
        .is_empty());
    let left = full_history(&mut ua, &b_key).await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["text"], "an ordinary message");
    // Deleting it again: an error, not a silent success.
    ua.send(json!({"action": "delete_message", "conversation": b_key, "id": id}))
        .await;
    assert_eq!(ua.wait_type("error").await["action"], "delete_message");

    // A whole conversation, our own messages included.
    ua.say("my reply mentions marmaladeharpsichord", Some(&b_key))
        .await;
    ub.hear("my reply mentions marmaladeharpsichord").await;
    ua.send(json!({"action": "delete_conversation", "conversation": b_key}))
        .await;
    let gone = ua.wait_type("conversation_deleted").await;
    assert_eq!(
        (gone["conversation"].clone(), gone["deleted"].clone()),
        (json!(b_key), json!(2))
    );
    assert!(full_history(&mut ua, &b_key).await.is_empty());
    assert!(!has(&dir_bytes(da.path()), "marmaladeharpsichord"));
    // Only on this device: Bob still has his copy, and the session is untouched.
    assert_eq!(full_history(&mut ub, &a_key).await.len(), 3);
    ub.say("still here", Some(&a_key)).await;
    ua.hear("still here").await;
    ua.send(json!({"action": "delete_conversation", "conversation": "room:"}))
        .await;
    assert_eq!(ua.wait_type("error").await["action"], "delete_conversation");
    // A well-formed id of no conversation here is an error too, not "0 deleted".
    ua.send(json!({"action": "delete_conversation", "conversation": "room:no-such-room"}))
        .await;
    let refused = ua.wait_type("error").await;
    assert_eq!(refused["action"], "delete_conversation");
    assert!(
        refused["message"]
            .as_str()
            .unwrap_or("")
            .contains("room:no-such-room"),
        "{refused}"
    );
}

fn p2p_chat(args: &[&str]) -> std::process::Output {
    Command::new(BIN).args(args).output().expect("run p2p-chat")
}

#[tokio::test]
async fn search_and_export_commands_read_a_stopped_peers_data_directory() {
    let (da, db) = (tempdir(), tempdir());
    let mut a = start_in("alice", da.path(), 0, &[]);
    let b = start_in("bob", db.path(), 0, &[]);
    let (a_key, b_key) = (a.public_key.clone(), b.public_key.clone());
    let mut ua = a.ui().await;
    let mut ub = b.ui().await;
    ua.connect_peer(b.p2p_port, &b_key).await;
    ub.wait_type("peer_connected").await;
    ub.say("meet at the こんにちは世界 café", Some(&a_key))
        .await;
    ua.hear("meet at the こんにちは世界 café").await;
    ub.say("nasty \u{1b}[31mred\u{202e} text", Some(&a_key))
        .await;
    ua.hear("nasty \u{1b}[31mred\u{202e} text").await;
    ua.say("see you there", None).await;
    // What became of a message shows in the export: edited, deleted for everyone; and a
    // text's own backslash is not taken for an escape.
    let edited = ub.say("first draft", Some(&a_key)).await;
    ua.hear("first draft").await;
    ub.send(json!({"action": "edit_message", "id": edited["id"], "text": "second draft"}))
        .await;
    ua.wait_type("message_edited").await;
    let unsent = ub.say("regret this", Some(&a_key)).await;
    ua.hear("regret this").await;
    ub.send(json!({"action": "delete_for_everyone", "id": unsent["id"]}))
        .await;
    ua.wait_type("message_unsent").await;
    ub.say("C:\\new\nline", Some(&a_key)).await;
    ua.hear("C:\\new\nline").await;
    // A timer set in the conversation is a line of its timeline, and of the export.
    ua.send(json!({"action": "set_timer", "conversation": b_key, "seconds": 3600}))
        .await;
    ua.wait_for("timer", |e| {
        assert_ne!(e["type"], "error", "{e}");
        e["type"] == "timer"
    })
    .await;
    let dir = da.path().to_str().unwrap();

    // While the peer runs, the database is its own: a clear message, quickly.
    let started = std::time::Instant::now();
    let running = p2p_chat(&["search", "café", "--data-dir", dir]);
    assert_eq!(running.status.code(), Some(2), "it could not search");
    let stderr = String::from_utf8_lossy(&running.stderr);
    assert!(
        stderr.contains("the peer for this data directory is running; search from its page"),
        "{stderr}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
    let export_running = p2p_chat(&["export", "--data-dir", dir]);
    assert!(!export_running.status.success());

    drop(ua);
    assert!(a.terminate().success());
    let found = p2p_chat(&["search", "世", "--data-dir", dir]);
    assert!(
        found.status.success(),
        "{}",
        String::from_utf8_lossy(&found.stderr)
    );
    let out = String::from_utf8_lossy(&found.stdout);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "{out}");
    assert!(
        lines[0].contains("[bob]  bob: meet at the こんにちは世界 café"),
        "{out}"
    );
    // Scoped, and untrusted control characters escaped for the terminal.
    let scoped = p2p_chat(&[
        "search",
        "red",
        "--conversation",
        "everyone",
        "--data-dir",
        dir,
    ]);
    assert_eq!(
        scoped.status.code(),
        Some(1),
        "nothing matched, as grep says it"
    );
    assert!(scoped.stdout.is_empty());
    let nasty = p2p_chat(&["search", "nasty", "--data-dir", dir]);
    let out = String::from_utf8_lossy(&nasty.stdout);
    assert!(
        !out.contains('\u{1b}') && !out.contains('\u{202e}'),
        "{out:?}"
    );
    assert!(out.contains("\\u{1b}[31mred\\u{202e} text"), "{out}");
    let bad = p2p_chat(&["search", "  ", "--data-dir", dir]);
    assert_eq!(bad.status.code(), Some(2), "an empty query is an error");

    // The conversations and their ids, most recent first, for --conversation.
    let listed = p2p_chat(&["conversations", "--data-dir", dir]);
    assert!(listed.status.success());
    let out = String::from_utf8_lossy(&listed.stdout);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[0].starts_with(&format!("{b_key}  bob  5 messages, last 20")),
        "{out}"
    );
    assert!(
        lines[1].starts_with("everyone  Everyone  1 message, last 20"),
        "{out}"
    );

    // The export: stable JSON, every message oldest first.
    let export = p2p_chat(&["export", "--format", "json", "--data-dir", dir]);
    assert!(
        export.status.success(),
        "{}",
        String::from_utf8_lossy(&export.stderr)
    );
    let doc: Value = serde_json::from_slice(&export.stdout).expect("export is JSON");
    assert_eq!(
        (doc["format"].clone(), doc["version"].clone()),
        (json!("p2p-chat-export"), json!(1))
    );
    let messages = doc["messages"].as_array().unwrap();
    let shown: Vec<(&str, &str, &str)> = messages
        .iter()
        .map(|m| {
            (
                m["conversation"].as_str().unwrap(),
                m["direction"].as_str().unwrap(),
                m["text"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        shown,
        [
            (b_key.as_str(), "in", "meet at the こんにちは世界 café"),
            (b_key.as_str(), "in", "nasty \u{1b}[31mred\u{202e} text"),
            ("everyone", "out", "see you there"),
            (b_key.as_str(), "in", "second draft"),
            (b_key.as_str(), "in", ""),
            (b_key.as_str(), "in", "C:\\new\nline"),
        ]
    );
    assert!(messages[3]["edited_at"].is_u64(), "{}", messages[3]);
    assert_eq!(messages[4]["unsent"], true, "{}", messages[4]);
    for plain in [0, 1, 2, 5] {
        let m = &messages[plain];
        assert!(m["edited_at"].is_null() && m["unsent"].is_null(), "{m}");
    }
    assert_eq!(messages[0]["sender"], b_key.as_str());
    assert_eq!(messages[0]["sender_name"], "bob");
    assert_eq!(messages[2]["sender"], a_key.as_str());
    for field in ["conversation_name", "seq", "id", "sent_at", "received_at"] {
        assert!(!messages[0][field].is_null(), "{field}");
    }
    let timers = doc["timer_changes"].as_array().unwrap();
    assert_eq!(timers.len(), 1, "{timers:?}");
    let timer = &timers[0];
    assert_eq!(
        (
            timer["conversation"].as_str(),
            timer["by"].as_str(),
            timer["by_name"].as_str(),
            timer["seconds"].as_u64(),
            timer["after_seq"].clone(),
        ),
        (
            Some(b_key.as_str()),
            Some(a_key.as_str()),
            Some("alice"),
            Some(3600),
            messages[5]["seq"].clone(),
        ),
        "{timer}"
    );
    let one = p2p_chat(&[
        "export",
        "--conversation",
        "everyone",
        "--format",
        "txt",
        "--data-dir",
        dir,
    ]);
    let txt = String::from_utf8_lossy(&one.stdout);
    assert_eq!(txt.lines().count(), 1, "{txt}");
    assert!(
        txt.contains("UTC  [Everyone]  alice: see you there"),
        "{txt}"
    );
    let with_bob = p2p_chat(&[
        "export",
        "--conversation",
        &b_key,
        "--format",
        "txt",
        "--data-dir",
        dir,
    ]);
    let txt = String::from_utf8_lossy(&with_bob.stdout);
    let lines: Vec<&str> = txt.lines().collect();
    assert_eq!(lines.len(), 6, "{txt}");
    assert!(lines[2].contains("bob: second draft (edited "), "{txt}");
    assert!(lines[3].ends_with("bob: (deleted for everyone)"), "{txt}");
    assert!(lines[4].ends_with("bob: C:\\\\new\\nline"), "{txt}");
    assert!(
        lines[5].ends_with("UTC  [bob]  alice set disappearing messages to 1 hour"),
        "{txt}"
    );
}
