#!/usr/bin/env bash
# Installs what building and RUNNING p2p-chat needs and is missing: the wasm toolchain that
# builds the page's cryptography (web/pkg/). Nothing for the tests (scripts/setup-test.sh).
# Idempotent: a second run installs nothing. Needs a Rust toolchain (rustup), a C compiler,
# node (wasm-pack's post-build check) and, on Debian 12, apt for:
#   apt:   binaryen (wasm-opt) and, when the rustup wasm32 target is missing, rustc-web,
#          cargo-web and rust-web-src;
#   cargo: wasm-bindgen-cli at exactly the wasm-bindgen version in Cargo.lock, and wasm-pack.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

WASM_PACK_VERSION=0.15.1
start=$SECONDS
route="$(wasm_route)"
log "wasm build route: $route"

apt_wanted=(binaryen)
if [ "$route" = debian ]; then
    apt_wanted+=(rustc-web cargo-web rust-web-src)
fi
apt_ensure "${apt_wanted[@]}"
if [ "$route" = debian ]; then
    [ -x "$DEBIAN_RUSTC" ] || die "$DEBIAN_RUSTC missing after installing rustc-web"
    [ -d /usr/lib/rustlib/src/rust/library ] || die "rust-web-src did not install the std source"
fi

# --- cargo tools ---------------------------------------------------------------------------
command -v cargo >/dev/null || die "cargo not found (install Rust with rustup first)"
want_bindgen="$(wasm_bindgen_lock_version)"
if [ -z "$want_bindgen" ]; then
    # Cargo.lock predates crypto-wasm's dependencies: let cargo resolve them first.
    (cd "$ROOT" && cargo metadata --format-version 1 >/dev/null)
    want_bindgen="$(wasm_bindgen_lock_version)"
fi
[ -n "$want_bindgen" ] || die "no wasm-bindgen in Cargo.lock"
have_bindgen="$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)"
if [ "$have_bindgen" != "$want_bindgen" ]; then
    log "cargo install wasm-bindgen-cli $want_bindgen (have: ${have_bindgen:-none}; takes a few minutes)"
    # Only the `wasm-bindgen` binary: the test runner's extra dependencies cost build time.
    cargo install --force wasm-bindgen-cli --version "$want_bindgen" --bin wasm-bindgen
else
    log "wasm-bindgen $have_bindgen present"
fi
if ! command -v wasm-pack >/dev/null 2>&1; then
    log "cargo install wasm-pack $WASM_PACK_VERSION (takes a few minutes)"
    cargo install wasm-pack --version "$WASM_PACK_VERSION"
else
    log "$(wasm-pack --version) present"
fi

log "run set-up done in $((SECONDS - start)) s"
