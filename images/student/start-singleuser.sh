#!/bin/sh
# The pair's server: fetch the released worksheet first (a no-op when it is already in
# the home or no exchange is configured), so that it is open right after login.
# A failing fetch never stops the server; the assignment list can fetch it later.
python3 -m masterclass.grading.client autofetch "$HOME" || true
exec jupyterhub-singleuser "$@"
