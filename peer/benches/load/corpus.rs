//! A generated history for the scale figures (BENCHMARKS.md, "History at scale"): by default
//! 1,000,000 messages in 1,000 conversations with 10,000 contacts, written into a real data
//! directory as the peer stores them, so a real `p2p-chat` starts on it.
//!
//! The rows go in through plain SQL in one transaction (the peer's own insert path would take
//! minutes for a million rows); the search index is then built by the store's own
//! `index_backlog` in the peer's idle-time steps of 64 KiB, so the index has the segments a
//! peer that received the messages over months would have. Seeded: every run measures the
//! same database. Nothing is checked in: the directory is built on first use under
//! `target/load-bench/` and reused while [`GENERATOR`] and the schema version are unchanged.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use peer::store::{Store, SCHEMA_VERSION};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Bumped whenever what is generated changes, so an old directory is not reused.
const GENERATOR: u32 = 2;

/// How big a history to generate.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub messages: usize,
    pub conversations: usize,
    pub contacts: usize,
    /// Messages of conversation 0, the big one (the rest share what is left, Zipf-like).
    pub big: usize,
}

/// The history BENCHMARKS.md measures: a heavy user.
pub const FULL: Shape = Shape {
    messages: 1_000_000,
    conversations: 1_000,
    contacts: 10_000,
    big: 100_000,
};

/// Words a query can look for, each planted at a known rate (see [`text`]).
pub const COMMON_WORD: &str = "tomorrow";
pub const RARE_WORD: &str = "xylophone";
pub const COMMON_SHORT: &str = "ok";
pub const RARE_CJK_PAIR: &str = "麒麟";
pub const RARE_CJK_CHAR: &str = "鑫";

/// A generated data directory.
#[derive(Debug, Clone)]
pub struct Corpus {
    /// identity.key and p2p-chat.db (do not write to it: copy it first).
    pub dir: PathBuf,
    pub shape: Shape,
    /// Conversation ids (contacts' `peer_id`s), conversation 0 first.
    pub conversations: Vec<String>,
}

impl Corpus {
    /// The conversation holding [`Shape::big`] messages.
    pub fn big(&self) -> &str {
        &self.conversations[0]
    }

    /// Bytes of the database and its WAL.
    pub fn database_bytes(&self) -> u64 {
        database_bytes(&self.dir)
    }
}

/// Bytes of `dir`'s database and WAL.
pub fn database_bytes(dir: &Path) -> u64 {
    ["p2p-chat.db", "p2p-chat.db-wal"]
        .iter()
        .filter_map(|f| std::fs::metadata(dir.join(f)).ok())
        .map(|m| m.len())
        .sum()
}

/// Where generated histories are kept: `LOAD_HISTORY_DIR`, else `target/load-bench/`.
fn cache_root() -> PathBuf {
    if let Ok(dir) = std::env::var("LOAD_HISTORY_DIR") {
        return PathBuf::from(dir);
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| workspace.join("target"))
        .join("load-bench")
}

/// The history of `shape`, generated now unless a current one exists.
pub fn prepare(bin: &Path, shape: Shape) -> Result<Corpus> {
    let name = format!(
        "history-g{GENERATOR}-s{SCHEMA_VERSION}-{}m-{}c-{}k",
        shape.messages, shape.conversations, shape.contacts
    );
    let dir = cache_root().join(name);
    let manifest = dir.join("conversations.txt");
    if let Ok(list) = std::fs::read_to_string(&manifest) {
        let conversations: Vec<String> = list.lines().map(str::to_owned).collect();
        if conversations.len() == shape.conversations {
            return Ok(Corpus {
                dir,
                shape,
                conversations,
            });
        }
    }
    let building = dir.with_extension("building");
    let _ = std::fs::remove_dir_all(&building);
    std::fs::create_dir_all(&building)?;
    let started = Instant::now();
    println!(
        "  generating {} messages in {} conversations, {} contacts into {} (once; reused by later runs)",
        shape.messages,
        shape.conversations,
        shape.contacts,
        dir.display()
    );
    let own = own_key(bin, &building)?;
    let conversations = generate(&building, &own, shape)?;
    println!(
        "  rows written in {:.1} s; indexing for search…",
        started.elapsed().as_secs_f64()
    );
    index(&building)?;
    std::fs::write(building.join("conversations.txt"), conversations.join("\n"))?;
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::rename(&building, &dir)?;
    println!(
        "  generated in {:.1} s: {:.1} MB",
        started.elapsed().as_secs_f64(),
        database_bytes(&dir) as f64 / 1e6
    );
    Ok(Corpus {
        dir,
        shape,
        conversations,
    })
}

/// Creates the identity with `p2p-chat id` and returns its public key.
fn own_key(bin: &Path, dir: &Path) -> Result<String> {
    let out = Command::new(bin)
        .args(["id", "--data-dir"])
        .arg(dir)
        .output()
        .context("running p2p-chat id")?;
    if !out.status.success() {
        bail!("p2p-chat id: {}", String::from_utf8_lossy(&out.stderr));
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("public key:").map(|k| k.trim().to_owned()))
        .context("p2p-chat id printed no public key")
}

fn random_key(rng: &mut StdRng) -> String {
    crypto_core::PublicKey::from_bytes(rng.gen()).to_base64()
}

const FIRST: &[&str] = &[
    "Ada", "Bo", "Chen", "Dana", "Emeka", "Fatima", "Goran", "Hana", "Ivan", "Jun", "Kofi", "Lena",
    "Mateo", "Nia", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tomás", "Uma", "Vera", "Wei",
    "Xenia", "Yusuf", "Zoe",
];
const LAST: &[&str] = &[
    "Abe", "Berg", "Costa", "Dube", "Eze", "Fischer", "García", "Horvat", "Ito", "Jensen",
    "Kowalski", "Li", "Moreau", "Nakamura", "Okafor", "Petrov", "Rossi", "Silva", "Tanaka",
    "Urban", "Varga", "Wójcik", "Yilmaz", "Zhang",
];
const GLUE: &[&str] = &[
    "the", "and", "to", "a", "of", "in", "is", "it", "you", "that", "we", "for", "on", "are",
    "with", "this", "be", "at", "have", "not", "I", "so", "but", "just", "can",
];
const CJK_WORDS: &[&str] = &[
    "你好", "我们", "今天", "明天", "时间", "工作", "朋友", "问题", "学习", "知道", "什么", "没有",
    "可以", "喜欢", "现在", "已经", "一起", "电话", "晚上", "早上", "下午", "谢谢", "吃饭", "开会",
    "周末", "天气", "回家", "地方", "照片", "音乐", "电影", "咖啡",
];

/// A pronounceable made-up word of 2–4 syllables (no "q", so no planted word occurs by chance).
fn made_up_word(rng: &mut StdRng) -> String {
    const ONSETS: &[&str] = &[
        "b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "br",
        "ch", "dr", "gr", "pl", "st", "sh", "tr",
    ];
    const VOWELS: &[&str] = &["a", "e", "i", "o", "u", "ai", "ea", "ou"];
    let syllables = rng.gen_range(2..=4);
    (0..syllables)
        .map(|_| {
            format!(
                "{}{}",
                ONSETS[rng.gen_range(0..ONSETS.len())],
                VOWELS[rng.gen_range(0..VOWELS.len())]
            )
        })
        .collect()
}

/// Index into a Zipf-like distribution (weight 1/(rank+1)) through its cumulative weights.
fn zipf(rng: &mut StdRng, cumulative: &[f64]) -> usize {
    let total = cumulative.last().copied().unwrap_or(1.0);
    let x = rng.gen::<f64>() * total;
    cumulative
        .partition_point(|&c| c < x)
        .min(cumulative.len() - 1)
}

fn cumulative(n: usize) -> Vec<f64> {
    let mut sum = 0.0;
    (0..n)
        .map(|rank| {
            sum += 1.0 / (rank as f64 + 1.0);
            sum
        })
        .collect()
}

/// Message texts: mostly ~100 bytes of made-up words with English glue words; 3 % Chinese.
/// [`COMMON_WORD`] is in ~4 % of the Latin ones, [`COMMON_SHORT`] in ~3 %; each rare word or
/// character is planted in 16 messages spread over the whole history.
struct Texts {
    vocabulary: Vec<String>,
    weights: Vec<f64>,
    rare_every: usize,
}

impl Texts {
    fn new(rng: &mut StdRng, messages: usize) -> Self {
        let mut seen = HashSet::new();
        let mut vocabulary = Vec::new();
        while vocabulary.len() < 3000 {
            let word = made_up_word(rng);
            if seen.insert(word.clone()) {
                vocabulary.push(word);
            }
        }
        Texts {
            weights: cumulative(vocabulary.len()),
            vocabulary,
            rare_every: (messages / 16).max(1),
        }
    }

    fn text(&self, rng: &mut StdRng, seq: usize) -> String {
        let mut words: Vec<&str> = Vec::with_capacity(24);
        let cjk = rng.gen_bool(0.03);
        let target = rng.gen_range(60..140);
        let mut len = 0;
        if cjk {
            while len < target {
                let w = CJK_WORDS[zipf(rng, &self.weights[..CJK_WORDS.len()])];
                len += w.len();
                words.push(w);
            }
        } else {
            if rng.gen_bool(0.04) {
                words.push(COMMON_WORD);
            }
            if rng.gen_bool(0.03) {
                words.push(COMMON_SHORT);
            }
            while len < target {
                let w = if rng.gen_bool(0.35) {
                    GLUE[rng.gen_range(0..GLUE.len())]
                } else {
                    self.vocabulary[zipf(rng, &self.weights)].as_str()
                };
                len += w.len() + 1;
                words.push(w);
            }
        }
        let slot = seq % self.rare_every;
        let rare = match slot {
            7 => Some(RARE_WORD),
            11 => Some(RARE_CJK_PAIR),
            13 => Some(RARE_CJK_CHAR),
            _ => None,
        };
        if let Some(rare) = rare {
            let at = rng.gen_range(0..=words.len());
            words.insert(at, rare);
        }
        // Shuffle the planted common words into the sentence.
        if words.len() > 2 && !cjk {
            let i = rng.gen_range(0..words.len());
            words.swap(0, i);
        }
        words.join(if cjk { "" } else { " " })
    }
}

/// Writes contacts, messages and outbox rows; returns the conversation ids.
fn generate(dir: &Path, own: &str, shape: Shape) -> Result<Vec<String>> {
    let path = dir.join("p2p-chat.db");
    // The schema exactly as the peer creates it.
    Store::open(&path)
        .context("creating the database")?
        .close()?;
    let mut conn = rusqlite::Connection::open(&path)?;
    conn.execute_batch("PRAGMA synchronous = OFF; PRAGMA cache_size = -262144;")?;
    let mut rng = StdRng::seed_from_u64(0x5ca1e);
    let texts = Texts::new(&mut rng, shape.messages);
    let tx = conn.transaction()?;
    let start_ms: i64 = 1_700_000_000_000;
    let mut contacts = Vec::with_capacity(shape.contacts);
    {
        let mut insert = tx.prepare(
            "INSERT INTO contacts (public_key, name, last_address, listen_port, first_seen,
                 last_seen, verified) VALUES (?1, ?2, ?3, 1, ?4, ?5, ?6)",
        )?;
        for i in 0..shape.contacts {
            let key = random_key(&mut rng);
            let name = format!(
                "{} {}",
                FIRST[rng.gen_range(0..FIRST.len())],
                LAST[rng.gen_range(0..LAST.len())]
            );
            // The peer dials its contacts (PROTOCOL.md §7.3): loopback addresses on port 1,
            // where nothing listens, so every dial is refused at once and no packet leaves
            // this computer.
            let address = format!("127.{}.{}.{}:1", 1 + i / 65536, (i / 256) % 256, i % 256);
            insert.execute(rusqlite::params![
                key,
                name,
                address,
                start_ms,
                start_ms + 1000,
                rng.gen_bool(0.2)
            ])?;
            contacts.push(key);
        }
    }
    let conversations: Vec<String> = contacts[..shape.conversations].to_vec();
    // Conversation 0 gets `big` messages; the others share the rest by Zipf-like weights.
    let others = cumulative(shape.conversations - 1);
    let big_share = shape.big as f64 / shape.messages as f64;
    {
        let mut message = tx.prepare(
            "INSERT INTO messages (seq, conv_kind, conv_id, sender, msg_id, text, sent_at,
                 received_at, direction) VALUES (?1, 'peer', ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?;
        let mut outbox =
            tx.prepare("INSERT INTO outbox (recipient, message, state) VALUES (?1, ?2, 2)")?;
        let mut at = start_ms;
        for seq in 1..=shape.messages {
            let conv = if rng.gen_bool(big_share) {
                0
            } else {
                1 + zipf(&mut rng, &others)
            };
            let peer = &conversations[conv];
            let out = rng.gen_bool(0.5);
            let text = texts.text(&mut rng, seq);
            at += rng.gen_range(1_000..120_000);
            let seq = seq as i64;
            message.execute(rusqlite::params![
                seq,
                peer,
                if out { own } else { peer.as_str() },
                format!("g{seq:x}"),
                text,
                at,
                at + rng.gen_range(5..500),
                if out { "out" } else { "in" },
            ])?;
            if out {
                outbox.execute(rusqlite::params![peer, seq])?;
            }
            if seq % 200_000 == 0 {
                println!("    {seq} messages");
            }
        }
    }
    tx.commit()?;
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
    conn.close().map_err(|(_, e)| e)?;
    Ok(conversations)
}

/// Indexes the whole backlog for search with the store's own code, in the peer's idle steps.
fn index(dir: &Path) -> Result<()> {
    let started = Instant::now();
    let mut store = Store::open(dir.join("p2p-chat.db"))?;
    let mut steps = 0u64;
    loop {
        store.begin_group()?;
        let mut more = true;
        for _ in 0..200 {
            more = store.index_backlog(64 * 1024)?;
            steps += 1;
            if !more {
                break;
            }
        }
        store.commit_group()?;
        if !more {
            break;
        }
        if steps % 2000 == 0 {
            println!(
                "    {steps} index steps, {:.0} s",
                started.elapsed().as_secs_f64()
            );
        }
    }
    store.close()?;
    Ok(())
}
