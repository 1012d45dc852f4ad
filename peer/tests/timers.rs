//! Disappearing messages (PROTOCOL.md §5 `timer`, §8.8) between real processes: a timer set by
//! one side is shown on both, later messages vanish on both (also on a peer that was stopped
//! meanwhile: the sweep at start), earlier ones stay, a setting made while the other side was
//! offline reaches it once, any room member may set a room's timer, and a stranger's timer is
//! ignored. `--timer-unit-ms 10` makes "5 minutes" 3 seconds.

mod common;
mod store_common;

use std::time::{Duration, Instant};

use common::{Peer, SnowClient, Three, Ui};
use serde_json::{json, Value};
use store_common::{full_history, start_in, tempdir};

/// One timer second lasts 10 ms: 300 s ("5 minutes") is 3 s.
const UNIT: &[&str] = &["--timer-unit-ms", "10"];
/// "5 minutes" under [`UNIT`].
const FIVE_MIN: Duration = Duration::from_millis(3000);

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

async fn set_timer(ui: &mut Ui, conversation: &str, seconds: u64) -> Value {
    ui.send(json!({"action": "set_timer", "conversation": conversation, "seconds": seconds}))
        .await;
    ui.wait_for("our timer", |e| {
        assert_ne!(e["type"], "error", "set_timer failed: {e}");
        e["type"] == "timer" && e["conversation"] == conversation && e["seconds"] == seconds
    })
    .await
}

async fn timer_seen(ui: &mut Ui, conversation: &str, seconds: u64, by: &str) -> Value {
    let event = ui
        .wait_for("their timer", |e| {
            e["type"] == "timer" && e["conversation"] == conversation
        })
        .await;
    assert_eq!(
        (event["seconds"].as_u64(), event["by"].as_str()),
        (Some(seconds), Some(by)),
        "{event}"
    );
    event
}

async fn expired(ui: &mut Ui, conversation: &str, id: &str) -> Value {
    ui.wait_for("message_deleted (expired)", |e| {
        e["type"] == "message_deleted" && e["id"] == id && e["conversation"] == conversation
    })
    .await
}

/// The newest `history` page of `conversation` (with its `timer`).
async fn history(ui: &mut Ui, conversation: &str) -> Value {
    ui.send(json!({"action": "load_history", "conversation": conversation}))
        .await;
    ui.wait_for("history", |e| {
        e["type"] == "history" && e["conversation"] == conversation
    })
    .await
}

fn chat_texts(page: &Value) -> Vec<String> {
    page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["kind"] == "chat")
        .map(|m| m["text"].as_str().unwrap().to_owned())
        .collect()
}

fn timer_lines(page: &Value) -> Vec<(u64, String)> {
    page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["kind"] == "timer")
        .map(|m| {
            (
                m["seconds"].as_u64().unwrap(),
                m["by"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn contact_timer(ui: &mut Ui, peer_id: &str) -> u64 {
    ui.send(json!({"action": "list_contacts"})).await;
    let listing = ui.wait_type("contacts").await;
    let entry = listing["contacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["peer_id"] == peer_id)
        .unwrap_or_else(|| panic!("{peer_id} not listed: {listing}"))
        .clone();
    entry["timer"].as_u64().expect("timer in contacts")
}

#[tokio::test]
async fn a_timer_is_shown_on_both_sides_and_later_messages_vanish_on_both() {
    let a = Peer::start_with("alice", UNIT);
    let b = Peer::start_with("bob", UNIT);
    let (ak, bk) = (a.public_key.clone(), b.public_key.clone());
    let mut ua = a.ui().await;
    let mut ub = b.ui().await;
    ua.connect_peer(b.p2p_port, &bk).await;
    ub.wait_type("peer_connected").await;
    ub.accept_request(&ak).await;

    ua.say("said before the timer", Some(&bk)).await;
    ub.hear("said before the timer").await;

    let ours = set_timer(&mut ua, &bk, 300).await;
    assert_eq!(ours["by"], "me");
    timer_seen(&mut ub, &ak, 300, &ak).await;
    // A reloaded page finds the setting in history and in the contact listing, and the line.
    for (ui, conv, by) in [(&mut ua, &bk, "me"), (&mut ub, &ak, ak.as_str())] {
        let page = history(ui, conv).await;
        assert_eq!(page["timer"], 300, "{page}");
        assert_eq!(timer_lines(&page), [(300, by.to_owned())]);
        let other = if conv == &bk { &bk } else { &ak };
        assert_eq!(contact_timer(ui, other).await, 300);
    }
    // Setting the value it already has changes nothing.
    ua.send(json!({"action": "set_timer", "conversation": bk, "seconds": 300}))
        .await;

    let sent_at = Instant::now();
    let sent = ua.say("this one disappears", Some(&bk)).await;
    let id = sent["id"].as_str().unwrap().to_owned();
    ub.hear("this one disappears").await;
    let on_b = expired(&mut ub, &ak, &id).await;
    assert_eq!(
        (on_b["from"].as_str(), on_b["reason"].as_str()),
        (Some(ak.as_str()), Some("expired"))
    );
    let on_a = expired(&mut ua, &bk, &id).await;
    assert_eq!(
        (on_a["from"].as_str(), on_a["reason"].as_str()),
        (Some("me"), Some("expired"))
    );
    let waited = sent_at.elapsed();
    assert!(
        waited >= FIVE_MIN - Duration::from_millis(300),
        "deleted after {waited:?}, before its 5 (test) minutes"
    );
    for (ui, conv) in [(&mut ua, &bk), (&mut ub, &ak)] {
        let page = history(ui, conv).await;
        assert_eq!(chat_texts(&page), ["said before the timer"], "{page}");
        // Still one line: the repeated setting added none.
        assert_eq!(timer_lines(&page).len(), 1);
    }

    // Bob turns it off: Alice's next message stays.
    set_timer(&mut ub, &ak, 0).await;
    timer_seen(&mut ua, &bk, 0, &bk).await;
    ua.say("kept again", Some(&bk)).await;
    ub.hear("kept again").await;
    tokio::time::sleep(FIVE_MIN + Duration::from_millis(500)).await;
    for (ui, conv) in [(&mut ua, &bk), (&mut ub, &ak)] {
        let page = history(ui, conv).await;
        assert_eq!(chat_texts(&page), ["said before the timer", "kept again"]);
        assert_eq!(page["timer"], 0);
        assert_eq!(timer_lines(&page).len(), 2);
    }
    // What the page may not ask for.
    for (conversation, seconds) in [(bk.as_str(), 61), ("everyone", 300)] {
        ua.send(json!({"action": "set_timer", "conversation": conversation, "seconds": seconds, "req": "t"}))
            .await;
        let err = ua.wait_type("error").await;
        assert_eq!(
            (err["action"].as_str(), err["req"].as_str()),
            (Some("set_timer"), Some("t"))
        );
    }
}

#[tokio::test]
async fn a_message_that_expired_while_its_peer_was_stopped_is_swept_at_start_and_an_offline_change_arrives_once(
) {
    let (da, db) = (tempdir(), tempdir());
    let a = start_in("alice", da.path(), 0, UNIT);
    let mut b = start_in("bob", db.path(), 0, UNIT);
    let (ak, bk) = (a.public_key.clone(), b.public_key.clone());
    let b_port = b.p2p_port;
    let mut ua = a.ui().await;
    let mut ub = b.ui().await;
    ua.connect_peer(b.p2p_port, &bk).await;
    ub.wait_type("peer_connected").await;
    ub.accept_request(&ak).await;

    set_timer(&mut ua, &bk, 300).await;
    timer_seen(&mut ub, &ak, 300, &ak).await;
    let sent = ua.say("gone while bob sleeps", Some(&bk)).await;
    let id = sent["id"].as_str().unwrap().to_owned();
    ub.hear("gone while bob sleeps").await;
    drop(ub);
    assert!(b.terminate().success());

    // Expires on Alice's side while Bob is stopped; meanwhile she changes the timer.
    expired(&mut ua, &bk, &id).await;
    set_timer(&mut ua, &bk, 3600).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let b = start_in("bob", db.path(), b_port, UNIT);
    b.wait_for_log("1 disappearing message(s) expired").await;
    let mut ub = b.ui().await;
    // Alice redials Bob, owed the setting: it arrives once. Bob's own redial at start can
    // deliver it before this page connects, so the stored setting is what is awaited.
    let deadline = Instant::now() + Duration::from_secs(15);
    while history(&mut ub, &ak).await["timer"] != 3600 {
        assert!(Instant::now() < deadline, "the owed setting never arrived");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let page = full_history(&mut ub, &ak).await;
    assert!(
        page.iter().all(|m| m["text"] != "gone while bob sleeps"),
        "{page:?}"
    );
    let page = history(&mut ub, &ak).await;
    assert_eq!(page["timer"], 3600);
    assert_eq!(
        timer_lines(&page),
        [(300, ak.clone()), (3600, ak.clone())],
        "each setting shown once"
    );
    // Acknowledged: a new session does not deliver it again.
    ub.send(json!({"action": "disconnect_peer", "peer_id": ak}))
        .await;
    ua.wait_type("peer_disconnected").await;
    ua.connect_peer(b_port, &bk).await;
    ua.say("after reconnecting", Some(&bk)).await;
    ub.hear("after reconnecting").await;
    let page = history(&mut ub, &ak).await;
    assert_eq!(timer_lines(&page).len(), 2, "{page}");
}

#[tokio::test]
async fn any_member_sets_a_room_timer_and_room_messages_vanish_for_everyone() {
    let a = Peer::start_with("alice", UNIT);
    let b = Peer::start_with("bob", UNIT);
    let c = Peer::start_with("carol", UNIT);
    let mut t = Three {
        ua: a.ui().await,
        ub: b.ui().await,
        uc: c.ui().await,
        a,
        b,
        c,
    };
    let (ak, bk, ck) = (
        t.a.public_key.clone(),
        t.b.public_key.clone(),
        t.c.public_key.clone(),
    );
    t.ua.connect_peer(t.b.p2p_port, &bk).await;
    t.ua.connect_peer(t.c.p2p_port, &ck).await;
    t.ub.connect_peer(t.c.p2p_port, &ck).await;
    t.ub.accept_request(&ak).await;
    t.uc.accept_request(&ak).await;
    t.uc.accept_request(&bk).await;
    t.ua.send(json!({"action": "create_room", "name": "brief", "members": [bk, ck]}))
        .await;
    let room = t.ua.wait_type("room").await;
    let rid = room["id"].as_str().unwrap().to_owned();
    assert_eq!(room["timer"], 0);
    t.ub.wait_for("room on B", |e| {
        e["type"] == "room" && e["id"] == rid.as_str()
    })
    .await;
    t.uc.wait_for("room on C", |e| {
        e["type"] == "room" && e["id"] == rid.as_str()
    })
    .await;

    // Bob is not the creator.
    set_timer(&mut t.ub, &rid, 300).await;
    timer_seen(&mut t.ua, &rid, 300, &bk).await;
    timer_seen(&mut t.uc, &rid, 300, &bk).await;
    let sent = t.uc.say("room secret", Some(&rid)).await;
    let id = sent["id"].as_str().unwrap().to_owned();
    t.ua.hear("room secret").await;
    t.ub.hear("room secret").await;
    for ui in [&mut t.ua, &mut t.ub, &mut t.uc] {
        expired(ui, &rid, &id).await;
    }
    for ui in [&mut t.ua, &mut t.ub, &mut t.uc] {
        let page = history(ui, &rid).await;
        assert!(chat_texts(&page).is_empty(), "{page}");
        assert_eq!(page["timer"], 300);
    }
}

#[tokio::test]
async fn a_strangers_timer_is_ignored_and_not_acknowledged() {
    let a = Peer::start_with("alice", UNIT);
    let mut ua = a.ui().await;
    let mut snow = SnowClient::connect(a.p2p_port, json!({"name": "mallory"})).await;
    let mk = snow.public_key.clone();
    ua.wait_for("request", |e| {
        e["type"] == "request" && e["peer_id"] == mk.as_str()
    })
    .await;
    snow.send_payload(
        &json!({"kind": "timer", "id": "t-stranger", "seconds": 300, "set_at": now_ms()}),
    )
    .await;
    let chat = snow.chat("hello from a stranger").await;
    // The chat after it is stored and shown; the timer before it did nothing.
    let heard = ua
        .wait_for("the stranger's chat", |e| {
            assert_ne!(e["type"], "timer", "a stranger set a timer: {e}");
            e["type"] == "peer_message" && e["text"] == "hello from a stranger"
        })
        .await;
    assert_eq!(heard["conversation"], format!("request:{mk}"));
    let ack = snow.recv_payload().await;
    assert_eq!(
        (ack["kind"].as_str(), ack["id"].as_str()),
        (Some("ack"), Some(chat.as_str()))
    );
    ua.accept_request(&mk).await;
    let page = history(&mut ua, &mk).await;
    assert_eq!(page["timer"], 0, "{page}");
    assert!(timer_lines(&page).is_empty());
    assert_eq!(chat_texts(&page), ["hello from a stranger"]);
    // Nothing else came back: no ack for the timer.
    let more = tokio::time::timeout(Duration::from_millis(500), snow.recv_payload()).await;
    assert!(more.is_err(), "unexpected payload {:?}", more.ok());
}

#[tokio::test]
async fn an_export_of_a_stopped_peer_leaves_out_and_scrubs_what_expired() {
    let da = tempdir();
    let mut a = start_in("alice", da.path(), 0, UNIT);
    let b = Peer::start_with("bob", UNIT);
    let (ak, bk) = (a.public_key.clone(), b.public_key.clone());
    let mut ua = a.ui().await;
    let mut ub = b.ui().await;
    ua.connect_peer(b.p2p_port, &bk).await;
    ub.wait_type("peer_connected").await;
    ub.accept_request(&ak).await;
    ua.say("kept from before", Some(&bk)).await;
    set_timer(&mut ua, &bk, 300).await;
    timer_seen(&mut ub, &ak, 300, &ak).await;
    let word = format!("vanishingword{}", rand::random::<u32>());
    let sent_at = Instant::now();
    ua.say(&word, Some(&bk)).await;
    ub.hear(&word).await;
    drop(ua);
    assert!(a.terminate().success());
    assert!(sent_at.elapsed() < FIVE_MIN, "stopped before it expired");
    tokio::time::sleep(FIVE_MIN.saturating_sub(sent_at.elapsed()) + Duration::from_millis(300))
        .await;

    let export = std::process::Command::new(common::BIN)
        .args(["export", "--format", "txt", "--data-dir"])
        .arg(da.path())
        .output()
        .expect("run export");
    assert!(
        export.status.success(),
        "{}",
        String::from_utf8_lossy(&export.stderr)
    );
    let text = String::from_utf8_lossy(&export.stdout);
    assert!(text.contains("kept from before"), "{text}");
    assert!(!text.contains(&word), "{text}");
    // Deleted the way a local delete is: gone from every byte of the data directory.
    for entry in std::fs::read_dir(da.path()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap_or_default();
        assert!(
            !bytes.windows(word.len()).any(|w| w == word.as_bytes()),
            "the expired text is still in the data directory"
        );
    }
}
