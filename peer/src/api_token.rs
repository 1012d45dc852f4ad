//! The local API token (PROTOCOL.md §8.11): `api-token` in the data directory, 32 random bytes
//! in base64url, mode 0600, new every launch and removed on a clean exit (like `ui-url`). A
//! WebSocket that presents it in `X-P2P-Chat-Api-Token` may send files by path; a browser cannot
//! set that header, so only the same user's own programs (`p2p-chat send-file`) can.

use std::io::Write;
use std::path::{Path, PathBuf};

/// The file's name inside the data directory.
pub const API_TOKEN_FILE: &str = "api-token";

/// This launch's file; removed when dropped (a clean exit).
#[derive(Debug)]
pub struct ApiTokenFile {
    path: PathBuf,
}

impl ApiTokenFile {
    /// Writes `token` to `dir/api-token`, mode 0600, replacing an older one.
    pub fn write(dir: &Path, token: &str) -> std::io::Result<ApiTokenFile> {
        let path = dir.join(API_TOKEN_FILE);
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
        file.write_all(format!("{token}\n").as_bytes())?;
        file.sync_all()?;
        Ok(ApiTokenFile { path })
    }
}

impl Drop for ApiTokenFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The token of the peer running with data directory `dir`, if its file is there.
pub fn read(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join(API_TOKEN_FILE)).ok()?;
    let token = text.trim();
    (!token.is_empty()).then(|| token.to_owned())
}
