//! A contact that lies, for the network lab (tests/netlab/reach.test.mjs): a PROTOCOL.md
//! endpoint on crypto-core that answers one dial, then sends, over that authenticated session,
//! an `addresses` payload naming another key and an `introduce_result` nobody asked for, both
//! pointing at a "trap" listener (PROTOCOL.md §7.1 says neither may change that other key's
//! address list nor make the peer dial). It prints what happens, one line each:
//! `forger identity: KEY`, `forger listening`, `forger session with KEY`, `forged sent`,
//! `trap dialled from ADDR`.
//!
//! Usage: `netlab_forger LISTEN_ADDR TRAP_ADDR VICTIM_KEY` (the key the lies are about). Runs
//! until killed.

#[path = "../tests/attack_helpers/mod.rs"]
mod attack_helpers;

mod common {
    /// How long the endpoint waits for a dial or a line (attack_helpers' bound).
    pub const EVENT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);
}

use std::net::SocketAddr;

use attack_helpers::{core_respond, hello};
use crypto_core::introduce::introduction_tag;
use crypto_core::{Identity, PublicKey};
use serde_json::json;
use tokio::net::TcpListener;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [listen, trap, victim] = args.as_slice() else {
        eprintln!("usage: netlab_forger LISTEN_ADDR TRAP_ADDR VICTIM_KEY");
        std::process::exit(2);
    };
    let listen: SocketAddr = listen.parse().expect("LISTEN_ADDR");
    let trap_addr: SocketAddr = trap.parse().expect("TRAP_ADDR");
    let victim = PublicKey::from_base64(victim).expect("VICTIM_KEY");

    let identity = Identity::generate();
    println!("forger identity: {}", identity.public_key().to_base64());
    let listener = TcpListener::bind(listen).await.expect("bind LISTEN_ADDR");
    let trap = TcpListener::bind(trap_addr).await.expect("bind TRAP_ADDR");
    tokio::spawn(async move {
        while let Ok((_, from)) = trap.accept().await {
            println!("trap dialled from {from}");
        }
    });
    println!("forger listening");

    let mut conn = core_respond(&listener, &identity, &hello("mallory", listen.port())).await;
    println!("forger session with {}", conn.remote.to_base64());
    // The peer announces its own addresses first (it dialled us: we are its contact).
    conn.recv_until(|p| p["kind"] == "addresses").await;
    let trap_text = trap_addr.to_string();
    // "These are the victim's addresses": a field the payload does not have, so they are ours.
    conn.send(&json!({
        "kind": "addresses",
        "peer": victim.to_base64(),
        "observed": listen.to_string(),
        "addresses": [trap_text, "11.0.0.77:6000"],
        "kinds": ["lan", "mapped"],
    }))
    .await;
    // An introduction "accepted" by the victim, for a request never made.
    conn.send(&json!({
        "kind": "introduce_result",
        "id": "never-asked",
        "peer": introduction_tag(&conn.remote, &victim),
        "outcome": "accepted",
        "addresses": [trap_text],
        "kinds": ["observed"],
    }))
    .await;
    println!("forged sent");
    // Keep the session until the peer ends it, then wait to be killed.
    while conn.recv().await.is_some() {}
    println!("forger session ended");
    std::future::pending::<()>().await;
}
