//! The local API token (PROTOCOL.md §8.11): `api-token` in the data directory, 32 random bytes
//! in base64url, mode 0600, new every launch and removed on a clean exit (`launch_file.rs`). A
//! WebSocket that presents it in `X-P2P-Chat-Api-Token` may send files by path; a browser cannot
//! set that header, so only the same user's own programs (`p2p-chat send-file`) can.

use std::path::Path;

/// The file's name inside the data directory.
pub const API_TOKEN_FILE: &str = "api-token";

/// The token of the peer running with data directory `dir`, if its file is there.
pub fn read(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join(API_TOKEN_FILE)).ok()?;
    let token = text.trim();
    (!token.is_empty()).then(|| token.to_owned())
}
