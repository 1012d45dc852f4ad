//! The running peer's addresses, kept in the data directory (`addresses.json`) so that
//! `p2p-chat invite` — a separate process — can name the router's external address the running
//! peer obtained. Written on every change, removed on clean shutdown; a leftover file (after a
//! crash) is only used for the invite's host, never to dial anyone.

use std::path::Path;

use super::ReachAddress;

/// The file's name inside the data directory.
pub const FILE: &str = "addresses.json";

/// Writes `list` to `path`, 0600 like the rest of the data directory (best effort: the invite
/// command falls back to the interfaces).
pub fn write(path: &Path, list: &[ReachAddress]) {
    let Ok(text) = serde_json::to_string(list) else {
        return;
    };
    if let Err(e) = crate::datadir::write_private(path, text.as_bytes()) {
        tracing::debug!("cannot write {}: {e}", path.display());
    }
}

/// Removes the file (best effort).
pub fn remove(path: &Path) {
    let _ = std::fs::remove_file(path);
}

/// The list last written to `path`; empty when there is none or it does not parse.
pub fn read(path: &Path) -> Vec<ReachAddress> {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| serde_json::from_str::<Vec<ReachAddress>>(&text).ok())
        .map(super::ordered)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reach::AddressKind;

    #[test]
    fn a_written_list_reads_back_and_garbage_reads_as_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE);
        assert!(read(&path).is_empty());
        let list = vec![ReachAddress {
            address: "11.0.0.1:6000".parse().unwrap(),
            kind: AddressKind::Mapped,
        }];
        write(&path, &list);
        assert_eq!(read(&path), list);
        std::fs::write(&path, "{not json").unwrap();
        assert!(read(&path).is_empty());
        write(&path, &list);
        remove(&path);
        assert!(!path.exists());
    }
}
