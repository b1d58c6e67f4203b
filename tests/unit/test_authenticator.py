"""RosterAuthenticator: roster logins, groups, admin flag and login throttling."""

import asyncio
import types

import pytest
from tornado import web

from masterclass.hub.authenticator import LoginThrottle, RosterAuthenticator
from masterclass.roster import create_class


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def handler(ip="10.0.0.1"):
    return types.SimpleNamespace(request=types.SimpleNamespace(remote_ip=ip))


@pytest.fixture
def roster(tmp_path):
    path = tmp_path / "roster.json"
    _, logins = create_class(path, "Test class", pairs=2, tutors=1, organisers=1, rounds=4)
    return path, logins


@pytest.fixture
def auth(roster):
    return RosterAuthenticator(roster_path=str(roster[0]))


def login(auth, user, password, ip="10.0.0.1"):
    data = {"username": user, "password": password}
    return asyncio.run(auth.authenticate(handler(ip), data))


def test_pair_logs_in_with_its_group(auth, roster):
    _, logins = roster
    model = login(auth, "pair-01", logins["pair-01"])
    assert model == {"name": "pair-01", "groups": ["pairs"], "admin": False}


def test_username_is_normalised(auth, roster):
    _, logins = roster
    model = login(auth, "Pair-01", logins["pair-01"])
    assert model["name"] == "pair-01"


def test_tutor_and_organiser(auth, roster):
    _, logins = roster
    assert (login(auth, "tutor-01", logins["tutor-01"]))["groups"] == ["tutors"]
    organiser = login(auth, "organiser-01", logins["organiser-01"])
    assert organiser["groups"] == ["organisers"] and organiser["admin"] is True


def test_wrong_password_and_unknown_user_refused(auth, roster):
    _, logins = roster
    assert login(auth, "pair-01", logins["pair-02"]) is None
    assert login(auth, "pair-09", logins["pair-01"]) is None


def test_only_roster_accounts_are_allowed(auth):
    assert auth.check_allowed("pair-02")
    assert not auth.check_allowed("pair-03")
    assert not auth.check_allowed("admin")
    assert auth.manage_groups and auth.any_allow_config


def test_roster_changes_take_effect_without_restart(auth, roster):
    from masterclass.roster import Roster

    path, _ = roster
    assert not auth.check_allowed("pair-03")
    new = Roster.load(path).add_pairs(1)
    assert auth.check_allowed("pair-03")
    assert (login(auth, "pair-03", new["pair-03"]))["name"] == "pair-03"


def test_missing_roster_refuses_everyone(tmp_path):
    auth = RosterAuthenticator(roster_path=str(tmp_path / "none.json"))
    assert login(auth, "pair-01", "anything") is None
    assert not auth.check_allowed("pair-01")


@pytest.mark.parametrize("lang, words", [("de", "Wartet 60 Sekunden"), ("en", "wait 60 seconds")])
def test_repeated_failures_lock_the_username_even_for_the_right_password(
    auth, roster, monkeypatch, lang, words
):
    monkeypatch.setenv("MASTERCLASS_LANG", lang)  # the hub's class language
    _, logins = roster
    for _ in range(auth.user_failure_limit):
        assert login(auth, "pair-01", "wrong-guess-00") is None
    with pytest.raises(web.HTTPError) as e:
        login(auth, "pair-01", logins["pair-01"])
    assert e.value.status_code == 429
    assert words in e.value.log_message
    # other pairs on the same network are not affected
    assert (login(auth, "pair-02", logins["pair-02"]))["name"] == "pair-02"


def test_many_failures_from_one_address_lock_that_address(auth, roster):
    _, logins = roster
    auth.ip_throttle.limit = 4
    for i in range(4):
        assert login(auth, f"nobody-{i}", "x", ip="10.9.9.9") is None
    with pytest.raises(web.HTTPError):
        login(auth, "pair-01", logins["pair-01"], ip="10.9.9.9")
    assert login(auth, "pair-01", logins["pair-01"], ip="10.0.0.2")


def test_throttle_window_and_lockout():
    clock = Clock()
    t = LoginThrottle(limit=3, window=60, lockout=30, clock=clock)
    t.fail("a")
    t.fail("a")
    assert t.retry_after("a") == 0
    t.fail("a")
    assert t.retry_after("a") == 30
    clock.now += 10
    assert t.retry_after("a") == 20
    clock.now += 21
    assert t.retry_after("a") == 0
    # one more failure while the old ones still count locks again at once
    t.fail("a")
    assert t.retry_after("a") == 30
    clock.now += 200
    assert t.retry_after("a") == 0
    t.fail("a")
    assert t.retry_after("a") == 0


def test_throttle_forgets_on_success_and_spreads_out_failures():
    clock = Clock()
    t = LoginThrottle(limit=3, window=60, lockout=30, clock=clock)
    for _ in range(10):
        t.fail("slow")
        clock.now += 31
    assert t.retry_after("slow") == 0
    t.fail("b")
    t.fail("b")
    t.reset("b")
    t.fail("b")
    assert t.retry_after("b") == 0


def test_throttle_table_stays_bounded():
    clock = Clock()
    t = LoginThrottle(limit=3, window=60, lockout=30, clock=clock)
    t.max_keys = 100
    for i in range(1000):
        t.fail(f"random-{i}")
        clock.now += 1
    assert len(t._failures) <= 101


def test_docker_names_keep_roster_names_and_never_collide():
    from masterclass.names import docker_safe_name

    assert docker_safe_name("pair-01") == "pair-01"
    assert docker_safe_name("tutor-100") == "tutor-100"
    others = ["pair.01", "pair-2d01", "Pair-01", "pair-01 ", "alice", "x-alice", "pair-1"]
    names = [docker_safe_name(n) for n in others]
    assert all(n.startswith("x-") for n in names)
    assert len(set(names)) == len(others)
