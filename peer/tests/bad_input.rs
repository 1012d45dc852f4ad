//! Hostile input on the P2P port. Each attack runs against a peer B that already has a session
//! with A; the offending connection must close, and A–B must keep working afterwards.

mod common;

use std::time::{Duration, Instant};

use common::{expect_closed, handshake_line, snow_first_half, Pair, SnowClient, EVENT_TIMEOUT};
use crypto_core::wire::MAX_LINE_BYTES;
use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

async fn raw(port: u16) -> TcpStream {
    TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect")
}

/// Sends `bytes` on a fresh connection and expects the peer to close it.
async fn send_and_expect_close(port: u16, bytes: &[u8]) {
    let mut stream = raw(port).await;
    stream.write_all(bytes).await.expect("write");
    expect_closed(&mut stream, EVENT_TIMEOUT).await;
}

#[tokio::test]
async fn malformed_lines_before_the_handshake_close_only_that_connection() {
    let mut p = Pair::new().await;
    let port = p.b.p2p_port;
    let attacks: [(&str, &[u8]); 8] = [
        ("malformed JSON", b"{this is not json\n"),
        ("unknown frame type", b"{\"type\":\"gossip\",\"message\":\"hi\"}\n"),
        ("missing fields", b"{\"type\":\"handshake\",\"step\":1}\n"),
        ("bad base64", b"{\"type\":\"handshake\",\"step\":1,\"message\":\"!!not base64!!\"}\n"),
        ("non-canonical base64", b"{\"type\":\"handshake\",\"step\":1,\"message\":\"AB==\"}\n"),
        ("step out of order", b"{\"type\":\"handshake\",\"step\":3,\"message\":\"AAAA\"}\n"),
        (
            "data before the handshake",
            b"{\"type\":\"data\",\"nonce\":\"AAAAAAAAAAAAAAAA\",\"ciphertext\":\"AAAAAAAAAAAAAAAAAAAAAA==\"}\n",
        ),
        ("short handshake message", b"{\"type\":\"handshake\",\"step\":1,\"message\":\"AAAA\"}\n"),
    ];
    for (name, bytes) in attacks {
        send_and_expect_close(port, bytes).await;
        p.check_alive(name).await;
    }
    p.b.wait_for_log("malformed frame").await;
    p.b.wait_for_log("bad base64").await;
    p.b.wait_for_log("data frame before the handshake").await;
    p.b.wait_for_log("out of order").await;
}

#[tokio::test]
async fn oversize_line_is_cut_off_while_reading() {
    let mut p = Pair::new().await;
    let mut stream = raw(p.b.p2p_port).await;
    // 64 MiB without a newline: far more than socket buffers hold, so the write can only
    // finish if the peer buffers it — it must close instead.
    let chunk = vec![b'a'; 1 << 20];
    let started = Instant::now();
    let mut sent = 0usize;
    let mut write_failed = false;
    for _ in 0..64 {
        match tokio::time::timeout(EVENT_TIMEOUT, stream.write_all(&chunk)).await {
            Ok(Ok(())) => sent += chunk.len(),
            Ok(Err(_)) => {
                write_failed = true;
                break;
            }
            Err(_) => panic!("write stalled: the peer neither read nor closed"),
        }
    }
    assert!(write_failed, "all {sent} bytes were accepted");
    assert!(sent < 16 << 20, "peer accepted {sent} bytes before closing");
    assert!(started.elapsed() < EVENT_TIMEOUT);
    p.check_alive("oversize line").await;
    p.b.wait_for_log("line exceeds 131072 bytes").await;
}

#[tokio::test]
async fn line_of_exactly_the_limit_is_not_a_framing_error() {
    let mut p = Pair::new().await;
    // A maximal line that is valid framing but not JSON: closed for "malformed frame", not
    // for its length.
    let mut line = vec![b' '; MAX_LINE_BYTES];
    line.push(b'\n');
    send_and_expect_close(p.b.p2p_port, &line).await;
    p.check_alive("maximal line").await;
    p.b.wait_for_log("malformed frame").await;
}

#[tokio::test]
async fn garbage_and_wrong_steps_during_the_handshake() {
    let mut p = Pair::new().await;
    let port = p.b.p2p_port;

    // Message 3 that does not decrypt.
    let (_hs, mut reader, mut writer, _hello, _) = snow_first_half(port).await;
    writer
        .write_all(handshake_line(3, &[7u8; 96]).as_bytes())
        .await
        .unwrap();
    expect_closed(&mut reader, EVENT_TIMEOUT).await;
    p.check_alive("garbage message 3").await;

    // Step 1 again instead of step 3.
    let (_hs, mut reader, mut writer, _hello, _) = snow_first_half(port).await;
    writer
        .write_all(handshake_line(1, &[1u8; 32]).as_bytes())
        .await
        .unwrap();
    expect_closed(&mut reader, EVENT_TIMEOUT).await;
    p.check_alive("repeated step 1").await;

    // A data frame instead of message 3.
    let (_hs, mut reader, mut writer, _hello, _) = snow_first_half(port).await;
    writer
        .write_all(b"{\"type\":\"data\",\"nonce\":\"AAAAAAAAAAAAAAAA\",\"ciphertext\":\"AAAA\"}\n")
        .await
        .unwrap();
    expect_closed(&mut reader, EVENT_TIMEOUT).await;
    p.check_alive("data instead of message 3").await;

    // Plain garbage bytes mid-handshake.
    let (_hs, mut reader, mut writer, _hello, _) = snow_first_half(port).await;
    writer.write_all(b"\x00\xff\xfe garbage\n").await.unwrap();
    expect_closed(&mut reader, EVENT_TIMEOUT).await;
    p.check_alive("binary garbage").await;

    // A low-order ephemeral key (all zeros) in message 1.
    send_and_expect_close(port, handshake_line(1, &[0u8; 32]).as_bytes()).await;
    p.check_alive("low-order key").await;
}

#[tokio::test]
async fn tampered_replayed_and_reordered_data_frames_end_the_session() {
    let mut p = Pair::new().await;
    let port = p.b.p2p_port;
    let chat = |id: &str| json!({"kind": "chat", "id": id, "text": id, "sent_at": 1});

    // Bit flip in the ciphertext.
    let mut c = SnowClient::connect(port, json!({"name": "flipper"})).await;
    let mut frame: serde_json::Value =
        serde_json::from_str(&c.seal_line(0, chat("flip").to_string().as_bytes())).unwrap();
    let mut ct = common::unb64(frame["ciphertext"].as_str().unwrap());
    ct[3] ^= 0x01;
    frame["ciphertext"] = json!(common::b64(&ct));
    c.writer
        .write_all(format!("{frame}\n").as_bytes())
        .await
        .unwrap();
    expect_closed(&mut c.reader, EVENT_TIMEOUT).await;
    p.check_alive("bit flip").await;

    // Replay of an accepted frame.
    let mut c = SnowClient::connect(port, json!({"name": "replayer"})).await;
    let line = c.send_payload(&chat("once")).await;
    assert_eq!(c.recv_payload().await["kind"], "ack");
    p.ub.hear("once").await;
    c.writer.write_all(line.as_bytes()).await.unwrap();
    expect_closed(&mut c.reader, EVENT_TIMEOUT).await;
    p.check_alive("replay").await;

    // Reordering: counter 1 before counter 0.
    let mut c = SnowClient::connect(port, json!({"name": "reorderer"})).await;
    let second = c.seal_line(1, chat("second").to_string().as_bytes());
    let first = c.seal_line(0, chat("first").to_string().as_bytes());
    c.writer.write_all(second.as_bytes()).await.unwrap();
    c.writer.write_all(first.as_bytes()).await.unwrap();
    expect_closed(&mut c.reader, EVENT_TIMEOUT).await;
    p.check_alive("reorder").await;

    // Bad base64 in an established session, and a handshake frame after the handshake.
    let mut c = SnowClient::connect(port, json!({})).await;
    c.writer
        .write_all(b"{\"type\":\"data\",\"nonce\":\"AAAAAAAAAAAAAAAA\",\"ciphertext\":\"%%%\"}\n")
        .await
        .unwrap();
    expect_closed(&mut c.reader, EVENT_TIMEOUT).await;
    let mut c = SnowClient::connect(port, json!({})).await;
    c.writer
        .write_all(handshake_line(1, &[5u8; 32]).as_bytes())
        .await
        .unwrap();
    expect_closed(&mut c.reader, EVENT_TIMEOUT).await;
    p.check_alive("bad frames in a session").await;

    p.b.wait_for_log("transport decryption failed").await;
    p.b.wait_for_log("wrong nonce").await;
    p.b.wait_for_log("handshake frame after the handshake")
        .await;
}

#[tokio::test]
async fn a_silent_connection_is_closed_at_the_handshake_deadline() {
    let mut p = Pair::with_b_args(&["--handshake-timeout-ms", "1500"]).await;
    let mut silent = raw(p.b.p2p_port).await;
    // Half a handshake, then silence, must hit the same deadline.
    let (_hs, mut half, _writer, _hello, _) = snow_first_half(p.b.p2p_port).await;
    let started = Instant::now();
    expect_closed(&mut silent, Duration::from_secs(10)).await;
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(1200),
        "closed too early: {elapsed:?}"
    );
    expect_closed(&mut half, Duration::from_secs(10)).await;
    p.check_alive("silent connections").await;
    p.b.wait_for_log("handshake not finished within 1500 ms")
        .await;
}

#[tokio::test]
async fn default_handshake_deadline_is_ten_seconds() {
    let p = Pair::new().await;
    let mut silent = raw(p.b.p2p_port).await;
    let started = Instant::now();
    expect_closed(&mut silent, Duration::from_secs(20)).await;
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(9_500) && elapsed < Duration::from_secs(15),
        "{elapsed:?}"
    );
}

#[tokio::test]
async fn a_connection_to_our_own_key_is_closed() {
    let a = common::Peer::start("narcissus");
    let mut ua = a.ui().await;
    ua.send(json!({"action": "connect_peer", "ip": "127.0.0.1", "port": a.p2p_port, "req": 1}))
        .await;
    let err = ua.wait_type("error").await;
    assert_eq!(err["req"], 1);
    assert!(
        err["message"].as_str().unwrap().contains("own key"),
        "{err}"
    );
}

#[tokio::test]
async fn a_peer_that_never_reads_is_dropped_and_does_not_stall_the_ui() {
    let mut p = Pair::new().await;
    // Handshakes, then never reads a byte.
    let lazy = SnowClient::connect(p.b.p2p_port, json!({"name": "lazy"})).await;
    let lazy_id = lazy.public_key.clone();
    p.ub.wait_for("lazy connected", |e| {
        e["type"] == "peer_connected" && e["peer_id"] == lazy_id.as_str()
    })
    .await;
    let text = "z".repeat(16_000);
    let mut dropped = false;
    for _ in 0..4000 {
        p.ub.send(json!({"action": "send_message", "text": text, "to": lazy_id}))
            .await;
        let event =
            p.ub.wait_for("message_sent or disconnect", |e| {
                e["type"] == "message_sent"
                    || (e["type"] == "peer_disconnected" && e["peer_id"] == lazy_id.as_str())
            })
            .await;
        if event["type"] == "peer_disconnected" {
            assert!(
                event["reason"].as_str().unwrap().contains("not reading"),
                "{event}"
            );
            dropped = true;
            break;
        }
    }
    assert!(dropped, "the stuck session was never closed");
    drop(lazy);
    p.check_alive("stuck peer").await;
}
