//! Load tool for the real release `p2p-chat` over loopback (the figures of BENCHMARKS.md).
//!
//! `cargo bench -p peer --bench load [-- --quick] [-- --only handshake,messages,delivery,latency,fanout,scale,files] [-- --file-mib N]`
//!
//! Every figure is printed beside a baseline measured in the same invocation, as a ratio:
//! * handshakes/s (TCP connect → Noise XX → first chat acknowledged) against a running
//!   `p2p-chat`, from crypto-core clients here, vs snow's in-memory XX handshake in this process;
//! * chat messages/s (100 B) and MB/s (16 KiB) pipelined by authenticated clients into a running
//!   `p2p-chat`, counting its acks, vs the same JSON lines without encryption to a minimal tokio
//!   line server in this process;
//! * UI→UI latency (`send_message` at A's WebSocket → `peer_message` at B's) at 100 msg/s, vs a
//!   WebSocket round trip to A;
//! * fan-out of one broadcast to 1,000 sessions (crypto-core clients here), and RSS per idle
//!   session at 1,000 and 10,000 sessions vs the RSS before them;
//! * the wasm bundle's size.
//!
//! The binary is `cargo build --release -p peer --bin p2p-chat` (run by the bench; or set
//! `P2P_CHAT_BIN`). Without `--bench` on the command line (i.e. under `cargo test`) it does
//! nothing, so `cargo test --all-targets` stays fast.

#[path = "load/client.rs"]
mod client;
#[path = "load/corpus.rs"]
mod corpus;
#[path = "load/files.rs"]
mod files;
#[path = "load/proc.rs"]
mod proc;
#[path = "load/scale.rs"]
mod scale;
#[path = "load/ui.rs"]
mod ui;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use crypto_core::Identity;
use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio::sync::{Notify, Semaphore};

use client::{connect_noise, connect_plain, read_frame, Conn};
use proc::PeerProc;

const EVENT_LIMIT: Duration = Duration::from_secs(20);

/// Longest a single connect + handshake + acked chat may take before it counts as a failure.
const OP_LIMIT: Duration = Duration::from_secs(10);

#[derive(Clone)]
struct Opts {
    quick: bool,
    only: Option<Vec<String>>,
    /// Concurrent connection loops in the handshake figure.
    hs_concurrency: usize,
    /// Parallel sessions in the throughput figures.
    sessions: usize,
    /// Session counts for the memory figure.
    memory_sessions: Vec<usize>,
    /// Length of each measured slice (`--slice-ms`, for profiling runs).
    slice_ms: Option<u64>,
    /// Size of the file phase's file in MiB (`--file-mib`; 64 quick, 1024 full).
    file_mib: Option<u64>,
    /// The throughput figures' clients write JSON lines, as an earlier version does
    /// (`--line-frames`), instead of binary frames as peers of this version do (PROTOCOL.md
    /// §4.1); the floor follows.
    line_frames: bool,
}

impl Opts {
    fn wants(&self, phase: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|list| list.iter().any(|p| p == phase))
    }
    fn rounds(&self) -> usize {
        if self.quick {
            2
        } else {
            5
        }
    }
    fn slice(&self) -> Duration {
        if let Some(ms) = self.slice_ms {
            Duration::from_millis(ms)
        } else if self.quick {
            Duration::from_millis(1000)
        } else {
            Duration::from_millis(2000)
        }
    }
}

/// One summary row.
struct Row {
    figure: String,
    measured: String,
    baseline: String,
    ratio: String,
    target: String,
    verdict: String,
}

#[derive(Default)]
struct Report {
    rows: Vec<Row>,
    failures: Vec<String>,
}

impl Report {
    fn row(
        &mut self,
        figure: &str,
        measured: String,
        baseline: String,
        ratio: String,
        target: &str,
        met: Option<bool>,
    ) {
        let verdict = match met {
            Some(true) => "met".to_string(),
            Some(false) => "NOT met".to_string(),
            None => "-".to_string(),
        };
        println!("  => {figure}: {measured} | baseline {baseline} | {ratio} | target {target}: {verdict}");
        self.rows.push(Row {
            figure: figure.into(),
            measured,
            baseline,
            ratio,
            target: target.into(),
            verdict,
        });
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    let n = values.len();
    match n {
        0 => 0.0,
        _ if n % 2 == 1 => values[n / 2],
        _ => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

/// utime+stime of a process in seconds (from /proc/<pid>/stat, USER_HZ = 100).
fn cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    let Some(after) = stat.rfind(')') else {
        return 0.0;
    };
    let fields: Vec<&str> = stat[after + 2..].split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // Fields after the command: state is index 0, utime is 11, stime 12.
    (ticks(11) + ticks(12)) / 100.0
}

fn fmt_rate(v: f64) -> String {
    if v >= 10_000.0 {
        format!("{:.0}k", v / 1000.0)
    } else {
        format!("{v:.0}")
    }
}

// ---------------------------------------------------------------------------------------------
// Handshakes.

/// Full snow handshakes per second on `threads` threads for `slice`.
fn snow_rate(slice: Duration, threads: usize) -> Result<f64> {
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            std::thread::spawn(move || -> Result<u64> {
                let mut pair = client::SnowPair::new()?;
                let mut n = 0;
                while start.elapsed() < slice {
                    pair.handshake()?;
                    n += 1;
                }
                Ok(n)
            })
        })
        .collect();
    let mut total = 0;
    for h in handles {
        total += h
            .join()
            .map_err(|_| anyhow::anyhow!("snow thread panicked"))??;
    }
    Ok(total as f64 / start.elapsed().as_secs_f64())
}

/// Handshakes per second against the peer: `concurrency` loops of connect → XX with a fresh
/// static key → one chat → its ack → close.
async fn loopback_rate(
    addr: SocketAddr,
    concurrency: usize,
    slice: Duration,
) -> Result<(f64, u64)> {
    let done = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let done = done.clone();
            let errors = errors.clone();
            tokio::spawn(async move {
                while start.elapsed() < slice {
                    let identity = Identity::generate();
                    let result = tokio::time::timeout(OP_LIMIT, async {
                        let mut conn = connect_noise(addr, &identity, 1024, true).await?;
                        conn.chat_acked("h1", "hi").await?;
                        Ok::<_, anyhow::Error>(())
                    })
                    .await
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("no ack within {OP_LIMIT:?}")));
                    match result {
                        Ok(()) => done.fetch_add(1, Ordering::Relaxed),
                        Err(_) => errors.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect();
    for t in tasks {
        let _ = t.await;
    }
    Ok((
        done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64(),
        errors.load(Ordering::Relaxed),
    ))
}

async fn handshake_phase(bin: &Path, opts: &Opts, report: &mut Report) -> Result<()> {
    println!(
        "\n[handshake] connect → Noise XX → first chat acked, {} concurrent loops",
        opts.hs_concurrency
    );
    let peer = PeerProc::start(bin, "hs")?;
    let addr = SocketAddr::from(([127, 0, 0, 1], peer.p2p_port));
    loopback_rate(addr, opts.hs_concurrency, Duration::from_millis(300)).await?;
    let (mut snow1, mut lo, mut cpu_per, mut ratios) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut errors = 0;
    for round in 0..opts.rounds() {
        let slice = opts.slice();
        let s = tokio::task::spawn_blocking(move || snow_rate(slice, 1)).await??;
        let cpu0 = cpu_seconds(peer.pid());
        let (l, e) = loopback_rate(addr, opts.hs_concurrency, slice).await?;
        let cpu = cpu_seconds(peer.pid()) - cpu0;
        errors += e;
        let per = cpu / (l * slice.as_secs_f64()) * 1e6;
        println!(
            "  round {round}: p2p-chat {l:.0}/s (peer CPU {per:.0} µs/handshake)  snow 1 thread {s:.0}/s  ratio {:.2}x",
            l / s
        );
        snow1.push(s);
        lo.push(l);
        ratios.push(l / s);
        cpu_per.push(per);
    }
    let slice = opts.slice();
    let snow2 = tokio::task::spawn_blocking(move || snow_rate(slice, 2)).await??;
    let (s, l, ratio) = (median(&mut snow1), median(&mut lo), median(&mut ratios));
    println!(
        "  snow on 2 threads (both cores): {snow2:.0}/s; peer CPU per handshake (median) {:.0} µs",
        median(&mut cpu_per)
    );
    if errors > 0 {
        report
            .failures
            .push(format!("handshake: {errors} failed connections"));
    }
    if l == 0.0 {
        bail!("no handshake completed (the peer never acknowledged the first chat)");
    }
    report.row(
        "handshakes/s (connect→XX→first chat acked)",
        format!("{l:.0}/s"),
        format!("snow in-memory {s:.0}/s (1 thread; 2 threads {snow2:.0}/s)"),
        format!(
            "{ratio:.2}x (median of paired rounds; vs 2 threads {:.2}x)",
            l / snow2
        ),
        ">= 0.7x",
        Some(ratio >= 0.7),
    );
    let mut peer = peer;
    if !peer.alive() {
        report.failures.push("handshake: p2p-chat died".into());
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Throughput.

struct Pipe {
    acked: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    errors: Arc<Mutex<Vec<String>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// Pipelines chat frames (text of `text_len` bytes) on `conn`, at most `window` unacknowledged,
/// sealing `batch` frames per socket write; counts acks.
fn pipe(conn: Conn, text_len: usize, window: usize, batch: usize, pipe: &mut Pipe) {
    let Conn {
        mut reader,
        mut writer,
        mut sealer,
        mut opener,
        binary,
    } = conn;
    let credit = Arc::new(Semaphore::new(window));
    let text = "x".repeat(text_len);
    let (stop, errors, acked) = (pipe.stop.clone(), pipe.errors.clone(), pipe.acked.clone());
    let credit_w = credit.clone();
    let errors_w = errors.clone();
    pipe.tasks.push(tokio::spawn(async move {
        let result = async {
            let mut out = Vec::with_capacity(batch * (text_len * 2 + 200));
            let mut payload = Vec::with_capacity(text_len + 100);
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let Ok(permit) = credit_w.acquire_many(batch as u32).await else {
                    break;
                };
                permit.forget();
                for _ in 0..batch {
                    payload.clear();
                    payload.extend_from_slice(b"{\"kind\":\"chat\",\"id\":\"m");
                    payload.extend_from_slice(n.to_string().as_bytes());
                    payload.extend_from_slice(b"\",\"text\":\"");
                    payload.extend_from_slice(text.as_bytes());
                    payload.extend_from_slice(b"\",\"sent_at\":1764000000000}");
                    sealer.seal_to(&payload, binary, &mut out)?;
                    n += 1;
                }
                writer.write_all(&out).await?;
                out.clear();
            }
            Ok::<_, anyhow::Error>(())
        }
        .await;
        if let Err(e) = result {
            errors_w
                .lock()
                .map(|mut v| v.push(format!("writer: {e}")))
                .ok();
        }
    }));
    pipe.tasks.push(tokio::spawn(async move {
        let result = async {
            let mut buf = Vec::with_capacity(512);
            let mut pending = 0usize;
            loop {
                let Some(kind) = read_frame(&mut reader, &mut buf).await? else {
                    return Ok::<_, anyhow::Error>(());
                };
                let plaintext = opener.open_any(&kind, &buf)?;
                if !plaintext.starts_with(b"{\"kind\":\"ack\"") {
                    // The peer's own control payloads (its name, the address it sees us at,
                    // PROTOCOL.md §7.1) come first; only acks are counted.
                    continue;
                }
                pending += 1;
                if reader.buffer().is_empty() || pending >= 256 {
                    acked.fetch_add(pending as u64, Ordering::Relaxed);
                    credit.add_permits(pending);
                    pending = 0;
                }
            }
        }
        .await;
        if let Err(e) = result {
            errors
                .lock()
                .map(|mut v| v.push(format!("reader: {e}")))
                .ok();
        }
    }));
}

/// Messages per second (acked) over `sessions` pipelined connections made by `connect`.
async fn throughput(conns: Vec<Conn>, text_len: usize, slice: Duration) -> Result<f64> {
    Ok(throughput_counted(conns, text_len, slice).await?.0)
}

/// [`throughput`], and every ack counted on these connections (the slice and around it).
async fn throughput_counted(
    conns: Vec<Conn>,
    text_len: usize,
    slice: Duration,
) -> Result<(f64, u64)> {
    let (window, batch) = if text_len > 1024 { (32, 4) } else { (2048, 64) };
    let mut p = Pipe {
        acked: Arc::new(AtomicU64::new(0)),
        stop: Arc::new(AtomicBool::new(false)),
        errors: Arc::new(Mutex::new(Vec::new())),
        tasks: Vec::new(),
    };
    for conn in conns {
        pipe(conn, text_len, window, batch, &mut p);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let a0 = p.acked.load(Ordering::Relaxed);
    let t0 = Instant::now();
    tokio::time::sleep(slice).await;
    let a1 = p.acked.load(Ordering::Relaxed);
    let elapsed = t0.elapsed().as_secs_f64();
    p.stop.store(true, Ordering::Relaxed);
    for t in &p.tasks {
        t.abort();
    }
    let errors = p.errors.lock().map(|v| v.clone()).unwrap_or_default();
    if let Some(e) = errors.first() {
        bail!("pipeline failed: {e}");
    }
    if a1 == a0 {
        bail!("no acks during the measured slice");
    }
    Ok(((a1 - a0) as f64 / elapsed, p.acked.load(Ordering::Relaxed)))
}

async fn peer_conns(addr: SocketAddr, sessions: usize, binary: bool) -> Result<Vec<Conn>> {
    let mut conns = Vec::new();
    for i in 0..sessions {
        let mut conn = connect_noise(addr, &Identity::generate(), 64 * 1024, binary).await?;
        tokio::time::timeout(OP_LIMIT, conn.chat_acked(&format!("warm{i}"), "warm"))
            .await
            .context("no ack for the warm-up chat")??;
        conns.push(conn);
    }
    Ok(conns)
}

async fn floor_conns(addr: SocketAddr, sessions: usize, binary: bool) -> Result<Vec<Conn>> {
    let mut conns = Vec::new();
    for i in 0..sessions {
        let mut conn = connect_plain(addr, 64 * 1024, binary).await?;
        tokio::time::timeout(OP_LIMIT, conn.chat_acked(&format!("warm{i}"), "warm"))
            .await
            .context("no ack for the warm-up chat")??;
        conns.push(conn);
    }
    Ok(conns)
}

async fn messages_phase(bin: &Path, opts: &Opts, report: &mut Report) -> Result<()> {
    let floor = client::floor_server().await?;
    let framing = if opts.line_frames {
        "JSON lines"
    } else {
        "binary frames"
    };
    // The receiving peer stores every chat before acking it: in memory with --ephemeral, and
    // on disk (WAL, synchronous=FULL, one fsync per group commit) for the persistence figure.
    for (text_len, label, on_disk) in [
        (100usize, "100 B", false),
        (16 * 1024, "16 KiB", false),
        (100, "100 B, on disk", true),
    ] {
        println!(
            "\n[messages {label}] {} pipelined sessions into p2p-chat (acks counted) vs the same {framing} unencrypted to an in-process server",
            opts.sessions
        );
        let mut peer = PeerProc::start_stored(bin, "msg", on_disk)?;
        let mut addr = SocketAddr::from(([127, 0, 0, 1], peer.p2p_port));
        let mut accept = ui::AutoAccept::start(&peer).await?;
        let mut accepted = 0;
        let (mut missed, mut behind) = (0u64, 0u64);
        let (mut p, mut f, mut cpu_per, mut ratios) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        // 16 KiB chats fill an in-memory store fast: at ~280 MB/s, five 2 s rounds would pass
        // the ~2 GiB an in-memory database can hold (BENCHMARKS.md), so each round of them
        // starts a new peer with an empty store.
        let new_peer_each_round = text_len > 1024 && !on_disk;
        for round in 0..opts.rounds() {
            if round > 0 && new_peer_each_round {
                if !peer.alive() {
                    report
                        .failures
                        .push(format!("messages {label}: p2p-chat died"));
                }
                behind += accept.behind();
                drop(accept);
                peer = PeerProc::start_stored(bin, "msg", on_disk)?;
                addr = SocketAddr::from(([127, 0, 0, 1], peer.p2p_port));
                accept = ui::AutoAccept::start(&peer).await?;
                accepted = 0;
            }
            let cpu0 = cpu_seconds(peer.pid());
            let t0 = Instant::now();
            let conns = peer_conns(addr, opts.sessions, !opts.line_frames).await?;
            accepted += opts.sessions;
            accept.wait(accepted, EVENT_LIMIT).await?;
            let shown0 = accept.shown();
            let (rate, acked) = throughput_counted(conns, text_len, opts.slice()).await?;
            let cpu = cpu_seconds(peer.pid()) - cpu0;
            // Every acknowledged chat must also have reached the UI window.
            let shown = accept.wait_shown(shown0 + acked, EVENT_LIMIT).await - shown0;
            if shown < acked {
                missed += acked - shown;
            }
            // The peer's CPU over the whole round (set-up included) per message of the window.
            let per = cpu / (rate * t0.elapsed().as_secs_f64()) * 1e6;
            let fl = throughput(
                floor_conns(floor, opts.sessions, !opts.line_frames).await?,
                text_len,
                opts.slice(),
            )
            .await?;
            let mb = |r: f64| r * text_len as f64 / 1e6;
            println!(
                "  round {round}: p2p-chat {} msg/s ({:.1} MB/s of text, peer CPU ~{per:.1} µs/msg)  floor {} msg/s ({:.1} MB/s)  ratio {:.2}x",
                fmt_rate(rate),
                mb(rate),
                fmt_rate(fl),
                mb(fl),
                rate / fl
            );
            p.push(rate);
            f.push(fl);
            ratios.push(rate / fl);
            cpu_per.push(per);
        }
        let (rate, fl, ratio) = (median(&mut p), median(&mut f), median(&mut ratios));
        let behind = behind + accept.behind();
        println!(
            "  peer CPU per message (median) {:.1} µs; UI window: {} acknowledged chats not shown, told it fell behind {} times",
            median(&mut cpu_per),
            missed,
            behind
        );
        let ui_complete = missed == 0 && behind == 0;
        if !ui_complete {
            report.failures.push(format!(
                "messages {label}: the UI window missed {missed} chats (fell behind {behind} times)"
            ));
        }
        if !peer.alive() {
            report
                .failures
                .push(format!("messages {label}: p2p-chat died"));
        }
        if on_disk {
            report.row(
                "100 B chat msg/s, stored on disk (fsynced) before the ack",
                format!("{}/s", fmt_rate(rate)),
                format!("plain {framing} floor {}/s", fmt_rate(fl)),
                format!("{ratio:.2}x (median of paired rounds)"),
                "(report: persistence)",
                None,
            );
        } else if text_len == 100 {
            report.row(
                "100 B chat msg/s wire → stored → acked → UI window (store in memory, every chat shown)",
                format!("{}/s", fmt_rate(rate)),
                format!("plain {framing} floor {}/s", fmt_rate(fl)),
                format!("{ratio:.2}x (median of paired rounds)"),
                ">= 150k/s and >= 0.3x",
                Some(ratio >= 0.3 && rate >= 150_000.0 && ui_complete),
            );
        } else {
            let mb = |r: f64| r * text_len as f64 / 1e6;
            report.row(
                "16 KiB chat MB/s peer→peer (acked)",
                format!("{:.0} MB/s ({rate:.0} msg/s)", mb(rate)),
                format!("plain floor {:.0} MB/s", mb(fl)),
                format!("{ratio:.2}x (median of paired rounds)"),
                "(report)",
                None,
            );
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Delivered and acknowledged through the outbox.

/// `send_message` at A's WebSocket until A has seen `delivery: delivered` for every message:
/// A commits each to its outbox, sends it, B stores it and acks, A records the ack. Two
/// peers with data directories on disk (every commit fsynced) beside the same two with
/// `--ephemeral` (SQLite in memory): the ratio is what durability costs on this path.
async fn delivery_phase(bin: &Path, opts: &Opts, report: &mut Report) -> Result<()> {
    let n = if opts.quick { 300 } else { 1000 };
    println!(
        "\n[delivery] {n} send_message at A's WebSocket, back-to-back → every `delivery: delivered` at A; on disk vs in memory"
    );
    let (mut disk, mut memory, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..opts.rounds() {
        let d = delivered_per_second(bin, true, n).await?;
        let m = delivered_per_second(bin, false, n).await?;
        println!(
            "  round {round}: on disk {d:.0} msg/s  in memory {m:.0} msg/s  ratio {:.2}x",
            d / m
        );
        disk.push(d);
        memory.push(m);
        ratios.push(d / m);
    }
    let (d, m, ratio) = (median(&mut disk), median(&mut memory), median(&mut ratios));
    report.row(
        "UI send → delivered & acked msg/s, outbox in SQLite on disk",
        format!("{d:.0}/s"),
        format!("same path, SQLite in memory {m:.0}/s"),
        format!("{ratio:.2}x (median of paired rounds)"),
        "(report: persistence)",
        None,
    );
    Ok(())
}

async fn delivered_per_second(bin: &Path, on_disk: bool, n: usize) -> Result<f64> {
    let a = PeerProc::start_stored(bin, "alice", on_disk)?;
    let b = PeerProc::start_stored(bin, "bob", on_disk)?;
    let accept = ui::AutoAccept::start(&b).await?;
    let (mut atx, mut arx) = ui::open(&a).await?;
    ui::connect_to(&mut atx, &mut arx, &b, EVENT_LIMIT).await?;
    accept.wait(1, EVENT_LIMIT).await?;
    let to = b.public_key.clone();
    let t0 = Instant::now();
    let sender = tokio::spawn(async move {
        for i in 0..n {
            let text = format!("delivery {i} {}", "x".repeat(80));
            ui::send(
                &mut atx,
                &json!({"action": "send_message", "text": text, "to": to}),
            )
            .await?;
        }
        Ok::<_, anyhow::Error>(atx)
    });
    let mut delivered = 0;
    while delivered < n {
        let event = ui::next(&mut arx, EVENT_LIMIT).await?;
        match event["type"].as_str() {
            Some("delivery") if event["state"] == "delivered" => delivered += 1,
            Some("error") => bail!("A answered with an error: {event}"),
            _ => {}
        }
    }
    let rate = n as f64 / t0.elapsed().as_secs_f64();
    let _atx = sender.await??;
    Ok(rate)
}

// ---------------------------------------------------------------------------------------------
// UI → UI latency.

async fn latency_phase(bin: &Path, opts: &Opts, report: &mut Report) -> Result<()> {
    let n = if opts.quick { 200 } else { 1000 };
    println!("\n[latency] send_message at A's WebSocket → peer_message at B's, {n} messages at 100 msg/s");
    let a = PeerProc::start(bin, "alice")?;
    let b = PeerProc::start(bin, "bob")?;
    let (mut atx, mut arx) = ui::open(&a).await?;
    let (_btx, mut brx) = ui::open(&b).await?;
    let accept = ui::AutoAccept::start(&b).await?;
    ui::connect_to(&mut atx, &mut arx, &b, EVENT_LIMIT).await?;
    ui::wait_for(&mut brx, EVENT_LIMIT, |e| e["type"] == "peer_connected").await?;
    accept.wait(1, EVENT_LIMIT).await?;

    let total = n + 20;
    let sent: Arc<Mutex<Vec<Option<Instant>>>> = Arc::new(Mutex::new(vec![None; total]));
    let lat: Arc<Mutex<Vec<f64>>> = Arc::new(Mutex::new(Vec::new()));
    let all = Arc::new(Notify::new());
    // B's reader: peer_message "lat-<i> …" → latency of i.
    let reader = {
        let (sent, lat, all) = (sent.clone(), lat.clone(), all.clone());
        tokio::spawn(async move {
            let mut seen = 0;
            while let Ok(event) = ui::next(&mut brx, EVENT_LIMIT).await {
                let now = Instant::now();
                if event["type"] != "peer_message" {
                    continue;
                }
                let Some(i) = event["text"]
                    .as_str()
                    .and_then(|t| t.strip_prefix("lat-"))
                    .and_then(|t| t.split(' ').next())
                    .and_then(|t| t.parse::<usize>().ok())
                else {
                    continue;
                };
                let t = sent.lock().ok().and_then(|s| s.get(i).copied().flatten());
                if let (Some(t), true) = (t, i >= 20) {
                    lat.lock()
                        .map(|mut l| l.push((now - t).as_secs_f64() * 1e3))
                        .ok();
                }
                seen += 1;
                if seen == total {
                    all.notify_one();
                    break;
                }
            }
        })
    };
    // A's events are drained (message_sent, delivery receipts) and the baseline's replies kept.
    let rtt_replies = Arc::new(Mutex::new(Vec::<(u64, Instant)>::new()));
    let rtt_notify = Arc::new(Notify::new());
    let drain = {
        let (replies, notify) = (rtt_replies.clone(), rtt_notify.clone());
        tokio::spawn(async move {
            while let Ok(event) = ui::next(&mut arx, Duration::from_secs(120)).await {
                if event["type"] == "error" {
                    if let Some(req) = event["req"].as_u64() {
                        replies
                            .lock()
                            .map(|mut r| r.push((req, Instant::now())))
                            .ok();
                        notify.notify_one();
                    }
                }
            }
        })
    };
    let pad = "x".repeat(90);
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let notified = all.notified();
    tokio::pin!(notified);
    for i in 0..total {
        tick.tick().await;
        let action =
            json!({"action": "send_message", "text": format!("lat-{i} {pad}"), "to": b.public_key});
        sent.lock().map(|mut s| s[i] = Some(Instant::now())).ok();
        ui::send(&mut atx, &action).await?;
    }
    tokio::time::timeout(EVENT_LIMIT, notified)
        .await
        .context("not every message arrived at B")?;
    let _ = reader.await;
    let mut lat = lat.lock().map(|l| l.clone()).unwrap_or_default();
    lat.sort_by(|x, y| x.total_cmp(y));

    // Baseline: a WebSocket round trip to A (an unknown action answered by an `error` event).
    let mut rtt = Vec::new();
    for i in 0..n as u64 {
        tick.tick().await;
        let t = Instant::now();
        ui::send(&mut atx, &json!({"action": "load_ping", "req": i})).await?;
        loop {
            let got = rtt_replies
                .lock()
                .ok()
                .and_then(|r| r.iter().find(|(req, _)| *req == i).map(|(_, at)| *at));
            if let Some(at) = got {
                rtt.push((at - t).as_secs_f64() * 1e3);
                break;
            }
            tokio::time::timeout(EVENT_LIMIT, rtt_notify.notified())
                .await
                .context("no reply to the round-trip probe")?;
        }
    }
    drain.abort();
    rtt.sort_by(|x, y| x.total_cmp(y));
    let (p50, p99, max) = (
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        percentile(&lat, 1.0),
    );
    let (r50, r99) = (percentile(&rtt, 0.5), percentile(&rtt, 0.99));
    println!(
        "  UI→UI: p50 {p50:.3} ms  p99 {p99:.3} ms  max {max:.3} ms  ({} samples)",
        lat.len()
    );
    println!("  WS round trip to A: p50 {r50:.3} ms  p99 {r99:.3} ms");
    report.row(
        "UI→UI latency p50 / p99 at 100 msg/s",
        format!("{p50:.2} / {p99:.2} ms"),
        format!("WS round trip to A {r50:.2} / {r99:.2} ms"),
        format!("{:.1}x / {:.1}x", p50 / r50, p99 / r99),
        "p99 <= 5 ms",
        Some(p99 <= 5.0),
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Fan-out and memory.

/// What the fan-out clients report.
struct FanState {
    target: AtomicUsize,
    received: AtomicUsize,
    last: Mutex<Option<Instant>>,
    done: Notify,
    closed: AtomicUsize,
}

/// Connects `count` idle sessions (each proven by one acked chat), `parallel` at a time, and
/// leaves a reader per session that timestamps broadcasts and acknowledges them.
async fn add_sessions(
    addr: SocketAddr,
    count: usize,
    parallel: usize,
    state: &Arc<FanState>,
) -> Result<()> {
    let sem = Arc::new(Semaphore::new(parallel));
    let failures = Arc::new(AtomicUsize::new(0));
    let mut joins = Vec::with_capacity(count);
    for _ in 0..count {
        let permit = sem.clone().acquire_owned().await?;
        let state = state.clone();
        let failures = failures.clone();
        joins.push(tokio::spawn(async move {
            let conn = tokio::time::timeout(OP_LIMIT, async {
                let mut conn = connect_noise(addr, &Identity::generate(), 512, true).await?;
                conn.chat_acked("hello", "hi").await?;
                Ok::<_, anyhow::Error>(conn)
            })
            .await
            .unwrap_or_else(|_| Err(anyhow::anyhow!("timed out")));
            drop(permit);
            let mut conn = match conn {
                Ok(conn) => conn,
                Err(_) => {
                    failures.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            };
            tokio::spawn(async move {
                let mut line = Vec::new();
                loop {
                    let Ok(plaintext) = conn.recv(&mut line).await else {
                        break;
                    };
                    let now = Instant::now();
                    let Ok(("chat", id, _)) = client::payload_kind(&plaintext) else {
                        continue;
                    };
                    let n = state.received.fetch_add(1, Ordering::AcqRel) + 1;
                    if n == state.target.load(Ordering::Acquire) {
                        state.last.lock().map(|mut l| *l = Some(now)).ok();
                        state.done.notify_one();
                    }
                    let ack = crypto_core::wire::Payload::Ack { id }.to_bytes();
                    if conn.send(&ack).await.is_err() {
                        break;
                    }
                }
                state.closed.fetch_add(1, Ordering::Relaxed);
            });
        }));
    }
    for j in joins {
        let _ = j.await;
    }
    let failed = failures.load(Ordering::Relaxed);
    if failed > 0 {
        bail!("{failed} of {count} sessions failed to establish");
    }
    Ok(())
}

/// One broadcast from A's UI; ms until the last of `sessions` clients has opened it.
async fn broadcast_once(
    tx: &mut ui::UiTx,
    state: &Arc<FanState>,
    sessions: usize,
    tag: &str,
) -> Result<f64> {
    state.received.store(0, Ordering::Release);
    state.target.store(sessions, Ordering::Release);
    let notified = state.done.notified();
    tokio::pin!(notified);
    let t0 = Instant::now();
    ui::send(
        tx,
        &json!({"action": "send_message", "text": format!("fan {tag}")}),
    )
    .await?;
    tokio::time::timeout(EVENT_LIMIT, notified)
        .await
        .with_context(|| {
            format!(
                "only {} of {sessions} got the broadcast",
                state.received.load(Ordering::Relaxed)
            )
        })?;
    let last = state.last.lock().ok().and_then(|l| *l).context("no time")?;
    Ok((last - t0).as_secs_f64() * 1e3)
}

async fn settle_rss(peer: &PeerProc) -> Result<u64> {
    // Let allocator and kernel settle, then take the lowest of a few reads.
    let mut best = u64::MAX;
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        best = best.min(peer.rss()?);
    }
    Ok(best)
}

async fn fanout_phase(bin: &Path, opts: &Opts, report: &mut Report) -> Result<()> {
    println!(
        "\n[fan-out + memory] sessions from in-process crypto-core clients: {:?}",
        opts.memory_sessions
    );
    let peer = PeerProc::start(bin, "hub")?;
    let addr = SocketAddr::from(([127, 0, 0, 1], peer.p2p_port));
    let accept = ui::AutoAccept::start(&peer).await?;
    let rss0 = settle_rss(&peer).await?;
    println!("  RSS before sessions: {:.1} MiB", rss0 as f64 / 1048576.0);
    let state = Arc::new(FanState {
        target: AtomicUsize::new(usize::MAX),
        received: AtomicUsize::new(0),
        last: Mutex::new(None),
        done: Notify::new(),
        closed: AtomicUsize::new(0),
    });
    let mut have = 0;
    let mut tx_rx = None;
    for &target in &opts.memory_sessions {
        let t = Instant::now();
        add_sessions(addr, target - have, 64, &state).await?;
        have = target;
        accept.wait(have, Duration::from_secs(120)).await?;
        println!("  {have} sessions up in {:.1} s", t.elapsed().as_secs_f64());
        let rss = settle_rss(&peer).await?;
        let per = (rss.saturating_sub(rss0)) as f64 / have as f64;
        println!(
            "  RSS at {have} sessions: {:.1} MiB → {:.1} KiB per session",
            rss as f64 / 1048576.0,
            per / 1024.0
        );
        report.row(
            &format!("RSS per idle session at {have}"),
            format!("{:.1} KiB", per / 1024.0),
            format!("RSS before sessions {:.1} MiB", rss0 as f64 / 1048576.0),
            format!("total {:.1} MiB", rss as f64 / 1048576.0),
            "<= 16 KiB",
            Some(per <= 16.0 * 1024.0),
        );
        if tx_rx.is_none() {
            let (tx, mut rx) = ui::open(&peer).await?;
            // The greeting: `info`, then one `peer_connected` per live session.
            let mut seen = 0;
            while seen < have {
                if ui::next(&mut rx, EVENT_LIMIT).await?["type"] == "peer_connected" {
                    seen += 1;
                }
            }
            tx_rx = Some((tx, rx));
        }
        let (tx, rx) = tx_rx.as_mut().context("ui")?;
        // Drain the greeting (info + one peer_connected per session) and anything since.
        while let Ok(Ok(_)) =
            tokio::time::timeout(Duration::from_millis(300), ui::next(rx, EVENT_LIMIT)).await
        {
        }
        let rounds = if opts.quick { 3 } else { 10 };
        let mut times = Vec::new();
        for r in 0..rounds {
            times.push(broadcast_once(tx, &state, have, &format!("{have}-{r}")).await?);
            // Let the acks drain before the next round.
            tokio::time::sleep(Duration::from_millis(300)).await;
            while let Ok(Ok(_)) =
                tokio::time::timeout(Duration::from_millis(50), ui::next(rx, EVENT_LIMIT)).await
            {
            }
        }
        let mut sorted = times.clone();
        sorted.sort_by(|a, b| a.total_cmp(b));
        let (med, worst) = (percentile(&sorted, 0.5), percentile(&sorted, 1.0));
        println!(
            "  broadcast to {have}: median {med:.1} ms, worst {worst:.1} ms ({:?})",
            times.iter().map(|t| format!("{t:.1}")).collect::<Vec<_>>()
        );
        report.row(
            &format!("fan-out to {have} sessions (last one has it)"),
            format!("median {med:.1} ms, worst {worst:.1} ms"),
            "-".into(),
            "-".into(),
            if have == 1000 { "<= 50 ms" } else { "(report)" },
            if have == 1000 {
                Some(worst <= 50.0)
            } else {
                None
            },
        );
    }
    let closed = state.closed.load(Ordering::Relaxed);
    if closed > 0 {
        report.failures.push(format!(
            "fan-out: {closed} sessions were closed by p2p-chat"
        ));
    } else {
        println!("  all {have} sessions still open");
    }
    let mut peer = peer;
    if !peer.alive() {
        report
            .failures
            .push(format!("fan-out: p2p-chat died: {}", peer.log_tail()));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------

fn wasm_size(report: &mut Report) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../web/pkg/crypto_wasm_bg.wasm");
    match std::fs::metadata(&path) {
        Ok(meta) => {
            let kib = meta.len() as f64 / 1024.0;
            println!(
                "\n[wasm] web/pkg/crypto_wasm_bg.wasm: {} bytes ({kib:.1} KiB)",
                meta.len()
            );
            report.row(
                "wasm bundle (crypto_wasm_bg.wasm)",
                format!("{kib:.1} KiB"),
                "-".into(),
                "-".into(),
                "<= 100 KiB",
                Some(kib <= 100.0),
            );
        }
        Err(_) => println!("\n[wasm] web/pkg/crypto_wasm_bg.wasm not built; skipped"),
    }
}

fn parse_opts() -> Option<Opts> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.iter().any(|a| a == "--bench") {
        return None;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let value = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let only = value("--only").map(|v| v.split(',').map(str::to_owned).collect());
    let sessions = value("--sessions")
        .and_then(|v| v.parse().ok())
        .unwrap_or(2);
    let hs_concurrency = value("--concurrency")
        .and_then(|v| v.parse().ok())
        .unwrap_or(32);
    let memory_sessions = value("--memory-sessions")
        .map(|v| v.split(',').filter_map(|n| n.parse().ok()).collect())
        .unwrap_or_else(|| {
            if quick {
                vec![1000]
            } else {
                vec![1000, 10_000]
            }
        });
    let slice_ms = value("--slice-ms").and_then(|v| v.parse().ok());
    let file_mib = value("--file-mib").and_then(|v| v.parse().ok());
    Some(Opts {
        line_frames: args.iter().any(|a| a == "--line-frames"),
        file_mib,
        slice_ms,
        quick,
        only,
        hs_concurrency,
        sessions,
        memory_sessions,
    })
}

fn main() -> std::process::ExitCode {
    let Some(opts) = parse_opts() else {
        println!("load: run with `cargo bench -p peer --bench load [-- --quick]`; nothing to do under cargo test");
        return std::process::ExitCode::SUCCESS;
    };
    let started = Instant::now();
    let (soft, hard) = proc::raise_nofile();
    let bin = match proc::release_binary() {
        Ok(bin) => bin,
        Err(e) => {
            eprintln!("load: {e:#}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("load: runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    println!(
        "load: {} mode; RLIMIT_NOFILE {soft}/{hard}; {} CPUs; loadavg {}",
        if opts.quick { "quick" } else { "full" },
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    let mut report = Report::default();
    runtime.block_on(async {
        type Phase = for<'a> fn(
            &'a Path,
            &'a Opts,
            &'a mut Report,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<()>> + 'a>,
        >;
        let phases: [(&str, Phase); 7] = [
            ("handshake", |b, o, r| Box::pin(handshake_phase(b, o, r))),
            ("messages", |b, o, r| Box::pin(messages_phase(b, o, r))),
            ("delivery", |b, o, r| Box::pin(delivery_phase(b, o, r))),
            ("latency", |b, o, r| Box::pin(latency_phase(b, o, r))),
            ("fanout", |b, o, r| Box::pin(fanout_phase(b, o, r))),
            ("scale", |b, o, r| Box::pin(scale::phase(b, o, r))),
            ("files", |b, o, r| Box::pin(files::files_phase(b, o, r))),
        ];
        for (name, phase) in phases {
            if opts.wants(name) {
                let started = Instant::now();
                if let Err(e) = phase(&bin, &opts, &mut report).await {
                    println!("  !! {name} failed: {e:#}");
                    report.failures.push(format!("{name}: {e:#}"));
                }
                println!("  ({name}: {:.1} s)", started.elapsed().as_secs_f64());
            }
        }
    });
    if opts.wants("wasm") {
        wasm_size(&mut report);
    }
    if std::env::var("P2P_CHAT_BIN").is_err() {
        let _ = std::fs::remove_file(&bin);
    }
    println!("\n| figure | p2p-chat | baseline (same run) | ratio | target | verdict |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for r in &report.rows {
        println!(
            "| {} | {} | {} | {} | {} | {} |",
            r.figure, r.measured, r.baseline, r.ratio, r.target, r.verdict
        );
    }
    println!(
        "\nload: finished in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    if report.failures.is_empty() {
        std::process::ExitCode::SUCCESS
    } else {
        for f in &report.failures {
            println!("load: FAILED {f}");
        }
        std::process::ExitCode::FAILURE
    }
}
