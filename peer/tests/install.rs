//! Running it like an installed app: the built-in page's caching headers, `--web-dir`,
//! `/healthz`, `--version`, `p2p-chat url` and its token file, `--open`, and the default data
//! directory — all against the real binary.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{http_get, Peer, BIN};

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "p2p-chat-install-{}-{tag}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The whole response body of a GET (the common helper returns only the head).
async fn http_body(port: u16, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8_lossy(&response).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, body.to_string())
}

fn run(args: &[&str], env: &[(&str, &Path)]) -> std::process::Output {
    let mut command = Command::new(BIN);
    command.args(args).env_remove("XDG_DATA_HOME");
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().expect("run p2p-chat")
}

#[tokio::test]
async fn files_carry_content_types_and_etags_and_revalidate_with_304() {
    let peer = Peer::start("alice");
    let host = format!("127.0.0.1:{}", peer.web_port);
    for (path, content_type) in [
        ("/", "text/html; charset=utf-8"),
        ("/static/app.js", "text/javascript; charset=utf-8"),
        ("/static/style.css", "text/css; charset=utf-8"),
        ("/static/favicon.svg", "image/svg+xml; charset=utf-8"),
        ("/vectors/MANIFEST.json", "application/json; charset=utf-8"),
    ] {
        let (status, head) = http_get(peer.web_port, path, &host, &[]).await;
        assert_eq!(status, 200, "{path}: {head}");
        assert_eq!(header(&head, "content-type"), Some(content_type), "{path}");
        assert_eq!(header(&head, "cache-control"), Some("no-cache"), "{path}");
        let etag = header(&head, "etag").unwrap_or_else(|| panic!("{path}: no ETag"));
        assert_eq!(etag.len(), 66, "{path}: {etag}");
        let (status, head) = http_get(peer.web_port, path, &host, &[("If-None-Match", etag)]).await;
        assert_eq!(status, 304, "{path}: {head}");
        assert_eq!(header(&head, "etag"), Some(etag));
        assert!(header(&head, "content-security-policy").is_some());
        let (status, _) = http_get(
            peer.web_port,
            path,
            &host,
            &[("If-None-Match", "\"something-else\"")],
        )
        .await;
        assert_eq!(status, 200, "{path}");
    }
    for missing in [
        "/static/nope.js",
        "/vectors/safety_number_reference.py",
        "/static/%2e%2e/Cargo.toml",
        "/pkg/../../Cargo.toml",
    ] {
        let (status, _) = http_get(peer.web_port, missing, &host, &[]).await;
        assert_eq!(status, 404, "{missing}");
    }
}

#[tokio::test]
async fn web_dir_serves_live_files_from_disk() {
    let dir = temp_dir("webdir");
    std::fs::write(dir.join("index.html"), "<!doctype html><p>first").unwrap();
    let dir_arg = dir.to_str().unwrap().to_owned();
    let peer = Peer::start_with("alice", &["--web-dir", &dir_arg]);
    let (status, body) = http_body(peer.web_port, "/").await;
    assert_eq!((status, body.as_str()), (200, "<!doctype html><p>first"));
    std::fs::write(dir.join("index.html"), "<!doctype html><p>edited").unwrap();
    let (_, body) = http_body(peer.web_port, "/").await;
    assert_eq!(body, "<!doctype html><p>edited");
    let (status, _) = http_body(peer.web_port, "/static/app.js").await;
    assert_eq!(status, 404, "only the override directory is served");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn healthz_answers_ok_without_the_token_and_nothing_else() {
    let peer = Peer::start("alice");
    let (status, body) = http_body(peer.web_port, "/healthz").await;
    assert_eq!((status, body.as_str()), (200, "ok"));
    let host = format!("127.0.0.1:{}", peer.web_port);
    let (_, head) = http_get(peer.web_port, "/healthz", &host, &[]).await;
    assert_eq!(
        header(&head, "content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert!(header(&head, "content-security-policy").is_some());
    // The Host check still applies (DNS rebinding).
    let (status, _) = http_get(
        peer.web_port,
        "/healthz",
        &format!("evil.example:{}", peer.web_port),
        &[],
    )
    .await;
    assert_eq!(status, 403);
}

#[test]
fn version_names_the_crate_version_commit_and_wasm_hash() {
    let out = run(&["--version"], &[]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let pattern = format!("p2p-chat {} (commit ", env!("CARGO_PKG_VERSION"));
    assert!(text.starts_with(&pattern), "{text}");
    let commit = text[pattern.len()..].split(',').next().unwrap();
    let head = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .unwrap();
    assert_eq!(
        commit,
        String::from_utf8_lossy(&head.stdout).trim(),
        "{text}"
    );
    let wasm = Path::new(env!("CARGO_MANIFEST_DIR")).join("../web/pkg/crypto_wasm_bg.wasm");
    let expected = match std::fs::read(&wasm) {
        Ok(bytes) => {
            use sha2::Digest;
            sha2::Sha256::digest(bytes)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        }
        Err(_) => "none".to_owned(),
    };
    assert!(
        text.trim_end()
            .ends_with(&format!(", wasm sha256 {expected})")),
        "{text}"
    );
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn url_prints_the_running_peers_address_from_a_0600_file_new_each_launch() {
    let dir = temp_dir("url");
    let data = dir.to_str().unwrap().to_owned();
    let file = dir.join("ui-url");
    let url_of = || {
        let out = run(&["url", "--data-dir", &data], &[]);
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).trim().to_owned(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };

    let (ok, _, err) = url_of();
    assert!(!ok && err.contains("no running peer"), "{err}");

    let mut args = common::loopback_args(0);
    args.extend(["--data-dir", &data, "--name", "a"].map(String::from));
    let mut first = Peer::start_args(&args);
    let expected = format!("http://127.0.0.1:{}/?token={}", first.web_port, first.token);
    assert_eq!(mode(&file), 0o600);
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        format!("{expected}\n")
    );
    let (ok, printed, err) = url_of();
    assert!(ok, "{err}");
    assert_eq!(printed, expected);
    assert!(first.terminate().success());
    assert!(!file.exists(), "a clean exit removes the token file");

    let mut second = Peer::start_args(&args);
    let (ok, printed, _) = url_of();
    assert!(ok);
    assert_ne!(second.token, first.token);
    assert_eq!(
        printed,
        format!(
            "http://127.0.0.1:{}/?token={}",
            second.web_port, second.token
        )
    );
    // Killed: the file stays, but nothing answers at its address any more.
    second.kill();
    assert!(file.exists());
    let (ok, _, err) = url_of();
    assert!(!ok && err.contains("not running any more"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The peer process and its stdout (kept open: the peer still prints to it).
type Running = (
    std::process::Child,
    std::io::BufReader<std::process::ChildStdout>,
);

/// Starts an ephemeral peer with `$BROWSER` set to `browser`; returns it and its UI URL.
fn start_with_browser(browser: &Path, extra: &[&str]) -> (Running, String) {
    use std::io::BufRead;
    let mut child = Command::new(BIN)
        .args(common::loopback_args(0))
        .args(["--ephemeral", "--name", "a"])
        .args(extra)
        .env("BROWSER", browser)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut url = String::new();
    for _ in 0..2 {
        url.clear();
        stdout.read_line(&mut url).unwrap();
    }
    let url = url.trim().strip_prefix("p2p-chat UI: ").unwrap().to_owned();
    ((child, stdout), url)
}

#[tokio::test]
async fn open_hands_the_token_url_to_the_browser() {
    let dir = temp_dir("open");
    let seen = dir.join("seen-url");
    let browser = dir.join("fake-browser");
    std::fs::write(
        &browser,
        format!(
            "#!/bin/sh\nprintf '%s' \"$1\" > '{0}.tmp' && mv '{0}.tmp' '{0}'\n",
            seen.display()
        ),
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&browser, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let ((mut child, _stdout), url) = start_with_browser(&browser, &["--open"]);
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while !seen.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the browser never started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(url.contains("/?token="), "{url}");
    assert_eq!(std::fs::read_to_string(&seen).unwrap(), url);
    child.kill().unwrap();
    child.wait().unwrap();

    // Not a terminal (stdin is /dev/null here): no browser unless asked.
    std::fs::remove_file(&seen).unwrap();
    let ((mut child, _stdout), _) = start_with_browser(&browser, &[]);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(!seen.exists(), "opened a browser without --open");
    child.kill().unwrap();
    child.wait().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn default_data_directory_is_the_xdg_one_earlier_versions_used() {
    let dir = temp_dir("xdg");
    let xdg = dir.join("xdg-data");
    let home = dir.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let public_key = |out: std::process::Output| {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix("public key:  "))
            .unwrap()
            .to_owned()
    };

    // $XDG_DATA_HOME/p2p-chat/peer-<port>
    let a = public_key(run(
        &["id", "--port", "6123"],
        &[("XDG_DATA_HOME", &xdg), ("HOME", &home)],
    ));
    assert!(xdg.join("p2p-chat/peer-6123/identity.key").is_file());
    // Without XDG_DATA_HOME: ~/.local/share/p2p-chat/peer-<port>
    let b = public_key(run(&["id", "--port", "6123"], &[("HOME", &home)]));
    assert!(home
        .join(".local/share/p2p-chat/peer-6123/identity.key")
        .is_file());
    assert_ne!(a, b);

    // A data directory made by an earlier version (identity written by hand in the documented
    // format) is found and kept.
    let old = home.join(".local/share/p2p-chat/peer-6124");
    std::fs::create_dir_all(&old).unwrap();
    let secret = [7u8; 32];
    let key = crypto_core::encoding::to_base64(&secret);
    std::fs::write(old.join("identity.key"), format!("{key}\n")).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            old.join("identity.key"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
    }
    let c = public_key(run(&["id", "--port", "6124"], &[("HOME", &home)]));
    let expected = crypto_core::Identity::from_secret_bytes(secret)
        .public_key()
        .to_base64();
    assert_eq!(c, expected);
    assert_eq!(
        std::fs::read_to_string(old.join("identity.key")).unwrap(),
        format!("{key}\n")
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
