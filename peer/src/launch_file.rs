//! A file in the data directory that lives for one launch of the peer: `ui-url` (`ui_url.rs`)
//! and `api-token` (`api_token.rs`). Both hold a secret as good as the UI itself (SECURITY.md),
//! so the file is created fresh with mode 0600 every launch (a mode loosened by hand on an old
//! one does not carry over) and removed on a clean exit.

use std::io::Write;
use std::path::{Path, PathBuf};

/// This launch's file; removed when dropped (a clean exit).
#[derive(Debug)]
pub struct LaunchFile {
    path: PathBuf,
}

impl LaunchFile {
    /// Writes `text` and a newline to `dir/name`, mode 0600, replacing an older file.
    pub fn write(dir: &Path, name: &str, text: &str) -> std::io::Result<LaunchFile> {
        let path = dir.join(name);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&path)?;
        file.write_all(format!("{text}\n").as_bytes())?;
        file.sync_all()?;
        Ok(LaunchFile { path })
    }
}

impl Drop for LaunchFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
