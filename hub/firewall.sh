#!/bin/sh
# The pairs' network reaches the hub and nothing else: not this machine, not each other.
#
# Usage, as root (hub/up.sh runs it at every `make up`):
#   hub/firewall.sh [NET]            apply (again: nothing changes)
#   hub/firewall.sh --remove [NET]   take the chains and their jumps away
# NET is MASTERCLASS_SPAWN_NET (default 198.18.213), the first three octets of the spawn
# network: docker-compose.yml gives that network NET.0/24 with the host's side (the
# gateway) at NET.1, the hub at NET.2 and every other container (the pairs' and tutors'
# servers DockerSpawner starts, the formgrader) in NET.128/25.
#
# Two chains per spawn network, each replaced at once (iptables-restore --noflush):
#
# MC-<NET>-HOST, jumped to first from INPUT for packets from NET.0/24: the machine's own
#   traffic to its address there (loopback) and replies pass, everything else is
#   dropped. Code in a pair's container reaches no address of this machine (the gateway
#   NET.1 or any other), whatever listens there on 0.0.0.0.
# MC-<NET>-NET, jumped to first from DOCKER-USER (which Docker jumps to first from
#   FORWARD) for packets from NET.0/24; bridge netfilter sends the traffic between the
#   containers of one bridge through FORWARD. Replies pass; the hub (NET.2) reaches
#   everyone (its proxy and spawner talk to the pairs' servers); everyone reaches the
#   hub's proxy (8000: the pairs' servers, the exchange, the results board) and its API
#   (8081); the rest is dropped: a pair to another pair, to the formgrader, to any other
#   port of the hub (the proxy's API, 8001).
#
# The addresses are fixed, so the rules stay right when containers or Docker restart.
# A reboot loses them: run `make up` (or this script) again before the class; on a
# server set up with Ansible the masterclass-firewall unit runs it at every boot.
# Prints "changed" or "unchanged".
set -eu

remove=0
if [ "${1:-}" = --remove ]; then remove=1; shift; fi
net="${1:-${MASTERCLASS_SPAWN_NET:-198.18.213}}"
case "$net" in
    *[!0-9.]* | *..* | .* | *.) echo "firewall: not three octets: $net" >&2; exit 2 ;;
esac
[ "$(echo "$net" | tr -cd . | wc -c)" -eq 2 ] || { echo "firewall: not three octets: $net" >&2; exit 2; }
subnet="$net.0/24"
hub="$net.2"
name="MC-$(echo "$net" | tr . -)"
host_chain="$name-HOST"
net_chain="$name-NET"

command -v iptables >/dev/null || { echo "firewall: iptables is missing" >&2; exit 1; }
if [ "$remove" = 1 ]; then
    while iptables -D INPUT -s "$subnet" -j "$host_chain" 2>/dev/null; do :; done
    while iptables -D DOCKER-USER -s "$subnet" -j "$net_chain" 2>/dev/null; do :; done
    for chain in "$host_chain" "$net_chain"; do
        if iptables -F "$chain" 2>/dev/null; then iptables -X "$chain"; fi
    done
    echo removed
    exit 0
fi
# Without bridge netfilter, traffic between two containers of one bridge never meets
# iptables: the pairs would reach each other whatever the rules say.
modprobe br_netfilter 2>/dev/null || true
sysctl -qw net.bridge.bridge-nf-call-iptables=1 2>/dev/null || true
if [ "$(cat /proc/sys/net/bridge/bridge-nf-call-iptables 2>/dev/null)" != 1 ]; then
    echo "firewall: WARNING: bridge netfilter (br_netfilter) is off here: this machine is" >&2
    echo "firewall: closed to the pairs, but pairs on one bridge can reach each other" >&2
fi

rules() {
    iptables -S "$host_chain" 2>/dev/null || true
    iptables -S "$net_chain" 2>/dev/null || true
    iptables -S INPUT | grep -e "-j $host_chain\$" || true
    iptables -S DOCKER-USER 2>/dev/null | grep -e "-j $net_chain\$" || true
}
before="$(rules)"

# Docker makes DOCKER-USER at its start; before that (at boot) it is made here.
iptables -N DOCKER-USER 2>/dev/null || true
iptables-restore --noflush <<EOF
*filter
:$host_chain - [0:0]
:$net_chain - [0:0]
-F $host_chain
-F $net_chain
-A $host_chain -i lo -j RETURN
-A $host_chain -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN
-A $host_chain -j DROP
-A $net_chain -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN
-A $net_chain -s $hub/32 -j RETURN
-A $net_chain -d $hub/32 -p tcp -m multiport --dports 8000,8081 -j RETURN
-A $net_chain -j DROP
COMMIT
EOF
iptables -C INPUT -s "$subnet" -j "$host_chain" 2>/dev/null \
    || iptables -I INPUT 1 -s "$subnet" -j "$host_chain"
iptables -C DOCKER-USER -s "$subnet" -j "$net_chain" 2>/dev/null \
    || iptables -I DOCKER-USER 1 -s "$subnet" -j "$net_chain"
# Docker inserts this jump itself when it starts; before its first start it is ours.
iptables -C FORWARD -j DOCKER-USER 2>/dev/null || iptables -I FORWARD 1 -j DOCKER-USER

if [ "$(rules)" != "$before" ]; then echo changed; else echo unchanged; fi
