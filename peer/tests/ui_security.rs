//! The local UI server's defences and its handling of bad actions.

mod common;

use common::{http_get, http_request, Pair, Peer, Ui};
use serde_json::json;

const CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let peer = Peer::start("alice");
    let host = format!("127.0.0.1:{}", peer.web_port);
    for path in [
        "/",
        "/static/does-not-exist.js",
        "/vectors/MANIFEST.json",
        "/ws",
    ] {
        let (status, head) = http_get(peer.web_port, path, &host, &[]).await;
        assert!(status != 0, "{path}");
        assert_eq!(
            header(&head, "content-security-policy"),
            Some(CSP),
            "{path}: {head}"
        );
        assert_eq!(header(&head, "x-frame-options"), Some("DENY"), "{path}");
        assert_eq!(
            header(&head, "x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
        assert_eq!(
            header(&head, "referrer-policy"),
            Some("no-referrer"),
            "{path}"
        );
        assert!(
            header(&head, "access-control-allow-origin").is_none(),
            "{path}"
        );
    }
    let (status, head) = http_get(peer.web_port, "/", &host, &[]).await;
    assert_eq!(status, 200);
    assert!(header(&head, "content-type")
        .unwrap()
        .starts_with("text/html"));
    let (status, _) = http_get(peer.web_port, "/vectors/MANIFEST.json", &host, &[]).await;
    assert_eq!(status, 200);
    let (status, _) = http_get(peer.web_port, "/vectors/../../Cargo.toml", &host, &[]).await;
    assert_ne!(status, 200);
}

#[tokio::test]
async fn foreign_hosts_are_refused_dns_rebinding() {
    let peer = Peer::start("alice");
    let port = peer.web_port;
    for host in [
        format!("evil.example:{port}"),
        format!("127.0.0.1.nip.io:{port}"),
        format!("127.0.0.1:{}", port.wrapping_add(1)),
        "127.0.0.1".to_string(),
    ] {
        let (status, head) = http_get(port, "/", &host, &[]).await;
        assert_eq!(status, 403, "{host}");
        assert_eq!(header(&head, "x-frame-options"), Some("DENY"));
    }
    for host in [format!("localhost:{port}"), format!("[::1]:{port}")] {
        let (status, _) = http_get(port, "/", &host, &[]).await;
        assert_eq!(status, 200, "{host}");
    }
}

#[tokio::test]
async fn websocket_needs_the_token_the_own_origin_and_a_local_host() {
    let peer = Peer::start("alice");
    let port = peer.web_port;
    let origin = peer.origin();
    let token = peer.token.clone();
    let cases: Vec<(&str, String, Option<String>, Option<String>)> = vec![
        ("no token", String::new(), Some(origin.clone()), None),
        (
            "wrong token",
            "A".repeat(token.len()),
            Some(origin.clone()),
            None,
        ),
        (
            "token prefix",
            token[..10].to_string(),
            Some(origin.clone()),
            None,
        ),
        ("no Origin", token.clone(), None, None),
        ("null Origin", token.clone(), Some("null".into()), None),
        (
            "foreign Origin",
            token.clone(),
            Some("http://evil.example".into()),
            None,
        ),
        (
            "https Origin",
            token.clone(),
            Some(format!("https://127.0.0.1:{port}")),
            None,
        ),
        (
            "other port Origin",
            token.clone(),
            Some(format!("http://127.0.0.1:{}", port + 1)),
            None,
        ),
        (
            "rebinding Host",
            token.clone(),
            Some(format!("http://evil.example:{port}")),
            Some(format!("evil.example:{port}")),
        ),
    ];
    for (name, token, origin, host) in cases {
        let result = Ui::connect(port, &token, origin.as_deref(), host.as_deref()).await;
        assert_eq!(result.err(), Some(403), "{name}");
    }
    // The same token with the right Origin works, also via localhost.
    let ok = Ui::connect(
        port,
        &peer.token,
        Some(&format!("http://localhost:{port}")),
        Some(&format!("localhost:{port}")),
    )
    .await;
    assert!(ok.is_ok());
    peer.wait_for_log("refused WebSocket").await;
}

#[tokio::test]
async fn get_never_changes_state_and_other_methods_are_refused() {
    let peer = Peer::start("alice");
    let host = format!("127.0.0.1:{}", peer.web_port);
    let (status, _) = http_get(peer.web_port, "/?action=set_name&name=mallory", &host, &[]).await;
    assert_eq!(status, 200);
    let mut ui = Ui::connect(peer.web_port, &peer.token, Some(&peer.origin()), None)
        .await
        .unwrap();
    let info = ui.next().await;
    assert_eq!(info["type"], "info");
    assert_eq!(info["name"], "alice");
    for method in ["POST", "PUT", "DELETE"] {
        for path in ["/", "/ws", "/static/app.js"] {
            let (status, _) = http_request(peer.web_port, method, path, &host, &[]).await;
            assert_eq!(status, 405, "{method} {path}");
        }
    }
}

#[tokio::test]
async fn malformed_and_unknown_actions_get_error_events_and_the_socket_stays_open() {
    let mut p = Pair::new().await;
    let b_key = p.b.public_key.clone();
    let long_text = "x".repeat(16_001);
    let long_name = "n".repeat(65);
    let cases: Vec<(String, &str)> = vec![
        ("not json at all".into(), "not JSON"),
        ("[1,2,3]".into(), "JSON object"),
        ("{}".into(), "missing"),
        (r#"{"action":42}"#.into(), "must be a string"),
        (r#"{"action":"launch_missiles","req":"r1"}"#.into(), "unknown action"),
        (r#"{"action":"connect_peer","ip":"127.0.0.1"}"#.into(), "connect_peer"),
        (r#"{"action":"connect_peer","ip":"127.0.0.1","port":0}"#.into(), "port"),
        (r#"{"action":"connect_peer","ip":"127.0.0.1","port":"6000"}"#.into(), "connect_peer"),
        (r#"{"action":"send_message"}"#.into(), "send_message"),
        (r#"{"action":"send_message","text":""}"#.into(), "1-16000"),
        (json!({"action": "send_message", "text": long_text}).to_string(), "1-16000"),
        (r#"{"action":"send_message","text":"x","to":"not-a-key"}"#.into(), "peer_id"),
        (
            json!({"action": "send_message", "text": "x", "to": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}).to_string(),
            "not connected",
        ),
        (json!({"action": "set_name", "name": long_name}).to_string(), "64"),
        (r#"{"action":"set_verified","peer_id":"x","verified":true}"#.into(), "peer_id"),
        (json!({"action": "set_verified", "peer_id": b_key, "verified": "yes"}).to_string(), "set_verified"),
        (r#"{"action":"disconnect_peer","peer_id":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}"#.into(), "not connected"),
    ];
    for (i, (text, expect)) in cases.iter().enumerate() {
        p.ua.send_text(text).await;
        let err = p.ua.wait_type("error").await;
        let message = err["message"].as_str().unwrap();
        assert!(message.contains(expect), "case {i} {text}: {message}");
    }
    // req is echoed, action named.
    p.ua.send(json!({"action": "send_message", "text": "", "req": 77}))
        .await;
    let err = p.ua.wait_type("error").await;
    assert_eq!(err["req"], 77);
    assert_eq!(err["action"], "send_message");
    // Unreachable dial: an error, not a hang or a dropped socket.
    let closed_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    p.ua.send(
        json!({"action": "connect_peer", "ip": "127.0.0.1", "port": closed_port, "req": "dial"}),
    )
    .await;
    let err =
        p.ua.wait_for("dial error", |e| e["type"] == "error" && e["req"] == "dial")
            .await;
    assert!(err["message"].as_str().unwrap().contains("cannot connect"));
    // Still the same socket, still chatting.
    p.check_alive("bad actions").await;
}

#[tokio::test]
async fn serves_the_page_static_files_wasm_and_vectors() {
    let dir = std::env::temp_dir().join(format!("p2p-chat-web-{}", rand::random::<u64>()));
    std::fs::create_dir_all(dir.join("pkg")).unwrap();
    std::fs::write(dir.join("index.html"), "<!doctype html><p>test page</p>").unwrap();
    std::fs::write(dir.join("app.js"), "export const x = 1;").unwrap();
    std::fs::write(dir.join("pkg/core_bg.wasm"), b"\0asm\x01\0\0\0").unwrap();
    let web = dir.to_string_lossy().to_string();
    let peer = Peer::start_with("alice", &["--web-dir", &web]);
    let host = format!("127.0.0.1:{}", peer.web_port);
    let (status, head) = http_get(peer.web_port, "/", &host, &[]).await;
    assert_eq!(status, 200);
    assert!(header(&head, "content-type")
        .unwrap()
        .starts_with("text/html"));
    let (status, head) = http_get(peer.web_port, "/static/app.js", &host, &[]).await;
    assert_eq!(status, 200);
    assert!(
        header(&head, "content-type")
            .unwrap()
            .contains("javascript"),
        "{head}"
    );
    let (status, head) = http_get(peer.web_port, "/pkg/core_bg.wasm", &host, &[]).await;
    assert_eq!(status, 200);
    assert_eq!(header(&head, "content-type"), Some("application/wasm"));
    let (status, _) = http_get(
        peer.web_port,
        "/vectors/rfc/rfc7748_x25519.json",
        &host,
        &[],
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = http_get(peer.web_port, "/static/../../etc/passwd", &host, &[]).await;
    assert_ne!(status, 200);
    drop(peer);
    let _ = std::fs::remove_dir_all(&dir);
}
