#!/bin/sh
# The pair's server: fetch the released worksheet first (a no-op when it is already in
# the home or no exchange is configured), so that it is open right after login.
# A failing fetch never stops the server; masterclass.grading.autofetch keeps trying
# while the server runs (and holds the worksheet's place with a notice until then).
python3 -m masterclass.grading.client autofetch "$HOME" || true

# JupyterLab in the class language (MASTERCLASS_LANG, German by default): the folder of
# that language sets JupyterLab's default locale (images/student/lab/lang/).
lang="$(printf '%.2s' "${MASTERCLASS_LANG:-de}" | tr '[:upper:]' '[:lower:]')"
[ -d "/opt/masterclass/jupyter/$lang" ] || lang=de
export JUPYTER_CONFIG_PATH="/opt/masterclass/jupyter/$lang${JUPYTER_CONFIG_PATH:+:$JUPYTER_CONFIG_PATH}"

exec jupyterhub-singleuser "$@"
