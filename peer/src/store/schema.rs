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

/// Version 3: trust bound to keys, message requests, rooms with a creator, first-use settings
/// and reach (PROTOCOL.md §8.2–§8.4, §9).
///
/// * `contacts.nickname`: the user's local name for a contact; the remote cannot change it.
/// * `requests` / `request_messages`: strangers (§8.2) live in their own tables, not in
///   `contacts`, so every existing reader of `contacts` (the contact list, "everyone", redials,
///   room creation) keeps meaning "contacts" without a filter that one could forget, and what a
///   stranger can fill is bounded and evicted on its own. Contacts from earlier versions stay
///   contacts.
/// * `blocked`: keys refused from then on, contact or not.
/// * `rooms.creator`: who may change a room. Earlier versions recorded neither who created a
///   room nor who announced it (`rooms` held only id, name and times; announcements are not
///   stored as messages), so the creator of an existing room cannot be derived and is left NULL
///   ("not recorded"). Such a legacy room gets its creator from the first change accepted after
///   the upgrade: a `room` payload from a contact who is a current member and lists itself, or
///   our own change (see `rooms.rs`). Rooms created from now on always record it.
/// * `room_changes`: accepted membership/name changes, for the room's timeline. `after_seq` is
///   the newest message `seq` when the change was applied, so history can interleave them.
/// * `settings`: small key/value pairs (our own display name).
/// * `contact_addresses`: a bounded list of addresses per contact key (reach).
const V3: &str = r#"
ALTER TABLE contacts ADD COLUMN nickname TEXT;
ALTER TABLE rooms ADD COLUMN creator TEXT CHECK (creator IS NULL OR length(creator) = 44);

CREATE TABLE room_changes (
    id        INTEGER PRIMARY KEY,
    room      TEXT NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    by_key    TEXT NOT NULL CHECK (length(by_key) = 44),
    at        INTEGER NOT NULL,
    after_seq INTEGER NOT NULL,
    -- Space-separated base64 keys (base64 has no spaces); empty when none.
    added     TEXT NOT NULL,
    removed   TEXT NOT NULL,
    new_name  TEXT
) STRICT;
CREATE INDEX room_changes_by_room ON room_changes (room, id);

CREATE TABLE settings (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
) STRICT;

CREATE TABLE requests (
    public_key   TEXT PRIMARY KEY NOT NULL CHECK (length(public_key) = 44),
    name         TEXT NOT NULL,
    last_address TEXT,
    listen_port  INTEGER,
    first_seen   INTEGER NOT NULL,
    last_seen    INTEGER NOT NULL
) STRICT;
CREATE INDEX requests_by_last_seen ON requests (last_seen);

CREATE TABLE request_messages (
    seq         INTEGER PRIMARY KEY,
    requester   TEXT NOT NULL REFERENCES requests (public_key) ON DELETE CASCADE,
    msg_id      TEXT NOT NULL,
    text        TEXT NOT NULL,
    -- UTF-8 length of text, summed for the 64 KiB bound.
    bytes       INTEGER NOT NULL,
    sent_at     INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    broadcast   INTEGER NOT NULL CHECK (broadcast IN (0, 1)),
    UNIQUE (requester, msg_id)
) STRICT;
CREATE INDEX request_messages_by_age ON request_messages (received_at);

CREATE TABLE blocked (
    public_key TEXT PRIMARY KEY NOT NULL CHECK (length(public_key) = 44),
    blocked_at INTEGER NOT NULL
) STRICT;

CREATE TABLE contact_addresses (
    contact     TEXT NOT NULL REFERENCES contacts (public_key) ON DELETE CASCADE,
    address     TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('lan', 'mapped', 'observed', 'ipv6')),
    last_heard  INTEGER NOT NULL,
    last_worked INTEGER,
    PRIMARY KEY (contact, address)
) STRICT, WITHOUT ROWID;
"#;

/// Version 4: full-text search over message text and its deletion (`search.rs`,
/// `deletion.rs`).
///
/// * `messages_fts`: an FTS5 index of `messages.text` with the `trigram` tokenizer, so any
///   substring of three or more characters matches, in any script (CJK has no spaces between
///   words, which word tokenizers need). It is an *external-content* table over `messages`: the
///   text is stored once, in `messages`, and the index holds only trigrams.
/// * `fts_pending`: messages not indexed yet. Indexing a chat costs about ten times its insert
///   (every three characters are a token), and the insert is on the path of every `ack`, so a
///   trigger only notes the new `seq` here and the store indexes the backlog later: before each
///   search, and in batches while the store thread is idle (`crate::persist`). Existing
///   messages start out pending, so the migration itself is quick.
/// * The triggers keep the index in step with every delete and text change of `messages`, from
///   whichever code path (chats, our sends, accepted requests): a pending message is only
///   dropped from `fts_pending`; an indexed one is removed from the index with its old text, as
///   an external-content index needs.
/// * `secure-delete`: deleting a row removes its trigrams from the index at once instead of
///   adding a "deleted" marker that leaves them in old segments until a merge (needs SQLite
///   3.42+; the bundled SQLite is newer).
const V4: &str = r#"
CREATE VIRTUAL TABLE messages_fts USING fts5(
    text, content = 'messages', content_rowid = 'seq', tokenize = 'trigram'
);
INSERT INTO messages_fts (messages_fts, rank) VALUES ('secure-delete', 1);
CREATE TABLE fts_pending (seq INTEGER PRIMARY KEY) STRICT;
INSERT INTO fts_pending (seq) SELECT seq FROM messages;
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
    INSERT INTO fts_pending (seq) VALUES (new.seq);
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, text)
        SELECT 'delete', old.seq, old.text
        WHERE NOT EXISTS (SELECT 1 FROM fts_pending WHERE seq = old.seq);
    DELETE FROM fts_pending WHERE seq = old.seq;
END;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF text ON messages
    WHEN NOT EXISTS (SELECT 1 FROM fts_pending WHERE seq = old.seq) BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, text) VALUES ('delete', old.seq, old.text);
    INSERT INTO messages_fts (rowid, text) VALUES (new.seq, new.text);
END;
"#;

/// Version 5: the names a room's creator gave its members (the `names` of a `room` payload,
/// PROTOCOL.md §5), so a member we have never met is shown by name, not only by key — also
/// after it was removed, in the room's timeline ("Alice removed Bob"). One row per current
/// member, plus the most recent [`super::rooms::MAX_FORMER_NAMES`] former members per room
/// (`at`: when the creator last named it); display only, never an identity.
const V5: &str = r#"
CREATE TABLE room_member_names (
    room   TEXT NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    member TEXT NOT NULL CHECK (length(member) = 44),
    name   TEXT NOT NULL,
    at     INTEGER NOT NULL,
    PRIMARY KEY (room, member)
) STRICT, WITHOUT ROWID;
"#;

/// Version 6: replies, reactions, edits and deletes for everyone (PROTOCOL.md §5, §8.6, §8.7).
///
/// * `messages.reply_from` / `reply_id`: the (sender, id) a message replies to, as its sender
///   named it. The quoted text is looked up in `messages` when shown, never copied, so a reply
///   cannot put words in anyone's mouth; messages of earlier versions have none.
/// * `reactions`: the current reaction of each person to each message (one row per
///   (message, reactor); `emoji` empty once withdrawn, so a late older reaction cannot bring it
///   back: a row changes only for a newer `sent_at`). Rows exist only for messages we hold
///   (the receiver drops a reaction to a message it does not have), so the table is bounded by
///   messages × the people who can see each. A trigger removes a message's reactions with it.
/// * `reaction_outbox`: our own reactions still owed to a recipient, like `outbox` for chats;
///   a row goes when the recipient acknowledges the reaction's id, and a new toggle replaces
///   the rows of the old one (only the latest state is ever sent).
/// * `messages.edited_at` / `unsent`: the sender edited the message (its text is the newest
///   one; earlier texts are in `message_edits`, kept on this device) or deleted it for everyone
///   (its text, edits and reactions are gone; the row stays so a retransmission of the
///   original is still recognised and not shown again).
/// * `amendments`: our own edits and deletes, one row per message (the latest), with
///   `amend_outbox` rows per recipient until acknowledged, like reactions.
/// * `early_amendments`: an edit or delete that arrived before its message (another path
///   was faster, or the message is still queued somewhere): kept, bounded per sender and in
///   total and by age, and applied when the message arrives.
const V6: &str = r#"
ALTER TABLE messages ADD COLUMN reply_from TEXT CHECK (reply_from IS NULL OR length(reply_from) = 44);
ALTER TABLE messages ADD COLUMN reply_id TEXT;

CREATE TABLE reactions (
    seq         INTEGER PRIMARY KEY,
    msg_sender  TEXT NOT NULL CHECK (length(msg_sender) = 44),
    msg_id      TEXT NOT NULL,
    reactor     TEXT NOT NULL CHECK (length(reactor) = 44),
    emoji       TEXT NOT NULL CHECK (length(CAST(emoji AS BLOB)) <= 32),
    reaction_id TEXT NOT NULL,
    sent_at     INTEGER NOT NULL,
    UNIQUE (msg_sender, msg_id, reactor)
) STRICT;
CREATE INDEX reactions_by_id ON reactions (reaction_id);

CREATE TABLE reaction_outbox (
    recipient TEXT NOT NULL CHECK (length(recipient) = 44),
    reaction  INTEGER NOT NULL REFERENCES reactions (seq) ON DELETE CASCADE,
    PRIMARY KEY (recipient, reaction)
) STRICT, WITHOUT ROWID;
CREATE INDEX reaction_outbox_by_reaction ON reaction_outbox (reaction);

CREATE TRIGGER reactions_of_deleted_messages AFTER DELETE ON messages BEGIN
    DELETE FROM reactions WHERE msg_sender = old.sender AND msg_id = old.msg_id;
END;

ALTER TABLE messages ADD COLUMN edited_at INTEGER;
ALTER TABLE messages ADD COLUMN unsent INTEGER NOT NULL DEFAULT 0 CHECK (unsent IN (0, 1));

CREATE TABLE message_edits (
    message     INTEGER NOT NULL REFERENCES messages (seq) ON DELETE CASCADE,
    text        TEXT NOT NULL,
    replaced_at INTEGER NOT NULL
) STRICT;
CREATE INDEX message_edits_by_message ON message_edits (message);

CREATE TABLE amendments (
    seq      INTEGER PRIMARY KEY,
    message  INTEGER NOT NULL UNIQUE REFERENCES messages (seq) ON DELETE CASCADE,
    kind     TEXT NOT NULL CHECK (kind IN ('edit', 'delete')),
    amend_id TEXT NOT NULL,
    text     TEXT NOT NULL,
    sent_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX amendments_by_id ON amendments (amend_id);

CREATE TABLE amend_outbox (
    recipient TEXT NOT NULL CHECK (length(recipient) = 44),
    amendment INTEGER NOT NULL REFERENCES amendments (seq) ON DELETE CASCADE,
    PRIMARY KEY (recipient, amendment)
) STRICT, WITHOUT ROWID;
CREATE INDEX amend_outbox_by_amendment ON amend_outbox (amendment);

CREATE TABLE early_amendments (
    sender      TEXT NOT NULL CHECK (length(sender) = 44),
    msg_id      TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('edit', 'delete')),
    text        TEXT NOT NULL,
    sent_at     INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (sender, msg_id)
) STRICT;
CREATE INDEX early_amendments_by_age ON early_amendments (received_at);
"#;

/// Version 7: disappearing messages (PROTOCOL.md §5 `timer`, §8.8; `timers.rs`).
///
/// * `messages.expires_at`: when the message is deleted (Unix ms), fixed when it is stored from
///   its conversation's timer at that moment; NULL keeps it. A partial index finds the next
///   expiry with one seek, so the store thread sleeps until then instead of polling.
/// * `timers`: the current setting per conversation with who set it and when, which decides
///   between concurrent changes (latest `set_at`, ties by key).
/// * `timer_changes`: accepted settings, for the conversation's timeline ("Alice set
///   disappearing messages to 1 hour"); `after_seq` places them like `room_changes`. At most
///   [`super::timers::MAX_TIMER_CHANGES`] per conversation: a contact sending settings in a
///   loop cannot grow it.
/// * `timer_outbox`: our latest setting still owed to each recipient (one row per recipient and
///   conversation, replaced by a newer setting), removed by its `ack`.
const V7: &str = r#"
ALTER TABLE messages ADD COLUMN expires_at INTEGER;
CREATE INDEX messages_by_expiry ON messages (expires_at) WHERE expires_at IS NOT NULL;

CREATE TABLE timers (
    conv_kind TEXT NOT NULL CHECK (conv_kind IN ('peer', 'room')),
    conv_id   TEXT NOT NULL,
    seconds   INTEGER NOT NULL CHECK (seconds >= 0),
    set_at    INTEGER NOT NULL,
    set_by    TEXT NOT NULL CHECK (length(set_by) = 44),
    PRIMARY KEY (conv_kind, conv_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE timer_changes (
    id        INTEGER PRIMARY KEY,
    conv_kind TEXT NOT NULL CHECK (conv_kind IN ('peer', 'room')),
    conv_id   TEXT NOT NULL,
    by_key    TEXT NOT NULL CHECK (length(by_key) = 44),
    seconds   INTEGER NOT NULL CHECK (seconds >= 0),
    set_at    INTEGER NOT NULL,
    after_seq INTEGER NOT NULL
) STRICT;
CREATE INDEX timer_changes_by_conversation ON timer_changes (conv_kind, conv_id, id);

CREATE TABLE timer_outbox (
    recipient TEXT NOT NULL CHECK (length(recipient) = 44),
    conv_kind TEXT NOT NULL CHECK (conv_kind IN ('peer', 'room')),
    conv_id   TEXT NOT NULL,
    msg_id    TEXT NOT NULL,
    seconds   INTEGER NOT NULL CHECK (seconds >= 0),
    set_at    INTEGER NOT NULL,
    after_seq INTEGER NOT NULL,
    PRIMARY KEY (recipient, conv_kind, conv_id)
) STRICT, WITHOUT ROWID;
"#;

/// Version 8: `contact_names_version`, counted up by triggers whenever a contact is added or
/// removed or its name, nickname or replacement changes, so the index of contacts' names by
/// skeleton (`name_index.rs`) is rebuilt only then, not scanned for every stranger.
const V8: &str = r#"
CREATE TABLE contact_names_version (version INTEGER NOT NULL) STRICT;
INSERT INTO contact_names_version VALUES (0);
CREATE TRIGGER contact_names_insert AFTER INSERT ON contacts BEGIN
    UPDATE contact_names_version SET version = version + 1;
END;
CREATE TRIGGER contact_names_delete AFTER DELETE ON contacts BEGIN
    UPDATE contact_names_version SET version = version + 1;
END;
CREATE TRIGGER contact_names_update AFTER UPDATE OF name, nickname, replaced_by ON contacts
    WHEN old.name IS NOT new.name OR old.nickname IS NOT new.nickname
        OR old.replaced_by IS NOT new.replaced_by BEGIN
    UPDATE contact_names_version SET version = version + 1;
END;
"#;

/// Version 9: read receipts (PROTOCOL.md §5 `read`, §8.10; `receipts.rs`). Typing indicators
/// are never stored; the settings of both are rows of `settings` (`indicators.rs`).
///
/// * `read_positions`: how far we have read each sender's messages in each conversation (the
///   newest message of that sender shown to us, by `seq`, and its id), and whether the
///   receipt naming it is still owed to the sender (`owed`: we read while it was offline, or
///   before its session had room). A newer read replaces the row, so one receipt per sender
///   and conversation is ever waiting, whatever was read meanwhile.
/// * `read_marks`: how far each reader has read our messages in each conversation, by our
///   `seq`: one row per (conversation, reader), only for a reader our message was sent to, so
///   the table is bounded by conversations × their members. A message is read by a reader when
///   its `seq` is at most the reader's `up_to_seq`.
const V9: &str = r#"
CREATE TABLE read_positions (
    conv_kind TEXT NOT NULL CHECK (conv_kind IN ('peer', 'room')),
    conv_id   TEXT NOT NULL,
    sender    TEXT NOT NULL CHECK (length(sender) = 44),
    up_to_seq INTEGER NOT NULL,
    msg_id    TEXT NOT NULL,
    owed      INTEGER NOT NULL DEFAULT 0 CHECK (owed IN (0, 1)),
    PRIMARY KEY (conv_kind, conv_id, sender)
) STRICT, WITHOUT ROWID;
CREATE INDEX read_positions_owed ON read_positions (sender) WHERE owed = 1;

CREATE TABLE read_marks (
    conv_kind TEXT NOT NULL CHECK (conv_kind IN ('peer', 'room')),
    conv_id   TEXT NOT NULL,
    reader    TEXT NOT NULL CHECK (length(reader) = 44),
    up_to_seq INTEGER NOT NULL,
    read_at   INTEGER NOT NULL,
    PRIMARY KEY (conv_kind, conv_id, reader)
) STRICT, WITHOUT ROWID;
"#;

/// Version 10: `requests.source`, the address (IPv6: /64, as the rate limiter counts) a
/// request last connected from, so a full request table makes room from the source holding
/// the most requests (PROTOCOL.md §8.2) and one address churning keys evicts only its own.
/// Requests stored before have none and count as one source.
const V10: &str = r#"
ALTER TABLE requests ADD COLUMN source TEXT;
CREATE INDEX requests_by_source ON requests (source, last_seen);
"#;

/// Version 11: search at scale (`search.rs`; BENCHMARKS.md, "History at scale").
///
/// * The index holds each text followed by two U+0001 characters, so every character of a
///   message starts a trigram, the last two included. A term of one or two characters then
///   has index entries too: the trigrams that begin with it, found in the index's term list
///   (`messages_fts_instances`, an `fts5vocab` view of the index, read by term range). Without
///   the padding a short message ("ok", "好的") had no trigram at all. Existing messages are
///   indexed again, in the store's idle steps, like a new backlog.
/// * The backlog is a mark instead of a table: messages with `seq` above
///   `fts_state.indexed_to` wait for the index. The insert of every chat no longer runs a
///   trigger (it cost ~2 µs of the ~8 µs insert on the path of every `ack`); the delete
///   trigger keeps the mark at most the highest `seq` left, because SQLite gives a new row
///   the highest `seq` + 1, which would otherwise count as indexed after the newest messages
///   were deleted.
const V11: &str = r#"
INSERT INTO messages_fts (messages_fts) VALUES ('delete-all');
DROP TRIGGER messages_fts_insert;
DROP TRIGGER messages_fts_delete;
DROP TRIGGER messages_fts_update;
DROP TABLE fts_pending;
CREATE TABLE fts_state (indexed_to INTEGER NOT NULL) STRICT;
INSERT INTO fts_state (indexed_to) VALUES (0);
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, text)
        SELECT 'delete', old.seq, old.text || char(1, 1)
        WHERE old.seq <= (SELECT indexed_to FROM fts_state);
    UPDATE fts_state SET indexed_to = (SELECT coalesce(max(seq), 0) FROM messages)
        WHERE indexed_to > (SELECT coalesce(max(seq), 0) FROM messages);
END;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF text ON messages
    WHEN old.seq <= (SELECT indexed_to FROM fts_state) BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, text)
        VALUES ('delete', old.seq, old.text || char(1, 1));
    INSERT INTO messages_fts (rowid, text) VALUES (new.seq, new.text || char(1, 1));
END;
CREATE VIRTUAL TABLE messages_fts_instances USING fts5vocab(messages_fts, 'instance');
"#;

/// Version 12: files and pictures (PROTOCOL.md §5.1, §8.11; `files.rs`).
///
/// * `files`: one row per file message (ours or received), keyed by the message: what was
///   offered (name, size, media type, chunk size, SHA-256, Merkle root), `key` (random, names the
///   files on disk and `GET /files/<key>`), and for a received file where its transfer stands
///   (`state`, `bytes` verified as last recorded, `peer`: its sender, whose quota it counts in).
///   For ours, `source` is the file sent (the user's own path, or our copy of an upload when
///   `owned`), with its modification time when hashed: a changed file is never sent.
/// * `file_sends`: our file's transfer to each recipient (its delivery state stays in `outbox`,
///   where the offer's `ack` marks it delivered once the recipient verified the whole file).
/// * `file_trash`: files on disk whose row is gone (a local delete, an expiry, a delete for
///   everyone, a cancel), removed by the store thread right after the commit (`deletion.rs`) and,
///   after a crash, at the next start. Triggers fill it, so every path that deletes a message —
///   whatever code runs it — deletes its file too; a delete for everyone drops the file row.
const V12: &str = r#"
CREATE TABLE files (
    message    INTEGER PRIMARY KEY REFERENCES messages (seq) ON DELETE CASCADE,
    key        TEXT NOT NULL UNIQUE CHECK (length(key) = 32),
    direction  TEXT NOT NULL CHECK (direction IN ('in', 'out')),
    name       TEXT NOT NULL,
    size       INTEGER NOT NULL CHECK (size >= 0),
    media_type TEXT NOT NULL,
    chunk_size INTEGER NOT NULL CHECK (chunk_size > 0),
    sha256     BLOB NOT NULL CHECK (length(sha256) = 32),
    root       BLOB NOT NULL CHECK (length(root) = 32),
    source     TEXT,
    owned      INTEGER NOT NULL DEFAULT 0 CHECK (owned IN (0, 1)),
    mtime_ns   INTEGER,
    state      TEXT NOT NULL CHECK (state IN ('waiting', 'receiving', 'paused', 'complete',
                                              'failed', 'cancelled', 'sending')),
    bytes      INTEGER NOT NULL DEFAULT 0,
    reason     TEXT,
    peer       TEXT CHECK (peer IS NULL OR length(peer) = 44)
) STRICT;
CREATE INDEX files_received_by_peer ON files (peer) WHERE direction = 'in';
CREATE INDEX files_received_by_name ON files (name) WHERE direction = 'in';

CREATE TABLE file_sends (
    message   INTEGER NOT NULL REFERENCES files (message) ON DELETE CASCADE,
    recipient TEXT NOT NULL CHECK (length(recipient) = 44),
    state     TEXT NOT NULL CHECK (state IN ('waiting', 'sending', 'paused', 'complete', 'failed',
                                             'cancelled', 'refused')),
    bytes     INTEGER NOT NULL DEFAULT 0,
    reason    TEXT,
    PRIMARY KEY (message, recipient)
) STRICT, WITHOUT ROWID;

CREATE TABLE file_trash (
    key  TEXT NOT NULL,
    path TEXT NOT NULL
) STRICT;
CREATE TRIGGER files_to_trash AFTER DELETE ON files BEGIN
    INSERT INTO file_trash (key, path)
        SELECT old.key, 'partial/' || old.key || '.part' WHERE old.direction = 'in'
        UNION ALL SELECT old.key, 'partial/' || old.key || '.leaves' WHERE old.direction = 'in'
        UNION ALL SELECT old.key, 'received/' || old.name
            WHERE old.direction = 'in' AND old.state = 'complete'
        UNION ALL SELECT old.key, 'sent/' || old.key WHERE old.direction = 'out' AND old.owned = 1
        UNION ALL SELECT old.key, 'sent/' || old.key || '.leaves' WHERE old.direction = 'out';
END;
CREATE TRIGGER files_of_unsent_messages AFTER UPDATE OF unsent ON messages
    WHEN new.unsent = 1 BEGIN
    DELETE FROM files WHERE message = new.seq;
END;
"#;

/// Version 13: the peer asks which peers are still owed a message (`outbox.rs`,
/// `peers_with_pending`) about once a second to redial them. Without an index that is a scan
/// of every outbox row ever written — ~30 ms with a million delivered messages, on the store
/// thread, ahead of every request of the page. This index holds only the undelivered rows.
const V13: &str = r#"
CREATE INDEX outbox_pending ON outbox (recipient) WHERE state < 2;
"#;

/// Version 14: the same constraints, written so that checking them is cheap. SQLite checks an
/// `IN` list of three or more constants by building a temporary B-tree of the list, for every
/// row written: `messages.conv_kind` (every chat stored) and `outbox.state` (every send and
/// every delivery) paid that on the ack path, ~1.7 µs of a ~3 µs insert (BENCHMARKS.md,
/// "Ingest: the in-memory store's commit"). Both tables are STRICT, so a row reaches the check
/// only as TEXT resp. INTEGER, and for those the comparisons accept and refuse exactly what
/// the lists did. So the stored definitions are edited in place, by SQLite's procedure for
/// changes that do not touch stored rows (the definitions in `sqlite_schema`, under
/// `writable_schema`); [`apply`] then moves the schema cookie. Each replacement matches the
/// column's definition as version 1 wrote it (later versions only appended columns); the
/// migration tests check that both landed. Were one not to match, the old list would stay: as
/// strict, only slower. Older builds refuse a version-14 file (`NewerSchema`), as for any
/// new version.
const V14: &str = r#"
PRAGMA writable_schema = ON;
UPDATE sqlite_schema SET sql = replace(sql,
        'conv_kind   TEXT NOT NULL CHECK (conv_kind IN (''everyone'', ''peer'', ''room''))',
        'conv_kind   TEXT NOT NULL CHECK (conv_kind = ''everyone'' OR conv_kind = ''peer''
                                      OR conv_kind = ''room'')')
    WHERE type = 'table' AND name = 'messages';
UPDATE sqlite_schema SET sql = replace(sql,
        'state     INTEGER NOT NULL DEFAULT 0 CHECK (state IN (0, 1, 2))',
        'state     INTEGER NOT NULL DEFAULT 0 CHECK (state BETWEEN 0 AND 2)')
    WHERE type = 'table' AND name = 'outbox';
PRAGMA writable_schema = RESET;
"#;

/// Every migration, oldest first.
const MIGRATIONS: &[&str] = &[V1, V2, V3, V4, V5, V6, V7, V8, V9, V10, V11, V12, V13, V14];

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
        let cookie: i64 = tx.pragma_query_value(None, "schema_version", |r| r.get(0))?;
        tx.execute_batch(sql)?;
        // A migration that edits the stored definitions itself (version 14) leaves the schema
        // cookie where it was; moved, it makes any connection read the schema again.
        if tx.pragma_query_value(None, "schema_version", |r| r.get::<_, i64>(0))? == cookie {
            tx.pragma_update(None, "schema_version", cookie + 1)?;
        }
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
                "amend_outbox",
                "amendments",
                "blocked",
                "contact_addresses",
                "contact_names_version",
                "contacts",
                "early_amendments",
                "file_sends",
                "file_trash",
                "files",
                "fts_state",
                "key_changes",
                "message_edits",
                "messages",
                "messages_fts",
                "messages_fts_config",
                "messages_fts_data",
                "messages_fts_docsize",
                "messages_fts_idx",
                "messages_fts_instances",
                "outbox",
                "reaction_outbox",
                "reactions",
                "read_marks",
                "read_positions",
                "request_messages",
                "requests",
                "room_changes",
                "room_member_names",
                "room_members",
                "rooms",
                "settings",
                "timer_changes",
                "timer_outbox",
                "timers"
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
        apply(&mut conn, &[V1, V2]).unwrap();
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
    fn a_version_2_database_keeps_contacts_and_rooms_with_an_unrecorded_creator() {
        let mut conn = Connection::open_in_memory().unwrap();
        apply(&mut conn, &[V1, V2]).unwrap();
        let bob = "B".repeat(43) + "=";
        conn.execute_batch(&format!(
            "INSERT INTO contacts (public_key, name, last_address, listen_port, first_seen,
                 last_seen, verified) VALUES ('{bob}', 'bob', '10.0.0.2:6000', 6000, 1, 2, 1);
             INSERT INTO rooms (id, name, created_at, updated_at) VALUES ('r', 'old', 1, 1);
             INSERT INTO room_members (room, member) VALUES ('r', '{bob}');"
        ))
        .unwrap();
        apply(&mut conn, &[V1, V2, V3]).unwrap();
        assert_eq!(version(&conn).unwrap(), 3);
        // Contacts of an earlier version stay contacts, with no nickname and no requests.
        let (name, verified, nickname): (String, bool, Option<String>) = conn
            .query_row(
                "SELECT name, verified, nickname FROM contacts WHERE public_key = ?1",
                [&bob],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!((name.as_str(), verified, nickname), ("bob", true, None));
        let requests: i64 = conn
            .query_row("SELECT count(*) FROM requests", [], |r| r.get(0))
            .unwrap();
        assert_eq!(requests, 0);
        // The room and its members survive; its creator was never recorded.
        let (room, creator): (String, Option<String>) = conn
            .query_row("SELECT name, creator FROM rooms WHERE id = 'r'", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!((room.as_str(), creator), ("old", None));
        let members: i64 = conn
            .query_row(
                "SELECT count(*) FROM room_members WHERE room = 'r'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(members, 1);
        // The new column refuses junk like the others do.
        assert!(conn
            .execute("UPDATE rooms SET creator = 'short' WHERE id = 'r'", [])
            .is_err());
    }

    #[test]
    fn a_version_2_file_opens_as_version_3_and_its_data_follows_the_new_rules() {
        use super::super::{RoomAnnouncement, Store};
        use crypto_core::PublicKey;
        let (me, bob) = (
            PublicKey::from_bytes([1; 32]),
            PublicKey::from_bytes([2; 32]),
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.db");
        {
            // The file as a version-2 p2p-chat left it.
            let mut conn = Connection::open(&path).unwrap();
            apply(&mut conn, &[V1, V2]).unwrap();
            conn.execute_batch(&format!(
                "INSERT INTO contacts (public_key, name, last_address, listen_port, first_seen,
                     last_seen) VALUES ('{b}', 'bob', '10.0.0.2:6000', 6000, 1, 2);
                 INSERT INTO rooms (id, name, created_at, updated_at) VALUES ('r', 'old', 1, 1);
                 INSERT INTO room_members (room, member) VALUES ('r', '{b}'), ('r', '{m}');",
                b = bob.to_base64(),
                m = me.to_base64()
            ))
            .unwrap();
        }
        let mut s = Store::open(&path).unwrap();
        assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
        let contact = s.contact(&bob).unwrap().unwrap();
        assert_eq!(
            (contact.shown_name(), contact.nickname.as_deref()),
            ("bob", None)
        );
        assert_eq!(s.room("r").unwrap().unwrap().creator, None);
        // Bob, a member and contact, announcing it first becomes its creator.
        let members = [me, bob];
        let outcome = s
            .apply_room_announcement(&me, &bob, "r", "renamed", &members, None, 5)
            .unwrap();
        assert!(
            matches!(outcome, RoomAnnouncement::Changed { .. }),
            "{outcome:?}"
        );
        assert_eq!(s.room("r").unwrap().unwrap().creator, Some(bob));
        s.close().unwrap();
        let s = Store::open(&path).unwrap();
        assert_eq!(s.room("r").unwrap().unwrap().name, "renamed");
        assert_eq!(s.room_changes("r").unwrap().len(), 1);
    }

    #[test]
    fn a_version_3_database_gets_its_messages_indexed_for_search() {
        use super::super::Store;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.db");
        let bob = crypto_core::PublicKey::from_bytes([2; 32]).to_base64();
        {
            let mut conn = Connection::open(&path).unwrap();
            apply(&mut conn, &[V1, V2, V3]).unwrap();
            conn.execute_batch(&format!(
                "INSERT INTO messages (conv_kind, conv_id, sender, msg_id, text, sent_at,
                     received_at, direction)
                 VALUES ('peer', '{bob}', '{bob}', 'm1', 'an old helloworld', 1, 2, 'in'),
                        ('everyone', '', '{bob}', 'm2', 'こんにちは世界', 3, 4, 'in');"
            ))
            .unwrap();
        }
        let s = Store::open(&path).unwrap();
        assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
        let found = |q: &str| -> Vec<String> {
            s.search(q, None, 10)
                .unwrap()
                .hits
                .into_iter()
                .map(|h| h.message.message.id)
                .collect()
        };
        assert_eq!(found("ellowor"), ["m1"]);
        assert_eq!(found("世界"), ["m2"]);
        assert_eq!(found("にちは"), ["m2"]);
    }

    #[test]
    fn a_version_4_database_keeps_its_messages_without_replies_or_reactions() {
        use super::super::{MessageKey, Store};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.db");
        let bob = crypto_core::PublicKey::from_bytes([2; 32]);
        {
            let mut conn = Connection::open(&path).unwrap();
            apply(&mut conn, &[V1, V2, V3, V4]).unwrap();
            conn.execute_batch(&format!(
                "INSERT INTO messages (conv_kind, conv_id, sender, msg_id, text, sent_at,
                     received_at, direction)
                 VALUES ('peer', '{b}', '{b}', 'm1', 'from before', 1, 2, 'in');",
                b = bob.to_base64()
            ))
            .unwrap();
        }
        let mut s = Store::open(&path).unwrap();
        assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
        let old = s.message(&bob, "m1").unwrap().unwrap();
        assert_eq!(
            (old.message.text.as_str(), old.message.reply_to),
            ("from before", None)
        );
        // The old message takes reactions like any other.
        let to = MessageKey {
            sender: bob,
            id: "m1".into(),
        };
        let me = crypto_core::PublicKey::from_bytes([1; 32]);
        s.apply_reaction(&me, &bob, true, &to, "👍", "r1", 3)
            .unwrap();
        assert_eq!(s.reactions_of(&to).unwrap().len(), 1);
    }

    #[test]
    fn a_version_5_database_keeps_its_messages_and_none_of_them_expires() {
        let mut conn = Connection::open_in_memory().unwrap();
        apply(&mut conn, &[V1, V2, V3, V4, V5]).unwrap();
        let bob = crypto_core::PublicKey::from_bytes([2; 32]).to_base64();
        conn.execute_batch(&format!(
            "INSERT INTO messages (conv_kind, conv_id, sender, msg_id, text, sent_at,
                 received_at, direction)
             VALUES ('peer', '{bob}', '{bob}', 'm1', 'kept', 1, 2, 'in');"
        ))
        .unwrap();
        migrate(&mut conn).unwrap();
        assert_eq!(version(&conn).unwrap(), SCHEMA_VERSION);
        let (text, expires): (String, Option<i64>) = conn
            .query_row("SELECT text, expires_at FROM messages", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!((text.as_str(), expires), ("kept", None));
        let timers: i64 = conn
            .query_row("SELECT count(*) FROM timers", [], |r| r.get(0))
            .unwrap();
        assert_eq!(timers, 0, "every conversation starts with its timer off");
    }

    #[test]
    fn a_version_13_database_keeps_its_rows_and_constraints_checked_without_in_lists() {
        let mut conn = Connection::open_in_memory().unwrap();
        apply(&mut conn, &MIGRATIONS[..13]).unwrap();
        let bob = crypto_core::PublicKey::from_bytes([2; 32]).to_base64();
        let insert_message = |kind: &str, id: &str| {
            format!(
                "INSERT INTO messages (conv_kind, conv_id, sender, msg_id, text, sent_at,
                     received_at, direction)
                 VALUES ('{kind}', '{bob}', '{bob}', '{id}', 'kept', 1, 2, 'out')"
            )
        };
        conn.execute_batch(&insert_message("peer", "m1")).unwrap();
        conn.execute_batch(&format!(
            "INSERT INTO outbox (recipient, message, state) VALUES ('{bob}', 1, 1)"
        ))
        .unwrap();
        let cookie: i64 = conn
            .pragma_query_value(None, "schema_version", |r| r.get(0))
            .unwrap();
        migrate(&mut conn).unwrap();
        assert_eq!(version(&conn).unwrap(), SCHEMA_VERSION);
        let after: i64 = conn
            .pragma_query_value(None, "schema_version", |r| r.get(0))
            .unwrap();
        assert!(after > cookie, "the schema cookie moved");
        let definition = |table: &str| -> String {
            conn.query_row(
                "SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = ?1",
                [table],
                |r| r.get(0),
            )
            .unwrap()
        };
        assert!(
            definition("messages").contains("conv_kind = 'everyone' OR conv_kind = 'peer'"),
            "{}",
            definition("messages")
        );
        assert!(!definition("messages").contains("'everyone', 'peer', 'room'"));
        assert!(definition("outbox").contains("CHECK (state BETWEEN 0 AND 2)"));
        // The rows are kept, and the constraints refuse what they refused before.
        let state: i64 = conn
            .query_row("SELECT state FROM outbox", [], |r| r.get(0))
            .unwrap();
        assert_eq!(state, 1);
        for kind in ["everyone", "room"] {
            conn.execute_batch(&insert_message(kind, kind)).unwrap();
        }
        for bad in ["Peer", "group", ""] {
            let err = conn.execute_batch(&insert_message(bad, "bad")).unwrap_err();
            assert!(
                err.to_string().contains("CHECK constraint failed"),
                "{bad}: {err}"
            );
        }
        for bad in ["3", "-1"] {
            let err = conn
                .execute_batch(&format!("UPDATE outbox SET state = {bad}"))
                .unwrap_err();
            assert!(
                err.to_string().contains("CHECK constraint failed"),
                "{bad}: {err}"
            );
        }
        conn.execute_batch("UPDATE outbox SET state = 2").unwrap();
        let check: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok");
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
