//! The settings of the two opt-in indicators (PROTOCOL.md §8.10): typing indicators and read
//! receipts, each off unless turned on for everyone, and each overridable per contact. They
//! are rows of `settings` (no table of their own): `typing_indicators` and `read_receipts`
//! hold "on" or "off", `typing_indicators:<key>` and `read_receipts:<key>` a contact's
//! override. Absent means off for the global setting and "as the global one" for an override.

use std::collections::BTreeMap;

use crypto_core::PublicKey;
use rusqlite::params;

use super::error::Result;
use super::Store;

/// One of the two indicators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Indicator {
    /// "… is typing".
    Typing,
    /// "read" ticks.
    ReadReceipts,
}

impl Indicator {
    /// The `settings` key of the global setting, also the prefix of the overrides.
    fn key(self) -> &'static str {
        match self {
            Self::Typing => "typing_indicators",
            Self::ReadReceipts => "read_receipts",
        }
    }
}

/// One contact's overrides; `None` follows the global setting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IndicatorOverride {
    /// Typing indicators for this contact.
    pub typing: Option<bool>,
    /// Read receipts for this contact.
    pub read_receipts: Option<bool>,
}

impl IndicatorOverride {
    fn get(&self, which: Indicator) -> Option<bool> {
        match which {
            Indicator::Typing => self.typing,
            Indicator::ReadReceipts => self.read_receipts,
        }
    }

    fn set(&mut self, which: Indicator, value: Option<bool>) {
        match which {
            Indicator::Typing => self.typing = value,
            Indicator::ReadReceipts => self.read_receipts = value,
        }
    }

    fn is_empty(&self) -> bool {
        self.typing.is_none() && self.read_receipts.is_none()
    }
}

/// Both settings and every contact's overrides.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndicatorSettings {
    /// Typing indicators for everyone without an override (default off).
    pub typing: bool,
    /// Read receipts for everyone without an override (default off).
    pub read_receipts: bool,
    /// Contacts' overrides (only contacts with at least one).
    pub overrides: BTreeMap<PublicKey, IndicatorOverride>,
}

impl IndicatorSettings {
    /// Whether `which` is on with `key`: its override, else the global setting. Reciprocal:
    /// the same answer decides whether we send it to `key` and whether we show `key`'s.
    pub fn is_on(&self, which: Indicator, key: &PublicKey) -> bool {
        self.overrides
            .get(key)
            .and_then(|o| o.get(which))
            .unwrap_or(match which {
                Indicator::Typing => self.typing,
                Indicator::ReadReceipts => self.read_receipts,
            })
    }

    /// Applies a change of the global setting (`key` `None`) or of a contact's override.
    pub fn apply(&mut self, which: Indicator, key: Option<&PublicKey>, value: Option<bool>) {
        match key {
            None => match which {
                Indicator::Typing => self.typing = value.unwrap_or(false),
                Indicator::ReadReceipts => self.read_receipts = value.unwrap_or(false),
            },
            Some(key) => {
                let entry = self.overrides.entry(*key).or_default();
                entry.set(which, value);
                if entry.is_empty() {
                    self.overrides.remove(key);
                }
            }
        }
    }
}

fn text(value: bool) -> &'static str {
    if value {
        "on"
    } else {
        "off"
    }
}

impl Store {
    /// Both indicator settings and every override, as saved (defaults: all off).
    pub fn indicator_settings(&self) -> Result<IndicatorSettings> {
        let mut settings = IndicatorSettings::default();
        let mut stmt = self.conn.prepare_cached(
            "SELECT key, value FROM settings
             WHERE key IN ('typing_indicators', 'read_receipts')
                OR key LIKE 'typing_indicators:%' OR key LIKE 'read_receipts:%'",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        for row in rows {
            let (key, value) = row?;
            let on = value == "on";
            for which in [Indicator::Typing, Indicator::ReadReceipts] {
                if key == which.key() {
                    settings.apply(which, None, Some(on));
                } else if let Some(peer) = key
                    .strip_prefix(which.key())
                    .and_then(|rest| rest.strip_prefix(':'))
                {
                    // A key that no longer parses (edited by hand) is left out, not fatal.
                    if let Ok(peer) = PublicKey::from_base64(peer) {
                        settings.apply(which, Some(&peer), Some(on));
                    }
                }
            }
        }
        Ok(settings)
    }

    /// Saves a change of the global setting (`key` `None`; `value` `None` is off) or of a
    /// contact's override (`value` `None` removes it: the contact follows the global one).
    pub fn set_indicator(
        &mut self,
        which: Indicator,
        key: Option<&PublicKey>,
        value: Option<bool>,
    ) -> Result<()> {
        let name = match key {
            None => which.key().to_owned(),
            Some(key) => format!("{}:{}", which.key(), key.to_base64()),
        };
        match (key, value) {
            (Some(_), None) => {
                self.conn
                    .execute("DELETE FROM settings WHERE key = ?1", [&name])?;
            }
            (_, value) => {
                self.conn.execute(
                    "INSERT INTO settings (key, value) VALUES (?1, ?2)
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    params![name, text(value.unwrap_or(false))],
                )?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::contacts::tests::key;
    use super::*;

    #[test]
    fn off_by_default_overridable_per_contact_and_kept_across_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.db");
        let mut s = Store::open(&path).unwrap();
        let settings = s.indicator_settings().unwrap();
        assert_eq!(settings, IndicatorSettings::default());
        assert!(!settings.is_on(Indicator::Typing, &key(1)));
        assert!(!settings.is_on(Indicator::ReadReceipts, &key(1)));

        s.set_indicator(Indicator::ReadReceipts, None, Some(true))
            .unwrap();
        s.set_indicator(Indicator::ReadReceipts, Some(&key(1)), Some(false))
            .unwrap();
        s.set_indicator(Indicator::Typing, Some(&key(2)), Some(true))
            .unwrap();
        s.close().unwrap();
        let mut s = Store::open(&path).unwrap();
        let settings = s.indicator_settings().unwrap();
        assert!(settings.read_receipts && !settings.typing);
        assert!(
            !settings.is_on(Indicator::ReadReceipts, &key(1)),
            "override off"
        );
        assert!(
            settings.is_on(Indicator::ReadReceipts, &key(2)),
            "global on"
        );
        assert!(settings.is_on(Indicator::Typing, &key(2)), "override on");
        assert!(!settings.is_on(Indicator::Typing, &key(1)), "global off");

        // Removing an override: the contact follows the global setting again.
        s.set_indicator(Indicator::ReadReceipts, Some(&key(1)), None)
            .unwrap();
        let settings = s.indicator_settings().unwrap();
        assert!(settings.is_on(Indicator::ReadReceipts, &key(1)));
        assert_eq!(settings.overrides.len(), 1);
        // What the node keeps in memory matches what is saved.
        let mut mirror = IndicatorSettings::default();
        mirror.apply(Indicator::ReadReceipts, None, Some(true));
        mirror.apply(Indicator::Typing, Some(&key(2)), Some(true));
        assert_eq!(settings, mirror);
    }
}
