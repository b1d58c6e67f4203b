"""The results board service over HTTP, against a stand-in for the hub's token check.

The stand-in answers ``GET /hub/api/user`` like JupyterHub does: the model of the
token's owner with the token's scopes. Everything else is the real service (tornado,
JupyterHub's HubOAuth, the store in a temporary folder), on free ports in a thread.
The real hub, proxy and browsers are in tests/integration/test_board.py.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
import time

import httpx
import pytest
from sse_client import EventStream
from test_board_parts import result

from masterclass.board import service
from masterclass.board.schema import MAX_BODY
from masterclass.board.store import Store, dump

PREFIX = "/services/results/"
ACCESS = "access:services!service=results"
#: token → the model the hub answers for it.
TOKENS = {
    "pair-01": {"kind": "user", "name": "pair-01", "scopes": [ACCESS]},
    "pair-02": {"kind": "user", "name": "pair-02", "scopes": [ACCESS]},
    "tutor-01": {"kind": "user", "name": "tutor-01", "scopes": [ACCESS, service.PROJECTOR_SCOPE]},
    "no-access": {"kind": "user", "name": "pair-03", "scopes": []},
    "alice": {"kind": "user", "name": "alice", "scopes": [ACCESS]},
    "cli": {"kind": "service", "name": "masterclass-cli", "scopes": [ACCESS]},
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Running:
    """The stand-in hub and the board service, on their own event loop in a thread."""

    def __init__(self, root, heartbeat: float = 0.5) -> None:
        self.root, self.heartbeat = root, heartbeat
        self.hub_port, self.port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.port}{PREFIX}"
        self.loop = asyncio.new_event_loop()
        started = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(started,), daemon=True)
        self.thread.start()
        assert started.wait(10), "the service did not start"

    def _run(self, started) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._start())
        started.set()
        self.loop.run_forever()

    async def _start(self) -> None:
        from jupyterhub.services.auth import HubOAuth
        from tornado import web
        from tornado.ioloop import PeriodicCallback

        class UserHandler(web.RequestHandler):
            def get(self):
                token = self.request.headers.get("Authorization", "").removeprefix("token ")
                model = TOKENS.get(token)
                if model is None:
                    raise web.HTTPError(403)
                self.finish(json.dumps({**model, "groups": [], "session_id": None}))

        self.hub = web.Application([(r"/hub/api/user", UserHandler)]).listen(
            self.hub_port, "127.0.0.1"
        )
        auth = HubOAuth(
            api_url=f"http://127.0.0.1:{self.hub_port}/hub/api",
            api_token="the-service-token",
            access_scopes={ACCESS},
            base_url=PREFIX,
            hub_prefix="/hub/",
            oauth_client_id="service-results",
            oauth_redirect_uri=f"{PREFIX}oauth_callback",
            cache_max_age=0,
        )
        self.board = service.Board(Store(self.root), self.heartbeat)
        app = service.make_app(self.board, PREFIX, "en", hub_auth=auth)
        self.server = app.listen(self.port, "127.0.0.1")
        PeriodicCallback(self.board.ping, self.heartbeat * 1000).start()
        PeriodicCallback(self.board.watch, 200).start()

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"token {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=10)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.server.stop)
        self.loop.call_soon_threadsafe(self.hub.stop)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture
def running(tmp_path):
    board = Running(tmp_path)
    yield board
    board.stop()


def post(client: httpx.Client, body, path: str = "api/results", headers=(), **kw) -> httpx.Response:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "application/json", **dict(headers)}
    return client.post(path, content=data, headers=headers, **kw)


def test_a_pair_posts_its_own_result_and_sees_only_its_own_name(running):
    pair = running.client("pair-01")
    r = post(pair, result())
    assert r.status_code == 201, r.text
    assert r.json()["pair"] == "pair-01" and len(r.json()["label"]) == 1
    post(running.client("pair-02"), result(epochs=7))
    mine = pair.get("api/board").json()
    assert mine["kind"] == "pair" and mine["me"] == "pair-01"
    assert "pair-02" not in json.dumps(mine)
    assert [row["own"] for row in mine["rows"]] == [True, False]
    staff = running.client("tutor-01").get("api/board").json()
    assert staff["kind"] == "projector"
    assert [(row["name"], row["epochs"]) for row in staff["rows"]] == [
        ("pair-01", 3),
        ("pair-02", 7),
    ]


def test_identity_comes_only_from_the_token(running):
    pair = running.client("pair-01")
    forged_headers = {"X-Forwarded-User": "pair-02", "X-Remote-User": "pair-02"}
    r = post(pair, result(), headers=forged_headers, params={"user": "pair-02"})
    assert r.status_code == 201 and r.json()["pair"] == "pair-01"
    assert post(pair, {**result(), "pair": "pair-02"}).status_code == 400
    assert sorted(dump(running.root)["pairs"]) == ["pair-01"]
    for token, status in [
        (None, 403),
        ("forged", 403),
        ("no-access", 403),
        ("alice", 403),
        ("cli", 403),
        ("tutor-01", 403),
    ]:
        r = post(running.client(token), result())
        assert r.status_code == status, (token, r.text)
    assert sorted(dump(running.root)["pairs"]) == ["pair-01"]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (result(test_accuracy=1.5), "test_accuracy: 1.5 is out of range"),
        (b'{"test_accuracy": NaN}', "NaN is not a number"),
        (result(epochs="three"), "epochs: expected a whole number"),
        (result(augmentation_factors=[3, 60, 60]), "augmentation_factors"),
        (b"not json", "not JSON"),
        (b"[]", "must be a JSON object"),
    ],
)
def test_each_bad_value_gets_a_400_that_says_why_and_nothing_is_lost(running, body, says):
    pair = running.client("pair-01")
    assert post(pair, result()).status_code == 201
    before = dump(running.root)
    r = post(pair, body)
    assert r.status_code == 400
    assert says in r.json()["message"]
    assert dump(running.root) == before


def test_oversized_bodies_get_a_400_that_says_so(running):
    pair = running.client("pair-01")
    big = json.dumps({**result(), "padding": "x" * MAX_BODY}).encode()
    r = post(pair, big)
    assert r.status_code == 400 and "at most 16384 are accepted" in r.json()["message"]

    def chunks():  # no Content-Length: the service counts while it reads
        for _ in range(40):
            yield b"x" * 1024

    r = pair.post("api/results", content=chunks())
    assert r.status_code == 400 and "at most 16384 are accepted" in r.json()["message"]
    assert dump(running.root)["pairs"] == {}


def test_the_projector_is_for_tutors_and_its_page_loads_only_its_own_files(running):
    assert running.client("pair-01").get("projector").status_code == 403
    assert running.client("pair-01").post("api/switch", json={"frozen": True}).status_code == 403
    tutor = running.client("tutor-01")
    page = tutor.get("projector")
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    for url in re.findall(r'(?:src|href)="([^"]+)"', page.text):
        if url == "data:,":  # no favicon request
            continue
        assert url.startswith(f"{PREFIX}static/"), url
        assert tutor.get(url.removeprefix(PREFIX)).status_code == 200
    # The index sends each to its own view; nobody logged in goes to the hub's login.
    assert tutor.get("").headers["location"].endswith("/projector")
    assert running.client("pair-01").get("").headers["location"].endswith("/pair")
    anonymous = running.client().get("projector")
    assert (
        anonymous.status_code == 302
        and "/hub/api/oauth2/authorize" in anonymous.headers["location"]
    )


def test_a_post_reaches_an_open_board_at_once_and_pings_keep_it_alive(running):
    tutor = running.client("tutor-01")
    stream = EventStream(tutor, "events")
    try:
        assert stream.status == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert "no-transform" in stream.headers["cache-control"]
        _, _, first = stream.wait_for()
        assert first["rows"] == []
        sent = time.monotonic()
        assert post(running.client("pair-02"), result()).status_code == 201
        arrived, _, board = stream.wait_for(lambda e, d: e == "board" and d["rows"])
        assert board["rows"][0]["name"] == "pair-02"
        assert arrived - sent < 1.0
        stream.wait_for(lambda e, d: e == "ping", timeout=3)
    finally:
        stream.close()


def test_freeze_holds_the_board_and_reveal_shows_everything(running):
    tutor = running.client("tutor-01")
    pair = running.client("pair-01")
    post(pair, result(epochs=1))
    assert tutor.post("api/switch", json={"frozen": True, "names": False}).json() == {
        "names": False,
        "frozen": True,
    }
    post(pair, result(epochs=9))
    frozen = tutor.get("api/board").json()
    assert frozen["frozen"] and frozen["held_back"] == 1 and not frozen["names"]
    assert frozen["rows"][0]["epochs"] == 1
    assert pair.get("api/board").json()["rows"][0]["epochs"] == 1
    assert tutor.post("api/switch", json={"frozen": "yes"}).status_code == 400
    tutor.post("api/switch", json={"frozen": False})
    assert tutor.get("api/board").json()["rows"][0]["epochs"] == 9


def test_a_purge_from_outside_empties_open_boards(running):
    post(running.client("pair-01"), result())
    stream = EventStream(running.client("tutor-01"), "events")
    try:
        stream.wait_for(lambda e, d: e == "board" and d["rows"])
        Store(running.root).purge()
        stream.wait_for(lambda e, d: e == "board" and not d["rows"], timeout=5)
    finally:
        stream.close()


def test_the_store_outlives_the_service(tmp_path):
    first = Running(tmp_path)
    post(first.client("pair-01"), result())
    first.stop()
    second = Running(tmp_path)
    try:
        rows = second.client("tutor-01").get("api/board").json()["rows"]
        assert [row["name"] for row in rows] == ["pair-01"]
    finally:
        second.stop()


def test_game_rounds_are_posted_for_oneself_and_tallied(running):
    pair = running.client("pair-01")
    body = {"round": "r1", "events": 20, "human_right": 15, "human_seconds": 48.2,
            "machine_right": 19, "machine_seconds": 0.3}  # fmt: skip
    assert post(pair, body, "api/rounds").status_code == 201
    assert post(pair, {**body, "human_right": 30}, "api/rounds").status_code == 400
    game = running.client("tutor-01").get("api/board").json()["game"]
    assert game["rounds"] == 1 and game["human_right"] == 15 and game["machine_wins"] == 1
