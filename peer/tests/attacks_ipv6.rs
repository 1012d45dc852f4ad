//! Per-address limits for IPv6 (PROTOCOL.md §9: an IPv6 "address" is its /64), with real
//! sockets in a network namespace of the test's own: a `p2p-chat` peer listens on an IPv6
//! address there, and a small client in the same namespace opens silent connections from
//! several source addresses, two in one /64 and one in another. Needs root and network
//! namespaces; without them the test prints a line starting with "SKIP" and passes nothing.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// A network namespace of this test process, deleted on drop.
struct Netns {
    name: String,
}

impl Netns {
    /// A new namespace, or `None` where namespaces cannot be made (not root, no support).
    fn create(tag: &str) -> Option<Netns> {
        let name = format!("p2psec-{tag}-{}", std::process::id());
        let made = Command::new("ip")
            .args(["netns", "add", &name])
            .stderr(Stdio::null())
            .status()
            .ok()?
            .success();
        made.then_some(Netns { name })
    }

    /// Runs `ip ARGS` inside the namespace; panics if it fails.
    fn ip(&self, args: &[&str]) {
        let status = Command::new("ip")
            .args(["-n", &self.name])
            .args(args)
            .status()
            .expect("ip");
        assert!(status.success(), "ip -n {} {args:?}", self.name);
    }

    /// A command run inside the namespace.
    fn command(&self, program: &str) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.name, program]);
        command
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "delete", &self.name])
            .status();
    }
}

/// Kills the child on drop.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const PEER: &str = "2001:db8:1:2::1";
const SAME_64_A: &str = "2001:db8:1:2::a";
const SAME_64_B: &str = "2001:db8:1:2::b";
const OTHER_64: &str = "2001:db8:1:3::c";
const PORT: &str = "7000";

/// Opens silent connections from each (source, count) in turn, waits, and prints how many of
/// each source's connections the peer has not closed, as JSON.
const CLIENT: &str = r#"
import json, socket, sys, time
dst = (sys.argv[1], int(sys.argv[2]))
plan = json.loads(sys.argv[3])
socks = []
for src, n in plan:
    for _ in range(n):
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.bind((src, 0))
        s.connect(dst)
        socks.append((src, s))
        time.sleep(0.01)
time.sleep(2)
still_open = {src: 0 for src, _ in plan}
for src, s in socks:
    s.setblocking(False)
    try:
        closed = s.recv(1) == b""
    except BlockingIOError:
        closed = False
    except OSError:
        closed = True
    if not closed:
        still_open[src] += 1
print(json.dumps(still_open))
"#;

/// PROTOCOL.md §9.1: an address holds at most `--max-pending-per-ip` (32) pending handshakes,
/// and for IPv6 the address is the /64, so a host cannot multiply its share by taking more
/// addresses from its own /64 (it has 2^64 of them). 40 silent connections from two addresses
/// of one /64 (20 each, one after the other) leave 32 pending — the first address's 8 oldest
/// are evicted — while 5 from another /64 are untouched.
#[test]
fn two_addresses_of_one_ipv6_64_share_one_pending_handshake_cap() {
    if skip_requested() {
        return;
    }
    let Some(ns) = Netns::create("v6") else {
        println!("SKIP: cannot create a network namespace (needs root)");
        return;
    };
    ns.ip(&["link", "set", "lo", "up"]);
    for address in [PEER, SAME_64_A, SAME_64_B, OTHER_64] {
        ns.ip(&[
            "-6",
            "addr",
            "add",
            &format!("{address}/128"),
            "dev",
            "lo",
            "nodad",
        ]);
    }
    let log = std::env::temp_dir().join(format!("p2psec-v6-{}.log", std::process::id()));
    let binary = common::peer_binary();
    let mut args = [
        "--host",
        PEER,
        "--port",
        PORT,
        "--web-port",
        "0",
        "--ephemeral",
        "--name",
        "bob",
    ]
    .map(String::from)
    .to_vec();
    // Nothing to map inside the namespace; builds before port mapping have no such flag (this
    // test is also run against them, `P2P_CHAT_TEST_BIN`).
    if supports(&binary, "--no-port-mapping") {
        args.push("--no-port-mapping".into());
    }
    let mut child = ns
        .command(&binary)
        .args(&args)
        .env("P2P_CHAT_HANDSHAKE_TIMEOUT_MS", "60000")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).expect("log"))
        .spawn()
        .expect("start the peer in the namespace");
    // Kept open to the end: the peer writes more lines, and a closed pipe would end it.
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut first = String::new();
    stdout.read_line(&mut first).expect("the peer's first line");
    let _peer = Running(child);
    assert!(first.contains("listening on"), "{first}");
    println!("peer: {}", first.trim_end());
    let plan = format!(r#"[["{SAME_64_A}", 20], ["{SAME_64_B}", 20], ["{OTHER_64}", 5]]"#);
    let output = ns
        .command("python3")
        .args(["-c", CLIENT, PEER, PORT, &plan])
        .output()
        .expect("run the client in the namespace");
    assert!(
        output.status.success(),
        "client: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let open: serde_json::Value = serde_json::from_slice(&output.stdout).expect("client JSON");
    println!("still pending after the flood: {open}");
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_file(&log);
    assert_eq!(
        (&open[SAME_64_A], &open[SAME_64_B], &open[OTHER_64]),
        (
            &serde_json::json!(12),
            &serde_json::json!(20),
            &serde_json::json!(5)
        ),
        "one /64 holds at most 32, its oldest evicted; the other /64 keeps its 5; log:\n{log_text}"
    );
    assert!(log_text.contains("pending handshake evicted"), "{log_text}");
}

/// Whether `binary --help` lists `flag`.
fn supports(binary: &str, flag: &str) -> bool {
    Command::new(binary)
        .arg("--help")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).contains(flag))
        .unwrap_or(false)
}

/// Only where the test may change network namespaces: as root, and not when asked to skip.
fn skip_requested() -> bool {
    if std::env::var_os("P2P_CHAT_SKIP_NETNS").is_some() {
        println!("SKIP: P2P_CHAT_SKIP_NETNS is set");
        return true;
    }
    false
}
