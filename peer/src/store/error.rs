//! The one error type of the store.
//!
//! Opening the database is where the user-facing failures happen (a second p2p-chat on the same
//! data directory, a file that is not ours, a database written by a newer p2p-chat), so those get
//! their own variants with sentences a person can act on; everything else is wrapped SQLite.

use rusqlite::ErrorCode;

/// What can go wrong in the store. `Display` gives a sentence suitable for the terminal.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database was written by a newer p2p-chat whose schema this build does not know.
    /// Refusing is safer than guessing: an older binary could silently drop queued messages.
    #[error(
        "the database has schema version {found} but this p2p-chat only knows versions up to \
         {supported}; run a newer p2p-chat or choose another --data-dir"
    )]
    NewerSchema {
        /// `PRAGMA user_version` found in the file.
        found: i64,
        /// The highest version this build can migrate to.
        supported: i64,
    },
    /// The file is not a p2p-chat database: not SQLite at all, damaged, or another
    /// application's database.
    #[error("the database is corrupt or not a p2p-chat database: {reason}")]
    Corrupt {
        /// What SQLite (or the schema check) reported.
        reason: String,
    },
    /// Another process holds a lock on the database, normally another p2p-chat using the same
    /// data directory.
    #[error(
        "the database is locked by another process (is another p2p-chat running with this data \
         directory?)"
    )]
    Locked,
    /// The caller passed something the store refuses to record (e.g. a message with no
    /// recipients); the message says what.
    #[error("{0}")]
    Invalid(String),
    /// A row with this identity already exists (message id reused by its sender, room id taken).
    #[error("{0} already exists")]
    Duplicate(String),
    /// Any other SQLite failure (disk full, I/O error, ...).
    #[error("database error: {0}")]
    Sqlite(rusqlite::Error),
}

impl From<rusqlite::Error> for StoreError {
    /// Classifies SQLite's result codes so that a lock or corruption met at any time, not only
    /// at open, reaches the caller as the variant that explains it.
    fn from(err: rusqlite::Error) -> Self {
        match err.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Locked,
            Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => StoreError::Corrupt {
                reason: err.to_string(),
            },
            _ => StoreError::Sqlite(err),
        }
    }
}

/// Result alias used throughout the store.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_codes_map_to_explaining_variants() {
        let busy = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
            None,
        );
        assert!(matches!(StoreError::from(busy), StoreError::Locked));
        let notadb = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_NOTADB),
            None,
        );
        assert!(matches!(
            StoreError::from(notadb),
            StoreError::Corrupt { .. }
        ));
        let other = rusqlite::Error::QueryReturnedNoRows;
        assert!(matches!(StoreError::from(other), StoreError::Sqlite(_)));
    }

    #[test]
    fn messages_are_sentences_a_user_can_act_on() {
        let newer = StoreError::NewerSchema {
            found: 9,
            supported: 1,
        };
        let text = newer.to_string();
        assert!(
            text.contains("version 9") && text.contains("up to 1"),
            "{text}"
        );
        assert!(StoreError::Locked.to_string().contains("another p2p-chat"));
    }
}
