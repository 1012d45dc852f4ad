//! Keeps the data directory private (SECURITY.md "Secrets at rest"): the directory 0700, and
//! the identity, the database and SQLite's WAL, shared-memory and journal files 0600, also in
//! a directory an earlier version or the user created with wider modes.
//!
//! SQLite creates its `-wal` and `-shm` files with the database file's mode, so a missing
//! database is created here, empty and 0600, before SQLite opens it; SQLite takes an empty
//! file for a new database.

use std::io;
use std::path::{Path, PathBuf};

use crate::config::{DATABASE_FILE, IDENTITY_FILE};

/// A data directory that could not be made private.
#[derive(Debug, thiserror::Error)]
#[error("cannot make {} private: {source}", path.display())]
pub struct DataDirError {
    path: PathBuf,
    #[source]
    source: io::Error,
}

/// Writes `bytes` to `path` as a file only its owner can read (0600 on Unix), replacing it
/// atomically: written to a temporary file beside it, then renamed. For the small files other
/// processes of the same user read from the data directory.
pub fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let temporary = path.with_extension("tmp");
    let _ = std::fs::remove_file(&temporary);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&temporary)?;
    file.write_all(bytes)?;
    drop(file);
    std::fs::rename(&temporary, path)
}

/// The files of the data directory that must be 0600 (those that exist).
fn private_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = vec![dir.join(IDENTITY_FILE), dir.join(DATABASE_FILE)];
    for suffix in ["-wal", "-shm", "-journal"] {
        files.push(dir.join(format!("{DATABASE_FILE}{suffix}")));
    }
    files
}

/// Makes `dir` (which exists) 0700 and its files 0600, creating an empty 0600 database if
/// there is none. Symbolic links inside it are left alone (their targets are not ours to
/// change).
#[cfg(unix)]
pub fn make_private(dir: &Path) -> Result<(), DataDirError> {
    use std::fs;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};

    let error = |path: &Path| {
        let path = path.to_owned();
        move |source| DataDirError { path, source }
    };
    let dir_mode = fs::metadata(dir).map_err(error(dir))?.permissions().mode() & 0o777;
    if dir_mode != 0o700 {
        set_mode(dir, 0o700).map_err(error(dir))?;
        tracing::warn!("{} was mode {dir_mode:o}; made it 0700", dir.display());
    }
    let database = dir.join(DATABASE_FILE);
    match fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&database)
    {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(error(&database)(e)),
    }
    for file in private_files(dir) {
        let meta = match fs::symlink_metadata(&file) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(error(&file)(e)),
        };
        if meta.file_type().is_file() && meta.permissions().mode() & 0o777 != 0o600 {
            set_mode(&file, 0o600).map_err(error(&file))?;
            tracing::warn!("{} was readable by others; made it 0600", file.display());
        }
    }
    Ok(())
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

/// Elsewhere file modes do not apply.
#[cfg(not(unix))]
pub fn make_private(_dir: &Path) -> Result<(), DataDirError> {
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        fs::symlink_metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn an_open_directory_and_its_files_are_made_private() {
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("data");
        fs::create_dir(&dir).unwrap();
        set_mode(&dir, 0o755).unwrap();
        for file in private_files(&dir) {
            fs::write(&file, b"x").unwrap();
            set_mode(&file, 0o644).unwrap();
        }
        make_private(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        for file in private_files(&dir) {
            assert_eq!(mode(&file), 0o600, "{}", file.display());
            assert_eq!(fs::read(&file).unwrap(), b"x", "contents kept");
        }
    }

    #[test]
    fn a_missing_database_is_created_empty_and_private_so_sqlite_wal_inherits_it() {
        let dir = tempfile::tempdir().unwrap();
        make_private(dir.path()).unwrap();
        let database = dir.path().join(DATABASE_FILE);
        assert_eq!(fs::metadata(&database).unwrap().len(), 0);
        assert_eq!(mode(&database), 0o600);
        let conn = rusqlite::Connection::open(&database).unwrap();
        let journal: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
            .unwrap();
        assert_eq!(journal, "wal");
        conn.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
            .unwrap();
        for suffix in ["-wal", "-shm"] {
            let file = dir.path().join(format!("{DATABASE_FILE}{suffix}"));
            assert_eq!(mode(&file), 0o600, "{}", file.display());
        }
        // Absent files are not created, and a second call changes nothing.
        assert!(!dir.path().join(IDENTITY_FILE).exists());
        make_private(dir.path()).unwrap();
    }

    #[test]
    fn a_symlink_in_the_directory_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::NamedTempFile::new().unwrap();
        set_mode(outside.path(), 0o644).unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join(IDENTITY_FILE)).unwrap();
        make_private(dir.path()).unwrap();
        assert_eq!(mode(outside.path()), 0o644);
    }
}
