//! Build facts for `p2p-chat --version` (git commit, SHA-256 of the wasm package), and the
//! guard that a build which embeds the page (no debug assertions: release, bench, `cargo
//! install`) has a built wasm package to embed — never a page without its cryptography.

use std::path::Path;
use std::process::Command;

use sha2::{Digest, Sha256};

const WASM: &str = "../web/pkg/crypto_wasm_bg.wasm";
const WASM_JS: &str = "../web/pkg/crypto_wasm.js";

fn main() {
    println!("cargo:rerun-if-changed={WASM}");
    println!("cargo:rerun-if-changed={WASM_JS}");
    println!("cargo:rerun-if-changed=../web");
    println!("cargo:rerun-if-changed=../tests/vectors");
    let embeds = std::env::var_os("CARGO_CFG_DEBUG_ASSERTIONS").is_none();
    let wasm = std::fs::read(WASM)
        .ok()
        .filter(|_| Path::new(WASM_JS).is_file());
    let wasm_hash = match wasm {
        Some(bytes) => Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>(),
        None if embeds => panic!(
            "\n\nweb/pkg/ has no built wasm package (crypto_wasm_bg.wasm and crypto_wasm.js).\n\
             This build puts the page inside the binary, and the page needs it.\n\
             Build it first:  scripts/build-wasm.sh   (its tools: scripts/setup-run.sh)\n\n"
        ),
        None => "none".to_owned(),
    };
    println!("cargo:rustc-env=P2P_CHAT_WASM_SHA256={wasm_hash}");
    println!("cargo:rustc-env=P2P_CHAT_GIT_COMMIT={}", git_commit());
}

/// The checked-out commit (12 hex digits), "unknown" outside a git checkout; rebuilds when
/// HEAD moves.
fn git_commit() -> String {
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .map(|s| s.trim().to_owned())
    };
    for file in ["HEAD", "packed-refs"] {
        if let Some(path) = git(&["rev-parse", "--git-path", file]) {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    if let Some(reference) = git(&["symbolic-ref", "-q", "HEAD"]) {
        if let Some(path) = git(&["rev-parse", "--git-path", &reference]) {
            println!("cargo:rerun-if-changed={path}");
        }
    }
    git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".to_owned())
}
