#!/usr/bin/env bash
# The network lab: builds a simulated internet of Linux network namespaces (tests/netlab/lab.sh),
# runs the lab tests (tests/netlab/*.test.mjs: real p2p-chat processes inside the namespaces,
# driven through their UI WebSocket) and deletes every namespace again, whatever happens.
#
# Needs root and network namespaces. Without them it prints a line starting with "SKIP" and
# exits with status 77 (never a pass). Set P2P_CHAT_BIN to test a binary other than the release
# build it makes (and NETLAB_FORGER_BIN for the poisoning test's lying contact,
# peer/examples/netlab_forger.rs, else built in debug); extra arguments go to `node --test` (e.g.
# --test-name-pattern).
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
SKIP=77

skip() { echo "SKIP netlab: $*"; exit "$SKIP"; }

[ "$(id -u)" -eq 0 ] || skip "needs root (network namespaces)"
command -v ip >/dev/null || skip "no ip(8) (iproute2)"
probe="p2pl-probe-$$"
ip netns add "$probe" 2>/dev/null || skip "cannot create a network namespace here"
ip netns delete "$probe"

"$ROOT/scripts/setup-netlab.sh" || { echo "netlab: set-up failed" >&2; exit 1; }

if [ -z "${P2P_CHAT_BIN:-}" ]; then
    (cd "$ROOT" && cargo build -q --release -p peer --bin p2p-chat) || exit 1
    export P2P_CHAT_BIN="$ROOT/target/release/p2p-chat"
fi
# The lying contact of the poisoning test (peer/examples/netlab_forger.rs), unless
# NETLAB_FORGER_BIN names one: a debug build, which reuses what `cargo test` compiled (a release
# build of its own would compile every dependency again).
if [ -z "${NETLAB_FORGER_BIN:-}" ]; then
    (cd "$ROOT" && cargo build -q -p peer --example netlab_forger) || exit 1
    export NETLAB_FORGER_BIN="$ROOT/target/debug/examples/netlab_forger"
fi

export NETLAB_PREFIX="p2pl$$"
export LAB_RUN_DIR
LAB_RUN_DIR="$(mktemp -d /tmp/p2p-chat-netlab.XXXXXX)"
cleanup() {
    "$HERE/lab.sh" down "$NETLAB_PREFIX"
    rm -rf "$LAB_RUN_DIR"
    if ip netns list | grep -q "^$NETLAB_PREFIX-"; then
        echo "netlab: namespaces left behind: $(ip netns list | grep "^$NETLAB_PREFIX-" | tr '\n' ' ')" >&2
        exit 1
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$HERE/lab.sh" up "$NETLAB_PREFIX" || { echo "netlab: building the lab failed" >&2; exit 1; }
# One test file at a time: they share the lab's namespaces and fixed ports.
node --test --test-concurrency=1 "$@" "$HERE"/*.test.mjs
