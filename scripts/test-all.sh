#!/usr/bin/env bash
# The one command that runs every test of p2p-chat (README; .ci/run calls it):
#   set-up (installs what is missing), cargo fmt --check, clippy -D warnings, cargo test,
#   the wasm build (size budget), the native parity file, node tests of the wasm build,
#   browser tests (Debian's Chromium via playwright-core), the network lab (tests/netlab/).
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
    if grep -q -- 'parity_out' peer/src/cli.rs 2>/dev/null; then
        # Also prints the native vector counts that the node tests compare with.
        cargo run -q -p peer --bin p2p-chat -- vectors --parity-out tests/parity/native.json
    else
        cargo run -q -p crypto-core --example parity >tests/parity/native.json
    fi
}

browser_tests() {
    if compgen -G 'tests/browser/*.test.mjs' >/dev/null; then
        # The browser tests start real peers: build the binary they look for first.
        cargo build -q --release -p peer --bin p2p-chat && node --test tests/browser/
    else
        echo "no browser tests yet (tests/browser/*.test.mjs)"
    fi
}

# The network lab (tests/netlab/run.sh) exits 77 when this machine cannot run it (not root, no
# network namespaces): that is reported as SKIPPED, neither a pass nor a failure.
netlab() {
    tests/netlab/run.sh
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
step "cargo clippy" cargo clippy --workspace --all-targets -- -D warnings
step "cargo test" cargo test --workspace
step "wasm build" scripts/build-wasm.sh
step "native parity file" native_parity
step "node tests (wasm)" node --test tests/node/
step "browser tests" browser_tests
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
