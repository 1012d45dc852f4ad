#!/usr/bin/env bash
# Builds the release archive target/package/p2p-chat-<version>-<arch>-linux.tar.gz: the
# p2p-chat binary (the page, the wasm package and the vector files inside), README.md,
# LICENSE-MIT, LICENSE-APACHE and SECURITY.md. Prints the archive's path and the wasm package's
# SHA-256 (also in `p2p-chat --version`), so the page's bundle can be checked.
#
# The binary is built with --remap-path-prefix for the repository, CARGO_HOME and RUSTUP_HOME,
# so panic locations (dependencies' included) name /p2p-chat, /cargo and /rustup instead of this
# machine's directories; the script fails if any of those directories still shows up in it.
# Needs the built wasm package (scripts/build-wasm.sh). Its own target directory
# (target/package) keeps the other release builds' flags and caches untouched.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$ROOT"

WASM=web/pkg/crypto_wasm_bg.wasm
[ -f "$WASM" ] && [ -f web/pkg/crypto_wasm.js ] \
    || die "web/pkg has no built wasm package: run scripts/build-wasm.sh first"

version="$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)"
[ -n "$version" ] || die "no workspace version in Cargo.toml"
name="p2p-chat-$version-$(uname -m)-linux"
cargo_home="${CARGO_HOME:-$HOME/.cargo}"
rustup_home="${RUSTUP_HOME:-$HOME/.rustup}"
out="$ROOT/target/package"
start=$SECONDS

remap=(--remap-path-prefix="$ROOT=/p2p-chat"
    --remap-path-prefix="$(cd "$cargo_home" 2>/dev/null && pwd -P || echo "$cargo_home")=/cargo"
    --remap-path-prefix="$cargo_home=/cargo"
    --remap-path-prefix="$rustup_home=/rustup")
log "cargo build --release (target/package, paths remapped)"
build() {
    CARGO_TARGET_DIR="$out/target" RUSTFLAGS="${remap[*]}" CARGO_PROFILE_RELEASE_STRIP=symbols \
        cargo build --release --locked -p peer --bin p2p-chat
}
# A failed build says what the machine had left (an out-of-memory kill or a full disk also ends
# cargo with status 101) and is tried once more: a compile error fails twice, the same way.
if ! build; then
    log "release build failed; free memory and disk:"
    free -m >&2 || true
    df -h "$out" >&2 || true
    log "trying the release build once more"
    build
fi
bin="$out/target/release/p2p-chat"

# Nothing in the binary may name this machine's directories.
leaks="$(strings -a "$bin" | grep -F -e "$ROOT" -e "$cargo_home" -e "$rustup_home" -e "$HOME/" || true)"
[ -z "$leaks" ] || die "the binary still names build-machine paths:
$(printf '%s\n' "$leaks" | head -n 20)"

wasm_sha="$(sha256sum "$WASM" | awk '{print $1}')"
"$bin" --version | grep -qF "wasm sha256 $wasm_sha" \
    || die "the binary's wasm hash ($("$bin" --version)) is not web/pkg's ($wasm_sha): rebuild"

stage="$out/$name"
rm -rf "$stage"
mkdir -p "$stage"
cp "$bin" "$stage/p2p-chat"
cp README.md SECURITY.md LICENSE-MIT LICENSE-APACHE "$stage/"
archive="$out/$name.tar.gz"
# Same inputs, same archive: fixed order, owner and time (the commit's).
mtime="@$(git log -1 --format=%ct 2>/dev/null || echo 0)"
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="$mtime" \
    -C "$out" -czf "$archive" "$name"
rm -rf "$stage"

echo "archive:     $archive ($(stat -c %s "$archive") bytes, built in $((SECONDS - start)) s)"
echo "archive sha256: $(sha256sum "$archive" | awk '{print $1}')"
echo "wasm sha256: $wasm_sha ($WASM, $(stat -c %s "$WASM") bytes)"
echo "version:     $("$bin" --version)"
