#!/usr/bin/env bash
# Start or update the stack: `docker-compose up -d` (arguments go to it), then make sure
# the hub runs in the network namespace of the proxy's current container.
#
# The hub shares the proxy container's network namespace (docker-compose.yml). When
# Compose replaces the proxy's container (a changed MASTERCLASS_PORT or MASTERCLASS_BIND,
# a new proxy image), Compose v1 leaves the hub in the old container's namespace, cut off
# from everything, and reports it "up-to-date"; so does a `docker restart` of the proxy's
# container. This script then recreates the hub too.
#
# Run by `make up` (hub/up.sh) and, on an Ansible server, by the masterclass-hub unit and
# the role's handler. MASTERCLASS_COMPOSE names the Compose command (default: whichever
# of docker-compose and `docker compose` is installed).
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=hub/env.sh
source hub/env.sh
prefix="${MASTERCLASS_PREFIX:-masterclass}"
# shellcheck source=hub/compose.sh
source hub/compose.sh

"${compose[@]}" up -d "$@"
proxy="$(docker inspect -f '{{.Id}}' "${prefix}-proxy")"
mode="$(docker inspect -f '{{.HostConfig.NetworkMode}}' "${prefix}-hub")"
stranded=""
if [[ "$mode" != "container:$proxy" ]]; then
    stranded="The proxy's container is new"
else
    # A restarted proxy container (`docker restart`) keeps its id but gets a new network
    # namespace; the hub stays in the old one. Compare the two from inside.
    ns() { docker exec "$1" readlink /proc/self/ns/net 2>/dev/null || true; }
    hub_ns="$(ns "${prefix}-hub")"
    proxy_ns="$(ns "${prefix}-proxy")"
    if [[ -n "$hub_ns" && -n "$proxy_ns" && "$hub_ns" != "$proxy_ns" ]]; then
        stranded="The proxy's container was restarted"
    fi
fi
if [[ -n "$stranded" ]]; then
    echo "$stranded: recreating the hub in its network namespace." >&2
    "${compose[@]}" up -d --no-deps --force-recreate hub
fi
