#!/usr/bin/env bash
# Installs everything building and testing p2p-chat needs and is missing: scripts/setup-run.sh
# (the wasm toolchain; all that running a peer needs) then scripts/setup-test.sh (Chromium,
# rustfmt/clippy, the npm test packages). Idempotent: a second run installs nothing.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

start=$SECONDS
"$ROOT/scripts/setup-run.sh"
"$ROOT/scripts/setup-test.sh"
log "setup done in $((SECONDS - start)) s"
