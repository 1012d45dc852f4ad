//! Contacts: every peer that completed a handshake, keyed by its static public key.
//!
//! The key is the identity (PROTOCOL.md §8.3); name and address are only what the peer last told
//! us and where it last answered. A contact's name is never replaced by an empty one (a peer
//! restarted without a name would otherwise rename a verified contact to "Unnamed"), and a
//! local nickname, set only by our user, is shown in its place. Strangers are not contacts:
//! they are message requests (`requests.rs`).

use crypto_core::PublicKey;
use rusqlite::{params, OptionalExtension, Row};

use super::error::Result;
use super::{from_sql_time, key_at, opt_key_at, to_sql_time, Store};

/// One contact as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    /// The contact's static key (its `peer_id`).
    pub public_key: PublicKey,
    /// Display name from its last `hello`.
    pub name: String,
    /// Where it can be dialled (`ip:listen_port`), as last seen.
    pub last_address: Option<String>,
    /// The P2P port it announced in its last `hello`.
    pub listen_port: Option<u16>,
    /// First completed handshake, Unix ms.
    pub first_seen: u64,
    /// Latest completed handshake, Unix ms.
    pub last_seen: u64,
    /// The user compared safety numbers and marked this key verified.
    pub verified: bool,
    /// Address and name are pinned to this key (trust on first use).
    pub pinned: bool,
    /// Set when the user accepted a new key for this person; this row is then history.
    pub replaced_by: Option<PublicKey>,
    /// Our user's local name for this contact; the remote cannot change it.
    pub nickname: Option<String>,
}

impl Contact {
    /// The name to show: the local nickname, else the name the contact announced.
    pub fn shown_name(&self) -> &str {
        self.nickname.as_deref().unwrap_or(&self.name)
    }
}

/// The dialable address of a peer that connected from `ip` and announced `listen_port` in its
/// hello: `ip:listen_port` (IPv6 in brackets), never the connection's ephemeral source port.
/// `None` when it announced no port (0): such a peer cannot be dialled back.
pub fn dialable_address(ip: std::net::IpAddr, listen_port: u16) -> Option<String> {
    (listen_port != 0).then(|| std::net::SocketAddr::new(ip, listen_port).to_string())
}

pub(super) const CONTACT_COLUMNS: &str = "public_key, name, last_address, listen_port, \
     first_seen, last_seen, verified, pinned, replaced_by, nickname";

pub(super) fn contact_from_row(row: &Row<'_>) -> rusqlite::Result<Contact> {
    Ok(Contact {
        public_key: key_at(row, 0)?,
        name: row.get(1)?,
        last_address: row.get(2)?,
        listen_port: row
            .get::<_, Option<i64>>(3)?
            .and_then(|p| u16::try_from(p).ok()),
        first_seen: from_sql_time(row.get(4)?),
        last_seen: from_sql_time(row.get(5)?),
        verified: row.get(6)?,
        pinned: row.get(7)?,
        replaced_by: opt_key_at(row, 8)?,
        nickname: row.get(9)?,
    })
}

impl Store {
    /// Records a completed handshake: creates the contact or refreshes its name, address, port
    /// and `last_seen`. Returns the contact and whether it is new. Verified and pinned flags and
    /// the nickname are left as they were.
    ///
    /// * An empty `name` never replaces a stored one (it is stored only for a new contact).
    /// * `address` must be the dialable `ip:listen_port` ([`dialable_address`]): it is kept only
    ///   when `listen_port` is non-zero and `address` ends in `:listen_port`; otherwise the
    ///   stored address and port stay as they were, so an ephemeral source port or an
    ///   undialable `ip:0` never overwrites the last address that worked.
    pub fn mark_seen(
        &mut self,
        key: &PublicKey,
        name: &str,
        address: &str,
        listen_port: u16,
        now: u64,
    ) -> Result<(Contact, bool)> {
        let dialable = listen_port != 0 && address.ends_with(&format!(":{listen_port}"));
        let tx = self.conn.savepoint()?;
        let b64 = key.to_base64();
        let is_new: bool = tx
            .query_row(
                "SELECT 1 FROM contacts WHERE public_key = ?1",
                [&b64],
                |_| Ok(()),
            )
            .optional()?
            .is_none();
        let contact = tx.query_row(
            &format!(
                "INSERT INTO contacts (public_key, name, last_address, listen_port, first_seen, \
                 last_seen) VALUES (?1, ?2, ?3, ?4, ?5, ?5)
                 ON CONFLICT (public_key) DO UPDATE SET
                     name = CASE WHEN excluded.name = '' THEN name ELSE excluded.name END,
                     last_address = coalesce(excluded.last_address, last_address),
                     listen_port = coalesce(excluded.listen_port, listen_port),
                     last_seen = max(last_seen, excluded.last_seen)
                 RETURNING {CONTACT_COLUMNS}"
            ),
            params![
                b64,
                name,
                dialable.then_some(address),
                dialable.then_some(listen_port),
                to_sql_time(now)
            ],
            contact_from_row,
        )?;
        tx.commit()?;
        Ok((contact, is_new))
    }

    /// The contact with this key, if any.
    pub fn contact(&self, key: &PublicKey) -> Result<Option<Contact>> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {CONTACT_COLUMNS} FROM contacts WHERE public_key = ?1"),
                [key.to_base64()],
                contact_from_row,
            )
            .optional()?)
    }

    /// The current (not replaced) contact last seen at `address`, most recent first if several
    /// keys have used it.
    pub fn contact_by_address(&self, address: &str) -> Result<Option<Contact>> {
        Ok(self
            .conn
            .query_row(
                &format!(
                    "SELECT {CONTACT_COLUMNS} FROM contacts
                     WHERE last_address = ?1 AND replaced_by IS NULL
                     ORDER BY last_seen DESC LIMIT 1"
                ),
                [address],
                contact_from_row,
            )
            .optional()?)
    }

    /// Sets the verified flag (from the page's safety-number comparison). Returns false if
    /// there is no such contact.
    pub fn set_verified(&mut self, key: &PublicKey, verified: bool) -> Result<bool> {
        let n = self.conn.execute(
            "UPDATE contacts SET verified = ?2 WHERE public_key = ?1",
            params![key.to_base64(), verified],
        )?;
        Ok(n == 1)
    }

    /// Pins or unpins a contact's address and name (an unpinned contact never raises a key
    /// conflict). Returns false if there is no such contact.
    pub fn set_pinned(&mut self, key: &PublicKey, pinned: bool) -> Result<bool> {
        let n = self.conn.execute(
            "UPDATE contacts SET pinned = ?2 WHERE public_key = ?1",
            params![key.to_base64(), pinned],
        )?;
        Ok(n == 1)
    }

    /// Sets (`Some`, trimmed, non-empty) or clears (`None` or blank) the local nickname of a
    /// contact. Returns false if there is no such contact. Never touched by anything the remote
    /// sends.
    pub fn set_nickname(&mut self, key: &PublicKey, nickname: Option<&str>) -> Result<bool> {
        let nickname = nickname.map(str::trim).filter(|n| !n.is_empty());
        let n = self.conn.execute(
            "UPDATE contacts SET nickname = ?2 WHERE public_key = ?1",
            params![key.to_base64(), nickname],
        )?;
        Ok(n == 1)
    }

    /// Takes the name a connected contact announced in a `name` payload (PROTOCOL.md §5).
    /// An empty name is ignored like in [`Store::mark_seen`]; the nickname is untouched.
    /// Returns the contact as it is now (`None` if there is no such contact).
    pub fn rename_contact(&mut self, key: &PublicKey, name: &str) -> Result<Option<Contact>> {
        if !name.is_empty() {
            self.conn.execute(
                "UPDATE contacts SET name = ?2 WHERE public_key = ?1",
                params![key.to_base64(), name],
            )?;
        }
        self.contact(key)
    }

    /// A session with `key` ended at `now`: "last seen" is measured from the end of the last
    /// session, not from its handshake. Returns false if there is no such contact.
    pub fn mark_session_end(&mut self, key: &PublicKey, now: u64) -> Result<bool> {
        let n = self.conn.execute(
            "UPDATE contacts SET last_seen = max(last_seen, ?2) WHERE public_key = ?1",
            params![key.to_base64(), to_sql_time(now)],
        )?;
        Ok(n == 1)
    }

    /// Every contact, current ones first, then by name.
    pub fn list_contacts(&self) -> Result<Vec<Contact>> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {CONTACT_COLUMNS} FROM contacts
             ORDER BY replaced_by IS NOT NULL, name COLLATE NOCASE, public_key"
        ))?;
        let rows = stmt.query_map([], contact_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A distinct, valid key per byte value; the store never needs the secret half.
    pub fn key(n: u8) -> PublicKey {
        PublicKey::from_bytes([n; 32])
    }

    #[test]
    fn first_sighting_creates_then_updates_without_touching_first_seen_or_flags() {
        let mut s = Store::open_in_memory().unwrap();
        let (c, new) = s
            .mark_seen(&key(1), "alice", "10.0.0.1:6000", 6000, 100)
            .unwrap();
        assert!(new);
        assert_eq!((c.first_seen, c.last_seen), (100, 100));
        assert!(!c.verified && c.pinned && c.replaced_by.is_none());
        assert!(s.set_verified(&key(1), true).unwrap());

        let (c, new) = s
            .mark_seen(&key(1), "alice2", "10.0.0.9:6001", 6001, 250)
            .unwrap();
        assert!(!new);
        assert_eq!(c.name, "alice2");
        assert_eq!(c.last_address.as_deref(), Some("10.0.0.9:6001"));
        assert_eq!(c.listen_port, Some(6001));
        assert_eq!((c.first_seen, c.last_seen), (100, 250));
        assert!(c.verified, "a new sighting must not clear verification");

        // A late, out-of-order sighting never moves last_seen backwards.
        let (c, _) = s
            .mark_seen(&key(1), "alice2", "10.0.0.9:6001", 6001, 200)
            .unwrap();
        assert_eq!(c.last_seen, 250);
        assert_eq!(s.contact(&key(1)).unwrap(), Some(c));
    }

    #[test]
    fn unknown_contacts_are_none_and_flag_updates_report_false() {
        let mut s = Store::open_in_memory().unwrap();
        assert_eq!(s.contact(&key(9)).unwrap(), None);
        assert!(!s.set_verified(&key(9), true).unwrap());
        assert!(!s.set_pinned(&key(9), false).unwrap());
        assert!(s.list_contacts().unwrap().is_empty());
    }

    #[test]
    fn address_lookup_finds_the_latest_current_contact() {
        let mut s = Store::open_in_memory().unwrap();
        s.mark_seen(&key(1), "a", "127.0.0.1:6001", 6001, 10)
            .unwrap();
        s.mark_seen(&key(2), "b", "127.0.0.1:6001", 6001, 20)
            .unwrap();
        let found = s.contact_by_address("127.0.0.1:6001").unwrap().unwrap();
        assert_eq!(found.public_key, key(2));
        assert_eq!(s.contact_by_address("127.0.0.1:7000").unwrap(), None);
    }

    #[test]
    fn list_is_sorted_by_name_case_insensitively() {
        let mut s = Store::open_in_memory().unwrap();
        s.mark_seen(&key(1), "carol", "h:1", 1, 1).unwrap();
        s.mark_seen(&key(2), "Bob", "h:2", 2, 1).unwrap();
        s.mark_seen(&key(3), "alice", "h:3", 3, 1).unwrap();
        let names: Vec<_> = s
            .list_contacts()
            .unwrap()
            .into_iter()
            .map(|c| c.name)
            .collect();
        assert_eq!(names, ["alice", "Bob", "carol"]);
    }

    #[test]
    fn an_empty_name_never_replaces_a_stored_one() {
        let mut s = Store::open_in_memory().unwrap();
        s.mark_seen(&key(1), "Bob", "10.0.0.2:6000", 6000, 10)
            .unwrap();
        s.set_verified(&key(1), true).unwrap();
        // Bob restarted without a saved name: his hello carries "".
        let (c, _) = s.mark_seen(&key(1), "", "10.0.0.2:6000", 6000, 20).unwrap();
        assert_eq!(c.name, "Bob");
        assert!(c.verified);
        assert_eq!(c.last_seen, 20, "the sighting itself is still recorded");
        // A real rename still applies; a new contact may start nameless.
        let (c, _) = s
            .mark_seen(&key(1), "Robert", "10.0.0.2:6000", 6000, 30)
            .unwrap();
        assert_eq!(c.name, "Robert");
        let (c, new) = s.mark_seen(&key(2), "", "10.0.0.3:6000", 6000, 30).unwrap();
        assert!(new);
        assert_eq!(c.name, "");
    }

    #[test]
    fn only_a_dialable_address_replaces_the_stored_one() {
        let mut s = Store::open_in_memory().unwrap();
        s.mark_seen(&key(1), "a", "10.0.0.2:6000", 6000, 10)
            .unwrap();
        // No listen port announced: ip:0 cannot be dialled, keep the last good address.
        let (c, _) = s.mark_seen(&key(1), "a", "10.0.0.9:0", 0, 20).unwrap();
        assert_eq!(c.last_address.as_deref(), Some("10.0.0.2:6000"));
        assert_eq!(c.listen_port, Some(6000));
        // An ephemeral source port passed by mistake is not the announced port: ignored.
        let (c, _) = s
            .mark_seen(&key(1), "a", "10.0.0.9:53211", 6001, 30)
            .unwrap();
        assert_eq!(c.last_address.as_deref(), Some("10.0.0.2:6000"));
        let (c, _) = s
            .mark_seen(&key(1), "a", "10.0.0.9:6001", 6001, 40)
            .unwrap();
        assert_eq!(c.last_address.as_deref(), Some("10.0.0.9:6001"));
        assert_eq!(c.listen_port, Some(6001));
        // A new contact without a port has no address at all.
        let (c, _) = s.mark_seen(&key(2), "b", "10.0.0.3:0", 0, 40).unwrap();
        assert_eq!((c.last_address, c.listen_port), (None, None));
        assert_eq!(
            dialable_address("10.0.0.3".parse().unwrap(), 6000).as_deref(),
            Some("10.0.0.3:6000")
        );
        assert_eq!(
            dialable_address("2001:db8::1".parse().unwrap(), 6000).as_deref(),
            Some("[2001:db8::1]:6000")
        );
        assert_eq!(dialable_address("10.0.0.3".parse().unwrap(), 0), None);
    }

    #[test]
    fn a_nickname_is_shown_instead_and_survives_the_remote_renaming_itself() {
        let mut s = Store::open_in_memory().unwrap();
        s.mark_seen(&key(1), "bob", "h:1", 1, 1).unwrap();
        assert!(s.set_nickname(&key(1), Some("  Bob (work) ")).unwrap());
        let (c, _) = s.mark_seen(&key(1), "b0b", "h:1", 1, 2).unwrap();
        assert_eq!(c.name, "b0b", "the remote name is still recorded");
        assert_eq!(c.nickname.as_deref(), Some("Bob (work)"));
        assert_eq!(c.shown_name(), "Bob (work)");
        // Blank clears, like None.
        assert!(s.set_nickname(&key(1), Some("   ")).unwrap());
        assert_eq!(s.contact(&key(1)).unwrap().unwrap().shown_name(), "b0b");
        assert!(s.set_nickname(&key(1), Some("x")).unwrap());
        assert!(s.set_nickname(&key(1), None).unwrap());
        assert_eq!(s.contact(&key(1)).unwrap().unwrap().nickname, None);
        assert!(!s.set_nickname(&key(9), Some("nobody")).unwrap());
        // A rename never replaces the name with an empty one and leaves the nickname alone.
        s.set_nickname(&key(1), Some("Bobby")).unwrap();
        let renamed = s.rename_contact(&key(1), "Robert").unwrap().unwrap();
        assert_eq!(
            (renamed.name.as_str(), renamed.shown_name()),
            ("Robert", "Bobby")
        );
        let kept = s.rename_contact(&key(1), "").unwrap().unwrap();
        assert_eq!(kept.name, "Robert");
        assert!(s.rename_contact(&key(9), "x").unwrap().is_none());
        s.set_nickname(&key(1), None).unwrap();
    }

    #[test]
    fn a_nickname_survives_reopening_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.db");
        let mut s = Store::open(&path).unwrap();
        s.mark_seen(&key(1), "bob", "h:1", 1, 1).unwrap();
        s.set_nickname(&key(1), Some("Bobby")).unwrap();
        s.close().unwrap();
        let s = Store::open(&path).unwrap();
        assert_eq!(s.contact(&key(1)).unwrap().unwrap().shown_name(), "Bobby");
    }
}
