#!/usr/bin/env bash
# Start or update the stack: `docker-compose up -d` (arguments go to it), then make sure
# the hub runs in the network namespace of the proxy's current container.
#
# The hub shares the proxy container's network namespace (docker-compose.yml). When
# Compose replaces the proxy's container (a changed MASTERCLASS_PORT or MASTERCLASS_BIND,
# a new proxy image), Compose v1 leaves the hub in the old container's namespace, cut off
# from everything, and reports it "up-to-date". This script then recreates the hub too.
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
if [[ "$mode" != "container:$proxy" ]]; then
    echo "The proxy's container is new: recreating the hub in its network namespace." >&2
    "${compose[@]}" up -d --no-deps --force-recreate hub
fi
