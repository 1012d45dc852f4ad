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
# "debian": no rustup wasm32 target to install (README, "The two commands"): Debian's rustc-web with its std source, -Zbuild-std, rustup's rust-lld.
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

# Installs the Debian packages among "$@" that are missing (nothing, and no apt-get, if none is).
apt_ensure() {
    local missing=() pkg
    for pkg in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
            missing+=("$pkg")
        fi
    done
    if [ "${#missing[@]}" -eq 0 ]; then
        log "apt packages present: $*"
        return 0
    fi
    command -v apt-get >/dev/null || die "missing ${missing[*]} and no apt-get to install them"
    log "apt-get install ${missing[*]}"
    as_root apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        "${missing[@]}"
}
