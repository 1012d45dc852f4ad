//! End-to-end: real peers driven through their WebSocket UI.

mod common;

use common::{assert_same_set, loopback_args, Pair, Peer, Three};
use serde_json::json;

#[tokio::test]
async fn two_peers_exchange_messages_both_ways_with_names() {
    let mut p = Pair::new().await;
    let sent = p.ua.say("hello bob", None).await;
    assert_eq!(sent["conversation"], "everyone");
    assert_eq!(sent["recipients"], json!([p.b.public_key]));
    let got = p.ub.hear("hello bob").await;
    assert_eq!(got["name"], "alice");
    assert_eq!(got["peer_id"], p.a.public_key.as_str());
    assert_eq!(got["conversation"], "everyone");
    assert!(got["received_at"].as_u64().unwrap() > 0);
    assert_eq!(got["id"], sent["id"]);

    let sent = p.ub.say("hi alice, just you", Some(&p.a.public_key)).await;
    assert_eq!(sent["conversation"], p.a.public_key.as_str());
    let got = p.ua.hear("hi alice, just you").await;
    assert_eq!(got["name"], "bob");
    assert_eq!(got["conversation"], p.b.public_key.as_str());
}

#[tokio::test]
async fn peer_connected_has_the_protocol_fields_and_a_late_ui_gets_a_snapshot() {
    let p = Pair::new().await;
    let mut late = p.b.ui().await;
    let snapshot = late.wait_type("peer_connected").await;
    assert_eq!(snapshot["peer_id"], p.a.public_key.as_str());
    assert_eq!(snapshot["public_key"], p.a.public_key.as_str());
    assert_eq!(snapshot["name"], "alice");
    assert_eq!(snapshot["direction"], "inbound");
    assert_eq!(snapshot["listen_port"], p.a.p2p_port);
    assert_eq!(snapshot["fingerprint"], p.a.fingerprint.as_str());
    assert_eq!(snapshot["verified"], false);
    assert!(snapshot["address"]
        .as_str()
        .unwrap()
        .starts_with("127.0.0.1:"));
}

#[tokio::test]
async fn set_name_propagates_to_new_handshakes() {
    let Three {
        a: _alice,
        b,
        c,
        mut ua,
        mut ub,
        mut uc,
    } = Three::start().await;
    ua.connect_peer(b.p2p_port, &b.public_key).await;
    let first = ub.wait_type("peer_connected").await;
    assert_eq!(first["name"], "alice");

    ua.send(json!({"action": "set_name", "name": "  Alice Liddell  "}))
        .await;
    let info = ua.wait_type("info").await;
    assert_eq!(info["name"], "Alice Liddell");
    ua.connect_peer(c.p2p_port, &c.public_key).await;
    let seen = uc.wait_type("peer_connected").await;
    assert_eq!(seen["name"], "Alice Liddell");
}

#[tokio::test]
async fn set_verified_and_disconnect_peer() {
    let mut p = Pair::new().await;
    p.ua.send(json!({"action": "set_verified", "peer_id": p.b.public_key, "verified": true}))
        .await;
    let v = p.ua.wait_type("peer_verified").await;
    assert_eq!(v["peer_id"], p.b.public_key.as_str());
    assert_eq!(v["verified"], true);
    p.ua.send(json!({"action": "disconnect_peer", "peer_id": p.b.public_key}))
        .await;
    let gone = p.ua.wait_type("peer_disconnected").await;
    assert_eq!(gone["peer_id"], p.b.public_key.as_str());
    let gone = p.ub.wait_type("peer_disconnected").await;
    assert_eq!(gone["peer_id"], p.a.public_key.as_str());
}

#[tokio::test]
async fn dialling_twice_gives_one_session() {
    let mut p = Pair::new().await;
    p.ua.send(
        json!({"action": "connect_peer", "ip": "127.0.0.1", "port": p.b.p2p_port, "req": "again"}),
    )
    .await;
    let err = p.ua.wait_type("error").await;
    assert_eq!(err["req"], "again");
    assert!(
        err["message"].as_str().unwrap().contains("duplicate"),
        "{err}"
    );
    // Both sides still have exactly one session, and it works.
    let mut late_a = p.a.ui().await;
    let mut late_b = p.b.ui().await;
    late_a
        .send(json!({"action": "send_message", "text": "count"}))
        .await;
    let sent = late_a.wait_type("message_sent").await;
    assert_eq!(sent["recipients"].as_array().unwrap().len(), 1);
    late_b
        .send(json!({"action": "send_message", "text": "count"}))
        .await;
    let sent = late_b.wait_type("message_sent").await;
    assert_eq!(sent["recipients"].as_array().unwrap().len(), 1);
    p.check_alive("second dial").await;
}

#[tokio::test]
async fn simultaneous_dial_ends_with_exactly_one_session() {
    for round in 0..3 {
        let a = Peer::start("alice");
        let b = Peer::start("bob");
        let mut ua = a.ui().await;
        let mut ub = b.ui().await;
        // PROTOCOL.md §7: both keep the connection initiated by the smaller key.
        let a_smaller = common::unb64(&a.public_key) < common::unb64(&b.public_key);
        let (dir_a, dir_b) = if a_smaller {
            ("outbound", "inbound")
        } else {
            ("inbound", "outbound")
        };
        let dial_a = json!({"action": "connect_peer", "ip": "127.0.0.1", "port": b.p2p_port});
        let dial_b = json!({"action": "connect_peer", "ip": "127.0.0.1", "port": a.p2p_port});
        tokio::join!(ua.send(dial_a), ub.send(dial_b));
        ua.wait_for("the kept session on A", |e| {
            e["type"] == "peer_connected" && e["direction"] == dir_a
        })
        .await;
        ub.wait_for("the kept session on B", |e| {
            e["type"] == "peer_connected" && e["direction"] == dir_b
        })
        .await;
        // A fresh UI on each side sees exactly one live session, and it carries messages.
        for (peer, other) in [(&a, &b), (&b, &a)] {
            let mut check = peer.ui().await;
            let snapshot = check.wait_type("peer_connected").await;
            assert_eq!(snapshot["peer_id"], other.public_key.as_str());
            let text = format!("round {round} from {}", peer.p2p_port);
            check
                .send(json!({"action": "send_message", "text": text}))
                .await;
            let sent = check.wait_type("message_sent").await;
            assert_eq!(
                sent["recipients"].as_array().unwrap().len(),
                1,
                "round {round}"
            );
        }
        ub.hear(&format!("round {round} from {}", a.p2p_port)).await;
        ua.hear(&format!("round {round} from {}", b.p2p_port)).await;
    }
}

#[tokio::test]
async fn disconnect_and_reconnect() {
    // B keeps its identity on disk, so the restarted B is the same peer.
    let dir = std::env::temp_dir().join(format!("p2p-chat-reconnect-{}", rand::random::<u64>()));
    let dir_arg = dir.to_string_lossy().to_string();
    let b_args = |port: u16| -> Vec<String> {
        let mut args = loopback_args(port);
        args.extend(["--name", "bob", "--data-dir", &dir_arg].map(String::from));
        args
    };
    let a = Peer::start("alice");
    let mut b = Peer::start_args(&b_args(0));
    let mut ua = a.ui().await;
    ua.connect_peer(b.p2p_port, &b.public_key).await;
    // A dialled B: B accepts A's message request, and that is kept across B's restart.
    b.ui().await.accept_request(&a.public_key).await;
    ua.say("before", None).await;
    b.kill();
    let gone = ua.wait_type("peer_disconnected").await;
    assert_eq!(gone["peer_id"], b.public_key.as_str());
    assert_eq!(gone["name"], "bob");
    assert!(!gone["reason"].as_str().unwrap().is_empty());

    let b2 = Peer::start_args(&b_args(b.p2p_port));
    assert_eq!(b2.public_key, b.public_key, "identity survives a restart");
    assert_eq!(b2.p2p_port, b.p2p_port);
    let mut ub2 = b2.ui().await;
    // The restarted Bob dials Alice by itself (PROTOCOL.md §7.3). A `connect_peer` of Alice's
    // here would race that dial, and its refusal as a duplicate could come at any later point.
    let info = ua
        .wait_for("Bob back", |e| {
            e["type"] == "peer_connected" && e["peer_id"] == b2.public_key.as_str()
        })
        .await;
    assert_eq!(info["name"], "bob");
    // To Bob, not to "everyone": Alice may be dialling Bob too, and a broadcast goes only to
    // the sessions up at that instant, so one sent while the duplicate rule swaps the two
    // sessions could reach nobody. A direct message is queued and delivered on whichever
    // session stays.
    ua.say("welcome back", Some(&b2.public_key)).await;
    ub2.hear("welcome back").await;
    ub2.say("glad to be back", Some(&a.public_key)).await;
    ua.hear("glad to be back").await;
    drop(b2);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn three_peers_broadcast_and_send_to_one() {
    let Three {
        a,
        b,
        c,
        mut ua,
        mut ub,
        mut uc,
    } = Three::meshed().await;

    let sent = ua.say("to everyone", None).await;
    assert_same_set(&sent["recipients"], &[&b.public_key, &c.public_key]);
    assert_eq!(ub.hear("to everyone").await["conversation"], "everyone");
    assert_eq!(uc.hear("to everyone").await["conversation"], "everyone");

    ua.say("only carol", Some(&c.public_key)).await;
    let got = uc.hear("only carol").await;
    assert_eq!(got["conversation"], a.public_key.as_str());
    // Bob must not get it: the next thing he hears from alice is the marker sent after it.
    ua.say("marker for bob", Some(&b.public_key)).await;
    let next = ub
        .wait_for("a message from alice", |e| {
            e["type"] == "peer_message" && e["peer_id"] == a.public_key.as_str()
        })
        .await;
    assert_eq!(next["text"], "marker for bob");

    ub.say("bob to all", None).await;
    ua.hear("bob to all").await;
    uc.hear("bob to all").await;
}

#[tokio::test]
async fn sigterm_closes_sessions_and_exits_zero() {
    let mut p = common::Pair::new().await;
    p.ua.say("last words", None).await;
    p.ub.hear("last words").await;
    let status = p.b.terminate();
    assert!(status.success(), "{status:?}");
    let gone = p.ua.wait_type("peer_disconnected").await;
    assert_eq!(gone["peer_id"], p.b.public_key.as_str());
    assert!(p.b.log().contains("shutting down"), "{}", p.b.log());
}

/// `info.addresses` tells the page what to give out, each address with its kind, and invites
/// name the first: the listen address itself, or — listening on every interface — this
/// computer's interface addresses (the routed one first). Port mapping is off: no test outside
/// the network lab talks to the machine's real router.
#[tokio::test]
async fn info_gives_kind_tagged_dialable_addresses_and_invites_use_the_first() {
    // `ui()` reads the greeting's `info`; `set_name` makes the peer send it again.
    async fn info_of(ui: &mut common::Ui, name: &str) -> serde_json::Value {
        ui.send(json!({"action": "set_name", "name": name})).await;
        ui.wait_type("info").await
    }
    let local = Peer::start("alice");
    let mut ui = local.ui().await;
    let info = info_of(&mut ui, "alice").await;
    let expected = format!("127.0.0.1:{}", local.p2p_port);
    assert_eq!(
        info["addresses"],
        json!([{"address": expected, "kind": "lan"}])
    );
    assert!(local.log().contains("port mapping off"), "{}", local.log());
    // Nor LAN discovery: listening on loopback, nothing is multicast (no --no-mdns needed).
    assert!(
        local
            .log()
            .contains("LAN discovery (mDNS) off: listening on loopback only"),
        "{}",
        local.log()
    );

    for host in ["0.0.0.0", "::"] {
        let mut args = vec![
            "--host".to_owned(),
            host.to_owned(),
            "--no-port-mapping".to_owned(),
            // Listening on every interface: no multicast onto this machine's real network.
            "--no-mdns".to_owned(),
        ];
        args.extend(
            [
                "--port",
                "0",
                "--web-port",
                "0",
                "--ephemeral",
                "--name",
                "bob",
            ]
            .map(String::from),
        );
        let everywhere = Peer::start_args(&args);
        let mut ui = everywhere.ui().await;
        let info = info_of(&mut ui, "bob").await;
        let listen = std::net::SocketAddr::new(host.parse().unwrap(), everywhere.p2p_port);
        let list = peer::reach::ordered(peer::reach::interfaces::local_addresses(listen));
        assert_eq!(info["addresses"], json!(list), "--host {host}");
        ui.send(json!({"action": "get_invite"})).await;
        let invite = ui.wait_type("invite").await;
        let (host, port) = peer::reach::invite_target(&list, everywhere.p2p_port);
        let host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host
        };
        let prefix = format!("p2p-chat://{host}:{port}/");
        assert!(
            invite["invite"].as_str().unwrap().starts_with(&prefix),
            "{invite} should start with {prefix}"
        );
    }
}

/// A message to everyone while no contact is connected would reach nobody and be kept
/// nowhere: it is refused with an error that says why, and goes once a contact is connected.
#[tokio::test]
async fn a_message_to_everyone_with_nobody_connected_is_refused_not_lost() {
    let a = Peer::start("alice");
    let b = Peer::start("bob");
    let mut ua = a.ui().await;
    ua.send(json!({"action": "send_message", "text": "to nobody"}))
        .await;
    let err = ua
        .wait_for("error", |e| {
            assert_ne!(e["type"], "message_sent", "sent to nobody: {e}");
            e["type"] == "error"
        })
        .await;
    assert_eq!(err["action"], "send_message");
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("nobody is connected"),
        "{err}"
    );
    ua.connect_peer(b.p2p_port, &b.public_key).await;
    let sent = ua.say("to bob", None).await;
    assert_eq!(sent["recipients"], json!([b.public_key]));
    assert!(sent["seq"].is_i64(), "stored: {sent}");
}
