#!/bin/sh
# Start configurable-http-proxy as JupyterHub would start it as its child, and keep it up.
#
# The token is the hub's: JupyterHub makes it on its first start (state/proxy_token, mode
# 600) and this container reads it from the hub's state volume, mounted read-only. As
# root this script reads it; the proxy itself then runs as nobody, who can read nothing
# in that volume. Until the hub has made the token (its first start, a second after this
# container's), the script waits.
#
# A proxy that exits is started again here, in the same container: the hub lives in this
# container's network namespace, which a restart of the container would replace. The hub
# puts the routes back at its next check (JupyterHub's last_activity_interval, 30 s here);
# until then the new proxy answers with the hub's error page. (No default target: then
# the hub would answer /hub/health before it has added its services' routes.)
#
# Environment (optional; docker-compose.yml sets neither, these are the defaults):
#   MASTERCLASS_PROXY_TOKEN_FILE   /srv/jupyterhub/state/proxy_token
#   MASTERCLASS_PROXY_LOG_LEVEL    info
set -u
token_file="${MASTERCLASS_PROXY_TOKEN_FILE:-/srv/jupyterhub/state/proxy_token}"
waited=0
while [ ! -s "$token_file" ]; do
    if [ "$waited" -eq 0 ]; then
        echo "masterclass-proxy: waiting for the hub to write its proxy token ($token_file)" >&2
    fi
    waited=1
    sleep 0.5
done
while :; do
    CONFIGPROXY_AUTH_TOKEN="$(cat "$token_file")"
    export CONFIGPROXY_AUTH_TOKEN
    # The options JupyterHub gives the proxy it starts itself (jupyterhub/proxy.py):
    # everything on port 8000, the API on loopback, errors rendered by the hub.
    setpriv --reuid=nobody --regid=nogroup --clear-groups --no-new-privs \
        configurable-http-proxy --ip "" --port 8000 --api-ip 127.0.0.1 --api-port 8001 \
        --error-target http://127.0.0.1:8081/hub/error \
        --log-level "${MASTERCLASS_PROXY_LOG_LEVEL:-info}" "$@"
    echo "masterclass-proxy: the proxy exited with status $?; starting it again in 1 s" >&2
    sleep 1
done
