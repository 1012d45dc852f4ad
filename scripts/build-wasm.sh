#!/usr/bin/env bash
# Builds crypto-wasm into web/pkg/ (wasm-pack --target web), optimises it with wasm-opt, prints
# the raw .wasm size and fails if it is over the 160 KiB budget (BENCHMARKS.md, wasm section).
#
# Two routes (scripts/setup.sh installs what each needs):
#   plain  — rustup has wasm32-unknown-unknown: stable cargo + wasm-pack.
#   debian — Debian's rustc-web (RUSTC=/usr/bin/rustc, RUSTC_BOOTSTRAP=1) builds std
#            for wasm from rust-web-src with -Zbuild-std, linked by rustup's rust-lld. This route
#            also uses panic=immediate-abort, which drops the panic-message machinery.
# Set P2P_WASM_ROUTE=plain|debian to force one. The wasm build has its own target dir
# (target/wasm) so it never invalidates the native builds.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# The budget is 160 KiB on either route; the build fails above it. (The Debian route, with
# -Zbuild-std, immediate-abort and fmt-debug=none, is far below it: BENCHMARKS.md, wasm section.)
BUDGET="${WASM_SIZE_BUDGET:-163840}"
OUT="$ROOT/web/pkg"
WASM="$OUT/crypto_wasm_bg.wasm"
# The post-MVP features rustc enables for wasm32-unknown-unknown; binaryen 108 (Debian 12)
# rejects them unless named.
WASM_OPT_FEATURES=(--enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext
    --enable-mutable-globals --enable-reference-types --enable-multivalue)

for tool in wasm-pack wasm-bindgen wasm-opt wasm-dis wasm-as node; do
    command -v "$tool" >/dev/null || die "$tool not found: run scripts/setup.sh"
done
want_bindgen="$(wasm_bindgen_lock_version)"
have_bindgen="$(wasm-bindgen --version | awk '{print $2}')"
[ "$have_bindgen" = "$want_bindgen" ] \
    || die "wasm-bindgen CLI is $have_bindgen but Cargo.lock has $want_bindgen: run scripts/setup.sh"

route="$(wasm_route)"
CEILING="${WASM_SIZE_CEILING:-$BUDGET}"
start=$SECONDS
export CARGO_TARGET_DIR="$ROOT/target/wasm"
export CARGO_PROFILE_RELEASE_OPT_LEVEL=z
# aes_compact: the smaller of the aes crate's two software AES implementations.
# No reference-types: binaryen 108 rewrites the externref table wasm-bindgen emits into a funcref
# table that no longer loads. No multivalue: wasm-bindgen then needs no multivalue shims.
rustflags="--cfg aes_compact -Ctarget-feature=-reference-types,-multivalue"
extra_cargo_args=()
if [ "$route" = debian ]; then
    [ -x "$DEBIAN_RUSTC" ] || die "$DEBIAN_RUSTC (rustc-web) missing: run scripts/setup.sh"
    host="$(rustc -vV | sed -n 's/^host: //p')"
    lld_dir="$(rustc --print sysroot)/lib/rustlib/$host/bin"
    if [ -x "$lld_dir/rust-lld" ]; then
        export PATH="$lld_dir:$PATH"
    elif ! command -v rust-lld >/dev/null; then
        die "rust-lld not found (looked in $lld_dir)"
    fi
    export RUSTC="$DEBIAN_RUSTC" RUSTC_BOOTSTRAP=1
    # immediate-abort drops the panic-message machinery; optimize_for_size picks std's smaller
    # implementations.
    rustflags="$rustflags -Zunstable-options -Cpanic=immediate-abort -Zlocation-detail=none -Zfmt-debug=none"
    extra_cargo_args=(-- -Zbuild-std=std,panic_abort -Zbuild-std-features=optimize_for_size)
fi
export RUSTFLAGS="$rustflags"
log "building crypto-wasm ($route route, $(${RUSTC:-rustc} --version))"
wasm-pack --log-level warn build "$ROOT/crypto-wasm" --mode force --release --target web \
    --out-dir "$OUT" "${extra_cargo_args[@]}"

raw_size=$(stat -c %s "$WASM")
work="$CARGO_TARGET_DIR/wasm-opt"
mkdir -p "$work"
# For `twiggy top/dominators` (BENCHMARKS.md, wasm section): wasm-bindgen's output before
# wasm-opt, and the final optimisation with the name section; next to the build, not shipped.
cp "$WASM" "$CARGO_TARGET_DIR/crypto_wasm_bg.pre-opt.wasm"
log "wasm-opt -Oz (before: $raw_size bytes), table pruning, wasm-opt -Oz"
wasm-opt "${WASM_OPT_FEATURES[@]}" -Oz --converge -g "$WASM" -o "$work/first.wasm"
# Function-table slots no call_indirect can reach point at a trap, so their code can go
# (crypto-wasm/prune-table.mjs says why they are there); then optimise again.
wasm-dis "$work/first.wasm" -o "$work/first.wat"
node "$ROOT/crypto-wasm/prune-table.mjs" "$work/first.wat" "$work/pruned.wat"
wasm-as "${WASM_OPT_FEATURES[@]}" -g "$work/pruned.wat" -o "$work/pruned.wasm"
wasm-opt "${WASM_OPT_FEATURES[@]}" -Oz --converge -g "$work/pruned.wasm" \
    -o "$CARGO_TARGET_DIR/crypto_wasm_bg.named.wasm"
wasm-opt "${WASM_OPT_FEATURES[@]}" -Oz --converge --strip-debug --strip-producers \
    --strip-target-features "$work/pruned.wasm" -o "$WASM.opt"
mv "$WASM.opt" "$WASM"

# wasm-opt must not have broken the module (binaryen 108 mangles externref tables, for one):
# load it the way the node tests do and run the self-test once.
node --input-type=module -e "
    import { readFileSync } from 'node:fs';
    const m = await import('$OUT/crypto_wasm.js');
    m.initSync({ module: readFileSync('$WASM') });
    const r = m.selfTest();
    if (r.failed !== 0 || r.passed === 0) throw new Error(JSON.stringify(r));
    console.log('loads in node; selfTest ' + r.passed + ' passed in ' + r.ms.toFixed(1) + ' ms');
" || die "the optimised web/pkg does not load or fails its self-test"

size=$(stat -c %s "$WASM")
kib=$(awk -v s="$size" 'BEGIN { printf "%.1f", s / 1024 }')
# The node size test reads the ceiling that applies to this build's route.
echo "$CEILING" >"$OUT/size-ceiling"
echo "wasm size: $size bytes ($kib KiB) web/pkg/crypto_wasm_bg.wasm, budget $BUDGET bytes, ceiling $CEILING bytes ($route route); built in $((SECONDS - start)) s"
if [ "$size" -gt "$CEILING" ]; then
    die "crypto_wasm_bg.wasm is $size bytes, over the ceiling of $CEILING bytes (budget: 160 KiB)"
fi
echo "wasm size budget met: $((BUDGET - size)) bytes under the 160 KiB budget"
