//! Fault tests on real files: bad files at open, locks, reopening, and real process crashes
//! (the test binary re-executes itself as a child that is aborted or SIGKILLed mid-write).

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::contacts::tests::key;
use super::*;

const SHORT: Duration = Duration::from_millis(200);

fn msg(conv: Conversation, from: u8, id: &str, at: u64) -> ChatMessage {
    ChatMessage {
        conversation: conv,
        sender: key(from),
        id: id.into(),
        text: format!("text of {id} {}", "x".repeat(300)),
        sent_at: at,
        received_at: at,
        reply_to: None,
    }
}

#[test]
fn random_bytes_are_reported_as_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.db");
    let garbage: Vec<u8> = (0..8192u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&path, garbage).unwrap();
    let err = Store::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    assert!(err.to_string().contains("p.db"), "names the file: {err}");
}

#[test]
fn a_damaged_page_is_found_at_open_not_later() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.db");
    let mut s = Store::open(&path).unwrap();
    for i in 0..200 {
        s.insert_incoming(&msg(Conversation::Everyone, 1, &format!("m{i}"), i))
            .unwrap();
    }
    s.close().unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    assert!(
        bytes.len() > 12 * 4096,
        "enough pages to damage one in the middle"
    );
    bytes[10 * 4096..11 * 4096].fill(0xA5);
    std::fs::write(&path, bytes).unwrap();
    let err = Store::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
}

#[test]
fn a_newer_schema_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.db");
    Store::open(&path).unwrap().close().unwrap();
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    drop(raw);
    match Store::open(&path) {
        Err(StoreError::NewerSchema { found, supported }) => {
            assert_eq!((found, supported), (SCHEMA_VERSION + 1, SCHEMA_VERSION));
        }
        other => panic!("expected NewerSchema, got {other:?}"),
    }
    let raw = rusqlite::Connection::open(&path).unwrap();
    let v: i64 = raw
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(v, SCHEMA_VERSION + 1);
}

#[test]
fn an_exclusive_lock_held_elsewhere_gives_locked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.db");
    Store::open(&path).unwrap().close().unwrap();
    let other = rusqlite::Connection::open(&path).unwrap();
    other
        .execute_batch("BEGIN EXCLUSIVE; DELETE FROM rooms;")
        .unwrap();
    let err = Store::open_with_timeout(&path, SHORT).unwrap_err();
    assert!(matches!(err, StoreError::Locked), "{err:?}");
    other.execute_batch("COMMIT").unwrap();
    drop(other);
    Store::open_with_timeout(&path, SHORT).unwrap();
}

#[test]
fn a_second_store_on_the_same_file_gives_locked_until_the_first_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.db");
    // Created and closed first, so the second open migrates nothing: the lock must come from
    // opening alone, not from a migration's write.
    Store::open(&path).unwrap().close().unwrap();
    let first = Store::open(&path).unwrap();
    let err = Store::open_with_timeout(&path, SHORT).unwrap_err();
    assert!(matches!(err, StoreError::Locked), "{err:?}");
    drop(first);
    Store::open_with_timeout(&path, SHORT).unwrap();
}

#[test]
fn an_unopenable_path_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    assert!(Store::open(dir.path().join("missing/dir/p.db")).is_err());
    assert!(Store::open(dir.path()).is_err(), "a directory");
}

#[test]
fn reopening_keeps_contacts_trust_history_outbox_and_rooms() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.db");
    let mut s = Store::open(&path).unwrap();
    s.mark_seen(&key(1), "alice", "127.0.0.1:6001", 6001, 1)
        .unwrap();
    s.mark_seen(&key(2), "bob", "127.0.0.1:6002", 6002, 2)
        .unwrap();
    s.set_verified(&key(1), true).unwrap();
    let change = s
        .record_key_change(&key(2), &key(3), "bob", None, 3)
        .unwrap();
    s.create_room("r", "team", &[key(0), key(1), key(2)], 4)
        .unwrap();
    s.insert_incoming(&msg(Conversation::Peer(key(1)), 1, "in1", 5))
        .unwrap();
    s.enqueue(
        &msg(Conversation::Room("r".into()), 0, "out1", 6),
        &[key(1), key(2)],
    )
    .unwrap();
    s.mark_delivered(&key(1), "out1").unwrap();
    let snapshot = |s: &Store| {
        (
            s.list_contacts().unwrap(),
            s.pending_key_changes().unwrap(),
            s.list_rooms().unwrap(),
            s.history(&Conversation::Peer(key(1)), None, 10).unwrap(),
            s.history(&Conversation::Room("r".into()), None, 10)
                .unwrap(),
            s.pending_for(&key(2)).unwrap(),
            s.recipient_states("out1").unwrap(),
        )
    };
    let before = snapshot(&s);
    drop(s); // no explicit close: dropping must be enough
    let s = Store::open(&path).unwrap();
    assert_eq!(snapshot(&s), before);
    assert_eq!(before.1, vec![change]);
    assert!(before
        .0
        .iter()
        .any(|c| c.public_key == key(1) && c.verified));
    assert_eq!(s.delivery("out1").unwrap(), Some(Delivery::Queued));
}

// ---- real crashes -------------------------------------------------------------------------

const CHILD_ENV: &str = "P2P_CHAT_STORE_CRASH_CHILD";
const RECIPIENTS: [u8; 3] = [1, 2, 3];

/// Not a test in normal runs (returns at once). Re-executed by the tests below with
/// `CHILD_ENV=mode:path`, it writes to the store and dies without closing it.
#[test]
fn crash_child() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let (mode, path) = spec.split_once(':').unwrap();
    let mut s = Store::open(path).unwrap();
    let recipients: Vec<_> = RECIPIENTS.iter().map(|&n| key(n)).collect();
    let mut out = std::io::stdout().lock();
    match mode {
        "abort" => {
            for i in 0..50 {
                s.enqueue(
                    &msg(Conversation::Everyone, 0, &format!("m{i}"), i),
                    &recipients,
                )
                .unwrap();
            }
            for i in 0..10 {
                s.mark_sent(&key(1), &format!("m{i}")).unwrap();
            }
            writeln!(out, "done").unwrap();
            std::process::abort();
        }
        "enqueue" | "receive" => {
            for i in 0.. {
                let m = msg(Conversation::Everyone, 0, &format!("m{i}"), i);
                if mode == "enqueue" {
                    s.enqueue(&m, &recipients).unwrap();
                } else {
                    assert!(s.insert_incoming(&m).unwrap());
                }
                // Only after the call returned: this line is the "UI was told" / "ack sent".
                writeln!(out, "committed {i}").unwrap();
            }
        }
        other => panic!("unknown child mode {other}"),
    }
}

fn spawn_child(mode: &str, path: &Path) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "store::durability_tests::crash_child",
            "--nocapture",
        ])
        .args(["--test-threads=1"])
        .env(CHILD_ENV, format!("{mode}:{}", path.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Reads the child's stdout until `lines` "committed" lines were seen; returns the last index.
fn read_committed(child: &mut Child, lines: usize) -> u64 {
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let mut last = None;
    let mut seen = 0;
    for line in stdout.lines() {
        let line = line.unwrap();
        if let Some(n) = line.strip_prefix("committed ") {
            last = Some(n.parse().unwrap());
            seen += 1;
            if seen == lines {
                break;
            }
        }
    }
    last.expect("child committed nothing")
}

/// Every message row and its outbox rows, checked for atomicity: ids are m0..m(n-1) with no
/// gap or duplicate, each with exactly `per_message` outbox rows. Returns n.
fn check_contiguous(s: &Store, direction: &str, per_message: i64) -> u64 {
    let mut stmt = s
        .conn
        .prepare(
            "SELECT m.msg_id, (SELECT count(*) FROM outbox o WHERE o.message = m.seq)
             FROM messages m WHERE direction = ?1 ORDER BY seq",
        )
        .unwrap();
    let rows: Vec<(String, i64)> = stmt
        .query_map([direction], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for (i, (id, outbox_rows)) in rows.iter().enumerate() {
        assert_eq!(id, &format!("m{i}"), "gap or duplicate");
        assert_eq!(*outbox_rows, per_message, "{id} partially queued");
    }
    rows.len() as u64
}

#[test]
fn abort_after_enqueue_keeps_every_message_queued_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.db");
    let mut child = spawn_child("abort", &path);
    let mut stdout = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut stdout).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        stdout.contains("done"),
        "child failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!output.status.success(), "the child must have aborted");
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(output.status.signal(), Some(6), "SIGABRT");
    }

    let s = Store::open(&path).unwrap();
    assert_eq!(check_contiguous(&s, "out", RECIPIENTS.len() as i64), 50);
    for n in RECIPIENTS {
        let pending = s.pending_for(&key(n)).unwrap();
        let ids: Vec<_> = pending.iter().map(|p| p.id.clone()).collect();
        assert_eq!(ids, (0..50).map(|i| format!("m{i}")).collect::<Vec<_>>());
        let sent = pending.iter().filter(|p| p.state == Delivery::Sent).count();
        assert_eq!(sent, if n == 1 { 10 } else { 0 });
    }
}

fn kill_mid_stream(mode: &str, direction: &str, per_message: i64) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.db");
    let mut child = spawn_child(mode, &path);
    let last_told = read_committed(&mut child, 150);
    child.kill().unwrap(); // SIGKILL: no destructor, no close, possibly mid-transaction
    child.wait().unwrap();

    let s = Store::open(&path).unwrap();
    let stored = check_contiguous(&s, direction, per_message);
    assert!(
        stored > last_told,
        "m{last_told} was reported committed but is missing"
    );
}

#[test]
fn sigkill_while_enqueueing_loses_nothing_reported_and_leaves_no_partial_message() {
    kill_mid_stream("enqueue", "out", RECIPIENTS.len() as i64);
}

#[test]
fn sigkill_while_receiving_loses_nothing_that_could_have_been_acked() {
    kill_mid_stream("receive", "in", 0);
}
