//! Runs one test inside a private network namespace that holds nothing but a loopback
//! interface, so that what it multicasts cannot reach the computer's real network.
//!
//! The test calls [`isolated`] with its own name. On the first call (in the computer's own
//! namespace) this re-executes the test binary under `unshare --net` (util-linux), filtered to
//! that one test, and checks that it ran and passed there. Inside, the same call proves it is
//! in a namespace of its own (not the one it was started from, no interface but `lo`), brings
//! `lo` up with multicast on, and only then runs the body.
//!
//! Without root, `unshare` or `ip` (iproute2), or when the kernel refuses a new namespace, it
//! prints a line starting with `SKIP` and returns: the line is written to the process's stderr
//! directly, past the test harness's capture, so a skip shows in `cargo test` output and is
//! never a silent pass.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Names the test the re-executed binary is to run isolated.
const RUN_ENV: &str = "P2P_CHAT_TEST_PRIVATE_NETNS";
/// The network namespace (its `/proc/self/ns/net` link) the re-execution started from.
const FROM_ENV: &str = "P2P_CHAT_TEST_HOST_NETNS";
/// The longest the isolated run may take.
const LIMIT: Duration = Duration::from_secs(90);

/// Runs `body` in a private loopback-only network namespace (see the module doc); returns
/// without running it, after a visible `SKIP` line, where that cannot be had.
pub fn isolated<F: std::future::Future<Output = ()>>(test: &str, body: impl FnOnce() -> F) {
    if std::env::var(RUN_ENV).as_deref() == Ok(test) {
        enter(test);
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime")
            .block_on(body());
        return;
    }
    if let Err(why) = can_isolate() {
        skip(test, &why);
        return;
    }
    rerun(test);
}

fn skip(test: &str, why: &str) {
    // Straight to the file descriptor: `eprintln!` would be captured by the test harness and
    // shown only on failure. On a line of its own, after the harness's "test NAME ... ".
    let _ = writeln!(std::io::stderr(), "\nSKIP {test}: {why}");
}

fn own_netns() -> String {
    std::fs::read_link("/proc/self/ns/net")
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}

fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

fn runs(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn can_isolate() -> Result<(), String> {
    if effective_uid() != Some(0) {
        return Err("needs root (a private network namespace)".into());
    }
    if !runs("ip", &["-V"]) {
        return Err("no ip(8) (iproute2)".into());
    }
    if !runs("unshare", &["--version"]) {
        return Err("no unshare(1) (util-linux)".into());
    }
    if !runs("unshare", &["--net", "--", "ip", "link", "set", "lo", "up"]) {
        return Err("cannot create a network namespace here".into());
    }
    Ok(())
}

/// Re-executes this test binary, filtered to `test`, in a new network namespace; panics unless
/// exactly that one test ran there and passed.
fn rerun(test: &str) {
    let exe = std::env::current_exe().expect("the test binary's path");
    let stdout = tempfile::NamedTempFile::new().expect("temp file");
    let stderr = tempfile::NamedTempFile::new().expect("temp file");
    let mut child = Command::new("unshare")
        .arg("--net")
        .arg("--")
        .arg(&exe)
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(RUN_ENV, test)
        .env(FROM_ENV, own_netns())
        .stdin(Stdio::null())
        .stdout(stdout.reopen().expect("temp file"))
        .stderr(stderr.reopen().expect("temp file"))
        .spawn()
        .expect("spawn unshare");
    let deadline = Instant::now() + LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = std::fs::read_to_string(stdout.path()).unwrap_or_default();
    let err = std::fs::read_to_string(stderr.path()).unwrap_or_default();
    let shown = format!("---- isolated run of {test}: stdout ----\n{out}\n---- stderr ----\n{err}");
    let Some(status) = status else {
        panic!("{test} did not finish within {LIMIT:?} in its namespace\n{shown}");
    };
    assert!(status.success(), "{test} failed in its namespace\n{shown}");
    // A filter that matched nothing would pass too: the one test must have run.
    assert!(
        out.contains("test result: ok. 1 passed"),
        "{test} did not run in its namespace\n{shown}"
    );
    print!("{shown}");
}

/// Inside the re-execution: proves the namespace is a new one with nothing but `lo`, then
/// brings `lo` up with multicast.
fn enter(test: &str) {
    let from = std::env::var(FROM_ENV).unwrap_or_default();
    let here = own_netns();
    assert!(
        !here.is_empty() && !from.is_empty() && here != from,
        "{test} must run in a network namespace of its own (here {here:?}, started from {from:?})"
    );
    // /proc/self/net is this process's namespace (/sys/class/net would be the mounter's).
    let interfaces: Vec<String> = std::fs::read_to_string("/proc/self/net/dev")
        .expect("/proc/self/net/dev")
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next())
        .map(|name| name.trim().to_string())
        .collect();
    assert_eq!(
        interfaces,
        vec!["lo".to_string()],
        "the namespace must hold nothing but lo"
    );
    for args in [
        ["link", "set", "lo", "up"].as_slice(),
        &["link", "set", "lo", "multicast", "on"],
    ] {
        assert!(runs("ip", args), "ip {}", args.join(" "));
    }
}
