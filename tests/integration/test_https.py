"""The optional HTTPS front on a real stack: docker-compose.yml + docker-compose.https.yml.

Caddy (``MASTERCLASS_CADDY_IMAGE``, here ``masterclass/caddy:latest`` from images/caddy)
serves ``localhost`` with a certificate from its own local CA (``tls internal``, the
default). The tests take that CA's root certificate out of the caddy data volume, at the
path Ansible's tls role exports it from, and speak real TLS to the published HTTPS port:
the chain verifies against that root and fails without it. Over HTTPS they check HSTS,
the redirect from plain HTTP, the login form, Secure cookies, that the hub sees the
client's address (not the front's, not one a client claims), a pair's server starting
with its progress streamed, a kernel over a ``wss://`` websocket, and that the front
keeps working when the hub container restarts.

The ports of the front are free ports (``MASTERCLASS_HTTP_PORT``/``MASTERCLASS_HTTPS_PORT``).
"""

from __future__ import annotations

import html
import ipaddress
import json
import os
import re
import ssl
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import websocket
from hub_fixtures import ROOT, Browser, Kernel, Stack, free_port, wait_until

from masterclass.messages import text

pytestmark = [pytest.mark.docker, pytest.mark.slow]

CADDY_IMAGE = os.environ.get("CADDY_IMAGE", "masterclass/caddy:latest")
#: Where Caddy keeps the root certificate of its own CA in its data volume (the path
#: ansible/roles/tls exports from).
ROOT_CRT = "caddy/pki/authorities/local/root.crt"
#: Addresses a client claims in headers; the hub must never believe them.
SPOOFED = {"X-Forwarded-For": "203.0.113.7", "X-Real-Ip": "203.0.113.8"}


class HttpsStack(Stack):
    """A stack with the HTTPS front, on free ports, torn down with Caddy's volumes."""

    def __init__(self, **env: str) -> None:
        self.http_port = free_port()
        self.https_port = free_port()
        while self.https_port == self.http_port:
            self.https_port = free_port()
        self.https_url = f"https://localhost:{self.https_port}"
        super().__init__(
            MASTERCLASS_HTTP_PORT=str(self.http_port),
            MASTERCLASS_HTTPS_PORT=str(self.https_port),
            MASTERCLASS_CADDY_IMAGE=CADDY_IMAGE,
            MASTERCLASS_DOMAIN="localhost",
            MASTERCLASS_TLS="internal",
            MASTERCLASS_PUBLIC_URL=self.https_url,
            **env,
        )
        self.front = f"{self.prefix}-https"

    def compose(self, *args: str, timeout: float = 300, check: bool = True):
        """Stack.compose with the override file (so `down -v` removes Caddy's volumes too)."""
        files = ["-f", "docker-compose.yml", "-f", "docker-compose.https.yml"]
        return subprocess.run(
            ["docker-compose", *files, *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=check,
        )

    def hub_log(self) -> str:
        logs = self.docker("logs", self.hub)
        return logs.stdout + logs.stderr

    def read_volume(self, volume: str, path: str) -> str:
        """A file of one of the stack's volumes, read by a throwaway container."""
        return self.docker(
            "run", "--rm", "--network=none", "-v", f"{self.prefix}-{volume}:/v:ro",
            CADDY_IMAGE, "cat", f"/v/{path}",
        ).stdout  # fmt: skip

    def front_addresses(self) -> set[str]:
        info = self.inspect(self.front)
        return {n["IPAddress"] for n in info["NetworkSettings"]["Networks"].values()}


class HttpsBrowser(Browser):
    """Browser (the real login form, the pair's servers) over HTTPS, trusting only ``ca``."""

    def __init__(self, stack: HttpsStack, ca: ssl.SSLContext) -> None:
        super().__init__(stack)
        self.http = httpx.Client(
            base_url=stack.https_url, verify=ca, follow_redirects=True, timeout=60
        )


class WssKernel(Kernel):
    """A kernel of a pair's server, driven over ``wss://`` through the front."""

    def __init__(self, stack: HttpsStack, user: str, token: str, ca_file: Path) -> None:
        self.ca_file = ca_file
        api = httpx.Client(
            base_url=f"{stack.https_url}/user/{user}/api",
            headers={"Authorization": f"token {token}"},
            verify=ssl.create_default_context(cafile=str(ca_file)),
            timeout=60,
        )
        created = api.post("/kernels", json={"name": "python3"})
        assert created.status_code == 201, created.text
        super().__init__(stack, user, token, kernel_id=created.json()["id"])
        self.api = api

    def connect(self) -> websocket.WebSocket:
        url = self.stack.https_url.replace("https://", "wss://")
        return websocket.create_connection(
            f"{url}/user/{self.user}/api/kernels/{self.id}/channels",
            header=[f"Authorization: token {self.token}"],
            sslopt={"ca_certs": str(self.ca_file)},
            timeout=30,
        )


@pytest.fixture(scope="module")
def caddy_image(docker_cli) -> str:
    if docker_cli("image", "inspect", CADDY_IMAGE, check=False).returncode != 0:
        pytest.fail(f"image {CADDY_IMAGE} is missing; build it with `make images`", pytrace=False)
    return CADDY_IMAGE


@pytest.fixture(scope="module")
def stack(hub_image, student_image, caddy_image, request):
    s = HttpsStack()
    with s.running(request):
        yield s
    left = s.docker("volume", "ls", "-q", "--filter", f"name=^{s.prefix}-").stdout.split()
    assert not left, f"volumes left behind: {left}"


@pytest.fixture(scope="module")
def ca_file(stack, tmp_path_factory) -> Path:
    """The root certificate of Caddy's own CA, copied out of the caddy data volume."""
    pem = wait_until(
        lambda: stack.read_volume("caddy-data", ROOT_CRT),
        60,
        "Caddy to create its local CA",
        stack.explain,
    )
    assert pem.startswith("-----BEGIN CERTIFICATE-----"), pem[:200]
    path = tmp_path_factory.mktemp("caddy-ca") / "root.crt"
    path.write_text(pem)
    return path


@pytest.fixture(scope="module")
def ca(ca_file) -> ssl.SSLContext:
    """Trusts Caddy's root only (not the machine's CAs)."""
    return ssl.create_default_context(cafile=str(ca_file))


@pytest.fixture(scope="module")
def https_up(stack, ca) -> None:
    def answers():
        return httpx.get(f"{stack.https_url}/hub/login", verify=ca, timeout=10).status_code == 200

    wait_until(answers, 120, "the hub's login page over HTTPS", stack.explain)


@pytest.fixture(scope="module")
def logins(stack):
    return stack.demo_logins()


@pytest.fixture(scope="module")
def pair(stack, ca, https_up, logins) -> HttpsBrowser:
    """pair-01, logged in over HTTPS (with addresses of its own invention in every request)."""
    browser = HttpsBrowser(stack, ca)
    browser.http.headers.update(SPOOFED)
    response = browser.login("pair-01", logins["pair-01"])
    assert response.status_code == 302, response.text[:500]
    return browser


def test_login_page_over_https_verifies_against_caddys_own_ca(stack, ca, ca_file, https_up):
    with (
        httpx.Client(verify=ca, timeout=30) as client,
        client.stream("GET", f"{stack.https_url}/hub/login") as response,
    ):
        tls = response.extensions["network_stream"].get_extra_info("ssl_object")
        assert tls.version() in ("TLSv1.2", "TLSv1.3")
        cert = tls.getpeercert()
        response.read()
    assert response.status_code == 200
    assert 'name="password"' in response.text
    assert ("DNS", "localhost") in cert["subjectAltName"]
    issuer = dict(entry[0] for entry in cert["issuer"])
    assert issuer["commonName"].startswith("Caddy Local Authority"), issuer

    # The same request trusting the machine's CAs instead: the chain is Caddy's own.
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{stack.https_url}/hub/login", timeout=30)
    # And the HTTPS port speaks TLS only.
    plain = httpx.get(f"http://localhost:{stack.https_port}/hub/login", timeout=30)
    assert plain.status_code == 400, plain.text[:300]
    assert "HTTPS" in plain.text
    # One certificate (the root) is all a machine needs to trust the hub.
    assert ca_file.read_text().count("BEGIN CERTIFICATE") == 1


def test_hsts_and_plain_http_redirects_to_https(stack, ca, https_up):
    page = httpx.get(f"{stack.https_url}/hub/login", verify=ca, timeout=30)
    assert page.headers["strict-transport-security"] == "max-age=31536000"

    plain = httpx.get(f"http://localhost:{stack.http_port}/hub/login?username=pair-02", timeout=30)
    assert plain.status_code in (301, 308), plain.headers
    # Caddy redirects to the standard HTTPS port of the same host (443 on a real server).
    assert plain.headers["location"] == "https://localhost/hub/login?username=pair-02"


def test_a_pair_logs_in_over_https_with_secure_cookies(stack, pair):
    cookies = {c.name: c for c in pair.http.cookies.jar}
    assert {"jupyterhub-hub-login", "jupyterhub-session-id"} <= set(cookies)
    assert cookies["jupyterhub-hub-login"].secure, "the hub did not see HTTPS (X-Scheme)"
    assert pair.hub_api("GET", "/user").json()["name"] == "pair-01"
    assert "User logged in: pair-01" in stack.hub_log()


def client_address_in_log(log: str, user: str) -> str:
    """The address the hub logged for ``user``'s successful login POST."""
    seen = re.findall(rf"302 POST /hub/login\S* -> \S+ \({re.escape(user)}@([^)]+)\)", log)
    assert seen, f"no login of {user} in the hub's log:\n{log[-3000:]}"
    return seen[-1]


def test_the_hub_sees_the_clients_address_not_the_fronts_nor_a_claimed_one(stack, pair):
    address = client_address_in_log(stack.hub_log(), "pair-01")
    ipaddress.ip_address(address)  # an address, not "unknown"
    assert address not in {"127.0.0.1", "::1", "::ffff:127.0.0.1"}, address
    assert address not in stack.front_addresses(), f"{address}: the front's own address"
    assert address not in SPOOFED.values(), f"{address}: an address the client made up"


def test_throttling_over_https_counts_the_clients_address(stack, ca, https_up, pair):
    user, password = stack.add_pair()
    browser = HttpsBrowser(stack, ca)
    browser.http.headers.update(SPOOFED)
    codes = [browser.login(user, f"wrong-guess-{i:02d}").status_code for i in range(5)]
    assert codes == [403] * 5
    throttled = browser.login(user, password)
    assert throttled.status_code == 429, throttled.text[:300]
    wait = text("login.throttled", seconds=60).split("60")[0]
    assert html.escape(wait, quote=False) in throttled.text, throttled.text[:2000]

    logged = re.findall(rf"Throttled login for '{re.escape(user)}' from (\S+)", stack.hub_log())
    assert logged, stack.hub_log()[-3000:]
    # The same address as pair-01's login from this machine: the client's, seen through
    # the front, so a class behind one school address is throttled as one client.
    assert logged[-1] == client_address_in_log(stack.hub_log(), "pair-01")


def test_a_pairs_server_starts_with_streamed_progress_and_runs_a_kernel_over_wss(
    stack, ca, ca_file, https_up, logins
):
    browser = HttpsBrowser(stack, ca)
    assert browser.login("pair-03", logins["pair-03"]).status_code == 302

    def pending() -> bool:
        model = browser.hub_api("GET", "/users/pair-03").json()
        return model["servers"].get("", {}).get("pending") == "spawn"

    events: list[tuple[float, dict]] = []
    with ThreadPoolExecutor(1) as pool:
        started = pool.submit(browser.hub_api, "POST", "/users/pair-03/server")
        wait_until(pending, 60, "the spawn of pair-03 to be pending", stack.explain, interval=0.2)
        with browser.http.stream(
            "GET",
            "/hub/api/users/pair-03/server/progress",
            headers={**browser.xsrf_headers("/hub/"), "Accept": "text/event-stream"},
            timeout=300,
        ) as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            for line in stream.iter_lines():
                if line.startswith("data:"):
                    events.append((time.monotonic(), json.loads(line[5:])))
        assert started.result().status_code in (201, 202)

    assert events and events[-1][1].get("ready"), events
    # Events arrive as the spawn goes on, not all at the end (the front does not buffer).
    first, last = events[0][0], events[-1][0]
    assert not events[0][1].get("ready"), events
    assert last - first >= 1.0, f"all progress events arrived at once: {events}"

    browser.wait_ready("pair-03", timeout=300)  # the OAuth dance with the hub, over HTTPS
    kernel = WssKernel(stack, "pair-03", browser.token(), ca_file)
    try:
        result = kernel.execute("print(6 * 7)")
        assert result["status"] == "ok" and result["stdout"].strip() == "42", result
    finally:
        kernel.close()


def test_the_front_survives_a_restart_of_the_hub(stack, ca, pair):
    stack.docker("restart", stack.hub)
    wait_until(stack.healthy, 120, "the hub after its restart", stack.explain)

    def answers():
        return pair.hub_api("GET", "/user").json()["name"] == "pair-01"

    # The same cookie over the same front: Caddy is not inside the hub's network namespace.
    wait_until(answers, 60, "the hub over HTTPS after its restart", stack.explain)
    assert stack.inspect(stack.front)["State"]["Running"]
