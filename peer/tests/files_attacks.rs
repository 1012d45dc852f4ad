//! A sender that lies about its file (PROTOCOL.md §5.1): a PROTOCOL.md endpoint on crypto-core
//! offers a file to a real peer and sends corrupted chunks, chunks it was not asked for, and an
//! offer whose whole-file hash does not match its chunks. Nothing unverified is ever written,
//! a corrupted chunk is asked for again, and a file that does not match its hash is deleted.
//! Also: a stranger's offer is refused.

mod attack_helpers;
mod common;
mod files_common;
mod store_common;

use std::time::Duration;

use attack_helpers::{core_initiate, hello, CoreConn};
use crypto_core::merkle::{leaf_hash, Tree};
use crypto_core::primitives::sha256;
use crypto_core::wire::chunk_bytes;
use crypto_core::{encoding, Identity};
use serde_json::{json, Value};
use store_common::{start_in, tempdir};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use common::{Peer, Ui};
use files_common::{received, wait_state};

const CHUNK: usize = 1024;

/// A liar's file: its data, leaves and tree.
struct Fake {
    data: Vec<u8>,
    tree: Tree,
}

impl Fake {
    fn new(len: usize) -> Fake {
        let data = files_common::pattern(len, 77);
        let tree = Tree::from_leaves(data.chunks(CHUNK).map(leaf_hash).collect());
        Fake { data, tree }
    }

    fn offer(&self, id: &str, name: &str, sha256: [u8; 32]) -> Value {
        json!({
            "kind": "file", "id": id, "name": name, "size": self.data.len(),
            "media_type": "application/octet-stream", "chunk_size": CHUNK,
            "sha256": encoding::to_base64(&sha256), "root": encoding::to_base64(&self.tree.root()),
            "sent_at": 1,
        })
    }

    fn chunk(&self, id: &str, index: usize, corrupt: bool) -> Vec<u8> {
        let start = index * CHUNK;
        let mut data = self.data[start..(start + CHUNK).min(self.data.len())].to_vec();
        if corrupt {
            data[0] ^= 0x55;
        }
        chunk_bytes(
            id,
            index as u64,
            &self.tree.proof(index as u64).unwrap(),
            &data,
        )
    }
}

async fn send_raw(conn: &mut CoreConn, plaintext: &[u8]) {
    let line = conn.seal(plaintext);
    conn.writer.write_all(line.as_bytes()).await.unwrap();
}

/// Bob (data directory) and a liar on crypto-core he accepted as a contact.
async fn bob_and_liar(db: &std::path::Path) -> (Peer, Ui, CoreConn) {
    let b = start_in("bob", db, 0, &[]);
    let mut ub = b.ui().await;
    let liar = Identity::generate();
    let stream = TcpStream::connect(("127.0.0.1", b.p2p_port)).await.unwrap();
    let conn = core_initiate(stream, &liar, &hello("mallory", 1)).await;
    let key = liar.public_key().to_base64();
    ub.wait_for("the liar's request", |e| {
        e["type"] == "peer_connected" && e["peer_id"] == key.as_str()
    })
    .await;
    ub.accept_request(&key).await;
    (b, ub, conn)
}

fn is_want(p: &Value, id: &str) -> bool {
    p["kind"] == "file_want" && p["file"] == id
}

#[tokio::test]
async fn a_corrupted_chunk_is_rejected_and_asked_for_again() {
    let db = tempdir();
    let (b, mut ub, mut liar) = bob_and_liar(db.path()).await;
    let fake = Fake::new(2500);
    liar.send(&fake.offer("f1", "liar.bin", sha256(&fake.data)))
        .await;
    let want = liar
        .recv_until(|p| is_want(p, "f1"))
        .await
        .expect("a file_want");
    assert_eq!(want["offset"], 0);
    let offered = ub
        .wait_for("the offer", |e| {
            e["type"] == "peer_message" && e["id"] == "f1"
        })
        .await;
    let key = offered["file"]["key"].as_str().unwrap().to_owned();
    // Chunk 0 honest, chunk 1 corrupted (its proof is the honest one, so it cannot verify).
    send_raw(&mut liar, &fake.chunk("f1", 0, false)).await;
    send_raw(&mut liar, &fake.chunk("f1", 1, true)).await;
    let again = liar
        .recv_until(|p| is_want(p, "f1"))
        .await
        .expect("asked again");
    assert_eq!(
        again["offset"], CHUNK,
        "asked again from the verified offset: {again}"
    );
    // Only the verified chunk is on disk.
    let partial = db.path().join(format!("files/partial/{key}.part"));
    assert_eq!(std::fs::metadata(&partial).unwrap().len(), CHUNK as u64);
    assert!(!received(db.path(), "liar.bin").exists());
    // A chunk it never asked for (beyond the next one) is not written either.
    send_raw(&mut liar, &fake.chunk("f1", 2, false)).await;
    send_raw(&mut liar, &fake.chunk("f1", 1, false)).await;
    send_raw(&mut liar, &fake.chunk("f1", 2, false)).await;
    wait_state(&mut ub, "f1", "complete", Duration::from_secs(15)).await;
    assert_eq!(
        std::fs::read(received(db.path(), "liar.bin")).unwrap(),
        fake.data
    );
    let ack = liar
        .recv_until(|p| p["kind"] == "ack")
        .await
        .expect("an ack");
    assert_eq!(
        ack["id"], "f1",
        "the offer is acknowledged once the file is whole"
    );
    b.wait_for_log("a file chunk failed verification").await;
}

#[tokio::test]
async fn chunks_that_keep_failing_end_the_transfer() {
    let db = tempdir();
    let (_b, mut ub, mut liar) = bob_and_liar(db.path()).await;
    let fake = Fake::new(3000);
    liar.send(&fake.offer("f2", "bad.bin", sha256(&fake.data)))
        .await;
    liar.recv_until(|p| is_want(p, "f2"))
        .await
        .expect("a file_want");
    for _ in 0..3 {
        send_raw(&mut liar, &fake.chunk("f2", 0, true)).await;
        if let Some(p) = liar
            .recv_until(|p| is_want(p, "f2") || p["kind"] == "file_cancel")
            .await
        {
            if p["kind"] == "file_cancel" {
                assert_eq!(p["reason"], "verification");
                break;
            }
        }
    }
    let failed = wait_state(&mut ub, "f2", "failed", Duration::from_secs(15)).await;
    assert_eq!(failed["reason"], "verification");
    assert!(!received(db.path(), "bad.bin").exists());
    let leftovers = std::fs::read_dir(db.path().join("files/partial"))
        .unwrap()
        .count();
    assert_eq!(leftovers, 0, "the partial file was deleted");
}

#[tokio::test]
async fn a_file_whose_whole_hash_does_not_match_is_deleted_and_reported() {
    let db = tempdir();
    let (_b, mut ub, mut liar) = bob_and_liar(db.path()).await;
    let fake = Fake::new(2048);
    // Every chunk matches the root, but the offered SHA-256 is of other bytes.
    liar.send(&fake.offer("f3", "lie.bin", sha256(b"something else")))
        .await;
    liar.recv_until(|p| is_want(p, "f3"))
        .await
        .expect("a file_want");
    send_raw(&mut liar, &fake.chunk("f3", 0, false)).await;
    send_raw(&mut liar, &fake.chunk("f3", 1, false)).await;
    let cancel = liar
        .recv_until(|p| p["kind"] == "file_cancel")
        .await
        .expect("a file_cancel");
    assert_eq!(cancel["reason"], "hash_mismatch");
    let failed = wait_state(&mut ub, "f3", "failed", Duration::from_secs(15)).await;
    assert_eq!(failed["reason"], "hash_mismatch");
    let error = ub
        .wait_for("the error", |e| {
            e["type"] == "error" && e["code"] == "file_failed"
        })
        .await;
    assert!(
        error["message"].as_str().unwrap().contains("SHA-256"),
        "{error}"
    );
    assert!(!received(db.path(), "lie.bin").exists());
    assert_eq!(
        std::fs::read_dir(db.path().join("files/partial"))
            .unwrap()
            .count(),
        0
    );
}

#[tokio::test]
async fn a_strangers_offer_is_refused() {
    let db = tempdir();
    let b = start_in("bob", db.path(), 0, &[]);
    let mut ub = b.ui().await;
    let stranger = Identity::generate();
    let stream = TcpStream::connect(("127.0.0.1", b.p2p_port)).await.unwrap();
    let mut conn = core_initiate(stream, &stranger, &hello("stranger", 1)).await;
    let fake = Fake::new(100);
    conn.send(&fake.offer("s1", "hello.bin", sha256(&fake.data)))
        .await;
    let cancel = conn
        .recv_until(|p| p["kind"] == "file_cancel")
        .await
        .expect("refused");
    assert_eq!(cancel["reason"], "not_contact");
    assert_eq!(cancel["file"], "s1");
    let error = ub
        .wait_for("the refusal", |e| {
            e["type"] == "error" && e["code"] == "file_refused"
        })
        .await;
    assert!(error["message"]
        .as_str()
        .unwrap()
        .contains("only from contacts"));
    assert!(!received(db.path(), "hello.bin").exists());
}
