#!/usr/bin/env bash
# Runs a p2p-chat peer (the README's run command); every argument goes to `p2p-chat`, e.g.
#   scripts/run-peer.sh --port 6000 --web-port 8000
# Installs only what running needs (scripts/setup-run.sh: the wasm toolchain; no Chromium, no
# npm packages) and builds the page's wasm first if web/pkg has none; the release build then
# puts the page inside the binary.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$ROOT"

if [ ! -f web/pkg/crypto_wasm_bg.wasm ] || [ ! -f web/pkg/crypto_wasm.js ]; then
    scripts/setup-run.sh
    # A bundle over the size budget still works; only a missing bundle stops the peer.
    scripts/build-wasm.sh || [ -f web/pkg/crypto_wasm_bg.wasm ] || die "wasm build failed"
fi
exec cargo run --release -p peer --bin p2p-chat -- "$@"
