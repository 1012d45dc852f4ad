//! The file routes keep the UI's defences (PROTOCOL.md §8.11, SECURITY.md §4): the token only in
//! a header (so `<img src>` or a link from another site loads nothing), the Origin check on
//! uploads, the Host check, no other methods; and a send by path only with the local API
//! token, which a browser cannot present.

mod common;
mod files_common;
mod store_common;

use common::Ui;
use files_common::{download, http, send_upload, wait_state};
use serde_json::json;
use store_common::{start_in, tempdir};

#[tokio::test]
async fn downloads_need_the_token_in_a_header() {
    let (da, db, src) = (tempdir(), tempdir(), tempdir());
    let a = start_in("alice", da.path(), 0, &[]);
    let b = start_in("bob", db.path(), 0, &[]);
    let (mut ua, mut ub) = (a.ui().await, b.ui().await);
    ua.connect_peer(b.p2p_port, &b.public_key).await;
    ub.accept_request(&a.public_key).await;
    let path = src.path().join("cat.png");
    std::fs::write(&path, b"\x89PNG not really").unwrap();
    let sent = send_upload(&a, &mut ua, &path, "cat.png", &b.public_key).await;
    let id = sent["id"].as_str().unwrap();
    // Each side names the file by a key of its own.
    let offered = ub
        .wait_for("the offer", |e| {
            e["type"] == "peer_message" && e["id"] == id
        })
        .await;
    wait_state(&mut ub, id, "complete", std::time::Duration::from_secs(15)).await;
    let key = offered["file"]["key"].as_str().unwrap();
    let alice_key = sent["file"]["key"].as_str().unwrap();
    assert_ne!(key, alice_key);
    let route = format!("/files/{key}");
    let host = format!("127.0.0.1:{}", b.web_port);
    // What an <img src> or a link on another site sends: no header, maybe a guessed query.
    for (path, headers) in [
        (route.clone(), vec![]),
        (format!("{route}?token={}", b.token), vec![]),
        (route.clone(), vec![("X-P2P-Chat-Token", "wrong")]),
        (
            route.clone(),
            vec![("Cookie", "token=x"), ("Referer", "http://evil.example/")],
        ),
    ] {
        let got = http(b.web_port, "GET", &path, &headers, None).await;
        assert_eq!(got.status, 403, "{path} {headers:?}");
        assert!(!String::from_utf8_lossy(&got.body).contains("PNG"));
    }
    // Bob's own page (the header) gets it, as an attachment, never sniffed.
    let got = download(&b, key).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body, b"\x89PNG not really");
    let head = got.head.to_ascii_lowercase();
    assert!(
        head.contains("content-type: application/octet-stream"),
        "{head}"
    );
    assert!(head.contains("x-content-type-options: nosniff"));
    assert!(head.contains("cache-control: no-store"));
    assert!(head.contains("img-src 'self' data: blob:;"), "{head}");
    // Alice serves her own copy too; an unknown or malformed key is not found.
    assert_eq!(download(&a, alice_key).await.status, 200);
    assert_eq!(download(&b, &"0".repeat(32)).await.status, 404);
    assert_eq!(download(&b, "..%2f..%2fidentity.key").await.status, 404);
    // DNS rebinding: another Host is refused before the token is looked at.
    let rebound = http(
        b.web_port,
        "GET",
        &route,
        &[("X-P2P-Chat-Token", &b.token), ("Host", "evil.example")],
        None,
    )
    .await;
    assert_ne!(rebound.status, 200);
    let _ = host;
}

#[tokio::test]
async fn uploads_need_the_token_header_and_our_origin() {
    let (da, src) = (tempdir(), tempdir());
    let a = start_in("alice", da.path(), 0, &[]);
    let path = src.path().join("x.bin");
    std::fs::write(&path, vec![7u8; 5000]).unwrap();
    let origin = a.origin();
    for headers in [
        vec![("Origin", origin.as_str())],
        vec![("X-P2P-Chat-Token", a.token.as_str())],
        vec![
            ("X-P2P-Chat-Token", a.token.as_str()),
            ("Origin", "http://evil.example"),
        ],
        vec![("X-P2P-Chat-Token", a.token.as_str()), ("Origin", "null")],
        vec![("X-P2P-Chat-Token", "wrong"), ("Origin", origin.as_str())],
    ] {
        let got = http(a.web_port, "POST", "/files", &headers, Some(&path)).await;
        assert_eq!(got.status, 403, "{headers:?}");
    }
    assert_eq!(
        std::fs::read_dir(da.path().join("files/uploads"))
            .unwrap()
            .count(),
        0,
        "nothing refused was written"
    );
    // Other methods and other paths stay GET-only.
    for (method, route) in [
        ("PUT", "/files"),
        ("DELETE", "/files"),
        ("POST", "/ws"),
        ("POST", "/"),
    ] {
        let got = http(
            a.web_port,
            method,
            route,
            &[("X-P2P-Chat-Token", &a.token), ("Origin", &origin)],
            None,
        )
        .await;
        assert_eq!(got.status, 405, "{method} {route}");
    }
    let ok = http(
        a.web_port,
        "POST",
        "/files",
        &[("X-P2P-Chat-Token", &a.token), ("Origin", &origin)],
        Some(&path),
    )
    .await;
    assert_eq!(ok.status, 201, "{}", ok.head);
}

#[tokio::test]
async fn a_send_by_path_needs_the_local_api_token() {
    let da = tempdir();
    let a = start_in("alice", da.path(), 0, &[]);
    let mut ua = a.ui().await;
    // The page's socket cannot make the peer read a file it was not given.
    ua.send(json!({"action": "send_file", "path": "/etc/passwd", "to": a.public_key, "req": 1}))
        .await;
    let error = ua
        .wait_for("error", |e| e["type"] == "error" && e["req"] == 1)
        .await;
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("local API token"),
        "{error}"
    );
    // A wrong API token is refused at the upgrade; the right one (from the data directory,
    // mode 0600) is accepted.
    let origin = a.origin();
    let wrong = connect_with_api(a.web_port, &a.token, &origin, "wrong").await;
    assert_eq!(wrong.err(), Some(403));
    let api = std::fs::read_to_string(da.path().join("api-token")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(da.path().join("api-token"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let mut api_ui = connect_with_api(a.web_port, &a.token, &origin, api.trim())
        .await
        .expect("the API token is accepted");
    api_ui
        .send(json!({"action": "send_file", "path": "relative.txt", "to": a.public_key, "req": 2}))
        .await;
    let error = api_ui
        .wait_for("error", |e| e["type"] == "error" && e["req"] == 2)
        .await;
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("files go to a contact or a room"),
        "sending to ourselves is not a contact: {error}"
    );
}

async fn connect_with_api(port: u16, token: &str, origin: &str, api: &str) -> Result<Ui, u16> {
    Ui::connect_with_headers(
        port,
        token,
        &[("origin", origin), ("x-p2p-chat-api-token", api)],
    )
    .await
}
