//! The schema and its migrations, versioned in code with `PRAGMA user_version`.
//!
//! Migration `n` (0-based) takes a database from version `n` to `n + 1`. Each runs in its own
//! transaction together with the `user_version` bump, so a crash mid-migration leaves the
//! previous version intact and the next start simply runs it again. Never edit a released
//! migration: append a new one.
//!
//! `PRAGMA application_id` marks the file as ours, so pointing `--data-dir` at a directory that
//! happens to hold some other application's SQLite file is refused instead of "migrated".

use rusqlite::{Connection, TransactionBehavior};

use super::error::{Result, StoreError};

/// "p2pc" in ASCII: identifies a p2p-chat database.
pub const APPLICATION_ID: i32 = 0x7032_7063;

/// Version 1. Keys are stored as their 44-character standard base64 form (the `peer_id` of the
/// UI protocol and the `members` strings of the `room` payload), so rows map to protocol values
/// without re-encoding and stay readable in the `sqlite3` shell. Times are Unix milliseconds.
/// Tables are STRICT so a type slip in our own code fails loudly instead of storing junk.
const V1: &str = r#"
CREATE TABLE contacts (
    public_key   TEXT PRIMARY KEY NOT NULL CHECK (length(public_key) = 44),
    name         TEXT NOT NULL,
    -- Where the contact can be dialled (ip:listen_port), the address TOFU pins the key to.
    last_address TEXT,
    listen_port  INTEGER,
    first_seen   INTEGER NOT NULL,
    last_seen    INTEGER NOT NULL,
    verified     INTEGER NOT NULL DEFAULT 0 CHECK (verified IN (0, 1)),
    -- A pinned contact's address and name are expected to answer with this key only.
    pinned       INTEGER NOT NULL DEFAULT 1 CHECK (pinned IN (0, 1)),
    -- Set when the user accepted a new key for this contact; the row is kept for history.
    replaced_by  TEXT
) STRICT;
CREATE INDEX contacts_by_address ON contacts (last_address);
CREATE INDEX contacts_by_name ON contacts (name);

CREATE TABLE key_changes (
    id          INTEGER PRIMARY KEY,
    old_key     TEXT NOT NULL REFERENCES contacts (public_key),
    new_key     TEXT NOT NULL CHECK (length(new_key) = 44),
    name        TEXT NOT NULL,
    address     TEXT,
    detected_at INTEGER NOT NULL,
    state       TEXT NOT NULL DEFAULT 'pending'
                CHECK (state IN ('pending', 'accepted', 'rejected')),
    resolved_at INTEGER,
    UNIQUE (old_key, new_key)
) STRICT;

CREATE TABLE messages (
    -- Local arrival order: the history cursor. Peers' clocks (sent_at) are not trusted to order.
    seq         INTEGER PRIMARY KEY,
    conv_kind   TEXT NOT NULL CHECK (conv_kind IN ('everyone', 'peer', 'room')),
    conv_id     TEXT NOT NULL,
    sender      TEXT NOT NULL CHECK (length(sender) = 44),
    msg_id      TEXT NOT NULL,
    text        TEXT NOT NULL,
    sent_at     INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    direction   TEXT NOT NULL CHECK (direction IN ('in', 'out')),
    -- PROTOCOL §5: a retransmission is recognised by (sender, id).
    UNIQUE (sender, msg_id)
) STRICT;
CREATE INDEX messages_by_conversation ON messages (conv_kind, conv_id, seq);
CREATE INDEX messages_outgoing_id ON messages (msg_id) WHERE direction = 'out';

CREATE TABLE outbox (
    recipient TEXT NOT NULL CHECK (length(recipient) = 44),
    message   INTEGER NOT NULL REFERENCES messages (seq) ON DELETE CASCADE,
    -- 0 queued, 1 sent (written to the session), 2 delivered (acknowledged).
    state     INTEGER NOT NULL DEFAULT 0 CHECK (state IN (0, 1, 2)),
    PRIMARY KEY (recipient, message)
) STRICT, WITHOUT ROWID;
CREATE INDEX outbox_by_message ON outbox (message);

CREATE TABLE rooms (
    id         TEXT PRIMARY KEY NOT NULL,
    name       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

CREATE TABLE room_members (
    room   TEXT NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    member TEXT NOT NULL CHECK (length(member) = 44),
    PRIMARY KEY (room, member)
) STRICT, WITHOUT ROWID;
"#;

/// Version 2: every `ack` and every send reads the delivery state of one message over its
/// recipients. With `state` in the outbox index that is one index seek (SQLite's min()
/// optimisation) instead of a scan of all recipients: for a broadcast to 1,000 peers, 1,000
/// scans of 1,000 rows per broadcast.
const V2: &str = r#"
CREATE INDEX outbox_by_message_state ON outbox (message, state);
DROP INDEX outbox_by_message;
"#;

/// Every migration, oldest first.
const MIGRATIONS: &[&str] = &[V1, V2];

/// The schema version this build writes and the newest it can open.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings `conn` up to [`SCHEMA_VERSION`], refusing foreign and newer databases.
pub(super) fn migrate(conn: &mut Connection) -> Result<()> {
    apply(conn, MIGRATIONS)
}

/// [`migrate`] with an explicit list, so tests can exercise failure and rollback.
fn apply(conn: &mut Connection, migrations: &[&str]) -> Result<()> {
    let supported = migrations.len() as i64;
    let app_id: i32 = conn.pragma_query_value(None, "application_id", |r| r.get(0))?;
    let found: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if app_id != 0 && app_id != APPLICATION_ID {
        return Err(StoreError::Corrupt {
            reason: format!("it belongs to another application (application_id {app_id:#x})"),
        });
    }
    if app_id == 0 {
        // Version 1 sets the id, so an unmarked file must be empty to be ours to initialise.
        let objects: i64 =
            conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get(0))?;
        if objects > 0 || found != 0 {
            return Err(StoreError::Corrupt {
                reason: "it is an SQLite database of another application".into(),
            });
        }
    }
    if found > supported {
        return Err(StoreError::NewerSchema { found, supported });
    }
    for (index, sql) in migrations.iter().enumerate().skip(found.max(0) as usize) {
        // IMMEDIATE takes the write lock up front: two processes starting together cannot
        // both read version n and both run migration n.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", index as i64 + 1)?;
        tx.pragma_update(None, "application_id", APPLICATION_ID)?;
        tx.commit()?;
    }
    Ok(())
}

/// The version recorded in the file.
pub(super) fn version(conn: &Connection) -> Result<i64> {
    Ok(conn.pragma_query_value(None, "user_version", |r| r.get(0))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tables(conn: &Connection) -> Vec<String> {
        let mut stmt = conn
            .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
            .unwrap();
        let names = stmt.query_map([], |r| r.get(0)).unwrap();
        names.collect::<Result<_, _>>().unwrap()
    }

    #[test]
    fn fresh_database_gets_every_table_and_the_current_version() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        assert_eq!(version(&conn).unwrap(), SCHEMA_VERSION);
        assert_eq!(
            tables(&conn),
            [
                "contacts",
                "key_changes",
                "messages",
                "outbox",
                "room_members",
                "rooms"
            ]
        );
        // Running again is a no-op, not a "table already exists" error.
        migrate(&mut conn).unwrap();
        assert_eq!(version(&conn).unwrap(), SCHEMA_VERSION);
    }

    #[test]
    fn a_version_1_database_gains_the_delivery_index_and_keeps_its_rows() {
        let mut conn = Connection::open_in_memory().unwrap();
        apply(&mut conn, &[V1]).unwrap();
        conn.execute(
            "INSERT INTO rooms (id, name, created_at, updated_at) VALUES ('r', 'kept', 1, 1)",
            [],
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        assert_eq!(version(&conn).unwrap(), 2);
        let indexes: Vec<String> = conn
            .prepare("SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'outbox' AND sql IS NOT NULL")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(indexes, ["outbox_by_message_state"]);
        let name: String = conn
            .query_row("SELECT name FROM rooms WHERE id = 'r'", [], |r| r.get(0))
            .unwrap();
        assert_eq!(name, "kept");
    }

    #[test]
    fn migrations_run_in_order_and_only_once() {
        let mut conn = Connection::open_in_memory().unwrap();
        apply(&mut conn, &["CREATE TABLE a (x INTEGER);"]).unwrap();
        assert_eq!(version(&conn).unwrap(), 1);
        // A second build with one more migration runs only the new one.
        apply(
            &mut conn,
            &["CREATE TABLE a (x INTEGER);", "INSERT INTO a VALUES (7);"],
        )
        .unwrap();
        assert_eq!(version(&conn).unwrap(), 2);
        let rows: i64 = conn
            .query_row("SELECT count(*) FROM a", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 1);
    }

    #[test]
    fn a_failing_migration_rolls_back_and_keeps_the_old_version() {
        let mut conn = Connection::open_in_memory().unwrap();
        let broken = [
            "CREATE TABLE a (x INTEGER);",
            "CREATE TABLE b (y INTEGER); INSERT INTO nowhere VALUES (1);",
        ];
        assert!(apply(&mut conn, &broken).is_err());
        assert_eq!(version(&conn).unwrap(), 1);
        assert_eq!(tables(&conn), ["a"], "table b must be rolled back");
    }

    #[test]
    fn newer_version_is_refused_with_both_numbers() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 5)
            .unwrap();
        match migrate(&mut conn) {
            Err(StoreError::NewerSchema { found, supported }) => {
                assert_eq!((found, supported), (SCHEMA_VERSION + 5, SCHEMA_VERSION));
            }
            other => panic!("expected NewerSchema, got {other:?}"),
        }
    }

    #[test]
    fn foreign_databases_are_refused_not_migrated() {
        let mut other_app = Connection::open_in_memory().unwrap();
        other_app.pragma_update(None, "application_id", 42).unwrap();
        assert!(matches!(
            migrate(&mut other_app),
            Err(StoreError::Corrupt { .. })
        ));

        let mut unmarked = Connection::open_in_memory().unwrap();
        unmarked
            .execute_batch("CREATE TABLE notes (t TEXT);")
            .unwrap();
        let err = migrate(&mut unmarked).unwrap_err();
        assert!(err.to_string().contains("another application"), "{err}");
    }
}
