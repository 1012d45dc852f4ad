//! The Merkle tree over a file's chunks (PROTOCOL.md §5.1): RFC 9162 §2.1, the tree of RFC 6962,
//! with SHA-256. The offer carries the root; each chunk travels with its inclusion proof, so a
//! receiver checks every chunk on arrival against one 32-byte value and never writes a byte it
//! has not verified, whatever order of failures and restarts came before.
//!
//! The tree is kept level by level, leaves first: an odd node at the end of a level is carried up
//! unchanged, which builds exactly RFC 9162's tree (the left subtree of k leaves holds the largest
//! power of two below k). A tree of n leaves holds under 2n hashes: 64 bytes per chunk.

use alloc::vec::Vec;

use crate::primitives::{sha256, sha256_parts};

/// One SHA-256 value of the tree.
pub type Hash = [u8; 32];

/// The hash of a leaf: SHA-256(0x00 ‖ chunk).
pub fn leaf_hash(chunk: &[u8]) -> Hash {
    sha256_parts(&[&[0x00], chunk])
}

/// The hash of an interior node: SHA-256(0x01 ‖ left ‖ right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    sha256_parts(&[&[0x01], left, right])
}

/// The root of the empty tree (an empty file): SHA-256 of the empty string.
pub fn empty_root() -> Hash {
    sha256(&[])
}

/// A whole tree, for the side that holds every leaf (the sender) and answers proofs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tree {
    /// `levels[0]` are the leaves; the last level has one hash, the root (none if empty).
    levels: Vec<Vec<Hash>>,
}

impl Tree {
    /// Builds the tree over these leaf hashes (see [`leaf_hash`]).
    pub fn from_leaves(leaves: Vec<Hash>) -> Self {
        let mut levels = Vec::new();
        let mut level = leaves;
        while level.len() > 1 {
            let next: Vec<Hash> = level
                .chunks(2)
                .map(|pair| match pair {
                    [left, right] => node_hash(left, right),
                    [single] => *single,
                    _ => unreachable_pair(),
                })
                .collect();
            levels.push(level);
            level = next;
        }
        levels.push(level);
        Self { levels }
    }

    /// How many leaves (chunks) the tree has.
    pub fn len(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    /// Whether the tree has no leaf (an empty file).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The leaf hashes, in order.
    pub fn leaves(&self) -> &[Hash] {
        self.levels.first().map_or(&[], Vec::as_slice)
    }

    /// The tree hash.
    pub fn root(&self) -> Hash {
        match self.levels.last().and_then(|top| top.first()) {
            Some(root) if !self.is_empty() => *root,
            _ => empty_root(),
        }
    }

    /// The inclusion proof of leaf `index` (RFC 9162 §2.1.3.1), nearest sibling first; `None`
    /// for an index outside the tree.
    pub fn proof(&self, index: u64) -> Option<Vec<Hash>> {
        if index >= self.len() {
            return None;
        }
        let mut proof = Vec::new();
        let mut i = usize::try_from(index).ok()?;
        for level in &self.levels[..self.levels.len() - 1] {
            // A node without a right-hand sibling is carried up: no hash at this level.
            if let Some(sibling) = level.get(i ^ 1) {
                proof.push(*sibling);
            }
            i >>= 1;
        }
        Some(proof)
    }
}

/// `chunks(2)` yields one or two items.
fn unreachable_pair() -> Hash {
    [0; 32]
}

/// The root over these leaf hashes.
pub fn root_of(leaves: &[Hash]) -> Hash {
    Tree::from_leaves(leaves.to_vec()).root()
}

/// Whether `proof` shows that `leaf` is leaf `index` of a tree of `size` leaves with `root`
/// (RFC 9162 §2.1.3.2). Any proof that is too short, too long or wrong is refused.
pub fn verify_inclusion(root: &Hash, index: u64, size: u64, leaf: &Hash, proof: &[Hash]) -> bool {
    if index >= size {
        return false;
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    sn == 0 && crate::primitives::constant_time_eq(&r, root)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoding::from_hex;

    /// The reference tree of RFC 6962's Certificate Transparency implementations (the leaves
    /// and roots of google/certificate-transparency's merkle tree tests, also used by RFC 9162
    /// implementations): leaf inputs, then the root of the first k leaves for k = 0..=8.
    const LEAVES: [&str; 8] = [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ];
    const ROOTS: [&str; 9] = [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];
    /// Inclusion proofs from the same tests: (leaf index, tree size, proof).
    const PROOFS: [(u64, u64, &[&str]); 4] = [
        (
            0,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            5,
            8,
            &[
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (
            2,
            3,
            &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
        ),
        (
            1,
            5,
            &[
                "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
    ];

    fn hash(hex: &str) -> Hash {
        from_hex(hex).unwrap().try_into().unwrap()
    }

    fn leaves() -> Vec<Hash> {
        LEAVES
            .iter()
            .map(|l| leaf_hash(&from_hex(l).unwrap()))
            .collect()
    }

    #[test]
    fn roots_match_the_reference_trees() {
        let leaves = leaves();
        for (k, root) in ROOTS.iter().enumerate() {
            assert_eq!(root_of(&leaves[..k]), hash(root), "{k} leaves");
        }
        assert_eq!(empty_root(), hash(ROOTS[0]));
    }

    #[test]
    fn proofs_match_the_reference_and_verify() {
        let leaves = leaves();
        for (index, size, expected) in PROOFS {
            let tree = Tree::from_leaves(leaves[..size as usize].to_vec());
            let proof = tree.proof(index).unwrap();
            let expected: Vec<Hash> = expected.iter().map(|h| hash(h)).collect();
            assert_eq!(proof, expected, "leaf {index} of {size}");
            let root = hash(ROOTS[size as usize]);
            let leaf = leaves[index as usize];
            assert!(verify_inclusion(&root, index, size, &leaf, &proof));
            assert!(!verify_inclusion(
                &hash(ROOTS[0]),
                index,
                size,
                &leaf,
                &proof
            ));
        }
    }

    #[test]
    fn every_leaf_of_every_size_verifies_and_nothing_else_does() {
        for size in 1..=40u64 {
            let leaves: Vec<Hash> = (0..size).map(|i| leaf_hash(&i.to_le_bytes())).collect();
            let tree = Tree::from_leaves(leaves.clone());
            let root = tree.root();
            assert_eq!(tree.len(), size);
            for index in 0..size {
                let proof = tree.proof(index).unwrap();
                let leaf = leaves[index as usize];
                assert!(verify_inclusion(&root, index, size, &leaf, &proof));
                // Another leaf, another index, a cut or padded proof: refused. (The size is not
                // bound by the proof alone: the offer carries it, and the root depends on it.)
                let other = leaf_hash(b"not a chunk of this file");
                assert!(!verify_inclusion(&root, index, size, &other, &proof));
                if size > 1 {
                    let wrong = (index + 1) % size;
                    assert!(!verify_inclusion(&root, wrong, size, &leaf, &proof));
                    assert!(!verify_inclusion(
                        &root,
                        index,
                        size,
                        &leaf,
                        &proof[..proof.len() - 1]
                    ));
                }
                let mut longer = proof.clone();
                longer.push(root);
                assert!(!verify_inclusion(&root, index, size, &leaf, &longer));
            }
            assert!(tree.proof(size).is_none());
            assert!(!verify_inclusion(&root, size, size, &leaves[0], &[]));
        }
        let empty = Tree::from_leaves(Vec::new());
        assert!(empty.is_empty());
        assert_eq!(empty.root(), empty_root());
        assert!(empty.proof(0).is_none());
    }
}
