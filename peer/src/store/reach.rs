//! Where a contact can be reached: a small list of addresses per contact key, newest first.
//!
//! The list is changed only through the two methods here, and the node calls them only for
//! what it may believe: [`Store::record_announced_addresses`] for addresses the contact itself
//! told us over its authenticated session (or its invite carried), and
//! [`Store::record_reached`] after a session with that very key succeeded at an address. An
//! address a third party relayed is only a dial hint: it enters the list through
//! `record_reached`, once the key answered there, never before. The list is bounded
//! ([`MAX_CONTACT_ADDRESSES`]); the least recently useful address goes first.

use crypto_core::PublicKey;
use rusqlite::{params, Connection, OptionalExtension};

use super::error::{Result, StoreError};
use super::{from_sql_time, to_sql_time, Store};

/// Addresses kept per contact.
pub const MAX_CONTACT_ADDRESSES: i64 = 8;

/// How an address was learned or what it is: the same kinds `info.addresses` tags our own
/// addresses with, stored by their protocol spelling.
pub use crate::reach::AddressKind;

/// One known address of a contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactAddress {
    /// `host:port` (IPv6 in brackets).
    pub address: String,
    /// What kind of address it is.
    pub kind: AddressKind,
    /// When the contact last told us about it (or we last reached it there), Unix ms.
    pub last_heard: u64,
    /// When a session with the contact's key last succeeded there, Unix ms.
    pub last_worked: Option<u64>,
}

/// Longest address string accepted (a bracketed IPv6 with zone and port is far shorter).
const MAX_ADDRESS_LEN: usize = 128;

fn check_address(address: &str) -> Result<()> {
    if address.is_empty() || address.len() > MAX_ADDRESS_LEN {
        return Err(StoreError::Invalid(format!(
            "an address must be 1-{MAX_ADDRESS_LEN} bytes"
        )));
    }
    Ok(())
}

fn is_current_contact(conn: &Connection, b64: &str) -> Result<bool> {
    Ok(conn
        .query_row(
            "SELECT 1 FROM contacts WHERE public_key = ?1 AND replaced_by IS NULL",
            [b64],
            |_| Ok(()),
        )
        .optional()?
        .is_some())
}

/// Keeps the newest [`MAX_CONTACT_ADDRESSES`] of `b64`'s addresses.
fn bound(conn: &Connection, b64: &str) -> Result<()> {
    conn.execute(
        "DELETE FROM contact_addresses WHERE contact = ?1 AND address IN (
             SELECT address FROM contact_addresses WHERE contact = ?1
             ORDER BY max(coalesce(last_worked, 0), last_heard) DESC, address
             LIMIT -1 OFFSET ?2)",
        params![b64, MAX_CONTACT_ADDRESSES],
    )?;
    Ok(())
}

impl Store {
    /// Records addresses `key` told us itself, over its authenticated session, or that its
    /// invite carried (the node must not call this for anything a third party said). Newer
    /// ones go first; beyond [`MAX_CONTACT_ADDRESSES`] the least recent are dropped. Returns
    /// false (and stores nothing) if `key` is not a current contact.
    pub fn record_announced_addresses(
        &mut self,
        key: &PublicKey,
        addresses: &[(&str, AddressKind)],
        now: u64,
    ) -> Result<bool> {
        for (address, _) in addresses {
            check_address(address)?;
        }
        let b64 = key.to_base64();
        let tx = self.conn.savepoint()?;
        if !is_current_contact(&tx, &b64)? {
            return Ok(false);
        }
        {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO contact_addresses (contact, address, kind, last_heard)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (contact, address) DO UPDATE SET kind = excluded.kind,
                     last_heard = max(last_heard, excluded.last_heard)",
            )?;
            // Only the first MAX would survive the bound anyway; later ones lose ties.
            for (address, kind) in addresses.iter().take(MAX_CONTACT_ADDRESSES as usize) {
                stmt.execute(params![b64, address, kind.as_str(), to_sql_time(now)])?;
            }
        }
        bound(&tx, &b64)?;
        tx.commit()?;
        Ok(true)
    }

    /// Records that a session with `key` succeeded at `address` (we dialled it expecting that
    /// key, or a punched session with that key completed there). The only way a dial hint from
    /// a third party enters the list. Returns false if `key` is not a current contact.
    pub fn record_reached(
        &mut self,
        key: &PublicKey,
        address: &str,
        kind: AddressKind,
        now: u64,
    ) -> Result<bool> {
        check_address(address)?;
        let b64 = key.to_base64();
        let tx = self.conn.savepoint()?;
        if !is_current_contact(&tx, &b64)? {
            return Ok(false);
        }
        tx.execute(
            "INSERT INTO contact_addresses (contact, address, kind, last_heard, last_worked)
             VALUES (?1, ?2, ?3, ?4, ?4)
             ON CONFLICT (contact, address) DO UPDATE SET
                 last_heard = max(last_heard, excluded.last_heard),
                 last_worked = max(coalesce(last_worked, 0), excluded.last_worked)",
            params![b64, address, kind.as_str(), to_sql_time(now)],
        )?;
        bound(&tx, &b64)?;
        tx.commit()?;
        Ok(true)
    }

    /// The known addresses of `key`, most recently useful first (the order to redial in).
    pub fn contact_addresses(&self, key: &PublicKey) -> Result<Vec<ContactAddress>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT address, kind, last_heard, last_worked FROM contact_addresses
             WHERE contact = ?1
             ORDER BY max(coalesce(last_worked, 0), last_heard) DESC, address",
        )?;
        let rows = stmt.query_map([key.to_base64()], |r| {
            let kind: String = r.get(1)?;
            Ok(ContactAddress {
                address: r.get(0)?,
                // The CHECK constraint admits only the four spellings.
                kind: AddressKind::parse(&kind).unwrap_or(AddressKind::Observed),
                last_heard: from_sql_time(r.get(2)?),
                last_worked: r.get::<_, Option<i64>>(3)?.map(from_sql_time),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

/// Room co-members listed for keeping connected at most (a peer in many large rooms still
/// dials a bounded number of people it never met).
pub const MAX_CO_MEMBERS: i64 = 1024;

impl Store {
    /// Where to dial `key`: its known addresses with their kinds, most recently useful first,
    /// then its last dialable address (kind unknown) if not among them. Empty for a key that is
    /// not a current contact.
    pub fn dial_candidates(&self, key: &PublicKey) -> Result<Vec<(String, Option<AddressKind>)>> {
        let Some(contact) = self.contact(key)?.filter(|c| c.replaced_by.is_none()) else {
            return Ok(Vec::new());
        };
        let mut list: Vec<(String, Option<AddressKind>)> = self
            .contact_addresses(key)?
            .into_iter()
            .map(|a| (a.address, Some(a.kind)))
            .collect();
        if let Some(last) = contact
            .last_address
            .filter(|_| contact.listen_port != Some(0))
        {
            if !list.iter().any(|(a, _)| *a == last) {
                list.push((last, None));
            }
        }
        Ok(list)
    }

    /// Every current contact that is not blocked: whom the peer keeps connected.
    pub fn contacts_to_keep(&self) -> Result<Vec<PublicKey>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT public_key FROM contacts WHERE replaced_by IS NULL
             AND public_key NOT IN (SELECT public_key FROM blocked)",
        )?;
        let keys = stmt.query_map([], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for key in keys {
            if let Ok(key) = PublicKey::from_base64(&key?) {
                out.push(key);
            }
        }
        Ok(out)
    }

    /// Whether `me` and `key` are both members of one room (PROTOCOL.md §7.2: an
    /// introduction from a room co-member is answered like a contact's).
    pub fn shares_room(&self, me: &PublicKey, key: &PublicKey) -> Result<bool> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT 1 FROM room_members a JOIN room_members b ON a.room = b.room
                 WHERE a.member = ?1 AND b.member = ?2 LIMIT 1",
            )?
            .query_row(params![me.to_base64(), key.to_base64()], |_| Ok(()))
            .optional()?
            .is_some())
    }

    /// The members of our rooms who are not contacts (people we never met), at most
    /// [`MAX_CO_MEMBERS`]; blocked keys are left out.
    pub fn co_members_never_met(&self, me: &PublicKey) -> Result<Vec<PublicKey>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT DISTINCT b.member FROM room_members a JOIN room_members b ON a.room = b.room
             WHERE a.member = ?1 AND b.member != ?1
             AND b.member NOT IN (SELECT public_key FROM contacts WHERE replaced_by IS NULL)
             AND b.member NOT IN (SELECT public_key FROM blocked)
             LIMIT ?2",
        )?;
        let keys = stmt.query_map(params![me.to_base64(), MAX_CO_MEMBERS], |r| {
            r.get::<_, String>(0)
        })?;
        let mut out = Vec::new();
        for key in keys {
            if let Ok(key) = PublicKey::from_base64(&key?) {
                out.push(key);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::super::contacts::tests::key;
    use super::*;

    fn with_bob() -> Store {
        let mut s = Store::open_in_memory().unwrap();
        s.mark_seen(&key(2), "bob", "10.0.0.2:6000", 6000, 1)
            .unwrap();
        s
    }

    fn listed(s: &Store, n: u8) -> Vec<String> {
        s.contact_addresses(&key(n))
            .unwrap()
            .into_iter()
            .map(|a| a.address)
            .collect()
    }

    #[test]
    fn announced_addresses_are_kept_newest_first_and_bounded() {
        let mut s = with_bob();
        for i in 0..12u64 {
            let address = format!("192.0.2.{i}:6000");
            assert!(s
                .record_announced_addresses(&key(2), &[(&address, AddressKind::Mapped)], 10 + i)
                .unwrap());
        }
        let list = listed(&s, 2);
        assert_eq!(list.len() as i64, MAX_CONTACT_ADDRESSES);
        assert_eq!(list[0], "192.0.2.11:6000");
        assert_eq!(list[7], "192.0.2.4:6000");
        // Hearing an old address again moves it to the front.
        s.record_announced_addresses(&key(2), &[("192.0.2.5:6000", AddressKind::Lan)], 100)
            .unwrap();
        let first = &s.contact_addresses(&key(2)).unwrap()[0];
        assert_eq!(first.address, "192.0.2.5:6000");
        assert_eq!(
            (first.kind, first.last_heard, first.last_worked),
            (AddressKind::Lan, 100, None)
        );
    }

    #[test]
    fn an_address_that_worked_is_preferred_and_marked() {
        let mut s = with_bob();
        s.record_announced_addresses(
            &key(2),
            &[
                ("10.0.0.2:6000", AddressKind::Lan),
                ("[2001:db8::2]:6000", AddressKind::Ipv6),
            ],
            10,
        )
        .unwrap();
        assert!(s
            .record_reached(&key(2), "198.51.100.7:40000", AddressKind::Observed, 20)
            .unwrap());
        let list = s.contact_addresses(&key(2)).unwrap();
        assert_eq!(list[0].address, "198.51.100.7:40000");
        assert_eq!(list[0].last_worked, Some(20));
        assert_eq!(list.len(), 3);
        // Reaching a known address again only moves its times forward.
        s.record_reached(&key(2), "10.0.0.2:6000", AddressKind::Lan, 30)
            .unwrap();
        s.record_reached(&key(2), "10.0.0.2:6000", AddressKind::Lan, 25)
            .unwrap();
        let lan = &s.contact_addresses(&key(2)).unwrap()[0];
        assert_eq!(
            (lan.address.as_str(), lan.last_worked),
            ("10.0.0.2:6000", Some(30))
        );
    }

    #[test]
    fn only_current_contacts_have_addresses_and_bad_ones_are_refused() {
        let mut s = with_bob();
        // A stranger (or a key a third party names) gets no list.
        assert!(!s
            .record_announced_addresses(&key(9), &[("192.0.2.1:1", AddressKind::Lan)], 1)
            .unwrap());
        assert!(!s
            .record_reached(&key(9), "192.0.2.1:1", AddressKind::Lan, 1)
            .unwrap());
        assert!(s.contact_addresses(&key(9)).unwrap().is_empty());
        assert!(matches!(
            s.record_reached(&key(2), "", AddressKind::Lan, 1),
            Err(StoreError::Invalid(_))
        ));
        let long = "x".repeat(MAX_ADDRESS_LEN + 1);
        assert!(s
            .record_announced_addresses(&key(2), &[(&long, AddressKind::Lan)], 1)
            .is_err());
        assert!(s.contact_addresses(&key(2)).unwrap().is_empty());
        assert_eq!(AddressKind::parse("mapped"), Some(AddressKind::Mapped));
        assert_eq!(AddressKind::parse("relay"), None);
    }

    #[test]
    fn addresses_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.db");
        let mut s = Store::open(&path).unwrap();
        s.mark_seen(&key(2), "bob", "10.0.0.2:6000", 6000, 1)
            .unwrap();
        s.record_reached(&key(2), "10.0.0.2:6000", AddressKind::Lan, 5)
            .unwrap();
        s.close().unwrap();
        let s = Store::open(&path).unwrap();
        assert_eq!(listed(&s, 2), ["10.0.0.2:6000"]);
    }

    #[test]
    fn dial_candidates_list_the_known_addresses_then_the_last_one() {
        let mut s = with_bob();
        assert_eq!(
            s.dial_candidates(&key(2)).unwrap(),
            [("10.0.0.2:6000".to_owned(), None)]
        );
        s.record_announced_addresses(&key(2), &[("192.0.2.9:6000", AddressKind::Mapped)], 5)
            .unwrap();
        assert_eq!(
            s.dial_candidates(&key(2)).unwrap(),
            [
                ("192.0.2.9:6000".to_owned(), Some(AddressKind::Mapped)),
                ("10.0.0.2:6000".to_owned(), None)
            ]
        );
        assert!(s.dial_candidates(&key(9)).unwrap().is_empty());
        assert_eq!(s.contacts_to_keep().unwrap(), vec![key(2)]);
        s.block_key(&key(2), 6).unwrap();
        assert!(s.contacts_to_keep().unwrap().is_empty());
    }

    #[test]
    fn room_co_members_are_known_and_those_never_met_listed() {
        let mut s = with_bob();
        let me = key(1);
        s.create_own_room(&me, "r", "trip", &[key(2), key(3)], 1)
            .unwrap();
        assert!(s.shares_room(&me, &key(3)).unwrap());
        assert!(s.shares_room(&me, &key(2)).unwrap());
        assert!(!s.shares_room(&me, &key(4)).unwrap());
        assert_eq!(s.co_members_never_met(&me).unwrap(), vec![key(3)]);
    }
}
