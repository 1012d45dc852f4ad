//! Small local settings as key/value pairs: our own display name, saved so that a restart keeps
//! it (`--name` at start overrides it; that is the node's business, this only stores).

use rusqlite::{params, OptionalExtension};

use super::error::{Result, StoreError};
use super::Store;

/// The setting holding our own display name.
const OWN_NAME: &str = "own_name";

/// Longest value kept; settings are ours, but a bound keeps a bug from filling the disk.
const MAX_VALUE_BYTES: usize = 4096;

impl Store {
    /// One setting's value, if set.
    pub fn setting(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()?)
    }

    /// Sets (`Some`) or removes (`None`) a setting.
    pub fn set_setting(&mut self, key: &str, value: Option<&str>) -> Result<()> {
        match value {
            Some(value) if value.len() > MAX_VALUE_BYTES => Err(StoreError::Invalid(format!(
                "setting {key:?} is longer than {MAX_VALUE_BYTES} bytes"
            ))),
            Some(value) => {
                self.conn.execute(
                    "INSERT INTO settings (key, value) VALUES (?1, ?2)
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    params![key, value],
                )?;
                Ok(())
            }
            None => {
                self.conn
                    .execute("DELETE FROM settings WHERE key = ?1", [key])?;
                Ok(())
            }
        }
    }

    /// Our saved display name (`None` if never set).
    pub fn own_name(&self) -> Result<Option<String>> {
        self.setting(OWN_NAME)
    }

    /// Saves our display name (the caller has already cleaned and truncated it).
    pub fn set_own_name(&mut self, name: &str) -> Result<()> {
        self.set_setting(OWN_NAME, Some(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_name_is_saved_and_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.db");
        let mut s = Store::open(&path).unwrap();
        assert_eq!(s.own_name().unwrap(), None);
        s.set_own_name("Alice").unwrap();
        s.set_own_name("Alice B").unwrap();
        s.close().unwrap();
        let s = Store::open(&path).unwrap();
        assert_eq!(s.own_name().unwrap().as_deref(), Some("Alice B"));
    }

    #[test]
    fn settings_can_be_removed_and_are_bounded() {
        let mut s = Store::open_in_memory().unwrap();
        s.set_setting("k", Some("v")).unwrap();
        assert_eq!(s.setting("k").unwrap().as_deref(), Some("v"));
        s.set_setting("k", None).unwrap();
        assert_eq!(s.setting("k").unwrap(), None);
        let huge = "x".repeat(MAX_VALUE_BYTES + 1);
        assert!(matches!(
            s.set_setting("k", Some(&huge)),
            Err(StoreError::Invalid(_))
        ));
        assert_eq!(s.setting("k").unwrap(), None);
    }
}
