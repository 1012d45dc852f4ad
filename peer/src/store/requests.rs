//! Message requests and blocked keys (PROTOCOL.md §8.2).
//!
//! A key that completes a handshake with us without being a contact is a stranger; its session
//! is a request. Requests and their messages are kept in their own tables rather than as a
//! flag on `contacts`: every reader of `contacts` (the contact list, "everyone", redials, room
//! creation) then means contacts without a filter someone could forget, and what strangers can
//! fill is bounded here on its own: [`MAX_REQUEST_MESSAGES`], [`MAX_REQUEST_BYTES`] and
//! [`MAX_REQUEST_MESSAGE_AGE_MS`] per request, [`MAX_REQUESTS`] in all (the least recently
//! seen of the source address holding the most is evicted, so one address churning keys
//! evicts its own) and [`REQUEST_IDLE_EXPIRY_MS`] of inactivity. Accepting moves the messages
//! into the direct conversation with that key; blocking deletes them and is remembered.

use crypto_core::PublicKey;
use rusqlite::{params, Connection, OptionalExtension, Row};

use super::contacts::{contact_from_row, CONTACT_COLUMNS};
use super::error::{Result, StoreError};
use super::{from_sql_time, key_at, to_sql_time, Contact, Store};

/// Messages kept per request (the oldest go first).
pub const MAX_REQUEST_MESSAGES: i64 = 100;
/// Text kept per request, in UTF-8 bytes.
pub const MAX_REQUEST_BYTES: i64 = 64 * 1024;
/// Age after which a request's message is deleted, Unix ms.
pub const MAX_REQUEST_MESSAGE_AGE_MS: u64 = 7 * 24 * 3600 * 1000;
/// Requests kept in all.
pub const MAX_REQUESTS: i64 = 1000;
/// Inactivity after which a request expires.
pub const REQUEST_IDLE_EXPIRY_MS: u64 = 30 * 24 * 3600 * 1000;

/// A message request as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The stranger's key.
    pub public_key: PublicKey,
    /// The name it announced last (never replaced by an empty one).
    pub name: String,
    /// Its dialable `ip:listen_port`, if it announced a port.
    pub last_address: Option<String>,
    /// The port from its hello.
    pub listen_port: Option<u16>,
    /// First handshake, Unix ms.
    pub first_seen: u64,
    /// Latest handshake or message, Unix ms.
    pub last_seen: u64,
    /// Messages it holds.
    pub messages: u32,
}

/// A message held by a request (its conversation is `request:<peer_id>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestMessage {
    /// Local order within requests; pass as `before` to page back.
    pub seq: i64,
    /// Sender-chosen id.
    pub id: String,
    /// The text.
    pub text: String,
    /// Sender's clock, Unix ms.
    pub sent_at: u64,
    /// Our clock, Unix ms.
    pub received_at: u64,
    /// Sent to "everyone" rather than to us directly.
    pub broadcast: bool,
}

/// What a key is to us, asked right after a handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyStanding {
    /// Blocked: close the session before reading any payload (checked first).
    Blocked,
    /// A contact.
    Contact,
    /// A stranger with a pending request.
    Request,
    /// Never seen.
    Unknown,
}

/// What [`Store::record_request`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestSeen {
    /// A new request; `evicted` are the least recently seen ones deleted to stay within
    /// [`MAX_REQUESTS`] (each needs `request_resolved` with `expired`).
    New {
        /// The new request.
        request: Request,
        /// Requests deleted to make room.
        evicted: Vec<PublicKey>,
    },
    /// An existing request, refreshed.
    Known(Request),
    /// The key is a contact: use [`Store::mark_seen`] instead. Nothing was stored.
    IsContact,
    /// The key is blocked. Nothing was stored.
    Blocked,
}

/// What [`Store::insert_request_message`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestInsert {
    /// Stored (acknowledge it). `trimmed` older messages were deleted by the bounds; the new
    /// one itself is gone if it alone breaks the byte bound (`kept` false).
    Stored {
        /// Messages deleted to respect the bounds (possibly including this one).
        trimmed: usize,
        /// Whether this message is still held.
        kept: bool,
    },
    /// (sender, id) is already held: a retransmission; acknowledge it, do not show it.
    Duplicate,
    /// The key has no request (it became a contact, was blocked or evicted meanwhile): file
    /// the message according to [`Store::key_standing`] instead. Nothing was stored.
    NoRequest,
}

const REQUEST_COLUMNS: &str = "r.public_key, r.name, r.last_address, r.listen_port, \
     r.first_seen, r.last_seen, \
     (SELECT count(*) FROM request_messages m WHERE m.requester = r.public_key)";

fn request_from_row(row: &Row<'_>) -> rusqlite::Result<Request> {
    Ok(Request {
        public_key: key_at(row, 0)?,
        name: row.get(1)?,
        last_address: row.get(2)?,
        listen_port: row
            .get::<_, Option<i64>>(3)?
            .and_then(|p| u16::try_from(p).ok()),
        first_seen: from_sql_time(row.get(4)?),
        last_seen: from_sql_time(row.get(5)?),
        messages: u32::try_from(row.get::<_, i64>(6)?).unwrap_or(u32::MAX),
    })
}

fn load_request(conn: &Connection, b64: &str) -> Result<Option<Request>> {
    Ok(conn
        .query_row(
            &format!("SELECT {REQUEST_COLUMNS} FROM requests r WHERE r.public_key = ?1"),
            [b64],
            request_from_row,
        )
        .optional()?)
}

/// Deletes requests beyond [`MAX_REQUESTS`], never `keep` (the one just recorded): each time
/// the least recently seen request of the source holding the most requests (ties: the source
/// whose least recent request is oldest). So, as in the pending-handshake table (PROTOCOL.md
/// §9.1), an address evicts its own requests before anyone else's: one address churning
/// fresh keys cannot push out the requests of everyone else. Returns the evicted keys.
fn evict_over_limit(conn: &Connection, keep: &str) -> Result<Vec<PublicKey>> {
    let count: i64 = conn.query_row("SELECT count(*) FROM requests", [], |r| r.get(0))?;
    let mut victim = conn.prepare_cached(
        "SELECT public_key FROM requests WHERE public_key <> ?1 AND source IS (
             SELECT source FROM requests WHERE public_key <> ?1
             GROUP BY source ORDER BY count(*) DESC, min(last_seen) LIMIT 1)
         ORDER BY last_seen, public_key LIMIT 1",
    )?;
    let mut evicted = Vec::new();
    for _ in 0..(count - MAX_REQUESTS).max(0) {
        let Some(key) = victim
            .query_row([keep], |r| r.get::<_, String>(0))
            .optional()?
        else {
            break;
        };
        conn.execute("DELETE FROM requests WHERE public_key = ?1", [&key])?;
        evicted.push(
            PublicKey::from_base64(&key)
                .map_err(|_| StoreError::Invalid("a stored request key is not a key".into()))?,
        );
    }
    Ok(evicted)
}

fn exists(conn: &Connection, table: &str, b64: &str) -> Result<bool> {
    Ok(conn
        .query_row(
            &format!("SELECT 1 FROM {table} WHERE public_key = ?1"),
            [b64],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// Deletes the messages of `requester` beyond the count and byte bounds (newest kept) and
/// those older than the age bound. Returns how many went.
fn trim(conn: &Connection, requester: &str, now: u64) -> Result<usize> {
    let cutoff = to_sql_time(now.saturating_sub(MAX_REQUEST_MESSAGE_AGE_MS));
    Ok(conn.execute(
        "DELETE FROM request_messages WHERE seq IN (
             SELECT seq FROM (
                 SELECT seq, received_at,
                        row_number() OVER (ORDER BY seq DESC) AS n,
                        sum(bytes) OVER (ORDER BY seq DESC) AS total
                 FROM request_messages WHERE requester = ?1)
             WHERE n > ?2 OR total > ?3 OR received_at < ?4)",
        params![requester, MAX_REQUEST_MESSAGES, MAX_REQUEST_BYTES, cutoff],
    )?)
}

impl Store {
    /// Whether `key` is blocked, a contact, a request or unknown. Blocked wins over the rest.
    /// The old key of an accepted key change counts as blocked: the user chose the new key for
    /// that person, and a lost or stolen old device must not keep a contact's standing.
    pub fn key_standing(&self, key: &PublicKey) -> Result<KeyStanding> {
        let b64 = key.to_base64();
        let replaced = self
            .conn
            .query_row(
                "SELECT replaced_by IS NOT NULL FROM contacts WHERE public_key = ?1",
                [&b64],
                |r| r.get::<_, bool>(0),
            )
            .optional()?;
        Ok(
            if exists(&self.conn, "blocked", &b64)? || replaced == Some(true) {
                KeyStanding::Blocked
            } else if replaced == Some(false) {
                KeyStanding::Contact
            } else if exists(&self.conn, "requests", &b64)? {
                KeyStanding::Request
            } else {
                KeyStanding::Unknown
            },
        )
    }

    /// Records a completed handshake with a stranger from `source` (its address, IPv6 by /64):
    /// creates its request (evicting beyond [`MAX_REQUESTS`], see [`evict_over_limit`]) or
    /// refreshes name, address, source and `last_seen`,
    /// with the same rules as [`Store::mark_seen`] (an empty name never replaces one; only a
    /// dialable `ip:listen_port` is kept). Never turns a contact into a request and never
    /// records a blocked key.
    pub fn record_request(
        &mut self,
        key: &PublicKey,
        name: &str,
        address: &str,
        listen_port: u16,
        source: &str,
        now: u64,
    ) -> Result<RequestSeen> {
        let b64 = key.to_base64();
        let dialable = listen_port != 0 && address.ends_with(&format!(":{listen_port}"));
        let tx = self.conn.savepoint()?;
        if exists(&tx, "blocked", &b64)? {
            return Ok(RequestSeen::Blocked);
        }
        if exists(&tx, "contacts", &b64)? {
            return Ok(RequestSeen::IsContact);
        }
        let is_new = !exists(&tx, "requests", &b64)?;
        tx.execute(
            "INSERT INTO requests (public_key, name, last_address, listen_port, first_seen,
                 last_seen, source) VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6)
             ON CONFLICT (public_key) DO UPDATE SET
                 name = CASE WHEN excluded.name = '' THEN name ELSE excluded.name END,
                 last_address = coalesce(excluded.last_address, last_address),
                 listen_port = coalesce(excluded.listen_port, listen_port),
                 last_seen = max(last_seen, excluded.last_seen),
                 source = excluded.source",
            params![
                b64,
                name,
                dialable.then_some(address),
                dialable.then_some(listen_port),
                to_sql_time(now),
                source
            ],
        )?;
        let evicted = if is_new {
            evict_over_limit(&tx, &b64)?
        } else {
            Vec::new()
        };
        let request = load_request(&tx, &b64)?
            .ok_or_else(|| StoreError::Invalid("request vanished".into()))?;
        tx.commit()?;
        Ok(if is_new {
            RequestSeen::New { request, evicted }
        } else {
            RequestSeen::Known(request)
        })
    }

    /// Stores a chat (direct, or to "everyone" when `broadcast`) from a stranger in its request,
    /// then applies the request's bounds. Also counts as activity (`last_seen`).
    pub fn insert_request_message(
        &mut self,
        key: &PublicKey,
        id: &str,
        text: &str,
        sent_at: u64,
        received_at: u64,
        broadcast: bool,
    ) -> Result<RequestInsert> {
        if id.is_empty() || id.chars().count() > crypto_core::wire::MAX_ID_CHARS {
            return Err(StoreError::Invalid(
                "message id must be 1-64 characters".into(),
            ));
        }
        let b64 = key.to_base64();
        let tx = self.conn.savepoint()?;
        if !exists(&tx, "requests", &b64)? {
            return Ok(RequestInsert::NoRequest);
        }
        let inserted = tx
            .prepare_cached(
                "INSERT INTO request_messages (requester, msg_id, text, bytes, sent_at,
                     received_at, broadcast) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (requester, msg_id) DO NOTHING",
            )?
            .execute(params![
                b64,
                id,
                text,
                i64::try_from(text.len()).unwrap_or(i64::MAX),
                to_sql_time(sent_at),
                to_sql_time(received_at),
                broadcast
            ])?;
        if inserted == 0 {
            tx.commit()?;
            return Ok(RequestInsert::Duplicate);
        }
        let seq = tx.last_insert_rowid();
        tx.execute(
            "UPDATE requests SET last_seen = max(last_seen, ?2) WHERE public_key = ?1",
            params![b64, to_sql_time(received_at)],
        )?;
        let trimmed = trim(&tx, &b64, received_at)?;
        let kept = tx
            .query_row(
                "SELECT 1 FROM request_messages WHERE seq = ?1",
                [seq],
                |_| Ok(()),
            )
            .optional()?
            .is_some();
        tx.commit()?;
        Ok(RequestInsert::Stored { trimmed, kept })
    }

    /// One request.
    pub fn request(&self, key: &PublicKey) -> Result<Option<Request>> {
        load_request(&self.conn, &key.to_base64())
    }

    /// Every request, most recently seen first.
    pub fn list_requests(&self) -> Result<Vec<Request>> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {REQUEST_COLUMNS} FROM requests r ORDER BY r.last_seen DESC, r.public_key"
        ))?;
        let rows = stmt.query_map([], request_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Up to `limit` messages of a request older than `before`, oldest first.
    pub fn request_history(
        &self,
        key: &PublicKey,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<RequestMessage>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT seq, msg_id, text, sent_at, received_at, broadcast FROM request_messages
             WHERE requester = ?1 AND seq < ?2 ORDER BY seq DESC LIMIT ?3",
        )?;
        let rows = stmt.query_map(
            params![
                key.to_base64(),
                before.unwrap_or(i64::MAX),
                i64::try_from(limit).unwrap_or(i64::MAX)
            ],
            |r| {
                Ok(RequestMessage {
                    seq: r.get(0)?,
                    id: r.get(1)?,
                    text: r.get(2)?,
                    sent_at: from_sql_time(r.get(3)?),
                    received_at: from_sql_time(r.get(4)?),
                    broadcast: r.get(5)?,
                })
            },
        )?;
        let mut page: Vec<RequestMessage> = rows.collect::<rusqlite::Result<_>>()?;
        page.reverse();
        Ok(page)
    }

    /// The user accepted (or replied to) the request of `key`: in one transaction it becomes a
    /// contact (name, address, port and `first_seen` of the request) and its messages move, in
    /// arrival order, into the direct conversation with `key` (a message already there by
    /// (sender, id) is not duplicated). Accepting a key that is already a contact returns it
    /// unchanged; a key with neither is refused, and so is a blocked key.
    pub fn accept_request(&mut self, key: &PublicKey, now: u64) -> Result<Contact> {
        let b64 = key.to_base64();
        let tx = self.conn.savepoint()?;
        if exists(&tx, "blocked", &b64)? {
            return Err(StoreError::Invalid("this key is blocked".into()));
        }
        let request = load_request(&tx, &b64)?;
        match request {
            None if !exists(&tx, "contacts", &b64)? => {
                return Err(StoreError::Invalid(
                    "there is no request from this key".into(),
                ))
            }
            None => {}
            Some(_) => {
                tx.execute(
                    "INSERT INTO contacts (public_key, name, last_address, listen_port,
                         first_seen, last_seen)
                     SELECT public_key, name, last_address, listen_port, first_seen,
                         max(last_seen, ?2)
                     FROM requests WHERE public_key = ?1
                     ON CONFLICT (public_key) DO NOTHING",
                    params![b64, to_sql_time(now)],
                )?;
                tx.execute(
                    "INSERT INTO messages (conv_kind, conv_id, sender, msg_id, text, sent_at,
                         received_at, direction)
                     SELECT 'peer', requester, requester, msg_id, text, sent_at, received_at,
                         'in'
                     FROM request_messages WHERE requester = ?1 ORDER BY seq
                     ON CONFLICT (sender, msg_id) DO NOTHING",
                    [&b64],
                )?;
                tx.execute("DELETE FROM requests WHERE public_key = ?1", [&b64])?;
            }
        }
        let contact = tx.query_row(
            &format!("SELECT {CONTACT_COLUMNS} FROM contacts WHERE public_key = ?1"),
            [&b64],
            contact_from_row,
        )?;
        tx.commit()?;
        Ok(contact)
    }

    /// Blocks `key` from now on: its request and the request's messages are deleted (a
    /// contact stays a contact, with its history, but is refused like any blocked key).
    /// Returns whether a request was deleted. Blocking twice keeps the first time.
    pub fn block_key(&mut self, key: &PublicKey, now: u64) -> Result<bool> {
        let b64 = key.to_base64();
        let tx = self.conn.savepoint()?;
        tx.execute(
            "INSERT INTO blocked (public_key, blocked_at) VALUES (?1, ?2)
             ON CONFLICT (public_key) DO NOTHING",
            params![b64, to_sql_time(now)],
        )?;
        let had_request = tx.execute("DELETE FROM requests WHERE public_key = ?1", [&b64])? == 1;
        tx.commit()?;
        Ok(had_request)
    }

    /// Unblocks `key`. Returns whether it was blocked. Its deleted request does not come back;
    /// its next handshake makes a new one.
    pub fn unblock_key(&mut self, key: &PublicKey) -> Result<bool> {
        Ok(self.conn.execute(
            "DELETE FROM blocked WHERE public_key = ?1",
            [key.to_base64()],
        )? == 1)
    }

    /// Whether `key` is blocked.
    pub fn is_blocked(&self, key: &PublicKey) -> Result<bool> {
        exists(&self.conn, "blocked", &key.to_base64())
    }

    /// Every blocked key, most recently blocked first.
    pub fn list_blocked(&self) -> Result<Vec<PublicKey>> {
        let mut stmt = self
            .conn
            .prepare("SELECT public_key FROM blocked ORDER BY blocked_at DESC, public_key")?;
        let rows = stmt.query_map([], |r| key_at(r, 0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Housekeeping, to run at start and then periodically: deletes requests idle for
    /// [`REQUEST_IDLE_EXPIRY_MS`] (returned: each needs `request_resolved` with `expired`) and
    /// every request message older than [`MAX_REQUEST_MESSAGE_AGE_MS`].
    pub fn expire_requests(&mut self, now: u64) -> Result<Vec<PublicKey>> {
        let tx = self.conn.savepoint()?;
        let idle = to_sql_time(now.saturating_sub(REQUEST_IDLE_EXPIRY_MS));
        let expired: Vec<PublicKey> = {
            let mut stmt =
                tx.prepare("DELETE FROM requests WHERE last_seen < ?1 RETURNING public_key")?;
            let rows = stmt.query_map([idle], |r| key_at(r, 0))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        tx.execute(
            "DELETE FROM request_messages WHERE received_at < ?1",
            [to_sql_time(now.saturating_sub(MAX_REQUEST_MESSAGE_AGE_MS))],
        )?;
        tx.commit()?;
        Ok(expired)
    }
}

#[cfg(test)]
mod tests {
    use super::super::contacts::tests::key;
    use super::super::Conversation;
    use super::*;

    const DAY: u64 = 24 * 3600 * 1000;

    fn stranger(s: &mut Store, n: u8, now: u64) -> Request {
        match s
            .record_request(
                &key(n),
                &format!("s{n}"),
                "10.0.0.5:6000",
                6000,
                "10.0.0.5",
                now,
            )
            .unwrap()
        {
            RequestSeen::New { request, .. } | RequestSeen::Known(request) => request,
            other => panic!("expected a request, got {other:?}"),
        }
    }

    fn stored(outcome: RequestInsert) -> bool {
        matches!(outcome, RequestInsert::Stored { kept: true, .. })
    }

    #[test]
    fn a_stranger_is_a_request_not_a_contact() {
        let mut s = Store::open_in_memory().unwrap();
        assert_eq!(s.key_standing(&key(5)).unwrap(), KeyStanding::Unknown);
        let r = stranger(&mut s, 5, 10);
        assert_eq!((r.name.as_str(), r.messages), ("s5", 0));
        assert_eq!(r.last_address.as_deref(), Some("10.0.0.5:6000"));
        assert_eq!(s.key_standing(&key(5)).unwrap(), KeyStanding::Request);
        assert!(s.list_contacts().unwrap().is_empty());
        assert_eq!(s.contact(&key(5)).unwrap(), None);
        // A second handshake refreshes it; an empty name does not erase the old one.
        let seen = s
            .record_request(&key(5), "", "10.0.0.5:6000", 6000, "10.0.0.5", 20)
            .unwrap();
        let RequestSeen::Known(r) = seen else {
            panic!("{seen:?}")
        };
        assert_eq!((r.name.as_str(), r.first_seen, r.last_seen), ("s5", 10, 20));
        // A contact never becomes a request.
        s.mark_seen(&key(6), "c", "h:1", 1, 1).unwrap();
        assert_eq!(
            s.record_request(&key(6), "c", "h:1", 1, "10.0.0.6", 2)
                .unwrap(),
            RequestSeen::IsContact
        );
        assert_eq!(s.request(&key(6)).unwrap(), None);
    }

    #[test]
    fn request_messages_are_kept_to_100_and_64_kib_newest_first() {
        let mut s = Store::open_in_memory().unwrap();
        stranger(&mut s, 5, 0);
        for i in 0..150u64 {
            assert!(stored(
                s.insert_request_message(&key(5), &format!("m{i}"), "hi", i, i, false)
                    .unwrap()
            ));
        }
        let held = s.request_history(&key(5), None, 500).unwrap();
        assert_eq!(held.len(), 100);
        assert_eq!(held[0].id, "m50", "the oldest went first");
        assert_eq!(held[99].id, "m149");
        assert_eq!(s.request(&key(5)).unwrap().unwrap().messages, 100);

        // Bytes: three 30,000-byte texts exceed 64 KiB, so only the last two stay.
        stranger(&mut s, 7, 0);
        let big = "é".repeat(15_000); // 30,000 bytes
        for i in 0..3u64 {
            s.insert_request_message(&key(7), &format!("b{i}"), &big, i, i, true)
                .unwrap();
        }
        let held = s.request_history(&key(7), None, 500).unwrap();
        let ids: Vec<_> = held.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["b1", "b2"]);
        assert!(held.iter().all(|m| m.broadcast));
        // One text over the bound on its own is not kept at all.
        let huge = "x".repeat(MAX_REQUEST_BYTES as usize + 1);
        assert_eq!(
            s.insert_request_message(&key(7), "h", &huge, 9, 9, false)
                .unwrap(),
            RequestInsert::Stored {
                trimmed: 3,
                kept: false
            }
        );
    }

    #[test]
    fn request_messages_older_than_7_days_go_and_retransmissions_are_recognised() {
        let mut s = Store::open_in_memory().unwrap();
        stranger(&mut s, 5, 0);
        s.insert_request_message(&key(5), "old", "a", 0, 0, false)
            .unwrap();
        assert_eq!(
            s.insert_request_message(&key(5), "old", "a", 0, 1, false)
                .unwrap(),
            RequestInsert::Duplicate
        );
        s.insert_request_message(&key(5), "new", "b", 8 * DAY, 8 * DAY, false)
            .unwrap();
        let ids: Vec<_> = s
            .request_history(&key(5), None, 10)
            .unwrap()
            .into_iter()
            .map(|m| m.id)
            .collect();
        assert_eq!(ids, ["new"]);
        // Not a request: nothing stored, the caller files it elsewhere.
        assert_eq!(
            s.insert_request_message(&key(9), "x", "y", 1, 1, false)
                .unwrap(),
            RequestInsert::NoRequest
        );
    }

    #[test]
    fn accepting_makes_a_contact_and_moves_the_messages_into_its_conversation() {
        let mut s = Store::open_in_memory().unwrap();
        stranger(&mut s, 5, 10);
        for i in 0..3u64 {
            s.insert_request_message(&key(5), &format!("m{i}"), "hello", i, 20 + i, i == 1)
                .unwrap();
        }
        let contact = s.accept_request(&key(5), 100).unwrap();
        assert_eq!(contact.public_key, key(5));
        assert_eq!((contact.name.as_str(), contact.first_seen), ("s5", 10));
        assert_eq!(contact.last_address.as_deref(), Some("10.0.0.5:6000"));
        assert!(!contact.verified);
        assert_eq!(s.key_standing(&key(5)).unwrap(), KeyStanding::Contact);
        assert_eq!(s.request(&key(5)).unwrap(), None);
        assert!(s.request_history(&key(5), None, 10).unwrap().is_empty());
        let hist = s.history(&Conversation::Peer(key(5)), None, 10).unwrap();
        let ids: Vec<_> = hist.iter().map(|m| m.message.id.as_str()).collect();
        assert_eq!(ids, ["m0", "m1", "m2"], "in arrival order");
        assert!(hist.iter().all(|m| m.message.sender == key(5)));
        // A retransmission now is recognised in the conversation.
        let again = super::super::ChatMessage {
            conversation: Conversation::Peer(key(5)),
            sender: key(5),
            id: "m1".into(),
            text: "hello".into(),
            sent_at: 1,
            received_at: 200,
            reply_to: None,
        };
        assert!(!s.insert_incoming(&again).unwrap());
        // Idempotent; unknown keys are refused.
        assert_eq!(s.accept_request(&key(5), 300).unwrap(), contact);
        assert!(s.accept_request(&key(9), 300).is_err());
    }

    #[test]
    fn blocking_deletes_the_request_and_refuses_the_key_until_unblocked() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.db");
        let mut s = Store::open(&path).unwrap();
        stranger(&mut s, 5, 10);
        s.insert_request_message(&key(5), "m", "spam", 1, 11, false)
            .unwrap();
        assert!(s.block_key(&key(5), 20).unwrap());
        assert!(!s.block_key(&key(5), 30).unwrap(), "blocking twice is fine");
        assert_eq!(s.request(&key(5)).unwrap(), None);
        let left: i64 = s
            .conn
            .query_row("SELECT count(*) FROM request_messages", [], |r| r.get(0))
            .unwrap();
        assert_eq!(left, 0, "its messages are gone with it");
        s.close().unwrap();

        // Kept in the database: still blocked after a restart.
        let mut s = Store::open(&path).unwrap();
        assert_eq!(s.key_standing(&key(5)).unwrap(), KeyStanding::Blocked);
        assert_eq!(
            s.record_request(&key(5), "again", "10.0.0.5:6000", 6000, "10.0.0.5", 40)
                .unwrap(),
            RequestSeen::Blocked
        );
        assert_eq!(s.request(&key(5)).unwrap(), None);
        assert!(s.accept_request(&key(5), 40).is_err());
        assert_eq!(s.list_blocked().unwrap(), vec![key(5)]);
        // A blocked contact stays a contact but is reported blocked first.
        s.mark_seen(&key(6), "c", "h:1", 1, 1).unwrap();
        assert!(!s.block_key(&key(6), 50).unwrap());
        assert_eq!(s.key_standing(&key(6)).unwrap(), KeyStanding::Blocked);
        assert!(s.contact(&key(6)).unwrap().is_some());

        assert!(s.unblock_key(&key(5)).unwrap());
        assert!(!s.unblock_key(&key(5)).unwrap());
        assert!(!s.is_blocked(&key(5)).unwrap());
        assert!(matches!(
            s.record_request(&key(5), "back", "10.0.0.5:6000", 6000, "10.0.0.5", 60)
                .unwrap(),
            RequestSeen::New { .. }
        ));
    }

    #[test]
    fn at_most_1000_requests_the_least_recently_seen_is_evicted() {
        let mut s = Store::open_in_memory().unwrap();
        s.begin_group().unwrap();
        for i in 0..MAX_REQUESTS {
            let mut bytes = [0u8; 32];
            bytes[..8].copy_from_slice(&i.to_le_bytes());
            let k = PublicKey::from_bytes(bytes);
            let seen = s
                .record_request(&k, "x", "10.0.0.1:1", 1, "10.0.0.1", 1_000 + i as u64)
                .unwrap();
            assert!(matches!(seen, RequestSeen::New { ref evicted, .. } if evicted.is_empty()));
        }
        s.commit_group().unwrap();
        // The first one (oldest last_seen) shows activity, so the second is now the oldest.
        let mut first = [0u8; 32];
        first[..8].copy_from_slice(&0i64.to_le_bytes());
        let first = PublicKey::from_bytes(first);
        s.insert_request_message(&first, "m", "hi", 5_000, 5_000, false)
            .unwrap();
        let mut second = [0u8; 32];
        second[..8].copy_from_slice(&1i64.to_le_bytes());
        let second = PublicKey::from_bytes(second);

        let seen = s
            .record_request(&key(0xEE), "new", "10.0.0.9:1", 1, "10.0.0.9", 6_000)
            .unwrap();
        let RequestSeen::New { evicted, .. } = seen else {
            panic!("{seen:?}")
        };
        assert_eq!(evicted, vec![second]);
        assert_eq!(s.list_requests().unwrap().len() as i64, MAX_REQUESTS);
        assert!(s.request(&first).unwrap().is_some());
        assert!(s.request(&key(0xEE)).unwrap().is_some());
        assert_eq!(s.list_requests().unwrap()[0].public_key, key(0xEE));
    }

    #[test]
    fn a_full_table_evicts_from_the_source_holding_the_most_requests() {
        let mut s = Store::open_in_memory().unwrap();
        s.begin_group().unwrap();
        // The oldest request of all comes from an honest address, alone there.
        s.record_request(&key(0xAA), "honest", "", 0, "198.51.100.7", 1)
            .unwrap();
        let churned = |i: i64| {
            let mut bytes = [1u8; 32];
            bytes[..8].copy_from_slice(&i.to_le_bytes());
            PublicKey::from_bytes(bytes)
        };
        for i in 0..MAX_REQUESTS + 50 {
            let seen = s
                .record_request(&churned(i), "churn", "", 0, "203.0.113.9", 10 + i as u64)
                .unwrap();
            let RequestSeen::New { evicted, .. } = seen else {
                panic!("{seen:?}")
            };
            // Only the churning address's own oldest requests go.
            if i >= MAX_REQUESTS - 1 {
                assert_eq!(evicted, vec![churned(i - (MAX_REQUESTS - 1))]);
            } else {
                assert!(evicted.is_empty());
            }
        }
        s.commit_group().unwrap();
        assert!(s.request(&key(0xAA)).unwrap().is_some());
        assert_eq!(s.list_requests().unwrap().len() as i64, MAX_REQUESTS);
        // A second honest address: the churner still holds the most, so it loses again.
        let seen = s
            .record_request(&key(0xBB), "other", "", 0, "2001:db8:1:2::", 5_000)
            .unwrap();
        let RequestSeen::New { evicted, .. } = seen else {
            panic!("{seen:?}")
        };
        assert_eq!(evicted, vec![churned(51)]);
        assert!(s.request(&key(0xAA)).unwrap().is_some());
    }

    #[test]
    fn idle_requests_expire_after_30_days_and_old_messages_after_7() {
        let mut s = Store::open_in_memory().unwrap();
        stranger(&mut s, 1, 0);
        stranger(&mut s, 2, 0);
        s.insert_request_message(&key(2), "old", "a", 0, 0, false)
            .unwrap();
        s.insert_request_message(&key(2), "recent", "b", 25 * DAY, 25 * DAY, false)
            .unwrap();
        let expired = s.expire_requests(30 * DAY + 1).unwrap();
        assert_eq!(expired, vec![key(1)], "key 2 was active at day 25");
        assert_eq!(s.request(&key(1)).unwrap(), None);
        let ids: Vec<_> = s
            .request_history(&key(2), None, 10)
            .unwrap()
            .into_iter()
            .map(|m| m.id)
            .collect();
        assert_eq!(ids, ["recent"]);
        assert_eq!(s.expire_requests(30 * DAY + 2).unwrap(), vec![]);
    }
}
