#!/usr/bin/env bash
# Installs what building and testing p2p-chat needs and is missing. Idempotent: a second run
# installs nothing. Needs a Rust toolchain (rustup), a C compiler, node 20 + npm, and apt on
# Debian 12 for the rest:
#   apt:   binaryen (wasm-opt), chromium (browser tests) and, when the rustup wasm32 target is
#          missing (DESIGN §7), rustc-web, cargo-web and rust-web-src;
#   cargo: wasm-bindgen-cli at exactly the wasm-bindgen version in Cargo.lock, and wasm-pack;
#   npm:   tests/node_modules from tests/package-lock.json (playwright-core; never a browser
#          download).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

WASM_PACK_VERSION=0.15.1
start=$SECONDS
route="$(wasm_route)"
log "wasm build route: $route"

# --- apt -----------------------------------------------------------------------------------
apt_wanted=(binaryen chromium)
if [ "$route" = debian ]; then
    apt_wanted+=(rustc-web cargo-web rust-web-src)
fi
apt_missing=()
for pkg in "${apt_wanted[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
        apt_missing+=("$pkg")
    fi
done
if [ "${#apt_missing[@]}" -gt 0 ]; then
    command -v apt-get >/dev/null || die "missing ${apt_missing[*]} and no apt-get to install them"
    log "apt-get install ${apt_missing[*]}"
    as_root apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        "${apt_missing[@]}"
else
    log "apt packages present: ${apt_wanted[*]}"
fi
if [ "$route" = debian ]; then
    [ -x "$DEBIAN_RUSTC" ] || die "$DEBIAN_RUSTC missing after installing rustc-web"
    [ -d /usr/lib/rustlib/src/rust/library ] || die "rust-web-src did not install the std source"
fi

# --- cargo tools ---------------------------------------------------------------------------
command -v cargo >/dev/null || die "cargo not found (install Rust with rustup first)"
for component in rustfmt clippy; do
    if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
        log "rustup component add $component"
        rustup component add "$component" || die "cargo ${component/rustfmt/fmt} is missing"
    fi
done
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

# --- npm -----------------------------------------------------------------------------------
command -v npm >/dev/null || die "npm not found (install node 20)"
stamp="$ROOT/tests/node_modules/.package-lock.json"
if [ ! -f "$stamp" ] || [ "$ROOT/tests/package-lock.json" -nt "$stamp" ] \
    || [ ! -d "$ROOT/tests/node_modules/playwright-core" ]; then
    log "npm ci in tests/"
    # playwright-core never downloads browsers; the tests use Debian's /usr/bin/chromium.
    (cd "$ROOT/tests" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)
else
    log "tests/node_modules up to date"
fi

log "setup done in $((SECONDS - start)) s"
