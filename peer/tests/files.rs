//! Files and pictures between real peers (PROTOCOL.md §5.1, §8.11): sizes from empty to 200 MiB
//! arrive byte-identical, limits refuse with a clear `error`, hostile names land cleaned, a room
//! file reaches every member, downloads need the token in a header, and deleting a message
//! deletes its file.

mod common;
mod files_common;
mod store_common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::{Peer, Ui};
use files_common::*;
use serde_json::{json, Value};
use store_common::{start_in, tempdir};

/// Alice (dialler) and Bob with data directories, each the other's contact.
async fn pair(da: &std::path::Path, db: &std::path::Path, b_args: &[&str]) -> (Peer, Peer, Ui, Ui) {
    let a = start_in("alice", da, 0, &[]);
    let b = start_in("bob", db, 0, b_args);
    let mut ua = a.ui().await;
    let mut ub = b.ui().await;
    ua.connect_peer(b.p2p_port, &b.public_key).await;
    ub.wait_for("peer_connected on B", |e| e["type"] == "peer_connected")
        .await;
    ub.accept_request(&a.public_key).await;
    (a, b, ua, ub)
}

/// Waits until the sender sees file message `sent` refused for `reason`.
async fn refused(sender: &mut Ui, sent: &Value, reason: &str) {
    let id = sent["id"].as_str().unwrap();
    let event = wait_state(sender, id, "refused", Duration::from_secs(15)).await;
    assert_eq!(event["reason"], reason, "{event}");
}

/// Waits for the `file_refused` error shown on `ui` and checks it names every one of `words`.
async fn told_refused(ui: &mut Ui, whose: &str, words: &[&str]) {
    let told = ui
        .wait_for(whose, |e| {
            e["type"] == "error" && e["code"] == "file_refused"
        })
        .await;
    let message = told["message"].as_str().unwrap();
    assert!(words.iter().all(|w| message.contains(w)), "{told}");
}

#[tokio::test]
async fn files_of_0_1_and_1_mib_plus_1_bytes_arrive_byte_identical() {
    let (da, db, src) = (tempdir(), tempdir(), tempdir());
    let (a, b, mut ua, mut ub) = pair(da.path(), db.path(), &[]).await;
    for (size, name) in [
        (0usize, "empty.bin"),
        (1, "one.bin"),
        ((1 << 20) + 1, "mib.bin"),
    ] {
        let path = src.path().join(name);
        std::fs::write(&path, pattern(size, size as u64 + 7)).unwrap();
        let sent = send_upload(&a, &mut ua, &path, name, &b.public_key).await;
        let id = sent["id"].as_str().unwrap().to_owned();
        assert_eq!(sent["file"]["size"], size);
        assert_eq!(sent["file"]["sha256"], sha256_file(&path));
        assert_eq!(sent["text"], name);
        // Bob is told of the file, then has it whole; Alice hears that he verified it.
        let offered = ub
            .wait_for("the offer on B", |e| {
                e["type"] == "peer_message" && e["id"] == id.as_str()
            })
            .await;
        assert_eq!(offered["file"]["name"], name);
        assert_eq!(offered["conversation"], a.public_key.as_str());
        wait_state(&mut ub, &id, "complete", Duration::from_secs(30)).await;
        // The offer's ack (delivered) comes only with the whole file verified.
        ua.wait_for("delivered", |e| {
            e["type"] == "delivery" && e["id"] == id.as_str() && e["state"] == "delivered"
        })
        .await;
        wait_state(&mut ua, &id, "complete", Duration::from_secs(30)).await;
        let landed = received(db.path(), name);
        assert_eq!(
            std::fs::read(&landed).unwrap(),
            std::fs::read(&path).unwrap()
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&landed).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{name}");
        }
        // The page downloads it with the token in a header.
        let key = offered["file"]["key"].as_str().unwrap();
        let got = download(&b, key).await;
        assert_eq!(got.status, 200, "{}", got.head);
        assert_eq!(got.body, std::fs::read(&path).unwrap());
        assert!(got
            .head
            .to_ascii_lowercase()
            .contains("content-disposition: attachment"));
    }
    // History shows both sides' file messages with their states.
    ub.send(json!({"action": "load_history", "conversation": a.public_key}))
        .await;
    let history = ub.wait_type("history").await;
    let files: Vec<&Value> = history["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["file"].is_object())
        .collect();
    assert_eq!(files.len(), 3);
    assert!(files.iter().all(|m| m["file"]["state"] == "complete"));
}

#[tokio::test]
async fn a_200_mib_file_arrives_byte_identical_through_send_file() {
    let (da, db, src) = (tempdir(), tempdir(), tempdir());
    let (a, b, _ua, mut ub) = pair(da.path(), db.path(), &[]).await;
    let path = src.path().join("big.bin");
    write_pattern_file(&path, 200 << 20, 42);
    let started = Instant::now();
    // Handed to Alice's running peer through its local API.
    let out = tokio::process::Command::new(common::BIN)
        .args(["send-file", &format!("127.0.0.1:{}", b.p2p_port)])
        .arg(&path)
        .arg("--data-dir")
        .arg(da.path())
        .output()
        .await
        .unwrap();
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "send-file failed: {stderr}");
    assert!(stderr.contains("verified by the receiver"), "{stderr}");
    assert!(
        stderr.contains("handing big.bin to the peer running"),
        "{stderr}"
    );
    let offered = ub
        .wait_for("the offer", |e| {
            e["type"] == "peer_message" && e["file"].is_object()
        })
        .await;
    assert_eq!(offered["file"]["size"], 200u64 << 20);
    assert_eq!(
        sha256_file(&received(db.path(), "big.bin")),
        sha256_file(&path)
    );
    eprintln!("200 MiB through send-file and the running peer in {took:?}");
    drop(a);
}

/// Bob on 127.0.0.2:P behind a relay on 127.0.0.1:P: Alice first reaches him through it.
/// After a restart the two may also reach each other directly (Bob's announced address, or
/// Bob dialling his contacts at start: PROTOCOL.md §7.1, §7.3), so what was sent is counted
/// at the sender ([`sent_by`]), not at the relay.
async fn relayed_pair(
    da: &std::path::Path,
    db: &std::path::Path,
) -> (Peer, Peer, Ui, Ui, CountingRelay) {
    let b = start_bob_at(db, 0);
    let relay = CountingRelay::start_at(b.p2p_port, ("127.0.0.2", b.p2p_port)).await;
    let a = start_in("alice", da, 0, &[]);
    let mut ua = a.ui().await;
    let mut ub = b.ui().await;
    ua.connect_peer(relay.port, &b.public_key).await;
    ub.wait_for("peer_connected on B", |e| e["type"] == "peer_connected")
        .await;
    ub.accept_request(&a.public_key).await;
    (a, b, ua, ub, relay)
}

/// Bob keeping his state in `dir`, listening on 127.0.0.2 (`port` 0: any).
fn start_bob_at(dir: &std::path::Path, port: u16) -> Peer {
    let port = port.to_string();
    let args: Vec<String> = [
        "--host",
        "127.0.0.2",
        "--port",
        &port,
        "--web-port",
        "0",
        "--data-dir",
        &dir.display().to_string(),
        "--name",
        "bob",
        "--redial-base-ms",
        "100",
    ]
    .map(String::from)
    .to_vec();
    Peer::start_args(&args)
}

/// Wire bytes of `file_bytes` of chunks: the sealed chunk (its header with a proof of up to
/// 17 hashes, 0x00, the bytes, the tag) in a binary `data` frame (PROTOCOL.md §4.1), ~1 %
/// more than the chunk (as base64 in a line it was 36 % more).
fn wire_bytes(file_bytes: u64) -> u64 {
    file_bytes * 102 / 100
}

const KILL_TEST_SIZE: u64 = 128 << 20;

/// The bytes each established TCP connection of process `pid` has sent so far, by its
/// "local peer" address pair (`ss -tinp`, iproute2: the kernel's `bytes_sent` of each socket,
/// retransmissions included). A relay cannot count what the sender sends: after a restart the
/// two peers also reach each other directly (PROTOCOL.md §7.1, §7.3).
fn sent_by(pid: u32) -> HashMap<String, u64> {
    let out = std::process::Command::new("ss")
        .args(["-tinpH", "state", "established"])
        .output()
        .expect("ss (iproute2) is needed to count what the sender sent");
    assert!(out.status.success(), "ss failed");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut sockets = HashMap::new();
    let mut current: Option<String> = None;
    let owner = format!("pid={pid},");
    for line in text.lines() {
        if !line.starts_with(char::is_whitespace) {
            // "Recv-Q Send-Q local peer users:((...))"
            let fields: Vec<&str> = line.split_whitespace().collect();
            current = (line.contains(&owner) && fields.len() >= 4)
                .then(|| format!("{} {}", fields[2], fields[3]));
        } else if let Some(socket) = current.take() {
            let sent = line
                .split_whitespace()
                .find_map(|f| f.strip_prefix("bytes_sent:"))
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            sockets.insert(socket, sent);
        }
    }
    sockets
}

/// Bytes sent between the `before` sample and the later ones (a socket seen in several
/// samples counts its largest figure once; one that closed counts as last seen).
fn sent_between(before: &HashMap<String, u64>, later: &[&HashMap<String, u64>]) -> u64 {
    let mut last: HashMap<&String, u64> = HashMap::new();
    for sample in later {
        for (socket, sent) in sample.iter() {
            let entry = last.entry(socket).or_default();
            *entry = (*entry).max(*sent);
        }
    }
    last.into_iter()
        .map(|(socket, sent)| sent.saturating_sub(before.get(socket).copied().unwrap_or(0)))
        .sum()
}

/// What the sender may have sent for one transfer of [`KILL_TEST_SIZE`]: everything once,
/// plus the window and the chunks in flight at the kill, plus the page's events. A restart
/// from zero would add another ~40 % of the file (~70 MB on the wire).
fn at_most_once(sent_bytes: u64) {
    assert!(
        sent_bytes >= wire_bytes(KILL_TEST_SIZE) * 95 / 100,
        "{sent_bytes}: the counter missed the transfer"
    );
    assert!(
        sent_bytes <= wire_bytes(KILL_TEST_SIZE + (3 << 20)) + (8 << 20),
        "{sent_bytes} bytes: verified chunks were sent again"
    );
}

/// A [`KILL_TEST_SIZE`] transfer from Alice to Bob, watched until Bob has verified two
/// fifths of it: what the kill tests need to check afterwards.
struct Halfway {
    path: std::path::PathBuf,
    id: String,
    /// Alice's socket counters before the transfer and at the moment it was two fifths done.
    before: HashMap<String, u64>,
    at_kill_sockets: HashMap<String, u64>,
    /// Bob's verified bytes then.
    at_kill: u64,
}

impl Halfway {
    /// After the restart: `ui` sees the transfer complete, the file in `db` is byte-identical,
    /// and the receiver resumed from what it had verified rather than starting again.
    async fn resumed(&self, ui: &mut Ui, receiver: &Peer, db: &std::path::Path) {
        wait_state(ui, &self.id, "complete", Duration::from_secs(90)).await;
        assert_eq!(
            sha256_file(&received(db, "half.bin")),
            sha256_file(&self.path)
        );
        receiver.wait_for_log("resuming a received file at").await;
    }
}

async fn send_until_two_fifths(
    (a, ua): (&Peer, &mut Ui),
    (b, ub): (&Peer, &mut Ui),
    src: &std::path::Path,
    seed: u64,
) -> Halfway {
    let path = src.join("half.bin");
    write_pattern_file(&path, KILL_TEST_SIZE, seed);
    let sent = send_upload(a, ua, &path, "half.bin", &b.public_key).await;
    let id = sent["id"].as_str().unwrap().to_owned();
    let before = sent_by(a.child.id());
    let half = wait_bytes(ub, &id, KILL_TEST_SIZE * 2 / 5, Duration::from_secs(60)).await;
    let at_kill_sockets = sent_by(a.child.id());
    let at_kill = half["bytes"].as_u64().unwrap();
    assert!(at_kill < KILL_TEST_SIZE, "killed before the end");
    Halfway {
        path,
        id,
        before,
        at_kill_sockets,
        at_kill,
    }
}

#[tokio::test]
async fn kill_9_of_the_sender_at_half_resumes_without_resending_verified_chunks() {
    let (da, db, src) = (tempdir(), tempdir(), tempdir());
    let (mut a, b, mut ua, mut ub, _relay) = relayed_pair(da.path(), db.path()).await;
    let half = send_until_two_fifths((&a, &mut ua), (&b, &mut ub), src.path(), 9).await;
    a.kill();
    // Back on the same port and data directory: the two reconnect and Alice offers the file
    // again; Bob asks from what he verified.
    let a_port = a.p2p_port;
    let a2 = start_in("alice", da.path(), a_port, &[]);
    half.resumed(&mut ub, &b, db.path()).await;
    let sent_bytes = sent_between(&half.before, &[&half.at_kill_sockets])
        + sent_between(&HashMap::new(), &[&sent_by(a2.child.id())]);
    eprintln!(
        "sender killed at {} of {KILL_TEST_SIZE} bytes; its two runs sent {sent_bytes} bytes",
        half.at_kill
    );
    at_most_once(sent_bytes);
}

#[tokio::test]
async fn kill_9_of_the_receiver_at_half_resumes_without_resending_verified_chunks() {
    let (da, db, src) = (tempdir(), tempdir(), tempdir());
    let (a, mut b, mut ua, mut ub, _relay) = relayed_pair(da.path(), db.path()).await;
    let half = send_until_two_fifths((&a, &mut ua), (&b, &mut ub), src.path(), 10).await;
    b.kill();
    drop(ub);
    let b_port = b.p2p_port;
    let b = start_bob_at(db.path(), b_port);
    half.resumed(&mut ua, &b, db.path()).await;
    let sent_bytes = sent_between(
        &half.before,
        &[&half.at_kill_sockets, &sent_by(a.child.id())],
    );
    eprintln!(
        "receiver killed at {} of {KILL_TEST_SIZE} bytes; the sender sent {sent_bytes} bytes",
        half.at_kill
    );
    at_most_once(sent_bytes);
    // No partial file or leaves are left behind.
    let partial = std::fs::read_dir(db.path().join("files/partial"))
        .unwrap()
        .count();
    assert_eq!(partial, 0);
}

#[tokio::test]
async fn size_and_quota_limits_refuse_with_a_clear_error() {
    let (da, db, dc, src) = (tempdir(), tempdir(), tempdir(), tempdir());
    let (a, b, mut ua, mut ub) = pair(
        da.path(),
        db.path(),
        &[
            "--max-file-size",
            "10K",
            "--file-quota-per-contact",
            "15K",
            "--file-quota",
            "18K",
        ],
    )
    .await;
    let write = |name: &str, len: usize| {
        let path = src.path().join(name);
        std::fs::write(&path, pattern(len, len as u64)).unwrap();
        path
    };
    // Over Bob's largest file.
    let sent = send_upload(
        &a,
        &mut ua,
        &write("big.bin", 11 << 10),
        "big.bin",
        &b.public_key,
    )
    .await;
    refused(&mut ua, &sent, "too_large").await;
    told_refused(&mut ua, "Alice's error", &["big.bin"]).await;
    told_refused(&mut ub, "Bob's error", &["big.bin", "10240-byte limit"]).await;
    // Within the quota, then over Alice's share of it.
    let ok = send_upload(
        &a,
        &mut ua,
        &write("ten.bin", 10 << 10),
        "ten.bin",
        &b.public_key,
    )
    .await;
    wait_state(
        &mut ub,
        ok["id"].as_str().unwrap(),
        "complete",
        Duration::from_secs(15),
    )
    .await;
    let over = send_upload(
        &a,
        &mut ua,
        &write("six.bin", 6 << 10),
        "six.bin",
        &b.public_key,
    )
    .await;
    refused(&mut ua, &over, "quota").await;
    told_refused(&mut ub, "Bob's quota error", &["quota per contact"]).await;
    // Carol's own share is free, but all received files together would pass 18K.
    let c = start_in("carol", dc.path(), 0, &[]);
    let mut uc = c.ui().await;
    uc.connect_peer(b.p2p_port, &b.public_key).await;
    ub.accept_request(&c.public_key).await;
    let total = send_upload(
        &c,
        &mut uc,
        &write("nine.bin", 9 << 10),
        "nine.bin",
        &b.public_key,
    )
    .await;
    refused(&mut uc, &total, "quota").await;
    told_refused(&mut ub, "Bob's total quota error", &["18432-byte quota"]).await;
    for name in ["big.bin", "six.bin", "nine.bin"] {
        assert!(!received(db.path(), name).exists(), "{name}");
    }
    // Sending something over our own limit is an error at once.
    let small = start_in(
        "dave",
        &da.path().join("dave"),
        0,
        &["--max-file-size", "1K"],
    );
    let mut ud = small.ui().await;
    ud.connect_peer(b.p2p_port, &b.public_key).await;
    let origin = small.origin();
    let too_big = http(
        small.web_port,
        "POST",
        "/files",
        &[("X-P2P-Chat-Token", &small.token), ("Origin", &origin)],
        Some(&write("two.bin", 2048)),
    )
    .await;
    assert_eq!(too_big.status, 413, "{}", too_big.head);
    assert!(String::from_utf8_lossy(&too_big.body).contains("--max-file-size"));
    // An upload id it never gave is an error of send_file.
    ud.send(json!({"action": "send_file", "upload": "0".repeat(32), "name": "x", "to": b.public_key, "req": 9}))
        .await;
    let error = ud
        .wait_for("send_file error", |e| e["type"] == "error" && e["req"] == 9)
        .await;
    assert_eq!(error["message"], "no such upload", "{error}");
}

#[tokio::test]
async fn hostile_names_land_cleaned_and_collisions_are_renamed() {
    let (da, db, src) = (tempdir(), tempdir(), tempdir());
    let (a, b, mut ua, mut ub) = pair(da.path(), db.path(), &[]).await;
    let cases = [
        ("../../.ssh/authorized_keys", "_.._.ssh_authorized_keys"),
        ("/etc/passwd", "_etc_passwd"),
        (".bashrc", "bashrc"),
        ("CON", "_CON"),
        ("invoice_\u{202e}fdp.exe", "invoice_fdp.exe"),
        ("same.txt", "same.txt"),
        ("same.txt", "same (1).txt"),
    ];
    for (i, (name, landed)) in cases.iter().enumerate() {
        let path = src.path().join(format!("f{i}"));
        std::fs::write(&path, format!("content {i}")).unwrap();
        let sent = send_upload(&a, &mut ua, &path, name, &b.public_key).await;
        let id = sent["id"].as_str().unwrap().to_owned();
        wait_state(&mut ub, &id, "complete", Duration::from_secs(15)).await;
        let file = received(db.path(), landed);
        assert_eq!(
            std::fs::read_to_string(&file).unwrap_or_default(),
            format!("content {i}"),
            "{name:?} should land as {landed:?}"
        );
    }
    // Nothing was written anywhere else.
    let mut landed: Vec<String> = std::fs::read_dir(db.path().join("files/received"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    landed.sort();
    assert_eq!(landed.len(), cases.len(), "{landed:?}");
    assert!(!db.path().join(".ssh").exists() && !db.path().join("passwd").exists());
}

#[tokio::test]
async fn a_room_file_reaches_every_member() {
    let (da, db, dc, src) = (tempdir(), tempdir(), tempdir(), tempdir());
    let a = start_in("alice", da.path(), 0, &[]);
    let b = start_in("bob", db.path(), 0, &[]);
    let c = start_in("carol", dc.path(), 0, &[]);
    let (mut ua, mut ub, mut uc) = (a.ui().await, b.ui().await, c.ui().await);
    ua.connect_peer(b.p2p_port, &b.public_key).await;
    ua.connect_peer(c.p2p_port, &c.public_key).await;
    ub.accept_request(&a.public_key).await;
    uc.accept_request(&a.public_key).await;
    ua.send(
        json!({"action": "create_room", "name": "club", "members": [b.public_key, c.public_key]}),
    )
    .await;
    let room = ua.wait_type("room").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    ub.wait_type("room").await;
    uc.wait_type("room").await;
    let path = src.path().join("photo.png");
    write_pattern_file(&path, 3 << 20, 5);
    let sent = send_upload(&a, &mut ua, &path, "photo.png", &room).await;
    let id = sent["id"].as_str().unwrap().to_owned();
    assert_eq!(sent["conversation"], room.as_str());
    for (ui, dir) in [(&mut ub, &db), (&mut uc, &dc)] {
        let offered = ui
            .wait_for("the room offer", |e| {
                e["type"] == "peer_message" && e["id"] == id.as_str()
            })
            .await;
        assert_eq!(offered["conversation"], room.as_str());
        wait_state(ui, &id, "complete", Duration::from_secs(30)).await;
        assert_eq!(
            sha256_file(&received(dir.path(), "photo.png")),
            sha256_file(&path)
        );
    }
    // Alice hears of both members.
    let mut done = std::collections::HashSet::new();
    while done.len() < 2 {
        let e = wait_state(&mut ua, &id, "complete", Duration::from_secs(30)).await;
        done.insert(e["peer_id"].as_str().unwrap().to_owned());
    }
    assert!(done.contains(&b.public_key) && done.contains(&c.public_key));
}

#[tokio::test]
async fn deleting_a_file_message_deletes_its_file_and_export_lists_files() {
    let (da, db, src) = (tempdir(), tempdir(), tempdir());
    let (a, mut b, mut ua, mut ub) = pair(da.path(), db.path(), &["--timer-unit-ms", "1"]).await;
    let send = |name: &'static str| {
        let path = src.path().join(name);
        std::fs::write(&path, format!("bytes of {name}")).unwrap();
        path
    };
    let p1 = send("local.txt");
    let p2 = send("unsent.txt");
    let p3 = send("kept.txt");
    let mut ids = Vec::new();
    for (path, name) in [(&p1, "local.txt"), (&p2, "unsent.txt"), (&p3, "kept.txt")] {
        let sent = send_upload(&a, &mut ua, path, name, &b.public_key).await;
        let id = sent["id"].as_str().unwrap().to_owned();
        wait_state(&mut ub, &id, "complete", Duration::from_secs(15)).await;
        assert!(received(db.path(), name).exists());
        ids.push(id);
    }
    // Bob deletes one on his device; Alice deletes another for everyone.
    ub.send(json!({"action": "delete_message", "conversation": a.public_key, "id": ids[0], "from": a.public_key}))
        .await;
    ub.wait_type("message_deleted").await;
    assert!(
        !received(db.path(), "local.txt").exists(),
        "a local delete removes the file"
    );
    ua.send(json!({"action": "delete_for_everyone", "id": ids[1]}))
        .await;
    ub.wait_for("message_unsent", |e| {
        e["type"] == "message_unsent" && e["id"] == ids[1].as_str()
    })
    .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while received(db.path(), "unsent.txt").exists() {
        assert!(
            Instant::now() < deadline,
            "a delete for everyone removes the file"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Alice's copy of her upload goes with her own message too.
    let sent_dir = da.path().join("files/sent");
    let copies = |dir: &std::path::Path| {
        std::fs::read_dir(dir)
            .unwrap()
            .filter(|e| {
                !e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".leaves")
            })
            .count()
    };
    assert_eq!(
        copies(&sent_dir),
        2,
        "local.txt's and kept.txt's copies stay"
    );
    // Disappearing messages: a file received while the timer is on goes when it expires.
    ub.send(json!({"action": "set_timer", "conversation": a.public_key, "seconds": 300}))
        .await;
    ua.wait_type("timer").await;
    let p4 = send("fleeting.txt");
    let sent = send_upload(&a, &mut ua, &p4, "fleeting.txt", &b.public_key).await;
    let fleeting = sent["id"].as_str().unwrap().to_owned();
    ub.wait_for("expired", |e| {
        e["type"] == "message_deleted" && e["id"] == fleeting.as_str() && e["reason"] == "expired"
    })
    .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while received(db.path(), "fleeting.txt").exists() {
        assert!(
            Instant::now() < deadline,
            "an expired file message removes its file"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    ub.send(json!({"action": "set_timer", "conversation": a.public_key, "seconds": 0}))
        .await;
    ub.wait_type("timer").await;
    // The export of Bob's stopped peer lists the file that is left, with where it is.
    drop(ub);
    assert!(b.terminate().success());
    let out = std::process::Command::new(common::BIN)
        .args(["export", "--format", "json", "--data-dir"])
        .arg(db.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let export: Value = serde_json::from_slice(&out.stdout).unwrap();
    let files: Vec<&Value> = export["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["file"].is_object())
        .collect();
    assert_eq!(files.len(), 1, "{export}");
    let kept = &files[0]["file"];
    assert_eq!(kept["name"], "kept.txt");
    assert_eq!(kept["state"], "complete");
    assert_eq!(kept["sha256"], sha256_file(&p3));
    assert_eq!(
        kept["path"],
        received(db.path(), "kept.txt")
            .display()
            .to_string()
            .as_str()
    );
}

#[tokio::test]
async fn pause_resume_cancel_and_retry_reach_both_sides() {
    let (da, db, src) = (tempdir(), tempdir(), tempdir());
    let (a, b, mut ua, mut ub) = pair(da.path(), db.path(), &[]).await;
    let path = src.path().join("long.bin");
    write_pattern_file(&path, 96 << 20, 21);
    let sent = send_upload(&a, &mut ua, &path, "long.bin", &b.public_key).await;
    let id = sent["id"].as_str().unwrap().to_owned();
    let from = a.public_key.clone();
    wait_bytes(&mut ub, &id, 1, Duration::from_secs(30)).await;
    // Bob pauses: Alice is told, and the bytes stop.
    ub.send(json!({"action": "pause_file", "from": from, "id": id}))
        .await;
    let paused = wait_state(&mut ua, &id, "paused", Duration::from_secs(15)).await;
    assert_eq!(paused["reason"], "paused by the other side");
    // Both sides say how far it got ("Paused at …"), not 0.
    let here = wait_state(&mut ub, &id, "paused", Duration::from_secs(15)).await;
    let at = here["bytes"].as_u64().unwrap();
    assert!(at > 0, "{here}");
    assert!(paused["bytes"].as_u64().unwrap() > 0, "{paused}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let partial_size = |dir: &std::path::Path| -> u64 {
        std::fs::read_dir(dir.join("files/partial"))
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".part"))
            .map(|e| e.metadata().unwrap().len())
            .sum()
    };
    let held = partial_size(db.path());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(partial_size(db.path()), held, "nothing moves while paused");
    assert!(held < 96 << 20);
    // Resumed, it completes.
    ub.send(json!({"action": "resume_file", "from": from, "id": id}))
        .await;
    wait_state(&mut ub, &id, "complete", Duration::from_secs(60)).await;
    assert_eq!(
        sha256_file(&received(db.path(), "long.bin")),
        sha256_file(&path)
    );
    // Bob cancels another: Alice hears it, Bob's partial file goes; Bob's retry starts over.
    let sent = send_upload(&a, &mut ua, &path, "again.bin", &b.public_key).await;
    let id = sent["id"].as_str().unwrap().to_owned();
    wait_bytes(&mut ub, &id, 1, Duration::from_secs(30)).await;
    ub.send(json!({"action": "cancel_file", "from": from, "id": id}))
        .await;
    let cancelled = wait_state(&mut ua, &id, "cancelled", Duration::from_secs(15)).await;
    assert_eq!(cancelled["reason"], "cancelled");
    wait_state(&mut ub, &id, "cancelled", Duration::from_secs(15)).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(partial_size(db.path()), 0, "the partial file is deleted");
    // Nothing to resume once cancelled; a retry starts over.
    ub.send(json!({"action": "resume_file", "from": from, "id": id, "req": 3}))
        .await;
    let error = ub
        .wait_for("resume error", |e| e["type"] == "error" && e["req"] == 3)
        .await;
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("nothing to resume"),
        "{error}"
    );
    ub.send(json!({"action": "retry_file", "from": from, "id": id}))
        .await;
    wait_state(&mut ub, &id, "complete", Duration::from_secs(60)).await;
    assert_eq!(
        sha256_file(&received(db.path(), "again.bin")),
        sha256_file(&path)
    );
    wait_state(&mut ua, &id, "complete", Duration::from_secs(15)).await;
}

/// A file sent by path is the user's: any program may write it. Edited in place while its
/// transfer is paused, with its modification time put back (as `cp -p` or `touch -r` leave
/// it), it must stop as `changed` at the first edited chunk: never sent, so the receiver
/// never has to reject it.
#[tokio::test]
async fn a_file_sent_by_path_and_edited_with_its_time_put_back_stops_as_changed() {
    let (da, db, src) = (tempdir(), tempdir(), tempdir());
    let (a, b, _ua, mut ub) = pair(da.path(), db.path(), &[]).await;
    let api = std::fs::read_to_string(da.path().join("api-token")).unwrap();
    let origin = a.origin();
    let mut api_ui = Ui::connect_with_headers(
        a.web_port,
        &a.token,
        &[
            ("origin", origin.as_str()),
            ("x-p2p-chat-api-token", api.trim()),
        ],
    )
    .await
    .expect("the local API token is accepted");
    let path = src.path().join("draft.bin");
    let size: u64 = 64 << 20;
    write_pattern_file(&path, size, 5);
    let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
    api_ui
        .send(json!({"action": "send_file", "path": path, "to": b.public_key, "req": 1}))
        .await;
    let sent = api_ui
        .wait_for("message_sent", |e| {
            assert_ne!(e["type"], "error", "{e}");
            e["type"] == "message_sent"
        })
        .await;
    let id = sent["id"].as_str().unwrap().to_owned();
    let from = a.public_key.clone();
    wait_bytes(&mut ub, &id, 1, Duration::from_secs(30)).await;
    ub.send(json!({"action": "pause_file", "from": from, "id": id}))
        .await;
    wait_state(&mut api_ui, &id, "paused", Duration::from_secs(15)).await;

    // The last MiB rewritten in place, same length, then the old modification time back.
    {
        use std::io::{Seek, SeekFrom, Write};
        let mut file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        file.seek(SeekFrom::Start(size - (1 << 20))).unwrap();
        file.write_all(&vec![0xAB; 1 << 20]).unwrap();
        file.set_modified(modified).unwrap();
    }
    assert_eq!(
        std::fs::metadata(&path).unwrap().modified().unwrap(),
        modified
    );

    ub.send(json!({"action": "resume_file", "from": from, "id": id}))
        .await;
    let stopped = wait_state(&mut ub, &id, "failed", Duration::from_secs(60)).await;
    assert_eq!(stopped["reason"], "changed", "{stopped}");
    let mine = wait_state(&mut api_ui, &id, "failed", Duration::from_secs(15)).await;
    assert_eq!(mine["reason"], "changed", "{mine}");
    assert!(
        !b.log().contains("failed verification"),
        "no edited chunk reached the receiver"
    );
}
