"""Container healthcheck: is the single-user Jupyter server answering on its own URL?

JupyterHub passes the server's URL in JUPYTERHUB_SERVICE_URL (for example
http://0.0.0.0:8888/user/pair-01/); `<url>api` answers without authentication.
Outside a hub the default port 8888 and base URL / are assumed.
"""

import os
import ssl
import sys
import urllib.parse
import urllib.request

url = os.environ.get("JUPYTERHUB_SERVICE_URL", "http://127.0.0.1:8888/")
parts = urllib.parse.urlsplit(url)
port = parts.port or (443 if parts.scheme == "https" else 80)
path = parts.path if parts.path.endswith("/") else parts.path + "/"
probe = f"{parts.scheme}://127.0.0.1:{port}{path}api"

# With internal SSL the certificate names the container, not 127.0.0.1.
context = ssl.create_default_context()
context.check_hostname = False
context.verify_mode = ssl.CERT_NONE
try:
    with urllib.request.urlopen(probe, timeout=8, context=context) as response:
        sys.exit(0 if response.status == 200 else 1)
except Exception as error:  # any failure means unhealthy
    print(f"unhealthy: {probe}: {error}", file=sys.stderr)
    sys.exit(1)
