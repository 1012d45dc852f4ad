//! Hashing a file the way an offer describes it (PROTOCOL.md §5.1): SHA-256 of the whole file
//! and the Merkle leaf of every chunk, in one pass with a chunk-sized buffer, so a file of any
//! size costs the same memory. The leaf hashes are kept beside the file (`*.leaves`, 32 bytes
//! per chunk): the sender answers proofs from them, and the receiver resumes from them.

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crypto_core::merkle::{leaf_hash, Hash, Tree};
use crypto_core::primitives::Sha256Stream;

/// What an offer says of a file's content.
pub struct Hashed {
    /// Bytes read.
    pub size: u64,
    /// SHA-256 of the whole file.
    pub sha256: [u8; 32],
    /// The chunks' leaf hashes.
    pub leaves: Vec<Hash>,
    /// The file's stamp, when it was the same before and after the reading.
    pub stamp: Option<Stamp>,
}

/// What tells, without reading it, that a file this peer alone writes is still the one it
/// hashed: which file (device, inode), its length, its modification time and its
/// status-change time. It is trusted only for our own copies of uploads (0600 in the 0700
/// data directory, closed and synced before they are hashed, never written again), where it
/// guards against someone editing one anyway. A file the user sends from where it is may be
/// written by any program in ways a stamp does not show — a write that began before the
/// hashing and is still copying, a memory map, a file system whose times anyone can set — so
/// its chunks are always checked against their leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    file: (u64, u64),
    len: u64,
    modified: (i64, i64),
    changed: (i64, i64),
}

impl Stamp {
    /// The stamp of an open file.
    pub fn of(file: &File) -> std::io::Result<Stamp> {
        let meta = file.metadata()?;
        Ok(Stamp {
            file: (meta.dev(), meta.ino()),
            len: meta.len(),
            modified: (meta.mtime(), meta.mtime_nsec()),
            changed: (meta.ctime(), meta.ctime_nsec()),
        })
    }
}

/// Reads `path` once, in chunks of `chunk_size`.
pub fn hash_file(path: &Path, chunk_size: u32) -> std::io::Result<Hashed> {
    let mut file = File::open(path)?;
    let before = Stamp::of(&file)?;
    let mut buffer = vec![0u8; chunk_size as usize];
    let mut whole = Sha256Stream::new();
    let mut leaves = Vec::new();
    let mut size = 0u64;
    loop {
        let n = read_full(&mut file, &mut buffer)?;
        if n == 0 {
            break;
        }
        whole.update(&buffer[..n]);
        leaves.push(leaf_hash(&buffer[..n]));
        size += n as u64;
        if n < buffer.len() {
            break;
        }
    }
    let stamp = (Stamp::of(&file)? == before).then_some(before);
    Ok(Hashed {
        size,
        sha256: whole.finish(),
        leaves,
        stamp,
    })
}

/// Fills `buffer` as far as the file goes; fewer bytes only at its end.
pub fn read_full(file: &mut impl Read, buffer: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match file.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Writes `leaves` to `path` (mode 0600, replacing it) and syncs it.
pub fn write_leaves(path: &Path, leaves: &[Hash]) -> std::io::Result<()> {
    let mut file = super::storage::create_private(path)?;
    let mut bytes = Vec::with_capacity(leaves.len() * 32);
    for leaf in leaves {
        bytes.extend_from_slice(leaf);
    }
    file.write_all(&bytes)?;
    file.sync_all()
}

/// The leaves stored at `path` (a trailing partial hash is ignored).
pub fn read_leaves(path: &Path) -> std::io::Result<Vec<Hash>> {
    let bytes = std::fs::read(path)?;
    Ok(bytes
        .chunks_exact(32)
        .filter_map(|c| <[u8; 32]>::try_from(c).ok())
        .collect())
}

/// The sender's tree of a file, from its stored leaves; `None` if they do not give `root`.
pub fn load_tree(path: &Path, root: &Hash) -> std::io::Result<Option<Tree>> {
    let tree = Tree::from_leaves(read_leaves(path)?);
    Ok((tree.root() == *root).then_some(tree))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crypto_core::primitives::sha256;

    #[test]
    fn one_pass_gives_the_whole_hash_and_every_leaf() {
        let dir = tempfile::tempdir().unwrap();
        for size in [0usize, 1, 1023, 1024, 1025, 5000] {
            let data: Vec<u8> = (0..size).map(|i| (i * 7 % 251) as u8).collect();
            let path = dir.path().join(format!("f{size}"));
            std::fs::write(&path, &data).unwrap();
            let hashed = hash_file(&path, 1024).unwrap();
            assert_eq!(hashed.size, size as u64);
            assert_eq!(hashed.sha256, sha256(&data));
            let expected: Vec<Hash> = data.chunks(1024).map(leaf_hash).collect();
            assert_eq!(hashed.leaves, expected);
            let leaves = dir.path().join(format!("f{size}.leaves"));
            write_leaves(&leaves, &hashed.leaves).unwrap();
            let root = Tree::from_leaves(expected).root();
            assert!(load_tree(&leaves, &root).unwrap().is_some());
            assert!(load_tree(&leaves, &[0; 32]).unwrap().is_none());
            let file = File::open(&path).unwrap();
            assert_eq!(hashed.stamp, Some(Stamp::of(&file).unwrap()));
        }
    }
}
