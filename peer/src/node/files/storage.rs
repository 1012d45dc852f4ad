//! Where files live under the data directory (README, "Where received files land"):
//!
//! ```text
//! files/received/<cleaned name>   complete, verified received files
//! files/partial/<key>.part        a received file on its way, with <key>.leaves: the leaf
//!                                 hash of every chunk verified and written so far
//! files/sent/<key>                our copy of an uploaded file (a file sent by path stays
//!                                 where it is), with <key>.leaves: the leaves we offered
//! files/uploads/<key>             an upload not sent yet (deleted at the next start)
//! ```
//!
//! Directories are 0700 and files 0600, like the rest of the data directory (SECURITY.md).

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

/// The files directory's layout.
#[derive(Debug, Clone)]
pub struct Dirs {
    root: PathBuf,
    received: PathBuf,
}

impl Dirs {
    /// The layout under `root` (`<data dir>/files`).
    pub fn new(root: PathBuf) -> Self {
        Self {
            received: root.join("received"),
            root,
        }
    }

    /// The layout `config` names (received files elsewhere for the terminal chat).
    pub fn of(config: &super::FilesConfig) -> Self {
        let mut dirs = Self::new(config.dir.clone());
        if let Some(received) = &config.received_dir {
            dirs.received = received.clone();
        }
        dirs
    }

    /// The files directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Creates every directory (0700), tightening modes of existing ones.
    pub fn create(&self) -> std::io::Result<()> {
        for dir in [
            self.root.clone(),
            self.received_dir(),
            self.root.join("partial"),
            self.root.join("sent"),
            self.root.join("uploads"),
        ] {
            let mut builder = std::fs::DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
                builder.mode(0o700);
                builder.create(&dir)?;
                std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
            }
            #[cfg(not(unix))]
            builder.create(&dir)?;
        }
        Ok(())
    }

    /// Where complete received files are.
    pub fn received_dir(&self) -> PathBuf {
        self.received.clone()
    }

    /// A complete received file.
    pub fn received(&self, name: &str) -> PathBuf {
        self.received_dir().join(name)
    }

    /// A received file on its way.
    pub fn partial(&self, key: &str) -> PathBuf {
        self.root.join("partial").join(format!("{key}.part"))
    }

    /// The verified leaves of a received file on its way.
    pub fn partial_leaves(&self, key: &str) -> PathBuf {
        self.root.join("partial").join(format!("{key}.leaves"))
    }

    /// Our copy of an uploaded file.
    pub fn sent_copy(&self, key: &str) -> PathBuf {
        self.root.join("sent").join(key)
    }

    /// The leaves we offered for one of our files.
    pub fn sent_leaves(&self, key: &str) -> PathBuf {
        self.root.join("sent").join(format!("{key}.leaves"))
    }

    /// The uploads directory.
    pub fn uploads_dir(&self) -> PathBuf {
        self.root.join("uploads")
    }

    /// An upload (complete once renamed from its `.part`).
    pub fn upload(&self, key: &str) -> PathBuf {
        self.uploads_dir().join(key)
    }
}

/// Creates (or truncates) `path` as a private file, mode 0600.
pub fn create_private(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// Flushes a directory's entries (a rename or a new file in it) to disk.
pub fn sync_dir(path: &Path) {
    if let Ok(dir) = File::open(path) {
        let _ = dir.sync_all();
    }
}

/// Whether `text` is a key as [`crate::store::new_file_key`] makes them: 32 lowercase hex
/// digits (so a key from a URL can never name another path).
pub fn is_key(text: &str) -> bool {
    text.len() == 32 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}
