#!/usr/bin/env bash
# Installs what TESTING p2p-chat needs on top of scripts/setup-run.sh and is missing:
#   apt:   chromium (browser tests), iproute2 (`ss`, for the file tests);
#   rustup components rustfmt and clippy;
#   npm:   tests/node_modules from tests/package-lock.json (playwright-core; never a browser
#          download).
# Idempotent: a second run installs nothing.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

start=$SECONDS
apt_ensure chromium
# `ss` (iproute2): the file tests count the bytes a sender put on its sockets.
apt_ensure iproute2

command -v cargo >/dev/null || die "cargo not found (install Rust with rustup first)"
for component in rustfmt clippy; do
    if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
        log "rustup component add $component"
        rustup component add "$component" || die "cargo ${component/rustfmt/fmt} is missing"
    fi
done
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

log "test set-up done in $((SECONDS - start)) s"
