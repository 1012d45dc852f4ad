#!/usr/bin/env bash
# Installs what the network lab (tests/netlab/) needs and is missing: nftables (the routers'
# NAT and firewall), miniupnpd-nftables (the UPnP-IGD / NAT-PMP / PCP gateway on one router)
# and natpmpc (checks the router's mappings). Idempotent; Debian 12, as root (or sudo).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# miniupnpd asks debconf questions and would start a service: RUNLEVEL=1 (inherited by the
# apt-get that apt_ensure runs) answers none and starts nothing.
export RUNLEVEL=1
apt_ensure nftables miniupnpd-nftables natpmpc iproute2
