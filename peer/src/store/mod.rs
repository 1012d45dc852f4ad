//! Persistent state of a peer: contacts with pinned keys, every message, the outbox and rooms,
//! in one SQLite database (PROTOCOL.md §8.1: what is stored, and when an `ack` may be sent).
//!
//! The store is synchronous: a [`Store`] owns one `rusqlite::Connection` and every method runs
//! to completion on the calling thread. From async code put it on a dedicated thread fed by a
//! channel, or behind `Arc<Mutex<Store>>` used from `tokio::task::spawn_blocking`. `Store` is
//! `Send` but not `Sync`, which is exactly what both patterns need.
//!
//! Settings, chosen for a messenger that must not lose a message it has acknowledged:
//! * **WAL** journal: readers never block the writer and a commit is one append.
//! * **`synchronous = FULL`**: every commit is fsynced before it returns. In WAL mode `NORMAL`
//!   already survives the process being killed (the OS holds the written pages); `FULL` also
//!   survives power loss and OS crashes. That matters in both directions of our protocol: the
//!   UI is told "queued" only after [`Store::enqueue`] returns, and we `ack` a received message
//!   only after [`Store::insert_incoming`] returns, after which the sender forgets it. Chat
//!   writes are few and small, so the extra fsync is cheap.
//! * **Group commit**: the store thread (`crate::persist`) wraps every burst of queued jobs in
//!   one transaction ([`Store::begin_group`] … [`Store::commit_group`]) and answers the jobs
//!   only after that commit, so one fsync covers a burst and nothing is acknowledged early.
//!   Methods that need atomicity of their own use savepoints, which nest inside the group.
//! * **`locking_mode = EXCLUSIVE`**: the database is locked when opened and stays locked until
//!   the `Store` is dropped, so a second p2p-chat on the same data directory fails at start
//!   with [`StoreError::Locked`] rather than both daemons delivering the same outbox. The OS
//!   drops the lock when a process dies, so a restart after `kill -9` opens normally.
//! * **foreign keys on**, and a **busy timeout** so a short-lived lock (someone inspecting the
//!   file) is waited for before giving up with `Locked`.
//! * **`secure_delete = ON`**: what the user deletes is overwritten, not left in free pages
//!   (`deletion.rs`).
//! * At open, `PRAGMA quick_check`: a damaged file is reported at start as
//!   [`StoreError::Corrupt`], not halfway through a conversation. It reads the whole file, so
//!   it gets [`OPEN_CHECK_BUDGET`] at open: a small database (every test's, a few months of
//!   chat) is checked in full before the peer starts; a large one (a million messages is
//!   ~0.7 GB) is checked again in full by the store thread once the peer is up, while the
//!   thread has nothing else to do: a job that arrives interrupts the check, which starts over
//!   at the next idle moment ([`Store::check_integrity`], `crate::persist`). So the page opens
//!   without waiting for it (BENCHMARKS.md, "History at scale").

mod amend;
mod contacts;
mod conversation;
mod deletion;
mod error;
mod files;
mod indicators;
mod messages;
mod name_index;
mod outbox;
mod reach;
mod reactions;
mod receipts;
mod requests;
mod rooms;
mod schema;
mod search;
mod settings;
mod timers;
mod trust;

#[cfg(test)]
mod durability_tests;

use std::path::Path;
use std::time::{Duration, Instant};

use crypto_core::PublicKey;
use rusqlite::types::Type;
use rusqlite::{Connection, Row};

pub use amend::{
    Amend, AmendOutcome, PendingAmendment, EARLY_MAX_AGE_MS, MAX_EARLY, MAX_EARLY_PER_SENDER,
};
pub use contacts::{dialable_address, Contact};
pub use conversation::{room_ui_id, Conversation, ConversationIdError, Delivery};
pub use error::{Result, StoreError};
pub use files::{new_file_key, FileMeta, FileRecord, FileSend, FileSource, FileState, TrashedFile};
pub use indicators::{Indicator, IndicatorOverride, IndicatorSettings};
pub use messages::{ChatMessage, MessageDirection, MessageKey, StoredMessage};
pub use outbox::{DeliveryUpdate, PendingMessage};
pub use reach::{AddressKind, ContactAddress, MAX_CONTACT_ADDRESSES};
pub use reactions::{OwnReaction, PendingReaction, Reaction, ReactionOutcome};
pub use receipts::{ReadPosition, ReadUpdate};
pub use requests::{
    KeyStanding, Request, RequestInsert, RequestMessage, RequestSeen, MAX_REQUESTS,
    MAX_REQUEST_BYTES, MAX_REQUEST_MESSAGES, MAX_REQUEST_MESSAGE_AGE_MS, REQUEST_IDLE_EXPIRY_MS,
};
pub use rooms::{Room, RoomAnnouncement, RoomChange, RoomIgnored, MAX_ROOM_CHANGES};
pub use schema::SCHEMA_VERSION;
pub use search::{
    query_terms, AroundPage, SearchHit, SearchPage, Snippet, MAX_SEARCH_QUERY_CHARS,
    MAX_SEARCH_RESULTS, MAX_SEARCH_TERMS,
};
pub use timers::{
    ExpiredMessage, PendingTimer, Timer, TimerChange, TimerUpdate, MAX_TIMER_CHANGES,
    MAX_TIMER_SECONDS,
};
pub use trust::{KeyChange, KeyChangeState};

/// The database of one peer. See the module documentation for the guarantees.
pub struct Store {
    conn: Connection,
    /// A delete committed (or is about to): checkpoint and truncate the WAL next
    /// (`deletion.rs`).
    scrub_pending: bool,
    /// How long one second of a disappearing-message timer lasts, in ms (1,000; shorter only
    /// in tests, `--timer-unit-ms`).
    timer_unit_ms: i64,
    /// How long an edit or delete that came before its message is held, in ms
    /// ([`EARLY_MAX_AGE_MS`]; shorter only in tests, `--early-amendment-ms`).
    early_max_age_ms: u64,
    /// Told which messages expired after each sweep (`timers.rs`); the node turns them into
    /// `message_deleted` events.
    expiry_listener: Option<timers::ExpiryListener>,
    /// Contacts' names by skeleton, rebuilt when a contact's name changed (`name_index.rs`).
    name_index: std::cell::RefCell<Option<name_index::NameIndex>>,
    /// The integrity check at open ran out of [`OPEN_CHECK_BUDGET`]: the full check is owed.
    integrity_pending: bool,
    /// Where files of file messages live (`files.rs`); `None` when files are not kept.
    files_dir: Option<std::path::PathBuf>,
    /// Told which files' rows went after each delete (`files.rs`), so their transfers stop.
    file_trash_listener: Option<FileTrashListener>,
    /// Whether an edit or delete may wait for a message to arrive (`amend.rs`).
    held_amendments: amend::HeldAmendments,
}

/// How long the integrity check at open may take before the rest of it is left for later.
pub const OPEN_CHECK_BUDGET: Duration = Duration::from_millis(40);

/// Told the keys of files whose rows were deleted (see [`Store::set_file_trash_listener`]).
pub type FileTrashListener = Box<dyn FnMut(Vec<TrashedFile>) + Send>;

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.conn.path())
            .finish()
    }
}

impl Store {
    /// How long [`Store::open`] waits for another holder of the lock before `Locked`.
    pub const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(3);

    /// Opens (creating if needed) the database at `path` and migrates it to
    /// [`SCHEMA_VERSION`]. Fails with `Corrupt`, `Locked` or `NewerSchema` as documented on
    /// [`StoreError`]; never panics on a bad file.
    pub fn open(path: impl AsRef<Path>) -> Result<Store> {
        Self::open_with_timeout(path, Self::DEFAULT_BUSY_TIMEOUT)
    }

    /// [`Store::open`] with a chosen busy timeout (tests use a short one).
    pub fn open_with_timeout(path: impl AsRef<Path>, busy_timeout: Duration) -> Result<Store> {
        let path = path.as_ref();
        let conn = Connection::open(path)?;
        Self::init(conn, busy_timeout, true).map_err(|err| match err {
            StoreError::Corrupt { reason } => StoreError::Corrupt {
                reason: format!("{}: {reason}", path.display()),
            },
            other => other,
        })
    }

    /// A private database that vanishes when dropped: the `--ephemeral` mode and unit tests.
    ///
    /// It lives in SQLite's `memdb` VFS (a file in this process's memory), not `:memory:`.
    /// With `:memory:` the page cache *is* the database, and SQLite walks the whole cache at
    /// each commit whose inserts split B-tree pages (it renumbers a page through the
    /// never-used lock page, far past the end, and then truncates back), so the cost of every
    /// commit grew with the history kept. Here the cache stays SQLite's default size and a
    /// commit costs the same at any size (BENCHMARKS.md, "Ingest: the in-memory store's
    /// commit"). A `memdb` file holds at most ~2 GiB
    /// (`SQLITE_MEMDB_DEFAULT_MAXSIZE` in `.cargo/config.toml`; SQLite allocates no more
    /// in one piece); past that a write fails as on a full disk. The name has no leading
    /// `/`, which keeps each such database private to its connection.
    pub fn open_in_memory() -> Result<Store> {
        use rusqlite::OpenFlags;
        let conn = Connection::open_with_flags(
            "file:p2p-chat-ephemeral?vfs=memdb",
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_URI
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        Self::init(conn, Self::DEFAULT_BUSY_TIMEOUT, false)
    }

    fn init(mut conn: Connection, busy_timeout: Duration, on_disk: bool) -> Result<Store> {
        conn.busy_timeout(busy_timeout)?;
        conn.pragma_update(None, "foreign_keys", true)?;
        // Deleted rows are overwritten with zeros, not left in free space (deletion.rs).
        conn.pragma_update(None, "secure_delete", true)?;
        if on_disk {
            // Before the first read, so the lock is taken by this connection's first access.
            conn.pragma_update(None, "locking_mode", "EXCLUSIVE")?;
            let mode: String =
                conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
            if !mode.eq_ignore_ascii_case("wal") {
                return Err(StoreError::Invalid(format!(
                    "the database could not be switched to WAL mode (got {mode})"
                )));
            }
            conn.pragma_update(None, "synchronous", "FULL")?;
        }
        let integrity_pending = on_disk && !quick_check(&conn, Some(OPEN_CHECK_BUDGET))?;
        schema::migrate(&mut conn)?;
        if on_disk {
            // In WAL mode the first read under EXCLUSIVE locking already takes the lock for
            // good (the wal-index then lives in this process's memory); an empty write
            // transaction makes sure of it in any case, so a second daemon fails at open.
            conn.execute_batch("BEGIN IMMEDIATE; COMMIT;")?;
        }
        Ok(Store {
            conn,
            scrub_pending: false,
            timer_unit_ms: 1000,
            early_max_age_ms: EARLY_MAX_AGE_MS,
            expiry_listener: None,
            name_index: std::cell::RefCell::new(None),
            integrity_pending,
            files_dir: None,
            file_trash_listener: None,
            held_amendments: amend::HeldAmendments::Unknown,
        })
    }

    /// Whether the full integrity check is still owed (the one at open ran out of time).
    pub fn integrity_pending(&self) -> bool {
        self.integrity_pending
    }

    /// Runs the owed integrity check in full (`PRAGMA quick_check`; a database of a million
    /// messages takes seconds), unless `stop` says so first: it is asked every few thousand
    /// steps, and a `true` interrupts the check, which stays owed (`Ok(false)`). `Corrupt`
    /// names what is damaged. `Ok(true)` when none is owed.
    pub fn check_integrity(&mut self, stop: impl FnMut() -> bool + Send + 'static) -> Result<bool> {
        if !self.integrity_pending {
            return Ok(true);
        }
        let done = quick_check_with(&self.conn, Some(stop));
        if !matches!(done, Ok(false)) {
            self.integrity_pending = false;
        }
        done
    }

    /// The schema version recorded in the file (equals [`SCHEMA_VERSION`] after open).
    pub fn schema_version(&self) -> Result<i64> {
        schema::version(&self.conn)
    }

    /// Starts a group transaction: the methods called until [`Store::commit_group`] are
    /// committed (and fsynced) together. Their own savepoints nest inside it.
    pub fn begin_group(&mut self) -> Result<()> {
        self.held_amendments = amend::HeldAmendments::Unknown;
        Ok(self.conn.execute_batch("BEGIN")?)
    }

    /// Whether a group transaction is open. SQLite itself rolls a transaction back on some
    /// errors (disk full, I/O error); then this turns false before `commit_group`.
    pub fn in_group(&self) -> bool {
        !self.conn.is_autocommit()
    }

    /// Commits the group transaction. On failure it is rolled back, so nothing of the group
    /// persists and the caller must report every job in it as failed.
    pub fn commit_group(&mut self) -> Result<()> {
        self.held_amendments = amend::HeldAmendments::Unknown;
        if !self.in_group() {
            return Err(StoreError::Invalid(
                "the group transaction was rolled back".into(),
            ));
        }
        if let Err(err) = self.conn.execute_batch("COMMIT") {
            if self.in_group() {
                let _ = self.conn.execute_batch("ROLLBACK");
            }
            return Err(err.into());
        }
        Ok(())
    }

    /// Runs `f` so that its writes land together or not at all: a savepoint, which nests
    /// inside a group transaction. On an error from `f` (or from the release, which commits a
    /// lone job) its writes are rolled back and the error returned. If they cannot be rolled
    /// back alone while a transaction is still open, the whole transaction is: a group then
    /// reports every job in it as failed (`persist.rs`) rather than commit half of this one.
    /// If SQLite already rolled the whole group back (a full disk), the store thread sees that
    /// the same way.
    pub fn atomically<T>(&mut self, f: impl FnOnce(&mut Store) -> Result<T>) -> Result<T> {
        self.conn.execute_batch("SAVEPOINT atomically")?;
        let result = f(self).and_then(|value| {
            self.conn.execute_batch("RELEASE atomically")?;
            Ok(value)
        });
        if result.is_err() {
            // What was rolled back may include a held amendment's removal.
            self.held_amendments = amend::HeldAmendments::Unknown;
            undo_savepoint(&self.conn, "atomically");
        }
        result
    }

    /// Runs `sql` as it is, for tests that inject a failure (e.g. a temporary trigger).
    #[cfg(test)]
    pub(crate) fn execute_for_test(&self, sql: &str) {
        self.conn.execute_batch(sql).unwrap();
    }

    /// Rolls the open group back, as SQLite does itself on a disk-full or I/O error.
    #[cfg(test)]
    pub(crate) fn abort_group_for_test(&mut self) {
        let _ = self.conn.execute_batch("ROLLBACK");
    }

    /// Closes the database, reporting any error that dropping would swallow (e.g. a failed
    /// final checkpoint). Dropping is also safe: every method has committed before returning.
    pub fn close(self) -> Result<()> {
        self.conn.close().map_err(|(_, err)| err.into())
    }
}

/// Rolls back and ends savepoint `name` after a failure in it (see [`Store::atomically`]). If
/// that fails while a transaction is still open, the whole transaction is rolled back rather
/// than left open or committed with half of the failed work in it.
fn undo_savepoint(conn: &Connection, name: &str) {
    let undone = conn.execute_batch(&format!("ROLLBACK TO {name}; RELEASE {name}"));
    if undone.is_err() && !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
}

/// `PRAGMA quick_check` with at most `budget` of time: `Ok(false)` when it ran out.
fn quick_check(conn: &Connection, budget: Option<Duration>) -> Result<bool> {
    match budget {
        Some(budget) => {
            let deadline = Instant::now() + budget;
            quick_check_with(conn, Some(move || Instant::now() >= deadline))
        }
        None => quick_check_with(conn, None::<fn() -> bool>),
    }
}

/// `PRAGMA quick_check` returns the single row "ok" or a list of problems. `stop`, asked every
/// few thousand steps, may interrupt it: `Ok(false)`, nothing found so far.
fn quick_check_with(
    conn: &Connection,
    stop: Option<impl FnMut() -> bool + Send + 'static>,
) -> Result<bool> {
    let watched = stop.is_some();
    if let Some(stop) = stop {
        conn.progress_handler(10_000, Some(stop))?;
    }
    let result = conn.prepare("PRAGMA quick_check(5)").and_then(|mut stmt| {
        stmt.query_map([], |r| r.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<String>>>()
    });
    if watched {
        conn.progress_handler(0, None::<fn() -> bool>)?;
    }
    let problems = match result {
        Ok(problems) => problems,
        Err(rusqlite::Error::SqliteFailure(e, _))
            if e.code == rusqlite::ErrorCode::OperationInterrupted =>
        {
            return Ok(false);
        }
        Err(e) => return Err(e.into()),
    };
    if problems.len() == 1 && problems[0] == "ok" {
        Ok(true)
    } else {
        Err(StoreError::Corrupt {
            reason: problems.join("; "),
        })
    }
}

/// Unix milliseconds as SQLite's signed integer; times past year 292 million are clamped
/// rather than wrapped (a peer may send any `sent_at`).
fn to_sql_time(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

/// The inverse of [`to_sql_time`]; a negative value can only come from outside edits.
fn from_sql_time(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// Reads a base64 key column; a malformed value is a conversion error (reported as a
/// database error), never a panic.
fn key_at(row: &Row<'_>, idx: usize) -> rusqlite::Result<PublicKey> {
    let text: String = row.get(idx)?;
    PublicKey::from_base64(&text)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(idx, Type::Text, Box::new(e)))
}

/// [`key_at`] for a nullable column.
fn opt_key_at(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<PublicKey>> {
    match row.get::<_, Option<String>>(idx)? {
        None => Ok(None),
        Some(text) => PublicKey::from_base64(&text)
            .map(Some)
            .map_err(|e| rusqlite::Error::FromSqlConversionFailure(idx, Type::Text, Box::new(e))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_can_move_to_a_blocking_thread() {
        fn assert_send<T: Send + 'static>() {}
        assert_send::<Store>();
        assert_send::<StoreError>();
    }

    #[test]
    fn file_store_uses_wal_full_sync_and_foreign_keys() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("p.db")).unwrap();
        let get = |p: &str| -> String {
            store
                .conn
                .pragma_query_value(None, p, |r| r.get::<_, rusqlite::types::Value>(0))
                .map(|v| format!("{v:?}"))
                .unwrap()
        };
        assert!(get("journal_mode").contains("wal"));
        assert_eq!(get("synchronous"), "Integer(2)", "2 = FULL");
        assert_eq!(get("foreign_keys"), "Integer(1)");
        assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
        store.close().unwrap();
    }

    #[test]
    fn a_job_whose_writes_cannot_be_undone_alone_fails_its_whole_group() {
        let mut s = Store::open_in_memory().unwrap();
        s.conn.execute_batch("CREATE TABLE t (x)").unwrap();
        s.begin_group().unwrap();
        // An earlier job of the group, then one that fails after losing its savepoint.
        s.conn.execute_batch("INSERT INTO t VALUES (1)").unwrap();
        let failed = s.atomically(|s| -> Result<()> {
            s.conn
                .execute_batch("INSERT INTO t VALUES (2); RELEASE atomically")?;
            Err(StoreError::Invalid("fails after its insert".into()))
        });
        assert!(failed.is_err());
        assert!(
            !s.in_group(),
            "the group was rolled back, not half of the job kept"
        );
        assert!(s.commit_group().is_err());
        let rows: i64 = s
            .conn
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 0);
    }

    #[test]
    fn a_failed_job_inside_a_group_undoes_only_its_own_writes() {
        let mut s = Store::open_in_memory().unwrap();
        s.conn.execute_batch("CREATE TABLE t (x)").unwrap();
        s.begin_group().unwrap();
        s.atomically(|s| Ok(s.conn.execute_batch("INSERT INTO t VALUES (1)")?))
            .unwrap();
        let failed = s.atomically(|s| -> Result<()> {
            s.conn.execute_batch("INSERT INTO t VALUES (2)")?;
            Err(StoreError::Invalid("fails after its insert".into()))
        });
        assert!(failed.is_err());
        assert!(s.in_group());
        s.commit_group().unwrap();
        let rows: Vec<i64> = s
            .conn
            .prepare("SELECT x FROM t")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(rows, [1]);
    }

    #[test]
    fn in_memory_stores_are_private_to_each_other() {
        let a = Store::open_in_memory().unwrap();
        let b = Store::open_in_memory().unwrap();
        a.conn
            .execute_batch("CREATE TABLE only_in_a (x); INSERT INTO only_in_a VALUES (1);")
            .unwrap();
        let in_b: i64 = b
            .conn
            .query_row(
                "SELECT count(*) FROM sqlite_schema WHERE name = 'only_in_a'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(in_b, 0, "another ephemeral store saw a's table");
        drop(a);
        // A new one starts empty, even under the same name.
        let c = Store::open_in_memory().unwrap();
        assert!(c
            .conn
            .query_row(
                "SELECT 1 FROM sqlite_schema WHERE name = 'only_in_a'",
                [],
                |_| Ok(())
            )
            .is_err());
        assert_eq!(c.schema_version().unwrap(), SCHEMA_VERSION);
    }

    /// SQLite caps a `memdb` file at 1 GiB unless built with a larger
    /// `SQLITE_MEMDB_DEFAULT_MAXSIZE` (`.cargo/config.toml`).
    #[test]
    fn an_ephemeral_store_holds_more_than_one_gib() {
        let s = Store::open_in_memory().unwrap();
        s.conn.execute_batch("CREATE TABLE big (b BLOB)").unwrap();
        for _ in 0..3 {
            // 3 × 400 MB: past 1 GiB with the last one.
            s.conn
                .execute_batch("INSERT INTO big VALUES (zeroblob(400000000))")
                .expect(
                    "the ephemeral store is capped at 1 GiB: SQLITE_MEMDB_DEFAULT_MAXSIZE lost",
                );
        }
    }

    #[test]
    fn an_owed_integrity_check_gives_way_and_runs_later() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open(dir.path().join("p.db")).unwrap();
        assert!(
            !store.integrity_pending(),
            "a small file is checked at open"
        );
        // Enough rows that the check takes many of SQLite's progress steps (an empty schema
        // is checked within one), as if the check at open had run out of time.
        store
            .conn
            .execute_batch(
                "CREATE TABLE filler (x TEXT);
                 WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
                 INSERT INTO filler SELECT hex(randomblob(16)) FROM n;
                 CREATE INDEX filler_x ON filler (x);",
            )
            .unwrap();
        store.integrity_pending = true;
        assert!(!store.check_integrity(|| true).unwrap(), "interrupted");
        assert!(store.integrity_pending(), "still owed");
        assert!(store.check_integrity(|| false).unwrap());
        assert!(!store.integrity_pending());
        store.close().unwrap();
    }

    #[test]
    fn times_clamp_instead_of_wrapping() {
        assert_eq!(to_sql_time(u64::MAX), i64::MAX);
        assert_eq!(to_sql_time(1_700_000_000_000), 1_700_000_000_000);
        assert_eq!(from_sql_time(-5), 0);
    }
}
