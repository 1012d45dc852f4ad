//! Contacts' names by skeleton (PROTOCOL.md §8.3), so the confusable check of a stranger's name
//! is two lookups, not a scan of every contact with its skeletons recomputed: with 10,000
//! contacts that scan cost the store thread ~167 ms per stranger's handshake in a debug build
//! (SECURITY.md). The index is rebuilt only when `contact_names_version` moved (schema v8: its
//! triggers count every change of a contact's name, nickname or replacement).

use std::collections::{BTreeSet, HashMap};

use crypto_core::PublicKey;

use super::{Result, Store};
use crate::confusable::Skeleton;

/// Current contacts' names (announced and nickname) by both kinds of skeleton.
pub(super) struct NameIndex {
    version: i64,
    folded_first: HashMap<String, Vec<PublicKey>>,
    mapped_first: HashMap<String, Vec<PublicKey>>,
}

impl NameIndex {
    fn build(store: &Store, version: i64) -> Result<Self> {
        let mut index = NameIndex {
            version,
            folded_first: HashMap::new(),
            mapped_first: HashMap::new(),
        };
        for contact in store.list_contacts()? {
            if contact.replaced_by.is_some() {
                continue;
            }
            let names = std::iter::once(contact.name.as_str()).chain(contact.nickname.as_deref());
            for name in names {
                let skeleton = Skeleton::of(name);
                if skeleton.is_empty() {
                    continue;
                }
                let (folded, mapped) = skeleton.parts();
                index
                    .folded_first
                    .entry(folded.to_owned())
                    .or_default()
                    .push(contact.public_key);
                index
                    .mapped_first
                    .entry(mapped.to_owned())
                    .or_default()
                    .push(contact.public_key);
            }
        }
        Ok(index)
    }
}

impl Store {
    /// The current contacts (other than `except`) whose announced name or nickname is equal or
    /// confusable with `name` (PROTOCOL.md §8.3's `confusable_with`), as peer_ids, sorted.
    pub fn confusable_contacts(
        &self,
        name: &str,
        except: Option<&PublicKey>,
    ) -> Result<Vec<String>> {
        let skeleton = Skeleton::of(name);
        if skeleton.is_empty() {
            return Ok(Vec::new());
        }
        let version: i64 = self
            .conn
            .prepare_cached("SELECT version FROM contact_names_version")?
            .query_row([], |r| r.get(0))?;
        let stale = self
            .name_index
            .borrow()
            .as_ref()
            .is_none_or(|index| index.version != version);
        if stale {
            let index = NameIndex::build(self, version)?;
            *self.name_index.borrow_mut() = Some(index);
        }
        let cache = self.name_index.borrow();
        let Some(index) = cache.as_ref() else {
            return Ok(Vec::new());
        };
        let (folded, mapped) = skeleton.parts();
        let found: BTreeSet<String> = index
            .folded_first
            .get(folded)
            .into_iter()
            .chain(index.mapped_first.get(mapped))
            .flatten()
            .filter(|key| Some(*key) != except)
            .map(PublicKey::to_base64)
            .collect();
        Ok(found.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::super::contacts::tests::key;
    use super::*;

    #[test]
    fn the_index_follows_names_nicknames_and_new_contacts() {
        let mut s = Store::open_in_memory().unwrap();
        s.mark_seen(&key(1), "bob", "127.0.0.1:6001", 6001, 10)
            .unwrap();
        assert_eq!(
            s.confusable_contacts("b\u{43e}b", None).unwrap(),
            [key(1).to_base64()]
        );
        assert_eq!(
            s.confusable_contacts("b0b", None).unwrap(),
            [key(1).to_base64()]
        );
        assert!(s
            .confusable_contacts("bob", Some(&key(1)))
            .unwrap()
            .is_empty());
        // A rename is seen at the next check; so is a new contact.
        s.mark_seen(&key(1), "robert", "127.0.0.1:6001", 6001, 20)
            .unwrap();
        assert!(s.confusable_contacts("bob", None).unwrap().is_empty());
        s.mark_seen(&key(2), "BOB", "127.0.0.1:6002", 6002, 30)
            .unwrap();
        assert_eq!(
            s.confusable_contacts("bob", None).unwrap(),
            [key(2).to_base64()]
        );
        // An unchanged name does not move the version (no rebuild per handshake).
        let version = |s: &Store| -> i64 {
            s.conn
                .query_row("SELECT version FROM contact_names_version", [], |r| {
                    r.get(0)
                })
                .unwrap()
        };
        let before = version(&s);
        s.mark_seen(&key(2), "BOB", "127.0.0.1:6002", 6002, 40)
            .unwrap();
        assert_eq!(version(&s), before);
        assert!(s.confusable_contacts("", None).unwrap().is_empty());
    }
}
