//! An outside review of the trust model and the admission limits (PROTOCOL.md §3, §5, §8.2–§8.4,
//! §9; SECURITY.md). Real `p2p-chat` processes over loopback, attacked with raw PROTOCOL.md
//! endpoints built on crypto-core (`attack_helpers`). Each test names the attack and asserts
//! what the protocol promises. Each failed against the code before its fix.

mod attack_helpers;
mod common;

use attack_helpers::{connect_from, core_initiate, hello, loopback, try_core_initiate};
use common::{expect_closed, Peer, EVENT_TIMEOUT};
use crypto_core::Identity;
use serde_json::{json, Value};

/// Waits for the `request` event of `key`.
async fn expect_request(ui: &mut common::Ui, key: &str) -> Value {
    ui.wait_for("request", |e| e["type"] == "request" && e["peer_id"] == key)
        .await
}

/// PROTOCOL.md §8.2: a stranger's session is a message request until the user accepts it; it
/// never receives a message sent to "everyone" and its chats are shown only as
/// `request:<peer_id>` (bounded there). A second handshake from the same stranger key, while
/// its first session is live, is refused by the duplicate rule (§7: both inbound, the older is
/// kept) — and that refusal must not change what the first session is.
#[tokio::test]
async fn a_strangers_refused_second_handshake_turns_its_live_request_into_a_contacts_session() {
    let a = Peer::start("alice");
    let mut ua = a.ui().await;
    let mallory = Identity::generate();
    let key = mallory.public_key().to_base64();
    let mut first = core_initiate(
        connect_from(loopback(1), a.p2p_port).await,
        &mallory,
        &hello("mallory", 0),
    )
    .await;
    expect_request(&mut ua, &key).await;
    // Control: while it is a request, a broadcast goes to no one.
    let sent = ua.broadcast_recipients("before the second handshake").await;
    assert_eq!(sent, json!([]));

    // The same key completes a second handshake; the duplicate rule keeps the first session
    // and closes this one.
    let mut second = try_core_initiate(
        connect_from(loopback(1), a.p2p_port).await,
        &mallory,
        &hello("mallory", 0),
    )
    .await
    .expect("the second handshake is answered");
    expect_closed(&mut second.reader, EVENT_TIMEOUT).await;
    a.wait_for_log("duplicate session").await;

    // Expected: the first session is still a message request. Every broken promise is
    // collected, so the failure says all of what the stranger got.
    let mut broken = Vec::new();
    let sent = ua.broadcast_recipients("for contacts only").await;
    if sent != json!([]) {
        broken.push(format!("it received a message sent to everyone: {sent}"));
    }
    first.chat("hello from a stranger", None).await;
    let heard = ua.hear("hello from a stranger").await;
    if heard["conversation"] != format!("request:{key}") {
        broken.push(format!("its chat was shown outside its request: {heard}"));
    }
    assert!(broken.is_empty(), "a stranger's live session: {broken:#?}");
}

/// PROTOCOL.md §8.3, SECURITY.md §1 ("a stranger posing as a contact"): a stranger whose name
/// looks like a contact's is flagged next to its fingerprint. The skeleton folds case *before*
/// the UTS #39 mapping and never after it, so every look-alike whose confusables.txt prototype
/// is an upper-case letter, or that is an upper-case letter whose lower case maps elsewhere,
/// slips through: capital I for l ("AIice"), Greek capital Beta for B ("Βob", folded to β,
/// whose prototype is ß), Cyrillic capital Ve ("Вob", folded to в, prototype ʙ), Cyrillic
/// capital soft signs ("ЬоЬ", folded to ь, prototype ƅ), digit zero for o ("b0b", prototype O).
/// Each of these has the contact's name as its UTS #39 skeleton before folding.
#[tokio::test]
async fn look_alikes_through_capital_letters_and_digits_are_flagged_as_confusable() {
    let alice = Peer::start("Alice");
    let bob = Peer::start("Bob");
    let me = Peer::start("me");
    let mut ui = me.ui().await;
    ui.connect_peer(alice.p2p_port, &alice.public_key).await;
    ui.connect_peer(bob.p2p_port, &bob.public_key).await;
    let cases = [
        ("AIice", &alice.public_key),               // capital I (U+0049) for l
        ("\u{392}ob", &bob.public_key),             // Greek capital Beta for B
        ("b0b", &bob.public_key),                   // digit zero for o
        ("A\u{406}ice", &alice.public_key),         // Cyrillic capital І (U+0406) for l
        ("\u{412}ob", &bob.public_key),             // Cyrillic capital Ve for B
        ("\u{42c}\u{43e}\u{42c}", &bob.public_key), // Cyrillic capital soft signs: "ЬоЬ"
    ];
    let mut held = Vec::new();
    let mut missed = Vec::new();
    for (i, (name, imitated)) in cases.iter().enumerate() {
        let id = Identity::generate();
        let key = id.public_key().to_base64();
        let conn = core_initiate(
            connect_from(loopback(30 + i as u8), me.p2p_port).await,
            &id,
            &hello(name, 0),
        )
        .await;
        let request = expect_request(&mut ui, &key).await;
        if request["confusable_with"] != json!([imitated]) {
            missed.push(format!("{name:?} -> {}", request["confusable_with"]));
        }
        held.push(conn);
    }
    assert!(missed.is_empty(), "look-alikes not flagged: {missed:#?}");
}

/// Loopback counted like any other address, with a bucket too large to matter (as in
/// `attacks_admission.rs`), and one stranger session per address.
const ONE_STRANGER_PER_ADDRESS: [&str; 9] = [
    "--rate-limit-loopback",
    "--handshake-rate",
    "10000",
    "--handshake-burst",
    "100000",
    "--handshake-timeout-ms",
    "60000",
    "--max-stranger-sessions-per-ip",
    "1",
];

/// PROTOCOL.md §9.1: a stranger's handshake completing beyond its address's share is closed
/// ("too many sessions from this address"); §8.2: at most 1,000 requests, the least recently
/// seen evicted. A handshake the cap refuses must not count as a request — else one address,
/// while held to one session, still churns the whole request table with fresh keys and
/// pushes out every honest request (and its messages) from everywhere else.
#[tokio::test]
async fn handshakes_refused_by_the_stranger_cap_record_no_request_and_evict_no_one() {
    let b = Peer::start_with("bob", &ONE_STRANGER_PER_ADDRESS);
    let mut ub = b.ui().await;
    // An honest stranger from another address leaves a message and goes.
    let honest = Identity::generate();
    let honest_key = honest.public_key().to_base64();
    let mut conn = core_initiate(
        connect_from(loopback(2), b.p2p_port).await,
        &honest,
        &hello("honest", 0),
    )
    .await;
    expect_request(&mut ub, &honest_key).await;
    conn.chat("please accept me", None).await;
    ub.hear("please accept me").await;
    drop(conn);

    // One address holds its one stranger session, then completes 1,000 more handshakes with
    // fresh keys; the cap closes each of them.
    let _held = core_initiate(
        connect_from(loopback(3), b.p2p_port).await,
        &Identity::generate(),
        &hello("held", 0),
    )
    .await;
    for i in 0..1000 {
        let stream = connect_from(loopback(3), b.p2p_port).await;
        let name = format!("churn {i}");
        if let Some(mut refused) =
            try_core_initiate(stream, &Identity::generate(), &hello(&name, 0)).await
        {
            expect_closed(&mut refused.reader, EVENT_TIMEOUT).await;
        }
    }
    ub.send(json!({"action": "list_requests"})).await;
    let listed = ub.wait_type("requests").await;
    let requests = listed["requests"].as_array().expect("requests");
    let honest_kept = requests.iter().any(|r| r["peer_id"] == honest_key.as_str());
    assert!(
        honest_kept && requests.len() <= 2,
        "after 1,000 refused handshakes from one address: {} requests, honest one kept: \
         {honest_kept}",
        requests.len()
    );
}

/// PROTOCOL.md §8.3: "When a key that is not a contact connects … its name is compared with
/// every contact's name" and `peer_connected.confusable_with` lists the look-alikes. A key
/// that answers our own dial to a typed address (`connect_peer` without `peer_id`) becomes a
/// contact at once (§8.2) — so that is exactly where a look-alike must be flagged: it would
/// otherwise sit in the contact list as a second, unflagged "bob" (for instance at an address
/// the user was told was Bob's).
#[tokio::test]
async fn a_look_alike_answering_a_typed_address_is_flagged_when_it_becomes_a_contact() {
    let bob = Peer::start("bob");
    let a = Peer::start("alice");
    let mut ua = a.ui().await;
    ua.connect_peer(bob.p2p_port, &bob.public_key).await;
    let (listener, port) = attack_helpers::listener().await;
    let impostor = Identity::generate();
    let impostor_key = impostor.public_key().to_base64();
    let answer = tokio::spawn(async move {
        attack_helpers::core_respond(&listener, &impostor, &hello("b\u{43e}b", port)).await
    });
    let seen = ua.connect_peer(port, &impostor_key).await;
    let _held = answer.await.expect("impostor");
    assert_eq!(seen["contact"], true, "{seen}");
    assert_eq!(
        seen["confusable_with"],
        json!([bob.public_key]),
        "a look-alike of bob became a contact without a flag: {seen}"
    );
}

/// PROTOCOL.md §8.1/§8.3: accepting a key change makes the new key the contact ("the new key
/// becomes the contact … what was queued for the old key moves to it"); the old contact is
/// kept only as replaced. The old key is then no one's contact any more — the usual reason
/// for a new key is a lost or stolen device — so when it connects it must be a stranger (a
/// message request), not a contact's session that gets what is sent to "everyone". The peer
/// goes further and refuses it like a blocked key (SECURITY.md): closed after message 3.
#[tokio::test]
async fn the_old_key_of_an_accepted_key_change_is_not_a_contact_any_more() {
    let a = Peer::start_with("alice", &["--redial-base-ms", "100"]);
    let mut ua = a.ui().await;
    let (listener, port) = attack_helpers::listener().await;
    let old = Identity::generate();
    let old_key = old.public_key().to_base64();
    let old_secret = *old.secret_bytes();
    // Bob's old key answers A's dial at `port` (claiming it as its listen port).
    let answered = tokio::spawn(async move {
        let conn = attack_helpers::core_respond(&listener, &old, &hello("bob", port)).await;
        (listener, conn)
    });
    ua.connect_peer(port, &old_key).await;
    let (listener, conn) = answered.await.expect("old bob");
    drop(conn);
    ua.wait_for("bob gone", |e| {
        e["type"] == "peer_disconnected" && e["peer_id"] == old_key.as_str()
    })
    .await;
    // A owes the old key a message, redials its address and meets a new key there.
    ua.say("for bob", Some(&old_key)).await;
    let new = Identity::generate();
    let new_hello = hello("bob", port);
    let _impostor = tokio::spawn(async move {
        attack_helpers::answer_and_wait_for_message_3(&listener, &new, &new_hello).await;
        // The listener stays bound (the dial that follows the acceptance is left unanswered).
        tokio::time::sleep(EVENT_TIMEOUT).await;
    });
    let change = ua.wait_type("key_changed").await;
    ua.send(json!({"action": "accept_key_change", "change_id": change["change_id"]}))
        .await;
    ua.wait_type("contacts").await;

    // Now the old key connects to A: closed before any payload, never a session.
    let mut old_session = core_initiate(
        connect_from(loopback(5), a.p2p_port).await,
        &Identity::from_secret_bytes(old_secret),
        &hello("bob", 0),
    )
    .await;
    assert!(
        old_session.recv().await.is_none(),
        "the replaced key got a payload"
    );
    let sent = ua.broadcast_recipients("to my contacts").await;
    ua.send(json!({"action": "list_contacts"})).await;
    let peers = ua.wait_type("contacts").await;
    assert_eq!(sent, json!([]), "the replaced key got a broadcast: {sent}");
    assert!(
        peers["contacts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["peer_id"] != old_key.as_str() || c["online"] == false),
        "the replaced key is online as a contact: {peers}"
    );
}

/// PROTOCOL.md §9.1: the per-IP token bucket "refuses connections over the rate" — from
/// *that* address. The limiter tracks at most 4,096 addresses and, when every tracked bucket
/// is still below its burst, refuses every address it does not track yet ("refuse newcomers
/// rather than grow"). So 4,096 addresses that each connect just often enough to keep their
/// own bucket from refilling lock every new address out, before the fair pending table is
/// ever reached. Here the rate is 1 per 100 s, so one connection per address suffices; at the
/// defaults (20/s, burst 50) the same needs each address to keep up 20 connections per
/// second — 4,096 addresses are a /52 of IPv6, which the limiter counts per /64.
#[tokio::test]
async fn four_thousand_throttled_addresses_do_not_lock_a_new_address_out() {
    let b = Peer::start_with(
        "bob",
        &[
            "--rate-limit-loopback",
            "--handshake-rate",
            "0.01",
            "--handshake-burst",
            "1",
        ],
    );
    let mut ub = b.ui().await;
    // One connection from each of 4,096 addresses (127.1.x.y), closed at once: each address
    // has spent its bucket, which refills only after 100 s.
    for i in 0..4096u32 {
        let from = std::net::IpAddr::from([127, 1, (i >> 8) as u8, (i & 0xff) as u8]);
        drop(connect_from(from, b.p2p_port).await);
    }
    // An honest newcomer from an address never seen before.
    let honest = Identity::generate();
    let key = honest.public_key().to_base64();
    let conn = try_core_initiate(
        connect_from(loopback(2), b.p2p_port).await,
        &honest,
        &hello("honest", 0),
    )
    .await;
    assert!(
        conn.is_some(),
        "a new address was refused before its handshake: {:?}",
        b.log()
            .lines()
            .filter(|l| l.contains("addr=127.0.0.2:"))
            .collect::<Vec<_>>()
    );
    expect_request(&mut ub, &key).await;
}

/// PROTOCOL.md §5 (`name`): a contact's new name is checked "for confusable names like a new
/// contact's" (`peer_renamed.confusable_with`). A contact's hello also renames it (§5: later
/// hellos carry the new name; the store takes the hello's name on every handshake), so a
/// hostile contact that reconnects with a look-alike of another contact's name must be
/// flagged the same way — else the `name` payload's check is bypassed by reconnecting.
#[tokio::test]
async fn a_contact_renamed_by_its_hello_to_a_look_alike_is_flagged() {
    let bob = Peer::start("bob");
    let a = Peer::start("alice");
    let mut ua = a.ui().await;
    ua.connect_peer(bob.p2p_port, &bob.public_key).await;
    let mallory = Identity::generate();
    let key = mallory.public_key().to_base64();
    let first = core_initiate(
        connect_from(loopback(7), a.p2p_port).await,
        &mallory,
        &hello("mallory", 0),
    )
    .await;
    expect_request(&mut ua, &key).await;
    ua.accept_request(&key).await;
    drop(first);
    ua.wait_for("mallory gone", |e| {
        e["type"] == "peer_disconnected" && e["peer_id"] == key.as_str()
    })
    .await;
    // Mallory, a contact now, comes back calling itself "bоb" (Cyrillic о).
    let _second = core_initiate(
        connect_from(loopback(7), a.p2p_port).await,
        &mallory,
        &hello("b\u{43e}b", 0),
    )
    .await;
    let mut flagged = false;
    let seen = loop {
        let e = ua.next().await;
        if e["type"] == "peer_renamed" && e["peer_id"] == key.as_str() {
            flagged |= e["confusable_with"] == json!([bob.public_key]);
        }
        if e["type"] == "peer_connected" && e["peer_id"] == key.as_str() {
            break e;
        }
    };
    flagged |= seen["confusable_with"] == json!([bob.public_key]);
    ua.send(json!({"action": "list_contacts"})).await;
    let contacts = ua.wait_type("contacts").await;
    let renamed = contacts["contacts"]
        .as_array()
        .and_then(|l| l.iter().find(|c| c["peer_id"] == key.as_str()))
        .map(|c| c["name"].clone());
    assert!(
        flagged || renamed != Some(json!("b\u{43e}b")),
        "a contact now shown as {renamed:?} next to bob, unflagged: {seen}"
    );
}

/// The peer's store thread (`peer/src/persist.rs`).
const STORE_THREAD: &str = "p2p-chat-store";

/// A data directory whose database already holds `n` contacts ("contact number i", keys that
/// are no one's), written straight into the peer's SQLite file before it starts.
fn data_dir_with_contacts(n: u32) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("p2p-chat.db");
    drop(peer::store::Store::open(&db).expect("create the database"));
    let mut conn = rusqlite::Connection::open(&db).expect("open");
    let tx = conn.transaction().expect("transaction");
    for i in 0..n {
        let mut bytes = [7u8; 32];
        bytes[..4].copy_from_slice(&i.to_be_bytes());
        let key = crypto_core::PublicKey::from_bytes(bytes).to_base64();
        tx.execute(
            "INSERT INTO contacts (public_key, name, first_seen, last_seen) VALUES (?1, ?2, 1, 1)",
            rusqlite::params![key, format!("contact number {i}")],
        )
        .expect("insert");
    }
    tx.commit().expect("commit");
    dir
}

/// Loopback arguments for a peer named `name` keeping its state in `dir`.
fn data_dir_args(dir: &tempfile::TempDir, name: &str) -> Vec<String> {
    let mut args = common::loopback_args(0);
    args.extend(
        [
            "--data-dir",
            dir.path().to_str().expect("path"),
            "--name",
            name,
        ]
        .map(String::from),
    );
    args
}

/// SECURITY.md §5 sizes the peer for "up to 10,000 peers", and every store job waits on one
/// thread. The confusable check of PROTOCOL.md §8.3 runs on that thread for every stranger's
/// handshake, and for every request of every `requests` listing (each UI greeting): each
/// time it reads every contact and recomputes every contact's skeleton. So a stranger's
/// handshake — a few X25519 operations for the attacker — costs the store thread time in
/// proportion to the contact list, and 1,000 requests make every UI greeting compute
/// 10,000,000 skeletons. Expected: the contacts' skeletons are kept (they change only when a
/// name does), so one check is one skeleton and a lookup.
#[tokio::test]
async fn a_strangers_handshake_costs_the_store_little_however_many_contacts_we_have() {
    let dir = data_dir_with_contacts(10_000);
    let args = data_dir_args(&dir, "bob");
    let b = Peer::start_args(&args);
    let pid = b.child.id();
    let mut ub = b.ui().await;
    ub.wait_type("requests").await;
    // The first check builds the index of the contacts' skeletons once (what a scan used to
    // cost every time); the measured handshakes come after it.
    let warm = Identity::generate();
    let warm_key = warm.public_key().to_base64();
    let warm_conn = core_initiate(
        connect_from(loopback(40), b.p2p_port).await,
        &warm,
        &hello("warm-up", 0),
    )
    .await;
    expect_request(&mut ub, &warm_key).await;
    drop(warm_conn);
    let strangers = 20;
    let before = attack_helpers::threads_cpu_ms(pid, STORE_THREAD);
    for i in 0..strangers {
        let id = Identity::generate();
        let key = id.public_key().to_base64();
        let conn = core_initiate(
            connect_from(loopback(40), b.p2p_port).await,
            &id,
            &hello(&format!("stranger {i}"), 0),
        )
        .await;
        expect_request(&mut ub, &key).await;
        drop(conn);
    }
    let spent = attack_helpers::threads_cpu_ms(pid, STORE_THREAD) - before;
    // What a greeting costs now (printed for the report; not the assertion).
    let started = std::time::Instant::now();
    let mut fresh = b.ui().await;
    fresh.wait_type("requests").await;
    println!(
        "{strangers} strangers' handshakes: {spent} ms of store-thread CPU with 10,000 contacts; \
         a UI greeting listing {strangers} requests took {:?}",
        started.elapsed()
    );
    assert!(
        spent <= strangers * 5,
        "{strangers} strangers' handshakes cost the store thread {spent} ms with 10,000 contacts"
    );
}

/// SECURITY.md §5: strangers' sessions are capped per address, "contacts are not counted" and
/// are "limited only by `--max-sessions`". But strangers count against `--max-sessions` too,
/// with no share kept for contacts: enough addresses, each parking its share of stranger
/// sessions (a chat every few minutes keeps a request from idling out), fill the session
/// table, and then no contact can connect to us nor we to it. Scaled down here: 10 sessions,
/// 2 strangers per address, 5 addresses. At the defaults: 10,000 / 32 = 313 IPv4 addresses,
/// or one IPv6 /55. Expected: a contact still gets a session (strangers have a share of the
/// table of their own, or a contact's handshake displaces a stranger's session).
#[tokio::test]
async fn strangers_filling_the_session_table_do_not_lock_contacts_out() {
    let alice = Peer::start("alice");
    let b = Peer::start_with(
        "bob",
        &[
            "--rate-limit-loopback",
            "--handshake-rate",
            "10000",
            "--handshake-burst",
            "100000",
            "--max-stranger-sessions-per-ip",
            "2",
            "--max-sessions",
            "10",
        ],
    );
    let mut ub = b.ui().await;
    let mut parked = Vec::new();
    for address in 0..5u8 {
        for n in 0..2 {
            let id = Identity::generate();
            let key = id.public_key().to_base64();
            let conn = core_initiate(
                connect_from(loopback(50 + address), b.p2p_port).await,
                &id,
                &hello(&format!("parked {address}.{n}"), 0),
            )
            .await;
            expect_request(&mut ub, &key).await;
            parked.push(conn);
        }
    }
    // Bob dials Alice, a contact from now on.
    ub.send(json!({"action": "connect_peer", "ip": "127.0.0.1", "port": alice.p2p_port}))
        .await;
    let outcome = ub
        .wait_for("the dial's outcome", |e| {
            e["type"] == "error"
                || (e["type"] == "peer_connected" && e["peer_id"] == alice.public_key.as_str())
        })
        .await;
    assert_eq!(
        outcome["type"], "peer_connected",
        "10 parked strangers kept a contact out: {outcome}"
    );
    drop(parked);
}

/// PROTOCOL.md §8.3: "Repeats of the same (C, K) are one record." Nothing bounds the records
/// for one contact C with *different* keys: whoever holds C's old address answers every redial
/// with a fresh key, and each is a new `key_changed` (kept until resolved, re-sent in every UI
/// greeting, one row each in `key_changes`). Expected: one pending change per contact (a
/// further key answering there updates it, or is a failed dial while one is pending).
#[tokio::test]
async fn fresh_keys_at_a_contacts_address_raise_at_most_one_pending_key_change() {
    let a = Peer::start_with("alice", &["--redial-base-ms", "50"]);
    let mut ua = a.ui().await;
    let (listener, port) = attack_helpers::listener().await;
    let bob = Identity::generate();
    let bob_key = bob.public_key().to_base64();
    let answered = tokio::spawn(async move {
        let conn = attack_helpers::core_respond(&listener, &bob, &hello("bob", port)).await;
        (listener, conn)
    });
    ua.connect_peer(port, &bob_key).await;
    let (listener, conn) = answered.await.expect("bob");
    drop(conn);
    ua.wait_for("bob gone", |e| {
        e["type"] == "peer_disconnected" && e["peer_id"] == bob_key.as_str()
    })
    .await;
    ua.say("for bob", Some(&bob_key)).await;
    // Every redial to Bob's address meets a new key.
    let impostors = tokio::spawn(async move {
        for _ in 0..6 {
            let _ = attack_helpers::answer_and_wait_for_message_3(
                &listener,
                &Identity::generate(),
                &hello("bob", port),
            )
            .await;
        }
    });
    let mut changes = std::collections::HashSet::new();
    let deadline = tokio::time::Instant::now() + EVENT_TIMEOUT;
    while changes.len() < 6 && tokio::time::Instant::now() < deadline {
        if let Ok(e) = tokio::time::timeout(std::time::Duration::from_secs(5), ua.next()).await {
            if e["type"] == "key_changed" {
                changes.insert(e["new_key"].as_str().unwrap_or_default().to_owned());
            }
        } else {
            break;
        }
    }
    impostors.abort();
    assert!(
        changes.len() <= 1,
        "{} pending key changes for one contact",
        changes.len()
    );
}

/// PROTOCOL.md §8.2 (a defence that holds; a regression test, none existed): `block_peer`
/// closes a stranger's session and deletes its request and messages; from then on its
/// handshakes are closed at once and a chat written right behind message 3 is never read.
#[tokio::test]
async fn a_blocked_stranger_is_closed_and_none_of_its_payloads_is_read() {
    let b = Peer::start("bob");
    let mut ub = b.ui().await;
    let mallory = Identity::generate();
    let key = mallory.public_key().to_base64();
    let mut first = core_initiate(
        connect_from(loopback(9), b.p2p_port).await,
        &mallory,
        &hello("mallory", 0),
    )
    .await;
    expect_request(&mut ub, &key).await;
    first.chat("before the block", None).await;
    ub.hear("before the block").await;
    ub.send(json!({"action": "block_peer", "peer_id": key}))
        .await;
    ub.wait_for("blocked", |e| {
        e["type"] == "blocked" && e["peer_id"] == key.as_str()
    })
    .await;
    expect_closed(&mut first.reader, EVENT_TIMEOUT).await;
    // Back with the same key, a chat written at once behind message 3.
    let mut again = core_initiate(
        connect_from(loopback(9), b.p2p_port).await,
        &mallory,
        &hello("mallory", 0),
    )
    .await;
    let line = again_chat_line(&mut again);
    // The peer may already have closed: a failed write is fine.
    let _ = tokio::io::AsyncWriteExt::write_all(&mut again.writer, line.as_bytes()).await;
    expect_closed(&mut again.reader, EVENT_TIMEOUT).await;
    // A marker from someone else proves the UI is caught up; nothing from Mallory came first.
    let other = Identity::generate();
    let mut other = core_initiate(
        connect_from(loopback(10), b.p2p_port).await,
        &other,
        &hello("other", 0),
    )
    .await;
    other.chat("marker", None).await;
    ub.wait_for("marker", |e| {
        assert!(
            !(e["type"] == "peer_message" && e["peer_id"] == key.as_str()),
            "a blocked key's payload was read: {e}"
        );
        e["type"] == "peer_message" && e["text"] == "marker"
    })
    .await;
    ub.send(json!({"action": "list_requests"})).await;
    let listed = ub.wait_type("requests").await;
    assert!(
        listed["requests"]
            .as_array()
            .expect("requests")
            .iter()
            .all(|r| r["peer_id"] != key.as_str()),
        "{listed}"
    );
    assert!(b.log().contains("this key is blocked"), "{}", b.log());
}

/// A sealed chat line for `conn`.
fn again_chat_line(conn: &mut attack_helpers::CoreConn) -> String {
    let payload =
        json!({"kind": "chat", "id": "after-block", "text": "after the block", "sent_at": 1});
    conn.seal(payload.to_string().as_bytes())
}

/// PROTOCOL.md §9.1–§9.2 keep handshakes (pending table) and sessions (registry, store
/// backlog per session) bounded. A burst of 100 strangers' handshakes (loopback is exempt
/// from the per-address caps, as 100 addresses would be) must not delay a contact's chat:
/// SECURITY.md measures "another peer's chat reached the UI in 1.8 ms" under an ack flood;
/// expected here: well under a second (16–410 ms in a debug build; 1.1 s once beside a full
/// test run and a second build), so the bound is 3 s, below what the fault cost on a loaded
/// machine, where the tests run. Found: 1.4 s in a debug build on a quiet machine (4.8–5.2 s
/// on a loaded one), 16.9 s before the contacts' name index. The store was not the cause
/// (the 100 trust checks ran in a few group commits): the UI writer, which also carries
/// contacts' chats, computed every stranger's fingerprint (5,200 SHA-512 rounds) for its
/// `peer_connected` and `request` events, one after the other. Now strangers' events carry
/// no fingerprint (PROTOCOL.md §8.2) and the trust checks waiting on the store are bounded
/// (`MAX_ADMISSIONS_IN_FLIGHT`).
#[tokio::test]
async fn a_burst_of_strangers_handshakes_does_not_delay_a_contacts_chat() {
    let dir = data_dir_with_contacts(10_000);
    let b = Peer::start_args(&data_dir_args(&dir, "bob"));
    let alice = Peer::start("alice");
    let mut ub = b.ui().await;
    let mut ua = alice.ui().await;
    // Bob dials Alice: she is his contact.
    ub.connect_peer(alice.p2p_port, &alice.public_key).await;
    ua.wait_for("bob", |e| e["type"] == "peer_connected").await;
    ua.accept_request(&b.public_key).await;
    ua.say("warm-up", Some(&b.public_key)).await;
    ub.hear("warm-up").await;

    let port = b.p2p_port;
    let flood: Vec<_> = (0..100u32)
        .map(|i| {
            tokio::spawn(async move {
                let from = std::net::IpAddr::from([127, 3, 0, (i % 250) as u8 + 1]);
                try_core_initiate(
                    connect_from(from, port).await,
                    &Identity::generate(),
                    &hello(&format!("flood {i}"), 0),
                )
                .await
            })
        })
        .collect();
    let mut held = Vec::new();
    for task in flood {
        held.push(task.await.expect("flood task"));
    }
    // Every flood handshake has written its message 3; now Alice writes to Bob.
    let started = std::time::Instant::now();
    ua.say("are you there?", Some(&b.public_key)).await;
    let deadline = std::time::Duration::from_secs(60);
    let heard = tokio::time::timeout(deadline, async {
        loop {
            let e = ub.next().await;
            if e["type"] == "peer_message" && e["text"] == "are you there?" {
                return;
            }
        }
    })
    .await;
    let took = started.elapsed();
    println!("a contact's chat behind 100 strangers' handshakes: {took:?}");
    assert!(
        heard.is_ok() && took < std::time::Duration::from_secs(3),
        "took {took:?}"
    );
    drop(held);
}
