//! History at scale (BENCHMARKS.md): a real `p2p-chat` on the generated history of
//! `corpus.rs` (1,000,000 messages, 1,000 conversations, 10,000 contacts), driven through its
//! UI WebSocket as the page drives it. Each figure beside a baseline of the same run:
//!
//! * start → UI ready (the first `info` on the WebSocket, timed from spawning the process)
//!   vs the same start on an empty data directory;
//! * open a conversation (`load_history`, last 50), each older page (`before`: keyset), and
//!   `search` for common and rare words, long and short, everywhere and in one conversation
//!   (p99 over every request) vs the same question asked of the database file directly with
//!   rusqlite while the peer is stopped (the obvious statement: the conversation index, the
//!   FTS5 index newest first, `LIKE` for terms of one or two characters);
//! * database bytes per message.
//!
//! Rounds alternate the peer and the baselines, so both see the same machine.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use super::corpus::{self, Corpus};
use super::proc::PeerProc;
use super::ui;
use super::{percentile, Opts, Report};

const EVENT_LIMIT: Duration = Duration::from_secs(60);

/// Where a search looks.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scope {
    Everywhere,
    /// Conversation 0 (100,000 messages).
    Big,
    /// A conversation of a few hundred messages (conversation [`SMALL`]).
    Small,
}

/// The conversation the small-scope searches look in (the conversations are Zipf-sized: this
/// one holds a few hundred messages).
const SMALL: usize = 300;

/// One search the figures time: what it is called, the query, where.
struct Query {
    label: &'static str,
    text: &'static str,
    scope: Scope,
}

const QUERIES: &[Query] = &[
    Query {
        label: "common word",
        text: corpus::COMMON_WORD,
        scope: Scope::Everywhere,
    },
    Query {
        label: "rare word",
        text: corpus::RARE_WORD,
        scope: Scope::Everywhere,
    },
    Query {
        label: "common 2-letter word",
        text: corpus::COMMON_SHORT,
        scope: Scope::Everywhere,
    },
    Query {
        label: "rare 2-character CJK word",
        text: corpus::RARE_CJK_PAIR,
        scope: Scope::Everywhere,
    },
    Query {
        label: "rare 1-character CJK word",
        text: corpus::RARE_CJK_CHAR,
        scope: Scope::Everywhere,
    },
    Query {
        label: "common word, big conversation",
        text: corpus::COMMON_WORD,
        scope: Scope::Big,
    },
    Query {
        label: "rare word, big conversation",
        text: corpus::RARE_WORD,
        scope: Scope::Big,
    },
    Query {
        label: "common word, small conversation",
        text: corpus::COMMON_WORD,
        scope: Scope::Small,
    },
    Query {
        label: "common 2-letter word, small conversation",
        text: corpus::COMMON_SHORT,
        scope: Scope::Small,
    },
    Query {
        label: "rare 2-character CJK word, big conversation",
        text: corpus::RARE_CJK_PAIR,
        scope: Scope::Big,
    },
];

impl Query {
    /// The conversation it is limited to, if any.
    fn conversation<'a>(&self, corpus: &'a Corpus) -> Option<&'a str> {
        match self.scope {
            Scope::Everywhere => None,
            Scope::Big => Some(corpus.big()),
            Scope::Small => Some(corpus.conversations[SMALL].as_str()),
        }
    }
}

/// Milliseconds of each request of one kind, over all rounds.
#[derive(Default)]
struct Samples {
    peer: Vec<f64>,
    raw: Vec<f64>,
}

impl Samples {
    /// (peer p50, peer p99, baseline p50, baseline p99) in ms.
    fn summary(&mut self) -> (f64, f64, f64, f64) {
        self.peer.sort_by(f64::total_cmp);
        self.raw.sort_by(f64::total_cmp);
        (
            percentile(&self.peer, 0.5),
            percentile(&self.peer, 0.99),
            percentile(&self.raw, 0.5),
            percentile(&self.raw, 0.99),
        )
    }
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1e3
}

/// Copies the generated history, so the peer may write to its copy.
fn working_copy(corpus: &Corpus) -> Result<tempfile::TempDir> {
    let parent = corpus.dir.parent().context("history dir")?;
    let work = tempfile::Builder::new()
        .prefix("history-run-")
        .tempdir_in(parent)?;
    for entry in std::fs::read_dir(&corpus.dir)? {
        let entry = entry?;
        std::fs::copy(entry.path(), work.path().join(entry.file_name()))?;
    }
    Ok(work)
}

/// A peer on `dir`, timed from spawn to its first `info` on a fresh WebSocket, then to the end
/// of the greeting (`requests`, its last event). Returns the peer, its open UI and both times.
async fn start_timed(bin: &Path, dir: &Path) -> Result<(PeerProc, ui::UiTx, ui::UiRx, f64, f64)> {
    let t0 = Instant::now();
    let peer = PeerProc::start_in(bin, dir)?;
    let (tx, mut rx) = ui::open(&peer).await?;
    let first = ui::next(&mut rx, EVENT_LIMIT).await?;
    let to_info = ms(t0);
    if first["type"] != "info" {
        bail!("the first event was {first}, not info");
    }
    ui::wait_for(&mut rx, EVENT_LIMIT, |e| e["type"] == "requests").await?;
    let to_greeting = ms(t0);
    Ok((peer, tx, rx, to_info, to_greeting))
}

/// Sends `action` and waits for the reply of type `kind`; the time in ms and the reply.
async fn ask(
    tx: &mut ui::UiTx,
    rx: &mut ui::UiRx,
    action: Value,
    kind: &str,
) -> Result<(f64, Value)> {
    let t0 = Instant::now();
    ui::send(tx, &action).await?;
    let reply = ui::wait_for(rx, EVENT_LIMIT, |e| {
        e["type"] == kind || e["type"] == "error"
    })
    .await?;
    if reply["type"] == "error" {
        bail!("{action} failed: {reply}");
    }
    Ok((ms(t0), reply))
}

/// The `seq` of the oldest message of a `history` page.
fn oldest_seq(page: &Value) -> Option<i64> {
    page["messages"]
        .as_array()?
        .iter()
        .filter(|m| m["kind"] == "chat")
        .filter_map(|m| m["seq"].as_i64())
        .min()
}

struct Plan {
    /// Conversations opened per round.
    opens: Vec<String>,
    /// Older pages read per round.
    pages: usize,
    /// Times each query runs per round.
    searches: usize,
}

/// What the peer's UI answers: opens, older pages (keyset, through the big conversation), the
/// searches. Returns the `before` of every page read (for the baseline).
async fn peer_requests(
    tx: &mut ui::UiTx,
    rx: &mut ui::UiRx,
    corpus: &Corpus,
    plan: &Plan,
    opens: &mut Samples,
    pages: &mut Samples,
    searches: &mut [Samples],
) -> Result<Vec<i64>> {
    for conv in &plan.opens {
        let action = json!({"action": "load_history", "conversation": conv, "limit": 50});
        let (t, page) = ask(tx, rx, action, "history").await?;
        if page["messages"].as_array().is_none_or(Vec::is_empty) {
            bail!("conversation {conv} came back empty");
        }
        opens.peer.push(t);
    }
    let big = corpus.big();
    let first = json!({"action": "load_history", "conversation": big, "limit": 50});
    let (_, page) = ask(tx, rx, first, "history").await?;
    let mut before = oldest_seq(&page).context("the big conversation is empty")?;
    let mut befores = Vec::with_capacity(plan.pages);
    for _ in 0..plan.pages {
        befores.push(before);
        let action =
            json!({"action": "load_history", "conversation": big, "limit": 50, "before": before});
        let (t, page) = ask(tx, rx, action, "history").await?;
        pages.peer.push(t);
        before = oldest_seq(&page).context("ran out of older pages")?;
    }
    for (query, samples) in QUERIES.iter().zip(searches.iter_mut()) {
        for _ in 0..plan.searches {
            let mut action = json!({"action": "search", "query": query.text, "limit": 50});
            if let Some(conv) = query.conversation(corpus) {
                action["conversation"] = json!(conv);
            }
            let (t, results) = ask(tx, rx, action, "search_results").await?;
            if query.scope == Scope::Everywhere
                && results["results"].as_array().is_none_or(Vec::is_empty)
            {
                bail!("search {:?} found nothing", query.text);
            }
            samples.peer.push(t);
        }
    }
    Ok(befores)
}

/// The same questions asked of the database file directly (the peer stopped).
fn raw_requests(
    db: &Path,
    corpus: &Corpus,
    plan: &Plan,
    befores: &[i64],
    opens: &mut Samples,
    pages: &mut Samples,
    searches: &mut [Samples],
) -> Result<()> {
    let conn = rusqlite::Connection::open_with_flags(
        db,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    type Row = (i64, String, String, String, i64, i64, String);
    let page = |conv: &str, before: i64| -> Result<Vec<Row>> {
        let mut stmt = conn.prepare_cached(
            "SELECT seq, sender, msg_id, text, sent_at, received_at, direction FROM messages
             WHERE conv_kind = 'peer' AND conv_id = ?1 AND seq < ?2 ORDER BY seq DESC LIMIT 50",
        )?;
        let rows = stmt.query_map(rusqlite::params![conv, before], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
            ))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    };
    for conv in &plan.opens {
        let t0 = Instant::now();
        let rows = page(conv, i64::MAX)?;
        opens.raw.push(ms(t0));
        if rows.is_empty() {
            bail!("raw: {conv} is empty");
        }
    }
    for &before in befores {
        let t0 = Instant::now();
        page(corpus.big(), before)?;
        pages.raw.push(ms(t0));
    }
    for (query, samples) in QUERIES.iter().zip(searches.iter_mut()) {
        let short = query.text.chars().count() < 3;
        let scope = if query.scope == Scope::Everywhere {
            " AND ?2 IS NOT NULL"
        } else {
            " AND m.conv_kind = 'peer' AND m.conv_id = ?2"
        };
        let conv = query.conversation(corpus).unwrap_or_default();
        let sql = if short {
            format!(
                "SELECT m.seq, m.text FROM messages m WHERE m.text LIKE ?1{scope}
                 ORDER BY m.seq DESC LIMIT 51"
            )
        } else {
            format!(
                "SELECT m.seq, m.text FROM messages_fts f JOIN messages m ON m.seq = f.rowid
                 WHERE messages_fts MATCH ?1{scope} ORDER BY f.rowid DESC LIMIT 51"
            )
        };
        let pattern = if short {
            format!("%{}%", query.text)
        } else {
            format!("\"{}\"", query.text)
        };
        for _ in 0..plan.searches {
            let t0 = Instant::now();
            let mut stmt = conn.prepare_cached(&sql)?;
            let rows = stmt.query_map(rusqlite::params![pattern, conv], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
            })?;
            let found: Vec<(i64, String)> = rows.collect::<rusqlite::Result<_>>()?;
            samples.raw.push(ms(t0));
            if query.scope == Scope::Everywhere && found.is_empty() {
                bail!("raw search {:?} found nothing", query.text);
            }
        }
    }
    Ok(())
}

/// Bytes per table and index (SQLite's `dbstat`), largest first.
fn space_by_object(db: &Path) -> Result<Vec<(String, u64)>> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let mut stmt = conn.prepare(
        "SELECT name, sum(pgsize) AS bytes FROM dbstat GROUP BY name ORDER BY bytes DESC",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
    Ok(rows
        .filter_map(|r| r.ok())
        .map(|(name, bytes)| (name, bytes.max(0) as u64))
        .collect())
}

pub async fn phase(bin: &Path, opts: &Opts, report: &mut Report) -> Result<()> {
    println!("\n[scale] a real p2p-chat on a generated history of 1,000,000 messages, 1,000 conversations, 10,000 contacts");
    let corpus = {
        let bin = bin.to_path_buf();
        tokio::task::spawn_blocking(move || corpus::prepare(&bin, corpus::FULL)).await??
    };
    let bytes = corpus.database_bytes();
    let per_message = bytes as f64 / corpus.shape.messages as f64;
    println!(
        "  database {:.1} MB, {per_message:.0} bytes per message",
        bytes as f64 / 1e6
    );
    let db = corpus.dir.join("p2p-chat.db");
    for (name, size) in space_by_object(&db)?.into_iter().take(8) {
        println!(
            "    {name}: {:.1} MB ({:.0} B/message)",
            size as f64 / 1e6,
            size as f64 / corpus.shape.messages as f64
        );
    }
    let work = working_copy(&corpus)?;
    let work_db: PathBuf = work.path().join("p2p-chat.db");
    let plan = Plan {
        opens: corpus
            .conversations
            .iter()
            .take(if opts.quick { 100 } else { 300 })
            .cloned()
            .collect(),
        pages: if opts.quick { 100 } else { 300 },
        searches: if opts.quick { 30 } else { 100 },
    };
    let (mut starts, mut empty_starts, mut greetings) = (Vec::new(), Vec::new(), Vec::new());
    let mut first_opens = Vec::new();
    let (mut opens, mut pages) = (Samples::default(), Samples::default());
    let mut searches: Vec<Samples> = QUERIES.iter().map(|_| Samples::default()).collect();
    for round in 0..opts.rounds() {
        // Baseline start: the same binary on an empty data directory.
        let empty = tempfile::Builder::new()
            .prefix("p2p-chat-load-empty-")
            .tempdir()?;
        let (peer, _tx, _rx, to_info, _) = start_timed(bin, empty.path()).await?;
        drop(peer);
        empty_starts.push(to_info);

        let (peer, mut tx, mut rx, to_info, to_greeting) = start_timed(bin, work.path()).await?;
        starts.push(to_info);
        greetings.push(to_greeting);
        // The first conversation opened right after start (an integrity check may run then).
        let action = json!({"action": "load_history", "conversation": corpus.conversations[round + 1], "limit": 50});
        let (first_open, _) = ask(&mut tx, &mut rx, action, "history").await?;
        first_opens.push(first_open);
        let befores = peer_requests(
            &mut tx,
            &mut rx,
            &corpus,
            &plan,
            &mut opens,
            &mut pages,
            &mut searches,
        )
        .await?;
        let mut peer = peer;
        if !peer.alive() {
            bail!("p2p-chat died: {}", peer.log_tail());
        }
        drop((tx, rx));
        drop(peer);
        {
            let (db, corpus) = (work_db.clone(), corpus.clone());
            let plan_raw = Plan {
                opens: plan.opens.clone(),
                pages: plan.pages,
                searches: plan.searches,
            };
            let (mut o, mut p) = (Samples::default(), Samples::default());
            let mut s: Vec<Samples> = QUERIES.iter().map(|_| Samples::default()).collect();
            let (o, p, s) = tokio::task::spawn_blocking(move || {
                raw_requests(&db, &corpus, &plan_raw, &befores, &mut o, &mut p, &mut s)
                    .map(|()| (o, p, s))
            })
            .await??;
            opens.raw.extend(o.raw);
            pages.raw.extend(p.raw);
            for (all, one) in searches.iter_mut().zip(s) {
                all.raw.extend(one.raw);
            }
        }
        println!(
            "  round {round}: start → info {to_info:.0} ms (empty data dir {:.0} ms), greeting done {to_greeting:.0} ms, first open {first_open:.1} ms",
            empty_starts[round]
        );
    }
    let median = |v: &mut Vec<f64>| super::median(v);
    let (start, empty_start) = (median(&mut starts), median(&mut empty_starts));
    println!(
        "  greeting with 10,000 contacts done after {:.0} ms (median); first open after start {:.1} ms (median)",
        median(&mut greetings),
        median(&mut first_opens)
    );
    report.row(
        "history 1M: peer start → first `info` on the UI WebSocket",
        format!("{start:.0} ms (median of {})", starts.len()),
        format!("same start, empty data dir {empty_start:.0} ms"),
        format!("{:.2}x", start / empty_start),
        "<= 300 ms",
        Some(start <= 300.0),
    );
    let mut rows: Vec<(String, &mut Samples, f64)> = vec![
        ("open a conversation (last 50)".into(), &mut opens, 10.0),
        ("older page, keyset (50)".into(), &mut pages, 10.0),
    ];
    for (query, samples) in QUERIES.iter().zip(searches.iter_mut()) {
        rows.push((
            format!("search {:?}: {}", query.text, query.label),
            samples,
            50.0,
        ));
    }
    for (label, samples, target) in rows {
        let (p50, p99, raw50, raw99) = samples.summary();
        report.row(
            &format!("history 1M: {label}"),
            format!("p99 {p99:.1} ms (p50 {p50:.1}, n={})", samples.peer.len()),
            format!("rusqlite on the file: p99 {raw99:.2} ms (p50 {raw50:.2})"),
            format!("{:.1}x (p99)", p99 / raw99),
            &format!("p99 <= {target:.0} ms"),
            Some(p99 <= target),
        );
    }
    report.row(
        "history 1M: database bytes per message",
        format!("{per_message:.0} B ({:.0} MB)", bytes as f64 / 1e6),
        "-".into(),
        "-".into(),
        "(report)",
        None,
    );
    Ok(())
}
