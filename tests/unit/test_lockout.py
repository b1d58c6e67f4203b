"""Honest addresses, lockouts that are no nuisance, and unlocks (issue 15, findings 4 and 5).

The authenticator on its own, with fake requests; the same against the real stack, from
inside pairs' containers: tests/integration/test_hardening.py.
"""

from __future__ import annotations

import asyncio
import logging
import time
import types

import pytest
from tornado import web

from masterclass.hub import lockout
from masterclass.hub.addresses import Fronts, client_address
from masterclass.hub.authenticator import RosterAuthenticator
from masterclass.roster import create_class


def request(peer: str, **headers: str):
    context = types.SimpleNamespace(address=(peer, 40000))
    return types.SimpleNamespace(
        connection=types.SimpleNamespace(context=context),
        headers=headers,
        remote_ip=headers.get("X-Real-Ip", peer),
    )


def handler(peer: str, **headers: str):
    return types.SimpleNamespace(request=request(peer, **headers))


@pytest.fixture
def roster(tmp_path):
    path = tmp_path / "roster.json"
    _, logins = create_class(path, "Test class", pairs=2, tutors=1, organisers=0, rounds=4)
    return path, logins


@pytest.fixture
def auth(roster, caplog):
    caplog.set_level(logging.INFO)
    a = RosterAuthenticator(roster_path=str(roster[0]), slowdown_seconds=0.2)
    a.log = logging.getLogger("test-auth")
    return a


def login(auth, user, password, peer="172.20.0.5", **headers):
    data = {"username": user, "password": password}
    return asyncio.run(auth.authenticate(handler(peer, **headers), data))


def refused(auth, user, password, peer="172.20.0.5", **headers) -> int:
    with pytest.raises(web.HTTPError) as e:
        login(auth, user, password, peer, **headers)
    return e.value.status_code


# -- finding 4: the address is the TCP peer's unless one of our hops names it --------------


def test_headers_from_a_pair_are_ignored_directly_and_through_the_proxy():
    forged = {"X-Real-Ip": "203.0.113.8", "X-Forwarded-For": "203.0.113.7"}
    # straight to the hub's port 8081: the peer
    assert client_address(request("172.20.0.5", **forged), set()) == "172.20.0.5"
    # through the hub's own proxy, which appends the address it saw
    via_proxy = {**forged, "X-Forwarded-For": "203.0.113.7, 172.20.0.5"}
    assert client_address(request("127.0.0.1", **via_proxy), set()) == "172.20.0.5"


def test_the_front_names_the_client():
    via_front = {"X-Real-Ip": "192.0.2.7", "X-Forwarded-For": "203.0.113.7, 192.0.2.7, 172.18.0.9"}
    assert client_address(request("127.0.0.1", **via_front), {"172.18.0.9"}) == "192.0.2.7"
    # a front that sets only X-Real-Ip
    only_real = {"X-Real-Ip": "192.0.2.7", "X-Forwarded-For": "172.18.0.9"}
    assert client_address(request("127.0.0.1", **only_real), {"172.18.0.9"}) == "192.0.2.7"
    # the same headers from anyone else count for nothing
    assert client_address(request("127.0.0.1", **via_front), set()) == "172.18.0.9"


def test_fronts_are_looked_up_by_name_and_again_after_the_ttl():
    now = [0.0]
    fronts = Fronts(["localhost", "10.1.2.3", "no-such-host.invalid"], ttl=10, clock=lambda: now[0])
    first = fronts.addresses()
    assert "127.0.0.1" in first and "10.1.2.3" in first
    fronts.names = ["10.9.9.9"]
    assert fronts.addresses() == first
    now[0] = 11
    assert fronts.addresses() == {"10.9.9.9"}


def test_forged_addresses_do_not_escape_the_address_limit(auth, caplog):
    auth.ip_throttle.limit = 4
    for i in range(4):
        forged = {"X-Real-Ip": f"10.0.0.{i}", "X-Forwarded-For": f"10.1.0.{i}, 172.20.0.5"}
        assert login(auth, f"nobody-{i}", "x", peer="127.0.0.1", **forged) is None
    assert refused(auth, "nobody-9", "x", peer="172.20.0.5", **{"X-Real-Ip": "10.0.0.99"}) == 429
    assert "10.0.0." not in caplog.text and "10.1.0." not in caplog.text
    assert "from 172.20.0.5" in caplog.text


def test_the_request_log_shows_the_honest_address(auth, roster):
    h = handler("172.20.0.5", **{"X-Real-Ip": "203.0.113.8"})
    asyncio.run(auth.authenticate(h, {"username": "pair-01", "password": "wrong"}))
    assert h.request.remote_ip == "172.20.0.5"


# -- finding 5: per (username, address); a ceiling that slows; unlock ----------------------


def test_failures_from_one_address_do_not_lock_the_user_out_elsewhere(auth, roster, caplog):
    _, logins = roster
    for _ in range(auth.user_failure_limit):
        assert login(auth, "tutor-01", "wrong", peer="172.20.0.9") is None
    assert refused(auth, "tutor-01", logins["tutor-01"], peer="172.20.0.9") == 429
    assert login(auth, "tutor-01", logins["tutor-01"], peer="192.0.2.1")["name"] == "tutor-01"
    assert "Locked logins of 'tutor-01' from 172.20.0.9 for 60 s" in caplog.text


def test_the_ceiling_slows_down_but_lets_the_right_passphrase_in(auth, roster, caplog):
    _, logins = roster
    addresses = [f"172.20.1.{i}" for i in range(auth.user_failure_ceiling // 5)]
    for peer in addresses:
        for _ in range(5):
            assert login(auth, "pair-01", "wrong", peer=peer) is None
    assert "Locked logins of 'pair-01' from all addresses (slowed)" in caplog.text
    start = time.monotonic()
    assert login(auth, "pair-01", "wrong", peer="192.0.2.50") is None
    assert time.monotonic() - start >= auth.slowdown_seconds
    start = time.monotonic()
    assert login(auth, "pair-01", logins["pair-01"], peer="192.0.2.51")["name"] == "pair-01"
    assert time.monotonic() - start >= auth.slowdown_seconds
    assert "Slowed login for 'pair-01' from 192.0.2.51" in caplog.text


def test_unlock_lifts_the_lock_at_the_next_attempt_and_is_logged(auth, roster, caplog):
    path, logins = roster
    for _ in range(auth.user_failure_limit):
        login(auth, "pair-02", "wrong")
    assert refused(auth, "pair-02", logins["pair-02"]) == 429
    unlocks = path.parent / lockout.UNLOCKS_FILE
    unlocks.write_text(lockout.request_unlock(None, "pair-02"))
    assert login(auth, "pair-02", logins["pair-02"])["name"] == "pair-02"
    assert "Unlocked logins of pair-02 (masterclass class unlock)" in caplog.text
    # an address too: 30 failures from a school's address, then its unlock
    auth.ip_throttle.limit = 3
    for i in range(3):
        login(auth, f"nobody-{i}", "x", peer="192.0.2.80")
    assert refused(auth, "pair-01", logins["pair-01"], peer="192.0.2.80") == 429
    unlocks.write_text(
        lockout.request_unlock(unlocks.read_text(), "192.0.2.80", now=time.time() + 1)
    )
    assert login(auth, "pair-01", logins["pair-01"], peer="192.0.2.80")["name"] == "pair-01"


def test_unlocks_from_before_the_start_are_not_applied_again(roster, caplog):
    path, _ = roster
    (path.parent / lockout.UNLOCKS_FILE).write_text(lockout.request_unlock(None, "pair-01"))
    caplog.set_level(logging.INFO)
    auth = RosterAuthenticator(roster_path=str(path))
    auth.log = logging.getLogger("test-auth")
    login(auth, "pair-01", "wrong")
    assert "Unlocked" not in caplog.text


@pytest.fixture
def untouched_tornado(monkeypatch):
    """Tornado's own xheaders again after the test (the wrapper is process-wide)."""
    from tornado import httpserver

    context = httpserver._HTTPRequestContext
    monkeypatch.setattr(context, "_apply_xheaders", context._apply_xheaders)


def test_logout_is_the_authenticators_own(auth, untouched_tornado):
    from masterclass.hub.sessions import LogoutEverywhere

    routes = dict(auth.get_handlers(None))
    assert routes["/logout"] is LogoutEverywhere
    assert "/login" in routes


def test_the_whole_process_sees_the_honest_address(untouched_tornado):
    """A real tornado server with xheaders, as JupyterHub runs the hub: before and after."""
    import socket
    import threading

    import httpx
    from tornado.httpserver import HTTPServer

    from masterclass.hub.addresses import believe_only_our_hops

    class Echo(web.RequestHandler):
        def get(self):
            self.write(self.request.remote_ip)

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    loop = asyncio.new_event_loop()
    ready = threading.Event()

    def serve():
        asyncio.set_event_loop(loop)
        HTTPServer(web.Application([("/", Echo)]), xheaders=True).listen(port, "127.0.0.1")
        ready.set()
        loop.run_forever()

    threading.Thread(target=serve, daemon=True).start()
    assert ready.wait(10)
    forged = {"X-Real-Ip": "203.0.113.8"}
    try:
        assert httpx.get(f"http://127.0.0.1:{port}/", headers=forged).text == "203.0.113.8"
        assert believe_only_our_hops(Fronts([]))
        assert not believe_only_our_hops(Fronts([]))  # once is enough
        assert httpx.get(f"http://127.0.0.1:{port}/", headers=forged).text == "127.0.0.1"
        # the hub's own proxy (a local address) appends the address it saw: believed
        chain = {**forged, "X-Forwarded-For": "203.0.113.7, 172.20.0.5"}
        assert httpx.get(f"http://127.0.0.1:{port}/", headers=chain).text == "172.20.0.5"
    finally:
        loop.call_soon_threadsafe(loop.stop)
