#!/usr/bin/env bash
# The one command that runs every test of p2p-chat (README; .ci/run calls it):
#   set-up (installs what is missing), cargo fmt --check, clippy -D warnings (workspace and
#   per package), cargo check of the fuzz targets, cargo test,
#   the wasm build (size budget), the native parity file, node tests of the wasm build,
#   the release build and archive (scripts/package.sh), browser tests (Debian's Chromium via
#   playwright-core) and the network lab (tests/netlab/) on that release binary, the archive
#   test. The wasm build comes before the release build (a release build embeds web/pkg/).
# Every step runs even if an earlier one failed, so one run shows everything; the exit status
# is non-zero if any step failed, and the failed steps are listed at the end.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$ROOT"

failed=()
timings=()
step() {
    local name="$1"
    shift
    local t0=$SECONDS
    printf '\n==================== %s ====================\n' "$name"
    if "$@"; then
        timings+=("ok     $(printf '%4d' $((SECONDS - t0))) s  $name")
    else
        local rc=$?
        timings+=("FAILED $(printf '%4d' $((SECONDS - t0))) s  $name (exit $rc)")
        failed+=("$name")
    fi
}

native_parity() {
    mkdir -p tests/parity
    # Also prints the native vector counts that the node tests compare with. The binary the
    # cargo test step just built (workspace features) is used as it is: `cargo run -p peer`
    # resolves the peer's own features and would compile it all again (~3 minutes).
    local bin="$ROOT/target/debug/p2p-chat"
    if [ -x "$bin" ]; then
        "$bin" vectors --parity-out tests/parity/native.json
    else
        cargo run -q -p peer --bin p2p-chat -- vectors --parity-out tests/parity/native.json
    fi
}

# Clippy once for the workspace (feature unification across packages) and once per package
# (each package's own feature set, as a dependent or `cargo install` builds it).
clippy_all() {
    local rc=0 package
    cargo clippy --workspace --all-targets -- -D warnings || rc=1
    for package in $(cargo metadata --no-deps --format-version 1 \
        | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>JSON.parse(s).packages.forEach(p=>console.log(p.name)))'); do
        echo "-- clippy -p $package"
        cargo clippy -p "$package" --all-targets -- -D warnings || rc=1
    done
    return $rc
}

# The fuzz targets (fuzz/, outside the workspace, run with `cargo +nightly fuzz`) are
# type-checked on stable so an API change cannot leave them broken unnoticed.
fuzz_check() {
    cargo check --manifest-path fuzz/Cargo.toml --bins
}

# One release build for every step after it: scripts/package.sh builds the binary that ships
# (page and wasm inside, paths remapped) and the archive; the browser tests and the network lab
# run that same binary, so what is tested is what ships, and CI builds the release only once.
RELEASE_BIN="$ROOT/target/package/target/release/p2p-chat"
release_build() {
    scripts/package.sh
}

# The browser tests start real peers from the shipped binary. Without it they would all skip,
# so a missing binary fails the step instead.
browser_tests() {
    [ -x "$RELEASE_BIN" ] || { echo "no release binary ($RELEASE_BIN): the release build failed" >&2; return 1; }
    P2P_CHAT_BIN="$RELEASE_BIN" node --test tests/browser/
}

# The release archive, extracted and run with nothing else around it.
archive_test() {
    node --test tests/archive/
}

# The network lab (tests/netlab/run.sh) exits 77 when this machine cannot run it (not root, no
# network namespaces): that is reported as SKIPPED, neither a pass nor a failure.
netlab() {
    [ -x "$RELEASE_BIN" ] || { echo "no release binary ($RELEASE_BIN): the release build failed" >&2; return 1; }
    P2P_CHAT_BIN="$RELEASE_BIN" tests/netlab/run.sh
    local rc=$?
    if [ "$rc" -eq 77 ]; then
        skipped+=("network lab")
        return 0
    fi
    return "$rc"
}
skipped=()

start=$SECONDS
step "set-up" scripts/setup.sh
if [ "${#failed[@]}" -gt 0 ]; then
    echo "set-up failed; nothing else can run" >&2
    exit 1
fi
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
step "cargo fmt --check" cargo fmt --all --check
step "cargo clippy" clippy_all
step "cargo check fuzz" fuzz_check
step "cargo test" cargo test --workspace
step "wasm build" scripts/build-wasm.sh
step "native parity file" native_parity
step "node tests (wasm)" node --test tests/node/
step "release build and archive" release_build
step "browser tests" browser_tests
step "release archive test" archive_test
step "network lab" netlab

printf '\n==================== summary (%d s) ====================\n' $((SECONDS - start))
printf '%s\n' "${timings[@]}"
if [ "${#skipped[@]}" -gt 0 ]; then
    printf 'SKIPPED: %s\n' "${skipped[*]}"
fi
if [ "${#failed[@]}" -gt 0 ]; then
    printf 'FAILED: %s\n' "${failed[*]}"
    exit 1
fi
echo "all steps passed"
