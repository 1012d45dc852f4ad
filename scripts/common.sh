# Shared helpers for the p2p-chat scripts (sourced, not run).
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$HOME/.cargo/bin:$PATH"

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Root runs apt directly; everyone else through sudo.
as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# The wasm-bindgen version pinned in Cargo.lock; the CLI must match it exactly.
wasm_bindgen_lock_version() {
    awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$ROOT/Cargo.lock"
}

# "plain": rustup has the wasm32 target, so stable wasm-pack works as is.
# "debian": DESIGN §7 — Debian's rustc-web with its std source, -Zbuild-std, rustup's rust-lld.
wasm_route() {
    if [ -n "${P2P_WASM_ROUTE:-}" ]; then
        echo "$P2P_WASM_ROUTE"
    elif command -v rustup >/dev/null 2>&1 \
        && rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
        echo plain
    else
        echo debian
    fi
}

# Debian's rustc-web installs its compiler as /usr/bin/rustc (sysroot /usr, std source under
# /usr/lib/rustlib/src/rust).
DEBIAN_RUSTC=/usr/bin/rustc
