#!/usr/bin/env bash
# Installs what the network lab (tests/netlab/) needs and is missing: nftables (the routers'
# NAT and firewall), miniupnpd-nftables (the UPnP-IGD / NAT-PMP / PCP gateway on one router)
# and natpmpc (checks the router's mappings). Idempotent; Debian 12, as root (or sudo).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

wanted=(nftables miniupnpd-nftables natpmpc iproute2)
missing=()
for pkg in "${wanted[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$pkg")
    fi
done
if [ "${#missing[@]}" -eq 0 ]; then
    log "netlab packages present: ${wanted[*]}"
    exit 0
fi
command -v apt-get >/dev/null || die "missing ${missing[*]} and no apt-get to install them"
log "apt-get install ${missing[*]}"
as_root apt-get update -q
# miniupnpd asks debconf questions and would start a service: answer none, start nothing.
as_root env DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get install -y -q --no-install-recommends \
    "${missing[@]}"
