#!/usr/bin/env bash
# `make up`: start Masterclass Hub on this machine and print its URL and the logins.
#
# 1. makes sure a Docker engine and Compose answer (.ci/ensure-docker installs
#    Debian's packages when run as root on Debian/Ubuntu);
# 2. builds the images if they are missing (`make images`);
# 3. starts the stack with docker-compose (hub/start.sh) and applies the firewall of the pairs'
#    network (hub/firewall.sh, as root; again at every `make up`, e.g. after a reboot);
# 4. creates the demo class (3 pairs, 1 tutor) if no class exists yet;
# 5. waits until the hub answers (deadline MASTERCLASS_UP_TIMEOUT, default 180 s);
# 6. for the demo class, releases the course's worksheets that are not released yet
#    (hub/release-missing.sh), so a pair's first login opens the worksheet;
# 7. prints the URL and the logins.
#
# Settings come from the environment or .env (docs/configuration.md); as with Compose,
# a variable set in the environment wins over .env.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=hub/env.sh
source hub/env.sh
prefix="${MASTERCLASS_PREFIX:-masterclass}"
port="${MASTERCLASS_PORT:-8000}"
url="${MASTERCLASS_PUBLIC_URL:-http://localhost:${port}}"
if [[ -x .ci/ensure-docker ]]; then
    .ci/ensure-docker
elif ! docker info >/dev/null 2>&1; then
    echo "No Docker engine answers. Install Docker Engine and Compose, for example on" >&2
    echo "Debian/Ubuntu as root: apt-get install -y docker.io docker-compose" >&2
    exit 1
fi

# shellcheck source=hub/compose.sh
source hub/compose.sh

student="${MASTERCLASS_STUDENT_IMAGE:-masterclass/student:latest}"
hub="${MASTERCLASS_HUB_IMAGE:-masterclass/hub:latest}"
proxy="${MASTERCLASS_PROXY_IMAGE:-masterclass/proxy:latest}"
if ! docker image inspect "$student" "$hub" "$proxy" >/dev/null 2>&1; then
    echo "Building the images (missing: $student, $hub or $proxy) ..."
    make images
fi

# `up -d`, and the hub recreated if Compose made the proxy's container anew (hub/start.sh).
hub/start.sh
# The pairs reach the hub and nothing else (not this machine, not each other).
spawn_net="${MASTERCLASS_SPAWN_NET:-198.18.213}"
if [[ $EUID -eq 0 ]]; then
    firewall=(hub/firewall.sh "$spawn_net")
else
    firewall=(sudo -n hub/firewall.sh "$spawn_net")
fi
if ! "${firewall[@]}" >/dev/null; then
    echo "WARNING: the firewall of the pairs' network is NOT in place: code in a pair's" >&2
    echo "container can reach this machine's services. Run as root: hub/firewall.sh $spawn_net" >&2
fi
# The deadline starts now: building the images above may take minutes on a fresh machine.
deadline=$((SECONDS + ${MASTERCLASS_UP_TIMEOUT:-180}))

# The roster lives in the hub's state volume; the demo's logins too (mode 600),
# so that every `make up` can print them again.
logins="$("${compose[@]}" exec -T hub python -m masterclass.roster demo /srv/jupyterhub/state "$url")"

until curl -fs -o /dev/null "http://127.0.0.1:${port}/hub/health"; do
    if ((SECONDS > deadline)); then
        echo "The hub did not answer on port ${port} in time. Its last log lines:" >&2
        "${compose[@]}" logs --tail=80 proxy hub >&2
        exit 1
    fi
    sleep 2
done

released=0
if "${compose[@]}" exec -T hub test -f /srv/jupyterhub/state/demo-logins.json; then
    hub/release-missing.sh || released=$?
fi

echo
echo "$logins"
# The class results board's projector view (masterclass.board.board_url; docs/board.md).
echo "Results board for the projector (log in as a tutor): ${url%/}/services/results/projector"
echo
echo "Stop with 'make down' (all data is kept)."
exit "$released"
