//! Files and pictures (PROTOCOL.md §5.1, §8.11): a file is a message with a row in `files`
//! (schema version 12). Ours have a `file_sends` row per recipient beside their `outbox` rows;
//! received ones record where their transfer stands. The bytes live on disk under the files
//! directory (`crate::node::files`); what is on disk for a row is named by its `key`, and when a
//! row goes (whatever deleted its message) triggers list its files in `file_trash`, which
//! [`Store::empty_file_trash`] removes right after the commit.

use std::path::{Path, PathBuf};

use crypto_core::PublicKey;
use rusqlite::{params, OptionalExtension, Row};

use super::conversation::Conversation;
use super::error::{Result, StoreError};
use super::messages::{insert, ChatMessage, MessageDirection};
use super::{from_sql_time, key_at, opt_key_at, to_sql_time, Store};

/// Where a transfer stands (PROTOCOL.md §8.11, `file_progress.state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileState {
    /// Not started: waiting for a session, a free slot or the other side.
    Waiting,
    /// Ours, bytes moving.
    Sending,
    /// Received, bytes moving.
    Receiving,
    /// Paused by one side.
    Paused,
    /// Verified and stored whole.
    Complete,
    /// Stopped by an error (a changed file, failed verification, a hash mismatch).
    Failed,
    /// Ended for good by one side.
    Cancelled,
    /// The receiver would not take it (not a contact, a limit).
    Refused,
}

impl FileState {
    /// The UI protocol's (and the database's) name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Waiting => "waiting",
            Self::Sending => "sending",
            Self::Receiving => "receiving",
            Self::Paused => "paused",
            Self::Complete => "complete",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::Refused => "refused",
        }
    }

    fn parse(text: &str) -> Self {
        match text {
            "sending" => Self::Sending,
            "receiving" => Self::Receiving,
            "paused" => Self::Paused,
            "complete" => Self::Complete,
            "failed" => Self::Failed,
            "cancelled" => Self::Cancelled,
            "refused" => Self::Refused,
            _ => Self::Waiting,
        }
    }

    /// Whether the transfer is over (nothing moves again without a retry).
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Self::Complete | Self::Failed | Self::Cancelled | Self::Refused
        )
    }

    /// How far along it is, for the least advanced of several recipients.
    fn rank(self) -> u8 {
        match self {
            Self::Failed | Self::Cancelled | Self::Refused => 0,
            Self::Paused => 1,
            Self::Waiting => 2,
            Self::Sending | Self::Receiving => 3,
            Self::Complete => 4,
        }
    }
}

/// What an offer says about a file (ours or received), as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMeta {
    /// The cleaned name (a received file's name in `files/received/`).
    pub name: String,
    /// Bytes.
    pub size: u64,
    /// The offered media type.
    pub media_type: String,
    /// Bytes per chunk.
    pub chunk_size: u32,
    /// SHA-256 of the whole file.
    pub sha256: [u8; 32],
    /// The chunks' Merkle root.
    pub root: [u8; 32],
}

/// Where our own file comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSource {
    /// The file sent: the user's path, or our copy of an upload.
    pub path: PathBuf,
    /// Whether it is our copy (deleted with the message) rather than the user's own file.
    pub owned: bool,
    /// Its modification time when it was hashed, ns since the epoch.
    pub mtime_ns: i64,
}

/// A stored file message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRecord {
    /// The message's `seq`.
    pub seq: i64,
    /// The message (conversation, sender, id, times; its text is the name).
    pub message: ChatMessage,
    /// Random, 32 hex digits: names its files on disk and `GET /files/<key>`.
    pub key: String,
    /// Ours (`Outgoing`) or received.
    pub direction: MessageDirection,
    /// What was offered.
    pub meta: FileMeta,
    /// Ours: the file sent.
    pub source: Option<FileSource>,
    /// Received: where the transfer stands (ours: see [`Store::file_sends`]).
    pub state: FileState,
    /// Received: bytes verified and stored, as last recorded.
    pub bytes: u64,
    /// Why it failed, was cancelled or refused.
    pub reason: Option<String>,
}

/// Our file's transfer to one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSend {
    /// The recipient.
    pub recipient: PublicKey,
    /// Where it stands.
    pub state: FileState,
    /// Bytes the recipient said it verified.
    pub bytes: u64,
    /// Why it failed, was cancelled or refused.
    pub reason: Option<String>,
}

/// One file whose row went, with the paths of its files on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrashedFile {
    /// The file's key.
    pub key: String,
}

const FILE_COLUMNS: &str = "f.message, f.key, f.direction, f.name, f.size, f.media_type, \
     f.chunk_size, f.sha256, f.root, f.source, f.owned, f.mtime_ns, f.state, f.bytes, f.reason, \
     m.conv_kind, m.conv_id, m.sender, m.msg_id, m.text, m.sent_at, m.received_at";

fn record_from_row(row: &Row<'_>) -> rusqlite::Result<FileRecord> {
    let direction = match row.get_ref(2)?.as_str()? {
        "out" => MessageDirection::Outgoing,
        _ => MessageDirection::Incoming,
    };
    let hash = |idx: usize| -> rusqlite::Result<[u8; 32]> {
        let bytes: Vec<u8> = row.get(idx)?;
        bytes.try_into().map_err(|_| {
            rusqlite::Error::FromSqlConversionFailure(
                idx,
                rusqlite::types::Type::Blob,
                "not 32 bytes".into(),
            )
        })
    };
    Ok(FileRecord {
        seq: row.get(0)?,
        key: row.get(1)?,
        direction,
        meta: FileMeta {
            name: row.get(3)?,
            size: from_sql_time(row.get(4)?),
            media_type: row.get(5)?,
            chunk_size: u32::try_from(row.get::<_, i64>(6)?).unwrap_or(u32::MAX),
            sha256: hash(7)?,
            root: hash(8)?,
        },
        source: match row.get::<_, Option<String>>(9)? {
            Some(path) => Some(FileSource {
                path: PathBuf::from(path),
                owned: row.get(10)?,
                mtime_ns: row.get::<_, Option<i64>>(11)?.unwrap_or(0),
            }),
            None => None,
        },
        state: FileState::parse(row.get_ref(12)?.as_str()?),
        bytes: from_sql_time(row.get(13)?),
        reason: row.get(14)?,
        message: ChatMessage {
            conversation: Conversation::from_row(row, 15, 16)?,
            sender: key_at(row, 17)?,
            id: row.get(18)?,
            text: row.get(19)?,
            sent_at: from_sql_time(row.get(20)?),
            received_at: from_sql_time(row.get(21)?),
            reply_to: None,
        },
    })
}

/// A new random key for a file's names on disk.
pub fn new_file_key() -> String {
    let bytes: [u8; 16] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Store {
    /// Sets the directory the file paths of `file_trash` are relative to (`None`: files are not
    /// kept, so there is nothing to remove).
    pub fn set_files_dir(&mut self, dir: Option<PathBuf>) {
        self.files_dir = dir;
    }

    /// Commits our file message, its `files` row, an `outbox` row and a `file_sends` row per
    /// recipient, atomically. Returns the message's `seq`.
    pub fn enqueue_file(
        &mut self,
        msg: &ChatMessage,
        key: &str,
        meta: &FileMeta,
        source: &FileSource,
        recipients: &[PublicKey],
    ) -> Result<i64> {
        let tx = self.conn.savepoint()?;
        // `enqueue` would need a savepoint of its own; the outbox rows are written here.
        let seq = insert(&tx, msg, MessageDirection::Outgoing, self.timer_unit_ms)?
            .ok_or_else(|| StoreError::Duplicate(format!("message id {:?}", msg.id)))?;
        insert_file(
            &tx,
            seq,
            key,
            "out",
            meta,
            Some(source),
            FileState::Waiting,
            None,
        )?;
        let mut outbox = tx.prepare_cached(
            "INSERT OR IGNORE INTO outbox (recipient, message, state) VALUES (?1, ?2, 0)",
        )?;
        let mut sends = tx.prepare_cached(
            "INSERT OR IGNORE INTO file_sends (message, recipient, state) VALUES (?1, ?2, 'waiting')",
        )?;
        for key in recipients {
            outbox.execute(params![key.to_base64(), seq])?;
            sends.execute(params![seq, key.to_base64()])?;
        }
        drop((outbox, sends));
        tx.commit()?;
        Ok(seq)
    }

    /// Stores a received offer as a message with its `files` row (state `waiting`). `None` if
    /// (sender, id) is already stored.
    pub fn insert_incoming_file(
        &mut self,
        msg: &ChatMessage,
        key: &str,
        meta: &FileMeta,
    ) -> Result<Option<i64>> {
        let tx = self.conn.savepoint()?;
        let Some(seq) = insert(&tx, msg, MessageDirection::Incoming, self.timer_unit_ms)? else {
            return Ok(None);
        };
        insert_file(
            &tx,
            seq,
            key,
            "in",
            meta,
            None,
            FileState::Waiting,
            Some(&msg.sender),
        )?;
        tx.commit()?;
        Ok(Some(seq))
    }

    /// The file message (`sender`, `id`), if it is one.
    pub fn file(&self, sender: &PublicKey, id: &str) -> Result<Option<FileRecord>> {
        Ok(self
            .conn
            .prepare_cached(&format!(
                "SELECT {FILE_COLUMNS} FROM files f JOIN messages m ON m.seq = f.message
                 WHERE m.sender = ?1 AND m.msg_id = ?2"
            ))?
            .query_row(params![sender.to_base64(), id], record_from_row)
            .optional()?)
    }

    /// The file with this key.
    pub fn file_by_key(&self, key: &str) -> Result<Option<FileRecord>> {
        Ok(self
            .conn
            .prepare_cached(&format!(
                "SELECT {FILE_COLUMNS} FROM files f JOIN messages m ON m.seq = f.message
                 WHERE f.key = ?1"
            ))?
            .query_row([key], record_from_row)
            .optional()?)
    }

    /// The file of message `seq`, if it is one (for history pages).
    pub fn file_of_message(&self, seq: i64) -> Result<Option<FileRecord>> {
        Ok(self
            .conn
            .prepare_cached(&format!(
                "SELECT {FILE_COLUMNS} FROM files f JOIN messages m ON m.seq = f.message
                 WHERE f.message = ?1"
            ))?
            .query_row([seq], record_from_row)
            .optional()?)
    }

    /// Received files not yet complete (to resume), oldest first.
    pub fn unfinished_received_files(&self) -> Result<Vec<FileRecord>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {FILE_COLUMNS} FROM files f JOIN messages m ON m.seq = f.message
             WHERE f.direction = 'in' AND f.state IN ('waiting', 'receiving', 'paused')
             ORDER BY f.message"
        ))?;
        let rows = stmt.query_map([], record_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Records where a received file's transfer stands (`bytes`: verified so far, if known).
    /// False if the row is gone (its message was deleted meanwhile).
    pub fn set_received_state(
        &mut self,
        seq: i64,
        state: FileState,
        bytes: Option<u64>,
        reason: Option<&str>,
    ) -> Result<bool> {
        let changed = self
            .conn
            .prepare_cached(
                "UPDATE files SET state = ?2, bytes = coalesce(?3, bytes), reason = ?4
                 WHERE message = ?1 AND direction = 'in'",
            )?
            .execute(params![seq, state.as_str(), bytes.map(to_sql_time), reason])?;
        Ok(changed == 1)
    }

    /// A received file was renamed on completion (its reserved name was taken on disk).
    pub fn rename_received(&mut self, seq: i64, name: &str) -> Result<()> {
        self.conn.execute(
            "UPDATE files SET name = ?2 WHERE message = ?1 AND direction = 'in'",
            params![seq, name],
        )?;
        Ok(())
    }

    /// Our file's transfer to each recipient.
    pub fn file_sends(&self, seq: i64) -> Result<Vec<FileSend>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT recipient, state, bytes, reason FROM file_sends WHERE message = ?1
             ORDER BY recipient",
        )?;
        let rows = stmt.query_map([seq], |row| {
            Ok(FileSend {
                recipient: key_at(row, 0)?,
                state: FileState::parse(row.get_ref(1)?.as_str()?),
                bytes: from_sql_time(row.get(2)?),
                reason: row.get(3)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Records where our file's transfer to `recipient` stands. A final state other than
    /// `complete` also takes the offer out of the outbox for that recipient (it is offered no
    /// more); a retry (`waiting`) puts it back. False if there is no such transfer.
    pub fn set_send_state(
        &mut self,
        seq: i64,
        recipient: &PublicKey,
        state: FileState,
        bytes: Option<u64>,
        reason: Option<&str>,
    ) -> Result<bool> {
        let tx = self.conn.savepoint()?;
        let changed = tx
            .prepare_cached(
                "UPDATE file_sends SET state = ?3, bytes = coalesce(?4, bytes), reason = ?5
                 WHERE message = ?1 AND recipient = ?2",
            )?
            .execute(params![
                seq,
                recipient.to_base64(),
                state.as_str(),
                bytes.map(to_sql_time),
                reason
            ])?;
        if changed == 1 {
            match state {
                FileState::Failed | FileState::Cancelled | FileState::Refused => {
                    tx.execute(
                        "DELETE FROM outbox WHERE message = ?1 AND recipient = ?2 AND state < 2",
                        params![seq, recipient.to_base64()],
                    )?;
                }
                FileState::Waiting => {
                    tx.execute(
                        "INSERT INTO outbox (recipient, message, state) VALUES (?2, ?1, 0)
                         ON CONFLICT (recipient, message) DO UPDATE SET state = 0",
                        params![seq, recipient.to_base64()],
                    )?;
                }
                // Reopened by the receiver (its retry): owed again, already written to it.
                FileState::Sending => {
                    tx.execute(
                        "INSERT INTO outbox (recipient, message, state) VALUES (?2, ?1, 1)
                         ON CONFLICT (recipient, message) DO NOTHING",
                        params![seq, recipient.to_base64()],
                    )?;
                }
                _ => {}
            }
        }
        tx.commit()?;
        Ok(changed == 1)
    }

    /// The recipient acknowledged our offer `id`: it holds the whole file, verified. Returns
    /// the file's `seq` if `id` is one of our files sent to `peer`.
    pub fn file_delivered(&mut self, peer: &PublicKey, id: &str) -> Result<Option<i64>> {
        let seq: Option<i64> = self
            .conn
            .prepare_cached(
                "SELECT f.message FROM files f JOIN messages m ON m.seq = f.message
                 JOIN file_sends s ON s.message = f.message
                 WHERE m.direction = 'out' AND m.msg_id = ?1 AND s.recipient = ?2",
            )?
            .query_row(params![id, peer.to_base64()], |r| r.get(0))
            .optional()?;
        if let Some(seq) = seq {
            self.conn.execute(
                "UPDATE file_sends SET state = 'complete', reason = NULL,
                     bytes = (SELECT size FROM files WHERE message = ?1)
                 WHERE message = ?1 AND recipient = ?2",
                params![seq, peer.to_base64()],
            )?;
        }
        Ok(seq)
    }

    /// Our files still owed to `peer` (offered at each session until acknowledged, unless its
    /// transfer ended), oldest first, with that transfer's state.
    pub fn pending_files_for(&self, peer: &PublicKey) -> Result<Vec<(FileRecord, FileSend)>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {FILE_COLUMNS}, s.state, s.bytes, s.reason
             FROM outbox o JOIN files f ON f.message = o.message
             JOIN messages m ON m.seq = f.message
             JOIN file_sends s ON s.message = f.message AND s.recipient = o.recipient
             WHERE o.recipient = ?1 AND o.state < 2 AND m.unsent = 0
                 AND s.state IN ('waiting', 'sending', 'paused')
             ORDER BY f.message"
        ))?;
        let rows = stmt.query_map([peer.to_base64()], |row| {
            Ok((
                record_from_row(row)?,
                FileSend {
                    recipient: *peer,
                    state: FileState::parse(row.get_ref(22)?.as_str()?),
                    bytes: from_sql_time(row.get(23)?),
                    reason: row.get(24)?,
                },
            ))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Bytes of received files kept (complete or on their way) from `peer`, or from everyone.
    pub fn received_file_bytes(&self, peer: Option<&PublicKey>) -> Result<u64> {
        let total: i64 = match peer {
            Some(peer) => self
                .conn
                .prepare_cached(
                    "SELECT coalesce(sum(size), 0) FROM files WHERE direction = 'in' AND peer = ?1
                     AND state IN ('waiting', 'receiving', 'paused', 'complete')",
                )?
                .query_row([peer.to_base64()], |r| r.get(0))?,
            None => self
                .conn
                .prepare_cached(
                    "SELECT coalesce(sum(size), 0) FROM files WHERE direction = 'in'
                     AND state IN ('waiting', 'receiving', 'paused', 'complete')",
                )?
                .query_row([], |r| r.get(0))?,
        };
        Ok(from_sql_time(total))
    }

    /// Whether a received file already holds (or has reserved) `name`.
    pub fn received_name_taken(&self, name: &str) -> Result<bool> {
        Ok(self
            .conn
            .prepare_cached("SELECT 1 FROM files WHERE direction = 'in' AND name = ?1")?
            .query_row([name], |_| Ok(()))
            .optional()?
            .is_some())
    }

    /// Our unfinished file sent from `path` (same size and modification time) to `recipient`,
    /// if any: sending it again resumes that transfer instead of starting another.
    pub fn unfinished_send_of(
        &self,
        path: &Path,
        mtime_ns: i64,
        size: u64,
        recipient: &PublicKey,
    ) -> Result<Option<FileRecord>> {
        Ok(self
            .conn
            .prepare_cached(&format!(
                "SELECT {FILE_COLUMNS} FROM files f JOIN messages m ON m.seq = f.message
                 JOIN file_sends s ON s.message = f.message
                 WHERE f.direction = 'out' AND f.source = ?1 AND f.mtime_ns = ?2 AND f.size = ?3
                     AND s.recipient = ?4 AND s.state IN ('waiting', 'sending', 'paused')
                 ORDER BY f.message DESC LIMIT 1"
            ))?
            .query_row(
                params![
                    path.to_string_lossy(),
                    mtime_ns,
                    to_sql_time(size),
                    recipient.to_base64()
                ],
                record_from_row,
            )
            .optional()?)
    }

    /// Deletes a file's row (its message stays): its files on disk go to the trash.
    pub fn drop_file(&mut self, seq: i64) -> Result<()> {
        self.conn
            .execute("DELETE FROM files WHERE message = ?1", [seq])?;
        self.scrub_pending = true;
        Ok(())
    }

    /// Removes the files whose rows went (a partial file when a receiver cancels) without
    /// dropping the row: the named paths, relative to the files directory.
    pub fn trash_paths(&mut self, key: &str, paths: &[String]) -> Result<()> {
        let mut stmt = self
            .conn
            .prepare_cached("INSERT INTO file_trash (key, path) VALUES (?1, ?2)")?;
        for path in paths {
            stmt.execute(params![key, path])?;
        }
        self.scrub_pending = true;
        Ok(())
    }

    /// Removes from disk what `file_trash` lists and empties it; returns the keys of the files
    /// whose rows went, so their transfers stop. Runs after a commit (`deletion.rs`) and at
    /// start.
    pub fn empty_file_trash(&mut self) -> Result<Vec<TrashedFile>> {
        let entries: Vec<(String, String)> = {
            let mut stmt = self
                .conn
                .prepare_cached("SELECT key, path FROM file_trash")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        // Without the directory the entries stay for a store that knows it (the peer's).
        if entries.is_empty() || self.files_dir.is_none() {
            return Ok(Vec::new());
        }
        if let Some(dir) = &self.files_dir {
            for (_, path) in &entries {
                // Only names this module wrote: a plain name under one of our directories.
                if is_trash_path(path) {
                    match std::fs::remove_file(dir.join(path)) {
                        Ok(()) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => tracing::warn!("cannot delete a file of a deleted message: {e}"),
                    }
                }
            }
        }
        self.conn.execute("DELETE FROM file_trash", [])?;
        // Only files whose row went: a partial file removed from a row that stays (a cancel,
        // a failure) is not a deleted message.
        let mut keys: Vec<String> = entries
            .into_iter()
            .map(|(key, _)| key)
            .filter(|key| !matches!(self.file_by_key(key), Ok(Some(_))))
            .collect();
        keys.sort_unstable();
        keys.dedup();
        Ok(keys.into_iter().map(|key| TrashedFile { key }).collect())
    }

    /// The least advanced state of our file over its recipients (for history), and their
    /// least verified byte count.
    pub fn least_send(&self, seq: i64) -> Result<Option<(FileState, u64)>> {
        let sends = self.file_sends(seq)?;
        Ok(sends
            .iter()
            .min_by_key(|s| (s.state.rank(), s.bytes))
            .map(|s| (s.state, s.bytes)))
    }

    /// Every file message of `conversation` (or all), oldest first: what `export` lists.
    pub fn files_of(&self, conversation: Option<&Conversation>) -> Result<Vec<FileRecord>> {
        let (kind, id) = match conversation {
            Some(c) => {
                let (k, i) = c.to_sql();
                (Some(k), Some(i))
            }
            None => (None, None),
        };
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {FILE_COLUMNS} FROM files f JOIN messages m ON m.seq = f.message
             WHERE (?1 IS NULL OR (m.conv_kind = ?1 AND m.conv_id = ?2)) ORDER BY f.message"
        ))?;
        let rows = stmt.query_map(params![kind, id], record_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The sender of a received file, if `peer` names one of ours instead.
    pub fn file_peer(&self, seq: i64) -> Result<Option<PublicKey>> {
        Ok(self
            .conn
            .query_row("SELECT peer FROM files WHERE message = ?1", [seq], |r| {
                opt_key_at(r, 0)
            })
            .optional()?
            .flatten())
    }
}

/// Whether `path` is one this module puts in `file_trash`: `<dir>/<name>` with one of our
/// directories and a plain name (no separator, not `.` or `..`).
fn is_trash_path(path: &str) -> bool {
    match path.split_once('/') {
        Some((dir, name)) => {
            matches!(dir, "partial" | "received" | "sent" | "uploads")
                && !name.is_empty()
                && name != "."
                && name != ".."
                && !name.contains('/')
                && !name.contains('\\')
        }
        None => false,
    }
}

#[allow(clippy::too_many_arguments)]
fn insert_file(
    conn: &rusqlite::Connection,
    seq: i64,
    key: &str,
    direction: &str,
    meta: &FileMeta,
    source: Option<&FileSource>,
    state: FileState,
    peer: Option<&PublicKey>,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO files (message, key, direction, name, size, media_type, chunk_size, sha256,
             root, source, owned, mtime_ns, state, peer)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    )?
    .execute(params![
        seq,
        key,
        direction,
        meta.name,
        to_sql_time(meta.size),
        meta.media_type,
        i64::from(meta.chunk_size),
        &meta.sha256[..],
        &meta.root[..],
        source.map(|s| s.path.to_string_lossy().into_owned()),
        source.is_some_and(|s| s.owned),
        source.map(|s| s.mtime_ns),
        state.as_str(),
        peer.map(PublicKey::to_base64),
    ])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::contacts::tests::key;
    use super::*;

    fn meta(name: &str, size: u64) -> FileMeta {
        FileMeta {
            name: name.into(),
            size,
            media_type: "image/png".into(),
            chunk_size: 61_440,
            sha256: [1; 32],
            root: [2; 32],
        }
    }

    fn received(s: &mut Store, from: u8, id: &str, name: &str, size: u64) -> (i64, String) {
        let key = new_file_key();
        let seq = s
            .insert_incoming_file(
                &ChatMessage {
                    conversation: Conversation::Peer(super::super::contacts::tests::key(from)),
                    sender: super::super::contacts::tests::key(from),
                    id: id.into(),
                    text: name.into(),
                    sent_at: 1,
                    received_at: 2,
                    reply_to: None,
                },
                &key,
                &meta(name, size),
            )
            .unwrap()
            .unwrap();
        (seq, key)
    }

    #[test]
    fn a_deleted_message_or_a_delete_for_everyone_trashes_its_files() {
        let dir = tempfile::tempdir().unwrap();
        for sub in ["partial", "received", "sent"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        let mut s = Store::open_in_memory().unwrap();
        s.set_files_dir(Some(dir.path().to_owned()));
        let (seq, k) = received(&mut s, 1, "f1", "cat.png", 10);
        let partial = dir.path().join(format!("partial/{k}.part"));
        std::fs::write(&partial, b"12345").unwrap();
        assert_eq!(s.received_file_bytes(Some(&key(1))).unwrap(), 10);
        assert!(s.received_name_taken("cat.png").unwrap());
        s.delete_message(&Conversation::Peer(key(1)), "f1", None)
            .unwrap();
        let gone = s.empty_file_trash().unwrap();
        assert_eq!(gone, vec![TrashedFile { key: k.clone() }]);
        assert!(!partial.exists());
        assert!(s.file_of_message(seq).unwrap().is_none());
        assert_eq!(s.received_file_bytes(None).unwrap(), 0);

        // Complete, then its sender deletes it for everyone: the row and the file go.
        let (seq, k) = received(&mut s, 1, "f2", "dog.png", 10);
        s.set_received_state(seq, FileState::Complete, Some(10), None)
            .unwrap();
        let done = dir.path().join("received/dog.png");
        std::fs::write(&done, b"0123456789").unwrap();
        s.apply_amendment(&key(1), "f2", &super::super::Amend::Delete, 5, 6)
            .unwrap();
        assert_eq!(s.empty_file_trash().unwrap(), vec![TrashedFile { key: k }]);
        assert!(!done.exists());
        assert!(s.file(&key(1), "f2").unwrap().is_none());
        // Nothing outside our directories is ever removed.
        assert!(!is_trash_path("../identity.key"));
        assert!(!is_trash_path("received/../../x"));
        assert!(!is_trash_path("received/"));
        assert!(is_trash_path("received/a b.png"));
    }

    #[test]
    fn our_file_is_owed_until_acknowledged_and_a_cancel_takes_it_out_of_the_outbox() {
        let mut s = Store::open_in_memory().unwrap();
        let me = key(0);
        let msg = ChatMessage {
            conversation: Conversation::Room("r".into()),
            sender: me,
            id: "f".into(),
            text: "big.bin".into(),
            sent_at: 1,
            received_at: 1,
            reply_to: None,
        };
        let source = FileSource {
            path: "/tmp/big.bin".into(),
            owned: false,
            mtime_ns: 7,
        };
        let seq = s
            .enqueue_file(
                &msg,
                &new_file_key(),
                &meta("big.bin", 100),
                &source,
                &[key(1), key(2)],
            )
            .unwrap();
        assert_eq!(s.pending_files_for(&key(1)).unwrap().len(), 1);
        assert!(s.pending_for(&key(1)).unwrap().is_empty(), "not a chat");
        assert_eq!(
            s.unfinished_send_of(Path::new("/tmp/big.bin"), 7, 100, &key(2))
                .unwrap()
                .map(|r| r.seq),
            Some(seq)
        );
        assert!(s
            .unfinished_send_of(Path::new("/tmp/big.bin"), 8, 100, &key(2))
            .unwrap()
            .is_none());
        assert_eq!(s.file_delivered(&key(1), "f").unwrap(), Some(seq));
        s.mark_delivered(&key(1), "f").unwrap();
        assert!(s.pending_files_for(&key(1)).unwrap().is_empty());
        s.set_send_state(seq, &key(2), FileState::Refused, None, Some("quota"))
            .unwrap();
        assert!(s.pending_files_for(&key(2)).unwrap().is_empty());
        assert!(!s.peers_with_pending().unwrap().contains(&key(2)));
        let sends = s.file_sends(seq).unwrap();
        assert_eq!(
            sends.iter().map(|x| (x.state, x.bytes)).collect::<Vec<_>>(),
            vec![(FileState::Complete, 100), (FileState::Refused, 0)]
        );
        assert_eq!(s.least_send(seq).unwrap(), Some((FileState::Refused, 0)));
        // A retry offers it again.
        s.set_send_state(seq, &key(2), FileState::Waiting, Some(0), None)
            .unwrap();
        assert_eq!(s.pending_files_for(&key(2)).unwrap().len(), 1);
    }
}
