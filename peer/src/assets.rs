//! The page's files and the test vectors: built into the binary, or read from a directory.
//!
//! Release builds embed `web/` (with the wasm package in `web/pkg/`) and the JSON files of
//! `tests/vectors/`, so an installed `p2p-chat` needs no source checkout (peer/build.rs refuses
//! such a build when the wasm package is missing). Debug builds read the same folders from disk
//! (rust-embed's behaviour without `debug-embed`), so `cargo test` and `cargo clippy` never need
//! the wasm build. `--web-dir`/`--vectors-dir` point at other folders for page development.

use std::borrow::Cow;
use std::path::{Component, Path, PathBuf};

use rust_embed::RustEmbed;
use sha2::{Digest, Sha256};

/// `web/`: the page, its scripts and styles, and the built wasm package under `pkg/`.
#[derive(RustEmbed)]
#[folder = "../web/"]
#[exclude = ".*"]
#[exclude = "*/.*"]
#[exclude = "pkg/*.d.ts"]
#[exclude = "pkg/package.json"]
#[exclude = "pkg/size-ceiling"]
struct WebFiles;

/// `tests/vectors/`: the vector files the page's "Run all vectors" fetches.
#[derive(RustEmbed)]
#[folder = "../tests/vectors/"]
#[include = "*.json"]
#[include = "**/*.json"]
struct VectorFiles;

/// Which set of files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tree {
    /// The page (`web/`).
    Web,
    /// The vector files (`tests/vectors/`).
    Vectors,
}

/// One file, ready to serve.
#[derive(Debug, Clone)]
pub struct Asset {
    /// The contents.
    pub bytes: Cow<'static, [u8]>,
    /// Its Content-Type.
    pub content_type: String,
    /// A strong ETag: the quoted hex SHA-256 of the contents.
    pub etag: String,
}

/// Why a file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum AssetError {
    /// The path is absolute or climbs out of the tree (`..`).
    #[error("{0:?} is not a plain relative path")]
    BadPath(String),
    /// No such file in the tree.
    #[error("{0} not found")]
    NotFound(String),
    /// Reading it from an override directory failed.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// Where each tree comes from: built in (`None`) or a directory.
#[derive(Debug, Clone, Default)]
pub struct Assets {
    /// `--web-dir`.
    pub web_dir: Option<PathBuf>,
    /// `--vectors-dir`.
    pub vectors_dir: Option<PathBuf>,
}

impl Assets {
    /// One file of a tree; `path` is relative to the tree's root (`ui/state.js`).
    pub fn get(&self, tree: Tree, path: &str) -> Result<Asset, AssetError> {
        if !is_plain_relative(path) {
            return Err(AssetError::BadPath(path.to_owned()));
        }
        let dir = match tree {
            Tree::Web => &self.web_dir,
            Tree::Vectors => &self.vectors_dir,
        };
        if let Some(dir) = dir {
            let full = dir.join(path);
            return match std::fs::read(&full) {
                Ok(bytes) => Ok(Asset {
                    etag: etag(&Sha256::digest(&bytes).into()),
                    content_type: content_type(path),
                    bytes: Cow::Owned(bytes),
                }),
                Err(e) if matches!(e.kind(), std::io::ErrorKind::NotFound) || full.is_dir() => {
                    Err(AssetError::NotFound(path.to_owned()))
                }
                Err(source) => Err(AssetError::Io { path: full, source }),
            };
        }
        let file = match tree {
            Tree::Web => WebFiles::get(path),
            Tree::Vectors => VectorFiles::get(path),
        }
        .ok_or_else(|| AssetError::NotFound(path.to_owned()))?;
        Ok(Asset {
            etag: etag(&file.metadata.sha256_hash()),
            content_type: content_type(path),
            bytes: file.data,
        })
    }
}

/// Only `Normal` components: no root, no `..`, no `.`, no empty segments.
fn is_plain_relative(path: &str) -> bool {
    !path.is_empty()
        && !path.contains('\\')
        && !path
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..")
        && Path::new(path)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
}

fn etag(hash: &[u8; 32]) -> String {
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

/// The Content-Type by extension; text types say UTF-8.
fn content_type(path: &str) -> String {
    let mime = mime_guess::from_path(path).first_or_octet_stream();
    match (mime.type_(), mime.subtype().as_str()) {
        (mime_guess::mime::TEXT, _) | (_, "javascript") | (_, "json") | (_, "svg") => {
            format!("{}; charset=utf-8", mime.essence_str())
        }
        _ => mime.essence_str().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_that_leave_the_tree_are_refused() {
        for bad in [
            "",
            "/etc/passwd",
            "../Cargo.toml",
            "a/../../b",
            "a//b",
            "./a",
            "a\\..\\b",
        ] {
            assert!(!is_plain_relative(bad), "{bad}");
        }
        assert!(is_plain_relative("ui/state.js"));
        assert!(matches!(
            Assets::default().get(Tree::Web, "../Cargo.toml"),
            Err(AssetError::BadPath(_))
        ));
    }

    #[test]
    fn content_types() {
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(content_type("app.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("pkg/crypto_wasm_bg.wasm"), "application/wasm");
        assert_eq!(content_type("a.svg"), "image/svg+xml; charset=utf-8");
        assert_eq!(content_type("a.json"), "application/json; charset=utf-8");
    }

    #[test]
    fn built_in_and_directory_give_the_same_file_and_etag() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors");
        let from_disk = Assets {
            vectors_dir: Some(dir.clone()),
            ..Assets::default()
        };
        let a = Assets::default()
            .get(Tree::Vectors, "MANIFEST.json")
            .unwrap();
        let b = from_disk.get(Tree::Vectors, "MANIFEST.json").unwrap();
        assert_eq!(a.bytes, b.bytes);
        assert_eq!(a.etag, b.etag);
        assert_eq!(
            a.bytes.as_ref(),
            std::fs::read(dir.join("MANIFEST.json")).unwrap()
        );
        // Only JSON vector files are built in.
        assert!(matches!(
            Assets::default().get(Tree::Vectors, "safety_number_reference.py"),
            Err(AssetError::NotFound(_))
        ));
    }
}
