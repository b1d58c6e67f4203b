#!/usr/bin/env bash
# `make down`: stop the pairs' servers and the hub; keep every volume (homes, roster,
# hub database, nbgrader exchange). `make up` starts it all again.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=hub/env.sh
source hub/env.sh
prefix="${MASTERCLASS_PREFIX:-masterclass}"
if ! docker info >/dev/null 2>&1; then
    echo "No Docker engine answers, so nothing runs to stop." >&2
    exit 0
fi
# shellcheck source=hub/compose.sh
source hub/compose.sh

# The pairs' containers are on the spawn network but not part of the compose project;
# they are removed on stop (their homes are volumes), and the hub notices at its next start.
pairs="$(docker ps -q --filter "network=${prefix}-spawn" --filter "name=^/${prefix}-" \
    | grep -v "$(docker ps -q --filter "name=^/${prefix}-(hub|proxy)$" || echo none)" || true)"
if [[ -n "$pairs" ]]; then
    echo "Stopping $(wc -w <<<"$pairs") pair server(s) ..."
    # shellcheck disable=SC2086
    docker stop $pairs >/dev/null
fi
"${compose[@]}" down
