//! Reaching people without a relay, over loopback with real `p2p-chat` processes (the parts
//! that need no NAT; `tests/netlab/` has the rest): the `addresses` payload and whose list it
//! may change, introductions (accepted and punched through, declined for a stranger, refused
//! over the rate, forged answers ignored) and keeping contacts connected with bounded dials
//! (PROTOCOL.md §7.1–§7.3).

mod attack_helpers;
mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use attack_helpers::{answer_and_wait_for_message_3, core_respond, hello, listener, CoreConn};
use common::{Peer, Ui};
use crypto_core::introduce::introduction_tag;
use crypto_core::{Identity, PublicKey};
use serde_json::json;

fn key(b64: &str) -> PublicKey {
    PublicKey::from_base64(b64).expect("a key")
}

/// The known addresses of `peer_id` as `ui`'s peer lists them.
async fn addresses_of(ui: &mut Ui, peer_id: &str) -> Vec<String> {
    ui.send(json!({"action": "contact_addresses", "peer_id": peer_id}))
        .await;
    let listed = ui
        .wait_for("contact_addresses", |e| {
            e["type"] == "contact_addresses" && e["peer_id"] == peer_id
        })
        .await;
    listed["addresses"]
        .as_array()
        .expect("addresses")
        .iter()
        .map(|a| a["address"].as_str().expect("address").to_owned())
        .collect()
}

/// [`addresses_of`], asked again until `check` holds (what a session sent may still be on its
/// way when the UI asks).
async fn addresses_when(
    ui: &mut Ui,
    peer_id: &str,
    check: impl Fn(&[String]) -> bool,
) -> Vec<String> {
    let deadline = Instant::now() + common::EVENT_TIMEOUT;
    loop {
        let list = addresses_of(ui, peer_id).await;
        if check(&list) {
            return list;
        }
        assert!(Instant::now() < deadline, "{list:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `ui`'s peer dials a crypto-core endpoint listening as `identity` (so that key is its
/// contact) and returns the session.
async fn contact_endpoint(ui: &mut Ui, identity: &Identity, name: &str) -> CoreConn {
    let (listener, port) = listener().await;
    ui.send(json!({"action": "connect_peer", "ip": "127.0.0.1", "port": port}))
        .await;
    let conn = core_respond(&listener, identity, &hello(name, port)).await;
    let id = identity.public_key().to_base64();
    ui.wait_for("the endpoint's session", |e| {
        e["type"] == "peer_connected" && e["peer_id"] == id.as_str()
    })
    .await;
    conn
}

/// A dials B (B accepts the request): each is the other's contact.
async fn make_contacts(ua: &mut Ui, ub: &mut Ui, a: &Peer, b: &Peer) {
    ua.connect_peer(b.p2p_port, &b.public_key).await;
    ub.wait_for("A at B", |e| {
        e["type"] == "peer_connected" && e["peer_id"] == a.public_key.as_str()
    })
    .await;
    ub.accept_request(&a.public_key).await;
}

/// PROTOCOL.md §7.1: a contact's `addresses` payload fills that contact's own list; a third
/// party's payloads — one naming another key, a forged introduction result, and a real
/// introduction answered with an address where another key answers — never enter B's list,
/// make us dial nothing we did not ask for, and raise no key change.
#[tokio::test]
async fn only_a_contact_changes_its_own_addresses_and_third_party_hints_are_never_stored() {
    let a = Peer::start("alice");
    let b = Peer::start("bob");
    let mut ua = a.ui().await;
    let mut ub = b.ui().await;
    make_contacts(&mut ua, &mut ub, &a, &b).await;
    let bob_address = format!("127.0.0.1:{}", b.p2p_port);
    let before = addresses_of(&mut ua, &b.public_key).await;
    assert_eq!(before, [bob_address], "where A reached B");
    // Bob closes the session: A must find him again to talk to him.
    ub.send(json!({"action": "disconnect_peer", "peer_id": a.public_key}))
        .await;
    ua.wait_for("B gone", |e| {
        e["type"] == "peer_disconnected" && e["peer_id"] == b.public_key.as_str()
    })
    .await;

    // Mallory is A's contact too (A dialled her).
    let mallory = Identity::generate();
    let mallory_id = mallory.public_key().to_base64();
    let mut m = contact_endpoint(&mut ua, &mallory, "mallory").await;
    // A tells her its addresses when the session comes up.
    let told = m
        .recv_until(|p| p["kind"] == "addresses")
        .await
        .expect("A's addresses");
    assert_eq!(
        told["addresses"],
        json!([format!("127.0.0.1:{}", a.p2p_port)])
    );
    assert_eq!(told["kinds"], json!(["lan"]));

    // Her own addresses, with a field naming Bob: they are hers, and only hers.
    let (trap, trap_port) = listener().await;
    let trap_address = format!("127.0.0.1:{trap_port}");
    m.send(&json!({
        "kind": "addresses",
        "peer": b.public_key,
        "observed": format!("127.0.0.1:{}", a.p2p_port),
        "addresses": [trap_address, "198.51.100.7:6000", "not an address"],
        "kinds": ["lan", "mapped", "lan"],
    }))
    .await;
    // A forged introduction result nobody asked for, pointing at her trap.
    m.send(&json!({
        "kind": "introduce_result",
        "id": "never-asked",
        "peer": introduction_tag(&key(&a.public_key), &key(&b.public_key)),
        "outcome": "accepted",
        "addresses": [trap_address],
        "kinds": ["observed"],
    }))
    .await;
    let mine = addresses_when(&mut ua, &mallory_id, |l| l.contains(&trap_address)).await;
    assert!(mine.contains(&"198.51.100.7:6000".to_owned()), "{mine:?}");
    assert!(!mine.contains(&"not an address".to_owned()));
    assert_eq!(addresses_of(&mut ua, &b.public_key).await, before);
    // Nothing dialled the trap.
    let dialled = tokio::time::timeout(Duration::from_millis(1500), trap.accept()).await;
    assert!(dialled.is_err(), "the forged result made A dial");

    // Now A really asks her to introduce it to Bob: the tag names Bob without his key.
    ua.send(json!({"action": "introduce", "peer_id": b.public_key, "via": mallory_id}))
        .await;
    let ask = m
        .recv_until(|p| p["kind"] == "introduce")
        .await
        .expect("the introduce payload");
    assert_eq!(
        ask["peer"],
        introduction_tag(&key(&a.public_key), &key(&b.public_key))
    );
    assert!(
        !ask.to_string().contains(&b.public_key),
        "Bob's key was sent"
    );
    // She answers "accepted" with her trap, where another key (hers) answers.
    m.send(&json!({
        "kind": "introduce_result",
        "id": ask["id"],
        "peer": ask["peer"],
        "outcome": "accepted",
        "addresses": [trap_address],
        "kinds": ["observed"],
    }))
    .await;
    // A dials the hint from its listening port and, hearing another key, stops before
    // message 3: the trap never learns A's key.
    let message_3 = answer_and_wait_for_message_3(&trap, &mallory, &hello("bob", 0)).await;
    assert!(message_3.is_none(), "A sent message 3 to another key");
    // The `introduction` events go to every page, the `error` to this one: either may come
    // first.
    let (mut failed, mut error) = (None, None);
    while failed.is_none() || error.is_none() {
        let e = ua.next().await;
        assert_ne!(e["type"], "key_changed", "{e}");
        if e["type"] == "introduction" && e["state"] == "failed" {
            failed = Some(e);
        } else if e["type"] == "error" {
            error = Some(e);
        }
    }
    assert_eq!(failed.unwrap()["peer_id"], b.public_key.as_str());
    assert_eq!(error.unwrap()["action"], "introduce");
    assert_eq!(addresses_of(&mut ua, &b.public_key).await, before);
}

/// PROTOCOL.md §7.1: a message request's `addresses` payload is held, unused, and taken only if
/// the request is accepted while its session lasts; one whose session ended first is dropped.
#[tokio::test]
async fn a_message_requests_addresses_count_only_once_it_is_accepted_while_connected() {
    let b = Peer::start("bob");
    let mut ub = b.ui().await;
    let announce =
        |address: &str| json!({"kind": "addresses", "addresses": [address], "kinds": ["lan"]});

    // Mallory dials Bob (a message request at Bob's), announces an address, and is accepted.
    let mallory = Identity::generate();
    let mallory_id = mallory.public_key().to_base64();
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", b.p2p_port))
        .await
        .expect("dial bob");
    let mut m = attack_helpers::core_initiate(stream, &mallory, &hello("mallory", 0)).await;
    ub.wait_for("the request", |e| {
        e["type"] == "peer_connected" && e["peer_id"] == mallory_id.as_str()
    })
    .await;
    m.send(&announce("127.0.0.1:7771")).await;
    // A chat after it: once Bob shows it, the announcement was read (while a request).
    m.send(&json!({"kind": "chat", "id": "m-1", "text": "hello", "sent_at": 1}))
        .await;
    ub.wait_for("her message", |e| {
        e["type"] == "peer_message" && e["text"] == "hello"
    })
    .await;
    ub.accept_request(&mallory_id).await;
    let list = addresses_when(&mut ub, &mallory_id, |l| !l.is_empty()).await;
    assert_eq!(list, ["127.0.0.1:7771"]);

    // Trudy announces one too, but her session ends before Bob accepts her.
    let trudy = Identity::generate();
    let trudy_id = trudy.public_key().to_base64();
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", b.p2p_port))
        .await
        .expect("dial bob");
    let mut t = attack_helpers::core_initiate(stream, &trudy, &hello("trudy", 0)).await;
    ub.wait_for("the second request", |e| {
        e["type"] == "peer_connected" && e["peer_id"] == trudy_id.as_str()
    })
    .await;
    t.send(&announce("127.0.0.1:7772")).await;
    t.send(&json!({"kind": "chat", "id": "t-1", "text": "hi", "sent_at": 1}))
        .await;
    ub.wait_for("her message", |e| {
        e["type"] == "peer_message" && e["text"] == "hi"
    })
    .await;
    drop(t);
    ub.wait_for("trudy gone", |e| {
        e["type"] == "peer_disconnected" && e["peer_id"] == trudy_id.as_str()
    })
    .await;
    ub.accept_request(&trudy_id).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        addresses_of(&mut ub, &trudy_id).await.is_empty(),
        "an announcement outlived its request's session"
    );
    drop(m);
}

/// PROTOCOL.md §7.2: B answers an introduction only for a contact (or a room co-member); for
/// anyone else it declines, the introducer says so, and nothing connects.
#[tokio::test]
async fn an_introduction_to_someone_who_does_not_know_us_is_declined() {
    let common::Three {
        a,
        b,
        c,
        mut ua,
        mut ub,
        mut uc,
    } = common::Three::start().await;
    make_contacts(&mut ua, &mut uc, &a, &c).await;
    make_contacts(&mut ub, &mut uc, &b, &c).await;
    ua.send(json!({"action": "introduce", "peer_id": b.public_key}))
        .await;
    // The `introduction` events go to every page, the `error` to this one: either may come
    // first.
    let (mut states, mut error) = (Vec::new(), None);
    while states.len() < 2 || error.is_none() {
        let e = ua.next().await;
        if e["type"] == "introduction" {
            if states.is_empty() {
                assert_eq!(e["via"], c.public_key.as_str());
            }
            states.push(e["state"].as_str().unwrap().to_owned());
        } else if e["type"] == "error" {
            error = Some(e);
        }
    }
    assert_eq!(states[..2], ["asked", "declined"]);
    let error = error.unwrap();
    assert_eq!(error["action"], "introduce");
    assert!(
        error["message"].as_str().unwrap().contains("declined"),
        "{error}"
    );
    b.wait_for_log("introduction declined").await;
    // No session between A and B came of it.
    let mut late = a.ui().await;
    late.send(json!({"action": "send_message", "text": "who is here"}))
        .await;
    let sent = late.wait_type("message_sent").await;
    assert_eq!(sent["recipients"], json!([c.public_key]));
    drop(ub);
}

/// PROTOCOL.md §7.2: two contacts who are not connected, both connected to C, are introduced
/// by C and connect to each other directly ("punched", both dialling from their listening
/// ports); their chats then flow with C gone.
#[tokio::test]
async fn contacts_introduced_by_a_mutual_contact_connect_directly() {
    let common::Three {
        a,
        b,
        mut c,
        mut ua,
        mut ub,
        mut uc,
    } = common::Three::start().await;
    make_contacts(&mut ua, &mut uc, &a, &c).await;
    make_contacts(&mut ub, &mut uc, &b, &c).await;
    // A and B know each other, but are not connected now (B closed the session).
    make_contacts(&mut ua, &mut ub, &a, &b).await;
    ub.send(json!({"action": "disconnect_peer", "peer_id": a.public_key}))
        .await;
    ua.wait_for("B gone", |e| {
        e["type"] == "peer_disconnected" && e["peer_id"] == b.public_key.as_str()
    })
    .await;

    ua.send(json!({"action": "introduce", "peer_id": b.public_key, "via": c.public_key}))
        .await;
    let at_a = ua
        .wait_for("B punched at A", |e| {
            assert_ne!(e["type"], "error", "{e}");
            e["type"] == "peer_connected"
                && e["peer_id"] == b.public_key.as_str()
                && e["reached"] != "direct"
        })
        .await;
    assert_eq!(at_a["reached"], "punched", "{at_a}");
    let at_b = ub
        .wait_for("A punched at B", |e| {
            e["type"] == "peer_connected"
                && e["peer_id"] == a.public_key.as_str()
                && e["reached"] != "direct"
        })
        .await;
    assert_eq!(at_b["reached"], "punched", "{at_b}");
    assert_eq!(at_b["contact"], true);
    ua.wait_for("connected", |e| {
        e["type"] == "introduction" && e["state"] == "connected"
    })
    .await;
    // The session runs between A's and B's listening ports: nothing goes through C.
    assert!(
        at_a["address"] == format!("127.0.0.1:{}", b.p2p_port)
            || at_b["address"] == format!("127.0.0.1:{}", a.p2p_port),
        "{at_a} {at_b}"
    );
    c.terminate();
    ua.say("straight to you", Some(&b.public_key)).await;
    ub.hear("straight to you").await;
    ub.say("and back", Some(&a.public_key)).await;
    ua.hear("and back").await;
    assert!(c.log().contains("introducing"), "{}", c.log());
    assert!(!c.log().contains("straight to you"));
    drop(uc);
}

/// PROTOCOL.md §7.2: an introducer passes on at most 4 introductions from one asker in a
/// burst, then answers "busy"; only those 4 reach the one asked for.
#[tokio::test]
async fn an_introducer_passes_on_a_burst_of_four_then_says_busy() {
    let b = Peer::start("bob");
    let c = Peer::start("carol");
    let mut ub = b.ui().await;
    let mut uc = c.ui().await;
    make_contacts(&mut ub, &mut uc, &b, &c).await;
    let x = Identity::generate();
    let mut conn = contact_endpoint(&mut uc, &x, "xavier").await;
    let tag = introduction_tag(x.public_key(), &key(&b.public_key));
    for i in 0..10 {
        conn.send(&json!({"kind": "introduce", "id": format!("i{i}"), "peer": tag}))
            .await;
    }
    let mut outcomes = Vec::new();
    while outcomes.len() < 10 {
        let result = conn
            .recv_until(|p| p["kind"] == "introduce_result")
            .await
            .expect("an introduce_result");
        assert_eq!(result["peer"], tag.as_str());
        outcomes.push(result["outcome"].as_str().unwrap().to_owned());
    }
    let busy = outcomes.iter().filter(|o| *o == "busy").count();
    // Xavier is no contact of Bob's: the four passed on are declined by Bob.
    let declined = outcomes.iter().filter(|o| *o == "declined").count();
    assert_eq!((busy, declined), (6, 4), "{outcomes:?}");
    b.wait_for_log("introduction declined").await;
    assert_eq!(b.log().matches("introduction declined").count(), 4);
    // A stranger (a message request) cannot use Carol at all.
    let stranger = Identity::generate();
    let mut s = attack_helpers::core_initiate(
        tokio::net::TcpStream::connect(("127.0.0.1", c.p2p_port))
            .await
            .unwrap(),
        &stranger,
        &hello("stranger", 0),
    )
    .await;
    s.send(&json!({"kind": "introduce", "id": "s", "peer": introduction_tag(stranger.public_key(), &key(&b.public_key))}))
        .await;
    let refused = s
        .recv_until(|p| p["kind"] == "introduce_result")
        .await
        .expect("an answer");
    assert_eq!(refused["outcome"], "refused");
}

/// A TCP listener that accepts and never answers, counting connections open at once.
struct Tarpit {
    port: u16,
    dialled: Arc<AtomicUsize>,
}

fn tarpit(open: Arc<AtomicUsize>, peak: Arc<AtomicUsize>) -> Tarpit {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let dialled = Arc::new(AtomicUsize::new(0));
    let count = dialled.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            count.fetch_add(1, Ordering::SeqCst);
            let now = open.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            let open = open.clone();
            std::thread::spawn(move || {
                // Held open for a second, never answered, then closed by us: the count drops
                // before the peer can learn the dial failed and start another.
                std::thread::sleep(Duration::from_secs(1));
                open.fetch_sub(1, Ordering::SeqCst);
                drop(stream);
            });
        }
    });
    Tarpit { port, dialled }
}

/// PROTOCOL.md §7.3: at start the peer dials every contact, with nothing owed, but at most 8
/// at once and spread out — 40 contacts whose addresses answer nothing are all tried, never
/// more than 8 at a time, and not all in the first instant.
#[tokio::test]
async fn at_start_every_contact_is_dialled_a_few_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let open = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let pits: Vec<Tarpit> = (0..40)
        .map(|_| tarpit(open.clone(), peak.clone()))
        .collect();
    {
        let mut store =
            peer::store::Store::open(dir.path().join("p2p-chat.db")).expect("the database");
        for pit in &pits {
            let contact = *Identity::generate().public_key();
            let address = format!("127.0.0.1:{}", pit.port);
            store
                .mark_seen(&contact, "someone", &address, pit.port, 1)
                .expect("a contact");
        }
        store.close().unwrap();
    }
    let mut args = common::loopback_args(0);
    args.extend(
        [
            "--data-dir",
            &dir.path().display().to_string(),
            "--name",
            "alice",
        ]
        .map(String::from),
    );
    let started = Instant::now();
    let a = Peer::start_args(&args);
    let dialled = |pits: &[Tarpit]| {
        pits.iter()
            .filter(|p| p.dialled.load(Ordering::SeqCst) > 0)
            .count()
    };
    let mut early = None;
    let deadline = Instant::now() + Duration::from_secs(40);
    while dialled(&pits) < pits.len() {
        assert!(
            Instant::now() < deadline,
            "only {} of 40 dialled",
            dialled(&pits)
        );
        if early.is_none() && started.elapsed() >= Duration::from_millis(700) {
            early = Some(dialled(&pits));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let peak = peak.load(Ordering::SeqCst);
    assert!(peak <= 8, "{peak} dials at once");
    assert!(peak >= 2, "dials ran one at a time ({peak})");
    assert!(
        early.unwrap_or(0) <= 8,
        "{early:?} contacts dialled in the first 0.7 s"
    );
    assert!(a.log().contains("dialling our contacts"), "{}", a.log());
}
