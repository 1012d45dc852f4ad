//! The running peer's UI address in its data directory, so `p2p-chat url` can print it again
//! after the tab was closed.
//!
//! The file `ui-url` holds `http://HOST:PORT/?token=TOKEN` and a newline. It is created mode
//! 0600 at start (the token is as good as the UI itself, SECURITY.md), replaced by every launch
//! (each launch has a new token) and removed on a clean exit. A file left by a crashed peer is
//! recognised as stale because nothing answers `GET /healthz` at its address.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The file's name inside the data directory.
pub const UI_URL_FILE: &str = "ui-url";

/// Why `p2p-chat url` has nothing to print.
#[derive(Debug, thiserror::Error)]
pub enum UrlError {
    /// No file: no peer was started with this data directory, or it exited.
    #[error("no running peer for {0} (no {UI_URL_FILE} file there)")]
    NotRunning(PathBuf),
    /// The file's address does not answer: the peer is gone (killed, crashed).
    #[error("the peer that wrote {0} is not running any more")]
    Stale(PathBuf),
    /// The file is unreadable or not a UI URL.
    #[error("{path}: {reason}")]
    Bad {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// The URL of the peer running with data directory `dir`, checked to answer `/healthz`.
pub fn running_url(dir: &Path) -> Result<String, UrlError> {
    let path = dir.join(UI_URL_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(UrlError::NotRunning(dir.to_owned()))
        }
        Err(e) => {
            return Err(UrlError::Bad {
                path,
                reason: e.to_string(),
            })
        }
    };
    let url = text.trim().to_owned();
    let authority = url
        .strip_prefix("http://")
        .and_then(|rest| rest.split_once('/'))
        .map(|(authority, _)| authority.to_owned())
        .filter(|_| url.contains("/?token="))
        .ok_or_else(|| UrlError::Bad {
            path: path.clone(),
            reason: "not a p2p-chat UI URL".into(),
        })?;
    if healthy(&authority) {
        Ok(url)
    } else {
        Err(UrlError::Stale(path))
    }
}

/// Whether `GET /healthz` at `authority` (`HOST:PORT`) answers `200` with body `ok`.
pub fn healthy(authority: &str) -> bool {
    let Some(addr) = authority.to_socket_addrs().ok().and_then(|mut a| a.next()) else {
        return false;
    };
    probe(addr, authority).unwrap_or(false)
}

fn probe(addr: SocketAddr, authority: &str) -> std::io::Result<bool> {
    let timeout = Duration::from_secs(2);
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(
        stream,
        "GET /healthz HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = Vec::new();
    // A health answer is a few hundred bytes; never read more than 16 KiB from whoever it is.
    stream.take(16 * 1024).read_to_end(&mut response)?;
    let text = String::from_utf8_lossy(&response);
    Ok(text.starts_with("HTTP/1.1 200") && text.ends_with("\r\n\r\nok"))
}
