//! Searching message text, and reading a conversation around one message (where a search
//! result opens). PROTOCOL.md §8.5 specifies the UI side.
//!
//! **Index.** `messages_fts` (schema version 4) is an FTS5 index of `messages.text` with the
//! `trigram` tokenizer: every run of three characters is a token, so a query term of three or
//! more characters matches wherever it occurs as a substring — inside a word ("ellowor" finds
//! "helloworld") and in scripts written without spaces (Japanese, Chinese, Thai), where a word
//! tokenizer would index whole sentences as one word. Matching folds case (Unicode simple case
//! folding) and keeps diacritics.
//!
//! **Terms of one or two characters** have no trigram, so the index cannot answer them, and many
//! CJK words are one or two characters ("世界", "世"). For those this module falls back to a
//! `LIKE '%term%'` filter evaluated row by row, newest message first, stopping as soon as
//! `limit` matches are found. We chose that over a second (unicode61) index because a word index
//! does not help either: it would index "こんにちは世界" as a single token, so "世界" would still
//! need a substring scan; and a second index doubles the write cost of every received chat for
//! the rare short query. The cost of the scan is bounded by the size of the history searched (a
//! scoped search uses the conversation index) and by `limit` when matches are common; when a
//! query also has a longer term, the index narrows the rows first and `LIKE` only filters them.
//! `LIKE` folds ASCII case only, which is what short terms in non-Latin scripts need.
//!
//! **When messages are indexed.** Not on insert: tokenising a chat into trigrams costs several
//! times the insert itself, and the insert is on the path of every `ack`. An insert only notes
//! its `seq` in `fts_pending` (a trigger, about 2 µs); the backlog is indexed in batches of about
//! 64 KiB of text when the store thread is idle ([`Store::index_backlog`], `crate::persist`) and, whatever is left,
//! before each search, so a search always sees every stored message. Measured with the ignored
//! `cost` test below (100,000 chats of ~100 bytes, in-memory, this 2-core machine): insert 5.6 →
//! 7.7 µs per chat; indexing later 11.3 µs per chat (1.8 ms for a 16,000-character one); a
//! trigram search 29 ms, a two-character scan 1 ms (common term) to 7 ms (no match).
//!
//! A query is split at white space into at most [`MAX_SEARCH_TERMS`] terms, each matched as a
//! literal substring (no FTS5 query syntax reaches SQLite: each term is quoted); a message
//! matches when it contains every term. Results come newest first.

use rusqlite::params_from_iter;
use rusqlite::types::Value;

use super::conversation::Conversation;
use super::error::{Result, StoreError};
use super::messages::{stored_from_row, StoredMessage, COLUMNS};
use super::Store;

/// Longest query, in characters.
pub const MAX_SEARCH_QUERY_CHARS: usize = 256;
/// Most white-space-separated terms in one query.
pub const MAX_SEARCH_TERMS: usize = 16;
/// Most results one search returns.
pub const MAX_SEARCH_RESULTS: usize = 200;
/// Characters of context kept before the first match in a snippet.
const SNIPPET_BEFORE: usize = 30;
/// Longest snippet, in characters.
const SNIPPET_CHARS: usize = 160;

/// The part of a message shown in a search result, with the matches marked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snippet {
    /// At most [`SNIPPET_CHARS`] characters of the message, around its first match.
    pub text: String,
    /// Matched ranges in `text` as `[start, end)` offsets in UTF-16 code units (what a
    /// JavaScript string indexes), sorted, not overlapping.
    pub ranges: Vec<(usize, usize)>,
    /// Text was left out before `text`.
    pub cut_before: bool,
    /// Text was left out after `text`.
    pub cut_after: bool,
}

/// One message found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchHit {
    /// The message.
    pub message: StoredMessage,
    /// Where it matched.
    pub snippet: Snippet,
}

/// The answer to [`Store::search`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchPage {
    /// Newest first.
    pub hits: Vec<SearchHit>,
    /// More messages match than `limit`.
    pub more: bool,
}

/// A window of a conversation around one message ([`Store::history_around`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AroundPage {
    /// Oldest first; includes the message itself.
    pub messages: Vec<StoredMessage>,
    /// Older messages exist before the window.
    pub has_more: bool,
    /// Newer messages exist after the window.
    pub has_newer: bool,
}

/// The query's terms, or why it is refused.
pub fn query_terms(query: &str) -> Result<Vec<String>> {
    if query.chars().count() > MAX_SEARCH_QUERY_CHARS {
        return Err(StoreError::Invalid(format!(
            "a search may be at most {MAX_SEARCH_QUERY_CHARS} characters"
        )));
    }
    let mut terms: Vec<String> = Vec::new();
    for term in query.split_whitespace() {
        if !terms.iter().any(|t| t == term) {
            terms.push(term.to_owned());
        }
    }
    if terms.is_empty() {
        return Err(StoreError::Invalid("type something to search for".into()));
    }
    if terms.len() > MAX_SEARCH_TERMS {
        return Err(StoreError::Invalid(format!(
            "a search may have at most {MAX_SEARCH_TERMS} words"
        )));
    }
    Ok(terms)
}

/// A term as an FTS5 string: quoted, so `AND`, `*`, `:` or `"` in it are plain text.
fn fts_phrase(term: &str) -> String {
    format!("\"{}\"", term.replace('"', "\"\""))
}

/// A term as a `LIKE … ESCAPE '\'` pattern matching it anywhere.
fn like_pattern(term: &str) -> String {
    let mut out = String::with_capacity(term.len() + 2);
    out.push('%');
    for c in term.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// Each character replaced by the first character of its lower case, so the folded text has
/// exactly as many characters as the original and offsets carry over.
fn fold(text: &str) -> String {
    text.chars()
        .map(|c| c.to_lowercase().next().unwrap_or(c))
        .collect()
}

/// The snippet of `text` for `terms`.
pub(super) fn snippet(text: &str, terms: &[String]) -> Snippet {
    let folded = fold(text);
    let terms: Vec<String> = terms.iter().map(|t| fold(t)).collect();
    // The earliest match of any term, in characters. `str::find` is linear in the text, so a
    // long message cannot make this quadratic.
    let first = terms
        .iter()
        .filter_map(|t| folded.find(t.as_str()))
        .min()
        .map(|byte| folded[..byte].chars().count())
        .unwrap_or(0);
    let total = folded.chars().count();
    let start = first.saturating_sub(SNIPPET_BEFORE);
    let end = (start + SNIPPET_CHARS).min(total);
    let byte_at = |s: &str, chars: usize| s.char_indices().nth(chars).map_or(s.len(), |(b, _)| b);
    let (orig_start, orig_end) = (byte_at(text, start), byte_at(text, end));
    let (fold_start, fold_end) = (byte_at(&folded, start), byte_at(&folded, end));
    let window = &folded[fold_start..fold_end];
    let shown = &text[orig_start..orig_end];
    // UTF-16 offset of each character boundary in the window (the folded and original windows
    // have the same characters count; their UTF-16 lengths are the original's).
    let mut utf16_at = Vec::with_capacity(end - start + 1);
    let mut at = 0;
    utf16_at.push(0);
    for c in shown.chars() {
        at += c.len_utf16();
        utf16_at.push(at);
    }
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    for term in &terms {
        let term_chars = term.chars().count();
        let mut from = 0;
        while let Some(found) = window[from..].find(term.as_str()) {
            let byte = from + found;
            let char_start = window[..byte].chars().count();
            let char_end = (char_start + term_chars).min(utf16_at.len() - 1);
            ranges.push((utf16_at[char_start], utf16_at[char_end]));
            // Next search starts one character later (overlapping matches are merged below).
            from = byte + window[byte..].chars().next().map_or(1, char::len_utf8);
        }
    }
    ranges.sort_unstable();
    let mut merged: Vec<(usize, usize)> = Vec::with_capacity(ranges.len());
    for (s, e) in ranges {
        match merged.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }
    Snippet {
        text: shown.to_owned(),
        ranges: merged,
        cut_before: start > 0,
        cut_after: end < total,
    }
}

impl Store {
    /// Indexes the oldest messages of the backlog (`fts_pending`, schema version 4) in one
    /// savepoint: as many as hold about `max_bytes` of text (at least one; `0` indexes none and
    /// only asks). Returns whether messages are still waiting.
    pub fn index_backlog(&self, max_bytes: usize) -> Result<bool> {
        // The newest `seq` of this step: pending messages up to it are indexed.
        let mut cutoff: Option<i64> = None;
        if max_bytes > 0 {
            let mut stmt = self.conn.prepare_cached(
                "SELECT p.seq, length(CAST(m.text AS BLOB)) FROM fts_pending p
                 JOIN messages m ON m.seq = p.seq ORDER BY p.seq",
            )?;
            let mut rows = stmt.query([])?;
            let mut bytes = 0usize;
            while let Some(row) = rows.next()? {
                cutoff = Some(row.get(0)?);
                bytes = bytes.saturating_add(usize::try_from(row.get::<_, i64>(1)?).unwrap_or(0));
                if bytes >= max_bytes {
                    break;
                }
            }
        }
        if let Some(cutoff) = cutoff {
            self.conn.execute_batch("SAVEPOINT fts_backlog")?;
            let step = || -> rusqlite::Result<()> {
                self.conn
                    .prepare_cached(
                        "INSERT INTO messages_fts (rowid, text)
                         SELECT m.seq, m.text FROM messages m WHERE m.seq IN
                             (SELECT seq FROM fts_pending WHERE seq <= ?1)",
                    )?
                    .execute([cutoff])?;
                self.conn
                    .prepare_cached("DELETE FROM fts_pending WHERE seq <= ?1")?
                    .execute([cutoff])?;
                Ok(())
            };
            if let Err(e) = step() {
                let _ = self
                    .conn
                    .execute_batch("ROLLBACK TO fts_backlog; RELEASE fts_backlog");
                return Err(e.into());
            }
            self.conn.execute_batch("RELEASE fts_backlog")?;
        }
        Ok(self
            .conn
            .query_row("SELECT EXISTS (SELECT 1 FROM fts_pending)", [], |r| {
                r.get(0)
            })?)
    }

    /// Messages containing every term of `query` (see the module documentation), newest
    /// first, in `scope` or in every conversation; at most `limit` (1–[`MAX_SEARCH_RESULTS`]).
    pub fn search(
        &self,
        query: &str,
        scope: Option<&Conversation>,
        limit: usize,
    ) -> Result<SearchPage> {
        let terms = query_terms(query)?;
        let limit = limit.clamp(1, MAX_SEARCH_RESULTS);
        // What arrived since the store was last idle is indexed now, so a search sees it.
        self.index_backlog(usize::MAX)?;
        let (long, short): (Vec<&String>, Vec<&String>) =
            terms.iter().partition(|t| t.chars().count() >= 3);
        let mut sql = format!("SELECT {COLUMNS} FROM messages m WHERE 1");
        let mut args: Vec<Value> = Vec::new();
        if !long.is_empty() {
            let query: Vec<String> = long.iter().map(|t| fts_phrase(t)).collect();
            args.push(Value::Text(query.join(" ")));
            sql.push_str(&format!(
                " AND m.seq IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?{})",
                args.len()
            ));
        }
        for term in &short {
            args.push(Value::Text(like_pattern(term)));
            sql.push_str(&format!(" AND m.text LIKE ?{} ESCAPE '\\'", args.len()));
        }
        if let Some(conv) = scope {
            let (kind, id) = conv.to_sql();
            args.push(Value::Text(kind.to_owned()));
            args.push(Value::Text(id));
            sql.push_str(&format!(
                " AND m.conv_kind = ?{} AND m.conv_id = ?{}",
                args.len() - 1,
                args.len()
            ));
        }
        args.push(Value::Integer(limit as i64 + 1));
        sql.push_str(&format!(" ORDER BY m.seq DESC LIMIT ?{}", args.len()));
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map(params_from_iter(args), stored_from_row)?;
        let mut found: Vec<StoredMessage> = rows.collect::<rusqlite::Result<_>>()?;
        let more = found.len() > limit;
        found.truncate(limit);
        let hits = found
            .into_iter()
            .map(|message| SearchHit {
                snippet: snippet(&message.message.text, &terms),
                message,
            })
            .collect();
        Ok(SearchPage { hits, more })
    }

    /// Up to `limit` messages with `seq` greater than `after`, oldest first, in `scope` or in
    /// every conversation: the export reads the whole history this way, a page at a time.
    pub fn messages_after(
        &self,
        scope: Option<&Conversation>,
        after: i64,
        limit: usize,
    ) -> Result<Vec<StoredMessage>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = match scope {
            Some(conv) => {
                let (kind, id) = conv.to_sql();
                let mut stmt = self.conn.prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM messages m
                     WHERE m.conv_kind = ?1 AND m.conv_id = ?2 AND m.seq > ?3
                     ORDER BY m.seq LIMIT ?4"
                ))?;
                let rows =
                    stmt.query_map(rusqlite::params![kind, id, after, limit], stored_from_row)?;
                rows.collect::<rusqlite::Result<Vec<_>>>()?
            }
            None => {
                let mut stmt = self.conn.prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM messages m WHERE m.seq > ?1 ORDER BY m.seq LIMIT ?2"
                ))?;
                let rows = stmt.query_map(rusqlite::params![after, limit], stored_from_row)?;
                rows.collect::<rusqlite::Result<Vec<_>>>()?
            }
        };
        Ok(rows)
    }

    /// Up to `context` messages before message `seq` of `conversation`, the message itself and
    /// up to `context` after it, oldest first. `Invalid` if that conversation has no such
    /// message.
    pub fn history_around(
        &self,
        conversation: &Conversation,
        seq: i64,
        context: usize,
    ) -> Result<AroundPage> {
        let (kind, conv_id) = conversation.to_sql();
        let exists: bool = self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM messages WHERE seq = ?1 AND conv_kind = ?2 AND conv_id = ?3)",
            rusqlite::params![seq, kind, conv_id],
            |r| r.get(0),
        )?;
        if !exists {
            return Err(StoreError::Invalid(
                "that message is not in this conversation (deleted?)".into(),
            ));
        }
        let mut older = self.history(conversation, Some(seq), context + 1)?;
        let has_more = older.len() > context;
        if has_more {
            older.remove(0);
        }
        let wanted = i64::try_from(context + 2).unwrap_or(i64::MAX);
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM messages m
             WHERE m.conv_kind = ?1 AND m.conv_id = ?2 AND m.seq >= ?3
             ORDER BY m.seq ASC LIMIT ?4"
        ))?;
        let rows = stmt.query_map(
            rusqlite::params![kind, conv_id, seq, wanted],
            stored_from_row,
        )?;
        let mut newer: Vec<StoredMessage> = rows.collect::<rusqlite::Result<_>>()?;
        let has_newer = newer.len() > context + 1;
        newer.truncate(context + 1);
        older.extend(newer);
        Ok(AroundPage {
            messages: older,
            has_more,
            has_newer,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::contacts::tests::key;
    use super::super::messages::ChatMessage;
    use super::*;

    fn put(s: &mut Store, conv: Conversation, id: &str, text: &str) {
        s.insert_incoming(&ChatMessage {
            conversation: conv,
            sender: key(1),
            id: id.into(),
            text: text.into(),
            sent_at: 1,
            received_at: 2,
            reply_to: None,
        })
        .unwrap();
    }

    fn ids(page: &SearchPage) -> Vec<&str> {
        page.hits
            .iter()
            .map(|h| h.message.message.id.as_str())
            .collect()
    }

    #[test]
    fn substrings_scripts_short_terms_and_scope() {
        let mut s = Store::open_in_memory().unwrap();
        let bob = Conversation::Peer(key(1));
        put(&mut s, bob.clone(), "a", "say helloworld to me");
        put(&mut s, Conversation::Everyone, "b", "こんにちは世界");
        put(&mut s, bob.clone(), "c", "世の中");
        put(&mut s, Conversation::Everyone, "d", "HELLO there");
        assert_eq!(ids(&s.search("ellowor", None, 10).unwrap()), ["a"]);
        assert_eq!(ids(&s.search("hello", None, 10).unwrap()), ["d", "a"]);
        assert_eq!(ids(&s.search("hello", Some(&bob), 10).unwrap()), ["a"]);
        assert_eq!(ids(&s.search("世界", None, 10).unwrap()), ["b"]);
        assert_eq!(ids(&s.search("世", None, 10).unwrap()), ["c", "b"]);
        assert_eq!(ids(&s.search("世", Some(&bob), 10).unwrap()), ["c"]);
        // Every term must match; a long and a short term together.
        assert_eq!(ids(&s.search("hello me", None, 10).unwrap()), ["a"]);
        assert!(s.search("hello nowhere", None, 10).unwrap().hits.is_empty());
        // FTS5 syntax and LIKE wildcards are plain text.
        assert!(s.search("\"hello\" OR", None, 10).unwrap().hits.is_empty());
        assert!(s.search("%", None, 10).unwrap().hits.is_empty());
        assert!(s.search("h_llo", None, 10).unwrap().hits.is_empty());
        let page = s.search("e", None, 1).unwrap();
        assert_eq!((ids(&page), page.more), (vec!["d"], true));
        assert!(matches!(
            s.search("  ", None, 10),
            Err(StoreError::Invalid(_))
        ));
        let long = "x".repeat(MAX_SEARCH_QUERY_CHARS + 1);
        assert!(matches!(
            s.search(&long, None, 10),
            Err(StoreError::Invalid(_))
        ));
    }

    #[test]
    fn snippets_mark_matches_in_utf16_units() {
        let sn = snippet("Hello 🦀 hello", &["hello".into()]);
        assert_eq!(sn.text, "Hello 🦀 hello");
        // The crab is two UTF-16 units.
        assert_eq!(sn.ranges, [(0, 5), (9, 14)]);
        assert!(!sn.cut_before && !sn.cut_after);
        let sn = snippet("こんにちは世界", &["世".into(), "世界".into()]);
        assert_eq!(sn.ranges, [(5, 7)]);
        let long = format!("{}needle{}", "a".repeat(500), "b".repeat(500));
        let sn = snippet(&long, &["needle".into()]);
        assert!(sn.cut_before && sn.cut_after);
        assert_eq!(sn.text.chars().count(), SNIPPET_CHARS);
        assert_eq!(sn.ranges, [(SNIPPET_BEFORE, SNIPPET_BEFORE + 6)]);
        assert_eq!(&sn.text[SNIPPET_BEFORE..SNIPPET_BEFORE + 6], "needle");
    }

    #[test]
    fn around_gives_context_on_both_sides() {
        let mut s = Store::open_in_memory().unwrap();
        let conv = Conversation::Everyone;
        for i in 0..20 {
            put(&mut s, conv.clone(), &format!("m{i}"), &format!("text {i}"));
        }
        let target = s.message(&key(1), "m10").unwrap().unwrap().seq;
        let page = s.history_around(&conv, target, 3).unwrap();
        let got: Vec<&str> = page
            .messages
            .iter()
            .map(|m| m.message.id.as_str())
            .collect();
        assert_eq!(got, ["m7", "m8", "m9", "m10", "m11", "m12", "m13"]);
        assert!(page.has_more && page.has_newer);
        let page = s.history_around(&conv, target, 50).unwrap();
        assert_eq!(page.messages.len(), 20);
        assert!(!page.has_more && !page.has_newer);
        assert!(s
            .history_around(&Conversation::Peer(key(1)), target, 3)
            .is_err());
    }

    /// Measures what the index costs per stored chat and what a short-term scan costs
    /// (`cargo test -p peer --lib store::search::tests::cost -- --ignored --nocapture`).
    #[test]
    #[ignore = "a measurement, not a check"]
    fn cost() {
        fn fill(s: &mut Store, n: usize) -> std::time::Duration {
            let started = std::time::Instant::now();
            s.begin_group().unwrap();
            for i in 0..n {
                let text = format!("message {i} with about a hundred bytes of ordinary chat text, give or take a few {}", i * 7919);
                put(s, Conversation::Everyone, &format!("m{i}"), &text);
            }
            s.commit_group().unwrap();
            started.elapsed()
        }
        let n = 100_000;
        let mut plain = Store::open_in_memory().unwrap();
        plain
            .conn
            .execute_batch("DROP TRIGGER messages_fts_insert;")
            .unwrap();
        let without = fill(&mut plain, n);
        let mut indexed = Store::open_in_memory().unwrap();
        let with = fill(&mut indexed, n);
        let started = std::time::Instant::now();
        while indexed.index_backlog(64 * 1024).unwrap() {}
        let backlog = started.elapsed();
        let per = |d: std::time::Duration| d.as_secs_f64() * 1e6 / n as f64;
        println!(
            "insert: {:.1} us/chat without the backlog trigger, {:.1} us/chat with it; \
             indexing the backlog later: {:.1} us/chat",
            per(without),
            per(with),
            per(backlog)
        );
        let mut big = Store::open_in_memory().unwrap();
        // Pseudo-random letters: about as many distinct trigrams as characters.
        let mut x: u32 = 1;
        let text: String = (0..16_000)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                char::from(b'a' + ((x >> 16) % 26) as u8)
            })
            .collect();
        for i in 0..20 {
            put(&mut big, Conversation::Everyone, &format!("b{i}"), &text);
        }
        let started = std::time::Instant::now();
        while big.index_backlog(usize::MAX).unwrap() {}
        println!(
            "indexing a 16,000-character chat: {:.2} ms",
            started.elapsed().as_secs_f64() * 1e3 / 20.0
        );
        for (query, what) in [
            ("ordinary", "trigram"),
            ("zz", "2-char scan, no match"),
            ("99", "2-char scan, common"),
        ] {
            let started = std::time::Instant::now();
            let page = indexed.search(query, None, 50).unwrap();
            println!(
                "search {query:?} ({what}) over {n}: {} hits in {:.1} ms",
                page.hits.len(),
                started.elapsed().as_secs_f64() * 1e3
            );
        }
    }
}
