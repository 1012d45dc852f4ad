//! Binary `data` frames (PROTOCOL.md §4.1) between a real peer and a client on `snow` (not
//! crypto-core): the peer writes them only to a remote whose hello offers them, reads them
//! from anyone after the handshake, and a bad one closes only its own connection.

mod common;

use common::{expect_closed, Pair, Peer, SnowClient, EVENT_TIMEOUT};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The mark that starts a binary frame.
const MARK: u8 = 0x00;

/// A binary frame around `body` (`ciphertext || tag`, or anything for the attacks).
fn binary_frame(body: &[u8]) -> Vec<u8> {
    let mut frame = vec![MARK];
    frame.extend_from_slice(&u16::try_from(body.len()).unwrap().to_be_bytes());
    frame.extend_from_slice(body);
    frame
}

/// Seals `payload` with the client's next counter into a binary frame.
fn seal_binary(client: &mut SnowClient, payload: &Value) -> Vec<u8> {
    let sealed = client.seal(client.send_counter, payload.to_string().as_bytes());
    client.send_counter += 1;
    binary_frame(&sealed)
}

/// Reads the next frame, which must be binary, and opens it with the next counter.
async fn recv_binary(client: &mut SnowClient) -> Value {
    let mut header = [0u8; 3];
    tokio::time::timeout(EVENT_TIMEOUT, client.reader.read_exact(&mut header))
        .await
        .expect("timed out waiting for a frame")
        .expect("read a frame header");
    assert_eq!(header[0], MARK, "a line where a binary frame was due");
    let mut sealed = vec![0u8; usize::from(u16::from_be_bytes([header[1], header[2]]))];
    client
        .reader
        .read_exact(&mut sealed)
        .await
        .expect("read the frame");
    client.open_next(&sealed)
}

fn chat(text: &str) -> (String, Value) {
    let id = format!("bin-{}", rand::random::<u32>());
    let payload = json!({"kind": "chat", "id": id, "text": text, "sent_at": 1});
    (id, payload)
}

#[tokio::test]
async fn a_peer_writes_binary_frames_only_to_a_remote_that_offers_them() {
    let peer = Peer::start("dana");
    let mut ui = peer.ui().await;

    let mut binary = SnowClient::connect(
        peer.p2p_port,
        json!({"name": "binary", "listen_port": 0, "binary_frames": true}),
    )
    .await;
    assert_eq!(
        binary.remote_hello["binary_frames"], true,
        "the peer's hello offers binary frames"
    );
    ui.wait_type("peer_connected").await;
    ui.accept_request(&binary.public_key).await;
    // A line from this client is still read; the ack comes back as a binary frame.
    let (id, first) = chat("sent as a line");
    binary.send_payload(&first).await;
    ui.hear("sent as a line").await;
    let ack = loop {
        let payload = recv_binary(&mut binary).await;
        if payload["kind"] == "ack" {
            break payload;
        }
    };
    assert_eq!(ack["id"], id.as_str());
    // A binary frame from it is read too, newlines and marks in the text included.
    let (id, second) = chat("sent as a binary frame\n\u{0}, with a newline");
    let frame = seal_binary(&mut binary, &second);
    binary.writer.write_all(&frame).await.expect("send");
    ui.hear("sent as a binary frame\n\u{0}, with a newline")
        .await;
    let ack = loop {
        let payload = recv_binary(&mut binary).await;
        if payload["kind"] == "ack" {
            break payload;
        }
    };
    assert_eq!(ack["id"], id.as_str());

    // A client whose hello does not offer them gets lines (what `recv_payload` reads).
    let mut lines = SnowClient::connect(peer.p2p_port, json!({"name": "lines"})).await;
    ui.wait_for("the second client", |e| {
        e["type"] == "peer_connected" && e["name"] == "lines"
    })
    .await;
    ui.accept_request(&lines.public_key).await;
    let id = lines.chat("old style").await;
    ui.hear("old style").await;
    assert_eq!(lines.recv_payload().await, json!({"kind": "ack", "id": id}));
}

#[tokio::test]
async fn two_peers_agree_on_binary_frames_and_chat_over_them() {
    let mut p = Pair::new().await;
    p.check_alive("binary frames").await;
    p.a.wait_for_log("binary_frames=true").await;
    p.b.wait_for_log("binary_frames=true").await;
}

#[tokio::test]
async fn a_bad_binary_frame_closes_only_its_connection() {
    let mut p = Pair::new().await;
    let port = p.b.p2p_port;
    let offer = json!({"name": "mallory", "binary_frames": true});

    // Shorter than a tag: closed on the header, before any decryption.
    let mut short = SnowClient::connect(port, offer.clone()).await;
    short
        .writer
        .write_all(&binary_frame(&[7u8; 15]))
        .await
        .expect("send");
    expect_closed(&mut short.reader, EVENT_TIMEOUT).await;
    p.b.wait_for_log("binary frame of 15 bytes is shorter than its tag")
        .await;
    p.check_alive("a short binary frame").await;

    // Tampered: fails to decrypt.
    let mut tampered = SnowClient::connect(port, offer.clone()).await;
    let mut frame = seal_binary(&mut tampered, &chat("tampered").1);
    *frame.last_mut().unwrap() ^= 1;
    tampered.writer.write_all(&frame).await.expect("send");
    expect_closed(&mut tampered.reader, EVENT_TIMEOUT).await;
    p.check_alive("a tampered binary frame").await;

    // A replay of a good binary frame: opened with the next counter, so it fails too.
    let mut replay = SnowClient::connect(port, offer.clone()).await;
    let frame = seal_binary(&mut replay, &chat("once").1);
    replay.writer.write_all(&frame).await.expect("send");
    replay.writer.write_all(&frame).await.expect("send again");
    expect_closed(&mut replay.reader, EVENT_TIMEOUT).await;
    p.check_alive("a replayed binary frame").await;

    // Reordered: the second frame first, opened with the first one's counter.
    let mut reorder = SnowClient::connect(port, offer.clone()).await;
    let first = seal_binary(&mut reorder, &chat("first").1);
    let second = seal_binary(&mut reorder, &chat("second").1);
    reorder.writer.write_all(&second).await.expect("send");
    reorder.writer.write_all(&first).await.expect("send");
    expect_closed(&mut reorder.reader, EVENT_TIMEOUT).await;
    p.check_alive("reordered binary frames").await;

    // Before the handshake every frame is a line: the mark is a malformed one.
    let mut early = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let mut bytes = binary_frame(&[0u8; 32]);
    bytes.push(b'\n');
    early.write_all(&bytes).await.expect("send");
    expect_closed(&mut early, EVENT_TIMEOUT).await;
    p.check_alive("a binary frame before the handshake").await;
    p.b.wait_for_log("decryption failed").await;
}
