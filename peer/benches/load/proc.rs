//! The real release `p2p-chat`: building/locating it, starting it on free ports, reading its RSS.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};

use anyhow::{anyhow, bail, Context, Result};

/// Builds (or finds fresh) `target/release/p2p-chat` with `cargo build --release` and copies it
/// next to the target dir, so a concurrent `cargo bench`/`cargo build` re-linking
/// `target/release/p2p-chat` cannot swap the binary in the middle of a run.
/// `P2P_CHAT_BIN=/path` skips the build and uses that file as is.
pub fn release_binary() -> Result<PathBuf> {
    if let Ok(path) = std::env::var("P2P_CHAT_BIN") {
        let path = PathBuf::from(path);
        if !path.is_file() {
            bail!("P2P_CHAT_BIN={} is not a file", path.display());
        }
        return Ok(path);
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("workspace dir")?;
    eprintln!("load: cargo build --release -p peer --bin p2p-chat");
    let output = Command::new(cargo)
        .args([
            "build",
            "--release",
            "-p",
            "peer",
            "--bin",
            "p2p-chat",
            "--message-format=json-render-diagnostics",
        ])
        .current_dir(workspace)
        .stderr(Stdio::inherit())
        .output()
        .context("running cargo build --release")?;
    if !output.status.success() {
        bail!("cargo build --release -p peer failed");
    }
    let mut built = None;
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if msg["reason"] == "compiler-artifact" && msg["target"]["name"] == "p2p-chat" {
            if let Some(exe) = msg["executable"].as_str() {
                built = Some(PathBuf::from(exe));
            }
        }
    }
    let built = built.ok_or_else(|| anyhow!("cargo did not report the p2p-chat executable"))?;
    let dir = built
        .parent()
        .and_then(Path::parent)
        .context("target dir")?
        .join("load-bench");
    std::fs::create_dir_all(&dir)?;
    let copy = dir.join(format!("p2p-chat-{}", std::process::id()));
    std::fs::copy(&built, &copy).with_context(|| format!("copying {}", built.display()))?;
    eprintln!(
        "load: using {} (copy of {})",
        copy.display(),
        built.display()
    );
    Ok(copy)
}

/// A running `p2p-chat`; stopped (by its own pid) on drop.
pub struct PeerProc {
    pub child: Child,
    pub p2p_port: u16,
    pub web_port: u16,
    pub token: String,
    pub public_key: String,
    _stdout: BufReader<ChildStdout>,
    log: PathBuf,
    /// The data directory of a peer started on disk ([`PeerProc::start_stored`]).
    _data_dir: Option<tempfile::TempDir>,
}

impl PeerProc {
    /// `p2p-chat --host 127.0.0.1 --port 0 --web-port 0 --ephemeral --name NAME`, logging at
    /// `warn` (per-connection `info` lines would be part of what the handshake figure measures).
    pub fn start(bin: &Path, name: &str) -> Result<PeerProc> {
        Self::start_with(bin, name, None)
    }

    /// [`PeerProc::start`], or with `on_disk` the same with `--data-dir` in a fresh directory
    /// under the system's temp dir (removed on drop) instead of `--ephemeral`: every chat is
    /// then committed to SQLite on disk (WAL, `synchronous=FULL`) before it is acknowledged.
    pub fn start_stored(bin: &Path, name: &str, on_disk: bool) -> Result<PeerProc> {
        if !on_disk {
            return Self::start(bin, name);
        }
        let dir = tempfile::Builder::new()
            .prefix("p2p-chat-load-data-")
            .tempdir()?;
        Self::start_with(bin, name, Some(dir))
    }

    /// `p2p-chat` on an existing data directory `dir` (kept), without `--name`, so a start
    /// writes nothing to its database: the scale figures start many peers on one history.
    pub fn start_in(bin: &Path, dir: &Path) -> Result<PeerProc> {
        let storage = vec!["--data-dir".into(), dir.into()];
        Self::spawn(bin, "history", &[], storage, None)
    }

    fn start_with(bin: &Path, name: &str, data_dir: Option<tempfile::TempDir>) -> Result<PeerProc> {
        let storage: Vec<std::ffi::OsString> = match &data_dir {
            Some(dir) => vec!["--data-dir".into(), dir.path().into()],
            None => vec!["--ephemeral".into()],
        };
        Self::spawn(bin, name, &["--name", name], storage, data_dir)
    }

    fn spawn(
        bin: &Path,
        label: &str,
        extra: &[&str],
        storage: Vec<std::ffi::OsString>,
        data_dir: Option<tempfile::TempDir>,
    ) -> Result<PeerProc> {
        let log = std::env::temp_dir().join(format!(
            "p2p-chat-load-{}-{label}-{}.log",
            std::process::id(),
            rand::random::<u32>()
        ));
        let log_file = std::fs::File::create(&log)?;
        let mut child = Command::new(bin)
            .args(["--host", "127.0.0.1", "--port", "0", "--web-port", "0"])
            .args(extra)
            .args(&storage)
            .env(
                "RUST_LOG",
                std::env::var("LOAD_PEER_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .with_context(|| format!("spawning {}", bin.display()))?;
        let mut stdout = BufReader::new(child.stdout.take().context("stdout")?);
        let mut lines = Vec::new();
        for _ in 0..3 {
            let mut line = String::new();
            stdout.read_line(&mut line)?;
            if line.is_empty() {
                let _ = child.kill();
                bail!(
                    "p2p-chat exited early: {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            lines.push(line.trim_end().to_string());
        }
        let p2p_port = lines[0]
            .strip_prefix("p2p-chat P2P: listening on ")
            .and_then(|a| a.rsplit(':').next())
            .and_then(|p| p.parse().ok())
            .with_context(|| format!("unexpected line {:?}", lines[0]))?;
        let (web_port, token) = lines[1]
            .strip_prefix("p2p-chat UI: http://127.0.0.1:")
            .and_then(|rest| rest.split_once("/?token="))
            .with_context(|| format!("unexpected line {:?}", lines[1]))?;
        let public_key = lines[2]
            .strip_prefix("p2p-chat identity: ")
            .and_then(|rest| rest.split_once(' '))
            .map(|(key, _)| key.to_string())
            .with_context(|| format!("unexpected line {:?}", lines[2]))?;
        Ok(PeerProc {
            child,
            p2p_port,
            web_port: web_port.parse()?,
            token: token.to_string(),
            public_key,
            _stdout: stdout,
            log,
            _data_dir: data_dir,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// VmRSS in bytes.
    pub fn rss(&self) -> Result<u64> {
        rss_of(self.pid())
    }

    /// True while the process runs.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The tail of its stderr log.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for PeerProc {
    fn drop(&mut self) {
        // SIGTERM (by pid) first, so the peer shuts down as it would on Ctrl-C (and a heap
        // profiler wrapped around it can write its output); SIGKILL after 5 s.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// VmRSS of a process, in bytes.
pub fn rss_of(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .context("no VmRSS")?;
    let kb: u64 = line
        .split_whitespace()
        .nth(1)
        .context("VmRSS value")?
        .parse()?;
    Ok(kb * 1024)
}

/// Raises this process's RLIMIT_NOFILE soft limit to the hard limit (children inherit it),
/// using util-linux `prlimit` so the bench needs no libc binding. Returns (soft, hard) after.
pub fn raise_nofile() -> (u64, u64) {
    let me = std::process::id().to_string();
    let read = || -> Option<(u64, u64)> {
        let out = Command::new("prlimit")
            .args([
                "--pid",
                &me,
                "--nofile",
                "--output=SOFT,HARD",
                "--noheadings",
                "--raw",
            ])
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let mut it = text.split_whitespace();
        let soft = it.next()?.parse().ok()?;
        let hard = it.next()?.parse().ok()?;
        Some((soft, hard))
    };
    if let Some((soft, hard)) = read() {
        if soft < hard {
            let _ = Command::new("prlimit")
                .args(["--pid", &me, &format!("--nofile={hard}:{hard}")])
                .status();
        }
    }
    read().unwrap_or((0, 0))
}
