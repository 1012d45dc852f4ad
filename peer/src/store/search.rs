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
//! **Terms of one or two characters** have no trigram of their own, and many CJK words are one
//! or two characters ("世界", "世"). They are matched with `LIKE '%term%'`, one pattern per
//! case variant of the term's non-ASCII characters ("éc" and "Éc"; `LIKE` folds ASCII itself),
//! so case is folded as the index folds it for every term length, on the newest
//! [`SHORT_SCAN_ROWS`] messages first, where a common term is found at once; for the older
//! messages the index gives the candidates: since schema version 11 it holds each text followed
//! by two padding characters, so every character of a message begins a trigram, and the
//! messages containing "世界" are exactly those with a trigram that begins with "世界". Those
//! trigrams are a range of the index's sorted term list (`messages_fts_instances`), so a rare
//! short term costs a range read and a few row lookups, not a scan of a million messages. We
//! chose this over a second (bigram or unicode61) index: a word index would index
//! "こんにちは世界" as one token and still need a scan, and a bigram index would have doubled the
//! index, the largest part of the database (BENCHMARKS.md, "History at scale"). When a query
//! also has a longer term, the trigram index narrows the rows first and `LIKE` only filters
//! them.
//!
//! **Newest first, stopping early.** Everywhere, and in a large conversation, a search walks
//! the index's matches newest first and stops at `limit`: a common word costs no more than a
//! rare one. A small conversation is read itself, newest first, and each text matched here
//! (a common word would otherwise walk most of the history for a few matches of that
//! conversation, and the index's matches of it taken as a set are tens of thousands of rows);
//! only beyond a budget of rows and bytes does the index answer for the older ones.
//!
//! **When messages are indexed.** Not on insert: tokenising a chat into trigrams costs several
//! times the insert itself, and the insert is on the path of every `ack`. Messages above the mark
//! `fts_state.indexed_to` wait for the index (no trigger on insert); the backlog is indexed in
//! batches of about 64 KiB of text when the store thread is idle ([`Store::index_backlog`],
//! `crate::persist`) and, whatever is left, before each search, so a search always sees every
//! stored message. Measured with the ignored `cost` test below (100,000 chats of ~100 bytes,
//! in-memory, this 2-core machine): indexing later 11.3 µs per chat (1.8 ms for a
//! 16,000-character one); the figures at a million messages are in BENCHMARKS.md.
//!
//! A query is split at white space into at most [`MAX_SEARCH_TERMS`] terms, each matched as a
//! literal substring (no FTS5 query syntax reaches SQLite: each term is quoted); a message
//! matches when it contains every term. Results come newest first.

use rusqlite::params_from_iter;
use rusqlite::types::Value;

use super::conversation::Conversation;
use super::error::{Result, StoreError};
use super::messages::{stored_from_row, StoredMessage, COLUMNS};
use super::{from_sql_time, Store};

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

/// The `MATCH` argument for `terms`: every one of them, each as a quoted phrase.
fn fts_match(terms: &[&String]) -> Value {
    let phrases: Vec<String> = terms.iter().map(|t| fts_phrase(t)).collect();
    Value::Text(phrases.join(" "))
}

/// The characters that [`fold`] turns into `c`'s folded form, for `LIKE` (which folds ASCII
/// case itself): `c` folded, and its upper case if that folds back to it ("é" and "É", "ω"
/// and "Ω").
fn case_variants(c: char) -> Vec<char> {
    let folded = fold_char(c);
    let mut variants = vec![folded];
    if !folded.is_ascii() {
        let mut upper = folded.to_uppercase();
        if let (Some(u), None) = (upper.next(), upper.next()) {
            if u != folded && fold_char(u) == folded {
                variants.push(u);
            }
        }
    }
    variants
}

/// `LIKE … ESCAPE '\'` patterns that together match `term` anywhere with case folded as
/// [`fold`] folds it (`LIKE` alone folds only ASCII): one per combination of its characters'
/// [`case_variants`] — at most four for the terms of one or two characters that use them.
fn like_patterns(term: &str) -> Vec<String> {
    let mut patterns = vec![String::from("%")];
    for c in term.chars() {
        let variants = case_variants(c);
        patterns = patterns
            .iter()
            .flat_map(|p| {
                variants.iter().map(move |v| {
                    let mut next = p.clone();
                    if matches!(v, '%' | '_' | '\\') {
                        next.push('\\');
                    }
                    next.push(*v);
                    next
                })
            })
            .collect();
    }
    for p in &mut patterns {
        p.push('%');
    }
    patterns
}

/// Each character replaced by its lower case, so the folded text has exactly as many
/// characters as the original and offsets carry over. A character whose lower case is more
/// than one character (only "İ") is kept, as the index's folding keeps it; a test checks the
/// two agree over several scripts.
fn fold(text: &str) -> String {
    text.chars().map(fold_char).collect()
}

/// One character as [`fold`] folds it.
fn fold_char(c: char) -> char {
    let mut lower = c.to_lowercase();
    match (lower.next(), lower.next()) {
        (Some(one), None) => one,
        _ => c,
    }
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

/// The text as the index holds it: two U+0001 after it, so every character begins a trigram
/// (schema version 11). The triggers of `schema.rs` pad the same way.
const PADDING_SQL: &str = "|| char(1, 1)";

/// Rows a search for terms of one or two characters reads newest first before it asks the
/// index: common terms are found among them (at ~0.4 µs per row, 20,000 rows are ~8 ms);
/// rarer ones are looked up in the index for the older rows.
const SHORT_SCAN_ROWS: i64 = 20_000;

/// Messages, and bytes of their text, a search in a small conversation reads itself before it
/// asks the index for the older ones ([`Store::search_small`]): about 10 ms on this machine.
const WALK_ROWS: usize = 20_000;
const WALK_BYTES: usize = 2 << 20;

/// Whether `text` contains every term, case folded as [`fold`] does (the index's case
/// folding, and what [`like_patterns`] match); the terms already folded.
fn contains_terms(text: &str, terms: &[String]) -> bool {
    if terms.is_empty() {
        return true;
    }
    let folded = fold(text);
    terms.iter().all(|t| folded.contains(t.as_str()))
}

/// A search in one conversation walks the index's matches newest first when the conversation
/// holds at least 1/this of all messages (its matches are then dense among them); a smaller
/// one is read itself ([`Store::search_small`]).
const LARGE_CONVERSATION_SHARE: i64 = 50;

/// The range of index terms that begin with `prefix` (already folded): `[lo, hi)`, or no upper
/// bound when the last character cannot be incremented.
fn term_range(prefix: &str) -> (String, Option<String>) {
    let mut chars: Vec<char> = prefix.chars().collect();
    let hi = chars.pop().and_then(|last| {
        let mut next = last as u32 + 1;
        if (0xD800..0xE000).contains(&next) {
            next = 0xE000;
        }
        char::from_u32(next).map(|c| {
            chars.push(c);
            chars.iter().collect()
        })
    });
    (prefix.to_owned(), hi)
}

/// SQL filters (`AND …`) for the `LIKE` terms and the scope, with their arguments appended.
fn filters(short: &[&String], scope: Option<&Conversation>, args: &mut Vec<Value>) -> String {
    let mut sql = String::new();
    for term in short {
        let mut any = Vec::new();
        for pattern in like_patterns(term) {
            args.push(Value::Text(pattern));
            any.push(format!("m.text LIKE ?{} ESCAPE '\\'", args.len()));
        }
        sql.push_str(&format!(" AND ({})", any.join(" OR ")));
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
    sql
}

impl Store {
    /// Indexes the oldest messages of the backlog (those above `fts_state.indexed_to`, schema
    /// version 11) in one savepoint: as many as hold about `max_bytes` of text (at least one;
    /// `0` indexes none and only asks). Returns whether messages are still waiting.
    pub fn index_backlog(&self, max_bytes: usize) -> Result<bool> {
        let indexed_to: i64 = self
            .conn
            .query_row("SELECT indexed_to FROM fts_state", [], |r| r.get(0))?;
        // The newest `seq` of this step: waiting messages up to it are indexed.
        let mut cutoff: Option<i64> = None;
        if max_bytes > 0 {
            let mut stmt = self.conn.prepare_cached(
                "SELECT seq, length(CAST(text AS BLOB)) FROM messages WHERE seq > ?1 ORDER BY seq",
            )?;
            let mut rows = stmt.query([indexed_to])?;
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
                    .prepare_cached(&format!(
                        "INSERT INTO messages_fts (rowid, text)
                         SELECT seq, text {PADDING_SQL} FROM messages
                         WHERE seq > ?1 AND seq <= ?2"
                    ))?
                    .execute([indexed_to, cutoff])?;
                self.conn
                    .prepare_cached("UPDATE fts_state SET indexed_to = ?1")?
                    .execute([cutoff])?;
                Ok(())
            };
            let stepped = step().and_then(|()| self.conn.execute_batch("RELEASE fts_backlog"));
            if let Err(e) = stepped {
                super::undo_savepoint(&self.conn, "fts_backlog");
                return Err(e.into());
            }
        }
        Ok(self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM messages WHERE seq > (SELECT indexed_to FROM fts_state))",
            [],
            |r| r.get(0),
        )?)
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
        let want = limit + 1;
        let mut found = if long.is_empty() {
            self.search_short(&short, scope, want, SHORT_SCAN_ROWS)?
        } else {
            self.search_indexed(&long, &short, scope, want)?
        };
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

    /// Runs a search statement whose arguments are `args`.
    fn search_rows(&self, sql: &str, args: Vec<Value>) -> Result<Vec<StoredMessage>> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let rows = stmt.query_map(params_from_iter(args), stored_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// At least one term of three or more characters: the trigram index answers. Everywhere,
    /// and in a large conversation, its matches are walked newest first and the walk stops at
    /// `want` (a common word costs no more than a rare one). A smaller conversation is read
    /// itself, newest first ([`Store::search_small`]).
    fn search_indexed(
        &self,
        long: &[&String],
        short: &[&String],
        scope: Option<&Conversation>,
        want: usize,
    ) -> Result<Vec<StoredMessage>> {
        if let Some(conv) = scope {
            if !self.is_large(conv)? {
                return self.search_small(long, short, conv, want, WALK_ROWS, WALK_BYTES);
            }
        }
        let mut args = vec![fts_match(long)];
        let extra = filters(short, scope, &mut args);
        args.push(Value::Integer(want as i64));
        let sql = format!(
            "SELECT {COLUMNS} FROM messages_fts f CROSS JOIN messages m ON m.seq = f.rowid
             WHERE messages_fts MATCH ?1{extra} ORDER BY f.rowid DESC LIMIT ?{}",
            args.len()
        );
        self.search_rows(&sql, args)
    }

    /// A search in a small conversation: its newest messages (up to `walk_rows`, [`WALK_ROWS`],
    /// and `walk_bytes` of text, [`WALK_BYTES`]) are read and matched here, so the cost is
    /// bounded by the conversation, not by how common a word is in the whole history (the
    /// index's matches of a common word are tens of thousands of rows). Matching folds case
    /// as the snippets do ([`fold`]), for terms of any length; a test checks it agrees with the
    /// index over several scripts.
    /// What lies beyond the budget comes from the index: its matches taken as a set, then the
    /// older rows of the conversation walked.
    fn search_small(
        &self,
        long: &[&String],
        short: &[&String],
        conv: &Conversation,
        want: usize,
        walk_rows: usize,
        walk_bytes: usize,
    ) -> Result<Vec<StoredMessage>> {
        let folded_terms: Vec<String> = long.iter().chain(short).map(|t| fold(t)).collect();
        let (kind, id) = conv.to_sql();
        let mut matched: Vec<i64> = Vec::new();
        let mut rest_below = None;
        {
            let mut stmt = self.conn.prepare_cached(
                "SELECT seq, text FROM messages WHERE conv_kind = ?1 AND conv_id = ?2
                 ORDER BY seq DESC",
            )?;
            let mut rows = stmt.query(rusqlite::params![kind, id])?;
            let (mut read_rows, mut read_bytes) = (0usize, 0usize);
            while let Some(row) = rows.next()? {
                let seq: i64 = row.get(0)?;
                if read_rows >= walk_rows || read_bytes >= walk_bytes {
                    rest_below = Some(seq + 1);
                    break;
                }
                let text = row.get_ref(1)?.as_str().map_err(rusqlite::Error::from)?;
                read_rows += 1;
                read_bytes += text.len();
                if contains_terms(text, &folded_terms) {
                    matched.push(seq);
                    if matched.len() >= want {
                        break;
                    }
                }
            }
        }
        let mut found = Vec::with_capacity(matched.len());
        {
            let mut stmt = self.conn.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM messages m WHERE m.seq = ?1"
            ))?;
            for seq in matched {
                found.push(stmt.query_row([seq], stored_from_row)?);
            }
        }
        let Some(below) = rest_below.filter(|_| found.len() < want) else {
            return Ok(found);
        };
        let mut args = vec![fts_match(long), Value::Integer(below)];
        let extra = filters(short, Some(conv), &mut args);
        args.push(Value::Integer((want - found.len()) as i64));
        let sql = format!(
            "SELECT {COLUMNS} FROM messages m INDEXED BY messages_by_conversation
             WHERE m.seq IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?1)
             AND m.seq < ?2{extra} ORDER BY m.seq DESC LIMIT ?{}",
            args.len()
        );
        found.extend(self.search_rows(&sql, args)?);
        Ok(found)
    }

    /// Whether `conv` holds at least 1/[`LARGE_CONVERSATION_SHARE`] of all messages (counted
    /// no further than that).
    fn is_large(&self, conv: &Conversation) -> Result<bool> {
        let (kind, id) = conv.to_sql();
        let newest: i64 =
            self.conn
                .query_row("SELECT coalesce(max(seq), 0) FROM messages", [], |r| {
                    r.get(0)
                })?;
        let threshold = (newest / LARGE_CONVERSATION_SHARE).max(1);
        let counted: i64 = self.conn.prepare_cached(
            "SELECT count(*) FROM (SELECT 1 FROM messages WHERE conv_kind = ?1 AND conv_id = ?2 LIMIT ?3)",
        )?
        .query_row(rusqlite::params![kind, id, threshold], |r| r.get(0))?;
        Ok(counted >= threshold)
    }

    /// Only terms of one or two characters. The newest `scan_rows` ([`SHORT_SCAN_ROWS`])
    /// messages (of the scope) are read with `LIKE`; if they hold fewer than `want` matches, the older ones
    /// come from the index: every message containing the term has a trigram that begins with
    /// it (schema version 11 pads each text), and the index's term list finds those trigrams
    /// by range. `LIKE` then checks each candidate, so both halves match alike.
    fn search_short(
        &self,
        short: &[&String],
        scope: Option<&Conversation>,
        want: usize,
        scan_rows: i64,
    ) -> Result<Vec<StoredMessage>> {
        let floor: i64 = match scope {
            None => self.conn.query_row(
                "SELECT coalesce(max(seq), 0) - ?1 FROM messages",
                [scan_rows],
                |r| r.get(0),
            )?,
            Some(conv) => {
                let (kind, id) = conv.to_sql();
                self.conn
                    .prepare_cached(
                        "SELECT coalesce((SELECT seq FROM messages
                             WHERE conv_kind = ?1 AND conv_id = ?2
                             ORDER BY seq DESC LIMIT 1 OFFSET ?3), 0)",
                    )?
                    .query_row(rusqlite::params![kind, id, scan_rows], |r| r.get(0))?
            }
        };
        let mut args = vec![Value::Integer(floor)];
        let scan_filters = filters(short, scope, &mut args);
        args.push(Value::Integer(want as i64));
        let sql = format!(
            "SELECT {COLUMNS} FROM messages m WHERE m.seq > ?1{scan_filters}
             ORDER BY m.seq DESC LIMIT ?{}",
            args.len()
        );
        let mut found = self.search_rows(&sql, args)?;
        if found.len() >= want || floor <= 0 {
            return Ok(found);
        }
        // The index, for the older rows: the trigrams beginning with the longest term.
        let Some(term) = short.iter().max_by_key(|t| t.chars().count()) else {
            return Ok(found);
        };
        let (lo, hi) = term_range(&fold(term));
        let mut args = vec![Value::Integer(floor), Value::Text(lo)];
        let range = match hi {
            Some(hi) => {
                args.push(Value::Text(hi));
                format!("term >= ?2 AND term < ?{}", args.len())
            }
            None => "term >= ?2".to_owned(),
        };
        let index_filters = filters(short, scope, &mut args);
        args.push(Value::Integer((want - found.len()) as i64));
        let sql = format!(
            "SELECT {COLUMNS} FROM messages m
             WHERE m.seq IN (SELECT doc FROM messages_fts_instances WHERE {range})
             AND m.seq <= ?1{index_filters} ORDER BY m.seq DESC LIMIT ?{}",
            args.len()
        );
        found.extend(self.search_rows(&sql, args)?);
        Ok(found)
    }

    /// Every conversation that has messages: its message count and the `received_at` of its
    /// newest message, most recent first (`p2p-chat conversations`).
    pub fn conversation_counts(&self) -> Result<Vec<(Conversation, u64, u64)>> {
        let mut stmt = self.conn.prepare(
            "SELECT m.conv_kind, m.conv_id, g.n, m.received_at
             FROM (SELECT conv_kind, conv_id, count(*) AS n, max(seq) AS last
                   FROM messages GROUP BY conv_kind, conv_id) g
             JOIN messages m ON m.seq = g.last
             ORDER BY g.last DESC",
        )?;
        let rows = stmt.query_map([], |row| {
            Ok((
                Conversation::from_row(row, 0, 1)?,
                u64::try_from(row.get::<_, i64>(2)?).unwrap_or(0),
                from_sql_time(row.get(3)?),
            ))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
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

    /// The ids `search_short` finds for one `term`, scanning the newest `scan` rows first.
    fn short_ids(
        s: &Store,
        term: &str,
        scope: Option<&Conversation>,
        want: usize,
        scan: i64,
    ) -> Vec<String> {
        let term = term.to_owned();
        let found = s.search_short(&[&term], scope, want, scan).unwrap();
        found.into_iter().map(|m| m.message.id).collect()
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
    fn a_small_conversation_read_itself_matches_as_the_index_does() {
        let mut s = Store::open_in_memory().unwrap();
        let bob = Conversation::Peer(key(1));
        let texts = [
            "Ärger im Büro",
            "ΣΟΦΙΑ και σοφία",
            "Привет, МИР",
            "İstanbul'da",
            "STRASSE und straße",
            "Բարեւ ԶԱՎԵՆ",
            "\u{212A}elvin scale",
            "こんにちは世界",
            "ＡＢＣ ｄｅｆ",
            "Ǆemal ǅuro ǆ",
            "naïve CAFÉ",
        ];
        for (i, text) in texts.iter().enumerate() {
            put(&mut s, bob.clone(), &format!("b{i}"), text);
        }
        // Enough elsewhere that Bob's conversation is small.
        for i in 0..texts.len() * 2 * LARGE_CONVERSATION_SHARE as usize {
            put(
                &mut s,
                Conversation::Everyone,
                &format!("e{i}"),
                "filler text",
            );
        }
        assert!(!s.is_large(&bob).unwrap());
        let queries = [
            "ärger",
            "BÜRO",
            "σοφία",
            "ΣΟΦΊΑ",
            "σοφ",
            "привет",
            "мир",
            "istanbul",
            "İSTANBUL",
            "straße",
            "STRASSE",
            "բարեւ",
            "զավեն",
            "kelvin",
            "\u{212A}ELVIN",
            "んにち",
            "ａｂｃ",
            "ＤＥＦ",
            "ǆemal",
            "ǅURO",
            "naïve",
            "café",
            "Café scale",
            "ｄｅｆ ab",
        ];
        let mut differ = Vec::new();
        for query in queries {
            let walked = ids(&s.search(query, Some(&bob), 50).unwrap())
                .into_iter()
                .map(str::to_owned)
                .collect::<Vec<_>>();
            let indexed = ids(&s.search(query, None, 50).unwrap())
                .into_iter()
                .filter(|id| id.starts_with('b'))
                .map(str::to_owned)
                .collect::<Vec<_>>();
            if walked != indexed {
                differ.push(format!(
                    "{query:?}: read itself {walked:?}, the index {indexed:?}"
                ));
            }
        }
        assert!(differ.is_empty(), "{differ:#?}");
    }

    #[test]
    fn a_small_conversation_beyond_the_budget_is_searched_in_the_index() {
        let mut s = Store::open_in_memory().unwrap();
        let bob = Conversation::Peer(key(1));
        for (id, text) in [
            ("old", "tomorrow then"),
            ("mid", "not now"),
            ("new", "see you TOMORROW"),
        ] {
            put(&mut s, bob.clone(), id, text);
        }
        // As `search` does first.
        s.index_backlog(usize::MAX).unwrap();
        let term = "tomorrow".to_owned();
        let found = |rows, bytes| {
            s.search_small(&[&term], &[], &bob, 10, rows, bytes)
                .unwrap()
                .iter()
                .map(|m| m.message.id.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(found(WALK_ROWS, WALK_BYTES), ["new", "old"]);
        // Two rows read, the third from the index; then only bytes run out.
        assert_eq!(found(2, WALK_BYTES), ["new", "old"]);
        assert_eq!(found(WALK_ROWS, 1), ["new", "old"]);
        assert_eq!(found(1, WALK_BYTES), ["new", "old"]);
    }

    /// A term of one or two characters folds case as a longer one does, in every script the
    /// index folds: in the newest rows scanned, from the index beyond them, and in a small
    /// conversation read itself.
    #[test]
    fn short_terms_fold_case_as_long_ones_do() {
        let mut s = Store::open_in_memory().unwrap();
        let bob = Conversation::Peer(key(1));
        put(&mut s, bob.clone(), "fr", "Straße ÉCOLE naïve café");
        put(&mut s, bob.clone(), "ru", "Привет Ян, Ωmega");
        for i in 0..30 {
            put(
                &mut s,
                Conversation::Everyone,
                &format!("n{i}"),
                "nothing here",
            );
        }
        assert!(!s.index_backlog(usize::MAX).unwrap());
        let found = |s: &Store, term: &str, scope: Option<&Conversation>, scan: i64| {
            short_ids(s, term, scope, 10, scan)
        };
        for (term, id) in [
            ("éc", "fr"),
            ("ÉC", "fr"),
            ("Éc", "fr"),
            ("é", "fr"),
            ("ß", "fr"),
            ("ян", "ru"),
            ("ЯН", "ru"),
            ("ωm", "ru"),
            ("ΩM", "ru"),
        ] {
            // Scanned (all rows are among the newest), then from the index (none are).
            assert_eq!(found(&s, term, None, 1_000), [id], "{term} scanned");
            assert_eq!(found(&s, term, None, 0), [id], "{term} from the index");
            assert_eq!(
                ids(&s.search(term, Some(&bob), 10).unwrap()),
                [id],
                "{term} in a small conversation"
            );
            // With a longer term, which the index narrows first.
            let with_long = if id == "fr" { "naïve" } else { "привет" };
            assert_eq!(
                ids(&s.search(&format!("{term} {with_long}"), None, 10).unwrap()),
                [id],
                "{term} beside {with_long}"
            );
        }
        // Diacritics are kept: "ec" does not find "éc".
        assert!(found(&s, "ec", None, 1_000).is_empty());
        // LIKE's wildcards in a variant are still plain text.
        assert!(found(&s, "%é", None, 1_000).is_empty());
    }

    #[test]
    fn short_terms_beyond_the_scanned_rows_come_from_the_index() {
        let mut s = Store::open_in_memory().unwrap();
        let bob = Conversation::Peer(key(1));
        // The old matches: a whole short message, a term at the very end of a text, a
        // one-character term, and case that only ASCII folding matches.
        put(&mut s, bob.clone(), "old1", "ok");
        put(&mut s, Conversation::Everyone, "old2", "见到你了 世界");
        put(&mut s, bob.clone(), "old3", "鑫");
        put(&mut s, bob.clone(), "old4", "say OK");
        for i in 0..30 {
            put(
                &mut s,
                Conversation::Everyone,
                &format!("n{i}"),
                "nothing to see here",
            );
        }
        put(&mut s, bob.clone(), "new1", "ok then");
        assert!(!s.index_backlog(usize::MAX).unwrap());
        let short = |s: &Store, term: &str, scope: Option<&Conversation>, want: usize| {
            short_ids(s, term, scope, want, 10)
        };
        // The newest ten rows hold one match; the index finds the older ones.
        assert_eq!(short(&s, "ok", None, 10), ["new1", "old4", "old1"]);
        assert_eq!(short(&s, "ok", Some(&bob), 10), ["new1", "old4", "old1"]);
        assert_eq!(short(&s, "ok", None, 2), ["new1", "old4"]);
        assert_eq!(short(&s, "世界", None, 10), ["old2"]);
        assert_eq!(short(&s, "界", None, 10), ["old2"]);
        assert_eq!(short(&s, "鑫", None, 10), ["old3"]);
        assert!(short(&s, "鑫", Some(&Conversation::Everyone), 10).is_empty());
        assert!(short(&s, "zz", None, 10).is_empty());
        // Through `search` too, with a deleted and an edited message left out of the index.
        s.delete_message(&bob, "old1", None).unwrap();
        assert!(s.search("鑫", None, 10).unwrap().hits.len() == 1);
        let ids = |p: SearchPage| {
            p.hits
                .into_iter()
                .map(|h| h.message.message.id)
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(s.search("ok", None, 10).unwrap()), ["new1", "old4"]);
    }

    #[test]
    fn a_deleted_newest_message_does_not_leave_its_seq_marked_indexed() {
        let mut s = Store::open_in_memory().unwrap();
        let conv = Conversation::Everyone;
        put(&mut s, conv.clone(), "a", "first words");
        put(&mut s, conv.clone(), "b", "second words");
        assert!(!s.index_backlog(usize::MAX).unwrap());
        // SQLite gives the next row the highest seq + 1: b's seq again.
        s.delete_message(&conv, "b", None).unwrap();
        put(&mut s, conv.clone(), "c", "third sentence");
        assert!(s.index_backlog(0).unwrap(), "c waits for the index");
        assert_eq!(s.search("third", None, 10).unwrap().hits.len(), 1);
        assert!(s.search("second", None, 10).unwrap().hits.is_empty());
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
        let mut indexed = Store::open_in_memory().unwrap();
        let insert = fill(&mut indexed, n);
        let started = std::time::Instant::now();
        while indexed.index_backlog(64 * 1024).unwrap() {}
        let backlog = started.elapsed();
        let per = |d: std::time::Duration| d.as_secs_f64() * 1e6 / n as f64;
        println!(
            "insert: {:.1} us/chat; indexing the backlog later: {:.1} us/chat",
            per(insert),
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
