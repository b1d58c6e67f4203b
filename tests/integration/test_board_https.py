"""The results board's event stream through the HTTPS front (Caddy), as a school serves it.

A stack with docker-compose.https.yml (test_https's ``HttpsStack``, Caddy's own CA). A
tutor's board stream and a pair's post both go over real TLS through Caddy and the
hub's proxy: the post must reach the open stream at once and the pings must keep
coming, i.e. nothing on the way buffers the stream (Caddy's ``encode gzip`` included).
No pair server is started: the pair posts with a token of its own.
"""

from __future__ import annotations

import ssl
import time

import httpx
import pytest
from hub_fixtures import wait_until
from sse_client import EventStream
from test_https import CADDY_IMAGE, ROOT_CRT, HttpsBrowser, HttpsStack

pytestmark = [pytest.mark.docker, pytest.mark.slow]

HEARTBEAT = 1


@pytest.fixture(scope="module")
def stack(hub_image, student_image, docker_cli, request):
    if docker_cli("image", "inspect", CADDY_IMAGE, check=False).returncode != 0:
        pytest.fail(f"image {CADDY_IMAGE} is missing; build it with `make images`", pytrace=False)
    with HttpsStack(MASTERCLASS_BOARD_HEARTBEAT=str(HEARTBEAT)).running(request) as s:
        yield s


@pytest.fixture(scope="module")
def ca(stack, tmp_path_factory) -> ssl.SSLContext:
    pem = wait_until(
        lambda: stack.read_volume("caddy-data", ROOT_CRT), 60, "Caddy's local CA", stack.explain
    )
    path = tmp_path_factory.mktemp("caddy-ca") / "root.crt"
    path.write_text(pem)
    context = ssl.create_default_context(cafile=str(path))

    def answers():
        r = httpx.get(f"{stack.https_url}/hub/login", verify=context, timeout=10)
        return r.status_code == 200

    wait_until(answers, 120, "the hub's login page over HTTPS", stack.explain)
    return context


def board_client(stack, ca, user: str, password: str) -> httpx.Client:
    browser = HttpsBrowser(stack, ca)
    assert browser.login(user, password).status_code == 302
    return httpx.Client(
        base_url=f"{stack.https_url}/services/results/",
        headers={"Authorization": f"token {browser.token()}"},
        verify=ca,
        timeout=30,
    )


def test_a_post_reaches_an_open_board_through_the_https_front_at_once(stack, ca):
    logins = stack.demo_logins()
    tutor = board_client(stack, ca, "tutor-01", logins["tutor-01"])
    pair = board_client(stack, ca, "pair-01", logins["pair-01"])
    stream = EventStream(tutor, "events", headers={"Accept-Encoding": "gzip"})
    try:
        assert stream.status == 200, stream.status
        assert stream.headers["content-type"].startswith("text/event-stream")
        stream.wait_for(lambda e, d: e == "board" and d["rows"] == [], timeout=30)
        # Pings keep coming (each one flushed through Caddy and the proxy).
        first, _, _ = stream.wait_for(lambda e, d: e == "ping", timeout=10)
        second, _, _ = stream.wait_for(lambda e, d: e == "ping", timeout=10)
        assert second - first < 3 * HEARTBEAT
        sent = time.monotonic()
        r = pair.post("api/results", json={"test_accuracy": 0.9, "test_events": 400})
        assert r.status_code == 201, r.text
        arrived, _, board = stream.wait_for(lambda e, d: e == "board" and d["rows"], timeout=10)
        assert board["rows"][0]["name"] == "pair-01"
        assert arrived - sent < 1.0, f"{arrived - sent:.2f} s through the front"
        print(f"HTTPS post to board: {arrived - sent:.3f} s")
    finally:
        stream.close()
