//! The file phase of the load bench (BENCHMARKS.md, "Files"): one file (1 GiB in the full run,
//! 64 MiB with `--quick`, `--file-mib N` to choose) from Alice to Bob, two real peers keeping
//! their data on disk, over loopback. Beside it, in the same run: the AES-256-GCM seal+open rate
//! of the same chunks in memory (the target is ≥ 0.5× of it) and a plain TCP copy of the same file
//! to disk; chat latency at 100 msg/s before and during the transfer (target p99 ≤ 20 ms); both
//! peers' RSS sampled during the transfer (target ≤ 64 MiB); both peers' CPU time during the
//! transfer beside what seal+open of the same bytes costs one core, and how busy the machine
//! was, so a run says whether it was bound by the CPUs or by the disk.

use std::io::{Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::proc::{rss_of, PeerProc};
use super::ui;

/// The chunk size peers use (PROTOCOL.md §5.1).
const CHUNK: usize = 61_440;

/// Writes `len` bytes of pseudo-random data to `path` (xorshift; never whole in memory).
fn write_file(path: &Path, len: u64) -> Result<()> {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut left = len;
    let mut buf = vec![0u8; 1 << 20];
    while left > 0 {
        for word in buf.chunks_exact_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            word.copy_from_slice(&x.to_le_bytes());
        }
        let n = left.min(buf.len() as u64) as usize;
        file.write_all(&buf[..n])?;
        left -= n as u64;
    }
    file.into_inner()?.sync_all()?;
    Ok(())
}

/// AES-256-GCM seal then open of every chunk of `path` (read from the page cache first; only
/// the cryptography is timed). Bytes per second.
fn seal_open_rate(path: &Path) -> Result<f64> {
    use crypto_core::primitives::AeadKey;
    let key = AeadKey::new(&[7u8; 32]);
    let mut file = std::fs::File::open(path)?;
    let mut chunk = vec![0u8; CHUNK];
    let mut buffer = Vec::with_capacity(CHUNK + 16);
    let mut total = 0u64;
    let mut spent = Duration::ZERO;
    let mut counter: u64 = 0;
    loop {
        let n = read_full(&mut file, &mut chunk)?;
        if n == 0 {
            break;
        }
        let mut nonce = [0u8; 12];
        nonce[4..].copy_from_slice(&counter.to_be_bytes());
        counter += 1;
        buffer.clear();
        buffer.extend_from_slice(&chunk[..n]);
        let t = Instant::now();
        key.seal_in_place(&nonce, &[], &mut buffer);
        key.open_in_place(&nonce, &[], &mut buffer)
            .map_err(|_| anyhow::anyhow!("open failed"))?;
        spent += t.elapsed();
        total += n as u64;
        if n < CHUNK {
            break;
        }
    }
    Ok(total as f64 / spent.as_secs_f64())
}

fn read_full(file: &mut std::fs::File, buf: &mut [u8]) -> Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

/// The machine's CPU time so far (the `cpu` line of /proc/stat, in ticks): busy, waiting for
/// I/O, and in all.
#[derive(Clone, Copy, Default)]
struct MachineTicks {
    busy: u64,
    iowait: u64,
    total: u64,
}

impl MachineTicks {
    fn now() -> Self {
        let Ok(stat) = std::fs::read_to_string("/proc/stat") else {
            return Self::default();
        };
        let Some(line) = stat.lines().find(|l| l.starts_with("cpu ")) else {
            return Self::default();
        };
        // user nice system idle iowait irq softirq steal (guest time is inside user).
        let t: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .take(8)
            .filter_map(|v| v.parse().ok())
            .collect();
        if t.len() < 8 {
            return Self::default();
        }
        let total: u64 = t.iter().sum();
        Self {
            busy: total - t[3] - t[4],
            iowait: t[4],
            total,
        }
    }

    /// Busy and I/O-wait shares of the machine's CPUs between `self` and `later`.
    fn shares_until(&self, later: &Self) -> (f64, f64) {
        let total = later.total.saturating_sub(self.total).max(1) as f64;
        (
            later.busy.saturating_sub(self.busy) as f64 / total,
            later.iowait.saturating_sub(self.iowait) as f64 / total,
        )
    }
}

/// CPU time of both peers and of the machine at one moment of the transfer.
#[derive(Clone, Copy)]
struct CpuSample {
    at: Instant,
    sender: f64,
    receiver: f64,
    machine: MachineTicks,
}

impl CpuSample {
    fn take(sender: u32, receiver: u32) -> Self {
        Self {
            at: Instant::now(),
            sender: super::cpu_seconds(sender),
            receiver: super::cpu_seconds(receiver),
            machine: MachineTicks::now(),
        }
    }
}

/// A plain TCP copy of `path` over loopback into a file in `into` (synced), as threads.
/// Bytes per second.
fn tcp_copy_rate(path: &Path, into: &Path) -> Result<f64> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let target = into.join("tcp-copy.bin");
    let receiver = std::thread::spawn(move || -> Result<u64> {
        let (mut socket, _) = listener.accept()?;
        let mut out = std::fs::File::create(&target)?;
        let mut buf = vec![0u8; 256 * 1024];
        let mut total = 0u64;
        loop {
            let n = socket.read(&mut buf)?;
            if n == 0 {
                break;
            }
            out.write_all(&buf[..n])?;
            total += n as u64;
        }
        out.sync_all()?;
        let _ = std::fs::remove_file(&target);
        Ok(total)
    });
    let t = Instant::now();
    let mut socket = std::net::TcpStream::connect(addr)?;
    let mut file = std::fs::File::open(path)?;
    std::io::copy(&mut file, &mut socket)?;
    drop(socket);
    let total = receiver
        .join()
        .map_err(|_| anyhow::anyhow!("copy thread"))??;
    Ok(total as f64 / t.elapsed().as_secs_f64())
}

/// `POST /files` of `path` to `peer` (token header, same Origin); the upload id.
async fn upload(peer: &PeerProc, path: &Path) -> Result<String> {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", peer.web_port)).await?;
    let len = std::fs::metadata(path)?.len();
    let head = format!(
        "POST /files HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nOrigin: http://127.0.0.1:{port}\r\n\
         X-P2P-Chat-Token: {token}\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n",
        port = peer.web_port,
        token = peer.token
    );
    stream.write_all(head.as_bytes()).await?;
    let mut file = tokio::fs::File::open(path).await?;
    tokio::io::copy(&mut file, &mut stream).await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
    let answer: Value = serde_json::from_str(body).context("upload answer")?;
    answer["upload"]
        .as_str()
        .map(str::to_owned)
        .context("no upload id")
}

/// Chat latencies (ms) of `n` messages A→B at 100 msg/s, measured at B's WebSocket.
async fn chat_latencies(
    atx: &mut ui::UiTx,
    brx: &mut ui::UiRx,
    b_key: &str,
    tag: &str,
    n: usize,
    progress: &Mutex<Vec<(Value, Instant)>>,
) -> Result<Vec<f64>> {
    let mut sent = vec![None; n];
    let mut lat = Vec::with_capacity(n);
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut next = 0;
    let mut seen = 0;
    while seen < n {
        tokio::select! {
            _ = tick.tick(), if next < n => {
                let action = json!({"action": "send_message", "text": format!("{tag}-{next} {}", "x".repeat(90)), "to": b_key});
                sent[next] = Some(Instant::now());
                ui::send(atx, &action).await?;
                next += 1;
            }
            event = ui::next(brx, Duration::from_secs(60)) => {
                let event = event?;
                let now = Instant::now();
                if event["type"] == "file_progress" {
                    progress.lock().map(|mut p| p.push((event.clone(), now))).ok();
                }
                if event["type"] != "peer_message" {
                    continue;
                }
                let Some(i) = event["text"]
                    .as_str()
                    .and_then(|t| t.strip_prefix(&format!("{tag}-")))
                    .and_then(|t| t.split(' ').next())
                    .and_then(|t| t.parse::<usize>().ok())
                else {
                    continue;
                };
                if let Some(Some(t)) = sent.get(i) {
                    lat.push((now - *t).as_secs_f64() * 1e3);
                }
                seen += 1;
            }
        }
    }
    lat.sort_by(|a, b| a.total_cmp(b));
    Ok(lat)
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// The file phase.
pub async fn files_phase(bin: &Path, opts: &super::Opts, report: &mut super::Report) -> Result<()> {
    let mib = opts.file_mib.unwrap_or(if opts.quick { 64 } else { 1024 });
    let size = mib << 20;
    println!("\n[files] {mib} MiB from A to B on disk, over loopback, with chats at 100 msg/s");
    let scratch = tempfile::Builder::new()
        .prefix("p2p-chat-load-files-")
        .tempdir()?;
    let path = scratch.path().join("file.bin");
    write_file(&path, size)?;
    let seal_open = tokio::task::spawn_blocking({
        let path = path.clone();
        move || seal_open_rate(&path)
    })
    .await??;
    let tcp = tokio::task::spawn_blocking({
        let (path, into) = (path.clone(), scratch.path().to_owned());
        move || tcp_copy_rate(&path, &into)
    })
    .await??;

    let a = PeerProc::start_stored(bin, "alice", true)?;
    let b = PeerProc::start_stored(bin, "bob", true)?;
    let (mut atx, mut arx) = ui::open(&a).await?;
    let (_btx, mut brx) = ui::open(&b).await?;
    let accept = ui::AutoAccept::start(&b).await?;
    ui::connect_to(&mut atx, &mut arx, &b, super::EVENT_LIMIT).await?;
    accept.wait(1, super::EVENT_LIMIT).await?;
    // A's events are not needed beyond the answers waited for below: drained in the background.
    let progress = Arc::new(Mutex::new(Vec::<(Value, Instant)>::new()));
    let idle = chat_latencies(&mut atx, &mut brx, &b.public_key, "idle", 200, &progress).await?;

    let upload_id = upload(&a, &path).await?;
    // RSS of both peers, sampled while the file moves.
    let sampling = Arc::new(AtomicBool::new(true));
    let peaks = Arc::new((AtomicU64::new(0), AtomicU64::new(0)));
    // CPU time of both peers and of the machine, every 100 ms, so that the transfer's share
    // can be read off at its start and at B's `complete` (the loop below notices that only at
    // the end of a batch of chats).
    let cpu_samples = Arc::new(Mutex::new(Vec::<CpuSample>::new()));
    let sampler = {
        let (sampling, peaks, cpu_samples) = (sampling.clone(), peaks.clone(), cpu_samples.clone());
        let (pa, pb) = (a.pid(), b.pid());
        tokio::spawn(async move {
            let mut round = 0u32;
            while sampling.load(Ordering::Relaxed) {
                if let Ok(r) = rss_of(pa) {
                    peaks.0.fetch_max(r, Ordering::Relaxed);
                }
                if let Ok(r) = rss_of(pb) {
                    peaks.1.fetch_max(r, Ordering::Relaxed);
                }
                if round % 5 == 0 {
                    if let Ok(mut samples) = cpu_samples.lock() {
                        samples.push(CpuSample::take(pa, pb));
                    }
                }
                round = round.wrapping_add(1);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let asked = Instant::now();
    ui::send(
        &mut atx,
        &json!({"action": "send_file", "upload": upload_id, "name": "file.bin", "to": b.public_key}),
    )
    .await?;
    let sent = ui::wait_for(&mut arx, Duration::from_secs(600), |e| {
        e["type"] == "message_sent" && e["file"].is_object()
    })
    .await?;
    let offered = Instant::now();
    let hashing = offered - asked;
    let id = sent["id"].as_str().context("id")?.to_owned();
    let drain =
        tokio::spawn(
            async move { while ui::next(&mut arx, Duration::from_secs(600)).await.is_ok() {} },
        );
    // Chats go on while the file moves; the transfer ends at B's `complete`.
    let mut during = Vec::new();
    let mut round = 0;
    let completed_at = loop {
        let batch = chat_latencies(
            &mut atx,
            &mut brx,
            &b.public_key,
            &format!("busy{round}"),
            100,
            &progress,
        )
        .await?;
        during.extend(batch);
        round += 1;
        let state_of = |wanted: &[&str]| {
            progress.lock().ok().and_then(|p| {
                p.iter()
                    .find(|(e, _)| {
                        e["id"] == id.as_str()
                            && wanted.contains(&e["state"].as_str().unwrap_or(""))
                    })
                    .cloned()
            })
        };
        if let Some((_, at)) = state_of(&["complete"]) {
            break at;
        }
        if let Some((failed, _)) = state_of(&["failed", "cancelled", "refused"]) {
            bail!("the transfer stopped: {failed}");
        }
        if offered.elapsed() > Duration::from_secs(900) {
            bail!("the transfer did not finish in 15 minutes");
        }
    };
    sampling.store(false, Ordering::Relaxed);
    let _ = sampler.await;
    drain.abort();
    let transfer = completed_at - offered;
    let rate = size as f64 / transfer.as_secs_f64();
    let cpu = {
        let samples = cpu_samples.lock().map(|s| s.clone()).unwrap_or_default();
        let first = samples.iter().find(|c| c.at >= offered).copied();
        let last = samples.iter().rev().find(|c| c.at <= completed_at).copied();
        match (first, last) {
            (Some(first), Some(last)) if last.at > first.at => Some((first, last)),
            _ => None,
        }
    };
    during.sort_by(|x, y| x.total_cmp(y));
    let (peak_a, peak_b) = (
        peaks.0.load(Ordering::Relaxed),
        peaks.1.load(Ordering::Relaxed),
    );
    let mb = |r: f64| format!("{:.0} MB/s", r / 1e6);
    println!(
        "  hashing before the offer {:.2} s; transfer {:.2} s; {} chats during it",
        hashing.as_secs_f64(),
        transfer.as_secs_f64(),
        during.len()
    );
    report.row(
        &format!("file {mib} MiB A→B on disk vs AES-256-GCM seal+open of its chunks in memory"),
        mb(rate),
        mb(seal_open),
        format!("{:.2}x", rate / seal_open),
        "≥ 0.5×",
        Some(rate / seal_open >= 0.5),
    );
    report.row(
        &format!("file {mib} MiB A→B vs a plain TCP copy of it to disk"),
        mb(rate),
        mb(tcp),
        format!("{:.2}x", rate / tcp),
        "report",
        None,
    );
    report.row(
        "chat latency p50 / p99 during the transfer (100 msg/s)",
        format!("{:.2} / {:.2} ms", pct(&during, 0.5), pct(&during, 0.99)),
        format!(
            "{:.2} / {:.2} ms without a transfer",
            pct(&idle, 0.5),
            pct(&idle, 0.99)
        ),
        format!(
            "{:.2}x (p99)",
            pct(&during, 0.99) / pct(&idle, 0.99).max(0.001)
        ),
        "p99 ≤ 20 ms",
        Some(pct(&during, 0.99) <= 20.0),
    );
    if let Some((first, last)) = cpu {
        let span = (last.at - first.at).as_secs_f64();
        let (sender, receiver) = (last.sender - first.sender, last.receiver - first.receiver);
        let (busy, iowait) = first.machine.shares_until(&last.machine);
        // The cipher's CPU for the bytes moved in that span: what seal+open of them costs one
        // core in memory.
        let cipher = rate * span / seal_open;
        println!(
            "  over {span:.1} s of the transfer: the machine's CPUs {:.0} % busy, {:.0} % waiting for I/O",
            busy * 100.0,
            iowait * 100.0
        );
        report.row(
            "peers' CPU during the transfer (sender + receiver) vs seal+open of the bytes moved",
            format!(
                "{:.2} + {:.2} s ({:.0} % + {:.0} % of a core)",
                sender,
                receiver,
                sender / span * 100.0,
                receiver / span * 100.0
            ),
            format!("{cipher:.2} s"),
            format!("{:.1}x", (sender + receiver) / cipher.max(0.001)),
            "report",
            None,
        );
    }
    let peak = peak_a.max(peak_b);
    report.row(
        "peer RSS during the transfer (sender / receiver)",
        format!(
            "{:.1} / {:.1} MiB",
            peak_a as f64 / 1048576.0,
            peak_b as f64 / 1048576.0
        ),
        format!("{mib} MiB file"),
        format!("{:.3}x of the file", peak as f64 / size as f64),
        "≤ 64 MiB",
        Some(peak <= 64 << 20),
    );
    drop((a, b));
    Ok(())
}
