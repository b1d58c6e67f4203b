"""The class roster: pair, tutor and organiser accounts with hashed passphrases.

A roster is one JSON file, written with mode 600, that holds the class name and,
per account, its role and a bcrypt hash of its passphrase. Plaintext passphrases
exist only in the return value of :func:`create_class` and :meth:`Roster.add_pairs`
(and so on the printed cards); they are never written by this module, except by
:func:`demo`, which keeps the demo class's logins in a separate mode-600 file so
that ``make up`` can print them again.

Usernames are pseudonymous (``pair-01``, ``tutor-01``, ``organiser-01``): no pupil's
name ever reaches the hub. Passphrases are three short words and two digits
(``quark-tiger-lemon-47``): about 30 bits, plenty against an online attack that
the hub throttles, and easy to type for a 15-year-old.

Examples
--------
>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "roster.json"
>>> roster, logins = create_class(path, name="Demo", pairs=2, tutors=1, rounds=4)
>>> sorted(logins)
['pair-01', 'pair-02', 'tutor-01']
>>> Roster.load(path).verify("pair-01", logins["pair-01"])
True
>>> Roster.load(path).verify("pair-01", "wrong")
False
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import bcrypt

from masterclass.files import write_private
from masterclass.names import GROUPS, MAX_PAIRS, USERNAME, login_url, username

FORMAT = 1

#: bcrypt cost: about 0.1 s per check on a small server, so 20 pairs logging in at
#: once cost about 2 s of CPU in total, while guessing stays expensive.
DEFAULT_ROUNDS = 11

#: Where the hub finds the roster unless ``MASTERCLASS_ROSTER`` says otherwise.
DEFAULT_PATH = Path("/srv/jupyterhub/state/roster.json")

# Short, unambiguous words that read the same to German and English pupils
# (no umlauts, nothing longer than 8 letters); 3 different words of these 239 + 2 digits.
WORDS = """
alpha anker apfel atom baby ball banane bank bar baum beta bier birne blau blitz
boot boson box brief brot buch bus butter cafe chip clown code comet dach dame delta
deck delfin disco dose drache panther duo echo edel eis elch elefant ente erde
esel eule falke farbe feder fels film fisch flagge fluss fokus foto frosch fuchs
gabel gamma garten gas gold golf gorilla gras gurke hafen hai hammer hase haus
hotel hund hut igel insel jacke jaguar joker judo kabel kaffee kakao kamel kanu
karte katze kino kiwi klee koala kobra komet konto kran krone kugel kuh lama lampe
laser leder lemon licht limo linie lotto luchs luft lupe magnet mango mantel maske
maus meer melone mini mond motor muffin musik nashorn nebel netz nord nudel oase
ofen oliven oma onkel opa orange orbit otter panda papa park pazifik pilot pinguin
pirat pixel pizza planet pluto polar pony post puma punkt quark quelle rabe radar
radio rakete regen robbe roboter rose rot rubin sack salat salz sand sardine saturn
schal schiff schnee sofa sonne spiegel stern storch strand sturm tango tanne taxi
tee tiger toast tomate tor turbo turm ufo uhr vanille vektor venus video vogel
vulkan waffel wal wald wasser welle wind wolke wolf yeti zebra zelt ziege zitrone
zoo zucker zug ahorn anton biber dino drohne eimer fahrrad gecko globus harfe iglu
kerze koffer lachs lupine marmor nebula opal orca quiz ring safari tulpe
""".split()  # noqa: SIM905 -- a block of words reads better than 239 quoted strings


class RosterError(Exception):
    """A roster operation that cannot be done; the message says why and what to do."""


@dataclass(frozen=True)
class Account:
    """One account of the roster, without its secret."""

    name: str
    role: str

    @property
    def group(self) -> str:
        """The JupyterHub group of this account (``pairs``, ``tutors`` or ``organisers``)."""
        return GROUPS[self.role]


def new_passphrase() -> str:
    """Return a random, easily typed passphrase such as ``quark-tiger-lemon-47``."""
    words = secrets.SystemRandom().sample(WORDS, 3)
    return "-".join([*words, f"{secrets.randbelow(100):02d}"])


def hash_passphrase(passphrase: str, rounds: int = DEFAULT_ROUNDS) -> str:
    """Return the bcrypt hash of ``passphrase`` as text."""
    return bcrypt.hashpw(passphrase.encode(), bcrypt.gensalt(rounds)).decode("ascii")


# Checked against when the username is unknown, so that a wrong username costs the
# same time as a wrong passphrase and the timing does not reveal which accounts exist.
_DUMMY_HASH = hash_passphrase(secrets.token_hex(8), rounds=DEFAULT_ROUNDS)


class Roster:
    """The accounts of one class, backed by a JSON file.

    Use :func:`create_class` to make a new roster and :meth:`load` to open one.
    Every change is written back at once, atomically and with mode 600.
    """

    def __init__(self, path: Path, data: dict) -> None:
        self.path = Path(path)
        self._data = data

    # -- reading ---------------------------------------------------------------

    @classmethod
    def load(cls, path: str | os.PathLike) -> Roster:
        """Open the roster at ``path``; :class:`RosterError` if it is missing or broken."""
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise RosterError(
                f"No class roster at {path}. Create one with `masterclass class create`."
            ) from None
        except (OSError, ValueError) as e:
            raise RosterError(f"The class roster {path} cannot be read: {e}") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise RosterError(f"{path} is not a masterclass roster (format {FORMAT}).")
        return cls(path, data)

    @property
    def name(self) -> str:
        """The class name given at creation, e.g. ``"Gymnasium X, 2026-03-12"``."""
        return self._data["name"]

    @property
    def rounds(self) -> int:
        """The bcrypt cost used for new passphrases of this roster."""
        return int(self._data.get("rounds", DEFAULT_ROUNDS))

    def users(self) -> list[Account]:
        """All accounts, sorted by role (organisers, tutors, pairs) and then by name."""
        order = {"organiser": 0, "tutor": 1, "pair": 2}
        accounts = [Account(name, u["role"]) for name, u in self._data["users"].items()]
        return sorted(accounts, key=lambda a: (order[a.role], a.name))

    def __contains__(self, username: object) -> bool:
        return username in self._data["users"]

    def role(self, username: str) -> str | None:
        """The role of ``username`` (``pair``, ``tutor``, ``organiser``) or None."""
        user = self._data["users"].get(username)
        return user["role"] if user else None

    def groups(self) -> dict[str, list[str]]:
        """Group name → sorted usernames, for every group (also empty ones)."""
        groups: dict[str, list[str]] = {group: [] for group in GROUPS.values()}
        for account in self.users():
            groups[account.group].append(account.name)
        return groups

    def verify(self, username: str, passphrase: str) -> bool:
        """True if ``passphrase`` is the passphrase of ``username``.

        Unknown usernames cost the same bcrypt work as known ones. Surrounding
        spaces are ignored, since pupils copy passphrases from a printed card.
        """
        user = self._data["users"].get(username)
        secret = passphrase.strip().lower().encode()
        hashed = (user["hash"] if user else _DUMMY_HASH).encode("ascii")
        # bcrypt only ever reads 72 bytes; a longer input is no passphrase of ours.
        if len(secret) > 72 or not secret:
            return False
        return bcrypt.checkpw(secret, hashed) and user is not None

    # -- changing --------------------------------------------------------------

    def add_pairs(self, count: int) -> dict[str, str]:
        """Add ``count`` pairs after the existing ones; return their plaintext logins."""
        return self._add("pair", count)

    def add_tutors(self, count: int) -> dict[str, str]:
        """Add ``count`` tutors after the existing ones; return their plaintext logins."""
        return self._add("tutor", count)

    def add_organisers(self, count: int) -> dict[str, str]:
        """Add ``count`` organisers (hub admins); return their plaintext logins."""
        return self._add("organiser", count)

    def reset_passphrase(self, username: str) -> str:
        """Give ``username`` a new passphrase and return it. Only ever done on request."""
        if username not in self:
            raise RosterError(f"There is no account {username!r} in the class {self.name!r}.")
        passphrase = new_passphrase()
        self._data["users"][username]["hash"] = hash_passphrase(passphrase, self.rounds)
        self.save()
        return passphrase

    def remove(self, usernames: list[str]) -> list[str]:
        """Remove the given accounts (unknown names are ignored); return those removed."""
        removed = [name for name in usernames if self._data["users"].pop(name, None)]
        self.save()
        return removed

    def save(self) -> None:
        """Write the roster atomically with mode 600 (the file holds password hashes)."""
        write_private(self.path, json.dumps(self._data, indent=2, sort_keys=True) + "\n")

    def _add(self, role: str, count: int) -> dict[str, str]:
        if not isinstance(count, int) or count < 0:
            raise RosterError(f"The number of accounts must be 0 or more, not {count!r}.")
        existing = [a for a in self.users() if a.role == role]
        if role == "pair" and len(existing) + count > MAX_PAIRS:
            raise RosterError(
                f"A class has at most {MAX_PAIRS} pairs; {len(existing)} exist, "
                f"{count} more were asked for."
            )
        numbers = [int(USERNAME.match(a.name).group(2)) for a in existing]
        start = max(numbers, default=0) + 1
        width = 3 if start + count - 1 > 99 else 2
        logins = {}
        for number in range(start, start + count):
            name = username(role, number, width)
            passphrase = new_passphrase()
            self._data["users"][name] = {
                "role": role,
                "hash": hash_passphrase(passphrase, self.rounds),
            }
            logins[name] = passphrase
        self.save()
        return logins


def create_class(
    path: str | os.PathLike,
    name: str,
    pairs: int,
    tutors: int = 1,
    organisers: int = 0,
    *,
    lang: str = "de",
    rounds: int = DEFAULT_ROUNDS,
) -> tuple[Roster, dict[str, str]]:
    """Create a new class roster at ``path``; return it and the plaintext logins.

    The logins (username → passphrase) are returned once and never stored. An
    existing roster is never overwritten: add pairs to it with :meth:`Roster.add_pairs`.
    """
    path = Path(path)
    if path.exists():
        raise RosterError(
            f"A class already exists at {path}. Add pairs to it instead, or purge it first."
        )
    if not isinstance(pairs, int) or not 1 <= pairs <= MAX_PAIRS:
        raise RosterError(f"A class needs between 1 and {MAX_PAIRS} pairs, not {pairs!r}.")
    if not name or not name.strip():
        raise RosterError("The class needs a name, for example 'Gymnasium X, 2026-03-12'.")
    data = {
        "format": FORMAT,
        "name": name.strip(),
        "lang": lang,
        "rounds": rounds,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "users": {},
    }
    roster = Roster(path, data)
    logins = {}
    logins.update(roster.add_organisers(organisers))
    logins.update(roster.add_tutors(tutors))
    logins.update(roster.add_pairs(pairs))
    return roster, logins


def demo(state_dir: str | os.PathLike, url: str = "http://localhost:8000") -> str:
    """Create the demo class (3 pairs, 1 tutor) in ``state_dir`` unless a class exists.

    The demo's logins are kept in ``demo-logins.json`` (mode 600) next to the roster,
    so that every ``make up`` can print them again. Real classes keep no such file.
    Returns the text to print: the URL and one line per login.
    """
    state_dir = Path(state_dir)
    roster_path = state_dir / "roster.json"
    logins_path = state_dir / "demo-logins.json"
    if not roster_path.exists():
        # The class language of the stack (the hub container has MASTERCLASS_LANG).
        lang = os.environ.get("MASTERCLASS_LANG") or "de"
        _, logins = create_class(roster_path, name="Demo class", pairs=3, tutors=1, lang=lang)
        write_private(logins_path, json.dumps(logins, indent=2) + "\n")
    if not logins_path.exists():
        roster = Roster.load(roster_path)
        return (
            f"Masterclass Hub: {url}\n"
            f"Class {roster.name!r} with {len(roster.users())} accounts; "
            "the logins are on the printed cards."
        )
    logins = json.loads(logins_path.read_text(encoding="utf-8"))
    base = url.rstrip("/")
    lines = [f"Masterclass Hub: {base}", "Demo logins (username  passphrase  login link):"]
    lines += [f"  {u:<12} {p:<28} {login_url(base, u)}" for u, p in logins.items()]
    lines.append(f"Tutors grade in the formgrader: {base}/services/formgrader/")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``python -m masterclass.roster demo STATE_DIR [URL]``: create and print the demo."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) not in (2, 3) or argv[0] != "demo":
        print(main.__doc__, file=sys.stderr)
        return 2
    try:
        print(demo(*argv[1:]))
    except RosterError as e:
        print(e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
