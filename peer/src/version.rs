//! What `p2p-chat --version` prints: the crate version, the git commit it was built from and
//! the SHA-256 of the wasm package the page runs (compare with `sha256sum web/pkg/*.wasm` or
//! the value `scripts/package.sh` prints). All three come from peer/build.rs.

/// `0.1.0 (commit 0123456789ab, wasm sha256 …)`.
pub const LONG: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("P2P_CHAT_GIT_COMMIT"),
    ", wasm sha256 ",
    env!("P2P_CHAT_WASM_SHA256"),
    ")"
);

/// The wasm package's SHA-256 in hex ("none" for a debug build made without it).
pub const WASM_SHA256: &str = env!("P2P_CHAT_WASM_SHA256");
