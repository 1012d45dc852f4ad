#!/usr/bin/env bash
# Builds (up) and removes (down) the network lab: a small simulated internet made of Linux
# network namespaces, isolated from the host (no interface of the lab is in the host's
# namespace, and nothing routes out of it).
#
#   internet  11.0.0.0/24 on a bridge; the public peer C listens at 11.0.0.100 (and
#             2001:db8:100::100, see below). 11.0.0.0/24 is a range miniupnpd treats as public;
#             it exists only inside the lab.
#   r1        home router: WAN 11.0.0.1, LAN 192.168.1.1/24; masquerade, stateful forward, new
#             connections from the WAN dropped silently (no RST); runs miniupnpd
#             (UPnP-IGD, NAT-PMP, PCP).
#   h1        a home computer behind r1: 192.168.1.10, default route via r1.
#   r2, h2    the same without miniupnpd: WAN 11.0.0.2, LAN 192.168.2.0/24, h2 = 192.168.2.10.
#   r3, h3    the same with a miniupnpd that speaks UPnP-IGD only (no NAT-PMP/PCP):
#             WAN 11.0.0.3, LAN 192.168.3.0/24, h3 = 192.168.3.10.
#   lana/lanb two computers on a LAN without any default route: 10.9.0.1 / 10.9.0.2 and the
#             IPv6 addresses 2001:db8:9::1 / 2001:db8:9::2 on one veth pair.
#
# Usage: lab.sh up PREFIX | lab.sh down PREFIX. Namespaces are PREFIX-<name>; `down` stops
# every process still running inside them (by PID) and deletes them.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
NAMES=(inet r1 h1 r2 h2 r3 h3 lana lanb)

ns() { ip netns exec "$PREFIX-$1" "${@:2}"; }

# A veth pair created directly inside two lab namespaces (never in the host's).
link() { # ns1 if1 ns2 if2
    ip link add "$2" netns "$PREFIX-$1" type veth peer name "$4" netns "$PREFIX-$3"
    ns "$1" ip link set "$2" up
    ns "$3" ip link set "$4" up
}

router() { # name wan_ip lan_ip lan_prefix
    local r=$1
    ns "$r" sysctl -q -w net.ipv4.ip_forward=1
    ns "$r" ip addr add "$2/24" dev wan
    ns "$r" ip addr add "$3/24" dev lan
    ns "$r" ip route add default via 11.0.0.100
    # Table and chain names as miniupnpd expects them (see miniupnpd.conf); "fwd" is an nft
    # keyword, so the forward chain is called "forward".
    ns "$r" nft -f - <<NFT
table inet filter {
    chain miniupnpd { }
    chain forward {
        type filter hook forward priority 0; policy drop;
        ct state established,related accept
        iifname "lan" accept
        jump miniupnpd
    }
    chain input {
        type filter hook input priority 0; policy accept;
        iifname "wan" ct state new drop
    }
}
table inet nat {
    chain prerouting_miniupnpd { }
    chain postrouting_miniupnpd { }
    chain prerouting {
        type nat hook prerouting priority dstnat; policy accept;
        jump prerouting_miniupnpd
    }
    chain postrouting {
        type nat hook postrouting priority srcnat; policy accept;
        jump postrouting_miniupnpd
        oifname "wan" masquerade
    }
}
NFT
}

up() {
    for n in "${NAMES[@]}"; do
        ip netns add "$PREFIX-$n"
        ns "$n" ip link set lo up
    done
    # The internet: a bridge joining C's address and both routers' WAN sides.
    ns inet ip link add br0 type bridge
    ns inet ip link set br0 up
    ns inet ip addr add 11.0.0.100/24 dev br0
    link inet r1wan r1 wan
    link inet r2wan r2 wan
    link inet r3wan r3 wan
    ns inet ip link set r1wan master br0
    ns inet ip link set r2wan master br0
    ns inet ip link set r3wan master br0
    # Home LANs.
    link r1 lan h1 eth0
    link r2 lan h2 eth0
    link r3 lan h3 eth0
    router r1 11.0.0.1 192.168.1.1
    router r2 11.0.0.2 192.168.2.1
    router r3 11.0.0.3 192.168.3.1
    ns h1 ip addr add 192.168.1.10/24 dev eth0
    ns h1 ip route add default via 192.168.1.1
    ns h2 ip addr add 192.168.2.10/24 dev eth0
    ns h2 ip route add default via 192.168.2.1
    ns h3 ip addr add 192.168.3.10/24 dev eth0
    ns h3 ip route add default via 192.168.3.1
    # A LAN with no route anywhere else, IPv4 and IPv6.
    link lana eth0 lanb eth0
    ns lana ip addr add 10.9.0.1/24 dev eth0
    ns lanb ip addr add 10.9.0.2/24 dev eth0
    ns lana ip -6 addr add 2001:db8:9::1/64 dev eth0 nodad
    ns lanb ip -6 addr add 2001:db8:9::2/64 dev eth0 nodad
    # miniupnpd on r1 (every protocol) and on r3 (UPnP-IGD only).
    miniupnpd_on r1 192.168.1 yes
    miniupnpd_on r3 192.168.3 no
    # Ready when r1 answers NAT-PMP (address request, opcode 0) and r3 has bound its HTTP port.
    for _ in $(seq 50); do
        if ns h1 natpmpc -g 192.168.1.1 >/dev/null 2>&1 \
            && grep -q "HTTP listening" "$LAB_RUN_DIR/miniupnpd-r3/miniupnpd.log"; then
            return 0
        fi
        sleep 0.1
    done
    echo "miniupnpd did not come up:" >&2
    cat "$LAB_RUN_DIR"/miniupnpd-*/miniupnpd.log >&2
    return 1
}

miniupnpd_on() { # router lan_net(/24, 3 octets) natpmp(yes/no)
    local run="$LAB_RUN_DIR/miniupnpd-$1"
    mkdir -p "$run"
    sed -e "s|@UUID@|$(cat /proc/sys/kernel/random/uuid)|" -e "s|@LAN@|$2|" -e "s|@NATPMP@|$3|" \
        "$HERE/miniupnpd.conf" >"$run/miniupnpd.conf"
    ns "$1" miniupnpd -d -f "$run/miniupnpd.conf" -P "$run/miniupnpd.pid" >"$run/miniupnpd.log" 2>&1 &
}

down() {
    local n pid
    for n in "${NAMES[@]}"; do
        [ -e "/run/netns/$PREFIX-$n" ] || continue
        for pid in $(ip netns pids "$PREFIX-$n" 2>/dev/null); do
            kill -TERM "$pid" 2>/dev/null || true
        done
    done
    sleep 0.3
    for n in "${NAMES[@]}"; do
        [ -e "/run/netns/$PREFIX-$n" ] || continue
        for pid in $(ip netns pids "$PREFIX-$n" 2>/dev/null); do
            kill -KILL "$pid" 2>/dev/null || true
        done
        ip netns delete "$PREFIX-$n" || true
    done
}

cmd="${1:?usage: lab.sh up|down PREFIX}"
PREFIX="${2:?usage: lab.sh up|down PREFIX}"
LAB_RUN_DIR="${LAB_RUN_DIR:-/tmp/$PREFIX}"
case "$cmd" in
up) up ;;
down) down ;;
*) echo "usage: lab.sh up|down PREFIX" >&2; exit 2 ;;
esac
