# Sourced by up.sh, start.sh and down.sh: sets the array `compose` to the Compose command that works
# here. Source it only after the engine step: .ci/ensure-docker may just have installed
# docker-compose, and a `docker` client without the compose plugin may come first on the PATH.
# MASTERCLASS_COMPOSE overrides the choice (the Ansible role's masterclass_compose_command).
if [[ -n "${MASTERCLASS_COMPOSE:-}" ]]; then
    read -r -a compose <<<"$MASTERCLASS_COMPOSE"
elif command -v docker-compose >/dev/null 2>&1; then
    compose=(docker-compose)
elif docker compose version >/dev/null 2>&1; then
    compose=(docker compose)
else
    echo "Neither docker-compose nor the docker compose plugin is installed." >&2
    echo "Debian/Ubuntu, as root: apt-get install -y docker-compose" >&2
    exit 1
fi
