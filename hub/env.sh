# Sourced by up.sh, down.sh and release-missing.sh: the settings of .env, as Compose reads them (a variable
# already set in the environment wins over .env).
if [[ -f .env ]]; then
    environment="$(export -p)"
    set -a
    # shellcheck disable=SC1091
    source .env
    set +a
    eval "$environment" || true  # (a read-only variable stays as it is)
fi
