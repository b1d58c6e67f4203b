#!/bin/sh
# The pair's server. The released worksheet is fetched by the server itself, before it
# answers (masterclass.grading.autofetch, a server extension: no second Python process
# per start), and a release that comes later reaches the running server too.

# JupyterLab in the class language (MASTERCLASS_LANG, German by default): the folder of
# that language sets JupyterLab's default locale (images/student/lab/lang/).
lang="$(printf '%.2s' "${MASTERCLASS_LANG:-de}" | tr '[:upper:]' '[:lower:]')"
[ -d "/opt/masterclass/jupyter/$lang" ] || lang=de
export JUPYTER_CONFIG_PATH="/opt/masterclass/jupyter/$lang${JUPYTER_CONFIG_PATH:+:$JUPYTER_CONFIG_PATH}"

exec jupyterhub-singleuser "$@"
