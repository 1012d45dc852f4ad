//! `p2p-chat search`, `p2p-chat export` and `p2p-chat conversations`: read a data directory's
//! history from the terminal.
//!
//! They open the database themselves, so they work only while no peer runs with that data
//! directory: a running peer holds the database locked for itself (`locking_mode = EXCLUSIVE`,
//! see `store`), and these commands then say so ("the peer for this data directory is
//! running", and what to do instead) rather than wait. We chose that over asking the running
//! peer: the page already searches a running peer, and a terminal client of the UI WebSocket
//! would need the launch token and a second copy of the page's protocol handling.
//!
//! Message text is untrusted: everything printed for a terminal goes through
//! [`printable`](crate::chat_cli::printable). The JSON export is the one exception, as JSON
//! escapes control characters itself. Its format is README's "Export format" (version 1).

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use crypto_core::PublicKey;
use serde::Serialize;

use crate::chat_cli::printable;
use crate::store::{Conversation, Store, StoreError, StoredMessage};

/// How long the commands wait for the database lock before saying the peer is running.
const LOCK_WAIT: Duration = Duration::from_millis(300);

/// Messages read per page while exporting.
const EXPORT_PAGE: usize = 500;

/// The export format's version (README, "Export format").
pub const EXPORT_VERSION: u32 = 1;

/// The text export and the JSON export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// One JSON document (README, "Export format").
    Json,
    /// One line per message: time, conversation, sender, text.
    Txt,
}

/// What to do instead while the peer runs, for `search`.
const SEARCH_WHILE_RUNNING: &str =
    "search from its page (`p2p-chat url` prints its address), or stop it first";

/// What to do instead while the peer runs, for `conversations`.
const CONVERSATIONS_WHILE_RUNNING: &str =
    "its page lists them; or stop it (Ctrl-C where it runs) and list them again";

/// What to do instead while the peer runs, for `export` (the page has no export).
const EXPORT_WHILE_RUNNING: &str =
    "it keeps its database to itself, so stop it (Ctrl-C where it runs) and export again";

/// Opens the database of data directory `dir` for reading by a command; `while_running` says
/// what to do when the peer holds it.
fn open(dir: &Path, while_running: &str) -> anyhow::Result<Store> {
    let path = dir.join(crate::config::DATABASE_FILE);
    if !path.exists() {
        anyhow::bail!(
            "no message database in {} (no peer has run with it)",
            dir.display()
        );
    }
    match Store::open_with_timeout(&path, LOCK_WAIT) {
        Ok(mut store) => {
            // Files of messages deleted here are removed with them (PROTOCOL.md §8.11).
            store.set_files_dir(Some(dir.join("files")));
            // What expired while the peer was stopped goes first, as the peer itself does at
            // start (PROTOCOL.md §8.8): a search or an export never shows it.
            while store
                .sweep_expired(crate::event::now_ms())
                .context("cannot delete expired messages")?
                > 0
            {}
            store.scrub_if_needed();
            Ok(store)
        }
        Err(StoreError::Locked) => {
            anyhow::bail!("the peer for this data directory is running; {while_running}")
        }
        Err(e) => Err(e).context("cannot open the database"),
    }
}

/// Names of senders and conversations, looked up once each.
struct Names<'a> {
    store: &'a Store,
    own: String,
    /// Our key, when the data directory's identity could be read.
    own_key: Option<PublicKey>,
    people: HashMap<PublicKey, String>,
    rooms: HashMap<String, String>,
}

impl<'a> Names<'a> {
    fn new(store: &'a Store, dir: &Path) -> Self {
        let own = store.own_name().ok().flatten().unwrap_or_default();
        let own_key = crate::config::read_identity(dir)
            .ok()
            .flatten()
            .map(|identity| *identity.public_key());
        Names {
            store,
            own,
            own_key,
            people: HashMap::new(),
            rooms: HashMap::new(),
        }
    }

    fn person(&mut self, key: &PublicKey) -> String {
        if let Some(name) = self.people.get(key) {
            return name.clone();
        }
        let name = match self.store.contact(key) {
            Ok(Some(c)) => c.shown_name().to_owned(),
            _ => String::new(),
        };
        self.people.insert(*key, name.clone());
        name
    }

    fn sender(&mut self, m: &StoredMessage) -> String {
        if m.direction == crate::store::MessageDirection::Outgoing {
            return self.me();
        }
        self.someone(&m.message.sender)
    }

    fn me(&self) -> String {
        if self.own.is_empty() {
            "me".into()
        } else {
            self.own.clone()
        }
    }

    /// Whoever `key` is: us, a contact by name, else the start of the key.
    fn someone(&mut self, key: &PublicKey) -> String {
        if self.own_key.as_ref() == Some(key) {
            return self.me();
        }
        let name = self.person(key);
        if name.is_empty() {
            short_key(key)
        } else {
            name
        }
    }

    fn conversation(&mut self, conv: &Conversation) -> String {
        match conv {
            Conversation::Everyone => "Everyone".into(),
            Conversation::Peer(key) => {
                let name = self.person(key);
                if name.is_empty() {
                    short_key(key)
                } else {
                    name
                }
            }
            Conversation::Room(id) => {
                if let Some(name) = self.rooms.get(id) {
                    return name.clone();
                }
                let name = match self.store.room(id) {
                    Ok(Some(room)) => room.name,
                    _ => id.clone(),
                };
                self.rooms.insert(id.clone(), name.clone());
                name
            }
        }
    }
}

fn short_key(key: &PublicKey) -> String {
    key.to_base64().chars().take(8).collect()
}

/// `YYYY-MM-DD HH:MM` in UTC for Unix milliseconds.
pub fn utc_minute(ms: u64) -> String {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let (h, m) = ((secs % 86_400) / 3600, (secs % 3600) / 60);
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(mo <= 2);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{m:02}")
}

/// Runs `p2p-chat search`: prints the matches, newest first, and returns how many.
pub fn search(
    dir: &Path,
    query: &str,
    conversation: Option<&str>,
    limit: usize,
) -> anyhow::Result<usize> {
    let scope = conversation
        .map(Conversation::parse_ui_id)
        .transpose()
        .context("--conversation")?;
    let store = open(dir, SEARCH_WHILE_RUNNING)?;
    let page = store.search(query, scope.as_ref(), limit)?;
    let mut names = Names::new(&store, dir);
    let mut out = std::io::stdout().lock();
    for hit in &page.hits {
        let m = &hit.message;
        let sn = &hit.snippet;
        writeln!(
            out,
            "{} UTC  [{}]  {}: {}{}{}",
            utc_minute(m.message.received_at),
            printable(&names.conversation(&m.message.conversation)),
            printable(&names.sender(m)),
            if sn.cut_before { "…" } else { "" },
            printable(&sn.text),
            if sn.cut_after { "…" } else { "" },
        )?;
    }
    let n = page.hits.len();
    let more = if page.more {
        " (more match: raise --limit)"
    } else {
        ""
    };
    eprintln!("{n} message{} found{more}", if n == 1 { "" } else { "s" });
    Ok(n)
}

/// Runs `p2p-chat conversations`: one line per conversation, the id first (what `--conversation`
/// takes), then its name, its message count and when its newest message arrived. Those with
/// messages come first, most recent first; then every contact and room without any, and
/// "everyone". Returns how many lines it printed.
pub fn conversations(dir: &Path) -> anyhow::Result<usize> {
    let store = open(dir, CONVERSATIONS_WHILE_RUNNING)?;
    let mut names = Names::new(&store, dir);
    let mut listed: Vec<(Conversation, u64, Option<u64>)> = store
        .conversation_counts()?
        .into_iter()
        .map(|(conv, n, last)| (conv, n, Some(last)))
        .collect();
    let mut empty: Vec<Conversation> = vec![Conversation::Everyone];
    empty.extend(
        store
            .list_contacts()?
            .into_iter()
            .map(|c| Conversation::Peer(c.public_key)),
    );
    empty.extend(
        store
            .list_rooms()?
            .into_iter()
            .map(|r| Conversation::Room(r.id)),
    );
    let mut seen: HashSet<Conversation> = listed.iter().map(|(conv, ..)| conv.clone()).collect();
    for conv in empty {
        if seen.insert(conv.clone()) {
            listed.push((conv, 0, None));
        }
    }
    let mut out = std::io::stdout().lock();
    for (conv, n, last) in &listed {
        let when = last.map_or(String::new(), |ms| format!(", last {} UTC", utc_minute(ms)));
        writeln!(
            out,
            "{}  {}  {n} message{}{when}",
            printable(&conv.ui_id()),
            printable(&names.conversation(conv)),
            if *n == 1 { "" } else { "s" },
        )?;
    }
    Ok(listed.len())
}

/// One message of the JSON export (README, "Export format").
#[derive(Serialize)]
struct ExportedMessage<'a> {
    conversation: String,
    conversation_name: String,
    seq: i64,
    id: &'a str,
    sender: String,
    sender_name: String,
    direction: &'static str,
    text: &'a str,
    sent_at: u64,
    received_at: u64,
    /// When its sender last edited it (the text is the edited one).
    #[serde(skip_serializing_if = "Option::is_none")]
    edited_at: Option<u64>,
    /// Its sender deleted it for everyone (the text is empty).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    unsent: bool,
    /// The message it answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    reply_to: Option<ExportedReply>,
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<ExportedFile>,
}

/// A disappearing-message timer set in a conversation (README, "Export format").
#[derive(Serialize)]
struct ExportedTimerChange {
    conversation: String,
    conversation_name: String,
    by: String,
    by_name: String,
    /// The new timer; 0 = off.
    seconds: u64,
    set_at: u64,
    /// The newest `seq` (of any conversation) when it was set: it follows the messages up to it.
    after_seq: i64,
}

/// A timer change as one line of the text export, worded as the page words it.
fn timer_line(change: &crate::store::TimerChange, names: &mut Names<'_>) -> String {
    let what = match change.seconds {
        0 => "turned off disappearing messages".to_owned(),
        seconds => format!("set disappearing messages to {}", timer_words(seconds)),
    };
    format!(
        "{} UTC  [{}]  {} {what}",
        utc_minute(change.set_at),
        printable(&names.conversation(&change.conversation)),
        printable(&names.someone(&change.by)),
    )
}

/// "5 minutes", "1 hour", "2 days": the largest whole unit.
fn timer_words(seconds: u64) -> String {
    let (size, unit) = [
        (604_800, "week"),
        (86_400, "day"),
        (3_600, "hour"),
        (60, "minute"),
        (1, "second"),
    ]
    .into_iter()
    .find(|(size, _)| seconds >= *size && seconds % size == 0)
    .unwrap_or((1, "second"));
    let n = seconds / size;
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

/// The message a reply answers: its sender's key and its id, as `sender` and `id` of that
/// message's own entry.
#[derive(Serialize)]
struct ExportedReply {
    sender: String,
    id: String,
}

/// A message's text for one line of the text export: terminal-safe ([`printable`], which
/// writes a newline as `\n`), with a backslash of the text itself doubled so that the two
/// cannot be told apart; and what became of it (edited, deleted for everyone).
fn text_line(m: &StoredMessage) -> String {
    if m.unsent {
        return "(deleted for everyone)".into();
    }
    let text = printable(&m.message.text.replace('\\', "\\\\"));
    match m.edited_at {
        Some(at) => format!("{text} (edited {} UTC)", utc_minute(at)),
        None => text,
    }
}

/// The file of a file message in the export (PROTOCOL.md §8.11): what was offered, where the
/// transfer stands and, once the file is here, where it is.
#[derive(Serialize)]
struct ExportedFile {
    name: String,
    size: u64,
    media_type: String,
    sha256: String,
    state: &'static str,
    path: Option<String>,
}

/// The file of message `seq`, if it is a file message.
fn exported_file(
    store: &crate::store::Store,
    dir: &Path,
    seq: i64,
) -> anyhow::Result<Option<ExportedFile>> {
    let Some(record) = store.file_of_message(seq)? else {
        return Ok(None);
    };
    let (state, path) = match record.direction {
        crate::store::MessageDirection::Incoming => (
            record.state,
            (record.state == crate::store::FileState::Complete).then(|| {
                dir.join("files")
                    .join("received")
                    .join(&record.meta.name)
                    .display()
                    .to_string()
            }),
        ),
        crate::store::MessageDirection::Outgoing => (
            store
                .least_send(seq)?
                .map_or(crate::store::FileState::Waiting, |(s, _)| s),
            record.source.as_ref().map(|s| s.path.display().to_string()),
        ),
    };
    Ok(Some(ExportedFile {
        name: record.meta.name,
        size: record.meta.size,
        media_type: record.meta.media_type,
        sha256: record
            .meta
            .sha256
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
        state: state.as_str(),
        path,
    }))
}

/// Runs `p2p-chat export` to stdout; returns how many messages it wrote.
pub fn export(dir: &Path, conversation: Option<&str>, format: ExportFormat) -> anyhow::Result<u64> {
    let scope = conversation
        .map(Conversation::parse_ui_id)
        .transpose()
        .context("--conversation")?;
    let store = open(dir, EXPORT_WHILE_RUNNING)?;
    let mut names = Names::new(&store, dir);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if format == ExportFormat::Json {
        write!(
            out,
            "{{\"format\":\"p2p-chat-export\",\"version\":{EXPORT_VERSION},\"exported_at\":{},\"conversation\":{},\"messages\":[",
            crate::event::now_ms(),
            serde_json::to_string(&scope.as_ref().map(Conversation::ui_id))?,
        )?;
    }
    let timer_changes = store.timer_changes_in(scope.as_ref())?;
    let mut timer_lines = timer_changes.iter().peekable();
    let mut after = 0;
    let mut count: u64 = 0;
    loop {
        let page = store.messages_after(scope.as_ref(), after, EXPORT_PAGE)?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for m in &page {
            if format == ExportFormat::Txt {
                // A timer line goes after the message that was newest when it was set.
                while let Some(change) = timer_lines.next_if(|c| c.after_seq < m.seq) {
                    writeln!(out, "{}", timer_line(change, &mut names))?;
                }
            }
            let conversation_name = names.conversation(&m.message.conversation);
            let sender_name = names.sender(m);
            let file = exported_file(&store, dir, m.seq)?;
            match format {
                ExportFormat::Json => {
                    let entry = ExportedMessage {
                        conversation: m.message.conversation.ui_id(),
                        conversation_name,
                        seq: m.seq,
                        id: &m.message.id,
                        sender: m.message.sender.to_base64(),
                        sender_name,
                        direction: match m.direction {
                            crate::store::MessageDirection::Outgoing => "out",
                            crate::store::MessageDirection::Incoming => "in",
                        },
                        text: &m.message.text,
                        sent_at: m.message.sent_at,
                        received_at: m.message.received_at,
                        edited_at: m.edited_at,
                        unsent: m.unsent,
                        reply_to: m.message.reply_to.as_ref().map(|r| ExportedReply {
                            sender: r.sender.to_base64(),
                            id: r.id.clone(),
                        }),
                        file,
                    };
                    if count > 0 {
                        out.write_all(b",")?;
                    }
                    out.write_all(b"\n")?;
                    serde_json::to_writer(&mut out, &entry)?;
                }
                ExportFormat::Txt => writeln!(
                    out,
                    "{} UTC  [{}]  {}: {}",
                    utc_minute(m.message.received_at),
                    printable(&conversation_name),
                    printable(&sender_name),
                    match &file {
                        Some(f) => format!(
                            "[file {} ({} bytes, {}, sha256 {})]",
                            printable(&f.name),
                            f.size,
                            f.state,
                            f.sha256
                        ),
                        None => text_line(m),
                    },
                )?,
            }
            count += 1;
        }
    }
    match format {
        ExportFormat::Txt => {
            for change in timer_lines {
                writeln!(out, "{}", timer_line(change, &mut names))?;
            }
        }
        ExportFormat::Json => {
            out.write_all(b"\n],\"timer_changes\":[")?;
            for (i, change) in timer_changes.iter().enumerate() {
                if i > 0 {
                    out.write_all(b",")?;
                }
                out.write_all(b"\n")?;
                let entry = ExportedTimerChange {
                    conversation: change.conversation.ui_id(),
                    conversation_name: names.conversation(&change.conversation),
                    by: change.by.to_base64(),
                    by_name: names.someone(&change.by),
                    seconds: change.seconds,
                    set_at: change.set_at,
                    after_seq: change.after_seq,
                };
                serde_json::to_writer(&mut out, &entry)?;
            }
            out.write_all(b"\n]}\n")?;
        }
    }
    out.flush()?;
    eprintln!(
        "{count} message{} exported",
        if count == 1 { "" } else { "s" }
    );
    if let (0, Some(conv)) = (count, &scope) {
        if *conv != Conversation::Everyone {
            // Perhaps a mistyped id: say what the ids look like.
            eprintln!(
                "nothing in conversation {}; if that is unexpected, check the id \
                 (`p2p-chat conversations` lists them)",
                printable(&conv.ui_id())
            );
        }
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timer_words_use_the_largest_whole_unit() {
        assert_eq!(timer_words(300), "5 minutes");
        assert_eq!(timer_words(3_600), "1 hour");
        assert_eq!(timer_words(86_400), "1 day");
        assert_eq!(timer_words(604_800), "1 week");
        assert_eq!(timer_words(90), "90 seconds");
        assert_eq!(timer_words(1), "1 second");
    }

    #[test]
    fn utc_minutes() {
        assert_eq!(utc_minute(0), "1970-01-01 00:00");
        assert_eq!(utc_minute(951_782_400_000), "2000-02-29 00:00");
        assert_eq!(utc_minute(1_796_400_061_000), "2026-12-04 16:01");
    }
}
