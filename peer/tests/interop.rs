//! An independent Noise client (the `snow` crate, not crypto-core) speaking PROTOCOL.md to a
//! running peer and chatting with its UI.

mod common;

use common::{Peer, SnowClient};
use serde_json::json;

#[tokio::test]
async fn snow_client_chats_with_a_peer_ui_and_gets_acks() {
    let peer = Peer::start("daemon dan");
    let mut ui = peer.ui().await;
    let mut client = SnowClient::connect(
        peer.p2p_port,
        json!({"name": "  snowy\u{7} ", "listen_port": 4242, "agent": "snow-test/1", "extra": true}),
    )
    .await;
    // Message 2's hello.
    assert_eq!(client.remote_hello["name"], "daemon dan");
    assert_eq!(client.remote_hello["listen_port"], peer.p2p_port);
    assert!(client.remote_hello["agent"]
        .as_str()
        .unwrap()
        .starts_with("p2p-chat/"));

    // Message 3's hello as the UI sees it: name trimmed and cleaned.
    let connected = ui.wait_type("peer_connected").await;
    assert_eq!(connected["peer_id"], client.public_key.as_str());
    assert_eq!(connected["name"], "snowy");
    assert_eq!(connected["listen_port"], 4242);
    // An inbound new key is a message request; accepted, its chats file as below.
    ui.accept_request(&client.public_key).await;
    assert_eq!(connected["direction"], "inbound");

    // Client → UI, with the ack back (nonce counter 0 from the peer).
    let id = client.chat("hello from snow").await;
    let ack = client.recv_payload().await;
    assert_eq!(ack, json!({"kind": "ack", "id": id}));
    let got = ui.hear("hello from snow").await;
    assert_eq!(got["name"], "snowy");
    assert_eq!(got["id"], id.as_str());
    assert_eq!(got["conversation"], client.public_key.as_str());

    // A broadcast-flagged chat files under "everyone".
    client
        .send_payload(&json!({"kind": "chat", "id": "b-1", "text": "to all", "sent_at": 1, "broadcast": true}))
        .await;
    assert_eq!(client.recv_payload().await["kind"], "ack");
    assert_eq!(ui.hear("to all").await["conversation"], "everyone");

    // UI → client (counter 2 after two acks), and the client acks it.
    let sent = ui.say("hello snow", Some(&client.public_key)).await;
    let chat = client.recv_payload().await;
    assert_eq!(chat["kind"], "chat");
    assert_eq!(chat["text"], "hello snow");
    assert_eq!(chat["id"], sent["id"]);
    assert!(chat.get("broadcast").is_none() || chat["broadcast"] == false);
    client
        .send_payload(&json!({"kind": "ack", "id": chat["id"]}))
        .await;

    // A broadcast from the UI carries broadcast: true.
    ui.say("everyone hears this", None).await;
    let chat = client.recv_payload().await;
    assert_eq!(chat["broadcast"], true);

    // Duplicates (same id again, next nonce) are acked but not shown twice; unknown kinds
    // and invalid payloads are ignored without closing the session.
    client
        .send_payload(&json!({"kind": "chat", "id": id, "text": "hello from snow", "sent_at": 2}))
        .await;
    assert_eq!(
        client.recv_payload().await,
        json!({"kind": "ack", "id": id})
    );
    client
        .send_payload(&json!({"kind": "future-thing", "id": "x"}))
        .await;
    client
        .send_payload(&json!({"kind": "chat", "id": "", "text": "no id", "sent_at": 3}))
        .await;
    client.chat("still here").await;
    assert_eq!(client.recv_payload().await["kind"], "ack");
    let next = ui.wait_type("peer_message").await;
    assert_eq!(
        next["text"], "still here",
        "duplicate or invalid payload was shown"
    );
}

#[tokio::test]
async fn peer_dials_a_snow_responder() {
    use tokio::io::AsyncWriteExt;

    let peer = Peer::start("dialler");
    let mut ui = peer.ui().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    ui.send(json!({"action": "connect_peer", "ip": "127.0.0.1", "port": port}))
        .await;
    let (stream, _) = listener.accept().await.unwrap();
    let (read, mut writer) = stream.into_split();
    let mut reader = tokio::io::BufReader::new(read);

    let params: snow::params::NoiseParams = common::NOISE_PARAMS.parse().unwrap();
    let keypair = snow::Builder::new(params.clone())
        .generate_keypair()
        .unwrap();
    let mut hs = snow::Builder::new(params)
        .prologue(common::PROLOGUE)
        .local_private_key(&keypair.private)
        .build_responder()
        .unwrap();
    let mut buf = vec![0u8; 65_535];

    let m1 = common::read_json_line(&mut reader).await;
    assert_eq!(m1["type"], "handshake");
    assert_eq!(m1["step"], 1);
    let n = hs
        .read_message(&common::unb64(m1["message"].as_str().unwrap()), &mut buf)
        .unwrap();
    assert_eq!(n, 0, "message 1 payload is empty");
    let hello = json!({"name": "snow responder", "listen_port": port});
    let n = hs
        .write_message(hello.to_string().as_bytes(), &mut buf)
        .unwrap();
    writer
        .write_all(common::handshake_line(2, &buf[..n]).as_bytes())
        .await
        .unwrap();
    let m3 = common::read_json_line(&mut reader).await;
    assert_eq!(m3["step"], 3);
    let n = hs
        .read_message(&common::unb64(m3["message"].as_str().unwrap()), &mut buf)
        .unwrap();
    let their_hello: serde_json::Value = serde_json::from_slice(&buf[..n]).unwrap();
    assert_eq!(their_hello["name"], "dialler");
    assert_eq!(their_hello["listen_port"], peer.p2p_port);

    let connected = ui.wait_type("peer_connected").await;
    assert_eq!(connected["name"], "snow responder");
    assert_eq!(connected["direction"], "outbound");
    assert_eq!(connected["public_key"], common::b64(&keypair.public));

    let mut client = SnowClient {
        reader,
        writer,
        transport: hs.into_stateless_transport_mode().unwrap(),
        send_counter: 0,
        recv_counter: 0,
        remote_hello: their_hello,
        public_key: common::b64(&keypair.public),
    };
    ui.say("hi responder", None).await;
    let chat = client.recv_payload().await;
    assert_eq!(chat["text"], "hi responder");
    let id = client.chat("hi dialler").await;
    assert_eq!(ui.hear("hi dialler").await["id"], id.as_str());
    assert_eq!(
        client.recv_payload().await,
        json!({"kind": "ack", "id": id})
    );
}
