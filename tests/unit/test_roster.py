"""The class roster: pseudonymous accounts, hashed passphrases, mode 600, no silent resets."""

import json
import stat

import pytest

from masterclass import roster as r


@pytest.fixture
def path(tmp_path):
    return tmp_path / "state" / "roster.json"


def make(path, **kw):
    kw.setdefault("name", "Gymnasium X, 2026-03-12")
    kw.setdefault("pairs", 3)
    return r.create_class(path, rounds=4, **kw)


def test_create_returns_plaintext_once_and_stores_only_hashes(path):
    _, logins = make(path, pairs=3, tutors=1, organisers=1)
    assert list(logins) == ["organiser-01", "tutor-01", "pair-01", "pair-02", "pair-03"]
    text = path.read_text()
    for passphrase in logins.values():
        assert passphrase not in text
    data = json.loads(text)
    assert all(u["hash"].startswith("$2b$04$") for u in data["users"].values())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not [p for p in path.parent.iterdir() if p.name != "roster.json"]


def test_passphrases_are_easily_typed_and_distinct(path):
    _, logins = make(path, pairs=30, tutors=0)
    for passphrase in logins.values():
        *words, digits = passphrase.split("-")
        assert len(set(words)) == 3 and all(w in r.WORDS for w in words)
        assert len(digits) == 2 and digits.isdigit()
        assert passphrase.isascii() and passphrase == passphrase.lower()
    assert len(set(logins.values())) == 30


def test_verify(path):
    _, logins = make(path)
    roster = r.Roster.load(path)
    assert roster.verify("pair-02", logins["pair-02"])
    # copied from a card: spaces and capitals do not matter
    assert roster.verify("pair-02", f" {logins['pair-02'].upper()} ")
    assert not roster.verify("pair-02", logins["pair-01"])
    assert not roster.verify("pair-02", "")
    assert not roster.verify("pair-99", logins["pair-01"])
    assert not roster.verify("pair-01", "x" * 100)


def test_existing_class_is_never_overwritten(path):
    _, logins = make(path)
    before = path.read_text()
    with pytest.raises(r.RosterError, match="already exists"):
        make(path)
    assert path.read_text() == before
    assert r.Roster.load(path).verify("pair-01", logins["pair-01"])


def test_add_pairs_continues_numbering_and_keeps_old_passphrases(path):
    roster, logins = make(path, pairs=2)
    new = roster.add_pairs(2)
    assert list(new) == ["pair-03", "pair-04"]
    loaded = r.Roster.load(path)
    assert loaded.verify("pair-01", logins["pair-01"])
    assert loaded.verify("pair-04", new["pair-04"])
    assert loaded.groups() == {
        "pairs": ["pair-01", "pair-02", "pair-03", "pair-04"],
        "tutors": ["tutor-01"],
        "organisers": [],
    }


def test_more_than_99_pairs_get_three_digits(path):
    roster, _ = make(path, pairs=99, tutors=0)
    assert list(roster.add_pairs(1)) == ["pair-100"]


@pytest.mark.parametrize("pairs", [0, -1, 201, "3"])
def test_bad_pair_count_creates_nothing(path, pairs):
    with pytest.raises(r.RosterError):
        make(path, pairs=pairs)
    assert not path.exists()


def test_class_size_limit_applies_to_added_pairs(path):
    roster, _ = make(path, pairs=199, tutors=0)
    with pytest.raises(r.RosterError, match="at most 200"):
        roster.add_pairs(2)


def test_users_roles_and_remove(path):
    roster, _ = make(path, pairs=2, tutors=1, organisers=1)
    assert [(a.name, a.role, a.group) for a in roster.users()] == [
        ("organiser-01", "organiser", "organisers"),
        ("tutor-01", "tutor", "tutors"),
        ("pair-01", "pair", "pairs"),
        ("pair-02", "pair", "pairs"),
    ]
    assert roster.remove(["pair-02", "nobody"]) == ["pair-02"]
    assert "pair-02" not in r.Roster.load(path)


def test_reset_passphrase_is_explicit(path):
    roster, logins = make(path)
    new = roster.reset_passphrase("pair-01")
    loaded = r.Roster.load(path)
    assert loaded.verify("pair-01", new) and not loaded.verify("pair-01", logins["pair-01"])
    with pytest.raises(r.RosterError):
        roster.reset_passphrase("pair-77")


@pytest.mark.parametrize("content", ["", "{", "[]", '{"format": 99}'])
def test_broken_roster_is_reported(path, content):
    path.parent.mkdir(parents=True)
    path.write_text(content)
    with pytest.raises(r.RosterError):
        r.Roster.load(path)


def test_missing_roster_says_what_to_do(path):
    with pytest.raises(r.RosterError, match="masterclass class create"):
        r.Roster.load(path)


def test_demo_creates_once_and_prints_logins_again(tmp_path, monkeypatch):
    monkeypatch.setattr(r, "DEFAULT_ROUNDS", 4)
    first = r.demo(tmp_path, "http://localhost:8123")
    second = r.demo(tmp_path, "http://localhost:8123")
    assert first == second
    logins = json.loads((tmp_path / "demo-logins.json").read_text())
    assert list(logins) == ["tutor-01", "pair-01", "pair-02", "pair-03"]
    assert stat.S_IMODE((tmp_path / "demo-logins.json").stat().st_mode) == 0o600
    for user, passphrase in logins.items():
        assert f"{user}" in first and passphrase in first
        assert r.Roster.load(tmp_path / "roster.json").verify(user, passphrase)
    assert "http://localhost:8123/hub/login?username=pair-01" in first
    assert "http://localhost:8123/services/formgrader/" in first


def test_demo_does_not_touch_a_real_class(tmp_path):
    make(tmp_path / "roster.json", name="Real class")
    text = r.demo(tmp_path)
    assert "Real class" in text and not (tmp_path / "demo-logins.json").exists()
